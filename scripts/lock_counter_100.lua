-- Seed 000 (Q.5, "threading.Lock"): 100 threads each add 1 to a counter under
-- a Lock. Expected output: 100.
-- A Lua number is copied into each thread's own state, so the counter is a
-- shared strand.Value.
local strand = strand or require "strand"

local counter = strand.Value("i", 0)
local lock = strand.Lock()

local function increment()
  local _ <close> = lock:hold()
  counter.value = counter.value + 1
end

local threads = {}
for i = 1, 100 do threads[i] = strand.Thread{target = increment} end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

print(counter.value) -- 100

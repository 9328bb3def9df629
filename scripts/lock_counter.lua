-- Seed 004 ("Using Lock for Synchronization", and again as "Threading Example:
-- Using Lock" -- the same program): two threads each add 1 to a counter 100,000
-- times under a Lock. Expected: Final Counter: 200000
-- A Lua number would be copied into each thread's state, so the counter is a
-- shared strand.Value.
local strand = strand or require "strand"

local counter = strand.Value("i", 0)
local lock = strand.Lock()

local function increment()
  for _ = 1, 100000 do
    local _ <close> = lock:hold() -- acquired here, released at the end of each pass
    counter.value = counter.value + 1
  end
end

local threads = {}
for i = 1, 2 do threads[i] = strand.Thread{target = increment} end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

print("Final Counter: " .. counter.value)

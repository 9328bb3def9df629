-- Seed 000 (Q.5, "multiprocessing.Lock"): 100 processes each add 1 to a shared
-- counter under a Lock. Expected: Final counter value: 100
local strand = strand or require "strand"

local function safe_increment(lock, counter)
  local _ <close> = lock:hold()
  counter.value = counter.value + 1
end

local lock = strand.Lock()
local counter = strand.Value("i", 0)
local processes = {}
for i = 1, 100 do
  processes[i] = strand.Process{target = safe_increment, args = {lock, counter}}
end
for _, p in ipairs(processes) do p:start() end
for _, p in ipairs(processes) do p:join() end

print("Final counter value: " .. counter.value)

-- Seed 004 ("Synchronization Primitives in Python", 1. Lock): ten threads each
-- add 1 to a counter, with an explicit acquire and a release in `finally`.
-- Expected: Final Counter Value: 10
-- Lua's try/finally is pcall, then release, then re-raise. (lock:hold() with a
-- <close> variable, as in lock_counter.lua, does the same in one line.)
local strand = strand or require "strand"

local lock = strand.Lock()
local counter = strand.Value("i", 0) -- shared: each thread has its own Lua state

local function increment()
  lock:acquire()
  local ok, err = pcall(function()
    counter.value = counter.value + 1
  end)
  lock:release()
  if not ok then error(err, 0) end
end

local threads = {}
for i = 1, 10 do threads[i] = strand.Thread{target = increment} end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

print("Final Counter Value: " .. counter.value)

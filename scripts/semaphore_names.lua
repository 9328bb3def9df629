-- Seed 000 (Q.5, "threading.Semaphore"): five threads, at most two inside the
-- semaphore at a time, each working for two seconds.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local semaphore = strand.Semaphore(2) -- only 2 threads at a time

local function task()
  local _ <close> = semaphore:hold()
  local name = strand.threading.current_thread().name
  print("Task started by " .. name)
  strand.sleep(2 * SECOND) -- work
  print("Task finished by " .. name)
end

local threads = {}
for i = 1, 5 do threads[i] = strand.Thread{target = task} end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

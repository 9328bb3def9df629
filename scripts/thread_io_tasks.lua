-- Seed 004 ("Example: Multi-threaded I/O-bound Task"): five threads each wait
-- two seconds (the seed's stand-in for an I/O operation); together they take
-- about two seconds, not ten.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local function fetch_data(task_id)
  print(("Task %d started"):format(task_id))
  strand.sleep(2 * SECOND) -- the seed simulates its I/O operation with a sleep
  print(("Task %d finished"):format(task_id))
end

local threads = {}
for i = 0, 4 do
  threads[#threads + 1] = strand.Thread{target = fetch_data, args = {i}}
end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

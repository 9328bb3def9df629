-- Seed 004 ("Code 1: CPU bound program that perform simple countdown"): count
-- 50,000,000 down to zero in one thread and time it.
-- (In the seed the timing lines are indented into countdown's body, so as
-- printed nothing runs; this is the program as intended.)
-- See gil_countdown_threads.lua and gil_countdown_processes.lua for the split runs.
local strand = strand or require "strand"

local COUNT = tonumber(arg and arg[1]) or 50000000 -- an argument counts from there instead

local function countdown(n)
  while n > 0 do n = n - 1 end
end

local start = strand.monotonic()
countdown(COUNT)
print("Time taken in seconds - " .. (strand.monotonic() - start))

-- Seed 004 ("How to deal with Python's GIL", multiprocessing): the countdown of
-- 50,000,000 split over two forked processes. The script prints the seed's
-- line, then times a single-threaded run and two threads as well, and prints
-- both speedups: in strand, threads scale like processes.
local strand = strand or require "strand"

local COUNT = tonumber(arg and arg[1]) or 50000000 -- an argument counts from there instead

local function countdown(n)
  while n > 0 do n = n - 1 end
end

local function timed(f)
  local start = strand.monotonic()
  f()
  return strand.monotonic() - start
end

local function split_over(Worker)
  return timed(function()
    local w1 = Worker{target = countdown, args = {COUNT // 2}}
    local w2 = Worker{target = countdown, args = {COUNT // 2}}
    w1:start()
    w2:start()
    w1:join()
    w2:join()
  end)
end

local processes = split_over(strand.Process)
print("Time taken in seconds - " .. processes)

local single = timed(function() countdown(COUNT) end)
local threads = split_over(strand.Thread)
print(("one thread: %.3f s, two processes: %.3f s (speedup %.2fx), two threads: %.3f s (speedup %.2fx)")
  :format(single, processes, single / processes, threads, single / threads))

-- Seed 004 ("Code 2: Two threads running parallel"): the countdown of
-- 50,000,000 split over two threads. In CPython this takes as long as one
-- thread (the GIL lets one run at a time). strand has no global lock: each
-- thread runs its own lua_State on its own core, so two threads take about half
-- the time. The script prints the seed's line, then times the single-threaded
-- run too and prints the speedup.
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

local threaded = timed(function()
  local t1 = strand.Thread{target = countdown, args = {COUNT // 2}}
  local t2 = strand.Thread{target = countdown, args = {COUNT // 2}}
  t1:start()
  t2:start()
  t1:join()
  t2:join()
end)
print("Time taken in seconds - " .. threaded)

local single = timed(function() countdown(COUNT) end)
print(("one thread: %.3f s, two threads: %.3f s, speedup: %.2fx")
  :format(single, threaded, single / threaded))

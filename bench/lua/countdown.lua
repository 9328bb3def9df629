-- CPU-bound countdown of 50,000,000: one thread, then split over 2 threads.
-- Best of 5 alternating runs of each (as bench/py/countdown.py, unscaled here).
local strand = strand or require "strand"
local N, REPS = 50000000, 5
local function countdown(n) while n > 0 do n = n - 1 end end
local function one()
  local t0 = strand.monotonic(); countdown(N); return strand.monotonic() - t0
end
local function two()
  local ts = {}
  for i = 1, 2 do ts[i] = strand.Thread{target = countdown, args = {N // 2}} end
  local t0 = strand.monotonic()
  for _, t in ipairs(ts) do t:start() end
  for _, t in ipairs(ts) do t:join() end
  return strand.monotonic() - t0
end
local t1, t2 = math.huge, math.huge
for _ = 1, REPS do t1 = math.min(t1, one()); t2 = math.min(t2, two()) end
print(string.format("countdown_1t %.3f s", t1))
print(string.format("countdown_2t %.3f s", t2))
print(string.format("countdown_speedup %.2f x", t1 / t2))

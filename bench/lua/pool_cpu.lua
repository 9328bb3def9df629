-- CPU-bound countdown of 20,000,000 in 4 tasks of 5,000,000, map with
-- chunksize 1 over Pool(1) and Pool(2) (created and warmed first); best of 5
-- alternating runs. As bench/py/pool_cpu.py.
local TOTAL, TASKS, REPS = 20000000, 4, 5
local function countdown(n)
  while n > 0 do n = n - 1 end
  return n
end
local work = {}
for i = 1, TASKS do work[i] = TOTAL // TASKS end
local function timed(pool)
  local t0 = strand.monotonic()
  pool:map(countdown, work, 1)
  return strand.monotonic() - t0
end
local p1 <close> = strand.Pool(1)
local p2 <close> = strand.Pool(2)
p1:map(countdown, {1}, 1); p2:map(countdown, {1, 1}, 1)
local t1, t2 = math.huge, math.huge
for _ = 1, REPS do
  t1 = math.min(t1, timed(p1)); t2 = math.min(t2, timed(p2))
end
print(("pool_cpu_1 %.3f s"):format(t1))
print(("pool_cpu_2 %.3f s"):format(t2))
print(("pool_cpu_speedup %.2f x"):format(t1 / t2))

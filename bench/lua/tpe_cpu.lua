-- CPU-bound countdown of 20,000,000 in 4 tasks of 5,000,000 over
-- ThreadPoolExecutor(1) and (2) (created first); best of 5 alternating runs.
-- As bench/py/tpe_cpu.py (Python's GIL: ~1.0x).
local TOTAL, TASKS, REPS = 20000000, 4, 5
local function countdown(n)
  while n > 0 do n = n - 1 end
  return n
end
local work = {}
for i = 1, TASKS do work[i] = TOTAL // TASKS end
local function timed(ex)
  local t0 = strand.monotonic()
  for _ in ex:map(countdown, work) do end
  return strand.monotonic() - t0
end
local e1 <close> = strand.ThreadPoolExecutor(1)
local e2 <close> = strand.ThreadPoolExecutor(2)
for _ in e1:map(countdown, {1}) do end
for _ in e2:map(countdown, {1, 1}) do end
local t1, t2 = math.huge, math.huge
for _ = 1, REPS do
  t1 = math.min(t1, timed(e1)); t2 = math.min(t2, timed(e2))
end
print(("tpe_cpu_1 %.3f s"):format(t1))
print(("tpe_cpu_2 %.3f s"):format(t2))
print(("tpe_cpu_speedup %.2f x"):format(t1 / t2))

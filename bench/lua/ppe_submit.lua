-- ProcessPoolExecutor(2), warmed: 10,000 submit(f, i) of f(x) = x, then every
-- result (sum checked). tasks/s. As bench/py/ppe_submit.py.
local N = 10000
local function f(x) return x end
local ex <close> = strand.ProcessPoolExecutor(2)
local warm = {}
for i = 1, 100 do warm[i] = ex:submit(f, i - 1) end
for i = 1, 100 do warm[i]:result() end
local t0 = strand.monotonic()
local fs = {}
for i = 1, N do fs[i] = ex:submit(f, i - 1) end
local s = 0
for i = 1, N do s = s + fs[i]:result() end
local dt = strand.monotonic() - t0
assert(s == N * (N - 1) // 2)
print(("ppe_submit %.0f tasks/s"):format(N / dt))

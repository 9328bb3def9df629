-- Pool(2):map(square, 0..99,999) with the default chunksize (12,500: 8 chunks),
-- the pool created and warmed first, not timed. tasks/s. As bench/py/pool_map.py.
local N = 100000
local function square(x) return x * x end
local pool <close> = strand.Pool(2)
local items = {}
for i = 1, N do items[i] = i - 1 end
local warm = {}
for i = 1, 100 do warm[i] = i - 1 end
pool:map(square, warm)
local t0 = strand.monotonic()
local r = pool:map(square, items)
local dt = strand.monotonic() - t0
assert(#r == N and r[N] == (N - 1) ^ 2)
print(("pool_map %.0f tasks/s"):format(N / dt))

-- Pool(2) end to end: create, map square over 1..10, close, join; ms per
-- whole cycle, averaged over 20 cycles. As bench/py/pool_e2e.py.
local N = 20
local function square(x) return x * x end
local items = {}
for i = 1, 10 do items[i] = i end
local r
local t0 = strand.monotonic()
for _ = 1, N do
  local pool = strand.Pool(2)
  r = pool:map(square, items)
  pool:close()
  pool:join()
end
local dt = strand.monotonic() - t0
for i = 1, 10 do assert(r[i] == i * i) end
print(("pool_e2e %.2f ms"):format(dt / N * 1e3))

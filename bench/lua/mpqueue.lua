-- small values (integers) through a strand.Queue from a child process to the
-- parent, as bench/py/mpqueue.py does with multiprocessing.Queue. msgs/s from
-- before start() until the last get().
local N = tonumber(os.getenv("N")) or 100000
local q = strand.Queue()
local function producer(q, n)
  for i = 0, n - 1 do q:put(i) end
end
local t0 = strand.monotonic()
local p = strand.Process{target = producer, args = {q, N}}
p:start()
local s = 0
for _ = 1, N do s = s + q:get() end
local dt = strand.monotonic() - t0
p:join()
assert(s == N * (N - 1) // 2)
print(string.format("mpqueue %.0f msgs/s", N / dt))

-- small values (integers) through a strand.Queue from one thread to the main
-- thread, as bench/py/queue_threads.py does with queue.Queue. msgs/s.
local N = tonumber(os.getenv("N")) or 200000
local q = strand.Queue()
local function producer(q, n)
  for i = 0, n - 1 do q:put(i) end
end
local t0 = strand.monotonic()
local t = strand.Thread{target = producer, args = {q, N}}
t:start()
local s = 0
for _ = 1, N do s = s + q:get() end
local dt = strand.monotonic() - t0
t:join()
assert(s == N * (N - 1) // 2)
print(string.format("queue_threads %.0f msgs/s", N / dt))

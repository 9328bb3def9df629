-- uncontended acquire+release of strand.Lock, ns per acquire+release pair.
-- The same work as bench/py/lock_uncontended.py; Lua's natural method-call
-- form (Python hoists its bound methods, its fastest form).
local N = 2000000
local lock = strand.Lock()
for _ = 1, 100000 do lock:acquire() lock:release() end -- warm-up
local clock = strand.monotonic
local t0 = clock()
for _ = 1, N do
  lock:acquire()
  lock:release()
end
local dt = clock() - t0
assert(not lock:locked())
print(string.format("lock_uncontended %.1f ns/op", dt / N * 1e9))

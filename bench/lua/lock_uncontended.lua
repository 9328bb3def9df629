-- uncontended acquire+release of strand.Lock, ns per acquire+release pair, in
-- the two shapes a Lua program calls it, each beside its own baseline:
--   lock_uncontended         acquire(lock) release(lock), the functions hoisted
--                            into locals: the shape of bench/py (bound methods
--                            hoisted) and of C call2 (two local C functions)
--   lock_uncontended_method  lock:acquire() lock:release(), a method lookup per
--                            call: the shape of C call2_method and Python's
--                            lock.acquire() lock.release()
local N = 2000000
local lock = strand.Lock()
local acquire, release = lock.acquire, lock.release
for _ = 1, 100000 do acquire(lock) release(lock) end -- warm-up
for _ = 1, 100000 do lock:acquire() lock:release() end
local clock = strand.monotonic
local t0 = clock()
for _ = 1, N do
  acquire(lock)
  release(lock)
end
local hoisted = clock() - t0
t0 = clock()
for _ = 1, N do
  lock:acquire()
  lock:release()
end
local method = clock() - t0
assert(not lock:locked())
print(string.format("lock_uncontended %.1f ns/op", hoisted / N * 1e9))
print(string.format("lock_uncontended_method %.1f ns/op", method / N * 1e9))

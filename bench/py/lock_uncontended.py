# uncontended acquire+release of threading.Lock, ns per acquire+release pair,
# in two shapes (as bench/lua/lock_uncontended.lua):
#   lock_uncontended         bound methods hoisted: Python's fastest form
#   lock_uncontended_method  lock.acquire(); lock.release(): a lookup per call
import threading, time
N = 2_000_000
lock = threading.Lock()
acq, rel = lock.acquire, lock.release
t0 = time.perf_counter()
for _ in range(N):
    acq(); rel()
hoisted = time.perf_counter() - t0
t0 = time.perf_counter()
for _ in range(N):
    lock.acquire(); lock.release()
method = time.perf_counter() - t0
print(f"lock_uncontended {hoisted / N * 1e9:.1f} ns/op")
print(f"lock_uncontended_method {method / N * 1e9:.1f} ns/op")

# uncontended acquire+release of threading.Lock, ns per acquire+release pair.
import threading, time
N = 2_000_000
lock = threading.Lock()
acq, rel = lock.acquire, lock.release   # fairest case for Python: bound methods hoisted
t0 = time.perf_counter()
for _ in range(N):
    acq(); rel()
dt = time.perf_counter() - t0
print(f"lock_uncontended {dt / N * 1e9:.1f} ns/op")

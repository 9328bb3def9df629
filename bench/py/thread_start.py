# thread start+join of an empty function, per thread (threading.Thread).
import threading, time
N = 5000
def f(): pass
for _ in range(200):            # warm-up
    t = threading.Thread(target=f); t.start(); t.join()
t0 = time.perf_counter()
for _ in range(N):
    t = threading.Thread(target=f); t.start(); t.join()
dt = time.perf_counter() - t0
print(f"thread_start {dt / N * 1e6:.2f} us/thread")

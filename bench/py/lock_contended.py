# 2 threads contending for one threading.Lock, 500,000 locked increments each
# (1,000,000 in total). Seconds for the whole job.
import threading, time
N = 500_000
lock = threading.Lock()
counter = 0
def work():
    global counter
    for _ in range(N):
        with lock:
            counter += 1
ts = [threading.Thread(target=work) for _ in range(2)]
t0 = time.perf_counter()
for t in ts: t.start()
for t in ts: t.join()
dt = time.perf_counter() - t0
assert counter == 2 * N, counter
print(f"lock_contended {dt:.3f} s")

# small values (ints) through queue.Queue from one thread to another. msgs/s.
import queue, threading, time
N = 200_000
q = queue.Queue()
def producer():
    for i in range(N):
        q.put(i)
t0 = time.perf_counter()
t = threading.Thread(target=producer); t.start()
s = 0
for _ in range(N):
    s += q.get()
dt = time.perf_counter() - t0
t.join()
assert s == N * (N - 1) // 2
print(f"queue_threads {N / dt:.0f} msgs/s")

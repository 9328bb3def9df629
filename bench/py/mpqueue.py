# small values (ints) through a multiprocessing.Queue from a child process to
# the parent (fork context). msgs/s from before start() until the last get().
import multiprocessing as mp, time
N = 100_000
ctx = mp.get_context("fork")
def producer(q, n):
    for i in range(n):
        q.put(i)
q = ctx.Queue()
t0 = time.perf_counter()
p = ctx.Process(target=producer, args=(q, N)); p.start()
s = 0
for _ in range(N):
    s += q.get()
dt = time.perf_counter() - t0
p.join()
assert s == N * (N - 1) // 2
print(f"mpqueue {N / dt:.0f} msgs/s")

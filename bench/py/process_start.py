# multiprocessing.Process (fork context) start+join of an empty target, per process.
import multiprocessing as mp, time
N = 300
ctx = mp.get_context("fork")
def f(): pass
for _ in range(10):
    p = ctx.Process(target=f); p.start(); p.join()
t0 = time.perf_counter()
for _ in range(N):
    p = ctx.Process(target=f); p.start(); p.join()
dt = time.perf_counter() - t0
print(f"process_start {dt / N * 1e6:.0f} us/proc")

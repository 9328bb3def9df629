# multiprocessing.Value('i') incremented under its own lock by 2 processes,
# 100,000 each (fork). Seconds from start() of the first until both are joined.
import multiprocessing as mp, time
N = 100_000
ctx = mp.get_context("fork")
def work(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1
v = ctx.Value("i", 0)
ps = [ctx.Process(target=work, args=(v, N)) for _ in range(2)]
t0 = time.perf_counter()
for p in ps: p.start()
for p in ps: p.join()
dt = time.perf_counter() - t0
assert v.value == 2 * N, v.value
print(f"value_locked {dt:.3f} s")

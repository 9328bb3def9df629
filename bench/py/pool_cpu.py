# CPU-bound countdown of 20,000,000 in total, split into 4 tasks of 5,000,000,
# mapped over Pool(1) and over Pool(2) (fork; chunksize=1; pool creation
# excluded). Best (lowest) of 5 alternating runs of each (noisy VM). Prints
# both times and the speedup t1/t2.
import multiprocessing as mp, time
TOTAL, TASKS, REPS = 20_000_000, 4, 5
def countdown(n):
    while n > 0:
        n -= 1
    return n
def timed(pool):
    t0 = time.perf_counter()
    pool.map(countdown, [TOTAL // TASKS] * TASKS, 1)
    return time.perf_counter() - t0
if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as p1, ctx.Pool(2) as p2:
        p1.map(countdown, [1], 1); p2.map(countdown, [1, 1], 1)
        t1 = t2 = float("inf")
        for _ in range(REPS):
            t1 = min(t1, timed(p1)); t2 = min(t2, timed(p2))
    print(f"pool_cpu_1 {t1:.3f} s")
    print(f"pool_cpu_2 {t2:.3f} s")
    print(f"pool_cpu_speedup {t1 / t2:.2f} x")

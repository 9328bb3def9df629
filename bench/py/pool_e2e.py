# multiprocessing.Pool(2) (fork) end to end: create, map square over 1..10,
# close, join. ms per whole cycle (averaged over 20 cycles).
import multiprocessing as mp, time
N = 20
def square(x): return x * x
if __name__ == "__main__":
    ctx = mp.get_context("fork")
    t0 = time.perf_counter()
    for _ in range(N):
        pool = ctx.Pool(2)
        r = pool.map(square, range(1, 11))
        pool.close(); pool.join()
    dt = time.perf_counter() - t0
    assert r == [x * x for x in range(1, 11)]
    print(f"pool_e2e {dt / N * 1e3:.2f} ms")

# multiprocessing.Pool(2) (fork).map(square, range(100000)) with the default
# chunksize; the pool is created and warmed before timing. tasks/s.
import multiprocessing as mp, time
N = 100_000
def square(x): return x * x
if __name__ == "__main__":
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(square, range(100))
        t0 = time.perf_counter()
        r = pool.map(square, range(N))
        dt = time.perf_counter() - t0
    assert r[-1] == (N - 1) ** 2
    print(f"pool_map {N / dt:.0f} tasks/s")

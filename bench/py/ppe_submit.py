# ProcessPoolExecutor(2) (fork): 10,000 submits of a trivial function, then all
# results. Workers warmed before timing. tasks/s.
from concurrent.futures import ProcessPoolExecutor
import multiprocessing as mp, time
N = 10_000
def f(x): return x
if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
        [fu.result() for fu in [ex.submit(f, i) for i in range(100)]]
        t0 = time.perf_counter()
        fs = [ex.submit(f, i) for i in range(N)]
        s = sum(fu.result() for fu in fs)
        dt = time.perf_counter() - t0
    assert s == N * (N - 1) // 2
    print(f"ppe_submit {N / dt:.0f} tasks/s")

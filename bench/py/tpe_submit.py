# ThreadPoolExecutor(4): 10,000 submits of a trivial function, then all results. tasks/s.
from concurrent.futures import ThreadPoolExecutor
import time
N = 10_000
def f(x): return x
with ThreadPoolExecutor(4) as ex:
    [fu.result() for fu in [ex.submit(f, i) for i in range(100)]]   # warm workers
    t0 = time.perf_counter()
    fs = [ex.submit(f, i) for i in range(N)]
    s = sum(fu.result() for fu in fs)
    dt = time.perf_counter() - t0
assert s == N * (N - 1) // 2
print(f"tpe_submit {N / dt:.0f} tasks/s")

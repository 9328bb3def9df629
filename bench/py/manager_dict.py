# Manager().dict() used from a child process: d[k] = v for k in 1..N, then N
# reads d[k]. The figure is 100,000 writes + 100,000 reads, but Python's proxy
# costs ~100 us a call, so N = 10,000 here and the time is SCALED x10 to
# 100,000 (linear: each op is one independent round trip to the server).
# Manager start-up is excluded; child start and join are included.
import multiprocessing as mp, time
N = 10_000
SCALE = 100_000 / N
ctx = mp.get_context("fork")
def work(d, n):
    for i in range(n):
        d[i] = i
    s = 0
    for i in range(n):
        s += d[i]
    assert s == n * (n - 1) // 2
if __name__ == "__main__":
    with ctx.Manager() as m:
        d = m.dict()
        t0 = time.perf_counter()
        p = ctx.Process(target=work, args=(d, N)); p.start(); p.join()
        dt = time.perf_counter() - t0
        assert p.exitcode == 0 and len(d) == N
    print(f"manager_dict {dt * SCALE:.3f} s")

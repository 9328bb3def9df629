# CPU-bound countdown of 20,000,000 in total, split into 4 tasks of 5,000,000,
# over ThreadPoolExecutor(1) and ThreadPoolExecutor(2) (creation excluded).
# Best (lowest) of 5 alternating runs of each (noisy VM). Prints both times
# and the speedup t1/t2 (GIL: ~1.0x).
from concurrent.futures import ThreadPoolExecutor
import time
TOTAL, TASKS, REPS = 20_000_000, 4, 5
def countdown(n):
    while n > 0:
        n -= 1
    return n
def timed(ex):
    t0 = time.perf_counter()
    list(ex.map(countdown, [TOTAL // TASKS] * TASKS))
    return time.perf_counter() - t0
with ThreadPoolExecutor(1) as e1, ThreadPoolExecutor(2) as e2:
    list(e1.map(countdown, [1])); list(e2.map(countdown, [1, 1]))
    t1 = t2 = float("inf")
    for _ in range(REPS):
        t1 = min(t1, timed(e1)); t2 = min(t2, timed(e2))
print(f"tpe_cpu_1 {t1:.3f} s")
print(f"tpe_cpu_2 {t2:.3f} s")
print(f"tpe_cpu_speedup {t1 / t2:.2f} x")

# CPU-bound countdown: 1 thread vs the same work split over 2 threads.
# The figure is a countdown of 50,000,000. Python needs ~20 ns per step, so it
# counts down 20,000,000 (2 x 10,000,000 when split) and the times are SCALED
# x2.5 to 50,000,000 (a countdown is linear). Best (lowest) of 5 alternating
# runs of each, since this VM's timings vary by up to 40%. Prints both times
# and the speedup t1/t2 (GIL: ~1.0x).
import threading, time
N, FIGURE, REPS = 20_000_000, 50_000_000, 5
SCALE = FIGURE / N
def countdown(n):
    while n > 0:
        n -= 1
def one():
    t0 = time.perf_counter(); countdown(N); return time.perf_counter() - t0
def two():
    ts = [threading.Thread(target=countdown, args=(N // 2,)) for _ in range(2)]
    t0 = time.perf_counter()
    for t in ts: t.start()
    for t in ts: t.join()
    return time.perf_counter() - t0
t1 = t2 = float("inf")
for _ in range(REPS):
    t1 = min(t1, one()); t2 = min(t2, two())
print(f"countdown_1t {t1 * SCALE:.3f} s")
print(f"countdown_2t {t2 * SCALE:.3f} s")
print(f"countdown_speedup {t1 / t2:.2f} x")

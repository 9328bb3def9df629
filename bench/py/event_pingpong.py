# Event ping-pong between 2 threads: main sets `ping`, the other thread waits
# on it, clears it, sets `pong`; main waits on `pong` and clears it. us per round trip.
import threading, time
N = 20_000
ping, pong = threading.Event(), threading.Event()
def player():
    for _ in range(N):
        ping.wait(); ping.clear(); pong.set()
t = threading.Thread(target=player); t.start()
t0 = time.perf_counter()
for _ in range(N):
    ping.set(); pong.wait(); pong.clear()
dt = time.perf_counter() - t0
t.join()
print(f"event_pingpong {dt / N * 1e6:.2f} us/rt")

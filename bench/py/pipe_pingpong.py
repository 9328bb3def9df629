# multiprocessing.Pipe ping-pong between 2 processes (fork): parent sends a small
# int, child sends it back. us per round trip.
import multiprocessing as mp, time
N = 20_000
ctx = mp.get_context("fork")
def echo(c, n):
    for _ in range(n):
        c.send(c.recv())
a, b = ctx.Pipe()
p = ctx.Process(target=echo, args=(b, N + 100)); p.start()
for i in range(100):
    a.send(i); a.recv()
t0 = time.perf_counter()
for i in range(N):
    a.send(i); a.recv()
dt = time.perf_counter() - t0
p.join()
print(f"pipe_pingpong {dt / N * 1e6:.2f} us/rt")

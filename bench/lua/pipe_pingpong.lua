-- Pipe ping-pong between 2 processes: the parent sends a small integer, the
-- child sends it back (bench/py/pipe_pingpong.py). us per round trip.
local N = 20000
local function echo(c, n)
  for _ = 1, n do c:send(c:recv()) end
end
local a, b = strand.Pipe()
local p = strand.Process{target = echo, args = {b, N + 100}}
p:start()
for i = 1, 100 do a:send(i); a:recv() end
local t0 = strand.monotonic()
for i = 1, N do a:send(i); a:recv() end
local dt = strand.monotonic() - t0
p:join()
print(string.format("pipe_pingpong %.2f us/rt", dt / N * 1e6))

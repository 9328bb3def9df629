-- Event ping-pong between 2 threads, as bench/py/event_pingpong.py: main
-- sets `ping`, the other thread waits on it, clears it, sets `pong`; main
-- waits on `pong` and clears it. us per round trip.
local N = 20000
local ping, pong = strand.Event(), strand.Event()
local function player(a, b, n)
  for _ = 1, n do a:wait(); a:clear(); b:set() end
end
local t = strand.Thread{target = player, args = {ping, pong, N}}
t:start()
local t0 = strand.monotonic()
for _ = 1, N do
  ping:set(); pong:wait(); pong:clear()
end
local dt = strand.monotonic() - t0
t:join()
print(string.format("event_pingpong %.2f us/rt", dt / N * 1e6))

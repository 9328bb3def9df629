-- Process start+join of an empty target, per process (bench/py/process_start.py).
local N = 300
local function f() end
for _ = 1, 10 do
  local p = strand.Process{target = f}
  p:start(); p:join()
end
local t0 = strand.monotonic()
for _ = 1, N do
  local p = strand.Process{target = f}
  p:start(); p:join()
end
local dt = strand.monotonic() - t0
print(string.format("process_start %.0f us/proc", dt / N * 1e6))

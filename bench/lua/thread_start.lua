-- thread start+join of an empty function, per thread (as bench/py/thread_start.py)
local strand = strand or require "strand"
local N = 5000
local function f() end
for _ = 1, 200 do local t = strand.Thread{target = f}; t:start(); t:join() end
local t0 = strand.monotonic()
for _ = 1, N do local t = strand.Thread{target = f}; t:start(); t:join() end
local dt = strand.monotonic() - t0
print(string.format("thread_start %.2f us/thread", dt / N * 1e6))

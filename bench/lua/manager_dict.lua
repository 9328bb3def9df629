-- A shared dict used from a child process: d[k] = k for k in 0..N-1, then N
-- reads d[k] (sum checked), as bench/py/manager_dict.py does with a Manager
-- dict. Seconds from the child's start to its join; creating the dict is
-- excluded. Python runs 10,000 + 10,000 and scales x10; strand runs the full
-- 100,000 + 100,000.
local N = 100000

local function work(d, n)
  for i = 0, n - 1 do d[i] = i end
  local s = 0
  for i = 0, n - 1 do s = s + d[i] end
  assert(s == n * (n - 1) // 2, s)
end

local d = strand.Manager():dict()
local t0 = strand.monotonic()
local p = strand.Process{target = work, args = {d, N}}
p:start()
p:join()
local dt = strand.monotonic() - t0
assert(p.exitcode == 0 and #d == N, "child failed")
print(("manager_dict %.3f s"):format(dt))

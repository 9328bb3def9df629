-- strand.Value('i') incremented by 2 processes, 100,000 each: under its own
-- lock (value_locked, as bench/py/value_locked.py), then with the lock-free
-- v:add(1) (value_atomic). Seconds from start() of the first process until
-- both are joined; the total is checked.
local N = 100000

local function locked(v, n)
  for _ = 1, n do
    local lock = v:get_lock()
    lock:acquire()
    v.value = v.value + 1
    lock:release()
  end
end

local function atomic(v, n)
  for _ = 1, n do v:add(1) end
end

local function run(work)
  local v = strand.Value("i", 0)
  local ps = {}
  for i = 1, 2 do ps[i] = strand.Process{target = work, args = {v, N}} end
  local t0 = strand.monotonic()
  for i = 1, 2 do ps[i]:start() end
  for i = 1, 2 do ps[i]:join() end
  local dt = strand.monotonic() - t0
  assert(v.value == 2 * N, v.value)
  for i = 1, 2 do assert(ps[i].exitcode == 0) end
  return dt
end

print(("value_locked %.3f s"):format(run(locked)))
print(("value_atomic %.3f s"):format(run(atomic)))

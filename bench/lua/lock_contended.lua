-- 2 threads contending for one strand.Lock, 500,000 locked increments each
-- (1,000,000 in total), as bench/py/lock_contended.py. Seconds for the whole
-- job, from before the first start to after the last join. The counter is
-- a strand.Value shared by both threads (read and written under the lock,
-- as Python's `counter += 1`); where strand.Value is not built, each thread
-- counts its own increments and the sum is checked instead.
local N = 500000
local lock = strand.Lock()
local counter = strand.Value and strand.Value("q", 0, {lock = false}) or nil

local function work(l, c, n)
  local mine = 0
  for _ = 1, n do
    l:acquire()
    if c then c.value = c.value + 1 else mine = mine + 1 end
    l:release()
  end
  return mine
end

local ts = {}
for i = 1, 2 do ts[i] = strand.Thread{target = work, args = {lock, counter, N}} end
local t0 = strand.monotonic()
for i = 1, 2 do ts[i]:start() end
for i = 1, 2 do ts[i]:join() end
local dt = strand.monotonic() - t0
local total = counter and counter.value or (ts[1]:result() + ts[2]:result())
assert(total == 2 * N, total)
print(string.format("lock_contended %.3f s", dt))

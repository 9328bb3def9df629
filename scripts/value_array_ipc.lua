-- Seed 004 (multiprocessing.Value and multiprocessing.Array): two processes
-- each increment a shared Value and every element of a shared Array five
-- times, each update under the object's own lock.
-- Expected: Final shared value: 10 / Final shared array: [11, 12, 13]
-- (The seed sleeps while still holding the array's lock, which makes the two
-- processes take turns; here the sleep comes after the lock is released.)
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local function increment(shared_val, shared_arr)
  for _ = 1, 5 do
    do
      local _ <close> = shared_val:get_lock():hold()
      shared_val.value = shared_val.value + 1
    end
    do
      local _ <close> = shared_arr:get_lock():hold()
      for i = 1, #shared_arr do
        shared_arr[i] = shared_arr[i] + 1
      end
    end
    strand.sleep(SECOND) -- some processing time
  end
end

local function main()
  local shared_val = strand.Value("i", 0)         -- shared C int, starts at 0
  local shared_arr = strand.Array("i", {1, 2, 3}) -- shared C ints, start at {1, 2, 3}

  local p1 = strand.Process{target = increment, args = {shared_val, shared_arr}}
  local p2 = strand.Process{target = increment, args = {shared_val, shared_arr}}
  p1:start()
  p2:start()
  p1:join()
  p2:join()

  print("Final shared value: " .. shared_val.value)
  print("Final shared array: [" .. table.concat(shared_arr:totable(), ", ") .. "]")
end

main()

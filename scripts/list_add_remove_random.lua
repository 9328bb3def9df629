-- Seed 001 (In [6]): one thread adds ten random numbers to a list, another
-- removes from its front; a Lock guards every change and print.
-- Python's threads share one list; each strand thread has its own Lua state,
-- so the list lives in the shared arena (strand.shared.list()).
-- Each thread's Lua state seeds math.random on its own, so the numbers differ run to run.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local shared_list = strand.shared.list()
local lock = strand.Lock()

local function show(list)
  return "[" .. table.concat(list:totable(), ", ") .. "]"
end

local function add_numbers()
  for _ = 1, 10 do
    do
      local _ <close> = lock:hold()
      local num = math.random(1, 100)
      shared_list:append(num)
      print(("Added %d: %s"):format(num, show(shared_list)))
    end
    strand.sleep((0.1 + 0.4 * math.random()) * SECOND) -- some delay, outside the lock
  end
end

local function remove_numbers()
  for _ = 1, 10 do
    do
      local _ <close> = lock:hold()
      if #shared_list > 0 then
        local num = shared_list:pop(1)
        print(("Removed %d: %s"):format(num, show(shared_list)))
      end
    end
    strand.sleep((0.1 + 0.4 * math.random()) * SECOND)
  end
end

local adder_thread = strand.Thread{target = add_numbers}
local remover_thread = strand.Thread{target = remove_numbers}
adder_thread:start()
remover_thread:start()
adder_thread:join()
remover_thread:join()

print("Final shared list: " .. show(shared_list))

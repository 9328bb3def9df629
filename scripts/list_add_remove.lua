-- Seed 000 (Q.4): one thread adds 0..9 to a list, another removes from its
-- front, a Lock keeps them from racing; the remover stops once the list is empty.
-- Python's two threads share one list object. Each strand thread runs its own
-- Lua state, so a plain table would be copied into each; the list lives in the
-- shared arena instead (strand.shared.list()).
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local shared_list = strand.shared.list()
local lock = strand.Lock()

local function add_numbers()
  for i = 0, 9 do
    strand.sleep(0.1 * SECOND) -- some work
    local _ <close> = lock:hold()
    shared_list:append(i)
    print("Added: " .. i)
  end
end

local function remove_numbers()
  while true do
    strand.sleep(0.2 * SECOND) -- some work
    local _ <close> = lock:hold()
    if #shared_list > 0 then
      print("Removed: " .. shared_list:pop(1))
    else
      print("List is empty, waiting for numbers to add.")
      break -- the guard releases the lock on the way out
    end
  end
end

local add_thread = strand.Thread{target = add_numbers}
local remove_thread = strand.Thread{target = remove_numbers}
add_thread:start()
remove_thread:start()
add_thread:join()
remove_thread:join()

print("Final shared list: [" .. table.concat(shared_list:totable(), ", ") .. "]")

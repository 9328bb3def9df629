-- Seed 004 ("Example 1: Creating a Thread with a Target Function"): one thread
-- prints Number: 0..4.
local strand = strand or require "strand"

local function print_numbers()
  for i = 0, 4 do
    print("Number: " .. i)
  end
end

local thread = strand.Thread{target = print_numbers}
thread:start()
thread:join() -- wait for the thread to finish

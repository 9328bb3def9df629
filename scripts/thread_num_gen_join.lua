-- Seed 004 ("join() Method - The Saviour"): the same program, joining the
-- thread, so the last line comes after the thread's output.
local strand = strand or require "strand"

local function num_gen(num)
  for n = 0, num - 1 do
    print("Thread:  " .. n)
  end
end

print("Statement: Creating and Starting a Thread.")
local thread = strand.Thread{target = num_gen, args = {3}}
thread:start()
thread:join()
print("Statement: Thread Execution Finished.")

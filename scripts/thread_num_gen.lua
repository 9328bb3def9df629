-- Seed 004 ("Create and Start a Thread"): the main thread does not wait, so its
-- second line usually comes before the thread's output. As in Python, the
-- program still waits for the (non-daemon) thread before it exits.
local strand = strand or require "strand"

local function num_gen(num)
  for n = 0, num - 1 do
    print("Thread:  " .. n) -- Python's print("Thread: ", n) puts two spaces
  end
end

print("Statement: Creating and Starting a Thread.")
local thread = strand.Thread{target = num_gen, args = {3}}
thread:start()
print("Statement: Thread Execution Finished.")

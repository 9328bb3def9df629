-- Seed 004 ("Joining Threads"): the main thread waits for a worker, then goes on.
local strand = strand or require "strand"

local function worker()
  print("Worker thread started")
  for _ = 1, 3 do
    print("Working...")
  end
  print("Worker thread finished")
end

local thread = strand.Thread{target = worker}
thread:start()
thread:join() -- wait for the thread to complete
print("Main thread continues")

-- Seed 004 ("Using ThreadPoolExecutor to Execute Tasks"): four tasks on a pool
-- of 4 threads, then an explicit shutdown that waits for them.
local strand = strand or require "strand"

local executor = strand.ThreadPoolExecutor{max_workers = 4} -- a pool of 4 threads

local function square_num(num)
  print(("Square of %d: %d."):format(num, num * num))
end

executor:submit(square_num, 5)
executor:submit(square_num, 2)
executor:submit(square_num, 55)
executor:submit(square_num, 4)

executor:shutdown() -- wait for the tasks to complete, then free the threads

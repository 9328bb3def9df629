-- Seed 000 (Q.3, "Example of using a Queue for IPC"): a child process puts a
-- string on a queue; the parent reads it after the child ends.
local strand = strand or require "strand"

local function worker(queue)
  queue:put("Data from worker")
end

local queue = strand.Queue()
local p = strand.Process{target = worker, args = {queue}}
p:start()
p:join()
print(queue:get()) -- Data from worker

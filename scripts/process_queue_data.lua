-- Seed 000 (Q.5, "multiprocessing.Queue"): a child process puts data on a queue,
-- the parent prints it.
local strand = strand or require "strand"

local function worker(q)
  q:put("Data from process")
end

local q = strand.Queue()
local process = strand.Process{target = worker, args = {q}}
process:start()
process:join()
print(q:get()) -- Data from process

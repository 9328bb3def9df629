-- Seed 004 (GIL workarounds, "Using the multiprocessing module"): four
-- processes each print a line.
local strand = strand or require "strand"

local function worker_function()
  print("Worker process")
end

local processes = {}
for i = 1, 4 do processes[i] = strand.Process{target = worker_function} end
for _, p in ipairs(processes) do p:start() end
for _, p in ipairs(processes) do p:join() end

-- Seed 004 ("Example: Creating and Starting Processes"): four processes, each
-- prints the number it was given.
local strand = strand or require "strand"

local function worker_function(name)
  print(("Process %s is running"):format(name))
end

local processes = {}
for i = 0, 3 do
  processes[#processes + 1] = strand.Process{target = worker_function, args = {i}}
end
for _, process in ipairs(processes) do process:start() end -- start each process
for _, process in ipairs(processes) do process:join() end  -- wait for each one

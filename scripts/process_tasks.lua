-- Seed 000 (Q.3, "Creating Processes"): five processes, each sleeps a second
-- and reports that its task is done.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local function task(n)
  strand.sleep(SECOND)
  print(("Task %d is done!"):format(n))
end

local processes = {}
for i = 0, 4 do
  local p = strand.Process{target = task, args = {i}}
  processes[#processes + 1] = p
  p:start()
end
for _, p in ipairs(processes) do p:join() end

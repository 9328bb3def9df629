-- Seed 003 (Q6): four processes, each prints its name and a different number.
-- The notebook shows Process-14..17 (earlier cells had started processes); a
-- fresh run prints Process-1..4.
local strand = strand or require "strand"

local function print_number(num)
  print(("Process %s printed %d"):format(strand.multiprocessing.current_process().name, num))
end

local processes = {}
for i = 1, 4 do
  processes[i] = strand.Process{target = print_number, args = {i}}
end
for _, p in ipairs(processes) do p:start() end
for _, p in ipairs(processes) do p:join() end

print("All processes completed")

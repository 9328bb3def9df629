-- Seed 000 (Q.5, "Example with Manager"): 10 processes each append 1 to a list
-- shared through a Manager. Expected: Shared list: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
-- strand's Manager needs no server process: the list lives in the shared arena.
local strand = strand or require "strand"

local function append_to_list(shared_list)
  shared_list:append(1)
end

local manager = strand.Manager()
local shared_list = manager:list()
local processes = {}
for i = 1, 10 do
  processes[i] = strand.Process{target = append_to_list, args = {shared_list}}
end
for _, p in ipairs(processes) do p:start() end
for _, p in ipairs(processes) do p:join() end

print("Shared list: [" .. table.concat(shared_list:totable(), ", ") .. "]")

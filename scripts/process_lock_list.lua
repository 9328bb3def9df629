-- Seed 004 ("Multiprocessing Example: Using Lock"): three processes each append
-- five items to a list under a Lock -- but the list is an ordinary one. Each
-- child appends to its own copy and the parent's list stays empty, so Python
-- prints "Final List Length: 0", and so does this script: a plain Lua table
-- given to a process is the child's own copy too.
-- To really share the list, make it with strand.shared.list() (or
-- strand.Manager():list(), see manager_list.lua); the length is then 15.
local strand = strand or require "strand"

local function worker(lock, shared_list)
  local _ <close> = lock:hold()
  for _ = 1, 5 do
    shared_list[#shared_list + 1] = 1
  end
end

local lock = strand.Lock()
local shared_list = {}
local processes = {}
for i = 1, 3 do
  processes[i] = strand.Process{target = worker, args = {lock, shared_list}}
end
for _, p in ipairs(processes) do p:start() end
for _, p in ipairs(processes) do p:join() end

print("Final List Length: " .. #shared_list)

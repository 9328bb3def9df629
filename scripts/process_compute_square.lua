-- Seed 004 ("Comparing Threading and Multiprocessing", multiprocessing
-- example): five processes each print a square.
local strand = strand or require "strand"

local function compute_square(n)
  print(("Square of %d: %d"):format(n, n * n))
end

local processes = {}
for i = 0, 4 do
  processes[#processes + 1] = strand.Process{target = compute_square, args = {i}}
end
for _, p in ipairs(processes) do p:start() end
for _, p in ipairs(processes) do p:join() end

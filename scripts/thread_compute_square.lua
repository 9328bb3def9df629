-- Seed 004 ("Comparing Threading and Multiprocessing", threading example):
-- five threads each print a square.
local strand = strand or require "strand"

local function compute_square(n)
  print(("Square of %d: %d"):format(n, n * n))
end

local threads = {}
for i = 0, 4 do
  threads[#threads + 1] = strand.Thread{target = compute_square, args = {i}}
end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

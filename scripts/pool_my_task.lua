-- Seed 003 (Q4 and Q5): the pool templates. As printed they do not run: Q4's
-- my_task returns an undefined `result` and Q5 maps over undefined arg1..arg3
-- (NameError in Python). The placeholder work is filled in with squaring, and
-- Q5's three arguments with 1, 2, 3.
local strand = strand or require "strand"

local function my_task(arg)
  return arg * arg -- "do some work here"
end

local function show(t) return "[" .. table.concat(t, ", ") .. "]" end

-- Q4: 10 tasks on a pool of 4 worker processes
do
  local pool <close> = strand.Pool{processes = 4}
  local args = {}
  for i = 0, 9 do args[#args + 1] = i end
  print(show(pool:map(my_task, args)))
end

-- Q5: the same pool pattern over three arguments
do
  local pool <close> = strand.Pool{processes = 4}
  print(show(pool:map(my_task, {1, 2, 3})))
end

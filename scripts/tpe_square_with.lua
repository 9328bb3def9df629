-- Seed 004 (the same tasks "Using ThreadPoolExecutor as context manager"):
-- Python's `with` is a to-be-closed variable; leaving the block shuts the
-- executor down and waits for its tasks.
local strand = strand or require "strand"

local function square_num(num)
  print(("Square of %d: %d."):format(num, num * num))
end

do
  local executor <close> = strand.ThreadPoolExecutor{max_workers = 4}
  executor:submit(square_num, 5)
  executor:submit(square_num, 2)
  executor:submit(square_num, 55)
  executor:submit(square_num, 4)
end

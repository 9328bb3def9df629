-- Seed 001 (In [9]): squares of 1..10 on pools of 2, 4 and 8 processes, timing
-- each (pool start-up and shutdown included, as in the Python original).
local strand = strand or require "strand"

local function square(n) return n * n end

local function measure_time(pool_size)
  local numbers = {}
  for i = 1, 10 do numbers[i] = i end

  local start = strand.monotonic()
  local results
  do
    local pool <close> = strand.Pool(pool_size)
    results = pool:map(square, numbers)
  end
  local elapsed = strand.monotonic() - start

  print("Pool size: " .. pool_size)
  print("Results: [" .. table.concat(results, ", ") .. "]")
  print(("Time taken: %.4f seconds"):format(elapsed))
  print(("-"):rep(40))
end

for _, size in ipairs{2, 4, 8} do
  measure_time(size)
end

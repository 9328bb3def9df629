-- Seed 000 (Q.8): squares of 1..10 on pools of 2, 4 and 8 processes, timing
-- each (pool start-up and shutdown included, as in the Python original).
local strand = strand or require "strand"

local function compute_square(n) return n * n end

local function measure_time(pool_size)
  local numbers = {}
  for i = 1, 10 do numbers[i] = i end

  local start = strand.monotonic()
  local results
  do
    local pool <close> = strand.Pool{processes = pool_size}
    results = pool:map(compute_square, numbers)
  end
  local elapsed = strand.monotonic() - start

  print(("Pool size: %d, Results: [%s], Time taken: %.6f seconds")
    :format(pool_size, table.concat(results, ", "), elapsed))
end

for _, pool_size in ipairs{2, 4, 8} do
  measure_time(pool_size)
end

-- Seed 004 ("Example: Asynchronous Execution with apply_async"): five tasks
-- submitted without waiting, then their results collected in order.
-- Expected: [0, 2, 4, 6, 8]
local strand = strand or require "strand"

local function worker_function(x)
  return x * 2
end

local function main()
  local pool <close> = strand.Pool{processes = 3}
  local results = {}
  for i = 0, 4 do
    results[#results + 1] = pool:apply_async(worker_function, {i})
  end
  local output = {}
  for i, result in ipairs(results) do output[i] = result:get() end
  print("[" .. table.concat(output, ", ") .. "]")
end

main()

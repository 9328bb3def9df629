-- Seed 000 (Q.7): factorials of 1..10 on a pool of 5 threads, printed in the
-- order the futures complete (so the order can vary).
local strand = strand or require "strand"

local function calculate_factorial(n)
  local result = 1
  for i = 2, n do result = result * i end
  return result
end

local function main()
  local executor <close> = strand.ThreadPoolExecutor{max_workers = 5}
  local futures = {}
  for n = 1, 10 do
    futures[#futures + 1] = executor:submit(calculate_factorial, n)
  end
  for future in strand.futures.as_completed(futures) do
    print("Factorial: " .. future:result())
  end
end

main()

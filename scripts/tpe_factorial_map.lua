-- Seed 001 (In [8]): factorials of 1..10 with ThreadPoolExecutor.map, printed
-- in input order.
local strand = strand or require "strand"

local function factorial(n)
  local result = 1
  for i = 2, n do result = result * i end
  return result
end

local function main()
  local numbers = {}
  for n = 1, 10 do numbers[n] = n end

  local executor <close> = strand.ThreadPoolExecutor{}
  -- map yields each result with its index in the input list, in input order
  for i, result in executor:map(factorial, numbers) do
    print(("Factorial of %d is %d"):format(numbers[i], result))
  end
end

main()

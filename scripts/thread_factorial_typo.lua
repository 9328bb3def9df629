-- Seed 002 (In [8]): two threads each compute 12! and report their thread's
-- name. The notebook's code misspells `threading` as `thraeding`, so both
-- threads die at their first print and Python reports
--   Exception in thread Thread-N (calculate_factorial): ... NameError
-- on stderr; that report is all the seed shows. The typo is kept on purpose:
-- `thraeding` is an undefined global here too, so each thread fails with
-- "attempt to index a nil value (global 'thraeding')" and strand prints the
-- same "Exception in thread ..." report; the script still exits 0.
-- Run with the argument `fixed` to see the program as it was meant to be.
local strand = strand or require "strand"

if arg and arg[1] == "fixed" then thraeding = strand.threading end

local function factorial_of_a_number(n)
  local result = 1
  for i = 1, n do result = result * i end
  return result
end

local function calculate_factorial(n)
  print(("\\calculating factorial of %d in thread %s"):format(n, thraeding.current_thread().name))
  local result = factorial_of_a_number(n)
  print(("factorial of %d is %d i;n thread %s"):format(n, result, strand.threading.current_thread().name))
end

local n = 12
local thread1 = strand.Thread{target = calculate_factorial, args = {n}}
local thread2 = strand.Thread{target = calculate_factorial, args = {n}}
thread1:start()
thread2:start()
thread1:join()
thread2:join()

-- Seeds 000 (Q.3, "Process Pool") and 004 ("Example: Using Pool for Parallel
-- Execution"): squares of 1..5 on a pool of 4 processes.
-- The pool is a to-be-closed variable, as Python's `with Pool(...)`: leaving the
-- block terminates it (000's version calls close() and join() instead; same output).
local strand = strand or require "strand"

local function square(n) return n * n end

do
  local pool <close> = strand.Pool(4)
  local results = pool:map(square, {1, 2, 3, 4, 5})
  print("[" .. table.concat(results, ", ") .. "]")
end

-- Seed 000 (Q.2, "Example: Using multiprocessing.Pool"): squares of 1..8 on a
-- pool of 4 worker processes, each task taking one second.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local function compute_square(n)
  strand.sleep(SECOND) -- a time-consuming task
  return n * n
end

local pool = strand.Pool{processes = 4}
local results = pool:map(compute_square, {1, 2, 3, 4, 5, 6, 7, 8})
print("[" .. table.concat(results, ", ") .. "]")
pool:close()
pool:join()

-- Seed 000 (Q.5, "threading.RLock"): a recursive function takes the same
-- reentrant lock at every level. Prints 5 4 3 2 1.
local strand = strand or require "strand"

local lock = strand.RLock()

local function recursive_function(n)
  local _ <close> = lock:hold() -- the owner may take it again
  if n > 0 then
    print(n)
    recursive_function(n - 1)
  end
end

recursive_function(5)

-- Seed 000 (Q.5, "Example with Value"): 10 processes each add 1 to a shared
-- integer 100 times. Expected: Final value: 1000.
-- Python's `shared_value.value += 1` is an unlocked read-modify-write, so its
-- result can come out short; strand's add(1) is one atomic increment, so no
-- increment is lost and no lock is needed.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local function increment(shared_value)
  for _ = 1, 100 do
    strand.sleep(0.01 * SECOND)
    shared_value:add(1)
  end
end

local shared_value = strand.Value("i", 0) -- 'i' is the typecode of a C int
local processes = {}
for i = 1, 10 do
  processes[i] = strand.Process{target = increment, args = {shared_value}}
end
for _, p in ipairs(processes) do p:start() end
for _, p in ipairs(processes) do p:join() end

print("Final value: " .. shared_value.value)

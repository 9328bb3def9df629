-- Seed 004 ("Example: Using Value and Array"): three processes each add 1 to a
-- shared Value and to every element of a shared Array.
-- Expected: Shared Value: 3 / Shared Array: [3, 3, 3]
-- Python updates the array without its lock (a race it usually wins); here the
-- array's own lock is held for the update.
local strand = strand or require "strand"

local function increment(shared_value, shared_array)
  do
    local _ <close> = shared_value:get_lock():hold()
    shared_value.value = shared_value.value + 1
  end
  local _ <close> = shared_array:get_lock():hold()
  for i = 1, #shared_array do -- Array indices start at 1
    shared_array[i] = shared_array[i] + 1
  end
end

local shared_value = strand.Value("i", 0)         -- a shared C int
local shared_array = strand.Array("i", {0, 0, 0}) -- a shared array of C ints

local processes = {}
for i = 1, 3 do
  processes[i] = strand.Process{target = increment, args = {shared_value, shared_array}}
end
for _, p in ipairs(processes) do p:start() end
for _, p in ipairs(processes) do p:join() end

print("Shared Value: " .. shared_value.value)
print("Shared Array: [" .. table.concat(shared_array:totable(), ", ") .. "]")

-- Seed 000 (Q.6, asyncio "Catching Exceptions in a Coroutine"): the error is
-- caught inside the coroutine. Python's async coroutines are Lua's own
-- coroutines; nothing here needs a second thread.
local strand = strand or require "strand" -- unused: plain Lua coroutines suffice

local function task()
  local ok, err = pcall(error, "An error occurred in the coroutine", 0)
  if not ok then
    print("Caught exception: " .. err)
  end
end

local function main()
  task() -- `await task()`
end

coroutine.wrap(main)() -- `asyncio.run(main())`

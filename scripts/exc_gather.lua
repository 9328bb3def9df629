-- Seed 000 (Q.6, asyncio.gather(..., return_exceptions=True)): two tasks run at
-- once and both fail; the errors come back as results and are printed.
-- strand runs the two tasks on a thread pool; future:exception() waits for the
-- task and returns its error (nil if it succeeded) instead of raising it.
local strand = strand or require "strand"

local function message(e) return strand.is_error(e) and e.message or tostring(e) end

local function task()
  error("An error occurred in one of the coroutines", 0)
end

local function main()
  local executor <close> = strand.ThreadPoolExecutor{max_workers = 2}
  local futures = {executor:submit(task), executor:submit(task)}
  for _, future in ipairs(futures) do -- in submission order, like gather's list
    local err = future:exception()
    if err then
      print("Caught exception: " .. message(err))
    end
  end
end

main()

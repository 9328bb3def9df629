-- Seed 000 (Q.6, "Using Pool and apply_async()"): the task fails in a pool
-- worker; AsyncResult:get() raises it in the parent, where pcall catches it.
local strand = strand or require "strand"

local function message(e) return strand.is_error(e) and e.message or tostring(e) end

local function task()
  error("An error occurred in the process", 0)
end

local function handle_exception(result)
  local ok, err = pcall(result.get, result) -- the result, or the worker's error
  if not ok then
    print("Caught exception from worker: " .. message(err))
  end
end

local function main()
  local pool <close> = strand.Pool{processes = 2}
  handle_exception(pool:apply_async(task))
end

main()

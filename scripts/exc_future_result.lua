-- Seed 000 (Q.6, "Using ThreadPoolExecutor"): the task fails in a pool thread;
-- future:result() raises the error in the caller, where pcall catches it.
local strand = strand or require "strand"

-- The caller gets a strand.Error (kind "RemoteError") carrying the worker's
-- message and traceback; tostring would add the kind, so print the message.
local function message(e) return strand.is_error(e) and e.message or tostring(e) end

local function task()
  error("An error occurred in the thread", 0)
end

do
  local executor <close> = strand.ThreadPoolExecutor{}
  local future = executor:submit(task)
  local ok, err = pcall(future.result, future) -- raises if the task failed
  if not ok then
    print("Caught exception: " .. message(err))
  end
end

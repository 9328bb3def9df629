-- Seed 000 (Q.6, "Catching Exceptions Within Threads"): the thread catches its
-- own error and reports it. Python's try/except is pcall here; error level 0
-- keeps the message free of a "file:line:" prefix, as str(e) is in Python.
local strand = strand or require "strand"

local function task()
  local ok, err = pcall(error, "An error occurred in the thread", 0) -- simulate an error
  if not ok then
    print("Exception caught in thread: " .. err)
  end
end

local thread = strand.Thread{target = task}
thread:start()
thread:join()

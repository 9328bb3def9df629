-- Seed 000 (Q.6, "Using queue.Queue to Communicate Errors"): the thread catches
-- its error and hands it to the main thread through a queue.
local strand = strand or require "strand"

local function task(q)
  local ok, err = pcall(error, "An error occurred in the thread", 0)
  if not ok then q:put(err) end -- the error value travels like any other
end

local function main()
  local q = strand.Queue()
  local thread = strand.Thread{target = task, args = {q}}
  thread:start()
  thread:join()

  if not q:empty() then
    print("Exception from thread: " .. q:get())
  end
end

main()

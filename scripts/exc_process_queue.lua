-- Seed 000 (Q.6, "Using Queue to Communicate Exceptions"): a child process
-- catches its error and sends it to the parent on a queue.
local strand = strand or require "strand"

local function task(q)
  local ok, err = pcall(error, "An error occurred in the process", 0)
  if not ok then q:put(err) end
end

local function main()
  local q = strand.Queue()
  local process = strand.Process{target = task, args = {q}}
  process:start()
  process:join()

  if not q:empty() then
    print("Exception from process: " .. q:get())
  end
end

main()

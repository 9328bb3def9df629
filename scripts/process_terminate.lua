-- Seed 004 ("Example: Terminating a Process"): an endless child is stopped with
-- SIGTERM after five seconds.
local strand = strand or require "strand"

local function worker()
  while true do
    print("Running...")
    strand.sleep(1)
  end
end

local p = strand.Process{target = worker}
p:start()
strand.sleep(5)
p:terminate() -- forcefully stop the process
p:join()
print("Process terminated") -- p.exitcode is now -15 (SIGTERM), as in Python

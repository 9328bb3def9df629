-- Seed 004 ("Example: Terminating a Process"): an endless child is stopped with
-- SIGTERM after five seconds.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local function worker()
  while true do
    print("Running...")
    strand.sleep(SECOND)
  end
end

local p = strand.Process{target = worker}
p:start()
strand.sleep(5 * SECOND)
p:terminate() -- forcefully stop the process
p:join()
print("Process terminated") -- p.exitcode is now -15 (SIGTERM), as in Python

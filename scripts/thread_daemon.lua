-- Seed 004 ("Daemon Threads"): an endless daemon thread is ended when the main
-- program ends, before it reaches its second print.
local strand = strand or require "strand"

local function daemon_thread()
  while true do
    print("Daemon thread is running.")
    strand.sleep(1)
    print("Daemon thread finished executing.")
  end
end

local thread1 = strand.Thread{target = daemon_thread, daemon = true}
thread1:start()
print("Main program exiting.")

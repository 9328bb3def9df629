-- Seed 004 ("Threading Example: Using Event"): a worker waits until the main
-- thread sets the event.
local strand = strand or require "strand"

local event = strand.Event()

local function worker()
  print("Waiting for event to be set...")
  event:wait() -- block until the event is set
  print("Event received! Proceeding with work.")
end

local thread = strand.Thread{target = worker}
thread:start()

print("Main thread setting the event...")
event:set() -- signal the waiting thread
thread:join()

-- Seed 000 (Q.5, "threading.Event"): one thread waits for an event that
-- another thread sets.
local strand = strand or require "strand"

local event = strand.Event()

local function waiter()
  print("Waiting for the event to be set...")
  event:wait() -- blocks until the event is set
  print("Event is set!")
end

local function setter()
  print("Setting the event...")
  event:set()
end

local t1 = strand.Thread{target = waiter}
local t2 = strand.Thread{target = setter}
t1:start()
t2:start()
t1:join()
t2:join()

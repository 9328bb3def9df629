-- Seed 004 ("Synchronization Primitives in Python", 3. Event): a waiter blocks
-- until a setter thread sets the event three seconds later.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local event = strand.Event()

local function waiter()
  print("Waiting for event to be set...")
  event:wait() -- blocks until the event is set
  print("Event received! Continuing execution.")
end

local function setter()
  strand.sleep(3 * SECOND)
  print("Setting the event.")
  event:set()
end

local thread1 = strand.Thread{target = waiter}
local thread2 = strand.Thread{target = setter}
thread1:start()
thread2:start()
thread1:join()
thread2:join()

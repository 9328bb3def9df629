-- Seed 004 ("Example: Graceful Thread Termination", printed twice in the
-- seed): a worker runs until the main thread sets a stop Event after 5 seconds.
-- Waiting on the event with a one-second timeout, instead of sleeping, lets the
-- worker stop as soon as it is told; it prints "Thread running..." five times.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local function worker(stop_event)
  repeat
    print("Thread running...")
  until stop_event:wait(SECOND) -- true once set, false after a second without
end

local stop_event = strand.Event()
local thread = strand.Thread{target = worker, args = {stop_event}}
thread:start()

strand.sleep(5 * SECOND) -- let the thread run for 5 seconds
stop_event:set() -- signal the thread to stop
thread:join()

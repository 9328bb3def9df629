-- Seed 004 ("Example: Using Pipe"): a sender process and a receiver process
-- joined by a pipe.
local strand = strand or require "strand"

local function sender(conn)
  conn:send("Hello from sender!")
  conn:close()
end

local function receiver(conn)
  local message = conn:recv()
  print("Received: " .. message)
end

local parent_conn, child_conn = strand.Pipe()
local p1 = strand.Process{target = sender, args = {child_conn}}
local p2 = strand.Process{target = receiver, args = {parent_conn}}
p1:start()
p2:start()
p1:join()
p2:join()

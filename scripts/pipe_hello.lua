-- Seed 000 (Q.5, "multiprocessing.Pipe"): one process sends a message down a
-- pipe, another receives and prints it.
local strand = strand or require "strand"

local function send_data(conn)
  conn:send("Hello from process")
  conn:close()
end

local function receive_data(conn)
  print("Received: " .. conn:recv())
end

local parent_conn, child_conn = strand.Pipe()
local p1 = strand.Process{target = send_data, args = {child_conn}}
local p2 = strand.Process{target = receive_data, args = {parent_conn}}
p1:start()
p2:start()
p1:join()
p2:join()

-- Seed 004 ("Inter-Process Communication (IPC) in Python using Pipe and
-- Queue"): a two-way exchange over a Pipe, then five messages from a child
-- over a Queue.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

-- Pipe: send a greeting, then receive the answer
local function pipe_worker(conn)
  conn:send("Hello from child process!")
  strand.sleep(SECOND) -- some processing
  print("Child received: " .. conn:recv())
  conn:close()
end

-- Queue: five messages, half a second apart
local function queue_worker(q)
  for i = 0, 4 do
    q:put(("Message %d from child process"):format(i))
    strand.sleep(0.5 * SECOND)
  end
end

local function main()
  -- Using Pipe
  local parent_conn, child_conn = strand.Pipe()
  local p1 = strand.Process{target = pipe_worker, args = {child_conn}}
  p1:start()
  print("Parent received: " .. parent_conn:recv())
  parent_conn:send("Hello from parent process!")
  p1:join()

  -- Using Queue. Python spins on `while p2.is_alive() or not q.empty()`;
  -- strand.wait sleeps until the queue has an item or the child has ended.
  local q = strand.Queue()
  local p2 = strand.Process{target = queue_worker, args = {q}}
  p2:start()
  while true do
    strand.wait({q, p2})
    if not q:empty() then
      print("Parent received from queue: " .. q:get())
    elseif not p2:is_alive() then
      break
    end
  end
  p2:join()
end

main()

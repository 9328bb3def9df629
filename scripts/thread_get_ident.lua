-- Seed 004 ("Getting Thread Id"): five threads print their identifier when
-- they start and when they end.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1
local threading = strand.threading

local function task()
  print(("Thread %d is running."):format(threading.get_ident()))
  strand.sleep(SECOND)
  print(("Thread %d is terminated."):format(threading.get_ident()))
end

print("Main thread started.")

local threads_list = {}
for _ = 1, 5 do
  local thread = strand.Thread{target = task}
  thread:start()
  threads_list[#threads_list + 1] = thread
end
for _, thread in ipairs(threads_list) do thread:join() end

print("Main thread finished.")

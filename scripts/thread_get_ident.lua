-- Seed 004 ("Getting Thread Id"): five threads print their identifier when
-- they start and when they end.
local strand = strand or require "strand"
local threading = strand.threading

local function task()
  print(("Thread %d is running."):format(threading.get_ident()))
  strand.sleep(1)
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

-- Seed 004 ("Monitoring Currently Active Threads"): active_count() while five
-- short threads start, then after they are joined, and enumerate() at the end
-- (only MainThread is left).
local strand = strand or require "strand"
local threading = strand.threading

local function task()
  print(("Current Thread : %s is running."):format(threading.current_thread().name))
end

print(("Main thread : %s started."):format(threading.main_thread().name))

local threads_list = {}
for _ = 1, 5 do
  local thread = strand.Thread{target = task}
  thread:start()
  threads_list[#threads_list + 1] = thread
  print(("\nActive Thread Count: %d"):format(threading.active_count()))
end

for _, thread in ipairs(threads_list) do thread:join() end

print(("Main thread      : %s finished."):format(threading.main_thread().name))
print(("Active Thread Count: %d"):format(threading.active_count()))
for _, active in ipairs(threading.enumerate()) do
  print("Active Thread List: " .. active.name)
end

-- Seed 004 ("Getting Main and Current Thread"): names of the main thread and of
-- the thread running each task (Thread-1 (task), Thread-2 (task)).
local strand = strand or require "strand"
local threading = strand.threading

local function task()
  for _ = 1, 2 do
    print(("Current Thread: %s is running."):format(threading.current_thread().name))
  end
end

print(("Main thread : %s started."):format(threading.main_thread().name))
local thread1 = strand.Thread{target = task}
local thread2 = strand.Thread{target = task}
thread1:start()
thread2:start()
thread1:join()
thread2:join()
print(("Main thread : %s finished."):format(threading.main_thread().name))

-- Seed 004 ("Synchronization Primitives in Python", 2. Semaphore): five
-- threads, at most three working at a time.
local strand = strand or require "strand"

local semaphore = strand.Semaphore(3) -- only 3 threads at a time

local function worker(thread_id)
  semaphore:acquire()
  print(("Thread %d is working..."):format(thread_id))
  strand.sleep(2)
  print(("Thread %d is done."):format(thread_id))
  semaphore:release()
end

local threads = {}
for i = 0, 4 do
  threads[#threads + 1] = strand.Thread{target = worker, args = {i}}
end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

-- Seed 004 ("Synchronization Primitives in Python", 2. Semaphore): five
-- threads, at most three working at a time.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local semaphore = strand.Semaphore(3) -- only 3 threads at a time

local function worker(thread_id)
  semaphore:acquire()
  print(("Thread %d is working..."):format(thread_id))
  strand.sleep(2 * SECOND)
  print(("Thread %d is done."):format(thread_id))
  semaphore:release()
end

local threads = {}
for i = 0, 4 do
  threads[#threads + 1] = strand.Thread{target = worker, args = {i}}
end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

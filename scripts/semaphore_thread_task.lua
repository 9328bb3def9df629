-- Seed 004 ("Semaphore Objects in Threading"): three threads, at most two past
-- the semaphore at once; explicit acquire and release, as in the seed.
local strand = strand or require "strand"

local sem = strand.Semaphore(2)

local function thread_task(num)
  print(("Thread %d: Waiting"):format(num))
  sem:acquire()
  print(("Thread %d: Acquired the semaphore"):format(num))
  for _ = 1, 5 do -- some work
    print(("Thread %d: In process"):format(num))
  end
  sem:release()
  print(("Thread %d: Released the semaphore."):format(num))
end

local threads = {}
for num = 1, 3 do threads[num] = strand.Thread{target = thread_task, args = {num}} end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

print("All threads have finished.")

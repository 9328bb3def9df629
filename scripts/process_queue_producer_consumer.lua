-- Seed 004 ("Example: Using Queue"): a producer process fills a queue with 0..4
-- and ends; then a consumer process drains it.
local strand = strand or require "strand"

local function producer(queue)
  for i = 0, 4 do
    queue:put(i)
    print("Produced: " .. i)
  end
end

local function consumer(queue)
  while not queue:empty() do
    print("Consumed: " .. queue:get())
  end
end

local queue = strand.Queue()
local p1 = strand.Process{target = producer, args = {queue}}
local p2 = strand.Process{target = consumer, args = {queue}}

p1:start()
p1:join()

p2:start()
p2:join()

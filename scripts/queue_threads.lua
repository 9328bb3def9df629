-- Seed 004 ("Using Queue for Thread Communication"): a producer thread fills a
-- queue with 0..4 and ends; then a consumer thread drains it.
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

local q = strand.Queue()
local producer_thread = strand.Thread{target = producer, args = {q}}
local consumer_thread = strand.Thread{target = consumer, args = {q}}

producer_thread:start()
producer_thread:join()

consumer_thread:start()
consumer_thread:join()

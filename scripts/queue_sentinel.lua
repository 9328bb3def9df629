-- Seed 000 (Q.5, "queue.Queue"): a producer thread puts 0..4 on a queue, a
-- consumer thread prints them until it gets the end-of-work sentinel.
-- Python uses None as the sentinel; a strand queue carries nil like any value,
-- and nil is also what ends a Lua generic for, so the consumer is one loop.
local strand = strand or require "strand"

local q = strand.Queue()

local function producer()
  for i = 0, 4 do
    q:put(i)
    print("Produced: " .. i)
  end
end

local function consumer()
  for item in function() return q:get() end do
    print("Consumed: " .. item)
  end
end

local prod_thread = strand.Thread{target = producer}
local cons_thread = strand.Thread{target = consumer}
prod_thread:start()
cons_thread:start()

prod_thread:join()
q:put(nil) -- the sentinel that stops the consumer
cons_thread:join()

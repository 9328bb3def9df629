-- Seed 004 ("Example 2: Subclassing the Thread Class"): a thread class whose
-- run() prints Custom Thread: 0..4.
-- Python subclasses Thread to override run(); strand takes the run method in
-- the constructor, so the "class" is a function that builds such threads.
local strand = strand or require "strand"

local function CustomThread()
  return strand.Thread{
    run = function(self)
      for i = 0, 4 do
        print("Custom Thread: " .. i)
      end
    end,
  }
end

local thread = CustomThread()
thread:start()
thread:join()

-- Seed 003 (Q3): create one process, run it, wait for it.
local strand = strand or require "strand"

local function my_process()
  print("This is running in a separate process!")
end

local p = strand.Process{target = my_process}
p:start()
p:join()
print("Process completed!")

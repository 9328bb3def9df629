-- Seed 004 ("Threading Example: Using Semaphore"): four named workers, at most
-- two working at a time.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local semaphore = strand.Semaphore(2)

local function worker(name)
  local _ <close> = semaphore:hold()
  print(name .. " is working...")
  strand.sleep(2 * SECOND)
  print(name .. " finished")
end

local threads = {}
for i = 0, 3 do
  threads[#threads + 1] = strand.Thread{target = worker, args = {"Thread-" .. i}}
end
for _, t in ipairs(threads) do t:start() end
for _, t in ipairs(threads) do t:join() end

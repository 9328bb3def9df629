-- Seed 004 (GIL workarounds, "Implementing concurrent I/O with asyncio"): three
-- fetches that each wait a second, run at once, so the whole takes about one
-- second and prints "Data fetched" three times. (As printed in the seed,
-- `asyncio.run(main())` is indented inside main and never runs; this is the
-- program as intended.) asyncio.gather becomes a thread pool and futures.wait.
local strand = strand or require "strand"
-- STRAND_FAST=1 (set by the specs) makes every sleep ten times shorter.
local SECOND = os.getenv("STRAND_FAST") and 0.1 or 1

local function fetch_data()
  strand.sleep(SECOND)
  print("Data fetched")
end

local function main()
  local executor <close> = strand.ThreadPoolExecutor{max_workers = 3}
  local tasks = {}
  for i = 1, 3 do tasks[i] = executor:submit(fetch_data) end
  strand.futures.wait(tasks) -- gather: wait for all of them
end

main()

-- examples/host.lua — the script examples/host.c runs. `host` is the host
-- application's own C library. The host's state hook opens it in every
-- worker state strand makes (threads, thread-pool workers); forked workers
-- (process pools) are copies of the host process, library included. So
-- every kind of worker calls host.checksum directly.
local words = {"strand", "runs", "Lua", "in", "parallel", "Wikipedia"}

local function checksum_in_worker(word)
  assert(debug.getinfo(host.checksum, "S").what == "C", "host.checksum should be the host's C function")
  return host.checksum(word)
end

local function show(kind, word, sum)
  print(("%s: checksum(%q) = 0x%08x"):format(kind, word, sum))
end

show("main", "Wikipedia", host.checksum("Wikipedia"))

-- threads, each with its own Lua state
local threads = {}
for i, word in ipairs(words) do
  threads[i] = strand.Thread{target = checksum_in_worker, args = {word}}
  threads[i]:start()
end
for i, t in ipairs(threads) do
  assert(t:join(30), "thread did not finish")
  show("thread", words[i], t:result())
end

-- a thread pool: its workers keep their states between tasks
do
  local executor <close> = strand.ThreadPoolExecutor{max_workers = 2}
  local futures = {}
  for i, word in ipairs(words) do futures[i] = executor:submit(checksum_in_worker, word) end
  for i, f in ipairs(futures) do show("thread pool", words[i], f:result(30)) end
end

-- a process pool: forked workers
do
  local pool <close> = strand.Pool(2)
  for i, sum in ipairs(pool:map(checksum_in_worker, words)) do show("process pool", words[i], sum) end
  pool:close()
  pool:join()
end

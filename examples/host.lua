-- examples/host.lua — the script examples/host.c runs. `host` is the host
-- application's own C library; the host's state hook puts it in every
-- worker state too, so workers call host.checksum directly.
local words = {"strand", "runs", "Lua", "in", "parallel", "Wikipedia"}

local function checksum_in_worker(word)
  assert(debug.getinfo(host.checksum, "S").what == "C", "host.checksum should be the host's C function")
  return host.checksum(word)
end

print(("main: host %q, checksum(%q) = 0x%08x"):format(host.name, "Wikipedia", host.checksum("Wikipedia")))

-- threads, each with its own Lua state
local threads = {}
for i, word in ipairs(words) do
  threads[i] = strand.Thread{target = checksum_in_worker, args = {word}}
  threads[i]:start()
end
for i, t in ipairs(threads) do
  assert(t:join(30), "thread did not finish")
  print(("thread: checksum(%q) = 0x%08x"):format(words[i], t:result()))
end

-- Seed 004 ("Hybrid System: Using Both Threading and Multiprocessing"): two
-- threads do I/O (downloads) while a process computes 50,000!.
--
-- The downloads: this machine has no internet, so they are real local
-- transfers instead. Two source files of the sizes the seed's output reports
-- (13,265 and 16,384 bytes) are written first; each thread then streams its
-- file:// URL in 4 KiB chunks into a fresh temporary file, as a download saves
-- a body, and reports the bytes it received.
--
-- The factorial: Lua 5.4 has no big integers, so 50,000! is computed exactly
-- with a small bignum: little-endian limbs in base 10^7, multiplied by two
-- factors at a time (limb * m + carry stays below 2^63). The result has 213,237
-- digits; it takes a few seconds of CPU in the child process, while the
-- threads' I/O goes on.
local strand = strand or require "strand"

-- I/O-bound task: fetch a file:// URL into a temporary file
local function download_file(url, thread_id)
  print(("Thread-%d: Starting download from %s"):format(thread_id, url))
  local source = assert(io.open(url:gsub("^file://", ""), "rb"))
  local target_path = os.tmpname()
  local target = assert(io.open(target_path, "wb"))
  local size = 0
  for chunk in source:lines(4096) do
    target:write(chunk)
    size = size + #chunk
  end
  source:close()
  target:close()
  os.remove(target_path)
  print(("Thread-%d: Download complete. Size: %d bytes"):format(thread_id, size))
end

-- CPU-bound task: n! as base-10^7 limbs
local function compute_factorial(n)
  print(("Process: Computing factorial of %d"):format(n))
  local BASE = 10000000
  local limbs, len = {1}, 1
  local i = 2
  while i <= n do
    local m = i
    if i < n then m = i * (i + 1) end -- two factors per pass: m < 2.5e9 for n = 50,000
    i = i + 2
    local carry = 0
    for j = 1, len do
      local x = limbs[j] * m + carry
      carry = x // BASE
      limbs[j] = x - carry * BASE
    end
    while carry > 0 do
      len = len + 1
      limbs[len] = carry % BASE
      carry = carry // BASE
    end
  end
  print(("Process: Factorial computation done for %d"):format(n))
  return limbs, len
end

local function main()
  -- The "remote" files, written for real (the seed downloads two small PDFs).
  local urls = {}
  for i, size in ipairs{13265, 16384} do
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write("%PDF-1.4\n", ("\0"):rep(size - 9))
    f:close()
    urls[i] = "file://" .. path
  end

  -- Threads for the I/O-bound tasks
  local threads = {}
  for i, url in ipairs(urls) do
    threads[i] = strand.Thread{target = download_file, args = {url, i - 1}}
    threads[i]:start()
  end

  -- A process for the CPU-bound task
  local n = tonumber(arg and arg[1]) or 50000 -- an argument computes another n!
  local process = strand.Process{target = compute_factorial, args = {n}}
  process:start()

  for _, t in ipairs(threads) do t:join() end
  process:join()

  for _, url in ipairs(urls) do os.remove((url:gsub("^file://", ""))) end
  print("All tasks completed.")
end

main()

-- Seed 004 ("threading.Lock - Avoiding Race Conditions"): two threads read the
-- same file, one at a time under a Lock, appending each line to shared data.
-- The seed's sample.txt is not included: the script writes the line its output
-- shows to a temporary file first.
-- Python's threads append to one global string. Each strand thread has its own
-- Lua state, so the pieces go to a shared list (strand.shared.list()), joined at
-- the end.
local strand = strand or require "strand"

local path = os.tmpname()
local f = assert(io.open(path, "w"))
f:write("Hello there! Welcome to GeekPython.") -- one line, no newline at the end
f:close()

local lock = strand.Lock()
local data = strand.shared.list()

local function read_file()
  for info in io.lines(path, "L") do
    data:append("\n" .. info)
  end
end

local function lock_task()
  lock:with(read_file) -- acquire, run, release (also if read_file fails)
end

local thread1 = strand.Thread{target = lock_task}
local thread2 = strand.Thread{target = lock_task}
thread1:start()
thread2:start()
thread1:join()
thread2:join()
os.remove(path)

-- the data read from the file
print("Data: " .. table.concat(data:totable()))

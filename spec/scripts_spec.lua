-- Every seed program's strand script (scripts/*.lua, listed in scripts/SEEDS.md)
-- runs with the strand command and prints what its Python original prints.
-- Each check asserts what must hold whatever the scheduler does -- final counts,
-- results in order, the error caught, the exit code -- never a timing. Scripts
-- run with STRAND_FAST=1, which makes their sleeps ten times shorter (only the
-- sleeps). The Lua interpreter is not instrumented in sanitizer builds, so the
-- CPU-heavy scripts (a countdown of 50,000,000, 50,000!) take seconds there too.
local BIN = os.getenv("STRAND_BIN") or "build/strand"
local SANITIZER = os.getenv("SANITIZER")
local LIMIT = SANITIZER and 300 or 120 -- seconds a script may run before `timeout` ends it

require("strand.busted").configure{timeout = 60} -- per test; sanitizer builds scale it

-- run scripts/NAME.lua with the given arguments; returns
-- {out =, err =, code =, lines = stdout split into lines}
local function run(name, ...)
  local errf = os.tmpname()
  local cmd = ("STRAND_FAST=1 timeout %d %s scripts/%s.lua %s 2>%s </dev/null; echo \"EXIT:$?\"")
    :format(LIMIT, BIN, name, table.concat({...}, " "), errf)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  local f = assert(io.open(errf))
  local err = f:read("a")
  f:close()
  os.remove(errf)
  local code = tonumber(out:match("EXIT:(%d+)\n$"))
  out = out:gsub("EXIT:%d+\n$", "")
  local lines = {}
  for line in out:gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return {out = out, err = err, code = code, lines = lines}
end

local function sorted(t)
  local copy = table.move(t, 1, #t, 1, {})
  table.sort(copy)
  return copy
end

local function index_of(lines, line)
  for i, l in ipairs(lines) do if l == line then return i end end
end

-- the lines matching a Lua pattern, and their captures
local function matching(lines, pattern)
  local found = {}
  for _, l in ipairs(lines) do
    local caps = {l:match(pattern)}
    if #caps > 0 then found[#found + 1] = caps end
  end
  return found
end

-- the lines matching a Lua pattern
local function matching_lines(lines, pattern)
  local t = {}
  for _, l in ipairs(lines) do if l:match(pattern) then t[#t + 1] = l end end
  return t
end

local function ok(r)
  assert.equal(0, r.code, "exit code; stderr:\n" .. r.err)
end

-- the script prints exactly these lines (its order is deterministic)
local function exact(name, expected)
  return function()
    local r = run(name)
    ok(r)
    assert.same(expected, r.lines)
    assert.equal("", r.err)
  end
end

-- the script prints these lines in some order (the scheduler decides)
local function in_any_order(name, expected)
  return function()
    local r = run(name)
    ok(r)
    assert.same(sorted(expected), sorted(r.lines))
    assert.equal("", r.err)
  end
end

-- a run where `a` must come before `b` in the output
local function assert_before(lines, a, b)
  local ia, ib = index_of(lines, a), index_of(lines, b)
  assert.is_not_nil(ia, a)
  assert.is_not_nil(ib, b)
  assert.is_true(ia < ib, ("%q before %q"):format(a, b))
end

-- format:format(f(i)) for i = from, to (f gives the values, default i)
local function list_of(format, from, to, f)
  f = f or function(i) return i end
  local t = {}
  for i = from, to do t[#t + 1] = format:format(f(i)) end
  return t
end

local function factorial(n)
  local r = 1
  for i = 2, n do r = r * i end
  return r
end

local checks = {}

-- ---- threads ------------------------------------------------------------------
checks.thread_print_numbers = exact("thread_print_numbers", list_of("Number: %d", 0, 4))
checks.thread_subclass = exact("thread_subclass", list_of("Custom Thread: %d", 0, 4))
checks.thread_join = exact("thread_join", {
  "Worker thread started", "Working...", "Working...", "Working...",
  "Worker thread finished", "Main thread continues"})
checks.thread_num_gen_join = exact("thread_num_gen_join", {
  "Statement: Creating and Starting a Thread.",
  "Thread:  0", "Thread:  1", "Thread:  2",
  "Statement: Thread Execution Finished."})
checks.thread_compute_square = in_any_order("thread_compute_square",
  list_of("Square of %d: %d", 0, 4, function(i) return i, i * i end))

checks.thread_num_gen = function()
  -- main does not join, yet the program waits for the thread before it exits
  local r = run("thread_num_gen")
  ok(r)
  assert.equal(5, #r.lines)
  assert.equal("Statement: Creating and Starting a Thread.", r.lines[1])
  assert_before(r.lines, "Thread:  0", "Thread:  1")
  assert_before(r.lines, "Thread:  1", "Thread:  2")
  assert.is_not_nil(index_of(r.lines, "Statement: Thread Execution Finished."))
end

checks.thread_daemon = function()
  -- the endless daemon thread is ended at exit, before its second print
  local r = run("thread_daemon")
  ok(r)
  assert.is_not_nil(index_of(r.lines, "Main program exiting."))
  assert.is_nil(index_of(r.lines, "Daemon thread finished executing."))
  for _, l in ipairs(r.lines) do
    assert.is_true(l == "Main program exiting." or l == "Daemon thread is running.", l)
  end
end

checks.thread_stop_event = function()
  local r = run("thread_stop_event")
  ok(r)
  assert.is_true(#r.lines >= 1)
  for _, l in ipairs(r.lines) do assert.equal("Thread running...", l) end
end

checks.thread_io_tasks = function()
  local r = run("thread_io_tasks")
  ok(r)
  assert.equal(10, #r.lines)
  for i = 0, 4 do assert_before(r.lines, ("Task %d started"):format(i), ("Task %d finished"):format(i)) end
end

checks.thread_current_main = function()
  local r = run("thread_current_main")
  ok(r)
  assert.equal("Main thread : MainThread started.", r.lines[1])
  assert.equal("Main thread : MainThread finished.", r.lines[6])
  assert.same({
    "Current Thread: Thread-1 (task) is running.", "Current Thread: Thread-1 (task) is running.",
    "Current Thread: Thread-2 (task) is running.", "Current Thread: Thread-2 (task) is running.",
  }, sorted(table.move(r.lines, 2, 5, 1, {})))
end

checks.thread_active_count = function()
  local r = run("thread_active_count")
  ok(r)
  local n = #r.lines
  assert.equal("Main thread : MainThread started.", r.lines[1])
  -- once every thread is joined, only the main thread is left
  assert.same({"Main thread      : MainThread finished.", "Active Thread Count: 1",
    "Active Thread List: MainThread"}, {r.lines[n - 2], r.lines[n - 1], r.lines[n]})
  local names = {}
  for _, c in ipairs(matching(r.lines, "^Current Thread : (Thread%-%d %(task%)) is running%.$")) do
    names[#names + 1] = c[1]
  end
  assert.same(list_of("Thread-%d (task)", 1, 5), sorted(names))
  local counts = matching(r.lines, "^Active Thread Count: (%d+)$")
  assert.equal(6, #counts)
  for i = 1, 5 do -- main plus at most the i threads started so far
    local c = tonumber(counts[i][1])
    assert.is_true(c >= 1 and c <= i + 1, "count " .. c)
  end
end

checks.thread_get_ident = function()
  local r = run("thread_get_ident")
  ok(r)
  assert.equal("Main thread started.", r.lines[1])
  assert.equal("Main thread finished.", r.lines[#r.lines])
  local running, ended = {}, {}
  for _, c in ipairs(matching(r.lines, "^Thread (%d+) is running%.$")) do running[#running + 1] = c[1] end
  for _, c in ipairs(matching(r.lines, "^Thread (%d+) is terminated%.$")) do ended[#ended + 1] = c[1] end
  assert.equal(5, #running)
  assert.same(sorted(running), sorted(ended))
  for i = 2, 5 do assert.are_not.equal(sorted(running)[i - 1], sorted(running)[i]) end
end

checks.thread_factorial_typo = function()
  -- as in the notebook, the misspelt `thraeding` kills both threads: nothing on
  -- stdout, two reports on stderr, and the program itself still exits 0
  local r = run("thread_factorial_typo")
  ok(r)
  assert.equal("", r.out)
  local _, reports = r.err:gsub("Exception in thread Thread%-%d %(calculate_factorial%):", "")
  assert.equal(2, reports)
  assert.truthy(r.err:find("thraeding", 1, true))
  -- the program as it was meant to be
  local fixed = run("thread_factorial_typo", "fixed")
  ok(fixed)
  assert.same(sorted{
    "\\calculating factorial of 12 in thread Thread-1 (calculate_factorial)",
    "\\calculating factorial of 12 in thread Thread-2 (calculate_factorial)",
    "factorial of 12 is 479001600 i;n thread Thread-1 (calculate_factorial)",
    "factorial of 12 is 479001600 i;n thread Thread-2 (calculate_factorial)",
  }, sorted(fixed.lines))
end

-- ---- locks, semaphores, events ----------------------------------------------------
checks.lock_counter = exact("lock_counter", {"Final Counter: 200000"})
checks.lock_counter_100 = exact("lock_counter_100", {"100"})
checks.lock_try_finally = exact("lock_try_finally", {"Final Counter Value: 10"})
checks.rlock_recursive = exact("rlock_recursive", {"5", "4", "3", "2", "1"})
checks.lock_read_file = exact("lock_read_file", {
  "Data: ", "Hello there! Welcome to GeekPython.", "Hello there! Welcome to GeekPython."})

checks.list_add_remove = function()
  local r = run("list_add_remove")
  ok(r)
  local added, removed = {}, {}
  for _, c in ipairs(matching(r.lines, "^Added: (%d+)$")) do added[#added + 1] = tonumber(c[1]) end
  for _, c in ipairs(matching(r.lines, "^Removed: (%d+)$")) do removed[#removed + 1] = tonumber(c[1]) end
  assert.equal(10, #added)
  for i, v in ipairs(added) do assert.equal(i - 1, v) end
  -- removed from the front, in the order added, until the remover found it empty
  for i, v in ipairs(removed) do assert.equal(i - 1, v) end
  -- the remover stops at the first empty list (normally once all ten are gone)
  local n = #r.lines
  local empty = index_of(r.lines, "List is empty, waiting for numbers to add.")
  assert.is_not_nil(empty)
  for i = empty + 1, n - 1 do assert.truthy(r.lines[i]:match("^Added: %d+$"), r.lines[i]) end
  local left = {}
  for v = #removed, 9 do left[#left + 1] = v end
  assert.equal("Final shared list: [" .. table.concat(left, ", ") .. "]", r.lines[n])
end

checks.list_add_remove_random = function()
  -- replay the log: each line shows the list after its change
  local r = run("list_add_remove_random")
  ok(r)
  local list, adds = {}, 0
  local function show() return "[" .. table.concat(list, ", ") .. "]" end
  for i = 1, #r.lines - 1 do
    local op, num, shown = r.lines[i]:match("^(%a+) (%d+): (%[.*%])$")
    num = tonumber(num)
    assert.is_truthy(op, r.lines[i])
    assert.is_true(num >= 1 and num <= 100)
    if op == "Added" then
      adds = adds + 1
      list[#list + 1] = num
    else
      assert.equal("Removed", op)
      assert.equal(table.remove(list, 1), num)
    end
    assert.equal(show(), shown)
  end
  assert.equal(10, adds)
  assert.equal("Final shared list: " .. show(), r.lines[#r.lines])
end

-- at most `limit` names between their start and finish lines at any moment
local function assert_at_most(lines, limit, start_pat, finish_pat, total)
  local inside, seen, started = 0, 0, {}
  for _, l in ipairs(lines) do
    local s, f = l:match(start_pat), l:match(finish_pat)
    if s then
      assert.is_nil(started[s], "started twice: " .. s)
      started[s] = true
      inside, seen = inside + 1, seen + 1
      assert.is_true(inside <= limit, "more than " .. limit .. " inside at: " .. l)
    elseif f then
      assert.is_true(started[f], "finished before it started: " .. f)
      inside = inside - 1
    else
      error("unexpected line: " .. l)
    end
  end
  assert.equal(total, seen)
  assert.equal(0, inside)
end

checks.semaphore_names = function()
  local r = run("semaphore_names")
  ok(r)
  assert.equal(10, #r.lines)
  assert_at_most(r.lines, 2, "^Task started by (Thread%-%d %(task%))$", "^Task finished by (Thread%-%d %(task%))$", 5)
end

checks.semaphore_three = function()
  local r = run("semaphore_three")
  ok(r)
  assert_at_most(r.lines, 3, "^Thread (%d) is working%.%.%.$", "^Thread (%d) is done%.$", 5)
end

checks.semaphore_workers = function()
  local r = run("semaphore_workers")
  ok(r)
  assert_at_most(r.lines, 2, "^(Thread%-%d) is working%.%.%.$", "^(Thread%-%d) finished$", 4)
end

checks.semaphore_thread_task = function()
  -- each thread: Waiting, Acquired, 5 x In process, Released, in that order
  local r = run("semaphore_thread_task")
  ok(r)
  assert.equal(25, #r.lines)
  assert.equal("All threads have finished.", r.lines[25])
  for num = 1, 3 do
    local mine = {}
    for _, l in ipairs(r.lines) do
      if l:match("^Thread " .. num .. ":") then mine[#mine + 1] = l end
    end
    local p = "Thread " .. num .. ": "
    assert.same({p .. "Waiting", p .. "Acquired the semaphore",
      p .. "In process", p .. "In process", p .. "In process", p .. "In process", p .. "In process",
      p .. "Released the semaphore."}, mine)
  end
end

checks.event_waiter_setter = function()
  local r = run("event_waiter_setter")
  ok(r)
  assert.equal(3, #r.lines)
  assert_before(r.lines, "Setting the event...", "Event is set!")
  assert_before(r.lines, "Waiting for the event to be set...", "Event is set!")
end

checks.event_main_sets = function()
  local r = run("event_main_sets")
  ok(r)
  assert.equal(3, #r.lines)
  assert.equal("Event received! Proceeding with work.", r.lines[3])
end

checks.event_setter_delay = function()
  local r = run("event_setter_delay")
  ok(r)
  assert.equal(3, #r.lines)
  assert.equal("Event received! Continuing execution.", r.lines[3])
  assert_before(r.lines, "Setting the event.", "Event received! Continuing execution.")
  assert.is_not_nil(index_of(r.lines, "Waiting for event to be set..."))
end

-- ---- queues -----------------------------------------------------------------------
local produced_consumed = list_of("Produced: %d", 0, 4)
for _, l in ipairs(list_of("Consumed: %d", 0, 4)) do produced_consumed[#produced_consumed + 1] = l end

checks.queue_threads = exact("queue_threads", produced_consumed)
checks.process_queue_producer_consumer = exact("process_queue_producer_consumer", produced_consumed)

checks.queue_sentinel = function()
  -- the consumer runs beside the producer: each list in order. The producer
  -- prints after its put, so "Consumed: i" may come before "Produced: i", but
  -- not before "Produced: i-1" (printed before i was put)
  local r = run("queue_sentinel")
  ok(r)
  assert.equal(10, #r.lines)
  assert.same(list_of("Produced: %d", 0, 4), matching_lines(r.lines, "^Produced"))
  assert.same(list_of("Consumed: %d", 0, 4), matching_lines(r.lines, "^Consumed"))
  for i = 1, 4 do assert_before(r.lines, "Produced: " .. i - 1, "Consumed: " .. i) end
end

-- ---- processes ------------------------------------------------------------------------
checks.process_hello = exact("process_hello", {
  "This is running in a separate process!", "Process completed!"})
checks.process_workers = exact("process_workers", {
  "Worker process", "Worker process", "Worker process", "Worker process"})
checks.process_worker_names = in_any_order("process_worker_names", list_of("Process %d is running", 0, 3))
checks.process_compute_square = in_any_order("process_compute_square",
  list_of("Square of %d: %d", 0, 4, function(i) return i, i * i end))
checks.process_tasks = in_any_order("process_tasks", list_of("Task %d is done!", 0, 4))
checks.process_queue_worker = exact("process_queue_worker", {"Data from worker"})
checks.process_queue_data = exact("process_queue_data", {"Data from process"})
checks.process_lock_counter = exact("process_lock_counter", {"Final counter value: 100"})
-- a plain table given to a child is the child's copy, as a Python list is
checks.process_lock_list = exact("process_lock_list", {"Final List Length: 0"})

checks.process_print_numbers = function()
  local r = run("process_print_numbers")
  ok(r)
  assert.equal("All processes completed", r.lines[5])
  assert.same(list_of("Process Process-%d printed %d", 1, 4, function(i) return i, i end),
    sorted(table.move(r.lines, 1, 4, 1, {})))
end

checks.process_terminate = function()
  local r = run("process_terminate")
  ok(r)
  assert.equal("Process terminated", r.lines[#r.lines])
  for i = 1, #r.lines - 1 do assert.equal("Running...", r.lines[i]) end
end

checks.pipe_hello = exact("pipe_hello", {"Received: Hello from process"})
checks.pipe_sender_receiver = exact("pipe_sender_receiver", {"Received: Hello from sender!"})

checks.pipe_queue_ipc = function()
  local expected = {"Parent received: Hello from child process!", "Child received: Hello from parent process!"}
  for i = 0, 4 do
    expected[#expected + 1] = ("Parent received from queue: Message %d from child process"):format(i)
  end
  exact("pipe_queue_ipc", expected)()
end

-- ---- shared memory ---------------------------------------------------------------------
checks.value_processes = exact("value_processes", {"Final value: 1000"})
checks.value_array_processes = exact("value_array_processes", {"Shared Value: 3", "Shared Array: [3, 3, 3]"})
checks.value_array_ipc = exact("value_array_ipc", {"Final shared value: 10", "Final shared array: [11, 12, 13]"})
checks.manager_list = exact("manager_list", {"Shared list: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"})

-- ---- pools, executors, futures ------------------------------------------------------------
checks.pool_square = exact("pool_square", {"[1, 4, 9, 16, 25]"})
checks.pool_square_sleep = exact("pool_square_sleep", {"[1, 4, 9, 16, 25, 36, 49, 64]"})
checks.pool_apply_async = exact("pool_apply_async", {"[0, 2, 4, 6, 8]"})
checks.pool_my_task = exact("pool_my_task", {"[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]", "[1, 4, 9]"})

checks.pool_sizes = function()
  local r = run("pool_sizes")
  ok(r)
  assert.equal(12, #r.lines)
  for i, size in ipairs{2, 4, 8} do
    local b = (i - 1) * 4
    assert.equal("Pool size: " .. size, r.lines[b + 1])
    assert.equal("Results: [1, 4, 9, 16, 25, 36, 49, 64, 81, 100]", r.lines[b + 2])
    assert.truthy(r.lines[b + 3]:match("^Time taken: %d+%.%d%d%d%d seconds$"))
    assert.equal(("-"):rep(40), r.lines[b + 4])
  end
end

checks.pool_sizes_oneline = function()
  local r = run("pool_sizes_oneline")
  ok(r)
  assert.equal(3, #r.lines)
  for i, size in ipairs{2, 4, 8} do
    assert.truthy(r.lines[i]:match("^Pool size: " .. size ..
      ", Results: %[1, 4, 9, 16, 25, 36, 49, 64, 81, 100%], Time taken: %d+%.%d%d%d%d%d%d seconds$"), r.lines[i])
  end
end

checks.tpe_factorial_map = exact("tpe_factorial_map", list_of("Factorial of %d is %d", 1, 10,
  function(i) return i, factorial(i) end))
checks.tpe_factorial_as_completed = in_any_order("tpe_factorial_as_completed",
  list_of("Factorial: %d", 1, 10, factorial))
local squares = {"Square of 5: 25.", "Square of 2: 4.", "Square of 55: 3025.", "Square of 4: 16."}
checks.tpe_square_shutdown = in_any_order("tpe_square_shutdown", squares)
checks.tpe_square_with = in_any_order("tpe_square_with", squares)
checks.async_fetch = exact("async_fetch", {"Data fetched", "Data fetched", "Data fetched"})

-- ---- errors -------------------------------------------------------------------------------
checks.exc_in_thread = exact("exc_in_thread", {"Exception caught in thread: An error occurred in the thread"})
checks.exc_thread_queue = exact("exc_thread_queue", {"Exception from thread: An error occurred in the thread"})
checks.exc_future_result = exact("exc_future_result", {"Caught exception: An error occurred in the thread"})
checks.exc_process_queue = exact("exc_process_queue", {"Exception from process: An error occurred in the process"})
checks.exc_pool_apply_async = exact("exc_pool_apply_async", {
  "Caught exception from worker: An error occurred in the process"})
checks.exc_coroutine = exact("exc_coroutine", {"Caught exception: An error occurred in the coroutine"})
checks.exc_gather = exact("exc_gather", {
  "Caught exception: An error occurred in one of the coroutines",
  "Caught exception: An error occurred in one of the coroutines"})

-- ---- the GIL articles and the hybrid system ------------------------------------------------
-- the figures are timings: only their form is checked
local SECONDS = "(%d+%.?%d*e?%-?%d*)"

checks.gil_countdown = function()
  local r = run("gil_countdown")
  ok(r)
  assert.equal(1, #r.lines)
  assert.truthy(r.lines[1]:match("^Time taken in seconds %- " .. SECONDS .. "$"), r.lines[1])
end

checks.gil_countdown_threads = function()
  local r = run("gil_countdown_threads")
  ok(r)
  assert.equal(2, #r.lines)
  assert.truthy(r.lines[1]:match("^Time taken in seconds %- " .. SECONDS .. "$"), r.lines[1])
  assert.truthy(r.lines[2]:match("^one thread: %d+%.%d+ s, two threads: %d+%.%d+ s, speedup: %d+%.%d+x$"), r.lines[2])
end

checks.gil_countdown_processes = function()
  local r = run("gil_countdown_processes")
  ok(r)
  assert.equal(2, #r.lines)
  assert.truthy(r.lines[1]:match("^Time taken in seconds %- " .. SECONDS .. "$"), r.lines[1])
  assert.truthy(r.lines[2]:match("^one thread: %d+%.%d+ s, two processes: %d+%.%d+ s %(speedup %d+%.%d+x%), " ..
    "two threads: %d+%.%d+ s %(speedup %d+%.%d+x%)$"), r.lines[2])
end

checks.hybrid_io_cpu = function()
  -- 50,000! takes a few seconds of CPU: run once
  local n = 50000
  local r = run("hybrid_io_cpu")
  ok(r)
  assert.equal(7, #r.lines)
  local urls = {}
  for _, c in ipairs(matching(r.lines, "^Thread%-(%d): Starting download from (file://%S+)$")) do urls[c[1]] = c[2] end
  assert.truthy(urls["0"] and urls["1"])
  assert_before(r.lines, "Thread-0: Starting download from " .. urls["0"], "Thread-0: Download complete. Size: 13265 bytes")
  assert_before(r.lines, "Thread-1: Starting download from " .. urls["1"], "Thread-1: Download complete. Size: 16384 bytes")
  assert_before(r.lines, "Process: Computing factorial of " .. n, "Process: Factorial computation done for " .. n)
  assert.equal("All tasks completed.", r.lines[7])
  -- the two "remote" files were removed again
  for _, url in pairs(urls) do assert.is_nil(io.open((url:gsub("^file://", "")))) end
end

checks.refcount = exact("refcount", {
  "referenced by geek_var and string_gfg:\ttrue",
  "referenced by string_gfg only:\ttrue",
  "no reference left, after a collection:\tfalse"})

-- ---------------------------------------------------------------------------------------------
local function script_names()
  local p = assert(io.popen("ls scripts/*.lua"))
  local names = {}
  for path in p:lines() do names[#names + 1] = path:match("^scripts/(.+)%.lua$") end
  p:close()
  return names
end

describe("seed scripts", function()
  local names = script_names()

  it("are all here (71 scripts, one per seed program)", function()
    assert.equal(71, #names)
  end)

  for _, name in ipairs(names) do
    it(name, function()
      local check = checks[name]
      assert(check, "no check for scripts/" .. name .. ".lua in this spec")
      check()
    end)
  end

  it("have a check each that names a script", function()
    local have = {}
    for _, name in ipairs(names) do have[name] = true end
    for name in pairs(checks) do assert.is_true(have[name], "check without a script: " .. name) end
  end)
end)

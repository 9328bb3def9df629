local strand = require "strand"
local futures = strand.futures

-- Futures double as one-shot events here: a task sets one to say it started,
-- and waits on another to be let go. No sleeps decide an outcome.

-- A fresh function per test: a task function stays encoded (cached for the
-- workers) as long as it lives, which the arena leak check would count.
local function make_factorial()
  return function(n)
    local r = 1
    for k = 2, n do r = r * k end
    return r
  end
end

describe("ThreadPoolExecutor", function()
  it("is in strand.futures and runs a task with its arguments", function()
    assert.equal(strand.ThreadPoolExecutor, futures.ThreadPoolExecutor)
    local ex <close> = strand.ThreadPoolExecutor(2)
    local f = ex:submit(function(a, b, c) return a + b, c, "x" end, 2, 3, nil)
    local s, c, x = f:result(10)
    assert.equal(5, s); assert.is_nil(c); assert.equal("x", x)
  end)

  it("takes options as a table or positionally, and says its size", function()
    local a <close> = strand.ThreadPoolExecutor{max_workers = 3}
    assert.equal(3, a.max_workers)
    local b <close> = strand.ThreadPoolExecutor()
    assert.equal(math.min(32, strand.cpu_count() + 4), b.max_workers)
    assert.truthy(tostring(a):find("ThreadPoolExecutor max_workers=3"))
  end)

  it("checks its options", function()
    assert.has_error(function() strand.ThreadPoolExecutor(0) end)
    assert.has_error(function() strand.ThreadPoolExecutor("four") end)
    assert.has_error(function() strand.ThreadPoolExecutor{initializer = 5} end)
    local ex <close> = strand.ThreadPoolExecutor(1)
    assert.has_error(function() ex:submit(5) end)
    local function err(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
    assert.truthy(err(function() strand.ThreadPoolExecutor{max_worker = 2} end)
      :find("ThreadPoolExecutor: unknown option 'max_worker'", 1, true))
    assert.truthy(err(function() strand.ThreadPoolExecutor{max_workers = "x"} end)
      :find("ThreadPoolExecutor: max_workers must be an integer, got string", 1, true))
    assert.truthy(err(function() strand.ThreadPoolExecutor{thread_name_prefix = 5} end)
      :find("ThreadPoolExecutor: thread_name_prefix must be a string, got number", 1, true))
    assert.truthy(err(function() strand.ProcessPoolExecutor{max_workers = 1, max_tasks_per_child = "x"} end)
      :find("ProcessPoolExecutor: max_tasks_per_child must be an integer, got string", 1, true))
    assert.truthy(err(function() strand.ProcessPoolExecutor(1, 5) end)
      :find("bad argument #2 to 'ProcessPoolExecutor' (function expected, got number)", 1, true))
    assert.truthy(err(function() for _ in ex:map(print, {1}, {timeot = 1}) do end end)
      :find("map: unknown option 'timeot'", 1, true))
    assert.truthy(err(function() for _ in ex:map(print, {1}, {chunksize = "a"}) do end end)
      :find("map: chunksize must be an integer, got string", 1, true))
  end)

  it("computes the factorials of 1..10, gathered with as_completed (seed program)", function()
    local ex <close> = strand.ThreadPoolExecutor(4)
    local factorial = make_factorial()
    local fs, which = {}, {}
    for n = 1, 10 do
      fs[n] = ex:submit(factorial, n)
      which[fs[n]] = n
    end
    local got, count = {}, 0
    for f in futures.as_completed(fs, 30) do
      got[which[f]] = f:result()
      count = count + 1
    end
    assert.equal(10, count)
    for n = 1, 10 do assert.equal(factorial(n), got[n]) end
    assert.equal(3628800, got[10])
  end)

  it("keeps each worker's Lua state across tasks, the function sent once", function()
    local ex <close> = strand.ThreadPoolExecutor(1)
    local count = 0
    local function bump() count = count + 1; return count end
    -- the worker decoded bump once: its upvalue lives on in the worker
    assert.equal(1, ex:submit(bump):result(10))
    assert.equal(2, ex:submit(bump):result(10))
    assert.equal(3, ex:submit(bump):result(10))
    assert.equal(0, count)
    local other = function() _G.worker_global = (_G.worker_global or 0) + 1; return _G.worker_global end
    assert.equal(1, ex:submit(other):result(10))
    assert.equal(2, ex:submit(other):result(10))
    assert.is_nil(_G.worker_global)
  end)

  it("names its threads after thread_name_prefix", function()
    local ex <close> = strand.ThreadPoolExecutor{max_workers = 1, thread_name_prefix = "adder"}
    assert.equal("adder_0", ex:submit(function() return strand.current_thread().name end):result(10))
    local dflt <close> = strand.ThreadPoolExecutor(1)
    local name = dflt:submit(function() return strand.current_thread().name end):result(10)
    assert.truthy(name:match("^ThreadPoolExecutor%-%d+_0$"))
  end)

  it("runs the initializer in each worker first", function()
    local ex <close> = strand.ThreadPoolExecutor{max_workers = 2,
      initializer = function(a, b) _G.init_value = a .. b end, initargs = {"x", "y"}}
    assert.equal("xy", ex:submit(function() return _G.init_value end):result(10))
  end)

  it("breaks when an initializer fails: BrokenThreadPool for pending and new work", function()
    local ex <close> = strand.ThreadPoolExecutor{max_workers = 1,
      initializer = function() error("no init") end}
    local f = ex:submit(function() return 1 end)
    local ok, e = pcall(f.result, f, 10)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "BrokenThreadPool"))
    ok, e = pcall(ex.submit, ex, function() end)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "BrokenThreadPool"))
  end)

  it("re-raises a task's error with the worker's traceback and name", function()
    local ex <close> = strand.ThreadPoolExecutor{max_workers = 1, thread_name_prefix = "w"}
    local function inner() error("deep failure") end
    local f = ex:submit(function() inner() end)
    local ok, e = pcall(f.result, f, 10)
    assert.is_false(ok)
    assert.truthy(e.message:find("deep failure"))
    assert.equal("w_0", e.worker)
    assert.truthy(e.traceback:find("inner"))
    assert.falsy(e.traceback:find("tpe_worker"))
    assert.equal("deep failure", f:exception().message:match("deep failure"))
  end)

  it("refuses work after shutdown, and shutdown waits for what is queued", function()
    local ex = strand.ThreadPoolExecutor(1)
    local gate, started = strand.Future(), strand.Future()
    local first = ex:submit(function(gate, started) started:set_result(true); return gate:result(10) end, gate, started)
    local second = ex:submit(function() return "second" end)
    started:result(10)
    local t = strand.Thread{target = function(gate) gate:set_result("go") end, args = {gate}}
    t:start()
    ex:shutdown() -- wait=true: both queued tasks complete
    assert.equal("go", first:result(0)); assert.equal("second", second:result(0))
    local ok, e = pcall(ex.submit, ex, function() end)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "RuntimeError"))
    t:join(10)
  end)

  it("cancels pending futures with shutdown{cancel_futures=true}", function()
    local ex = strand.ThreadPoolExecutor(1)
    local gate, started = strand.Future(), strand.Future()
    local first = ex:submit(function(gate, started) started:set_result(true); return gate:result(10) end, gate, started)
    local queued = {}
    for i = 1, 5 do queued[i] = ex:submit(function() return i end) end
    started:result(10)
    ex:shutdown{wait = false, cancel_futures = true}
    for i = 1, 5 do assert.is_true(queued[i]:cancelled()) end
    gate:set_result("done")
    assert.equal("done", first:result(10))
    ex:shutdown(true)
  end)

  it("cancels a pending future; the worker skips it", function()
    local ex <close> = strand.ThreadPoolExecutor(1)
    local gate, started = strand.Future(), strand.Future()
    local busy = ex:submit(function(gate, started) started:set_result(true); return gate:result(10) end, gate, started)
    local ran = strand.Future()
    local pending = ex:submit(function(ran) ran:set_result(true) end, ran)
    started:result(10)
    assert.is_true(pending:cancel())
    gate:set_result(1)
    assert.equal(1, busy:result(10))
    local ok, e = pcall(pending.result, pending)
    assert.is_true(strand.is_error(e, "Cancelled"))
    assert.equal(7, ex:submit(function() return 7 end):result(10))
    assert.is_false(ran:done())
  end)

  it("stops a running task on cancel; the worker survives for the next task", function()
    local ex <close> = strand.ThreadPoolExecutor(1)
    local started = strand.Future()
    local spinning = ex:submit(function(started)
      started:set_result(true)
      local n = 0
      while true do n = n + 1 end -- never waits: the cancel reaches it at an instruction check
    end, started)
    started:result(10)
    assert.is_true(spinning:running())
    assert.is_true(spinning:cancel())
    assert.is_true(spinning:cancelled())
    local ok, e = pcall(spinning.result, spinning, 10)
    assert.is_true(strand.is_error(e, "Cancelled"))
    assert.equal("alive", ex:submit(function() return "alive" end):result(10))
    -- a task blocked in a strand wait is stopped too
    local started2, never = strand.Future(), strand.Future()
    local blocked = ex:submit(function(s, n) s:set_result(true); return n:result() end, started2, never)
    started2:result(10)
    assert.is_true(blocked:cancel())
    assert.equal(9, ex:submit(function() return 9 end):result(10))
  end)

  it("does not cancel a finished future", function()
    local ex <close> = strand.ThreadPoolExecutor(1)
    local f = ex:submit(function() return 1 end)
    f:result(10)
    assert.is_false(f:cancel())
  end)

  it("runs done callbacks in the submitting state when it next calls in", function()
    local ex <close> = strand.ThreadPoolExecutor(2)
    local got = {}
    local f = ex:submit(function() return 5 end)
    f:add_done_callback(function(fut) got[#got + 1] = fut:result() * 2 end)
    f:result(10)
    assert.same({10}, got)
  end)

  it("maps in order with (index, value) pairs, over several lists", function()
    local ex <close> = strand.ThreadPoolExecutor(3)
    local out = {}
    for i, v in ex:map(function(x) return x * x end, {1, 2, 3, 4, 5}) do out[i] = v end
    assert.same({1, 4, 9, 16, 25}, out)
    local sums = {}
    for i, v in ex:map(function(a, b) return a + b end, {1, 2, 3}, {10, 20}) do sums[i] = v end
    assert.same({11, 22}, sums)
    local n = 0
    for _ in ex:map(function(x) return x end, {}) do n = n + 1 end
    assert.equal(0, n)
    -- an empty last list is a list, not options: zipped, nothing comes out
    for _ in ex:map(function(x) return x end, {1, 2}, {}) do n = n + 1 end
    assert.equal(0, n)
    local nils = {}
    for i, v in ex:map(function() return nil end, {1, 2}) do nils[#nils + 1] = i end
    assert.same({1, 2}, nils)
  end)

  it("raises a task's error from map when that item is reached", function()
    local ex <close> = strand.ThreadPoolExecutor(2)
    local got = {}
    local ok, e = pcall(function()
      for i, v in ex:map(function(x) if x == 3 then error("three!") end return x end, {1, 2, 3, 4}) do
        got[i] = v
      end
    end)
    assert.is_false(ok)
    assert.truthy(e.message:find("three!"))
    assert.same({1, 2}, got)
  end)

  it("honours a map timeout", function()
    local ex <close> = strand.ThreadPoolExecutor(1)
    local gate = strand.Future()
    local ok, e = pcall(function()
      for _ in ex:map(function(g) return g:result(10) end, {gate}, {timeout = 0.05}) do end
    end)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "Timeout"))
    gate:set_result(1)
  end)

  it("cancels what is left of a map when the loop is left", function()
    local ex <close> = strand.ThreadPoolExecutor(1)
    local gate = strand.Future()
    local ran = strand.Future()
    local items = {gate}
    for i = 2, 20 do items[i] = ran end
    local t = strand.Thread{target = function(g) g:set_result("go") end, args = {gate}}
    t:start()
    for i, v in ex:map(function(x)
      if x == gate then return x:result(10) end
      if not x:done() then x:set_result(true) end
      return "late"
    end, items) do
      assert.equal(1, i); assert.equal("go", v)
      break
    end
    ex:shutdown()
    t:join(10)
  end)

  it("runs 10,000 tasks and loses none", function()
    local ex <close> = strand.ThreadPoolExecutor(4)
    local fs = {}
    for i = 1, 10000 do fs[i] = ex:submit(function(x) return x * 2 end, i) end
    local sum = 0
    for i = 1, 10000 do sum = sum + fs[i]:result(30) end
    assert.equal(10000 * 10001, sum)
  end)

  it("carries tables, functions and handles both ways", function()
    local ex <close> = strand.ThreadPoolExecutor(1)
    local f = ex:submit(function(t, g, fut) return {n = #t, r = g(t[2])}, fut end,
      {1, 2, 3}, function(x) return x * 100 end, strand.Future())
    local res, fut = f:result(10)
    assert.same({n = 3, r = 200}, res)
    assert.is_false(fut:done())
  end)

  it("refuses what it cannot send, naming it", function()
    local ex <close> = strand.ThreadPoolExecutor(1)
    local ok, e = pcall(ex.submit, ex, function() end, 1, coroutine.create(print))
    assert.is_false(ok); assert.truthy(tostring(e):find("args[2]: cannot send a coroutine", 1, true))
    local f = ex:submit(function() return coroutine.create(print) end)
    ok, e = pcall(f.result, f, 10)
    assert.is_false(ok); assert.truthy(tostring(e):find("cannot send a coroutine"))
  end)
end)

describe("ProcessPoolExecutor", function()
  it("is in strand.futures and runs tasks in other processes", function()
    assert.equal(strand.ProcessPoolExecutor, futures.ProcessPoolExecutor)
    local ex <close> = strand.ProcessPoolExecutor(2)
    local pid = ex:submit(strand.getpid):result(30)
    assert.is_number(pid); assert.are_not.equal(strand.getpid(), pid)
    assert.equal(42, ex:submit(function(a, b) return a * b end, 6, 7):result(30))
  end)

  it("forks at the first submit: globals defined after the executor are there", function()
    local ex <close> = strand.ProcessPoolExecutor(1)
    _G.defined_late = function(x) return x + 1 end
    assert.equal(2, ex:submit(function(x) return defined_late(x) end, 1):result(30))
    _G.defined_late = nil
  end)

  it("computes the factorials of 1..10 with as_completed", function()
    local ex <close> = strand.ProcessPoolExecutor(2)
    local factorial = make_factorial()
    local fs, which = {}, {}
    for n = 1, 10 do fs[n] = ex:submit(factorial, n); which[fs[n]] = n end
    local got = {}
    for f in futures.as_completed(fs, 30) do got[which[f]] = f:result() end
    for n = 1, 10 do assert.equal(factorial(n), got[n]) end
  end)

  it("maps with a chunksize, in order", function()
    local ex <close> = strand.ProcessPoolExecutor(2)
    local items = {}
    for i = 1, 1000 do items[i] = i end
    local out = {}
    for i, v in ex:map(function(x) return -x end, items, {chunksize = 64}) do out[i] = v end
    assert.equal(1000, #out); assert.equal(-1000, out[1000]); assert.equal(-1, out[1])
    local sums = {}
    for i, v in ex:map(function(a, b) return a .. b end, {"a", "b"}, {"x", "y"}, {chunksize = 2}) do
      sums[i] = v
    end
    assert.same({"ax", "by"}, sums)
  end)

  it("runs the initializer in each worker", function()
    local ex <close> = strand.ProcessPoolExecutor{max_workers = 1,
      initializer = function(v) _G.from_init = v end, initargs = {"ready"}}
    assert.equal("ready", ex:submit(function() return _G.from_init end):result(30))
  end)

  it("gives its engine back after shutdown", function()
    local function blocks() collectgarbage(); collectgarbage(); return strand.arena_stats().blocks end
    do local ex = strand.ProcessPoolExecutor(1); ex:submit(print, 1):result(); ex:shutdown() end
    local before = blocks()
    for _ = 1, 5 do
      local ex = strand.ProcessPoolExecutor(2)
      assert.equal(3, ex:submit(function(a, b) return a + b end, 1, 2):result(30))
      ex:shutdown()
    end
    assert.equal(before, blocks())
  end)

  it("replaces workers after max_tasks_per_child tasks", function()
    local ex <close> = strand.ProcessPoolExecutor{max_workers = 1, max_tasks_per_child = 1}
    local a = ex:submit(strand.getpid):result(30)
    local b = ex:submit(strand.getpid):result(30)
    assert.are_not.equal(a, b)
  end)

  it("fails only the task of a worker that is killed, and goes on", function()
    local ex <close> = strand.ProcessPoolExecutor(1)
    local f = ex:submit(function() os.execute("kill -9 " .. strand.getpid()) end)
    local ok, e = pcall(f.result, f, 30)
    assert.is_false(ok)
    assert.is_true(strand.is_error(e, "ProcessDied"))
    assert.truthy(e.message:find("signal 9"))
    assert.equal(-9, e.exitcode)
    assert.equal(5, ex:submit(function() return 5 end):result(30))
  end)

  it("stops a running task on cancel", function()
    local ex <close> = strand.ProcessPoolExecutor(1)
    local started = strand.Future()
    local f = ex:submit(function(s) s:set_result(true); while true do end end, started)
    started:result(30)
    assert.is_true(f:cancel())
    assert.equal("next", ex:submit(function() return "next" end):result(30))
  end)

  it("re-raises errors with the worker's traceback", function()
    local ex <close> = strand.ProcessPoolExecutor(1)
    local f = ex:submit(function() error("in a process") end)
    local ok, e = pcall(f.result, f, 30)
    assert.is_false(ok)
    assert.truthy(e.message:find("in a process"))
    assert.truthy(e.worker:match("^ForkProcess%-%d+$"))
    assert.truthy(e.traceback:find("stack traceback"))
  end)

  it("runs 10,000 tasks and loses none", function()
    local ex <close> = strand.ProcessPoolExecutor(2)
    local fs = {}
    for i = 1, 10000 do fs[i] = ex:submit(function(x) return x end, i) end
    local sum = 0
    for i = 1, 10000 do sum = sum + fs[i]:result(30) end
    assert.equal(10000 * 10001 // 2, sum)
  end)

  it("refuses work after shutdown", function()
    local ex = strand.ProcessPoolExecutor(1)
    assert.equal(1, ex:submit(function() return 1 end):result(30))
    ex:shutdown()
    assert.has_error(function() ex:submit(function() end) end)
  end)
end)

describe("futures of both executors", function()
  it("mix in one wait and one as_completed", function()
    local te <close> = strand.ThreadPoolExecutor(2)
    local pe <close> = strand.ProcessPoolExecutor(2)
    local fs = {}
    for i = 1, 4 do
      fs[#fs + 1] = te:submit(function(x) return x end, i)
      fs[#fs + 1] = pe:submit(function(x) return x end, 10 * i)
    end
    local done, not_done = futures.wait(fs, 30)
    assert.equal(8, #done); assert.equal(0, #not_done)
    local sum = 0
    for f in futures.as_completed(fs, 30) do sum = sum + f:result() end
    assert.equal(110, sum)
  end)
end)

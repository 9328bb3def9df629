local strand = require "strand"
local threading = strand.threading

-- busted keeps a spec file's globals in its own environment (an __index
-- function strand cannot list), so this one goes to _G, as a script's would.
_G.spec_global_double = function(x) return x * 2 end

describe("Thread", function()
  it("runs a target with args and keeps its results", function()
    local t = strand.Thread{target = function(a, b) return a + b, "done" end, args = {2, 3}}
    assert.is_false(t:is_alive())
    t:start()
    assert.is_true(t:join(10))
    assert.is_false(t:is_alive())
    local s, d = t:result()
    assert.equal(5, s); assert.equal("done", d)
  end)

  it("is reachable as strand.threading.Thread", function()
    assert.equal(strand.Thread, threading.Thread)
  end)

  it("copies the script's globals into the worker", function()
    local t = strand.Thread{target = function(x) return spec_global_double(x) end, args = {21}}
    t:start(); t:join(10)
    assert.equal(42, t:result())
  end)

  it("gives a worker the whole strand module, however it is first touched", function()
    local function functions(m) -- names of its functions (views are tables)
      local n = {}
      for k, v in pairs(m) do if type(v) == "function" then n[#n + 1] = k end end
      table.sort(n)
      return table.concat(n, " ")
    end
    local s = strand -- the upvalue travels by name: the worker's own module
    local t = strand.Thread{target = function()
      local first = functions(s) -- pairs before any lookup
      local sleep = s.sleep
      -- a C function of strand travels by name, from a worker too
      local back = s.decode(s.encode(function() return sleep end))()
      return first, back == sleep, s.threading.Thread == s.Thread
    end}
    t:start(); assert.is_true(t:join(10))
    local first, same_sleep, views = t:result()
    assert.equal(functions(strand), first)
    assert.is_true(same_sleep)
    assert.is_true(views)
  end)

  it("names threads like Python", function()
    local function worker() end
    local t = strand.Thread{target = worker}
    assert.truthy(t.name:match("^Thread%-%d+ %(worker%)$"))
    local u = strand.Thread{target = worker, name = "adder"}
    assert.equal("adder", u.name)
    u.name = "renamed"; assert.equal("renamed", u.name)
  end)

  it("refuses a second start and a join before start", function()
    local t = strand.Thread{target = function() end}
    assert.has_error(function() t:join() end, "cannot join thread before it is started")
    t:start()
    assert.has_error(function() t:start() end, "threads can only be started once")
    t:join(10)
  end)

  it("checks its options", function()
    assert.has_error(function() strand.Thread{target = 5} end)
    assert.has_error(function() strand.Thread{args = 5} end)
    assert.has_error(function() strand.Thread(5) end)
    -- a misspelt option is an error, as an unknown keyword argument in Python
    local ok, e = pcall(strand.Thread, {targt = print})
    assert.is_false(ok)
    assert.truthy(tostring(e):find("Thread: unknown option 'targt'", 1, true), tostring(e))
    ok, e = pcall(strand.Process, {target = print, demon = true})
    assert.is_false(ok)
    assert.truthy(tostring(e):find("Process: unknown option 'demon'", 1, true), tostring(e))
  end)

  it("refuses a target it cannot send, naming it", function()
    local co = coroutine.create(print)
    local t = strand.Thread{target = function() return co end}
    local ok, err = pcall(t.start, t)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("cannot send a coroutine"))
  end)

  it("keeps the error of a failed thread and reports it", function()
    local seen
    local old = threading.excepthook
    threading.excepthook = function(args) end -- silence the report
    local t = strand.Thread{target = function() error("boom", 0) end, name = "failer"}
    t:start(); t:join(10)
    threading.excepthook = old
    assert.is_true(strand.is_error(t.error))
    assert.equal("boom", t.error.message)
    assert.equal("failer", t.error.worker)
    assert.truthy(t.error.traceback:find("stack traceback"))
    local ok, err = pcall(t.result, t)
    assert.is_false(ok); assert.equal("boom", err.message)
  end)

  it("join with a timeout returns false while running", function()
    -- running until let go, however late the join comes
    local go = strand.Event()
    local t = strand.Thread{target = function(ev) ev:wait(20) end, args = {go}}
    t:start()
    assert.is_false(t:join(0.01))
    go:set()
    assert.is_true(t:join(10))
  end)

  it("cancel stops a busy thread and runs its close handlers", function()
    -- the cancel must land inside the pcall: the thread says when it is there
    local inside = strand.Event()
    local t = strand.Thread{target = function(ev)
      local closed = false
      local ok, err = pcall(function()
        local _ <close> = setmetatable({}, {__close = function() closed = true end})
        ev:set()
        while true do end
      end)
      return closed, err.kind
    end, args = {inside}}
    t:start()
    assert.is_true(inside:wait(10))
    assert.is_false(t:join(0.05))
    assert.is_true(t:cancel())
    assert.is_true(t:join(10))
    local closed, kind = t:result()
    assert.is_true(closed); assert.equal("Cancelled", kind)
  end)

  it("cancel stops a busy loop inside a coroutine (resume and wrap), nested too", function()
    for _, how in ipairs{"resume", "wrap", "nested"} do
      local inside = strand.Event()
      local t = strand.Thread{target = function(ev, how)
        local function spin() ev:set(); while true do end end
        if how == "resume" then
          local ok, err = coroutine.resume(coroutine.create(spin))
          return ok, err.kind -- the coroutine died of the cancel: resume says so
        elseif how == "wrap" then
          coroutine.wrap(spin)()
        else
          coroutine.wrap(function() coroutine.yield(1) end)() -- a finished switch first
          coroutine.wrap(function() coroutine.wrap(spin)() end)()
        end
      end, args = {inside, how}}
      t:start()
      assert.is_true(inside:wait(10))
      assert.is_true(t:cancel())
      assert.is_true(t:join(10), how)
      if how == "resume" then
        local ok, kind = t:result()
        assert.is_false(ok); assert.equal("Cancelled", kind)
      else
        assert.equal("Cancelled", t.error.kind)
      end
    end
    -- and coroutines behave as Lua's own
    local co = coroutine.create(function(a, b) local c = coroutine.yield(a + b); error("x" .. c, 0) end)
    assert.same({true, 3}, {coroutine.resume(co, 1, 2)})
    assert.same({false, "x5"}, {coroutine.resume(co, 5)})
    assert.same({false, "cannot resume dead coroutine"}, {coroutine.resume(co)})
    local ok, e = pcall(coroutine.wrap(function() error("boom") end))
    assert.is_false(ok); assert.truthy(e:find("boom"))
    local g = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
    assert.same({1, 2, 3}, {g(), g(), g()})
  end)

  it("cancel wakes a thread blocked in sleep", function()
    local t = strand.Thread{target = function() strand.sleep(1000) end}
    t:start()
    t:cancel()
    assert.is_true(t:join(10))
    assert.equal("Cancelled", t.error.kind)
  end)

  it("runs many threads in parallel", function()
    local ts = {}
    for i = 1, 8 do
      ts[i] = strand.Thread{target = function(n) local s = 0 for k = 1, n do s = s + k end return s end, args = {100000 + i}}
      ts[i]:start()
    end
    for i = 1, 8 do
      assert.is_true(ts[i]:join(30))
      local n = 100000 + i
      assert.equal(n * (n + 1) // 2, ts[i]:result())
    end
  end)

  it("with neither target nor run does nothing, as Python's", function()
    local t = strand.Thread{}
    t:start()
    assert.is_true(t:join(10))
    assert.is_nil(t.error)
    assert.equal(0, select("#", t:result()))
  end)

  it("supports a run method, as Python's subclassing", function()
    local t = strand.Thread{run = function(self) return "ran in " .. self.name end, name = "sub"}
    t:start(); t:join(10)
    assert.equal("ran in sub", t:result())
  end)

  it("knows current, main, enumerate and idents", function()
    assert.equal("MainThread", threading.current_thread().name)
    assert.equal(threading.main_thread(), threading.current_thread())
    local t = strand.Thread{target = function()
      return strand.threading.current_thread().name, strand.threading.get_native_id()
    end, name = "me"}
    t:start(); t:join(10)
    local name, nid = t:result()
    assert.equal("me", name)
    assert.equal(t.native_id, nid)
    assert.is_number(t.ident)
    assert.is_true(threading.active_count() >= 1)
    assert.equal("MainThread", threading.enumerate()[1].name)
  end)

  it("no longer lists a thread once join has returned, as Python", function()
    for _ = 1, 50 do
      local t = strand.Thread{target = function() end}
      t:start(); assert.is_true(t:join(10))
      for _, u in ipairs(threading.enumerate()) do assert.are_not.equal(t, u) end
    end
  end)

  it("daemon flag inherits and is fixed after start", function()
    local t = strand.Thread{target = function() end, daemon = true}
    assert.is_true(t.daemon)
    t:start(); t:join(10)
    assert.has_error(function() t.daemon = false end)
  end)

  it("Timer calls later, and can be cancelled", function()
    local t = threading.Timer(0.01, function(x) return x + 1 end, {1})
    t:start(); t:join(10)
    assert.equal(2, t:result())
    local u = threading.Timer(100, function() end)
    u:start(); u:cancel()
    assert.is_true(u:join(10))
  end)

  it("a thread handle crosses into another thread", function()
    local inner = strand.Thread{target = function() return 7 end}
    inner:start()
    local outer = strand.Thread{target = function(t) t:join(); return t:result() end, args = {inner}}
    outer:start(); outer:join(10)
    assert.equal(7, outer:result())
  end)
end)

describe("strand basics", function()
  it("runs on Lua 5.4", function()
    assert.equal("Lua 5.4", _VERSION)
  end)
  it("has clocks, sleep and cpu_count", function()
    local t0 = strand.monotonic()
    strand.sleep(0.02)
    assert.is_true(strand.monotonic() - t0 >= 0.015)
    assert.is_true(math.abs(strand.time() - os.time()) < 5)
    assert.is_true(strand.cpu_count() >= 1)
    assert.has_error(function() strand.sleep(-1) end)
    assert.has_error(function() strand.sleep("x") end)
  end)
end)

describe("Thread join and the deadlock detector", function()
  it("reports a join that waits for a thread blocked on a lock the joiner holds", function()
    local lock = strand.Lock()
    local started = strand.Event()
    lock:acquire()
    local t = strand.Thread{target = function()
      started:set()
      lock:acquire()   -- no timeout: waits for main
      lock:release()
      return "got it"
    end, name = "blocked-worker"}
    t:start()
    assert.is_true(started:wait(10))
    -- whichever side closes the cycle is told: the joiner here, or the
    -- worker's acquire if main was already waiting in join
    local old = strand.threading.excepthook
    strand.threading.excepthook = function() end
    local ok, err = pcall(t.join, t)
    strand.threading.excepthook = old
    if ok then
      assert.equal("Deadlock", t.error.kind)
      lock:release()
    else
      assert.is_true(strand.is_error(err, "Deadlock"))
      assert.truthy(tostring(err):find("blocked%-worker"))
      lock:release()
      assert.is_true(t:join(10))
      assert.equal("got it", t:result())
    end
  end)
end)

-- Lock, RLock, Semaphore, BoundedSemaphore, Event, Condition, Barrier:
-- every method, error path and timeout, between threads, interrupted by
-- cancel and Ctrl-C, deadlock detection. (Across processes: spec/c/test_sync.c
-- forks from C; the Process-based cases are at the end when strand.Process
-- exists.)
local strand = require "strand"
local BIN = os.getenv("STRAND_BIN") or "build/strand"

-- Start a thread running f(...); join() it later.
local function spawn(f, ...)
  local t = strand.Thread{target = f, args = {...}}
  t:start()
  return t
end

-- Join t (bounded), return its results, or raise its error.
local function finish(t)
  assert(t:join(30), "thread did not end")
  return t:result()
end

-- The error a thread ended with (bounded join).
local function failure(t)
  assert(t:join(30), "thread did not end")
  return t.error
end

local function raises(kind, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error of kind " .. kind)
  assert.is_true(strand.is_error(err, kind), "expected " .. kind .. ", got " .. tostring(err))
  return err
end

describe("strand.Lock", function()
  it("acquires, releases and tells whether it is locked", function()
    local l = strand.Lock()
    assert.is_false(l:locked())
    assert.is_true(l:acquire())
    assert.is_true(l:locked())
    assert.equal(0, select("#", l:release()))
    assert.equal(1, select("#", l:acquire())) -- no second value unless an owner died
    l:release()
    assert.is_false(l:locked())
  end)

  it("is the same constructor in strand.threading and strand.multiprocessing", function()
    for _, name in ipairs{"Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event", "Condition", "Barrier"} do
      assert.is_function(strand[name], name)
      assert.equal(strand[name], strand.threading[name], name)
      assert.equal(strand[name], strand.multiprocessing[name], name)
    end
  end)

  it("acquire(false) and acquire(true, timeout) give up on a held lock", function()
    local l = strand.Lock()
    l:acquire()
    assert.is_false(l:acquire(false))
    local t0 = strand.monotonic()
    assert.is_false(l:acquire(true, 0.05))
    assert.is_true(strand.monotonic() - t0 >= 0.04)
    assert.is_false(l:acquire(nil, 0))
    l:release()
    assert.is_true(l:acquire(false))
    l:release()
    assert.is_true(l:acquire(true, -1)) -- -1 is Python's "forever"
    l:release()
  end)

  it("refuses to release an unlocked lock", function()
    local l = strand.Lock()
    local err = raises("RuntimeError", l.release, l)
    assert.truthy(err.message:find("release unlocked lock"))
    l:acquire(); l:release()
    raises("RuntimeError", l.release, l)
  end)

  it("checks its arguments", function()
    local l = strand.Lock()
    assert.has_error(function() l:acquire(false, 1) end)
    assert.has_error(function() l:acquire(true, -5) end)
    assert.has_error(function() l:acquire(true, "soon") end)
    assert.has_error(function() l.acquire(42) end)
    assert.has_error(function() l.release(strand.RLock()) end)
    assert.has_error(function() l.anything = 1 end)
    assert.is_false(l:locked())
  end)

  it("may be released by another thread, as Python's", function()
    local l = strand.Lock()
    l:acquire()
    finish(spawn(function(lock) lock:release() end, l))
    assert.is_false(l:locked())
  end)

  it("prints its state", function()
    local l = strand.Lock()
    assert.truthy(tostring(l):find("^<strand.Lock unlocked"))
    l:acquire()
    assert.truthy(tostring(l):find("^<strand.Lock locked"))
    l:release()
  end)

  it("hands a waiting thread the lock when released", function()
    local l, started = strand.Lock(), strand.Event()
    l:acquire()
    local t = spawn(function(lock, ev)
      ev:set()
      local got = lock:acquire(true, 20)
      lock:release()
      return got
    end, l, started)
    assert.is_true(started:wait(10))
    l:release()
    assert.is_true(finish(t))
    assert.is_false(l:locked())
  end)

  it("4 threads x 100,000 locked increments of a shared counter = 400,000", function()
    local l = strand.Lock()
    local counter = strand.Value("q", 0, {lock = false}) -- no lock of its own: ours does the work
    local function work(lock, c, n)
      for _ = 1, n do
        lock:acquire()
        c.value = c.value + 1 -- a read and a write apart: a lost update would show
        lock:release()
      end
    end
    local ts = {}
    for i = 1, 4 do ts[i] = spawn(work, l, counter, 100000) end
    for i = 1, 4 do finish(ts[i]) end
    assert.equal(400000, counter.value)
    assert.is_false(l:locked())
  end)

  it("4 threads x 25,000 RLock-guarded double increments stay exact", function()
    local r = strand.RLock()
    local counter = strand.Value("q", 0, {lock = false})
    local function work(lock, c, n)
      for _ = 1, n do
        local _ <close> = lock:hold()
        c.value = c.value + 1
        lock:with(function() c.value = c.value + 1 end) -- re-entered
      end
    end
    local ts = {}
    for i = 1, 4 do ts[i] = spawn(work, r, counter, 25000) end
    for i = 1, 4 do finish(ts[i]) end
    assert.equal(200000, counter.value)
  end)
end)

describe("hold() and with()", function()
  it("hold() gives a to-be-closed guard that releases at scope exit", function()
    local l = strand.Lock()
    do
      local _ <close> = l:hold()
      assert.is_true(l:locked())
    end
    assert.is_false(l:locked())
  end)

  it("the guard releases when an error leaves the scope, and the error goes through", function()
    local l = strand.RLock()
    local ok, err = pcall(function()
      local _ <close> = l:hold()
      local _ <close> = l:hold()
      error("inside", 0)
    end)
    assert.is_false(ok); assert.equal("inside", err)
    assert.is_false(l:locked())
  end)

  it("a guard can be released early, once", function()
    local l = strand.Lock()
    local g <close> = l:hold()
    g:release()
    assert.is_false(l:locked())
    assert.has_error(function() g:release() end, "guard already released")
  end)

  it("hold with a timeout raises Timeout when the lock stays busy", function()
    local l = strand.Lock()
    l:acquire()
    raises("Timeout", l.hold, l, true, 0.02)
    raises("Timeout", l.hold, l, false)
    l:release()
  end)

  it("a guard whose lock was released by hand makes __close complain", function()
    local l = strand.Lock()
    local ok, err = pcall(function()
      local _ <close> = l:hold()
      l:release()
    end)
    assert.is_false(ok)
    assert.is_true(strand.is_error(err, "RuntimeError"))
  end)

  it("with(f, ...) returns f's results and releases, also on error", function()
    local l = strand.Lock()
    local a, b = l:with(function(x, y)
      assert.is_true(l:locked())
      return x + y, "ok"
    end, 2, 3)
    assert.equal(5, a); assert.equal("ok", b)
    assert.is_false(l:locked())
    local ok, err = pcall(l.with, l, function() error({code = 7}) end)
    assert.is_false(ok); assert.equal(7, err.code)
    assert.is_false(l:locked())
    assert.has_error(function() l:with() end)
  end)

  it("works for RLock, Semaphore and Condition", function()
    local r, s, c = strand.RLock(), strand.Semaphore(2), strand.Condition()
    do
      local _ <close> = r:hold()
      local _ <close> = s:hold()
      local _ <close> = c:hold()
      assert.is_true(r:locked()); assert.equal(1, s:get_value()); assert.is_true(c:locked())
    end
    assert.is_false(r:locked()); assert.equal(2, s:get_value()); assert.is_false(c:locked())
    assert.equal(6, r:with(function() return s:with(function() return c:with(function() return 6 end) end) end))
    assert.equal(2, s:get_value())
  end)
end)

describe("strand.RLock", function()
  it("lets its owner acquire it again, and needs one release per acquire", function()
    local r = strand.RLock()
    assert.is_true(r:acquire()); assert.is_true(r:acquire()); assert.is_true(r:acquire(false))
    assert.is_true(r:is_owned())
    r:release(); r:release()
    assert.is_true(r:locked())
    r:release()
    assert.is_false(r:locked()); assert.is_false(r:is_owned())
    raises("RuntimeError", r.release, r)
  end)

  it("cannot be released by a thread that does not own it", function()
    local r = strand.RLock()
    r:acquire()
    local kind, msg = finish(spawn(function(lock)
      local ok, err = pcall(lock.release, lock)
      return (not ok) and err.kind, err and err.message
    end, r))
    assert.equal("RuntimeError", kind)
    assert.truthy(msg:find("un%-acquired"))
    assert.is_true(r:locked())
    r:release()
  end)

  it("keeps another thread out until fully released", function()
    local r = strand.RLock()
    r:acquire(); r:acquire()
    local t = spawn(function(lock) return lock:acquire(false) end, r)
    assert.is_false(finish(t))
    r:release(); r:release()
    t = spawn(function(lock) local got = lock:acquire(false); if got then lock:release() end return got end, r)
    assert.is_true(finish(t))
  end)

  it("prints its owner and depth", function()
    local r = strand.RLock()
    r:acquire(); r:acquire()
    assert.truthy(tostring(r):find("depth 2"))
    r:release(); r:release()
    assert.truthy(tostring(r):find("unlocked"))
  end)
end)

describe("strand.Semaphore", function()
  it("counts down from its value (default 1) and up with release(n)", function()
    assert.equal(1, strand.Semaphore():get_value())
    local s = strand.Semaphore(3)
    assert.is_true(s:acquire()); assert.is_true(s:acquire()); assert.is_true(s:acquire())
    assert.is_false(s:acquire(false))
    assert.is_false(s:acquire(true, 0.02))
    s:release(2)
    assert.equal(2, s:get_value())
    s:release()
    assert.equal(3, s:get_value())
    assert.equal(5, strand.Semaphore{value = 5}:get_value())
    assert.truthy(tostring(s):find("^<strand.Semaphore value=3"))
  end)

  it("checks its arguments", function()
    assert.has_error(function() strand.Semaphore(-1) end)
    assert.has_error(function() strand.Semaphore("x") end)
    local s = strand.Semaphore(0)
    assert.has_error(function() s:release(0) end)
    assert.has_error(function() s:acquire(false, 3) end)
    assert.equal(0, s:get_value())
  end)

  it("BoundedSemaphore refuses to go past its initial value", function()
    local b = strand.BoundedSemaphore(2)
    local err = raises("ValueError", b.release, b)
    assert.truthy(err.message:find("released too many times"))
    b:acquire()
    raises("ValueError", b.release, b, 2)
    assert.equal(1, b:get_value())
    b:release()
    assert.equal(2, b:get_value())
    assert.truthy(tostring(b):find("^<strand.BoundedSemaphore"))
  end)

  it("wakes a waiting thread on release", function()
    local s, started = strand.Semaphore(0), strand.Event()
    local t = spawn(function(sem, ev) ev:set(); return sem:acquire(true, 20) end, s, started)
    assert.is_true(started:wait(10))
    s:release()
    assert.is_true(finish(t))
    assert.equal(0, s:get_value())
  end)

  it("passes exactly as many acquires as releases between threads", function()
    local s, done = strand.Semaphore(0), strand.Event()
    -- a taker stops once the releases are over and the count is 0 (not
    -- after 0.5 s without a release: a main thread paused that long
    -- under load ended every taker early)
    local function taker(sem, fin)
      local n, deadline = 0, strand.monotonic() + 60
      while strand.monotonic() < deadline do
        if sem:acquire(true, 0.05) then
          n = n + 1
        elseif fin:is_set() then -- no release after this: drain and stop
          while sem:acquire(false) do n = n + 1 end
          return n
        end
      end
      return n
    end
    local ts = {}
    for i = 1, 3 do ts[i] = spawn(taker, s, done) end
    for _ = 1, 3000 do s:release() end
    done:set()
    local total = 0
    for i = 1, 3 do total = total + finish(ts[i]) end
    assert.equal(3000, total)
    assert.equal(0, s:get_value())
  end)
end)

describe("strand.Event", function()
  it("sets, clears and tells", function()
    local e = strand.Event()
    assert.is_false(e:is_set())
    e:set(); e:set()
    assert.is_true(e:is_set())
    assert.is_true(e:wait())
    assert.is_true(e:wait(0))
    e:clear()
    assert.is_false(e:is_set())
    assert.truthy(tostring(e):find("^<strand.Event unset"))
  end)

  it("wait(timeout) returns false when nothing sets it", function()
    local e = strand.Event()
    local t0 = strand.monotonic()
    assert.is_false(e:wait(0.05))
    assert.is_true(strand.monotonic() - t0 >= 0.04)
    assert.is_false(e:wait(0))
    assert.is_false(e:wait(-1))
    assert.has_error(function() e:wait("x") end)
  end)

  it("releases every waiting thread when set", function()
    local e, ready = strand.Event(), strand.Semaphore(0)
    local ts = {}
    for i = 1, 3 do ts[i] = spawn(function(ev, r) r:release(); return ev:wait(20) end, e, ready) end
    for _ = 1, 3 do assert.is_true(ready:acquire(true, 10)) end
    e:set()
    for i = 1, 3 do assert.is_true(finish(ts[i])) end
  end)

  it("ping-pongs between two threads", function()
    local ping, pong = strand.Event(), strand.Event()
    local t = spawn(function(a, b, n)
      for _ = 1, n do
        if not a:wait(10) then return false end
        a:clear(); b:set()
      end
      return true
    end, ping, pong, 2000)
    for _ = 1, 2000 do
      ping:set()
      assert.is_true(pong:wait(10))
      pong:clear()
    end
    assert.is_true(finish(t))
  end)
end)

describe("strand.Condition", function()
  it("makes an RLock by default, or uses the Lock or RLock it is given", function()
    local c = strand.Condition()
    assert.truthy(tostring(c.lock):find("RLock"))
    local l = strand.Lock()
    local c2 = strand.Condition(l)
    assert.equal(l, c2.lock)
    c2:acquire()
    assert.is_true(l:locked())
    c2:release()
    assert.equal(l, strand.Condition{lock = l}.lock)
    assert.has_error(function() strand.Condition(strand.Event()) end)
    assert.has_error(function() strand.Condition(5) end)
  end)

  it("refuses wait, wait_for and notify without its lock", function()
    local c = strand.Condition()
    raises("RuntimeError", c.wait, c, 0.01)
    raises("RuntimeError", c.wait_for, c, function() return false end, 0.01)
    raises("RuntimeError", c.notify, c)
    raises("RuntimeError", c.notify_all, c)
    raises("RuntimeError", c.release, c)
  end)

  it("wait(timeout) returns false holding the lock again, at its depth", function()
    local c = strand.Condition()
    c:acquire(); c:acquire()
    assert.is_false(c:wait(0.02))
    assert.is_true(c.lock:is_owned())
    c:release()
    assert.is_true(c.lock:is_owned())
    c:release()
    assert.is_false(c:locked())
  end)

  local function waiters(c, n)
    local arrived = strand.Semaphore(0)
    local ts = {}
    for i = 1, n do
      ts[i] = spawn(function(cond, arr)
        local _ <close> = cond:hold()
        arr:release() -- while holding: the main thread gets the lock only once this one waits
        return cond:wait(2), cond:locked()
      end, c, arrived)
    end
    for _ = 1, n do assert.is_true(arrived:acquire(true, 10)) end
    return ts
  end

  it("notify() wakes exactly one waiter, notify(n) n of them", function()
    local c = strand.Condition()
    local ts = waiters(c, 3)
    c:with(function() c:notify() end)
    local woken = 0
    for i = 1, 3 do
      local notified, held = finish(ts[i])
      assert.is_true(held)
      if notified then woken = woken + 1 end
    end
    assert.equal(1, woken)
    ts = waiters(c, 3)
    c:with(function() c:notify(2) end)
    woken = 0
    for i = 1, 3 do if finish(ts[i]) then woken = woken + 1 end end
    assert.equal(2, woken)
  end)

  it("notify_all() wakes every waiter", function()
    local c = strand.Condition(strand.Lock())
    local ts = waiters(c, 3)
    c:with(function() c:notify_all() end)
    for i = 1, 3 do assert.is_true((finish(ts[i]))) end
  end)

  it("wait_for(predicate, timeout) waits until the predicate holds", function()
    local c, flag = strand.Condition(), strand.Event()
    local arrived = strand.Semaphore(0)
    local t = spawn(function(cond, f, arr)
      local _ <close> = cond:hold()
      arr:release() -- while holding: the main thread gets the lock only once this one waits
      return cond:wait_for(function() return f:is_set() and "ready" end, 20)
    end, c, flag, arrived)
    assert.is_true(arrived:acquire(true, 10))
    c:with(function() c:notify_all() end) -- predicate still false: keeps waiting
    c:with(function() flag:set(); c:notify_all() end)
    assert.equal("ready", finish(t))
    c:acquire()
    assert.equal(false, c:wait_for(function() return false end, 0.02))
    assert.equal(7, c:wait_for(function() return 7 end))
    c:release()
  end)

  it("prints its lock", function()
    assert.truthy(tostring(strand.Condition(strand.Lock())):find("^<strand.Condition over strand.Lock"))
  end)
end)

describe("strand.Barrier", function()
  it("releases its parties together, each with a distinct index", function()
    local b = strand.Barrier(4)
    assert.equal(4, b.parties); assert.equal(0, b.n_waiting); assert.is_false(b.broken)
    for _ = 1, 2 do -- reusable
      local ts = {}
      for i = 1, 3 do ts[i] = spawn(function(bar) return bar:wait(20) end, b) end
      local seen = {[b:wait(20)] = true}
      for i = 1, 3 do seen[finish(ts[i])] = true end
      assert.same({[0] = true, [1] = true, [2] = true, [3] = true}, seen)
    end
    assert.truthy(tostring(b):find("^<strand.Barrier parties=4"))
  end)

  it("takes Barrier{parties=, action=, timeout=} and checks it", function()
    local b = strand.Barrier{parties = 1, timeout = 5}
    assert.equal(0, b:wait())
    assert.has_error(function() strand.Barrier(0) end)
    assert.has_error(function() strand.Barrier(2, 5) end)
    assert.has_error(function() strand.Barrier(2, nil, -1) end)
    assert.has_error(function() strand.Barrier{} end)
    local co = coroutine.create(print)
    local ok, err = pcall(strand.Barrier, 2, function() return co end)
    assert.is_false(ok); assert.truthy(tostring(err):find("cannot send a coroutine"))
  end)

  it("a waiter's timeout breaks it for everyone", function()
    local b = strand.Barrier(3)
    local t = spawn(function(bar)
      local ok, err = pcall(bar.wait, bar, 20)
      return ok, err.kind
    end, b)
    local err = raises("BrokenBarrier", b.wait, b, 0.05)
    assert.truthy(err.message:find("broken"))
    local ok, kind = finish(t)
    assert.is_false(ok); assert.equal("BrokenBarrier", kind)
    assert.is_true(b.broken)
    raises("BrokenBarrier", b.wait, b, 1)
    b:reset()
    assert.is_false(b.broken)
  end)

  it("the default timeout applies when wait has none", function()
    local b = strand.Barrier(2, nil, 0.03)
    raises("BrokenBarrier", b.wait, b)
  end)

  it("abort() and reset() break it for a waiter", function()
    for _, how in ipairs{"abort", "reset"} do
      local b = strand.Barrier(2)
      local started = strand.Event()
      local t = spawn(function(bar, ev)
        ev:set()
        local ok, err = pcall(bar.wait, bar, 20)
        return ok, err.kind
      end, b, started)
      assert.is_true(started:wait(10))
      local deadline = strand.monotonic() + 10
      while b.n_waiting < 1 and strand.monotonic() < deadline do strand.sleep(0.001) end
      assert.equal(1, b.n_waiting)
      b[how](b)
      local ok, kind = finish(t)
      assert.is_false(ok); assert.equal("BrokenBarrier", kind)
      assert.equal(how == "abort", b.broken)
    end
  end)

  it("the last party runs the action before anyone goes on", function()
    local done = strand.Event()
    local b = strand.Barrier(3, function() done:set() end)
    local ts = {}
    for i = 1, 2 do ts[i] = spawn(function(bar, d) bar:wait(20); return d:is_set() end, b, done) end
    b:wait(20)
    assert.is_true(done:is_set())
    for i = 1, 2 do assert.is_true(finish(ts[i])) end
  end)

  it("an error in the action reaches the last party and breaks the barrier", function()
    local b = strand.Barrier(2, function() error("action failed", 0) end)
    local function party(bar)
      local ok, err = pcall(bar.wait, bar, 20)
      return ok, strand.is_error(err) and err.kind or err
    end
    local t = spawn(party, b)
    local ok1, what1 = party(b)
    local ok2, what2 = finish(t)
    assert.is_false(ok1); assert.is_false(ok2)
    local whats = {what1, what2}
    table.sort(whats)
    assert.same({"BrokenBarrier", "action failed"}, whats)
    assert.is_true(b.broken)
  end)
end)

describe("interrupting a wait", function()
  local cases = {
    Lock = function(obj) return obj:acquire() end,
    RLock = function(obj) return obj:acquire() end,
    Semaphore = function(obj) return obj:acquire() end,
    Event = function(obj) return obj:wait() end,
    Condition = function(obj) local _ <close> = obj:hold(); return obj:wait() end,
    Barrier = function(obj) return obj:wait() end,
  }
  local makers = {
    Lock = function() local l = strand.Lock(); l:acquire(); return l end,
    RLock = function() local l = strand.RLock(); l:acquire(); return l end,
    Semaphore = function() return strand.Semaphore(0) end,
    Event = strand.Event,
    Condition = strand.Condition,
    Barrier = function() return strand.Barrier(2) end,
  }
  for _, name in ipairs{"Lock", "RLock", "Semaphore", "Event", "Condition", "Barrier"} do
    it("thread:cancel() ends a thread blocked forever on a " .. name, function()
      local obj, started = makers[name](), strand.Event()
      local t = spawn(function(o, ev, f) ev:set(); return f(o) end, obj, started, cases[name])
      assert.is_true(started:wait(10))
      if name == "Barrier" then -- cancelled before it waits, it would not break the barrier
        local deadline = strand.monotonic() + 10
        while obj.n_waiting < 1 and strand.monotonic() < deadline do strand.sleep(0.001) end
        assert.equal(1, obj.n_waiting)
      end
      t:cancel()
      local err = failure(t)
      assert.equal("Cancelled", err.kind)
      if name == "Condition" then assert.is_false(obj:locked()) end -- taken back, released by the guard
      if name == "Barrier" then assert.is_true(obj.broken) end
      if name == "Lock" then obj:release() end
    end)
  end

  it("Ctrl-C interrupts the main thread blocked on a Lock, exit 130", function()
    local name = os.tmpname()
    local f = assert(io.open(name, "w"))
    f:write([[
      local l = strand.Lock()
      l:acquire()
      print("ready"); io.stdout:flush()
      l:acquire() -- waits for a release that never comes (not a deadlock: a Lock)
    ]])
    f:close()
    local fifo = os.tmpname(); os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    local p = io.popen(string.format(
      "(%s %s > %s 2>/dev/null & pid=$!; read line < %s; echo \"$line\"; kill -INT $pid; wait $pid; echo \"code=$?\")",
      BIN, name, fifo, fifo))
    local out = p:read("a"); p:close()
    os.remove(name); os.remove(fifo)
    assert.truthy(out:find("ready"))
    assert.truthy(out:find("code=130"))
  end)
end)

describe("deadlock detection", function()
  -- Two threads take two locks in opposite order; a Barrier makes sure each
  -- holds its first lock before asking for the second.
  local function opposite(make)
    local a, b, both = make(), make(), strand.Barrier(2)
    local function worker(first, second, bar)
      local _ <close> = first:hold()
      bar:wait(20)
      local ok, err = pcall(second.acquire, second)
      if ok then second:release(); return "acquired" end
      return err.kind, err.message
    end
    local t1 = strand.Thread{target = worker, args = {a, b, both}, name = "left"}
    local t2 = strand.Thread{target = worker, args = {b, a, both}, name = "right"}
    t1:start(); t2:start()
    local k1, m1 = finish(t1)
    local k2, m2 = finish(t2)
    return {k1, k2}, (m1 or "") .. (m2 or "")
  end

  for _, kind in ipairs{"Lock", "RLock"} do
    it("tells one of two threads that wait for each other's " .. kind .. ", and the other goes on", function()
      local kinds, msg = opposite(strand[kind])
      table.sort(kinds)
      assert.same({"Deadlock", "acquired"}, kinds)
      assert.truthy(msg:find("2 threads wait forever for each other"))
      assert.truthy(msg:find("left waits for strand%." .. kind))
      assert.truthy(msg:find("right waits for strand%." .. kind))
      assert.truthy(msg:find("held by left"))
      assert.truthy(msg:find("held by right"))
    end)
  end

  it("does not count waits with a timeout", function()
    local a, b, both = strand.Lock(), strand.Lock(), strand.Barrier(2)
    local function worker(first, second, bar)
      local _ <close> = first:hold()
      bar:wait(20)
      return second:acquire(true, 0.2)
    end
    local t1, t2 = spawn(worker, a, b, both), spawn(worker, b, a, both)
    -- no Deadlock error; the first to time out frees its lock, so the other may get it
    local r1, r2 = finish(t1), finish(t2)
    assert.is_boolean(r1); assert.is_boolean(r2)
    assert.is_false(r1 and r2)
  end)

  it("leaves alone a thread waiting for a Lock it holds (another may release it)", function()
    local l, waiting = strand.Lock(), strand.Event()
    local t = spawn(function(lock, ev)
      lock:acquire()
      ev:set()
      local got = lock:acquire() -- released by the main thread
      lock:release()
      return got
    end, l, waiting)
    assert.is_true(waiting:wait(10))
    l:release()
    assert.is_true(finish(t))
  end)
end)

-- Across processes: one object, made before the fork, works in both.
describe("across processes", function()
  if not strand.Process then return end -- strand.Process: issue 4

  local function child(f, ...)
    local p = strand.Process{target = f, args = {...}}
    p:start()
    return p
  end

  local function exitcode(p)
    assert.is_true(p:join(30), "process did not end")
    return p.exitcode
  end

  it("a child process waits on an Event the parent sets", function()
    local go, started = strand.Event(), strand.Event()
    local p = child(function(ev, st)
      st:set()
      if not ev:wait(20) then os.exit(3) end
    end, go, started)
    assert.is_true(started:wait(20))
    go:set()
    assert.equal(0, exitcode(p))
  end)

  it("2 processes x 50,000 locked increments of a shared Value = 100,000", function()
    local l, counter = strand.Lock(), strand.Value("q", 0, {lock = false})
    local function work(lock, c, n)
      for _ = 1, n do
        lock:acquire()
        c.value = c.value + 1
        lock:release()
      end
    end
    local a, b = child(work, l, counter, 50000), child(work, l, counter, 50000)
    assert.equal(0, exitcode(a)); assert.equal(0, exitcode(b))
    assert.equal(100000, counter.value)
    assert.is_false(l:locked())
  end)

  for _, kind in ipairs{"Lock", "RLock"} do
    it("a process killed holding a " .. kind .. ": the next acquirer gets it, told \"owner died\"", function()
      local l, holding = strand[kind](), strand.Event()
      local p = child(function(lock, ev)
        lock:acquire()
        ev:set()
        strand.sleep(1000)
      end, l, holding)
      assert.is_true(holding:wait(20))
      assert.is_false(l:acquire(false)) -- held by a live process
      -- a thread of this process already blocked on it when the holder dies
      local started = strand.Event()
      local t = spawn(function(lock, ev)
        ev:set()
        local ok, why = lock:acquire(true, 20)
        if ok then lock:release() end
        return ok, why
      end, l, started)
      assert.is_true(started:wait(20))
      p:kill()
      assert.equal(-9, exitcode(p))
      local ok, why = finish(t)
      assert.is_true(ok)
      assert.equal("owner died", why)
      -- from then on it is an ordinary lock
      assert.same({true}, {l:acquire(false)})
      l:release()
    end)
  end

  it("hold() also reports a dead owner", function()
    local l, holding = strand.Lock(), strand.Event()
    local p = child(function(lock, ev) lock:acquire(); ev:set(); strand.sleep(1000) end, l, holding)
    assert.is_true(holding:wait(20))
    p:kill()
    exitcode(p)
    local g <close>, why = l:hold(true, 20)
    assert.equal("owner died", why)
    assert.is_true(l:locked())
  end)

  it("Semaphore, Condition and Barrier work between processes", function()
    local sem, cond, bar = strand.Semaphore(0), strand.Condition(), strand.Barrier(3)
    local ready = strand.Semaphore(0)
    local p = child(function(s, c, b, r)
      s:release()                             -- Semaphore: wake the parent
      do
        local _ <close> = c:hold()
        r:release()                           -- the parent can take the lock once we wait
        if not c:wait(20) then os.exit(3) end -- Condition: notified by the parent
      end
      b:wait(20)                              -- Barrier: with the parent and a thread
    end, sem, cond, bar, ready)
    assert.is_true(sem:acquire(true, 20))
    assert.is_true(ready:acquire(true, 20))
    cond:with(function() cond:notify() end)
    local t = spawn(function(b) return b:wait(20) end, bar)
    local mine = bar:wait(20)
    local theirs = finish(t)
    assert.equal(0, exitcode(p))
    assert.is_true(mine ~= theirs and mine >= 0 and mine <= 2 and theirs >= 0 and theirs <= 2)
  end)
end)

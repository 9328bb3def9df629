local strand = require "strand"

local function range(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return t
end

local function square(x) return x * x end

-- this process's children, its open descriptors, its arena blocks
local function children()
  local pid = strand.getpid()
  local f = io.open(("/proc/%d/task/%d/children"):format(pid, pid))
  local s = f:read("a"); f:close()
  local n = 0
  for _ in s:gmatch("%d+") do n = n + 1 end
  return n
end
local function open_fds()
  local h = io.popen("ls /proc/" .. strand.getpid() .. "/fd")
  local n = 0
  for _ in h:lines() do n = n + 1 end
  h:close()
  return n - 1 -- the pipe ls writes to
end
local function arena_blocks()
  collectgarbage(); collectgarbage()
  return strand.arena_stats().blocks
end

describe("Pool", function()
  it("squares with pools of 2, 4 and 8 workers (seed program)", function()
    for _, size in ipairs{2, 4, 8} do
      local pool <close> = strand.Pool(size)
      assert.equal(size, pool.processes)
      local r = pool:map(square, range(10))
      assert.same({1, 4, 9, 16, 25, 36, 49, 64, 81, 100}, r)
    end
  end)

  it("is strand.multiprocessing.Pool and takes an options table", function()
    assert.equal(strand.Pool, strand.multiprocessing.Pool)
    local pool <close> = strand.Pool{processes = 3}
    assert.equal(3, pool.processes)
    local dflt <close> = strand.Pool()
    assert.equal(strand.cpu_count(), dflt.processes)
    assert.truthy(tostring(pool):find("state=RUN pool_size=3"))
  end)

  it("checks its options", function()
    assert.has_error(function() strand.Pool(0) end)
    assert.has_error(function() strand.Pool("two") end)
    assert.has_error(function() strand.Pool{processes = 1, initializer = 5} end)
    assert.has_error(function() strand.Pool{processes = 1, maxtasksperchild = 0} end)
  end)

  it("names a bad or unknown option as the caller wrote it", function()
    local function err(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
    assert.truthy(err(function() strand.Pool{procesess = 2} end):find("Pool: unknown option 'procesess'", 1, true))
    assert.truthy(err(function() strand.Pool{processes = "a"} end)
      :find("Pool: processes must be an integer, got string", 1, true))
    assert.truthy(err(function() strand.Pool{processes = 1.5} end):find("got 1.5", 1, true))
    assert.truthy(err(function() strand.Pool(1.5) end)
      :find("bad argument #1 to 'Pool' (integer expected, got 1.5)", 1, true))
    assert.truthy(err(function() strand.Pool{processes = 1, initializer = 5} end)
      :find("Pool: initializer must be a function, got number", 1, true))
    assert.truthy(err(function() strand.Pool{processes = 1, initargs = 5, initializer = print} end)
      :find("Pool: initargs must be a table, got number", 1, true))
    assert.truthy(err(function() strand.Pool{processes = 1, maxtasksperchild = "x"} end)
      :find("Pool: maxtasksperchild must be an integer, got string", 1, true))
    assert.truthy(err(function() strand.Pool(1, 5) end)
      :find("bad argument #2 to 'Pool' (function expected, got number)", 1, true))
  end)

  it("checks callbacks and options before it queues anything, naming the argument", function()
    local pool <close> = strand.Pool(1)
    local ran = strand.Value("i", 0)
    local function task() ran.value = ran.value + 1 end
    local function err(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
    assert.truthy(err(function() pool:apply_async(task, {}, 5) end)
      :find("bad argument #3 to 'apply_async' (function expected, got number)", 1, true))
    assert.truthy(err(function() pool:apply_async(task, {}, print, 5) end)
      :find("bad argument #4 to 'apply_async'", 1, true))
    assert.truthy(err(function() pool:apply_async(task, {}, {callbak = print}) end)
      :find("apply_async: unknown option 'callbak'", 1, true))
    assert.truthy(err(function() pool:apply_async(task, {}, {error_callback = 5}) end)
      :find("apply_async: error_callback must be a function, got number", 1, true))
    assert.truthy(err(function() pool:map_async(task, {1}, nil, 5) end)
      :find("bad argument #4 to 'map_async'", 1, true))
    assert.truthy(err(function() pool:map_async(task, {1}, {chunksize = "a"}) end)
      :find("map_async: chunksize must be an integer, got string", 1, true))
    assert.truthy(err(function() pool:starmap_async(task, {1}, {chunksize = 0}) end)
      :find("starmap_async: chunksize must be >= 1", 1, true))
    assert.truthy(err(function() pool:map(task, {1}, 2.5) end)
      :find("bad argument #3 to 'map' (integer expected, got 2.5)", 1, true))
    pool:close(); pool:join(10)
    assert.equal(0, ran.value) -- none of the refused calls ran its task
  end)

  it("holds no process, descriptor or arena memory once joined, even while it is kept", function()
    local function life()
      local pool = strand.Pool(2)
      assert.same({1, 4, 9}, pool:map(square, {1, 2, 3}))
      pool:close(); assert.is_true(pool:join(30))
      return pool
    end
    life() -- warm: what the first pool makes once per process
    local kids, fds, blocks = children(), open_fds(), arena_blocks()
    local kept = {}
    for i = 1, 5 do kept[i] = life() end
    assert.equal(kids, children()) -- workers and server reaped by join: no zombie
    assert.equal(fds, open_fds())  -- no pidfd kept
    kept = nil
    assert.equal(blocks, arena_blocks()) -- each worker gave back its process record
  end)

  it("gives back what a worker held when a task calls os.exit", function()
    local function life()
      local pool = strand.Pool(1)
      local ok, e = pcall(pool.apply, pool, function(c) strand.threading.current_thread(); os.exit(c) end, {2})
      assert.is_false(ok); assert.equal("ProcessDied", e.kind)
      assert.truthy(e.message:find("exited with code 2", 1, true), e.message)
      ok = pcall(pool.apply, pool, os.exit, {0, true}) -- its state closed first
      assert.is_false(ok)
      pool:close(); assert.is_true(pool:join(30))
    end
    life()
    local blocks = arena_blocks()
    for _ = 1, 3 do life() end
    assert.equal(blocks, arena_blocks())
  end)

  it("is terminated when collected without close, as Python's: its processes end", function()
    local kids, blocks = children(), arena_blocks()
    for _ = 1, 3 do
      do local pool = strand.Pool(2); assert.same({4}, pool:map(square, {2})) end
      collectgarbage(); collectgarbage() -- its workers held no reference on it
    end
    do local pool = strand.Pool(2); pool:close() end -- closed, not joined
    collectgarbage(); collectgarbage()
    assert.equal(kids, children())
    assert.equal(blocks, arena_blocks())
  end)

  it("runs tasks in its worker processes", function()
    local pool <close> = strand.Pool(2)
    local pids = pool:map(function() return strand.getpid() end, range(20), 1)
    for _, pid in ipairs(pids) do assert.are_not.equal(strand.getpid(), pid) end
  end)

  it("names its workers as Python: current_process() is ForkPoolWorker-N, a daemon", function()
    local pool <close> = strand.Pool(2)
    local me = strand.getpid()
    local r = pool:map(function()
      local c = strand.current_process()
      return c.name .. "|" .. tostring(c.daemon) .. "|" .. tostring(strand.parent_process().pid)
    end, range(4), 1)
    for _, v in ipairs(r) do
      assert.truthy(v:match("^ForkPoolWorker%-%d+|true|" .. me .. "$"), v)
    end
    assert.equal("MainProcess", strand.current_process().name)
  end)

  it("maps in order, with the default chunksize or a given one", function()
    local pool <close> = strand.Pool(2)
    local r = pool:map(function(x) return x * 3 end, range(1001))
    assert.equal(1001, #r); assert.equal(3003, r[1001]); assert.equal(3, r[1])
    r = pool:map(function(x) return x .. "!" end, {"a", "b", "c"}, 2)
    assert.same({"a!", "b!", "c!"}, r)
    assert.same({}, pool:map(square, {}))
    r = pool:map(function(x) return {x, tostring(x)} end, {1, 2})
    assert.same({{1, "1"}, {2, "2"}}, r)
    r = pool:map(function(x) return x / 2 end, {1, 3})
    assert.same({0.5, 1.5}, r)
  end)

  it("cuts a map in chunks as Python does, each chunk run by one worker", function()
    local pool <close> = strand.Pool(2)
    -- 16 items, 2 workers: chunksize ceil(16 / 8) = 2
    local pids = pool:map(function() return strand.getpid() end, range(16))
    for i = 1, 15, 2 do assert.equal(pids[i], pids[i + 1]) end
    pids = pool:map(function() return strand.getpid() end, range(12), 4)
    for i = 1, 12, 4 do
      for j = i + 1, i + 3 do assert.equal(pids[i], pids[j]) end
    end
  end)

  it("sends a function once: a worker keeps its upvalues between tasks", function()
    local pool <close> = strand.Pool(1)
    local count = 0
    local function bump() count = count + 1; return count end
    assert.equal(1, pool:apply(bump)); assert.equal(2, pool:apply(bump))
    assert.same({3, 4, 5}, pool:map(bump, {1, 2, 3}, 1))
    assert.equal(0, count)
  end)

  it("sends closures made after the pool was created", function()
    local pool <close> = strand.Pool(2)
    local k = 7
    local times_k = function(x) return x * k end
    assert.same({7, 14, 21}, pool:map(times_k, {1, 2, 3}))
  end)

  it("starmaps argument tables", function()
    local pool <close> = strand.Pool(2)
    assert.same({3, 7, 11}, pool:starmap(function(a, b) return a + b end, {{1, 2}, {3, 4}, {5, 6}}))
    -- an item that is not a table of arguments is a TypeError naming it, as in Python
    local ok, e = pcall(pool.starmap, pool, function(a) return a end, {{1}, {2}, 3, {4}}, 2)
    assert.is_false(ok)
    assert.equal("TypeError", e.kind)
    assert.truthy(e.message:find("starmap: items[3] is a number, not a table of arguments", 1, true), e.message)
  end)

  it("iterates with imap in order and imap_unordered in any order", function()
    local pool <close> = strand.Pool(2)
    local out = {}
    for i, v in pool:imap(square, range(50)) do out[#out + 1] = i; assert.equal(i * i, v) end
    assert.same(range(50), out)
    local seen, count = {}, 0
    for i, v in pool:imap_unordered(square, range(50), 7) do
      assert.equal(i * i, v)
      assert.is_nil(seen[i]); seen[i] = true
      count = count + 1
    end
    assert.equal(50, count)
  end)

  it("applies a function, synchronously and asynchronously", function()
    local pool <close> = strand.Pool(2)
    local a, b = pool:apply(function(x, y) return x + y, x * y end, {3, 4})
    assert.equal(7, a); assert.equal(12, b)
    assert.equal("none", pool:apply(function() return "none" end))
    local r = pool:apply_async(function(x) return x + 1 end, {41})
    assert.equal(42, r:get(30))
    assert.is_true(r:ready()); assert.is_true(r:successful()); assert.is_true(r:wait(1))
    assert.truthy(tostring(r):find("AsyncResult"))
  end)

  it("gives AsyncResults for map_async and starmap_async", function()
    local pool <close> = strand.Pool(2)
    local r = pool:map_async(square, range(5))
    assert.same({1, 4, 9, 16, 25}, r:get(30))
    local s = pool:starmap_async(function(a, b) return a - b end, {{5, 1}, {9, 3}})
    assert.same({4, 6}, s:get(30))
  end)

  it("times out in get and wait, and refuses successful() before ready", function()
    local pool <close> = strand.Pool(1)
    local gate = strand.Future()
    local r = pool:apply_async(function(g) return g:result(30) end, {gate})
    assert.is_false(r:wait(0.02))
    local ok, e = pcall(r.get, r, 0.02)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "Timeout"))
    ok, e = pcall(r.successful, r)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "ValueError"))
    gate:set_result("open")
    assert.equal("open", r:get(30))
  end)

  it("runs callbacks in the caller's state when it next calls the pool", function()
    local pool = strand.Pool(2)
    local results, errors = {}, {}
    local rs = {}
    for i = 1, 5 do
      rs[i] = pool:apply_async(function(x) return x * 10 end, {i}, function(v) results[#results + 1] = v end)
    end
    local bad = pool:apply_async(function() error("nope") end, {}, nil, function(e) errors[#errors + 1] = e end)
    for i = 1, 5 do rs[i]:wait(30) end
    bad:wait(30)
    -- wait() already called into the pool: the callbacks of the ready ones ran
    assert.equal(5, #results)
    assert.equal(1, #errors); assert.truthy(errors[1].message:find("nope"))
    local listed
    pool:map_async(square, {1, 2, 3}, {callback = function(list) listed = list end}):wait(30)
    assert.same({1, 4, 9}, listed)
    local late = {}
    pool:apply_async(function() return "late" end, {}, {callback = function(v) late[1] = v end})
    pool:close()
    pool:join() -- join runs what is left
    assert.same({"late"}, late)
    table.sort(results)
    assert.same({10, 20, 30, 40, 50}, results)
  end)

  it("does not run a callback before the caller calls in", function()
    local pool <close> = strand.Pool(1)
    local ran = false
    local release, finished = strand.Future(), strand.Future()
    -- the task cannot end before it is released, so the callback is not
    -- already due when it is added
    pool:apply_async(function(r, f) r:result(30); f:set_result(true) end, {release, finished},
                     function() ran = true end)
    -- release it and wait for it from another thread: Thread:join is not a
    -- call into the futures or pool API of this state
    local t = strand.Thread{target = function(r, f) r:set_result(true); return f:result(30) end,
                            args = {release, finished}}
    t:start(); t:join(30)
    assert.is_false(ran)
    pool:close(); pool:join()
    assert.is_true(ran)
  end)

  it("re-raises a task's error with the worker's traceback", function()
    local pool <close> = strand.Pool(2)
    local function check(x) if x == 13 then error("unlucky " .. x) end return x end
    local ok, e = pcall(pool.map, pool, check, range(20))
    assert.is_false(ok)
    assert.truthy(e.message:find("unlucky 13"))
    assert.truthy(e.worker:match("^ForkPoolWorker%-%d+$"))
    assert.truthy(e.traceback:find("pool_spec.lua:%d+: in function <spec/pool_spec.lua"))
    assert.falsy(e.traceback:find("busted"))
    assert.falsy(e.traceback:find("?:", 1, true), e.traceback) -- no frame of the worker's map loop
    ok, e = pcall(function() for _ in pool:imap(check, range(20)) do end end)
    assert.is_false(ok)
    assert.truthy(e.traceback:find("pool_spec.lua:%d+: in function <spec/pool_spec.lua"))
    assert.falsy(e.traceback:find("?:", 1, true), e.traceback)
    ok, e = pcall(pool.apply, pool, function() local t = nil; return t.x end)
    assert.is_false(ok); assert.truthy(e.message:find("attempt to index"))
    local r = pool:apply_async(function() error({code = 5}) end)
    ok, e = pcall(r.get, r, 30)
    assert.is_false(ok); assert.is_false(r:successful())
    assert.same({code = 5}, e.value)
    -- the pool goes on
    assert.same({1, 4}, pool:map(square, {1, 2}))
  end)

  for _, case in ipairs{
    {"is killed (SIGKILL)", "kill -9", "signal 9", -9},
    {"segfaults", "kill -SEGV", "signal 11", -11},
  } do
    it("fails only the task of a worker that " .. case[1] .. ", replaces the worker", function()
      local pool <close> = strand.Pool(2)
      local cmd = case[2]
      local r = pool:apply_async(function() os.execute(cmd .. " " .. strand.getpid()) return "survived" end)
      local ok, e = pcall(r.get, r, 30)
      assert.is_false(ok)
      assert.is_true(strand.is_error(e, "ProcessDied"))
      assert.truthy(e.message:find(case[3], 1, true))
      assert.truthy(e.message:find(tostring(e.pid), 1, true))
      assert.equal(case[4], e.exitcode)
      assert.same(range(40), pool:map(function(x) return x end, range(40), 1))
    end)
  end

  it("fails the task of a worker that calls os.exit, with its exit code", function()
    local pool <close> = strand.Pool(1)
    local ok, e = pcall(pool.apply, pool, function() os.exit(3) end)
    assert.is_false(ok)
    assert.is_true(strand.is_error(e, "ProcessDied"))
    -- under a sanitizer, its exit hook may replace the code (LeakSanitizer's
    -- 23, ThreadSanitizer's 66)
    local code = os.getenv("SANITIZER") and e.exitcode or 3
    assert.truthy(e.message:find("exited with code " .. code, 1, true))
    assert.equal(code, e.exitcode)
    assert.equal(6, pool:apply(function() return 6 end))
  end)

  it("fails only the chunk of a map whose worker died", function()
    local pool <close> = strand.Pool(2)
    local ok, e = pcall(pool.map, pool, function(x)
      if x == 5 then os.execute("kill -9 " .. strand.getpid()) end
      return x
    end, range(8), 1)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "ProcessDied"))
    assert.same({1, 2}, pool:map(function(x) return x end, {1, 2}))
  end)

  it("replaces workers after maxtasksperchild tasks", function()
    local pool <close> = strand.Pool{processes = 1, maxtasksperchild = 2}
    local pids = pool:map(function() return strand.getpid() end, range(6), 1)
    assert.equal(pids[1], pids[2]); assert.equal(pids[3], pids[4])
    assert.are_not.equal(pids[2], pids[3]); assert.are_not.equal(pids[4], pids[5])
  end)

  it("runs the initializer in every worker, replacements included", function()
    local pool <close> = strand.Pool{processes = 2, initializer = function(a, b) _G.setting = a + b end,
                                     initargs = {20, 22}, maxtasksperchild = 1}
    assert.same({42, 42, 42, 42}, pool:map(function() return _G.setting end, range(4), 1))
  end)

  it("breaks when an initializer fails", function()
    local pool <close> = strand.Pool{processes = 1, initializer = function() error("init failed") end}
    local ok, e = pcall(pool.apply, pool, function() return 1 end)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "BrokenProcessPool"))
    assert.truthy(e.message:find("init failed"))
  end)

  it("refuses what it cannot send, naming the item by its place in the list", function()
    local pool <close> = strand.Pool(2)
    local co = coroutine.create(print)
    local items = {}
    for i = 1, 100 do items[i] = i end
    items[77] = {cb = co}
    local ok, e = pcall(pool.map, pool, square, items, 10)
    assert.is_false(ok); assert.truthy(tostring(e):find("items[77].cb: cannot send a coroutine", 1, true))
    ok, e = pcall(pool.apply, pool, square, {co})
    assert.is_false(ok); assert.truthy(tostring(e):find("args[1]: cannot send a coroutine", 1, true))
    assert.equal(4, pool:apply(square, {2})) -- still usable
  end)

  it("closes and joins; refuses work once closed and join while running", function()
    local pool = strand.Pool(2)
    local ok, e = pcall(pool.join, pool)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "ValueError"))
    local r = pool:map_async(square, range(100))
    pool:close()
    assert.has_error(function() pool:map(square, {1}) end)
    assert.is_true(pool:join(30))
    assert.equal(10000, r:get(0)[100])
  end)

  it("terminates: pending work is cancelled, running work is stopped", function()
    local pool = strand.Pool(1)
    local started = strand.Future()
    local running = pool:apply_async(function(s) s:set_result(true); while true do end end, {started})
    local queued = pool:apply_async(function() return 1 end)
    started:result(30)
    pool:terminate()
    local ok, e = pcall(queued.get, queued, 5)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "Cancelled"))
    ok, e = pcall(running.get, running, 5)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "Cancelled"))
    assert.truthy(e.message:find("task cancelled", 1, true), e.message) -- the task's, not a thread's
    assert.is_true(pool:join(5))
  end)

  it("terminates a map whose first chunks run while the rest wait: Cancelled, no hang", function()
    local pool = strand.Pool(2)
    local started = strand.Semaphore(0)
    local m = pool:map_async(function(x)
      started:release()
      while true do strand.sleep(0.01) end
    end, {1, 2, 3, 4, 5, 6}, 1)
    assert.is_true(started:acquire(true, 30)); assert.is_true(started:acquire(true, 30))
    pool:terminate()
    local ok, e = pcall(m.get, m, 10)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "Cancelled"))
    assert.is_true(m:ready())
    assert.is_true(pool:join(10))
  end)

  it("terminates when a <close> variable goes out of scope", function()
    local pool_ref
    do
      local pool <close> = strand.Pool(1)
      pool_ref = pool
      assert.equal(1, pool:apply(function() return 1 end))
    end
    assert.truthy(tostring(pool_ref):find("TERMINATE"))
    assert.has_error(function() pool_ref:apply(function() end) end)
  end)

  it("runs 10,000 tasks and loses none", function()
    local pool <close> = strand.Pool(2)
    local rs = {}
    for i = 1, 10000 do rs[i] = pool:apply_async(function(x) return x end, {i}) end
    local sum = 0
    for i = 1, 10000 do sum = sum + rs[i]:get(30) end
    assert.equal(10000 * 10001 // 2, sum)
    local m = pool:map(function(x) return x + 1 end, range(10000), 1)
    assert.equal(10000, #m); assert.equal(10001, m[10000])
  end)

  it("can be used from a thread of the program", function()
    local pool <close> = strand.Pool(2)
    local t = strand.Thread{target = function(p) return p:map(function(x) return -x end, {1, 2, 3}) end,
                            args = {pool}}
    t:start(); t:join(30)
    assert.same({-1, -2, -3}, t:result())
  end)
end)

-- strand.Process: start/join, exit codes (errors, os.exit, signals), names,
-- daemon, current/parent process, active_children, no zombies, starting
-- from a thread, and what happens at the end of a program and on Ctrl-C.
local strand = require "strand"
local mp = strand.multiprocessing
local BIN = os.getenv("STRAND_BIN") or "build/strand"

local function tmpfile(body)
  local name = os.tmpname()
  local f = assert(io.open(name, "w")); f:write(body); f:close()
  return name
end

local function read_file(name)
  local f = io.open(name); if not f then return nil end
  local s = f:read("a"); f:close(); return s
end

-- run a shell command, return stdout, stderr, exit code
local function run(cmd)
  local errf = os.tmpname()
  local p = io.popen(cmd .. " 2>" .. errf .. "; echo \"EXIT:$?\"")
  local out = p:read("a"); p:close()
  local err = read_file(errf); os.remove(errf)
  local code = tonumber(out:match("EXIT:(%d+)\n?$"))
  return out:gsub("EXIT:%d+\n?$", ""), err, code
end

-- the state letter of a pid in /proc, or nil when it is gone (reaped)
local function proc_state(pid)
  local s = read_file("/proc/" .. pid .. "/stat")
  return s and s:match("%) (%a)")
end

-- wait (bounded) until f() is true
local function eventually(f, seconds)
  local deadline = strand.monotonic() + (seconds or 10)
  while not f() do
    if strand.monotonic() > deadline then return false end
    strand.sleep(0.01)
  end
  return true
end

describe("Process", function()
  it("runs a target with args in a child and joins it", function()
    local q = strand.Queue()
    local p = strand.Process{target = function(q, a, b) q:put({a + b, strand.getpid()}) end, args = {q, 2, 3}}
    assert.is_false(p:is_alive())
    assert.is_nil(p.exitcode); assert.is_nil(p.pid)
    p:start()
    local r = q:get(true, 10)
    assert.is_true(p:join(10))
    assert.equal(5, r[1]); assert.equal(p.pid, r[2]); assert.are_not.equal(strand.getpid(), r[2])
    assert.equal(0, p.exitcode)
    assert.is_false(p:is_alive())
    assert.equal(p.pid, p.ident)
  end)

  it("is reachable as strand.multiprocessing.Process", function()
    assert.equal(strand.Process, mp.Process)
  end)

  it("calls run(self) when given instead of a target", function()
    local q = strand.Queue()
    local p = strand.Process{run = function(self) q:put(self.name) end, name = "runner"}
    p:start(); assert.is_true(p:join(10))
    assert.equal("runner", q:get(false))
    local empty = strand.Process{}
    empty:start(); assert.is_true(empty:join(10)); assert.equal(0, empty.exitcode)
  end)

  it("the child has a copy of the parent's state, changes stay in the child", function()
    local value = {n = 1}
    local q = strand.Queue()
    local p = strand.Process{target = function() value.n = 99; q:put(value.n) end}
    p:start(); assert.is_true(p:join(10))
    assert.equal(99, q:get(false))
    assert.equal(1, value.n)
  end)

  it("names processes Process-N, and may be renamed", function()
    local p = strand.Process{target = function() end}
    assert.truthy(p.name:match("^Process%-%d+$"))
    p.name = "other"; assert.equal("other", p.name)
    assert.equal("x", strand.Process{name = "x"}.name)
    assert.truthy(tostring(p):find("Process name='other'"))
  end)

  it("exit code 1 and a Python-like report for an error", function()
    local s = tmpfile([[
      local p = strand.Process{target = function() error("boom") end, name = "bad"}
      p:start(); p:join()
      print("exitcode", p.exitcode)]])
    local out, err, code = run(BIN .. " " .. s)
    os.remove(s)
    assert.equal(0, code)
    assert.equal("exitcode\t1\n", out)
    assert.truthy(err:find("^Process bad:\n"))
    assert.truthy(err:find("boom"))
    assert.truthy(err:find("stack traceback"))
  end)

  it("gives the code passed to os.exit, and negative signal numbers", function()
    local p = strand.Process{target = function() os.exit(3) end}
    p:start(); assert.is_true(p:join(10)); assert.equal(3, p.exitcode)
    p = strand.Process{target = function() os.exit(true) end}
    p:start(); assert.is_true(p:join(10)); assert.equal(0, p.exitcode)
    -- a real SIGSEGV delivered to the child
    p = strand.Process{target = function() os.execute("kill -SEGV $PPID") end}
    p:start(); assert.is_true(p:join(10)); assert.equal(-11, p.exitcode)
    local q = strand.Queue()
    p = strand.Process{target = function() q:put(true); strand.sleep(30) end}
    p:start(); q:get(true, 10)
    assert.is_true(p:is_alive())
    p:terminate(); assert.is_true(p:join(10)); assert.equal(-15, p.exitcode)
    p = strand.Process{target = function() q:put(true); strand.sleep(30) end}
    p:start(); q:get(true, 10)
    p:kill(); assert.is_true(p:join(10)); assert.equal(-9, p.exitcode)
    assert.truthy(tostring(p):find("exitcode=%-9"))
  end)

  it("join takes a timeout and refuses what cannot be joined", function()
    local go = strand.Queue()
    local p = strand.Process{target = function() go:get(true, 30) end}
    assert.has_error(function() p:join() end)
    p:start()
    assert.is_false(p:join(0.05))
    assert.is_true(p:is_alive())
    assert.has_error(function() p:start() end)
    go:put(true)
    assert.is_true(p:join(10))
    assert.has_error(function() mp.current_process():join() end)
  end)

  it("daemon is inherited, settable before start, not after", function()
    local p = strand.Process{target = function() end}
    assert.is_false(p.daemon)
    p.daemon = true; assert.is_true(p.daemon)
    assert.is_true(strand.Process{target = function() end, daemon = true}.daemon)
    p:start()
    assert.has_error(function() p.daemon = false end)
    assert.is_true(p:join(10))
    -- a daemonic process may not have children, as in Python
    local q = strand.Queue()
    local d = strand.Process{target = function()
      local ok, e = pcall(function() strand.Process{target = function() end}:start() end)
      q:put({ok, tostring(e)})
    end, daemon = true}
    d:start(); assert.is_true(d:join(10))
    local r = q:get(false)
    assert.is_false(r[1]); assert.truthy(r[2]:find("daemonic"))
  end)

  it("close() only once it has ended, and then refuses use", function()
    local go = strand.Queue()
    local p = strand.Process{target = function() go:get(true, 30) end}
    p:start()
    assert.has_error(function() p:close() end)
    go:put(true)
    assert.is_true(p:join(10))
    p:close()
    assert.is_true(p.closed)
    assert.has_error(function() p:is_alive() end)
  end)

  it("current_process, parent_process and active_children", function()
    local me = mp.current_process()
    assert.equal("MainProcess", me.name)
    assert.equal(strand.getpid(), me.pid)
    assert.is_nil(mp.parent_process())
    local q, go = strand.Queue(), strand.Queue()
    local p = strand.Process{target = function()
      local c = mp.current_process()
      local pp = mp.parent_process()
      local child = strand.Process{target = function() end}
      q:put({c.name, c.pid, pp.pid, pp.name, child.name, mp.active_children()[1] == nil})
      go:get(true, 30)
    end, name = "kid"}
    p:start()
    local r = q:get(true, 10)
    assert.same({"kid", p.pid, strand.getpid(), "MainProcess"}, {r[1], r[2], r[3], r[4]})
    assert.truthy(r[5]:match("^Process%-%d+:1$"))
    assert.is_true(r[6])
    local kids = mp.active_children()
    assert.equal(1, #kids); assert.equal(p, kids[1])
    go:put(true)
    assert.is_true(p:join(10))
    assert.same({}, mp.active_children())
    assert.equal(mp.cpu_count, strand.cpu_count)
  end)

  it("can be started from a thread other than the main one", function()
    local t = strand.Thread{target = function()
      local q = strand.Queue()
      local p = strand.Process{target = function() q:put(strand.getpid()) end}
      p:start()
      local pid = q:get(true, 10)
      p:join(10)
      return p.exitcode, pid == p.pid
    end}
    t:start(); assert.is_true(t:join(20))
    local code, same = t:result()
    assert.equal(0, code); assert.is_true(same)
  end)

  it("leaves no zombie: reaped by join, is_alive, and when its handle is collected", function()
    local q = strand.Queue()
    local p = strand.Process{target = function() end}
    p:start()
    local pid = p.pid
    assert.is_true(eventually(function() return not p:is_alive() end))
    assert.is_nil(proc_state(pid)) -- is_alive reaped it
    -- never joined: once it has ended, collecting its last handle reaps it
    local keep = {strand.Process{target = function() q:put(strand.getpid()) end}}
    keep[1]:start()
    pid = q:get(true, 10)
    assert.is_true(eventually(function() return proc_state(pid) == "Z" end))
    keep = nil
    collectgarbage(); collectgarbage()
    assert.is_nil(proc_state(pid))
  end)

  it("gives its arena memory back however it ends: os.exit(code, true), after current_thread(), a join", function()
    local function blocks() collectgarbage(); collectgarbage(); return strand.arena_stats().blocks end
    local targets = {
      function() strand.threading.current_thread() end, -- its MainThread object
      function() os.exit(0, true) end,                   -- its state closed by os.exit
      function() strand.threading.main_thread(); os.exit(3) end,
    }
    -- (TSan cannot start threads in a child forked from a threaded process)
    if os.getenv("SANITIZER") ~= "tsan" then
      targets[#targets + 1] = function() -- exits right after a join: the thread's own reference is dropped first
        local t = strand.Thread{target = function() return ("x"):rep(1000) end}
        t:start(); t:join()
      end
    end
    for _, f in ipairs(targets) do -- once first: what a first use makes once per process
      local p = strand.Process{target = f}; p:start(); assert.is_true(p:join(30))
    end
    local before = blocks()
    for _ = 1, 3 do
      for _, f in ipairs(targets) do
        local p = strand.Process{target = f}; p:start(); assert.is_true(p:join(30))
      end
    end
    assert.equal(before, blocks())
  end)

  it("a handle works in another thread of the parent", function()
    local go = strand.Queue()
    local p = strand.Process{target = function() go:get(true, 30) end}
    p:start()
    local t = strand.Thread{target = function(p, go) local a = p:is_alive(); go:put(true); p:join(10); return a, p.exitcode end,
                            args = {p, go}}
    t:start(); assert.is_true(t:join(20))
    local alive, code = t:result()
    assert.is_true(alive); assert.equal(0, code)
    assert.is_true(p:join(10))
  end)
end)

describe("Processes at the end of a program", function()
  it("joins non-daemon children and terminates daemon ones", function()
    local flag = os.tmpname(); os.remove(flag)
    local s = tmpfile(([[
      local d = strand.Process{target = function() strand.sleep(60) end, daemon = true}
      d:start()
      local n = strand.Process{target = function()
        strand.sleep(0.2)
        local f = io.open(%q, "w"); f:write("done"); f:close()
      end}
      n:start()
      print(d.pid)]]):format(flag))
    local out, _, code = run(BIN .. " " .. s)
    os.remove(s)
    assert.equal(0, code)
    assert.equal("done", read_file(flag)) -- the parent waited for it
    os.remove(flag)
    local dpid = tonumber(out:match("(%d+)"))
    assert.is_true(eventually(function() local st = proc_state(dpid); return st == nil or st == "Z" end))
  end)

  it("os.exit in the parent still ends daemon children", function()
    local s = tmpfile([[
      local d = strand.Process{target = function() strand.sleep(60) end, daemon = true}
      d:start()
      print(d.pid)
      io.stdout:flush()
      os.exit(4)]])
    local out, _, code = run(BIN .. " " .. s)
    os.remove(s)
    assert.equal(4, code)
    local dpid = tonumber(out:match("(%d+)"))
    assert.is_true(eventually(function() local st = proc_state(dpid); return st == nil or st == "Z" end))
  end)

  it("Ctrl-C in the parent leaves nothing running", function()
    local outf = os.tmpname()
    local s = tmpfile([[
      local kids = {}
      for i = 1, 2 do
        kids[i] = strand.Process{target = function() strand.sleep(60) end, daemon = i == 1}
        kids[i]:start()
      end
      print(kids[1].pid, kids[2].pid)
      io.stdout:flush()
      kids[2]:join()]])
    local pid = tonumber(io.popen(BIN .. " " .. s .. " > " .. outf .. " 2>&1 & echo $!"):read("a"))
    local pids
    assert.is_true(eventually(function()
      local o = read_file(outf) or ""
      local a, b = o:match("(%d+)%s+(%d+)")
      if a then pids = {tonumber(a), tonumber(b)} end
      return pids ~= nil
    end))
    os.execute("kill -INT " .. pid)
    assert.is_true(eventually(function() return proc_state(pid) == nil or proc_state(pid) == "Z" end))
    for _, k in ipairs(pids) do
      assert.is_true(eventually(function() local st = proc_state(k); return st == nil or st == "Z" end))
    end
    os.remove(s); os.remove(outf)
  end)
end)

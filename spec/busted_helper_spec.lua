-- strand.busted (lua/strand/busted.lua) and the C pieces under it
-- (strand.debug_threads, strand.debug_watchdog, strand.debug_cancel).
local strand = require "strand"
local sb = require "strand.busted"

local function sleeper() strand.sleep(1e6) end

-- Wait until cond() holds, up to `seconds`: for states that have no event
-- to wait on (a thread entering its wait). The bound is generous and only
-- reached when the check fails.
local function eventually(cond, seconds)
  local deadline = strand.monotonic() + (seconds or 10)
  while not cond() and strand.monotonic() < deadline do strand.sleep(0.01) end
  return cond()
end

-- Threads still running (a joined thread may stay listed for a moment).
local function alive_count()
  local n = 0
  for _, t in ipairs(strand.threading.enumerate()) do
    if t:is_alive() then n = n + 1 end
  end
  return n
end

local function record_of(tid)
  for _, r in ipairs(strand.debug_threads()) do
    if r.tid == tid then return r end
  end
end

-- Run a fixture file in a nested busted (with spec/helper.lua, as make
-- test does); returns its TAP results by test name, and its exit code.
local function nested(file)
  local bin = os.getenv("STRAND_BIN") or "build/strand"
  local p = io.popen(("%s /usr/bin/busted --helper=spec/helper.lua -o TAP %s 2>&1; echo \"exit=$?\"")
                     :format(bin, file))
  local out = p:read("a")
  p:close()
  local tests, last = {}, nil
  for line in out:gmatch("[^\n]+") do
    local notok, name = line:match("^(n?o?t? ?)ok %d+ %- (.*)$")
    if name then
      last = {ok = notok == "", text = ""}
      tests[name] = last
    elseif last and line:sub(1, 1) == "#" then
      last.text = last.text .. line:sub(3) .. "\n"
    end
  end
  return tests, tonumber(out:match("exit=(%d+)%s*$")), out
end

describe("strand.debug_threads", function()
  it("lists the calling thread as current", function()
    local me = strand.threading.get_native_id()
    local r = record_of(me)
    assert.is_table(r)
    assert.is_true(r.current)
    assert.equal(strand.getpid(), r.pid)
    assert.is_false(r.waiting)
  end)

  it("shows a worker blocked in a strand wait, and forgets it when it ends", function()
    local t = strand.Thread{target = sleeper}
    t:start()
    assert.is_true(eventually(function()
      local r = t.native_id and record_of(t.native_id)
      return r ~= nil and r.waiting and not r.current
    end))
    local tid = t.native_id
    t:cancel()
    assert.is_true(t:join(10))
    assert.is_nil(record_of(tid))
  end)
end)

describe("strand.debug_cancel", function()
  it("interrupts a registered thread by its tid", function()
    local t = strand.Thread{target = sleeper}
    t:start()
    assert.is_true(eventually(function() return t.native_id and record_of(t.native_id) ~= nil end))
    assert.is_true(strand.debug_cancel(t.native_id))
    assert.is_true(t:join(10))
    assert.is_true(strand.is_error(t.error, "Cancelled"))
  end)

  it("says false for a tid it does not know", function()
    assert.is_false(strand.debug_cancel(-1))
    assert.is_false(strand.debug_cancel(2 ^ 40))
    assert.has_error(function() strand.debug_cancel("x") end)
  end)
end)

describe("strand.debug_children and strand.debug_kill", function()
  it("list this process's living children, and signal only them", function()
    local before = #strand.debug_children()
    local p = io.popen("exec sleep 30")
    local child
    assert.is_true(eventually(function()
      for _, c in ipairs(strand.debug_children()) do
        if c.name == "sleep" then child = c end
      end
      return child ~= nil
    end))
    assert.is_true(strand.debug_kill(child.pid, "term"))
    p:close()
    assert.equal(before, #strand.debug_children())
    assert.is_false(strand.debug_kill(child.pid, "kill")) -- gone, and reaped
    assert.is_false(strand.debug_kill(1, "term"))         -- not a child
    assert.has_error(function() strand.debug_kill(child.pid, "hup") end)
  end)
end)

describe("strand.debug_watchdog", function()
  it("cancels the thread that armed it when the time passes", function()
    local wd <close> = strand.debug_watchdog(0.1)
    local ok, err = pcall(strand.sleep, 30)
    assert.is_false(ok)
    assert.is_true(strand.is_error(err, "Cancelled"))
    assert.is_true(wd:fired())
    local snap = wd:snapshot()
    local mine
    for _, r in ipairs(snap) do if r.current then mine = r end end
    assert.is_table(mine)
    assert.is_true(wd:cancel())
    -- the interrupt it caused is gone: waiting works again
    strand.sleep(0.01)
  end)

  it("does nothing when cancelled in time", function()
    local wd = strand.debug_watchdog(30)
    strand.sleep(0.01)
    assert.is_false(wd:fired())
    assert.is_nil(wd:snapshot())
    assert.is_false(wd:cancel())
    assert.is_false(wd:cancel()) -- twice is fine
  end)

  it("moves its deadline with reset", function()
    local wd <close> = strand.debug_watchdog(30)
    wd:reset(0.05)
    assert.is_false(pcall(strand.sleep, 30))
    assert.is_true(wd:cancel())
    assert.has_error(function() wd:reset(1) end, "watchdog has already fired")
  end)

  it("checks its arguments", function()
    assert.has_error(function() strand.debug_watchdog(-1) end)
    assert.has_error(function() strand.debug_watchdog(0 / 0) end)
    assert.has_error(function() strand.debug_watchdog("soon") end)
    local wd <close> = strand.debug_watchdog(30)
    assert.has_error(function() wd:reset(-1) end)
  end)
end)

describe("strand.busted.run", function()
  it("passes a function that ends cleanly", function()
    assert.same({true}, {sb.run(function()
      local t = strand.Thread{target = function() return 1 end}
      t:start(); t:join(10)
    end)})
  end)

  it("fails a deadlock after the limit, reporting each thread", function()
    local t0 = strand.monotonic()
    local ok, msg = sb.run(function()
      local t = strand.Thread{target = sleeper, name = "stuck-worker"}
      t:start()
      -- the 0.2 s limit starts once the worker is seen in its sleep: a slow
      -- thread start must not make the report catch it elsewhere
      assert(eventually(function()
        local r = t.native_id and record_of(t.native_id)
        return r ~= nil and r.waiting
      end))
      sb.timeout(0.2)
      t:join()
    end, {timeout = 30, scale = 1})
    assert.is_false(ok)
    assert.truthy(strand.monotonic() - t0 < 10)
    assert.matches("timed out after 0%.2 s", msg)
    assert.matches("MainThread %(tid %d+%): blocked in a strand wait", msg)
    assert.matches("in method 'join'", msg)
    assert.matches("stuck%-worker %(tid %d+%): blocked in a strand wait", msg)
    assert.matches("in function 'strand.sleep'", msg)
    assert.equal(1, alive_count()) -- cleaned up
  end)

  it("returns the function's own error, with where it was raised", function()
    local ok, msg = sb.run(function() error({}) end)
    assert.is_false(ok)
    assert.is_table(msg)
    ok, msg = sb.run(function() error("plain", 0) end)
    assert.is_false(ok)
    assert.equal("plain", msg)
  end)

  it("fails and cleans up a thread left running", function()
    local ok, msg = sb.run(function()
      local t = strand.Thread{target = sleeper, name = "left-behind"}
      t:start()
      assert(eventually(function() return t.native_id ~= nil end)) -- its tid is in the report
    end, {join_grace = 0.05})
    assert.is_false(ok)
    assert.matches("left 1 thread%(s%)/process%(es%) running", msg)
    assert.matches("thread left%-behind %(tid %d+%); cancelled", msg)
    assert.equal(1, alive_count())
  end)

  it("fails and ends a process pool left running", function()
    local ok, msg = sb.run(function()
      local pool = strand.Pool(1)
      assert.equal(4, pool:apply(function(x) return x * x end, {2}))
    end, {join_grace = 0.05})
    assert.is_false(ok)
    assert.matches("child process %S+ %(pid %d+%), not a strand%.Process", msg)
    assert.equal(0, #strand.debug_children())
  end)

  it("lets a thread that ends on its own finish within join_grace", function()
    assert.is_true((sb.run(function()
      strand.Thread{target = function() strand.sleep(0.01) end}:start()
    end, {join_grace = 10})))
  end)

  it("fails an arena object kept past the end", function()
    local keep
    local ok, msg = sb.run(function() keep = strand.Thread{target = sleeper} end, {join_grace = 0})
    assert.is_false(ok)
    assert.matches("left 1 arena block", msg)
    keep = nil
    assert.is_true((sb.run(function() keep = nil end, {arena = false})))
  end)

  it("checks its options", function()
    assert.has_error(function() sb.run(function() end, {timeuot = 1}) end,
                     "strand.busted: unknown option 'timeuot'")
    assert.has_error(function() sb.run(function() end, {timeout = "1"}) end,
                     "strand.busted: option 'timeout' must be a number")
    assert.has_error(function() sb.run(function() end, {timeout = -1}) end,
                     "strand.busted: option 'timeout' must be >= 0")
    assert.has_error(function() sb.run(5) end, "strand.busted.run: function expected")
    assert.has_error(function() sb.configure(5) end, "strand.busted: options must be a table")
  end)

  it("takes a new limit from sb.timeout inside the guard", function()
    local ok, msg = sb.run(function()
      sb.timeout(0.05)
      strand.sleep(30)
    end, {timeout = 30, scale = 1})
    assert.is_false(ok)
    assert.matches("timed out after 0%.05 s", msg)
    assert.has_error(function() sb.timeout(-1) end,
                     "strand.busted.timeout: seconds must be a non-negative number")
  end)

  it("lets the outer guard go on after an inner one fired", function()
    assert.is_false((sb.run(function() strand.sleep(30) end, {timeout = 0.05})))
    strand.sleep(0.01) -- not cancelled: the inner watchdog's interrupt is gone
  end)
end)

describe("strand.busted in busted", function()
  local tests, code
  lazy_setup(function()
    tests, code = nested("spec/busted_fixtures/guarded.lua")
  end)

  it("runs the fixture to the end and fails the run", function()
    assert.equal(1, code)
    assert.is_table(tests["guarded passes after all that"])
  end)

  it("fails a test blocked forever, with what each thread waits on", function()
    local t = tests["guarded times out joining a worker that sleeps forever"]
    assert.is_false(t.ok)
    assert.matches("guarded%.lua:%d+: test timed out after 0%.5 s", t.text)
    assert.matches("MainThread %(tid %d+%): blocked in a strand wait\n +at %[C%]: in method 'join'", t.text)
    assert.matches("sleeper %(tid %d+%): blocked in a strand wait\n +at %[C%]: in function 'strand.sleep'", t.text)
    assert.matches("at spec/busted_fixtures/guarded%.lua:%d+", t.text)
  end)

  it("fails a busy loop after the limit", function()
    local t = tests["guarded times out in a busy loop"]
    assert.is_false(t.ok)
    assert.matches("MainThread %(tid %d+%): running", t.text)
  end)

  it("fails a test that leaves a thread running", function()
    local t = tests["guarded leaves a thread running"]
    assert.is_false(t.ok)
    assert.matches("left 1 thread%(s%)/process%(es%) running:\n +thread forgotten", t.text)
  end)

  it("keeps an assertion's message and adds what it cleaned up", function()
    local t = tests["guarded fails an assertion and leaves a thread"]
    assert.is_false(t.ok)
    assert.matches("guarded%.lua:%d+: Expected objects to be equal", t.text)
    assert.matches("also cleaned up:\n +thread also%-forgotten", t.text)
  end)

  it("fails a test that keeps an arena object", function()
    local t = tests["guarded keeps an arena object past the test"]
    assert.is_false(t.ok)
    assert.matches("left 1 arena block", t.text)
  end)

  it("counts cleanup in finally as cleanup", function()
    assert.is_true(tests["guarded cleans up in finally"].ok)
  end)

  it("applies sb.timeout even when the test catches the cancel", function()
    local t = tests["guarded gets a shorter limit from sb.timeout, even when it catches the cancel"]
    assert.is_false(t.ok)
    assert.matches("timed out after 0%.1 s", t.text)
  end)

  it("lets a test allow its leftovers, and still cleans them up", function()
    assert.is_true(tests["guarded may leave a thread when it says so"].ok)
    assert.is_true(tests["guarded passes after all that"].ok)
  end)

  it("ends a run whose test ignores every cancel, with a report", function()
    local _, exit, out = nested("spec/busted_fixtures/stuck.lua")
    assert.equal(124, exit)
    assert.matches("not ok %- strand watchdog: test did not stop after its time limit", out)
    assert.matches("did not respond to cancel", out)
  end)
end)

describe("the README's producer/consumer spec", function()
  it("passes the working pipeline and fails the deadlocked one, saying who waits where", function()
    local f = assert(io.open("README.md"))
    local readme = f:read("a")
    f:close()
    local section = assert(readme:match("\n## Testing concurrent code with busted\n(.-)\n## "))
    local spec = assert(section:match("```lua\n(.-)```"), "the section has a spec")
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/spec"))
    finally(function() os.execute("rm -rf " .. dir) end)
    local w = assert(io.open(dir .. "/spec/pipeline_spec.lua", "w"))
    w:write(spec)
    w:close()
    -- as the README runs it: no helper, strand.busted found on LUA_PATH
    local bin = os.getenv("STRAND_BIN") or "build/strand"
    local p = io.popen(("root=$(pwd); bin=$(cd $(dirname %s) && pwd)/$(basename %s); cd %s && "
                        .. "LUA_PATH=\"$root/lua/?.lua;;\" STRAND_BUSTED_SCALE=1 $bin /usr/bin/busted -o TAP spec/ 2>&1")
                       :format(bin, bin, dir))
    local out = p:read("a")
    p:close()
    assert.matches("\nok 1 %- a producer/consumer pipeline sums the squares of 1%.%.100\n", "\n" .. out)
    assert.matches("not ok 2 %- a producer/consumer pipeline deadlocks when the producer forgets the end marker", out)
    assert.matches("test timed out after 2 s", out)
    assert.matches("MainThread %(tid %d+%): blocked in a strand wait\n#%s+at %[C%]: in method 'join'", out)
    assert.matches("consumer %(tid %d+%): blocked in a strand wait\n#%s+at %[C%]: in method 'get'", out)
  end)
end)

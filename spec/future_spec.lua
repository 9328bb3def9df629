local strand = require "strand"
local futures = strand.futures

-- Completes futures from another thread, step by step: each step waits for
-- the main thread to acknowledge the previous one through a future, so the
-- order of completion is fixed without any sleep.
local function complete_in_order(fs, order, acks)
  local t = strand.Thread{target = function(fs, order, acks)
    for k, i in ipairs(order) do
      fs[i]:set_result(i * 10)
      if acks[k] then acks[k]:result(10) end
    end
  end, args = {fs, order, acks}}
  t:start()
  return t
end

describe("Future", function()
  it("is in strand.futures and starts pending", function()
    assert.equal(strand.Future, futures.Future)
    local f = strand.Future()
    assert.is_false(f:done()); assert.is_false(f:running()); assert.is_false(f:cancelled())
    assert.truthy(tostring(f):find("state=pending"))
  end)

  it("carries every value of set_result", function()
    local f = strand.Future()
    assert.is_true(f:set_running_or_notify_cancel())
    assert.is_true(f:running())
    f:set_result(1, nil, "three", {4})
    assert.is_true(f:done())
    local a, b, c, d = f:result()
    assert.equal(1, a); assert.is_nil(b); assert.equal("three", c); assert.same({4}, d)
    assert.is_nil(f:exception())
    assert.truthy(tostring(f):find("finished returned"))
  end)

  it("raises what set_exception stored, and exception() returns it", function()
    local f = strand.Future()
    f:set_exception(strand.is_error and {kind = "Mine", message = "bad"} or "bad")
    local ok, e = pcall(f.result, f)
    assert.is_false(ok)
    assert.equal("bad", e.message)
    assert.equal("bad", f:exception().message)
    assert.truthy(tostring(f):find("finished raised"))
  end)

  it("refuses a second outcome", function()
    local f = strand.Future()
    f:set_result(1)
    local ok, e = pcall(f.set_result, f, 2)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "InvalidStateError"))
    ok, e = pcall(f.set_exception, f, "x")
    assert.is_false(ok); assert.is_true(strand.is_error(e, "InvalidStateError"))
    assert.equal(1, f:result())
  end)

  it("cancels while pending, not once finished", function()
    local f = strand.Future()
    assert.is_true(f:cancel())
    assert.is_true(f:cancelled()); assert.is_true(f:done())
    assert.is_false(f:set_running_or_notify_cancel())
    local ok, e = pcall(f.result, f)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "Cancelled"))
    ok, e = pcall(f.exception, f)
    assert.is_true(strand.is_error(e, "Cancelled"))
    local g = strand.Future()
    g:set_result(5)
    assert.is_false(g:cancel())
    assert.equal(5, g:result())
  end)

  it("times out in result and exception", function()
    local f = strand.Future()
    local t0 = strand.monotonic()
    local ok, e = pcall(f.result, f, 0.05)
    assert.is_false(ok); assert.is_true(strand.is_error(e, "Timeout"))
    assert.is_true(strand.monotonic() - t0 >= 0.04)
    ok, e = pcall(f.exception, f, 0.01)
    assert.is_true(strand.is_error(e, "Timeout"))
  end)

  it("wakes a waiter in another thread", function()
    local f = strand.Future()
    local t = strand.Thread{target = function(f) return f:result(10) end, args = {f}}
    t:start()
    f:set_result("hello")
    assert.is_true(t:join(10))
    assert.equal("hello", t:result())
  end)

  it("checks its arguments", function()
    assert.has_error(function() strand.Future():add_done_callback(5) end)
    assert.has_error(function() strand.Future().result(5) end)
    assert.has_error(function() strand.Future():result("soon") end)
  end)
end)

describe("Future done callbacks", function()
  it("run at once when the future is already done", function()
    local f = strand.Future()
    f:set_result(3)
    local got
    f:add_done_callback(function(fut) got = fut:result() end)
    assert.equal(3, got)
  end)

  it("run in the adding state at its next futures call, not before", function()
    local f = strand.Future()
    local calls = {}
    f:add_done_callback(function(fut) calls[#calls + 1] = fut:result() end)
    f:add_done_callback(function() calls[#calls + 1] = "second" end)
    -- completed by another thread; Thread:join is not a futures call
    local t = strand.Thread{target = function(f) f:set_result(42) end, args = {f}}
    t:start(); assert.is_true(t:join(10))
    assert.same({}, calls)
    assert.is_true(f:done()) -- any Future method runs pending callbacks
    assert.same({42, "second"}, calls)
  end)

  it("get the future itself, cancelled ones included", function()
    local f = strand.Future()
    local seen
    f:add_done_callback(function(fut) seen = fut end)
    f:cancel()
    assert.equal(f, seen)
    assert.is_true(seen:cancelled())
  end)

  it("report an error in a callback and go on with the others", function()
    local f = strand.Future()
    local ran = false
    f:add_done_callback(function() error("callback failed") end)
    f:add_done_callback(function() ran = true end)
    f:set_result(1)
    assert.is_true(ran)
  end)
end)

describe("futures.as_completed", function()
  it("yields the futures in the order they complete", function()
    local fs = {strand.Future(), strand.Future(), strand.Future()}
    local acks = {strand.Future(), strand.Future()}
    local t = complete_in_order(fs, {3, 1, 2}, acks)
    local got = {}
    for f in futures.as_completed(fs, 10) do
      got[#got + 1] = f:result()
      if acks[#got] then acks[#got]:set_result(true) end
    end
    assert.same({30, 10, 20}, got)
    assert.is_true(t:join(10))
  end)

  it("yields those already done first, and each future once", function()
    local a, b, go = strand.Future(), strand.Future(), strand.Future()
    b:set_result("b")
    local t = strand.Thread{target = function(a, go) go:result(10); a:set_result("a") end, args = {a, go}}
    t:start()
    local got = {}
    for f in futures.as_completed({a, b, a, b}, 10) do
      got[#got + 1] = f:result()
      if not go:done() then go:set_result(true) end
    end
    assert.same({"b", "a"}, got)
    t:join(10)
  end)

  it("returns the very handles it was given", function()
    local f = strand.Future()
    f:set_result(1)
    for g in futures.as_completed({f}) do assert.equal(rawequal(f, g), true) end
  end)

  it("raises Timeout naming how many are unfinished", function()
    local done, pending = strand.Future(), strand.Future()
    done:set_result(1)
    local n = 0
    local ok, e = pcall(function()
      for _ in futures.as_completed({done, pending, strand.Future()}, 0.05) do n = n + 1 end
    end)
    assert.is_false(ok)
    assert.equal(1, n)
    assert.is_true(strand.is_error(e, "Timeout"))
    assert.truthy(e.message:find("2 %(of 3%) futures unfinished"))
  end)

  it("can be left early; the futures stay usable", function()
    local fs = {strand.Future(), strand.Future()}
    fs[1]:set_result(1)
    for f in futures.as_completed(fs) do break end
    collectgarbage()
    fs[2]:set_result(2) -- its waiter is gone: nothing to notify
    assert.equal(2, fs[2]:result())
  end)

  it("refuses what is not a future", function()
    local ok, e = pcall(futures.as_completed, {strand.Future(), 5})
    assert.is_false(ok)
    assert.truthy(tostring(e):find("fs%[2%]"))
    assert.has_error(function() futures.as_completed(5) end)
  end)

  it("handles an empty list", function()
    local n = 0
    for _ in futures.as_completed({}) do n = n + 1 end
    assert.equal(0, n)
  end)
end)

describe("futures.wait", function()
  it("has Python's constants", function()
    assert.equal("FIRST_COMPLETED", futures.FIRST_COMPLETED)
    assert.equal("FIRST_EXCEPTION", futures.FIRST_EXCEPTION)
    assert.equal("ALL_COMPLETED", futures.ALL_COMPLETED)
  end)

  it("waits for all by default and returns done and not_done sets", function()
    local fs = {strand.Future(), strand.Future(), strand.Future()}
    local t = complete_in_order(fs, {2, 3, 1}, {})
    local done, not_done = futures.wait(fs, 10)
    assert.equal(3, #done); assert.equal(0, #not_done)
    for _, f in ipairs(fs) do assert.is_true(done[f]) end
    t:join(10)
  end)

  it("returns at the first completion with FIRST_COMPLETED", function()
    local fs = {strand.Future(), strand.Future()}
    local t = strand.Thread{target = function(f) f:set_result(1) end, args = {fs[2]}}
    t:start()
    local done, not_done = futures.wait(fs, 10, futures.FIRST_COMPLETED)
    assert.is_true(done[fs[2]]); assert.equal(1, #done)
    assert.is_true(not_done[fs[1]]); assert.equal(fs[1], not_done[1])
    t:join(10)
  end)

  it("returns at the first error with FIRST_EXCEPTION", function()
    local ok, failing, pending = strand.Future(), strand.Future(), strand.Future()
    ok:set_result(1)
    local t = strand.Thread{target = function(f) f:set_exception("broken") end, args = {failing}}
    t:start()
    local done, not_done = futures.wait({ok, failing, pending}, 10, futures.FIRST_EXCEPTION)
    assert.is_true(done[ok]); assert.is_true(done[failing]); assert.is_true(not_done[pending])
    t:join(10)
  end)

  it("acts as ALL_COMPLETED under FIRST_EXCEPTION when nothing fails", function()
    local fs = {strand.Future(), strand.Future()}
    fs[1]:set_result(1)
    local t = strand.Thread{target = function(f) f:set_result(2) end, args = {fs[2]}}
    t:start()
    local done = futures.wait(fs, 10, "FIRST_EXCEPTION")
    assert.equal(2, #done)
    t:join(10)
  end)

  it("returns what is done when the timeout passes", function()
    local a, b = strand.Future(), strand.Future()
    a:set_result(1)
    local t0 = strand.monotonic()
    local done, not_done = futures.wait({a, b}, 0.05)
    assert.is_true(strand.monotonic() - t0 >= 0.04)
    assert.is_true(done[a]); assert.is_true(not_done[b])
  end)

  it("counts cancelled futures as done", function()
    local a = strand.Future()
    a:cancel()
    local done = futures.wait({a}, 1)
    assert.is_true(done[a])
  end)

  it("checks return_when", function()
    assert.has_error(function() futures.wait({}, 1, "SOMETIMES") end)
  end)
end)

-- Run by spec/busted_helper_spec.lua in a nested busted: tests that hang,
-- leak or fail on purpose, to check what strand.busted reports. Not a spec
-- of its own (the name does not end in _spec).
local strand = require "strand"
local sb = require "strand.busted"
sb.configure{timeout = 0.5, join_grace = 0.2, scale = 1}

local function sleeper() strand.sleep(1e6) end

describe("guarded", function()
  it("keeps an arena object past the test", function()
    _G.kept_thread_object = strand.Thread{target = sleeper}
  end)

  it("times out joining a worker that sleeps forever", function()
    sb.timeout(30)
    local t = strand.Thread{target = sleeper, name = "sleeper"}
    t:start()
    -- the 0.5 s limit starts once the worker is seen in its sleep (bounded
    -- wait): a slow thread start must not make the report catch it elsewhere
    local deadline = strand.monotonic() + 20
    while strand.monotonic() < deadline and not (function()
      for _, r in ipairs(strand.debug_threads()) do
        if r.tid == t.native_id then return r.waiting end
      end
    end)() do strand.sleep(0.01) end
    sb.timeout(0.5)
    t:join()
  end)

  it("times out in a busy loop", function()
    local n = 0
    while true do n = n + 1 end
  end)

  it("leaves a thread running", function()
    strand.Thread{target = sleeper, name = "forgotten"}:start()
  end)

  it("fails an assertion and leaves a thread", function()
    strand.Thread{target = sleeper, name = "also-forgotten"}:start()
    assert.equal(1, 2)
  end)

  it("cleans up in finally", function()
    _G.kept_thread_object = nil
    local t = strand.Thread{target = sleeper, name = "finally-cancelled"}
    t:start()
    finally(function() t:cancel(); t:join(5) end)
  end)

  it("gets a shorter limit from sb.timeout, even when it catches the cancel", function()
    sb.timeout(0.1)
    assert.is_false(pcall(strand.sleep, 5))
  end)

  it("may leave a thread when it says so", function()
    sb.allow_leftovers()
    strand.Thread{target = sleeper, name = "allowed"}:start()
  end)

  it("passes after all that", function()
    local names = {}
    for _, t in ipairs(strand.threading.enumerate()) do
      if t:is_alive() then names[#names + 1] = t.name end
    end
    assert.same({"MainThread"}, names)
  end)
end)

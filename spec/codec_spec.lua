local strand = require "strand"

local function rt(...) return strand.decode(strand.encode(...)) end

describe("codec", function()
  it("carries scalars exactly", function()
    local a, b, c, d, e = rt(nil, true, false, math.maxinteger, math.mininteger)
    assert.is_nil(a); assert.is_true(b); assert.is_false(c)
    assert.equal(math.maxinteger, d); assert.equal(math.mininteger, e)
    assert.equal(math.type(rt(3)), "integer")
    assert.equal(math.type(rt(3.0)), "float")
    assert.equal(1/0, rt(1/0)); assert.equal(-1/0, rt(-1/0))
    local nan = rt(0/0); assert.is_true(nan ~= nan)
    assert.equal(-1/0, 1 / rt(-0.0))
    assert.equal(0.1 + 0.2, rt(0.1 + 0.2))
  end)

  it("carries binary strings, empty and large", function()
    local s = "a\0b\255" .. string.rep("x", 1000)
    assert.equal(s, rt(s)); assert.equal("", rt(""))
    local big = string.rep("0123456789", 10 * 1024 * 1024) -- 100 MB
    assert.equal(#big, #rt(big))
  end)

  it("keeps shared sub-tables and cycles", function()
    local shared = {1, 2}
    local t = {a = shared, b = shared, list = {10, 20, 30}, [1.5] = "f", [true] = "t"}
    t.self = t
    local u = rt(t)
    assert.equal(u, u.self); assert.equal(u.a, u.b)
    assert.same({1, 2}, u.a); assert.same({10, 20, 30}, u.list)
    assert.equal("f", u[1.5]); assert.equal("t", u[true])
  end)

  it("keeps holes in arrays", function()
    local u = rt({1, nil, 3, [10] = 10})
    assert.equal(1, u[1]); assert.is_nil(u[2]); assert.equal(3, u[3]); assert.equal(10, u[10])
  end)

  it("carries functions with upvalues, recursion and shared upvalues", function()
    local n = 10
    local function fact(k) if k <= 1 then return 1 end return k * fact(k - 1) end
    local f = rt(function() return fact(n) end)
    assert.equal(3628800, f())
    local count = 0
    local inc = function() count = count + 1; return count end
    local get = function() return count end
    local t = rt({inc = inc, get = get})
    t.inc(); t.inc()
    assert.equal(2, t.get())
  end)

  it("binds _ENV of a function to the receiver's globals", function()
    local f = rt(function() return type(print), string.rep("a", 2) end)
    assert.equal("function", (f()))
    assert.equal("aa", select(2, f()))
  end)

  it("sends standard C functions and modules by name", function()
    local p, fmt, m, s = rt(print, string.format, math, strand)
    assert.equal(print, p); assert.equal(string.format, fmt)
    assert.equal(math, m); assert.equal(strand, s)
    assert.equal(strand.threading, (rt(strand.threading)))
  end)

  it("carries strand handles by reference", function()
    local t = strand.Thread{target = function() end}
    local u = rt({t})[1]
    assert.equal(t, u)
    assert.equal(t.name, u.name)
  end)

  it("names the path of what it cannot send", function()
    local ok, err = pcall(strand.encode, 1, {cb = coroutine.create(print)})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("value%[2%]%.cb: cannot send a coroutine"))
    ok, err = pcall(strand.encode, {io.stdout})
    assert.truthy(tostring(err):find("value%[1%]: cannot send a userdata"))
    ok, err = pcall(strand.encode, {f = function() return io.stdout end})
    assert.is_true(ok) -- io is a module: sent by name
    assert.is_true(strand.is_error(select(2, pcall(strand.encode, coroutine.running())), "TypeError"))
  end)

  it("refuses bytes that did not come from the codec, cleanly", function()
    local good = strand.encode({1, 2, 3}, "x", print)
    for cut = 0, #good - 1 do
      local ok, err = pcall(strand.decode, good:sub(1, cut))
      assert.is_false(ok); assert.is_true(strand.is_error(err, "ValueError"))
    end
    math.randomseed(42)
    for _ = 1, 2000 do
      local n = math.random(0, 200)
      local b = {}
      for i = 1, n do b[i] = string.char(math.random(0, 255)) end
      local ok = pcall(strand.decode, table.concat(b))
      assert.is_false(ok)
    end
    -- flipping any byte of a real message is refused too
    for i = 1, #good do
      local bad = good:sub(1, i - 1) .. string.char((good:byte(i) + 1) % 256) .. good:sub(i + 1)
      assert.is_false((pcall(strand.decode, bad)))
    end
    assert.is_false((pcall(strand.decode, 42)))
  end)

  it("keeps strand errors as errors", function()
    local ok, e = pcall(strand.error, "Empty", "nothing")
    local u = rt(e)
    assert.is_true(strand.is_error(u, "Empty"))
    assert.equal("nothing", u.message)
  end)

  it("drops metatables of plain tables", function()
    local t = setmetatable({x = 1}, {__index = function() return 5 end})
    local u = rt(t)
    assert.is_nil(getmetatable(u)); assert.equal(1, u.x); assert.is_nil(u.y)
  end)
end)

local strand = require "strand"

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

describe("Array", function()
  it("is made from a size (zeros), a table, or a string for 'c'", function()
    local z = strand.Array("i", 4)
    assert.equal(4, #z)
    assert.same({0, 0, 0, 0}, z:totable())
    local a = strand.Array("d", {1.5, 2, -3})
    assert.same({1.5, 2.0, -3.0}, a:totable())
    local c = strand.Array("c", "hey")
    assert.same({"h", "e", "y"}, c:totable())
    assert.same({false, true}, strand.Array("?", {false, true}):totable())
    assert.equal(0, #strand.Array("b", 0))
    assert.equal(0, #strand.RawArray("b", {}))
  end)

  it("refuses bad sizes, typecodes and initializers, naming the element", function()
    assert.truthy(err_of(strand.Array, "i", -1):find("non%-negative"))
    assert.truthy(err_of(strand.Array, "i", 2.5):find("non%-negative"))
    assert.truthy(err_of(strand.Array, "i"):find("bad argument"))
    assert.truthy(err_of(strand.Array, "i", "abc"):find("size or table expected"))
    assert.truthy(err_of(strand.Array, "z", 3):find("bad typecode 'z'"))
    assert.truthy(err_of(strand.Array, "B", {1, 2, 256}):find("Array initializer%[3%]: 256 is out of range"))
    assert.truthy(err_of(strand.RawArray, "i", {1, "x"}):find("RawArray initializer%[2%]: integer expected"))
    assert.truthy(err_of(strand.Array, "i", math.maxinteger):find("too large"))
  end)

  it("indexes from 1, with clear errors outside 1..#a", function()
    local a = strand.Array("h", {10, 20, 30})
    assert.equal(10, a[1]); assert.equal(30, a[3])
    assert.is_nil(a[4]) -- the end of the sequence, as in a Lua table
    a[2] = -5; assert.equal(-5, a[2])
    assert.truthy(err_of(function() return a[0] end):find("index 0 out of range %(1..3%)"))
    assert.truthy(err_of(function() return a[5] end):find("index 5 out of range"))
    assert.truthy(err_of(function() return a[-1] end):find("out of range"))
    assert.truthy(err_of(function() return a[1.5] end):find("must be an integer"))
    assert.truthy(err_of(function() a[4] = 1 end):find("index 4 out of range"))
    assert.truthy(err_of(function() a[0] = 1 end):find("index 0 out of range"))
    assert.truthy(err_of(function() a[1] = 40000 end):find("a%[1%]: 40000 is out of range for typecode 'h'"))
    assert.truthy(err_of(function() a[3] = "x" end):find("a%[3%]: integer expected"))
    assert.same({10, -5, 30}, a:totable())
  end)

  it("checks every typecode's values", function()
    local a = strand.Array("c", 2)
    a[1] = "x"; assert.equal("x", a[1])
    assert.truthy(err_of(function() a[2] = "xy" end):find("one%-byte"))
    local b = strand.Array("?", 1)
    assert.truthy(err_of(function() b[1] = 0 end):find("boolean expected"))
    local f = strand.Array("f", 1)
    assert.truthy(err_of(function() f[1] = 1e300 end):find("out of range"))
    local Q = strand.Array("Q", 1)
    assert.truthy(err_of(function() Q[1] = -1 end):find("out of range"))
    Q[1] = math.maxinteger; assert.equal(math.maxinteger, Q[1])
  end)

  it("works with #, ipairs and pairs", function()
    local a = strand.Array("i", {5, 6, 7})
    local seen = {}
    for i, v in ipairs(a) do seen[i] = v end
    assert.same({5, 6, 7}, seen)
    seen = {}
    for i, v in pairs(a) do seen[i] = v end
    assert.same({5, 6, 7}, seen)
    assert.equal(3, #a)
  end)

  it("slices like string.sub: defaults, negative positions, clamping", function()
    local a = strand.Array("i", {1, 2, 3, 4, 5})
    assert.same({2, 3, 4}, a:slice(2, 4))
    assert.same({4, 5}, a:slice(4))
    assert.same({1, 2, 3, 4, 5}, a:slice())
    assert.same({4, 5}, a:slice(-2))
    assert.same({2, 3, 4}, a:slice(2, -2))
    assert.same({1, 2}, a:slice(-10, 2))
    assert.same({5}, a:slice(5, 99))
    assert.same({}, a:slice(4, 2))
  end)

  it("sets a run of elements all at once, or not at all", function()
    local a = strand.Array("b", {1, 2, 3, 4})
    a:set(2, {20, 30})
    assert.same({1, 20, 30, 4}, a:totable())
    a:set(5, {}) -- nothing, just past the end
    assert.truthy(err_of(a.set, a, 3, {7, 8, 9}):find("out of range"))
    assert.truthy(err_of(a.set, a, 0, {7}):find("out of range"))
    assert.truthy(err_of(a.set, a, 1, {7, 8, 300}):find("a%[3%]: 300 is out of range"))
    assert.truthy(err_of(a.set, a, 1, 5):find("table expected"))
    assert.same({1, 20, 30, 4}, a:totable())
  end)

  it("prints its typecode and elements", function()
    assert.equal("Array('i', {1, 2, 3})", tostring(strand.Array("i", {1, 2, 3})))
    assert.equal([[RawArray('c', {"a", "b"})]], tostring(strand.RawArray("c", "ab")))
    local long = tostring(strand.Array("B", 100))
    assert.truthy(long:find("^Array%('B', {0, 0,"))
    assert.truthy(long:find("%.%.%. %(100 elements%)}%)$"))
  end)

  it("has element-wise atomic add, compare_and_set and exchange", function()
    local a = strand.RawArray("i", {1, 2, 3})
    assert.equal(11, a:add(1, 10))
    assert.is_true(a:compare_and_set(2, 2, 20))
    assert.is_false(a:compare_and_set(2, 2, 30))
    assert.equal(3, a:exchange(3, 33))
    assert.same({11, 20, 33}, a:totable())
    assert.truthy(err_of(a.add, a, 4, 1):find("index 4 out of range"))
    assert.truthy(err_of(a.add, a, 1, 2 ^ 31 // 1):find("would leave the range"))
    assert.equal(11, a[1])
    local d = strand.Array("d", {0.5})
    assert.equal(1.0, d:add(1, 0.5))
  end)

  describe("lock", function()
    it("has the same recursive lock every time; none for RawArray or lock=false", function()
      local a = strand.Array("i", 3)
      assert.equal(a:get_lock(), a:get_lock())
      assert.equal("strand.RLock", getmetatable(a:get_lock()).__name)
      local lk = strand.Lock()
      assert.equal(lk, strand.Array("i", 3, {lock = lk}):get_lock())
      assert.truthy(err_of(function() strand.RawArray("i", 3):get_lock() end):find("has no lock"))
      assert.truthy(err_of(function() strand.Array("i", 3, {lock = false}):get_lock() end):find("has no lock"))
    end)

    it("multi-element operations take the lock, unless this thread holds it", function()
      local lk = strand.Lock()
      local a = strand.Array("i", {1, 2, 3}, {lock = lk})
      lk:acquire()
      a:set(1, {7}) -- held by this thread: no self-deadlock, even with a plain Lock
      assert.same({7, 2, 3}, a:totable())
      local started, done = strand.Event(), strand.Event()
      local t = strand.Thread{target = function(a, started, done)
        started:set()
        local t = a:totable() -- waits for the lock
        done:set()
        return t[1]
      end, args = {a, started, done}}
      t:start()
      assert.is_true(started:wait(10))
      assert.is_false(done:wait(0.1)) -- still blocked on the lock we hold
      a[1] = 8 -- a single element needs no lock
      lk:release()
      assert.is_true(t:join(10))
      assert.equal(8, t:result())
    end)
  end)

  describe("across threads and processes", function()
    it("8 threads x 100,000 atomic adds on one element = exactly 800,000", function()
      local a = strand.RawArray("q", 3)
      local ts = {}
      for i = 1, 8 do
        ts[i] = strand.Thread{target = function(a, n) for _ = 1, n do a:add(2, 1) end end, args = {a, 100000}}
        ts[i]:start()
      end
      for i = 1, 8 do assert.is_true(ts[i]:join(60)) end
      assert.same({0, 800000, 0}, a:totable())
    end)

    it("8 processes x 100,000 atomic adds on one element = exactly 800,000", function()
      local a = strand.RawArray("i", 2)
      local ps = {}
      for i = 1, 8 do
        ps[i] = strand.Process{target = function(a, n) for _ = 1, n do a:add(1, 1) end end, args = {a, 100000}}
        ps[i]:start()
      end
      for i = 1, 8 do assert.is_true(ps[i]:join(60)); assert.equal(0, ps[i].exitcode) end
      assert.same({800000, 0}, a:totable())
    end)

    it("a child process's writes are seen by the parent (as Python's Array example)", function()
      local num, arr = strand.Value("d", 0.0), strand.Array("i", {1, 2, 3})
      local p = strand.Process{target = function(n, a)
        n.value = 3.1415927
        for i = 1, #a do a[i] = a[i] + 10 end
      end, args = {num, arr}}
      p:start()
      assert.is_true(p:join(30))
      assert.equal(3.1415927, num.value)
      assert.same({11, 12, 13}, arr:totable())
    end)
  end)
end)

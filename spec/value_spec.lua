local strand = require "strand"

local ranges = {
  b = {-128, 127}, B = {0, 255}, h = {-32768, 32767}, H = {0, 65535},
  i = {-2147483648, 2147483647}, I = {0, 4294967295},
  l = {math.mininteger, math.maxinteger}, L = {0, math.maxinteger},
  q = {math.mininteger, math.maxinteger}, Q = {0, math.maxinteger},
}

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

describe("Value", function()
  it("holds each integer typecode's whole range and refuses one past it", function()
    for tc, r in pairs(ranges) do
      local v = strand.Value(tc)
      assert.equal(0, v.value)
      assert.equal(tc, v.typecode)
      v.value = r[1]; assert.equal(r[1], v.value)
      v.value = r[2]; assert.equal(r[2], v.value)
      if r[1] > math.mininteger then
        assert.truthy(err_of(function() v.value = r[1] - 1 end):find("out of range for typecode '" .. tc .. "'", 1, true))
      end
      if r[2] < math.maxinteger then
        assert.truthy(err_of(function() v.value = r[2] + 1 end):find("out of range", 1, true))
      end
      assert.equal(r[2], v.value, "a refused write leaves the value unchanged (" .. tc .. ")")
      assert.truthy(err_of(strand.Value, tc, r[2] + (r[2] < math.maxinteger and 1 or 0.5)))
    end
  end)

  it("refuses values of the wrong type, keeping the old one", function()
    local v = strand.Value("i", 7)
    assert.truthy(err_of(function() v.value = 1.5 end):find("no integer representation"))
    assert.truthy(err_of(function() v.value = "3" end):find("integer expected"))
    assert.truthy(err_of(function() v.value = true end):find("integer expected"))
    assert.truthy(err_of(function() v.value = nil end):find("integer expected"))
    assert.equal(7, v.value)
    v.value = 3.0 -- a float with an integer value is that integer
    assert.equal(3, v.value); assert.equal("integer", math.type(v.value))
  end)

  it("keeps doubles exactly and rounds floats to single precision", function()
    local d = strand.Value("d", 0.1)
    assert.equal(0.1, d.value)
    d.value = math.huge; assert.equal(math.huge, d.value)
    d.value = -0.0; assert.equal("-0.0", tostring(d.value))
    d.value = 0 / 0; assert.is_true(d.value ~= d.value)
    local f = strand.Value("f", 0.1)
    assert.is_true(f.value ~= 0.1 and math.abs(f.value - 0.1) < 1e-7)
    f.value = 1.5; assert.equal(1.5, f.value)
    f.value = -math.huge; assert.equal(-math.huge, f.value)
    assert.truthy(err_of(function() f.value = 1e39 end):find("out of range for typecode 'f'"))
    assert.truthy(err_of(function() f.value = "x" end):find("number expected"))
    assert.equal(-math.huge, f.value)
    assert.equal(2, strand.Value("d", 2).value)
  end)

  it("holds one byte for 'c' and a boolean for '?'", function()
    local c = strand.Value("c", "a")
    assert.equal("a", c.value)
    c.value = "\0"; assert.equal("\0", c.value)
    assert.truthy(err_of(function() c.value = "ab" end):find("one%-byte string"))
    assert.truthy(err_of(function() c.value = "" end):find("one%-byte string"))
    assert.truthy(err_of(function() c.value = 65 end):find("one%-byte string"))
    assert.equal("\0", c.value)
    assert.equal("\0", strand.Value("c").value)
    local b = strand.Value("?")
    assert.is_false(b.value)
    b.value = true; assert.is_true(b.value)
    assert.truthy(err_of(function() b.value = 1 end):find("boolean expected"))
    assert.is_true(b.value)
  end)

  it("refuses bad typecodes clearly", function()
    for _, tc in ipairs({"x", "ii", "", 5}) do
      assert.truthy(err_of(strand.Value, tc, 0):find("bad typecode"))
    end
    assert.truthy(err_of(strand.RawValue):find("bad typecode"))
    assert.truthy(err_of(strand.Value, "i", 0, {lock = 5}):find("lock must be"))
  end)

  it("prints as Value(typecode, value)", function()
    assert.equal("Value('i', 42)", tostring(strand.Value("i", 42)))
    assert.equal("RawValue('d', 1.5)", tostring(strand.RawValue("d", 1.5)))
    assert.equal([[Value('c', "x")]], tostring(strand.Value("c", "x")))
    assert.equal("Value('?', true)", tostring(strand.Value("?", true)))
  end)

  describe("get_lock", function()
    it("returns the same recursive lock every time", function()
      local v = strand.Value("i", 0)
      local l = v:get_lock()
      assert.equal(l, v:get_lock())
      assert.equal("strand.RLock", getmetatable(l).__name)
      assert.is_true(l:acquire()); assert.is_true(l:acquire()) -- an RLock, as Python's
      v.value = v.value + 1 -- .value does not take the lock: no deadlock
      l:release(); l:release()
      assert.equal(1, v.value)
    end)

    it("works with a <close> guard", function()
      local v = strand.Value("i", 0)
      do
        local _ <close> = v:get_lock():hold()
        assert.is_true(v:get_lock():is_owned())
        v.value = v.value + 1
      end
      assert.is_false(v:get_lock():locked())
    end)

    it("uses a lock it is given, and none for lock=false and RawValue", function()
      local lk = strand.Lock()
      local v = strand.Value("i", 0, {lock = lk})
      assert.equal(lk, v:get_lock())
      assert.equal(lk, strand.Value("i", 0, lk):get_lock())
      local r = strand.RLock()
      assert.equal(r, strand.Value("q", 0, {lock = r}):get_lock())
      assert.equal("strand.RLock", getmetatable(strand.Value("i", 0, {lock = true}):get_lock()).__name)
      assert.truthy(err_of(function() strand.Value("i", 0, {lock = false}):get_lock() end):find("has no lock"))
      assert.truthy(err_of(function() strand.RawValue("i", 0):get_lock() end):find("has no lock"))
    end)
  end)

  describe("atomic operations", function()
    it("add returns the new value; overflow is an error that changes nothing", function()
      local v = strand.RawValue("b", 120)
      assert.equal(125, v:add(5))
      assert.equal(-3, v:add(-128))
      assert.truthy(err_of(v.add, v, -126):find("would leave the range"))
      assert.equal(-3, v.value)
      local q = strand.Value("q", math.maxinteger - 1)
      assert.equal(math.maxinteger, q:add(1))
      assert.truthy(err_of(q.add, q, 1):find("would leave the range"))
      assert.equal(math.maxinteger, q.value)
      local u = strand.Value("I", 0)
      assert.truthy(err_of(u.add, u, -1):find("would leave the range"))
      assert.truthy(err_of(u.add, u, 0.5):find("integer"))
      assert.equal(0, u.value)
    end)

    it("add works on floats and refuses chars and booleans", function()
      local d = strand.Value("d", 1.5)
      assert.equal(2.0, d:add(0.5))
      local f = strand.Value("f", 1)
      assert.equal(1.25, f:add(0.25))
      assert.truthy(err_of(function() strand.Value("c", "a"):add(1) end):find("add needs a number typecode"))
      assert.truthy(err_of(function() strand.Value("?"):add(1) end):find("add needs a number typecode"))
    end)

    it("compare_and_set writes only over the expected value", function()
      local v = strand.Value("i", 5)
      assert.is_false(v:compare_and_set(4, 9)); assert.equal(5, v.value)
      assert.is_true(v:compare_and_set(5, 9)); assert.equal(9, v.value)
      assert.is_false(v:compare_and_set(2 ^ 40 // 1, 1)) -- an impossible old value never matches
      assert.truthy(err_of(v.compare_and_set, v, 9, 2 ^ 40 // 1):find("out of range"))
      assert.equal(9, v.value)
      local d = strand.Value("d", 0.0)
      assert.is_true(d:compare_and_set(-0.0, 1.5)) -- floats compare as numbers
      local c = strand.Value("c", "a")
      assert.is_true(c:compare_and_set("a", "b")); assert.equal("b", c.value)
      local b = strand.Value("?", false)
      assert.is_true(b:compare_and_set(false, true)); assert.is_false(b:compare_and_set(false, true))
    end)

    it("exchange returns the old value", function()
      local v = strand.Value("H", 7)
      assert.equal(7, v:exchange(8)); assert.equal(8, v.value)
      assert.truthy(err_of(v.exchange, v, -1):find("out of range"))
      assert.equal(8, v.value)
      assert.equal("x", strand.Value("c", "x"):exchange("y"))
    end)
  end)

  describe("across threads", function()
    it("8 threads x 100,000 atomic adds = exactly 800,000", function()
      local v = strand.RawValue("i", 0)
      local ts = {}
      for i = 1, 8 do
        ts[i] = strand.Thread{target = function(v, n) for _ = 1, n do v:add(1) end end, args = {v, 100000}}
        ts[i]:start()
      end
      for i = 1, 8 do assert.is_true(ts[i]:join(60)) end
      assert.equal(800000, v.value)
    end)

    it("2 threads x 100,000 increments under get_lock() = exactly 200,000", function()
      local v = strand.Value("i", 0)
      local function work(v, n)
        local lock = v:get_lock()
        for _ = 1, n do
          lock:acquire(); v.value = v.value + 1; lock:release()
        end
      end
      local ts = {}
      for i = 1, 2 do ts[i] = strand.Thread{target = work, args = {v, 100000}}; ts[i]:start() end
      for i = 1, 2 do assert.is_true(ts[i]:join(60)) end
      assert.equal(200000, v.value)
    end)

    it("is the same object in the thread", function()
      local v = strand.Value("d", 1)
      local t = strand.Thread{target = function(v) v.value = v.value * 3; return v.typecode end, args = {v}}
      t:start(); t:join(10)
      assert.equal("d", t:result())
      assert.equal(3, v.value)
    end)
  end)

  describe("across processes", function()
    it("2 processes x 100,000 increments under get_lock() = exactly 200,000", function()
      local v = strand.Value("i", 0)
      local function work(v, n)
        for _ = 1, n do
          local _ <close> = v:get_lock():hold()
          v.value = v.value + 1
        end
      end
      local ps = {}
      for i = 1, 2 do ps[i] = strand.Process{target = work, args = {v, 100000}}; ps[i]:start() end
      for i = 1, 2 do assert.is_true(ps[i]:join(60)); assert.equal(0, ps[i].exitcode) end
      assert.equal(200000, v.value)
    end)

    it("8 processes x 100,000 atomic adds = exactly 800,000", function()
      local v = strand.RawValue("q", 0)
      local ps = {}
      for i = 1, 8 do
        ps[i] = strand.Process{target = function(v, n) for _ = 1, n do v:add(1) end end, args = {v, 100000}}
        ps[i]:start()
      end
      for i = 1, 8 do assert.is_true(ps[i]:join(60)); assert.equal(0, ps[i].exitcode) end
      assert.equal(800000, v.value)
    end)

    it("4 threads in each of 2 processes: atomic adds from both at once", function()
      if os.getenv("SANITIZER") == "tsan" then
        return pending("TSan cannot start threads in a child forked from a threaded process")
      end
      local v = strand.RawValue("i", 0)
      local function four(v)
        local ts = {}
        for i = 1, 4 do
          ts[i] = strand.Thread{target = function(v) for _ = 1, 50000 do v:add(1) end end, args = {v}}
          ts[i]:start()
        end
        for i = 1, 4 do ts[i]:join() end
      end
      local p = strand.Process{target = four, args = {v}}
      p:start()
      four(v)
      assert.is_true(p:join(60))
      assert.equal(400000, v.value)
    end)
  end)
end)

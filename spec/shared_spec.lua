local strand = require "strand"

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return table.concat(ks, ",")
end

describe("shared dict", function()
  it("is reachable as strand.shared.dict and through a Manager", function()
    assert.equal(strand.shared_dict, strand.shared.dict)
    assert.equal(strand.shared_list, strand.shared.list)
    assert.equal(strand.shared_namespace, strand.shared.Namespace)
    assert.equal("strand.shared.dict", getmetatable(strand.Manager():dict()).__name)
  end)

  it("reads, writes, deletes with nil, and counts", function()
    local d = strand.shared.dict()
    assert.equal(0, #d)
    d.a = 1; d[2] = "two"; d[true] = false; d[1.5] = {x = 1}
    assert.equal(1, d.a); assert.equal("two", d[2]); assert.is_false(d[true]); assert.equal(1, d[1.5].x)
    assert.equal(4, #d)
    d[2.0] = "TWO" -- 2.0 and 2 are one key, as in Lua
    assert.equal("TWO", d[2]); assert.equal(4, #d)
    d.a = nil
    assert.is_nil(d.a); assert.equal(3, #d)
    d.missing = nil -- deleting what is not there is fine
    assert.equal(3, #d)
  end)

  it("is filled from a table and copies values in and out", function()
    local d = strand.shared.dict{a = {1, 2}, b = "x"}
    local t = {n = 1}
    d.t = t
    t.n = 2
    assert.equal(1, d.t.n, "stored tables are copies")
    local got = d.t
    got.n = 3
    assert.equal(1, d.t.n, "tables read back are copies too")
    assert.same({1, 2}, d.a)
  end)

  it("stores strand handles by reference", function()
    local d = strand.shared.dict()
    local v, inner = strand.Value("i", 1), strand.shared.dict()
    d.v = v; d.inner = inner
    d.v.value = 5
    assert.equal(5, v.value)
    d.inner.x = 42
    assert.equal(42, inner.x)
    assert.equal(inner, d.inner)
  end)

  it("stores functions and big strings", function()
    local d = strand.shared.dict()
    local base = 10
    d.f = function(x) return x + base end
    assert.equal(15, d.f(5))
    local big = string.rep("abc\0", 250000)
    d.big = big
    assert.equal(big, d.big)
  end)

  it("refuses keys and values it cannot hold, changing nothing", function()
    local d = strand.shared.dict{a = 1}
    assert.truthy(err_of(function() d[{}] = 1 end):find("key must be a string, number or boolean, got table"))
    assert.truthy(err_of(function() return d[print] end):find("key must be"))
    assert.truthy(err_of(function() d[0 / 0] = 1 end):find("NaN"))
    assert.truthy(err_of(function() d.a = coroutine.create(print) end):find("cannot send a coroutine"))
    assert.equal(1, d.a); assert.equal(1, #d)
  end)

  it("has get, set, pop, keys, values, totable, clear", function()
    local d = strand.shared.dict()
    d.first = 1; d.second = 2; d.third = 3
    assert.same({"first", "second", "third"}, d:keys()) -- insertion order
    assert.same({1, 2, 3}, d:values())
    assert.same({first = 1, second = 2, third = 3}, d:totable())
    assert.equal(2, d:get("second")); assert.equal("dflt", d:get("nope", "dflt")); assert.is_nil(d:get("nope"))
    d:set("keys", "a key named like a method") -- d.keys is the method; get/set reach the entry
    assert.equal("a key named like a method", d:get("keys"))
    assert.equal("function", type(d.keys))
    assert.equal(2, d:pop("second")); assert.equal("gone", d:pop("second", "gone"))
    assert.equal(3, #d)
    d:clear()
    assert.equal(0, #d); assert.same({}, d:totable())
  end)

  it("iterates with pairs over a snapshot", function()
    local d = strand.shared.dict{a = 1, b = 2, c = 3}
    local seen = {}
    for k, v in pairs(d) do
      seen[k] = v
      d[k .. k] = v -- writes during the loop are not seen by it
      d.c = nil
    end
    assert.same({a = 1, b = 2, c = 3}, seen)
    assert.equal("a,aa,b,bb,cc", sorted_keys(d:totable()))
    for _ in pairs(d) do break end -- breaking out releases the snapshot
  end)

  it("prints its entries", function()
    local d = strand.shared.dict()
    d.a = 1; d[2] = "x"
    assert.equal("shared.dict{a=1, [2]=x}", tostring(d))
  end)

  describe("update", function()
    it("replaces a value atomically and returns the new one; nil deletes", function()
      local d = strand.shared.dict()
      assert.equal(1, d:update("n", function(old) return (old or 0) + 1 end))
      assert.equal(2, d:update("n", function(old) return old + 1 end))
      assert.is_nil(d:update("n", function() return nil end))
      assert.is_nil(d.n); assert.equal(0, #d)
    end)

    it("releases the guard when the function fails, and re-raises", function()
      local d = strand.shared.dict{n = 1}
      assert.truthy(err_of(d.update, d, "n", function() error("boom") end):find("boom"))
      assert.equal(1, d.n)
      assert.equal(2, d:update("n", function(o) return o + 1 end))
      local t = strand.Thread{target = function(d) d.n = 10 end, args = {d}}
      t:start()
      assert.is_true(t:join(10), "a writer in another thread is not blocked")
      assert.equal(10, d.n)
    end)

    it("checks its arguments before taking the guard", function()
      local d = strand.shared.dict()
      assert.truthy(err_of(d.update, d, {}, function() end):find("key must be"))
      assert.truthy(err_of(d.update, d, "k", 5):find("function expected"))
      assert.equal(1, d:update("k", function() return 1 end))
    end)

    it("may write the same container from inside the function", function()
      local d = strand.shared.dict()
      d:update("a", function()
        d.b = "inner"
        return d:update("c", function() return 3 end)
      end)
      assert.same({a = 3, b = "inner", c = 3}, d:totable())
    end)

    it("makes other writers wait, but not readers; times out when asked", function()
      local d = strand.shared.dict{n = 0}
      local inside, go_on = strand.Event(), strand.Event()
      local t = strand.Thread{target = function(d, inside, go_on)
        return d:update("n", function(old)
          inside:set()
          go_on:wait(30)
          return old + 100
        end)
      end, args = {d, inside, go_on}}
      t:start()
      assert.is_true(inside:wait(10))
      assert.equal(0, d.n, "a reader sees the value before the update")
      local e = err_of(d.update, d, "n", function(o) return o + 1 end, 0.05)
      assert.truthy(e:find("Timeout"))
      local w = strand.Thread{target = function(d) d.n = -1 end, args = {d}}
      w:start()
      assert.is_false(w:join(0.1), "a writer waits for the update")
      go_on:set()
      assert.is_true(t:join(10)); assert.equal(100, t:result())
      assert.is_true(w:join(10))
      assert.equal(-1, d.n, "the writer went after the update")
    end)

    it("counts exactly with 4 threads x 2,000 updates", function()
      local d = strand.shared.dict()
      local ts = {}
      for i = 1, 4 do
        ts[i] = strand.Thread{target = function(d, i)
          for _ = 1, 2000 do
            d:update("total", function(o) return (o or 0) + 1 end)
            d:update("t" .. i, function(o) return (o or 0) + 1 end)
          end
        end, args = {d, i}}
        ts[i]:start()
      end
      for i = 1, 4 do assert.is_true(ts[i]:join(60)) end
      assert.same({total = 8000, t1 = 2000, t2 = 2000, t3 = 2000, t4 = 2000}, d:totable())
    end)
  end)

  it("a dict updated by 4 processes ends with exact counts", function()
    local counts = strand.shared.dict()
    local words = {"apple", "pear", "plum"}
    local function work(counts, words, n)
      for i = 1, n do
        local w = words[i % #words + 1]
        counts:update(w, function(c) return (c or 0) + 1 end)
      end
    end
    local ps = {}
    for i = 1, 4 do ps[i] = strand.Process{target = work, args = {counts, words, 3000}}; ps[i]:start() end
    for i = 1, 4 do assert.is_true(ps[i]:join(60)); assert.equal(0, ps[i].exitcode) end
    assert.same({apple = 4000, pear = 4000, plum = 4000}, counts:totable())
  end)

  it("a process killed inside update does not block the others", function()
    local d = strand.shared.dict{n = 1}
    local inside = strand.Event()
    local p = strand.Process{target = function(d, inside)
      d:update("n", function(o)
        inside:set()
        strand.sleep(60)
        return o + 1
      end)
    end, args = {d, inside}}
    p:start()
    assert.is_true(inside:wait(10))
    p:kill()
    assert.is_true(p:join(10))
    assert.equal(11, d:update("n", function(o) return o + 10 end, 10), "the dead holder's guard is taken over")
    d.m = 2
    assert.same({n = 11, m = 2}, d:totable())
  end)

  it("sees writes made by a child process, including new keys", function()
    local d = strand.shared.dict()
    local p = strand.Process{target = function(d)
      for i = 1, 1000 do d[i] = i * i end
      d.done = true
    end, args = {d}}
    p:start()
    assert.is_true(p:join(30))
    assert.equal(1001, #d); assert.is_true(d.done); assert.equal(250000, d[500])
  end)

  it("iteration while other threads write never crashes and sees whole entries", function()
    local d = strand.shared.dict()
    local stop = strand.RawValue("?", false)
    local writers = {}
    for w = 1, 2 do
      writers[w] = strand.Thread{target = function(d, stop, w)
        local i = 0
        while not stop.value do
          i = i + 1
          d[w * 1000000 + i % 500] = {w = w, i = i % 500}
          d[w * 1000000 + (i + 250) % 500] = nil
        end
      end, args = {d, stop, w}}
      writers[w]:start()
    end
    local loops, entries = 0, 0
    for _ = 1, 300 do
      for k, v in pairs(d) do
        entries = entries + 1
        assert.equal(k, v.w * 1000000 + v.i)
      end
      assert.is_true(#d <= 1000)
      loops = loops + 1
    end
    stop.value = true
    for w = 1, 2 do assert.is_true(writers[w]:join(30)) end
    assert.equal(300, loops)
  end)
end)

describe("shared list", function()
  it("appends, inserts, pops and indexes from 1", function()
    local l = strand.shared.list()
    assert.equal(0, #l)
    l:append("b"); l:append("d")
    l:insert(1, "a"); l:insert(3, "c"); l:insert(5, "e"); l:insert("f")
    assert.same({"a", "b", "c", "d", "e", "f"}, l:totable())
    assert.equal("a", l[1]); assert.equal("f", l[6]); assert.is_nil(l[7])
    assert.equal("f", l:pop()); assert.equal("a", l:pop(1)); assert.equal("d", l:pop(-2))
    assert.same({"b", "c", "e"}, l:totable())
    l[2] = {1, 2}
    assert.same({1, 2}, l[2])
    assert.equal(3, #l)
  end)

  it("is filled from a table; nil is a value; get has a default", function()
    local l = strand.shared.list{1, 2, 3}
    l:append(nil)
    assert.equal(4, #l)
    assert.is_nil(l[4])
    assert.equal(3, l:get(3)); assert.equal("d", l:get(9, "d")); assert.equal(3, l:get(-2))
    l:set(1, "one")
    assert.equal("one", l[1])
  end)

  it("gives clear errors for positions out of range, changing nothing", function()
    local l = strand.shared.list{1, 2}
    assert.truthy(err_of(function() return l[0] end):find("index 0 out of range %(1..2%)"))
    assert.truthy(err_of(function() return l[4] end):find("index 4 out of range"))
    assert.truthy(err_of(function() l[3] = 1 end):find("l:append"))
    assert.truthy(err_of(function() l[1.5] = 1 end):find("must be an integer"))
    assert.truthy(err_of(l.insert, l, 4, "x"):find("insert position 4 out of range %(1..3%)"))
    assert.truthy(err_of(l.insert, l, 0, "x"):find("out of range"))
    assert.truthy(err_of(l.pop, l, 3):find("IndexError"))
    assert.truthy(err_of(l.pop, strand.shared.list()):find("pop from an empty shared list"))
    assert.truthy(err_of(l.append, l, coroutine.create(print)):find("cannot send a coroutine"))
    assert.same({1, 2}, l:totable())
  end)

  it("works with ipairs, pairs (a snapshot), clear and tostring", function()
    local l = strand.shared.list{"x", "y", "z"}
    local seen = {}
    for i, v in ipairs(l) do seen[i] = v end
    assert.same({"x", "y", "z"}, seen)
    seen = {}
    for i, v in pairs(l) do seen[i] = v; l:append(v) end
    assert.same({"x", "y", "z"}, seen)
    assert.equal(6, #l)
    assert.equal("shared.list{x, y, z, x, y, z}", tostring(l))
    l:clear()
    assert.equal(0, #l)
  end)

  it("every append from 4 threads and 2 processes lands", function()
    local l = strand.shared.list()
    local function add(l, tag, n) for i = 1, n do l:append(tag * 100000 + i) end end
    local ts, ps = {}, {}
    for i = 1, 4 do ts[i] = strand.Thread{target = add, args = {l, i, 2000}}; ts[i]:start() end
    for i = 1, 2 do ps[i] = strand.Process{target = add, args = {l, 10 + i, 2000}}; ps[i]:start() end
    for i = 1, 4 do assert.is_true(ts[i]:join(60)) end
    for i = 1, 2 do assert.is_true(ps[i]:join(60)) end
    local got, seen = l:totable(), {}
    assert.equal(12000, #got)
    for _, v in ipairs(got) do
      assert.is_nil(seen[v]); seen[v] = true
    end
  end)
end)

describe("Namespace", function()
  it("keeps attributes, every name being data", function()
    local ns = strand.shared.Namespace{x = 1}
    ns.y = "why"; ns.keys = 3
    assert.equal(1, ns.x); assert.equal("why", ns.y); assert.equal(3, ns.keys); assert.is_nil(ns.z)
    assert.equal(3, #ns)
    local seen = {}
    for k, v in pairs(ns) do seen[k] = v end
    assert.same({x = 1, y = "why", keys = 3}, seen)
    assert.equal("Namespace(x=1, y=why, keys=3)", tostring(ns))
  end)

  it("is shared with a child process", function()
    local ns = strand.Manager():Namespace()
    ns.x = 10
    local p = strand.Process{target = function(ns) ns.y = ns.x * 2 end, args = {ns}}
    p:start()
    assert.is_true(p:join(30))
    assert.equal(20, ns.y)
  end)
end)

describe("Manager", function()
  it("makes dicts, lists, Namespaces and other strand objects", function()
    local m = strand.Manager()
    local d, l = m:dict{a = 1}, m:list{1, 2}
    assert.equal(1, d.a); assert.equal(2, #l)
    assert.equal("Value('i', 5)", tostring(m:Value("i", 5)))
    assert.equal("strand.Lock", getmetatable(m:Lock()).__name)
    assert.equal(m, m:start())
    assert.equal("<strand.Manager>", tostring(m))
  end)

  it("shuts down when closed, like Python's with; what it made keeps working", function()
    local d
    do
      local m <close> = strand.Manager()
      d = m:dict()
      d.x = 1
      assert.truthy(err_of(function()
        local m2 <close> = strand.Manager()
        error("inside")
      end):find("inside"))
    end
    d.y = 2
    assert.same({x = 1, y = 2}, d:totable())
    local m = strand.Manager()
    m:shutdown()
    assert.truthy(err_of(m.dict, m):find("Manager is shut down"))
    assert.equal("<strand.Manager (shut down)>", tostring(m))
  end)
end)

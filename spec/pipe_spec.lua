-- strand.Pipe: values and bytes, framing (0 bytes, 100 MB, never merged),
-- poll, EOF, closed ends, simplex, threads and processes, descriptors.
local strand = require "strand"

local function kind_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return strand.is_error(e) and e.kind or tostring(e)
end

-- descriptors open in this process, listed by a shell (os.execute adds no
-- descriptor to this process, unlike io.popen)
local function open_fds()
  local out = os.tmpname()
  os.execute("ls /proc/" .. strand.getpid() .. "/fd > " .. out)
  local n = 0
  for _ in io.lines(out) do n = n + 1 end
  os.remove(out)
  return n
end

describe("Pipe", function()
  it("sends codec values both ways, nil included", function()
    local a, b = strand.Pipe()
    a:send({1, "two", {3}}); local t = b:recv()
    assert.equal(1, t[1]); assert.equal("two", t[2]); assert.equal(3, t[3][1])
    b:send(nil); assert.is_true(a:poll(1)); assert.is_nil(a:recv())
    b:send(math.huge); assert.equal(math.huge, a:recv())
    assert.has_error(function() a:send() end)
    assert.equal(strand.Pipe, strand.multiprocessing.Pipe)
    a:close(); b:close()
  end)

  it("sends plain values as exactly the bytes the codec makes (its fast path)", function()
    local a, b = strand.Pipe()
    local values = {0, 1, -1, 127, 128, -129, 2^53, 1.5, 2.0, -0.0, 1/0, 0/0, "", "abc",
                    string.rep("z", 200), string.rep("y", 300), true, false,
                    math.mininteger, math.maxinteger}
    for i = 1, #values + 1 do
      local v = values[i] -- the last one is nil
      a:send(v)
      assert.equal(strand.encode(v), b:recv_bytes())
      a:send_bytes(strand.encode(v))
      local w = b:recv()
      assert.equal(math.type(v), math.type(w))
      if v == v then assert.equal(v, w) else assert.is_true(w ~= w) end
    end
    a:close(); b:close()
  end)

  it("keeps messages whole: many small ones are never merged", function()
    local a, b = strand.Pipe()
    for i = 1, 200 do a:send_bytes(string.rep("x", i % 7)) end
    for i = 1, 200 do assert.equal(string.rep("x", i % 7), b:recv_bytes()) end
    assert.is_false(b:poll())
    a:send_bytes("hello world", 6, 5)
    assert.equal("world", b:recv_bytes())
    assert.has_error(function() a:send_bytes("abc", 4) end)
    a:close(); b:close()
  end)

  it("carries 0-byte and 100 MB messages between processes", function()
    local a, b = strand.Pipe()
    local p = strand.Process{target = function(b)
      local s = b:recv_bytes()
      b:send_bytes("")
      b:send({#s, s:sub(1, 8), s:sub(-8)})
      b:send_bytes(s)
    end, args = {b}}
    p:start()
    local big = string.rep("abcdefgh", 100 * 1024 * 1024 // 8)
    a:send_bytes(big)
    assert.equal("", a:recv_bytes())
    local info = a:recv()
    assert.same({#big, "abcdefgh", "abcdefgh"}, info)
    assert.is_true(a:recv_bytes() == big)
    assert.is_true(p:join(30))
    assert.equal(0, p.exitcode)
    a:close(); b:close()
  end)

  it("poll waits up to its timeout", function()
    local a, b = strand.Pipe()
    assert.is_false(a:poll())
    local t0 = strand.monotonic()
    assert.is_false(a:poll(0.05))
    assert.is_true(strand.monotonic() - t0 >= 0.05)
    local t = strand.Thread{target = function(b) strand.sleep(0.05); b:send("late") end, args = {b}}
    t:start()
    assert.is_true(a:poll(10))
    assert.equal("late", a:recv())
    assert.is_true(t:join(10))
    a:close(); b:close()
  end)

  it("recv after the other end closed and drained raises EOF; send raises", function()
    local a, b = strand.Pipe()
    b:send("last")
    b:close()
    assert.is_true(b.closed); assert.is_false(a.closed)
    assert.equal("last", a:recv())
    assert.is_true(a:poll(0)) -- end of file counts as readable
    assert.equal("EOF", kind_of(a.recv, a))
    assert.equal("BrokenPipe", kind_of(a.send, a, 1))
    assert.equal("Closed", kind_of(b.send, b, 1))
    assert.equal("Closed", kind_of(b.recv, b))
    assert.equal("Closed", kind_of(b.fileno, b))
    b:close() -- twice is fine
    a:close()
  end)

  it("EOF when the child holding the other end exits", function()
    local a, b = strand.Pipe()
    local p = strand.Process{target = function(b) b:send("bye") end, args = {b}}
    p:start()
    b:close() -- the parent's copy; the child's goes when it exits
    assert.equal("bye", a:recv())
    assert.equal("EOF", kind_of(a.recv, a))
    assert.is_true(p:join(10))
    a:close()
  end)

  it("recv_bytes(maxlen) refuses a longer message and stays usable", function()
    local a, b = strand.Pipe()
    a:send_bytes("0123456789"); a:send_bytes("ok")
    assert.equal("OSError", kind_of(b.recv_bytes, b, 4))
    assert.equal("ok", b:recv_bytes(4))
    a:close(); b:close()
  end)

  it("simplex: the first end only receives, the second only sends", function()
    local r, w = strand.Pipe(false)
    assert.is_true(r.readable); assert.is_false(r.writable)
    assert.is_false(w.readable); assert.is_true(w.writable)
    w:send(42); assert.equal(42, r:recv())
    assert.truthy(tostring(select(2, pcall(r.send, r, 1))):find("read%-only"))
    assert.truthy(tostring(select(2, pcall(w.recv, w))):find("write%-only"))
    assert.equal("number", type(r:fileno())); assert.equal("number", type(w:fileno()))
    r:close(); w:close()
    local r2, w2 = strand.Pipe{duplex = false}
    assert.is_false(r2.writable)
    r2:close(); w2:close()
  end)

  it("works between threads, with several readers sharing one end", function()
    local a, b = strand.Pipe()
    local readers = {}
    for i = 1, 3 do
      readers[i] = strand.Thread{target = function(b)
        local sum = 0
        while true do
          local v = b:recv()
          if v == nil then return sum end
          sum = sum + v
        end
      end, args = {b}}
      readers[i]:start()
    end
    for i = 1, 3000 do a:send(i) end
    for _ = 1, 3 do a:send(nil) end
    local total = 0
    for i = 1, 3 do assert.is_true(readers[i]:join(20)); total = total + readers[i]:result() end
    assert.equal(3000 * 3001 // 2, total)
    a:close(); b:close()
  end)

  it("closes its descriptors when the last handle goes, and with <close>", function()
    collectgarbage(); collectgarbage()
    local before = open_fds()
    do
      local a, b = strand.Pipe()
      assert.equal(before + 4, open_fds())
      a:send(1); assert.equal(1, b:recv())
    end
    collectgarbage(); collectgarbage()
    assert.equal(before, open_fds())
    do
      local a, b = strand.Pipe()
      local ca <close> = a
      local cb <close> = b
      assert.equal(before + 4, open_fds())
    end
    assert.equal(before, open_fds())
  end)

  it("its descriptors are close-on-exec", function()
    local a, b = strand.Pipe()
    local f = io.open("/proc/self/fdinfo/" .. a:fileno())
    local flags = tonumber(f:read("a"):match("flags:%s*(%d+)"), 8)
    f:close()
    assert.is_true(flags & tonumber("2000000", 8) ~= 0)
    a:close(); b:close()
  end)

  it("cannot be used in a process that never had its descriptors", function()
    local back = strand.Queue()
    local p = strand.Process{target = function(back)
      local x, y = strand.Pipe()
      back:put(x)
      x:close(); y:close()
    end, args = {back}}
    p:start()
    local foreign = back:get(true, 10)
    assert.is_true(p:join(10))
    assert.truthy(tostring(select(2, pcall(foreign.send, foreign, 1))):find("another process"))
  end)
end)

-- strand.Queue and friends: orders, bounds, timeouts and their errors, nil
-- items, close, JoinableQueue, across threads and processes, stress, faults,
-- and strand.wait.
local strand = require "strand"

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return e
end

local function kind_of(f, ...)
  local e = err_of(f, ...)
  return strand.is_error(e) and e.kind or tostring(e)
end

describe("Queue", function()
  it("is FIFO and counts its items", function()
    local q = strand.Queue()
    assert.is_true(q:empty())
    for i = 1, 5 do q:put(i) end
    assert.equal(5, q:qsize())
    assert.is_false(q:empty()); assert.is_false(q:full())
    for i = 1, 5 do assert.equal(i, q:get()) end
    assert.is_true(q:empty())
  end)

  it("carries any codec value, nil included, and tells nil from a timeout", function()
    local q = strand.Queue()
    q:put(nil); q:put(false); q:put({1, {x = "y"}}); q:put(1.5); q:put("bin\0ary")
    assert.equal(1, select("#", q:get())) -- a nil item is one value
    assert.is_false(q:get())
    local t = q:get(); assert.equal("y", t[2].x)
    assert.equal(1.5, q:get()); assert.equal("bin\0ary", q:get())
    -- nothing left: a timeout raises Empty instead of returning nil
    assert.equal("Empty", kind_of(q.get, q, true, 0.01))
    assert.has_error(function() q:put() end)
  end)

  it("raises Empty and Full that a script can tell apart, after the timeout", function()
    local q = strand.Queue(2)
    assert.equal(2, q.maxsize)
    q:put(1); q:put(2)
    assert.is_true(q:full())
    local e = err_of(q.put, q, 3, false)
    assert.is_true(strand.is_error(e, "Full")); assert.is_false(strand.is_error(e, "Empty"))
    assert.equal("Full", kind_of(q.put_nowait, q, 3))
    local t0 = strand.monotonic()
    assert.equal("Full", kind_of(q.put, q, 3, true, 0.05))
    assert.is_true(strand.monotonic() - t0 >= 0.05)
    q:get(); q:get()
    e = err_of(q.get, q, false)
    assert.is_true(strand.is_error(e, "Empty")); assert.is_false(strand.is_error(e, "Full"))
    assert.equal("Empty", kind_of(q.get_nowait, q))
    t0 = strand.monotonic()
    assert.equal("Empty", kind_of(q.get, q, true, 0.05))
    assert.is_true(strand.monotonic() - t0 >= 0.05)
    assert.has_error(function() q:get(true, -1) end)
    assert.has_error(function() strand.Queue("x") end)
  end)

  it("accepts maxsize as a number or an option, <= 0 meaning unbounded", function()
    assert.equal(3, strand.Queue{maxsize = 3}.maxsize)
    local q = strand.Queue(-1)
    for i = 1, 1000 do q:put(i) end
    assert.equal(1000, q:qsize())
  end)

  it("wakes a blocked getter when an item comes from another thread", function()
    local q, ready = strand.Queue(), strand.Queue()
    local t = strand.Thread{target = function(q, ready) ready:put(true); return q:get(true, 10) end,
                            args = {q, ready}}
    t:start()
    ready:get(true, 10)
    q:put("late")
    assert.is_true(t:join(10))
    assert.equal("late", t:result())
  end)

  it("wakes a blocked putter when room is made", function()
    local q = strand.Queue(1)
    q:put(0)
    local t = strand.Thread{target = function(q) q:put(1, true, 10); return true end, args = {q}}
    t:start()
    assert.equal(0, q:get(true, 10))
    assert.equal(1, q:get(true, 10))
    assert.is_true(t:join(10))
  end)

  it("close wakes waiters with Closed, refuses puts, and still drains", function()
    local q, ready = strand.Queue(), strand.Queue()
    local t = strand.Thread{target = function(q, ready)
      ready:put(true)
      local ok, e = pcall(q.get, q, true, 10)
      return ok, strand.is_error(e, "Closed")
    end, args = {q, ready}}
    t:start()
    ready:get(true, 10)
    strand.sleep(0.05) -- let it block (not needed for correctness: close is sticky)
    q:close()
    assert.is_true(t:join(10))
    local ok, closed = t:result()
    assert.is_false(ok); assert.is_true(closed)
    assert.is_true(q.closed)
    assert.equal("Closed", kind_of(q.put, q, 1))
    local r = strand.Queue(); r:put(1); r:close()
    assert.equal(1, r:get())
    assert.equal("Closed", kind_of(r.get, r))
  end)

  it("a cancelled thread blocked in get gets Cancelled", function()
    local q, ready = strand.Queue(), strand.Queue()
    local t = strand.Thread{target = function(q, ready) ready:put(true); return q:get() end, args = {q, ready}}
    t:start()
    ready:get(true, 10)
    t:cancel()
    assert.is_true(t:join(10))
    assert.is_true(strand.is_error(t.error, "Cancelled"))
  end)

  it("is reachable from the views", function()
    assert.equal(strand.Queue, strand.queue.Queue)
    assert.equal(strand.Queue, strand.multiprocessing.Queue)
    assert.equal(strand.LifoQueue, strand.queue.LifoQueue)
    assert.equal(strand.PriorityQueue, strand.queue.PriorityQueue)
    assert.equal(strand.SimpleQueue, strand.multiprocessing.SimpleQueue)
    assert.equal(strand.JoinableQueue, strand.multiprocessing.JoinableQueue)
    assert.truthy(tostring(strand.Queue(4)):find("Queue maxsize=4"))
  end)
end)

describe("LifoQueue and PriorityQueue", function()
  it("LifoQueue gives the last item first", function()
    local q = strand.LifoQueue()
    for i = 1, 3 do q:put(i) end
    assert.same({3, 2, 1}, {q:get(), q:get(), q:get()})
  end)

  it("PriorityQueue orders by the item or by a table's first element, ties in put order", function()
    local q = strand.PriorityQueue()
    for _, v in ipairs{{5, "e"}, {1, "a"}, {3, "c"}, {1, "a2"}, {-2.5, "neg"}} do q:put(v) end
    local got = {}
    for i = 1, 5 do got[i] = q:get()[2] end
    assert.same({"neg", "a", "a2", "c", "e"}, got)
    local s = strand.PriorityQueue()
    for _, v in ipairs{"pear", "apple", "fig", "applesauce"} do s:put(v) end
    assert.same({"apple", "applesauce", "fig", "pear"}, {s:get(), s:get(), s:get(), s:get()})
    -- numbers come before strings
    s:put("a"); s:put(10)
    assert.equal(10, s:get()); assert.equal("a", s:get())
  end)

  it("PriorityQueue refuses items it cannot order", function()
    local q = strand.PriorityQueue()
    assert.has_error(function() q:put(true) end)
    assert.has_error(function() q:put({}) end)
    assert.has_error(function() q:put({{1}}) end)
    assert.has_error(function() q:put(0 / 0) end)
    assert.is_true(q:empty())
  end)
end)

describe("JoinableQueue and SimpleQueue", function()
  it("join waits for task_done of every item", function()
    local q = strand.JoinableQueue()
    assert.is_true(q:join(0))
    assert.equal("ValueError", kind_of(q.task_done, q))
    local worker = strand.Thread{target = function(q)
      for _ = 1, 3 do q:get(); q:task_done() end
    end, args = {q}}
    for i = 1, 3 do q:put(i) end
    assert.equal(3, q.unfinished_tasks)
    assert.is_false(q:join(0.01))
    worker:start()
    assert.is_true(q:join(10))
    assert.is_true(worker:join(10))
    assert.equal(0, q.unfinished_tasks)
  end)

  it("SimpleQueue is an unbounded FIFO", function()
    local q = strand.SimpleQueue()
    q:put("a"); q:put("b")
    assert.equal("a", q:get()); assert.equal("b", q:get())
    assert.is_true(q:empty())
    assert.equal(0, q.maxsize)
  end)
end)

describe("Queue between processes", function()
  it("works made before the fork, in both directions", function()
    local to, from = strand.Queue(), strand.Queue()
    local p = strand.Process{target = function(to, from)
      for _ = 1, 100 do from:put(to:get() * 2) end
    end, args = {to, from}}
    p:start()
    local sum = 0
    for i = 1, 100 do to:put(i); sum = sum + from:get(true, 10) end
    assert.is_true(p:join(10))
    assert.equal(0, p.exitcode)
    assert.equal(10100, sum)
  end)

  it("works made in a child and sent back to the parent", function()
    local back = strand.Queue()
    local p = strand.Process{target = function(back)
      local q = strand.Queue()
      q:put("from the child's queue")
      back:put(q)
    end, args = {back}}
    p:start()
    local q = back:get(true, 10)
    assert.is_true(p:join(10))
    assert.equal("from the child's queue", q:get(true, 1))
  end)

  it("carries messages larger than any internal buffer", function()
    local q = strand.Queue()
    local big = string.rep("0123456789abcdef", 65536) -- 1 MiB
    local p = strand.Process{target = function(q, n) q:put(string.rep("0123456789abcdef", n)) end,
                             args = {q, 65536}}
    p:start()
    assert.equal(big, q:get(true, 10))
    assert.is_true(p:join(10))
  end)

  it("4 producers x 4 consumers, threads and processes, 100,000 messages, each once", function()
    local q, results = strand.Queue(1000), strand.Queue()
    local PER = 25000
    local function produce(q, from, n)
      for i = from, from + n - 1 do q:put(i) end
    end
    local function consume(q, results)
      local got = {}
      while true do
        local v = q:get(true, 30)
        if v == nil then break end
        got[#got + 1] = v
      end
      results:put(got)
    end
    local workers = {}
    for i = 0, 3 do
      local kind = i % 2 == 0 and strand.Thread or strand.Process
      workers[#workers + 1] = kind{target = produce, args = {q, i * PER, PER}}
      workers[#workers + 1] = (i % 2 == 0 and strand.Process or strand.Thread){target = consume, args = {q, results}}
    end
    for _, w in ipairs(workers) do w:start() end
    for i = 1, #workers, 2 do assert.is_true(workers[i]:join(60)) end
    for _ = 1, 4 do q:put(nil) end -- nil is an item: one end mark per consumer
    local seen, total = {}, 0
    for _ = 1, 4 do
      for _, v in ipairs(results:get(true, 60)) do
        assert.is_nil(seen[v]); seen[v] = true; total = total + 1
      end
    end
    for i = 2, #workers, 2 do assert.is_true(workers[i]:join(60)) end
    assert.equal(4 * PER, total)
    for v = 0, 4 * PER - 1 do assert.is_true(seen[v]) end
    assert.is_true(q:empty())
  end)
end)

describe("Queue faults", function()
  it("a consumer killed while blocked in get leaves the queue working", function()
    local q, ready = strand.Queue(), strand.Queue()
    local p = strand.Process{target = function(q, ready) ready:put(true); q:get() end, args = {q, ready}}
    p:start()
    ready:get(true, 10)
    strand.sleep(0.05) -- let it block in get (the test holds either way)
    p:kill()
    assert.is_true(p:join(10))
    assert.equal(-9, p.exitcode)
    local t = strand.Thread{target = function(q) return q:get(true, 10) end, args = {q}}
    t:start()
    q:put("for the next consumer")
    assert.is_true(t:join(10))
    assert.equal("for the next consumer", t:result())
    assert.is_true(q:empty())
  end)

  -- Items are small enough to be copied into the queue itself, and the
  -- queue has grown beforehand, so a kill lands in the queue's own critical
  -- sections (the arena allocator is not the subject here).
  it("producers killed in the middle of put leave the queue consistent", function()
    for _, make in ipairs{strand.Queue, strand.PriorityQueue} do
      local q, ready = make(), strand.Queue()
      for i = 1, 16384 do q:put({i, ""}) end
      while not q:empty() do q:get() end
      local p = strand.Process{target = function(q, ready)
        ready:put(true)
        local i = 0
        while true do i = i + 1; q:put({i, string.rep("x", i % 30)}) end
      end, args = {q, ready}}
      p:start()
      ready:get(true, 10)
      local deadline = strand.monotonic() + 10
      while q:qsize() < 2000 and strand.monotonic() < deadline do strand.sleep(0.001) end
      p:kill()
      assert.is_true(p:join(10))
      -- every item that is there comes out once, in order, and the queue works
      -- (the first get may repair a heap and recover the item being put)
      local n, last = q:qsize(), 0
      assert.is_true(n >= 2000)
      while not q:empty() do
        local item = q:get(false)
        assert.is_true(item[1] > last); last = item[1]
        assert.equal(item[1] % 30, #item[2])
      end
      assert.is_true(last >= n)
      q:put({1, "after"}); assert.equal("after", q:get(false)[2])
    end
  end)
end)

describe("strand.wait", function()
  it("returns the ready ones among queues, connections and processes", function()
    local q1, q2 = strand.Queue(), strand.Queue()
    local a, b = strand.Pipe()
    local t0 = strand.monotonic()
    assert.same({}, strand.wait({q1, q2, a}, 0.05))
    assert.is_true(strand.monotonic() - t0 >= 0.05)
    q2:put(1)
    local r = strand.wait({q1, q2, a}, 0)
    assert.equal(1, #r); assert.equal(q2, r[1])
    q2:get()
    b:send("x")
    r = strand.wait({q1, a}, 10)
    assert.equal(1, #r); assert.equal(a, r[1]); assert.equal("x", a:recv())
    local p = strand.Process{target = function() end}
    p:start()
    r = strand.wait({q1, p}, 10)
    assert.equal(p, r[1]); assert.equal(0, p.exitcode)
    assert.is_true(p:join(10))
    assert.equal(strand.wait, strand.multiprocessing.wait)
  end)

  it("wakes for a put from another process and from another thread", function()
    local q = strand.Queue()
    local go = strand.Queue()
    local p = strand.Process{target = function(q, go) go:get(); q:put("p") end, args = {q, go}}
    p:start()
    go:put(true)
    local r = strand.wait({q}, 10)
    assert.equal(1, #r); assert.equal("p", q:get())
    assert.is_true(p:join(10))
    local t = strand.Thread{target = function(q, go) go:get(); q:put("t") end, args = {q, go}}
    t:start()
    go:put(true)
    r = strand.wait({q}, 10)
    assert.equal(1, #r); assert.equal("t", q:get())
    assert.is_true(t:join(10))
    q:close()
    assert.equal(1, #strand.wait({q}, 10)) -- closed counts as ready: get will raise
  end)

  it("refuses what it cannot wait on", function()
    assert.has_error(function() strand.wait({1}) end)
    assert.has_error(function() strand.wait(5) end)
  end)
end)

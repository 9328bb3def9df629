local strand = require "strand"

local BIN = os.getenv("STRAND_BIN") or "build/strand"
local seq = 0

-- A name no other run uses.
local function fresh()
  seq = seq + 1
  return ("strand_spec_%d_%d"):format(strand.getpid(), seq)
end

local function exists(name)
  local f = io.open("/dev/shm/" .. name, "rb")
  if f then f:close() end
  return f ~= nil
end

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

-- Run a separate `strand -e script` (no single quotes in it); output and status.
local function run(script)
  local f = io.popen(BIN .. " -e '" .. script .. "' 2>&1")
  local out = f:read("a")
  local _, _, code = f:close()
  return out, code
end

describe("SharedMemory", function()
  it("creates a block others attach to by name; reads and writes bytes", function()
    local name = fresh()
    local s = strand.SharedMemory{name = name, create = true, size = 64}
    assert.equal(name, s.name); assert.equal(64, s.size)
    assert.is_true(exists(name))
    assert.equal(string.rep("\0", 64), s:read())
    s:write(0, "hello")
    s:write(60, "\1\2\0\4")
    local a = strand.SharedMemory{name = name}
    assert.equal(64, a.size)
    assert.equal("hello", a:read(0, 5)); assert.equal("ello", a:read(1, 4))
    assert.equal("\1\2\0\4", a:read(60)); assert.equal("", a:read(64, 0))
    a:write(0, "J")
    assert.equal("Jello", s:read(0, 5))
    assert.equal("SharedMemory('" .. name .. "', size=64)", tostring(s))
    a:close(); s:close(); s:unlink()
    assert.is_false(exists(name))
  end)

  it("is owner-only (mode 0600)", function()
    local name = fresh()
    local s = strand.SharedMemory{name = name, create = true, size = 8}
    local p = io.popen("stat -c %a /dev/shm/" .. name)
    assert.equal("600", p:read("l"))
    p:close()
    s:unlink()
  end)

  it("picks a fresh name when none is given, and accepts a leading slash", function()
    local s = strand.SharedMemory{create = true, size = 16}
    assert.truthy(s.name:match("^strand_%x+$"))
    assert.is_true(exists(s.name))
    local b = strand.SharedMemory{name = "/" .. s.name}
    assert.equal(s.name, b.name)
    local p = strand.SharedMemory(s.name, false) -- positional, as Python's
    assert.equal(16, p.size)
    s:unlink()
  end)

  it("gives clear errors: exists, missing, size mismatch, bad arguments, out of range", function()
    local name = fresh()
    local s = strand.SharedMemory{name = name, create = true, size = 32}
    assert.truthy(err_of(strand.SharedMemory, {name = name, create = true, size = 32}):find("FileExistsError"))
    assert.truthy(err_of(strand.SharedMemory, {name = fresh()}):find("FileNotFoundError: no SharedMemory named"))
    assert.truthy(err_of(strand.SharedMemory, {name = name, size = 16}):find("has 32 bytes, not the 16"))
    assert.truthy(err_of(strand.SharedMemory, {name = "a/b", create = true, size = 1}):find("bad name"))
    assert.truthy(err_of(strand.SharedMemory, {name = "", create = true, size = 1}):find("bad name"))
    assert.truthy(err_of(strand.SharedMemory, {create = true}):find("size must be positive"))
    assert.truthy(err_of(strand.SharedMemory, {create = true, size = -1}):find("non%-negative"))
    assert.truthy(err_of(strand.SharedMemory, {}):find("name is required"))
    assert.truthy(err_of(s.read, s, 30, 3):find("outside the block"))
    assert.truthy(err_of(s.read, s, -1, 1):find("outside the block"))
    assert.truthy(err_of(s.write, s, 31, "ab"):find("outside the block"))
    assert.truthy(err_of(s.write, s, 0, {}):find("string expected"))
    s:unlink()
    assert.truthy(err_of(s.unlink, s):find("FileNotFoundError: SharedMemory '" .. name .. "' is not there to unlink"))
    assert.equal(string.rep("\0", 32), s:read(), "the mapping outlives the name")
    s:close()
    assert.truthy(err_of(s.read, s):find("is closed"))
    assert.truthy(err_of(s.write, s, 0, "x"):find("is closed"))
  end)

  it("closes at the end of a <close> scope (the block stays)", function()
    local name = fresh()
    local keep = strand.SharedMemory{name = name, create = true, size = 8}
    do
      local s <close> = strand.SharedMemory{name = name}
      s:write(0, "abc")
    end
    assert.equal("abc", keep:read(0, 3))
    keep:unlink()
  end)

  it("is shared with threads and with processes, in both directions", function()
    local name = fresh()
    local s = strand.SharedMemory{name = name, create = true, size = 32}
    local t = strand.Thread{target = function(s) s:write(0, "thread") return s:read(8, 6) end, args = {s}}
    s:write(8, "parent")
    t:start(); assert.is_true(t:join(10))
    assert.equal("parent", t:result()); assert.equal("thread", s:read(0, 6))
    local p = strand.Process{target = function(s) s:write(16, "child") end, args = {s}}
    p:start(); assert.is_true(p:join(30)); assert.equal(0, p.exitcode)
    assert.equal("child", s:read(16, 5))
    -- a block a child creates reaches the parent through a shared dict
    local d = strand.shared.dict()
    local q = strand.Process{target = function(d, n)
      local b = strand.SharedMemory{name = n, create = true, size = 4}
      b:write(0, "kid!")
      d.block = b
    end, args = {d, name .. "k"}}
    q:start(); assert.is_true(q:join(30)); assert.equal(0, q.exitcode)
    assert.equal("kid!", d.block:read()) -- mapped here on first use
    d.block:unlink()
    s:unlink()
  end)

  describe("between separately started programs", function()
    it("a second strand command attaches by name, reads and writes", function()
      local name = fresh()
      local s = strand.SharedMemory{name = name, create = true, size = 16}
      s:write(0, "ping")
      local out, code = run(([[
        local s = strand.SharedMemory{name = "%s"}
        print(s:read(0, 4), s.size)
        s:write(4, "pong")
        print(pcall(strand.SharedMemory, {name = "%s", create = true, size = 16}))
      ]]):format(name, name))
      assert.equal(0, code, out)
      assert.truthy(out:find("ping\t16", 1, true), out)
      assert.truthy(out:find("FileExistsError", 1, true), out)
      assert.equal("pong", s:read(4, 4))
      assert.is_true(exists(name), "the attaching program does not unlink what it did not create")
      s:unlink()
    end)

    it("a program's blocks are unlinked when it ends, even by an error or os.exit", function()
      local a, b, c, d = fresh(), fresh(), fresh(), fresh()
      local out, code = run(([[
        strand.SharedMemory{name = "%s", create = true, size = 8}
        local p = strand.Process{target = function()
          strand.SharedMemory{name = "%s", create = true, size = 8}
        end}
        p:start(); p:join()
        print(io.open("/dev/shm/%s") ~= nil)
      ]]):format(a, b, b))
      assert.equal(0, code, out)
      assert.equal("true\n", out, "a child's block stays while the program runs")
      assert.is_false(exists(a)); assert.is_false(exists(b))
      _, code = run(([[strand.SharedMemory{name = "%s", create = true, size = 8}; error("boom")]]):format(c))
      assert.equal(1, code)
      assert.is_false(exists(c))
      _, code = run(([[strand.SharedMemory{name = "%s", create = true, size = 8}; os.exit(3)]]):format(d))
      assert.equal(3, code)
      assert.is_false(exists(d))
    end)

    it("unlinks after Ctrl-C", function()
      local name = fresh()
      local script = "strand.SharedMemory{name = [[" .. name .. "]], create = true, size = 8}; " ..
                     "print([[ready]], strand.getpid()); strand.sleep(60)"
      local f = io.popen(("sh -c '%s -e \"%s\"; echo rc=$?' 2>/dev/null"):format(BIN, script))
      local pid = f:read("l"):match("^ready\t(%d+)$") -- the program says its pid once the block exists
      assert.truthy(pid)
      assert.is_true(exists(name))
      os.execute("kill -INT " .. pid)
      local rest = f:read("a")
      f:close()
      assert.equal("rc=130\n", rest)
      assert.is_false(exists(name))
    end)

    it("keeps a block made with track = false, for a later program", function()
      local name = fresh()
      local _, code = run(([[
        local s = strand.SharedMemory{name = "%s", create = true, size = 8, track = false}
        s:write(0, "kept")
      ]]):format(name))
      assert.equal(0, code)
      assert.is_true(exists(name))
      local s = strand.SharedMemory{name = name}
      assert.equal("kept", s:read(0, 4))
      s:unlink()
      assert.is_false(exists(name))
    end)
  end)
end)

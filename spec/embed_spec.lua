-- examples/host.c, the small C host built by `make`: its own C function
-- reaches every worker through strand_set_state_hook. (The embedding API
-- itself is tested in C by spec/c/embed.c, run with the C tests.)
local BUILD = os.getenv("BUILD") or "build"
local HOST = BUILD .. "/examples/host"

-- Adler-32 in Lua, to check the host's C one against.
local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + s:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return (b << 16) | a
end

local function run(args)
  local p = io.popen(HOST .. " " .. args .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("a")
  p:close()
  return out:gsub("exit=(%d+)%s*$", ""), tonumber(out:match("exit=(%d+)%s*$"))
end

local function script(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

describe("examples/host", function()
  it("is built by make", function()
    local f = io.open(HOST)
    assert.is_not_nil(f, HOST .. " is missing: make builds it")
    f:close()
  end)

  it("runs examples/host.lua: workers call the host's C checksum", function()
    local out, code = run("examples/host.lua")
    assert.equal(0, code, out)
    assert.matches('main: host "example host", checksum%("Wikipedia"%) = 0x11e60398', out)
    local seen = 0
    for kind, word, sum in out:gmatch('(%a+): checksum%("(%a+)"%) = 0x(%x+)') do
      assert.equal(adler32(word), tonumber(sum, 16), word)
      if kind ~= "main" then seen = seen + 1 end
    end
    assert.is_true(seen >= 6, out)
  end)

  it("gives every kind of worker the host library, not a copy of the script's", function()
    local path = script([[
      local t = strand.Thread{target = function()
        return debug.getinfo(host.checksum, "S").what, host.name, host.checksum("abc")
      end}
      t:start(); assert(t:join(30))
      print(t:result())
    ]])
    local out, code = run(path)
    os.remove(path)
    assert.equal(0, code, out)
    assert.equal(("C\texample host\t%d\n"):format(adler32("abc")), out)
  end)

  it("reports a script's error with its traceback and exits 1", function()
    local path = script("local function f() error('broken on purpose') end f()")
    local out, code = run(path)
    os.remove(path)
    assert.equal(1, code)
    assert.matches("broken on purpose", out)
    assert.matches("stack traceback", out)
  end)

  it("joins the threads a script leaves running before it exits", function()
    local path = script([[
      strand.Thread{target = function() strand.sleep(0.05) print("worker done") end}:start()
      print("main done")
    ]])
    local out, code = run(path)
    os.remove(path)
    assert.equal(0, code, out)
    assert.equal("main done\nworker done\n", out)
  end)
end)

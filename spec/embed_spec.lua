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

-- A C compiler command that links with this build's libstrand.a (built
-- with a sanitizer under `make sanitize`).
local function cc()
  local san = os.getenv("SANITIZER")
  if san == "asan" then return "clang -fsanitize=address,undefined" end
  if san == "tsan" then return "clang -fsanitize=thread" end
  return "cc"
end

local function sh(cmd)
  local p = io.popen("(" .. cmd .. ") 2>&1; echo \"exit=$?\"")
  local out = p:read("a")
  p:close()
  return out:gsub("exit=(%d+)%s*$", ""), tonumber(out:match("exit=(%d+)%s*$"))
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

describe("the README's host", function()
  it("is 30 lines of C that build against libstrand and run a script's workers", function()
    local f = assert(io.open("README.md"))
    local readme = f:read("a")
    f:close()
    local section = assert(readme:match("\n## Embedding\n(.-)\n## "), "README has an Embedding section")
    local c = assert(section:match("```c\n(.-)```"), "with a C program")
    local lua = assert(section:match("```lua\n(.-)```"), "and a Lua script")
    local _, lines = c:gsub("\n", "")
    assert.is_true(lines <= 30, lines .. " lines")
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    finally(function() os.execute("rm -rf " .. dir) end)
    for name, text in pairs{["host.c"] = c, ["script.lua"] = lua} do
      local w = assert(io.open(dir .. "/" .. name, "w"))
      w:write(text)
      w:close()
    end
    local out, code = sh(("%s -Wall -Werror -o %s/host %s/host.c -Ibindings %s/libstrand.a -I/usr/include/lua5.4 "
                          .. "-llua5.4 -pthread -lm -ldl"):format(cc(), dir, dir, BUILD))
    assert.equal(0, code, out)
    out, code = sh(dir .. "/host " .. dir .. "/script.lua")
    assert.equal(0, code, out)
    local expected = lua:match("%-%->%s*(%S+)")
    assert.equal(expected .. "\n", out)
  end)
end)

describe("examples/host", function()
  it("is built by make", function()
    local f = io.open(HOST)
    assert.is_not_nil(f, HOST .. " is missing: make builds it")
    f:close()
  end)

  it("runs examples/host.lua: threads, a thread pool and a process pool call the host's C checksum", function()
    local out, code = run("examples/host.lua")
    assert.equal(0, code, out)
    assert.matches('main: checksum%("Wikipedia"%) = 0x11e60398', out)
    local seen = {}
    for kind, word, sum in out:gmatch('([%a ]+): checksum%("(%a+)"%) = 0x(%x+)') do
      assert.equal(adler32(word), tonumber(sum, 16), kind .. " " .. word)
      seen[kind] = (seen[kind] or 0) + 1
    end
    assert.same({main = 1, thread = 6, ["thread pool"] = 6, ["process pool"] = 6}, seen)
  end)

  it("gives every kind of worker the host library, not a copy of the script's", function()
    local path = script([[
      local function probe() return debug.getinfo(host.checksum, "S").what, host.name, host.checksum("abc") end
      local t = strand.Thread{target = probe}
      t:start(); assert(t:join(30))
      print("thread", t:result())
      local executor <close> = strand.ThreadPoolExecutor{max_workers = 1}
      print("thread pool", executor:submit(probe):result(30))
      local pool <close> = strand.Pool(1)
      print("process pool", pool:apply(probe, {}))
      pool:close(); pool:join()
    ]])
    local out, code = run(path)
    os.remove(path)
    assert.equal(0, code, out)
    local line = ("\tC\texample host\t%d\n"):format(adler32("abc"))
    assert.equal("thread" .. line .. "thread pool" .. line .. "process pool" .. line, out)
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
      -- the worker prints once main has (an Event fixes the order), and
      -- then still runs as the script ends, for the exit to join it
      local printed = strand.Event()
      strand.Thread{target = function(ev)
        assert(ev:wait(20)); strand.sleep(0.05) print("worker done")
      end, args = {printed}}:start()
      print("main done")
      printed:set()
    ]])
    local out, code = run(path)
    os.remove(path)
    assert.equal(0, code, out)
    assert.equal("main done\nworker done\n", out)
  end)
end)

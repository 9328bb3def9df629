-- The strand command: options, arg, exit codes, joining at exit, Ctrl-C.
local strand = require "strand"
local BIN = os.getenv("STRAND_BIN") or "build/strand"

local function tmpfile(body)
  local name = os.tmpname()
  local f = assert(io.open(name, "w")); f:write(body); f:close()
  return name
end

-- run a shell command, return stdout, stderr, exit code
local function run(cmd)
  local errf = os.tmpname()
  local p = io.popen(cmd .. " 2>" .. errf .. "; echo \"EXIT:$?\"")
  local out = p:read("a"); p:close()
  local f = io.open(errf); local err = f:read("a"); f:close(); os.remove(errf)
  local code = tonumber(out:match("EXIT:(%d+)\n?$"))
  return out:gsub("EXIT:%d+\n?$", ""), err, code
end

describe("strand command", function()
  it("runs a script with arg and ... like lua5.4", function()
    local s = tmpfile("print(arg[0] ~= nil, arg[1], arg[2], select('#', ...), type(strand))")
    local out, _, code = run(BIN .. " " .. s .. " a b")
    assert.equal(0, code)
    assert.equal("true\ta\tb\t2\ttable\n", out)
    os.remove(s)
  end)

  it("supports -e, -l, -v and - for stdin", function()
    local out, _, code = run(BIN .. " -e 'print(1+1)'")
    assert.equal(0, code); assert.equal("2\n", out)
    out = run(BIN .. " -v")
    assert.truthy(out:match("^strand %d+%.%d+%.%d+"))
    out = run("echo 'print(\"stdin\", ...)' | " .. BIN .. " - x")
    assert.equal("stdin\tx\n", out)
    out = run(BIN .. " -l string -e 'print(type(string.rep))'")
    assert.equal("function\n", out)
    local _, err, c = run(BIN .. " -z")
    assert.equal(1, c); assert.truthy(err:find("unrecognized option"))
  end)

  it("prints an uncaught error with its traceback and exits 1", function()
    local s = tmpfile("local function f() error('bad thing') end\nf()\n")
    local _, err, code = run(BIN .. " " .. s)
    assert.equal(1, code)
    assert.truthy(err:find("bad thing"))
    assert.truthy(err:find("stack traceback"))
    os.remove(s)
  end)

  it("joins non-daemon threads at the end and ends daemon ones", function()
    local s = tmpfile([[
      -- the worker prints once main has (an Event fixes the order), and
      -- then still runs as the script ends, for the exit to join it
      local printed = strand.Event()
      local t = strand.Thread{target = function(ev)
        assert(ev:wait(20)); strand.sleep(0.2); print("worker done")
      end, args = {printed}}
      local d = strand.Thread{target = function() strand.sleep(1000) end, daemon = true}
      t:start(); d:start()
      print("main done")
      printed:set()
    ]])
    local out, _, code = run(BIN .. " " .. s)
    assert.equal(0, code)
    assert.equal("main done\nworker done\n", out)
    os.remove(s)
  end)

  it("Ctrl-C interrupts a blocked main thread, ends the threads, exits 130", function()
    local s = tmpfile([[
      local t = strand.Thread{target = function() strand.sleep(1000) end}
      t:start()
      print("ready")
      io.stdout:flush()
      t:join()   -- blocked until SIGINT
      print("not reached")
    ]])
    local fifo = os.tmpname(); os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    local out, err, code = run(string.format(
      "(%s %s > %s & pid=$!; read line < %s; echo \"$line\"; kill -INT $pid; wait $pid; echo \"code=$?\")",
      BIN, s, fifo, fifo))
    assert.equal(0, code)
    assert.truthy(out:find("ready"))
    assert.truthy(out:find("code=130"))
    assert.truthy(err:find("KeyboardInterrupt"))
    os.remove(s); os.remove(fifo)
  end)

  it("Ctrl-C interrupts a busy Lua loop in the main thread", function()
    local s = tmpfile([[
      print("ready"); io.stdout:flush()
      local n = 0
      while true do n = n + 1 end
    ]])
    local fifo = os.tmpname(); os.remove(fifo)
    assert(os.execute("mkfifo " .. fifo))
    local out = run(string.format(
      "(%s %s > %s & pid=$!; read line < %s; kill -INT $pid; wait $pid; echo \"code=$?\")",
      BIN, s, fifo, fifo))
    assert.truthy(out:find("code=130"))
    os.remove(s); os.remove(fifo)
  end)

  it("print from many threads never interleaves within a line", function()
    local s = tmpfile([[
      local ts = {}
      for i = 1, 4 do
        ts[i] = strand.Thread{target = function(id)
          for k = 1, 2000 do print(("thread%d-line%d-"):format(id, k) .. ("x"):rep(200)) end
        end, args = {i}}
        ts[i]:start()
      end
      for _, t in ipairs(ts) do t:join() end
    ]])
    local out, _, code = run(BIN .. " " .. s .. " | cat")
    assert.equal(0, code)
    local n = 0
    for line in out:gmatch("[^\n]*\n") do
      n = n + 1
      assert.truthy(line:match("^thread%d%-line%d+%-" .. ("x"):rep(200) .. "\n$"), line)
    end
    assert.equal(8000, n)
    os.remove(s)
  end)

  it("loads into stock lua5.4 with require", function()
    -- a sanitizer build's strand.so needs its runtime loaded first: the
    -- plain build covers this path
    if os.getenv("SANITIZER") then return pending("plain build only") end
    local out, err, code = run("lua5.4 -e 'package.cpath=\"" .. (os.getenv("BUILD") or "build") ..
      "/?.so;\"..package.cpath' -e 'local s = require \"strand\"; local t = s.Thread{target=function() return 6*7 end}; t:start(); t:join(); print(t:result())'")
    assert.equal(0, code, err)
    assert.equal("42\n", out)
  end)
end)

-- `make install` / `make uninstall`, the pkg-config file, the man page and
-- the rockspec. Everything is built from a copy of the sources in a
-- temporary directory, so this spec never touches the build trees in use.
local function sh(cmd)
  local p = io.popen("(" .. cmd .. ") 2>&1; echo \"exit=$?\"")
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return out:gsub("exit=%d+%s*$", ""), code
end

local function must(cmd)
  local out, code = sh(cmd)
  assert(code == 0, ("command failed (%s): %s\n%s"):format(tostring(code), cmd, out))
  return out
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

local INSTALLED = {
  "bin/strand", "include/strand.h", "lib/libstrand.a", "lib/libstrand.so", "lib/libstrand.so.0",
  "lib/lua/5.4/strand.so", "share/lua/5.4/strand/busted.lua", "share/man/man1/strand.1",
  "lib/pkgconfig/strand.pc",
}

describe("make install", function()
  local tmp, src, prefix

  lazy_setup(function()
    tmp = must("mktemp -d"):gsub("%s+$", "")
    src, prefix = tmp .. "/src", tmp .. "/prefix"
    must(("mkdir -p %s && tar -cf - --exclude=./.git --exclude=./build --exclude='./build-*' . | tar -C %s -xf -")
         :format(q(src), q(src)))
    must(("make -C %s -j2 BUILD=build install PREFIX=%s"):format(q(src), q(prefix)))
  end)

  lazy_teardown(function()
    if tmp then sh("rm -rf " .. q(tmp)) end
  end)

  it("installs the command, the Lua modules, the header, the libraries, strand.pc and the man page", function()
    for _, f in ipairs(INSTALLED) do assert.is_true(exists(prefix .. "/" .. f), f) end
    assert.matches("^strand 0%.1%.0", must(q(prefix .. "/bin/strand") .. " -v"))
  end)

  it("puts the Lua modules where lua5.4 looks for that prefix", function()
    -- lua5.4's built-in paths name /usr/local; the same layout under prefix
    local paths = must("env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 "
                       .. "lua5.4 -e 'print(package.path) print(package.cpath)'")
    assert.truthy(paths:find("/usr/local/lib/lua/5.4/?.so", 1, true))
    assert.truthy(paths:find("/usr/local/share/lua/5.4/?.lua", 1, true))
    local moved = paths:gsub("/usr/local/", prefix .. "/")
    local lpath, cpath = moved:match("^([^\n]*)\n([^\n]*)")
    local out = must(("LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(q(lpath), q(cpath), q([[
      local strand = require "strand"
      local sb = require "strand.busted"
      local t = strand.Thread{target = function() return 6 * 7 end}
      t:start(); t:join(30)
      print(strand._VERSION, t:result(), type(sb.run))
    ]])))
    assert.equal("0.1.0\t42\tfunction\n", out)
  end)

  it("gives pkg-config what a host needs to build examples/host.c", function()
    local pc = "PKG_CONFIG_PATH=" .. q(prefix .. "/lib/pkgconfig") .. " "
    assert.equal("0.1.0\n", must(pc .. "pkg-config --modversion strand"))
    local host = tmp .. "/host"
    must(("cc %s -o %s $(%spkg-config --cflags --libs strand)"):format(q(src .. "/examples/host.c"), q(host), pc))
    local out = must(("LD_LIBRARY_PATH=%s %s %s"):format(q(prefix .. "/lib"), q(host), q(src .. "/examples/host.lua")))
    assert.matches('checksum%("Wikipedia"%) = 0x11e60398', out)
    -- and statically, with libstrand.a
    local static = tmp .. "/host-static"
    must(("cc %s -o %s $(%spkg-config --cflags strand) %s $(%spkg-config --static --libs lua5.4) -pthread -lm -ldl")
         :format(q(src .. "/examples/host.c"), q(static), pc, q(prefix .. "/lib/libstrand.a"), pc))
    assert.equal(out, must(q(static) .. " " .. q(src .. "/examples/host.lua")))
  end)

  it("installs a man page that man renders", function()
    local out = must("MANWIDTH=80 MANPATH=" .. q(prefix .. "/share/man") .. " man strand | cat")
    assert.matches("strand %- run Lua 5%.4 scripts", out)
    assert.matches("EXIT STATUS", out)
  end)

  it("stages into DESTDIR with the final PREFIX inside, and uninstalls from there", function()
    local stage = tmp .. "/stage"
    must(("make -C %s BUILD=build install PREFIX=/opt/strand DESTDIR=%s"):format(q(src), q(stage)))
    for _, f in ipairs(INSTALLED) do assert.is_true(exists(stage .. "/opt/strand/" .. f), f) end
    local pc = assert(io.open(stage .. "/opt/strand/lib/pkgconfig/strand.pc")):read("a")
    assert.matches("prefix=/opt/strand\n", pc)
    must(("make -C %s BUILD=build uninstall PREFIX=/opt/strand DESTDIR=%s"):format(q(src), q(stage)))
    assert.equal("", must("find " .. q(stage) .. " -type f -o -type l"))
  end)

  it("uninstalls everything it installed", function()
    must(("make -C %s BUILD=build uninstall PREFIX=%s"):format(q(src), q(prefix)))
    for _, f in ipairs(INSTALLED) do assert.is_false(exists(prefix .. "/" .. f), f) end
    assert.equal("", must("find " .. q(prefix) .. " -type f -o -type l"))
  end)
end)

describe("the rockspec", function()
  it("builds and installs offline with luarocks make", function()
    local tmp = must("mktemp -d"):gsub("%s+$", "")
    finally(function() sh("rm -rf " .. q(tmp)) end)
    local src, tree = tmp .. "/src", tmp .. "/tree"
    must(("mkdir -p %s && tar -cf - --exclude=./.git --exclude=./build --exclude='./build-*' . | tar -C %s -xf -")
         :format(q(src), q(src)))
    local rockspec = must("cd " .. q(src) .. " && ls strand-*.rockspec"):gsub("%s+$", "")
    -- no network: a proxy that does not exist
    must(("cd %s && MAKEFLAGS=-j2 http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 "
          .. "luarocks --lua-version 5.4 make --tree=%s --deps-mode=none %s"):format(q(src), q(tree), q(rockspec)))
    assert.matches("strand", must(("luarocks --lua-version 5.4 --tree=%s list --porcelain"):format(q(tree))))
    local out = must(("LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
      q(tree .. "/share/lua/5.4/?.lua"), q(tree .. "/lib/lua/5.4/?.so"), q([[
        local strand = require "strand"
        local t = strand.Thread{target = function() return "rock" end}
        t:start(); t:join(30)
        print(t:result(), type(require("strand.busted").run))
      ]])))
    assert.equal("rock\tfunction\n", out)
    assert.matches("^strand 0%.1%.0", must(q(tree .. "/bin/strand") .. " -v"))
  end)
end)

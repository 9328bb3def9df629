-- luarocks make --lua-version 5.4 strand-scm-1.rockspec
-- Builds with the project's Makefile (no network: every source is here) and
-- installs the Lua modules (strand.so, strand.busted) and the `strand`
-- command into the rocks tree; the header, libstrand, strand.pc and the man
-- page stay in the rock's own directory (see `luarocks show strand`).
rockspec_format = "3.0"
package = "strand"
version = "scm-1"
source = {
  url = "git+file:///work/main",
}
description = {
  summary = "Threads, processes, queues, shared memory and pools for Lua 5.4, with no global lock",
  detailed = [[
strand gives Lua what Python's threading, multiprocessing, queue and
concurrent.futures give Python: every thread runs its own lua_State, so
CPU-bound Lua code runs in parallel. It also embeds in C hosts (strand.h,
libstrand) and comes with strand.busted, a busted helper that makes
concurrent specs fail cleanly instead of hanging.
]],
  license = "MIT",
  labels = {"threads", "multiprocessing", "concurrency"},
}
supported_platforms = {"linux"}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    BUILD = "build-rock",
    LUA_INC = "$(LUA_INCDIR)",
  },
  install_target = "install",
  install_variables = {
    BUILD = "build-rock",
    PREFIX = "$(PREFIX)",
    BIN_DIR = "$(BINDIR)",
    LUA_CMOD_DIR = "$(LIBDIR)",
    LUA_LMOD_DIR = "$(LUADIR)",
    LIB_DIR = "$(PREFIX)/embed/lib",
    INCLUDE_DIR = "$(PREFIX)/embed/include",
    MAN1_DIR = "$(PREFIX)/doc/man1",
  },
}

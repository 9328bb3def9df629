/*
** host.c — a small C application that embeds strand.
**
** It has a C library of its own (`host.checksum`, Adler-32), opens strand
** into its own lua_State, and registers a state hook so that every worker
** state strand creates (threads, executor and pool workers) gets `host`
** too. Then it runs a Lua script (examples/host.lua by default) whose
** workers call host.checksum, and shuts strand down as the CLI does.
**
**   cc host.c $(pkg-config --cflags --libs strand) -o host && ./host host.lua
*/
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <strand.h>

/* host.checksum(s) -> Adler-32 of the bytes of s */
static int host_checksum(lua_State *L) {
  size_t len;
  const unsigned char *p = (const unsigned char *)luaL_checklstring(L, 1, &len);
  uint32_t a = 1, b = 0;
  for (size_t i = 0; i < len; i++) {
    a = (a + p[i]) % 65521;
    b = (b + a) % 65521;
  }
  lua_pushinteger(L, (lua_Integer)((b << 16) | a));
  return 1;
}

static const luaL_Reg host_lib[] = {{"checksum", host_checksum}, {NULL, NULL}};

/* The host's own library, as a global: in the main state and, through the
** hook, in every worker state. */
static void open_host(lua_State *L, void *ud) {
  luaL_newlib(L, host_lib);
  lua_pushstring(L, (const char *)ud);
  lua_setfield(L, -2, "name");
  lua_setglobal(L, "host");
}

int main(int argc, char **argv) {
  const char *script = argc > 1 ? argv[1] : "examples/host.lua";
  if (strand_init() != 0) {
    fprintf(stderr, "host: cannot start strand\n");
    return 1;
  }
  strand_set_state_hook(open_host, "example host");
  lua_State *L = luaL_newstate();
  strand_openlibs(L);     /* standard libraries + strand */
  open_host(L, "example host");
  strand_catch_sigint(L); /* Ctrl-C raises KeyboardInterrupt in the script */
  int status = strand_dofile(L, script);
  if (status != LUA_OK) fprintf(stderr, "host: %s\n", luaL_tolstring(L, -1, NULL));
  strand_shutdown(status != LUA_OK); /* join what is still running */
  lua_close(L);
  return status == LUA_OK ? 0 : 1;
}

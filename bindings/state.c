/*
** state.c — worker Lua states: creation, the interrupt hook, and running a
** function so that its error keeps the worker's traceback and name.
*/
#include "strand.h"
#include "sb.h"

#include <string.h>

static strand_state_hook init_hook;
static void *init_hook_ud;

void strand_set_state_hook(strand_state_hook fn, void *ud) {
  init_hook = fn;
  init_hook_ud = ud;
}

/* Checked every HOOK_COUNT instructions: a cancel or Ctrl-C reaches Lua code
** that never waits. Coroutines inherit the hook from their creator. */
#define HOOK_COUNT 1000

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (srt_interrupt_pending()) sb_raise_interrupt(L);
}

void sb_install_interrupt_hook(lua_State *L) {
  if (!lua_gethook(L)) lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, HOOK_COUNT);
}

static void set_package_field(lua_State *L, const char *field, const char *value) {
  if (!value) return;
  lua_getglobal(L, "package");
  lua_pushstring(L, value);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
}

static int open_state(lua_State *L) {
  const char *path = lua_touserdata(L, 1), *cpath = lua_touserdata(L, 2);
  luaL_openlibs(L);
  set_package_field(L, "path", path);
  set_package_field(L, "cpath", cpath);
  luaL_requiref(L, "strand", luaopen_strand, 1);
  lua_pop(L, 1);
  if (init_hook) init_hook(L, init_hook_ud);
  return 0;
}

lua_State *sb_new_state(const char *path, const char *cpath) {
  lua_State *L = luaL_newstate();
  if (!L) return NULL;
  lua_pushcfunction(L, open_state);
  lua_pushlightuserdata(L, (void *)path);
  lua_pushlightuserdata(L, (void *)cpath);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    lua_close(L);
    return NULL;
  }
  sb_install_interrupt_hook(L);
  return L;
}

const char *sb_current_name(lua_State *L) {
  const char *name = "MainThread";
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.name") == LUA_TSTRING) name = lua_tostring(L, -1);
  lua_pop(L, 1);
  return name; /* the registry keeps the string alive */
}

/* Message handler: wrap whatever was raised into a strand.Error that
** carries the traceback and the worker's name, keeping the original value. */
static int traceback_handler(lua_State *L) {
  int orig_is_error = 0;
  if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, "strand.Error");
    orig_is_error = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  if (orig_is_error) {
    lua_getfield(L, 1, "traceback");
    int has = lua_isstring(L, -1);
    lua_pop(L, 1);
    if (!has) {
      luaL_traceback(L, L, NULL, 1);
      lua_setfield(L, 1, "traceback");
      lua_pushstring(L, sb_current_name(L));
      lua_setfield(L, 1, "worker");
    }
    lua_settop(L, 1);
    return 1;
  }
  const char *msg = luaL_tolstring(L, 1, NULL);
  sb_push_error(L, "Error", msg);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "value");
  luaL_traceback(L, L, NULL, 1);
  lua_setfield(L, -2, "traceback");
  lua_pushstring(L, sb_current_name(L));
  lua_setfield(L, -2, "worker");
  return 1;
}

int sb_pcall_traceback(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback_handler);
  lua_insert(L, base);
  int r = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return r;
}

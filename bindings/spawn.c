/*
** spawn.c — what Thread{} and Process{} share: their options, and the
** function and arguments start() runs (a target with args, or a run method
** called with the handle, as Python's subclassing).
*/
#include "sb.h"

void sb_spawn_options(lua_State *L, const char *what) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_getfield(L, 1, "target"); /* 2 */
  lua_getfield(L, 1, "run");    /* 3 */
  if (!lua_isnil(L, 2) && !lua_isfunction(L, 2))
    luaL_error(L, "%s: target must be a function, got %s", what, luaL_typename(L, 2));
  if (!lua_isnil(L, 3) && !lua_isfunction(L, 3))
    luaL_error(L, "%s: run must be a function, got %s", what, luaL_typename(L, 3));
  lua_getfield(L, 1, "args"); /* 4 */
  if (!lua_isnil(L, 4) && !lua_istable(L, 4))
    luaL_error(L, "%s: args must be a table, got %s", what, luaL_typename(L, 4));
  lua_getfield(L, 1, "name"); /* 5 */
  if (!lua_isnil(L, 5) && !lua_isstring(L, 5)) luaL_error(L, "%s: name must be a string", what);
  lua_getfield(L, 1, "daemon"); /* 6 */
}

void sb_spawn_keep(lua_State *L, int handle) {
  handle = lua_absindex(L, handle);
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "target");
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "run");
  lua_pushvalue(L, 4);
  lua_setfield(L, -2, "args");
  lua_setiuservalue(L, handle, 1);
}

void sb_spawn_callable(lua_State *L) {
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 1); /* 2: {target, run, args} */
  lua_getfield(L, 2, "run");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_getfield(L, 2, "target");
    lua_getfield(L, 2, "args");
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
    }
  } else { /* run(self): the handle is the first argument */
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
  }
  if (lua_isnil(L, 3)) { /* no target: Python's run() does nothing */
    luaL_loadstring(L, "return");
    lua_replace(L, 3);
  }
}

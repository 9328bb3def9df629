/*
** spawn.c — what the constructors of Thread{}, Process{}, Pool{} and the
** executors share: checking their options (an unknown key is an error, as an
** unknown keyword argument is in Python: a misspelt option would otherwise
** be ignored without a word), and the function and arguments start() runs
** (a target with args, or a run method called with the handle, as Python's
** subclassing).
*/
#include "sb.h"

void sb_check_options(lua_State *L, int idx, const char *what, const char *const keys[]) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int known = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (int i = 0; keys[i] && !known; i++) known = strcmp(lua_tostring(L, -1), keys[i]) == 0;
    if (!known) {
      const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1);
      luaL_error(L, "%s: unknown option '%s'", what, k);
    }
  }
}

void sb_push_options(lua_State *L, const char *what, const char *const keys[], sb_optsrc *src) {
  int table = lua_istable(L, 1);
  if (table) sb_check_options(L, 1, what, keys);
  for (int i = 0; keys[i]; i++) {
    src[i] = (sb_optsrc){what, keys[i], table ? 0 : i + 1};
    if (table) lua_getfield(L, 1, keys[i]);
    else lua_pushvalue(L, i + 1);
  }
}

/* The error names the option as the caller wrote it: a key of the options
** table, or an argument by its position (in lauxlib's words then). */
static int opt_error(lua_State *L, const sb_optsrc *src, int slot, const char *expected) {
  /* a number that is not an integer is shown: "got 1.5" */
  int show = lua_type(L, slot) == LUA_TNUMBER && strcmp(expected, "integer") == 0;
  const char *got = show ? luaL_tolstring(L, slot, NULL) : luaL_typename(L, slot);
  if (src->pos) return luaL_argerror(L, src->pos, lua_pushfstring(L, "%s expected, got %s", expected, got));
  return luaL_error(L, "%s: %s must be %s %s, got %s", src->what, src->key,
                    expected[0] == 'i' ? "an" : "a", expected, got);
}

lua_Integer sb_opt_integer(lua_State *L, int slot, const sb_optsrc *src, lua_Integer dflt) {
  slot = lua_absindex(L, slot);
  if (lua_isnoneornil(L, slot)) return dflt;
  int ok = 0;
  lua_Integer v = lua_type(L, slot) == LUA_TNUMBER ? lua_tointegerx(L, slot, &ok) : 0;
  if (!ok) opt_error(L, src, slot, "integer");
  return v;
}

void sb_opt_type(lua_State *L, int slot, const sb_optsrc *src, int type) {
  slot = lua_absindex(L, slot);
  if (lua_isnoneornil(L, slot) || lua_type(L, slot) == type) return;
  opt_error(L, src, slot, lua_typename(L, type));
}

void sb_spawn_options(lua_State *L, const char *what) {
  static const char *const keys[] = {"target", "run", "args", "name", "daemon", NULL};
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  sb_check_options(L, 1, what, keys);
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

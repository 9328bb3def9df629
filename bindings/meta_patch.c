/*
** meta_patch.c — element access for handle types that need more than
** methods and named fields: Array (a[i]), the shared dict, list and
** Namespace (d[k], ns.x, pairs).
**
** handle.c builds a type's metatable the first time a state pushes one of
** its handles, and its __index knows only methods, getters and per-state
** fields. Each state that opens strand builds these metatables at once (by
** pushing a short-lived handle of a fresh zeroed object), then routes
** __index and __newindex through the type's own functions, which get the
** original ones as upvalue 1 for method and field names, and as upvalue 2 a
** table of methods given here (for types whose every other key is data). Handles decoded
** later in that state (sent by another thread or process) find the patched
** metatable.
*/
#include "sb.h"

void sb_meta_patch(lua_State *L, uint32_t type, size_t objsize, lua_CFunction index,
                   lua_CFunction newindex, const luaL_Reg *extra, const luaL_Reg *methods) {
  const sb_type *t = sb_type_of(type);
  if (!t) luaL_error(L, "strand: type %d is not registered", (int)type);
  if (luaL_getmetatable(L, t->name) == LUA_TNIL) {
    lua_pop(L, 1);
    sb_push_handle(L, sb_new_obj(L, type, objsize));
    lua_getmetatable(L, -1);
    lua_remove(L, -2); /* the handle: collected soon, its object freed */
  }
  if (lua_getfield(L, -1, "__strand_patched") != LUA_TNIL) {
    lua_pop(L, 2);
    return;
  }
  lua_pop(L, 1);
  lua_newtable(L); /* upvalue 2: the type's own methods, if it gives them here */
  if (methods) luaL_setfuncs(L, methods, 0);
  if (index) {
    lua_getfield(L, -2, "__index");
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, index, 2);
    lua_setfield(L, -3, "__index");
  }
  if (newindex) {
    lua_getfield(L, -2, "__newindex");
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, newindex, 2);
    lua_setfield(L, -3, "__newindex");
  }
  lua_pop(L, 1);
  if (extra) luaL_setfuncs(L, extra, 0);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "__strand_patched");
  lua_pop(L, 1);
}

/* The original __index (upvalue 1) for a name: methods, getters, fields. */
int sb_meta_index_fallback(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_call(L, 2, 1);
  return 1;
}

int sb_meta_newindex_fallback(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_call(L, 3, 0);
  return 0;
}

/* Push a handle for o kept in the per-state fields of the handle at idx
** (under a key no script can name), so get_lock() gives the same userdata
** every time without making a new one per call. */
int sb_push_cached_ref(lua_State *L, int idx, srt_obj *o) {
  static const char key = 0;
  idx = lua_absindex(L, idx);
  if (lua_getiuservalue(L, idx, 1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, idx, 1);
  }
  if (lua_rawgetp(L, -1, &key) == LUA_TUSERDATA) return 1;
  lua_pop(L, 1);
  sb_push_ref(L, o);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, -3, &key);
  return 1;
}

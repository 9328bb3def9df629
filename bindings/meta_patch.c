/*
** meta_patch.c — element access for handle types that need more than
** methods and named fields: Array (a[i]), Value (.value), the shared dict,
** list and Namespace (d[k], ns.x, pairs).
**
** A type records here, once, its own __index/__newindex and extra
** metamethods. handle.c builds a type's metatable the first time a state
** pushes one of its handles and then applies the record (sb_meta_apply):
** __index and __newindex are routed through the type's functions, which get
** the generic ones as upvalue 1 (methods, getters, per-state fields) and, as
** upvalue 2, a table of methods given here (for types whose every other key
** is data); a type that gives only methods gets their plain table as
** __index, the fastest lookup. Opening strand in a new state costs nothing
** for these types.
*/
#include "sb.h"

#include <pthread.h>

typedef struct meta_ext {
  lua_CFunction index, newindex;
  const luaL_Reg *extra, *methods;
} meta_ext;

static meta_ext exts[SB_T_COUNT];
static _Atomic int ext_set[SB_T_COUNT];
static pthread_mutex_t ext_mu = PTHREAD_MUTEX_INITIALIZER;

void sb_meta_patch(lua_State *L, uint32_t type, size_t objsize, lua_CFunction index,
                   lua_CFunction newindex, const luaL_Reg *extra, const luaL_Reg *methods) {
  (void)objsize;
  if (type >= SB_T_COUNT || !sb_type_of(type))
    luaL_error(L, "strand: type %d is not registered", (int)type);
  if (atomic_load(&ext_set[type])) return;
  pthread_mutex_lock(&ext_mu);
  if (!atomic_load(&ext_set[type])) {
    exts[type] = (meta_ext){index, newindex, extra, methods};
    atomic_store(&ext_set[type], 1);
  }
  pthread_mutex_unlock(&ext_mu);
}

/* With the type's fresh metatable at -1. */
void sb_meta_apply(lua_State *L, uint32_t type) {
  if (type >= SB_T_COUNT || !atomic_load(&ext_set[type])) return;
  const meta_ext *x = &exts[type];
  lua_newtable(L); /* upvalue 2: the type's own methods, if it gives them here */
  if (x->methods) luaL_setfuncs(L, x->methods, 0);
  if (x->index) {
    lua_getfield(L, -2, "__index");
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, x->index, 2);
    lua_setfield(L, -3, "__index");
  } else if (x->methods) { /* only methods: __index is their plain table */
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
  }
  if (x->newindex) {
    lua_getfield(L, -2, "__newindex");
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, x->newindex, 2);
    lua_setfield(L, -3, "__newindex");
  }
  lua_pop(L, 1);
  if (x->extra) luaL_setfuncs(L, x->extra, 0);
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

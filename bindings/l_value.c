/*
** l_value.c — strand.Value and strand.RawValue: one typed number (or char,
** or boolean) in the shared arena, as Python's multiprocessing.Value.
**
** `.value` reads and writes are single atomic loads and stores, so they are
** never torn and need no lock; the object's lock (an RLock by default, as
** Python's) is for the script to make a read-modify-write atomic:
**
**   local _ <close> = v:get_lock():hold(); v.value = v.value + 1
**
** or, without any lock, v:add(1). Unlike Python, `.value` does not take the
** lock itself: a lone access is atomic anyway, and a script holding a plain
** Lock it passed in cannot deadlock on its own `.value`.
*/
#include "sb.h"

#include <stdio.h>
#include <string.h>

typedef struct sb_value {
  srt_obj h;
  srt_obj *lock; /* Lock or RLock object; NULL for a RawValue */
  srt_lock *lk;

  char code;
  _Alignas(8) unsigned char data[8];
} sb_value;

#define check_value(L, i) ((sb_value *)sb_check(L, i, SB_T_VALUE))

static void value_destroy(srt_obj *o) {
  sb_value *v = (sb_value *)o;
  if (v->lock) srt_decref(v->lock);
  v->lock = NULL;
}

/* The typecode of v, looked up by code: a handle decoded by another
** program image (never happens in one tree, but cheap to be safe). */
static const sb_tc *tc_of(sb_value *v) { return sb_tc_find(v->code); }

static int new_value(lua_State *L, int raw) {
  const char *fname = raw ? "RawValue" : "Value";
  const sb_tc *t = sb_tc_check(L, 1);
  lua_settop(L, 3);
  uint64_t bits = lua_isnoneornil(L, 2) ? sb_tc_zero(t) : sb_tc_tobits(L, t, 2, "initial value");
  srt_lock *lk = NULL;
  srt_obj *lock = raw ? NULL : sb_lock_option(L, 3, fname, &lk);
  sb_value *v = srt_obj_new(SB_T_VALUE, sizeof *v);
  if (!v) {
    if (lock) srt_decref(lock);
    return sb_error(L, "MemoryError", "strand arena is full (set STRAND_ARENA_MB)");
  }
  v->lock = lock;
  v->lk = lk;
  v->code = t->code;
  sb_tc_store(t, v->data, bits);
  sb_push_handle(L, &v->h);
  return 1;
}

static int l_value(lua_State *L) { return new_value(L, 0); }
static int l_rawvalue(lua_State *L) { return new_value(L, 1); }

static int g_value(lua_State *L) {
  sb_value *v = check_value(L, 1);
  const sb_tc *t = tc_of(v);
  sb_tc_push(L, t, sb_tc_load(t, v->data));
  return 1;
}

static int s_value(lua_State *L) {
  sb_value *v = check_value(L, 1);
  const sb_tc *t = tc_of(v);
  sb_tc_store(t, v->data, sb_tc_tobits(L, t, 3, "value"));
  return 0;
}

static int g_typecode(lua_State *L) {
  char c = check_value(L, 1)->code;
  lua_pushlstring(L, &c, 1);
  return 1;
}

static int l_get_lock(lua_State *L) {
  sb_value *v = check_value(L, 1);
  if (!v->lock) return luaL_error(L, "a RawValue (or a Value made with lock=false) has no lock");
  return sb_push_cached_ref(L, 1, v->lock);
}

static int l_add(lua_State *L) {
  sb_value *v = check_value(L, 1);
  return sb_tc_add(L, tc_of(v), v->data, 2, "add");
}

static int l_compare_and_set(lua_State *L) {
  sb_value *v = check_value(L, 1);
  luaL_checkany(L, 3);
  return sb_tc_cas(L, tc_of(v), v->data, 2, 3, "compare_and_set");
}

static int l_exchange(lua_State *L) {
  sb_value *v = check_value(L, 1);
  luaL_checkany(L, 2);
  return sb_tc_exchange(L, tc_of(v), v->data, 2, "exchange");
}

static int value_tostring(lua_State *L) {
  sb_value *v = check_value(L, 1);
  const sb_tc *t = tc_of(v);
  uint64_t bits = sb_tc_load(t, v->data);
  const char *kind = v->lock ? "Value" : "RawValue";
  if (t->kind == SB_TC_CHAR) {
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "format");
    lua_pushliteral(L, "%q");
    sb_tc_push(L, t, bits);
    lua_call(L, 2, 1);
  } else {
    sb_tc_push(L, t, bits);
  }
  lua_pushfstring(L, "%s('%c', %s)", kind, v->code, luaL_tolstring(L, -1, NULL));
  return 1;
}

static const luaL_Reg value_methods[];

/* `.value` is the hot path (v.value = v.value + 1 under a lock): it is
** served before the generic method/field lookup. */
static int is_value_key(lua_State *L) {
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  const char *k = lua_tostring(L, 2);
  return k[0] == 'v' && strcmp(k, "value") == 0;
}

static int value_index(lua_State *L) {
  if (is_value_key(L)) return g_value(L);
  lua_pushvalue(L, 2); /* methods next, without the generic lookup's extra call */
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  return sb_meta_index_fallback(L);
}

static int value_newindex(lua_State *L) {
  if (!is_value_key(L)) return sb_meta_newindex_fallback(L);
  return s_value(L);
}

static const luaL_Reg value_methods[] = {{"get_lock", l_get_lock},
                                         {"add", l_add},
                                         {"compare_and_set", l_compare_and_set},
                                         {"exchange", l_exchange},
                                         {NULL, NULL}};
static const luaL_Reg value_getters[] = {{"value", g_value}, {"typecode", g_typecode}, {NULL, NULL}};
static const luaL_Reg value_setters[] = {{"value", s_value}, {NULL, NULL}};

static const sb_type value_type = {SB_T_VALUE, "strand.Value", value_methods, value_getters,
                                   value_setters, NULL, value_tostring, NULL, value_destroy};

void sb_open_value(lua_State *L) {
  sb_register_type(&value_type);
  sb_meta_patch(L, SB_T_VALUE, sizeof(sb_value), value_index, value_newindex, NULL, value_methods);
  sb_setfn(L, "Value", l_value);
  sb_setfn(L, "RawValue", l_rawvalue);
}

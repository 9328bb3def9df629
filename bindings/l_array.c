/*
** l_array.c — strand.Array and strand.RawArray: a fixed-length typed array
** in the shared arena, as Python's multiprocessing.Array, with Lua's 1-based
** indices.
**
** Each element is read and written atomically on its own (typecode.c), so
** a[i] never needs the lock. Operations on many elements (slice, totable,
** set, tostring) take the array's lock, unless this thread already holds it,
** so they see and leave the array whole; a RawArray has no lock and they
** are element by element. Values are converted (and checked) before the lock
** is taken and the results pushed after it is released: no Lua error can
** leave it held.
**
** Reading a[#a + 1] gives nil, as for a Lua sequence, so ipairs and
** `while a[i]` stop there; any other index outside 1..#a is an error.
*/
#include "sb.h"

#include <string.h>

typedef struct sb_array {
  srt_obj h;
  srt_obj *lock; /* Lock or RLock object; NULL for a RawArray */
  srt_lock *lk;
  char code;
  lua_Integer n;
  _Alignas(16) unsigned char data[];
} sb_array;

#define check_array(L, i) ((sb_array *)sb_check(L, i, SB_T_ARRAY))
#define TOSTRING_MAX 16

static void array_destroy(srt_obj *o) {
  sb_array *a = (sb_array *)o;
  if (a->lock) srt_decref(a->lock);
  a->lock = NULL;
}

static const sb_tc *tc_of(sb_array *a) { return sb_tc_find(a->code); }
static void *elem(sb_array *a, const sb_tc *t, lua_Integer i) { return a->data + (size_t)(i - 1) * t->size; }

/* ---- bulk access under the lock ---------------------------------------------------- */
/* Copy elements i..j (1-based, in range) into out, under the lock. */
static void load_range(lua_State *L, sb_array *a, const sb_tc *t, lua_Integer i, lua_Integer j,
                       uint64_t *out) {
  int took = sb_lock_bulk(L, a->lk);
  for (lua_Integer k = i; k <= j; k++) out[k - i] = sb_tc_load(t, elem(a, t, k));
  if (took) srt_lock_release(a->lk);
}

static uint64_t *scratch(lua_State *L, lua_Integer n) {
  return lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(uint64_t), 0);
}

/* Push a table of elements i..j, leaving nothing else. */
static void push_range(lua_State *L, sb_array *a, lua_Integer i, lua_Integer j) {
  const sb_tc *t = tc_of(a);
  lua_Integer n = j >= i ? j - i + 1 : 0;
  uint64_t *buf = scratch(L, n);
  load_range(L, a, t, i, j, buf);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer k = 0; k < n; k++) {
    sb_tc_push(L, t, buf[k]);
    lua_rawseti(L, -2, k + 1);
  }
  lua_remove(L, -2);
}

/* ---- constructor -------------------------------------------------------------------- */
/* The initial contents from a size, a table or (for 'c') a string, as bits
** in a scratch buffer left on the stack. Returns the length. */
static lua_Integer initial(lua_State *L, const sb_tc *t, int idx, int raw, uint64_t **bits) {
  const char *fname = raw ? "RawArray" : "Array";
  lua_Integer n;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    int isint;
    n = lua_tointegerx(L, idx, &isint);
    if (!isint || n < 0) luaL_argerror(L, idx, "size must be a non-negative integer");
    if ((lua_Unsigned)n > (SIZE_MAX / 2) / 8) sb_error(L, "MemoryError", "%s: size %I is too large", fname, n);
    *bits = NULL;
    return n;
  }
  if (lua_type(L, idx) == LUA_TSTRING && t->kind == SB_TC_CHAR) {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    *bits = scratch(L, (lua_Integer)len);
    for (size_t k = 0; k < len; k++) (*bits)[k] = (unsigned char)s[k];
    return (lua_Integer)len;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    luaL_argerror(L, idx, lua_pushfstring(L, "size or table expected, got %s", luaL_typename(L, idx)));
  n = (lua_Integer)lua_rawlen(L, idx);
  *bits = scratch(L, n);
  for (lua_Integer k = 1; k <= n; k++) {
    lua_rawgeti(L, idx, k);
    (*bits)[k - 1] = sb_tc_tobits_at(L, t, -1, raw ? "RawArray initializer[]" : "Array initializer[]", k);
    lua_pop(L, 1);
  }
  return n;
}

static int new_array(lua_State *L, int raw) {
  const char *fname = raw ? "RawArray" : "Array";
  const sb_tc *t = sb_tc_check(L, 1);
  luaL_checkany(L, 2);
  lua_settop(L, 3); /* initial() pushes its buffer above the options */
  uint64_t *bits;
  lua_Integer n = initial(L, t, 2, raw, &bits);
  srt_lock *lk = NULL;
  srt_obj *lock = raw ? NULL : sb_lock_option(L, 3, fname, &lk);
  sb_array *a = srt_obj_new(SB_T_ARRAY, sizeof *a + (size_t)n * t->size);
  if (!a) {
    if (lock) srt_decref(lock);
    return sb_error(L, "MemoryError", "strand arena is full: %s of %I elements (set STRAND_ARENA_MB)", fname, n);
  }
  a->lock = lock;
  a->lk = lk;
  a->code = t->code;
  a->n = n;
  uint64_t zero = sb_tc_zero(t);
  for (lua_Integer k = 1; k <= n; k++) sb_tc_store(t, elem(a, t, k), bits ? bits[k - 1] : zero);
  sb_push_handle(L, &a->h);
  return 1;
}

static int l_array(lua_State *L) { return new_array(L, 0); }
static int l_rawarray(lua_State *L) { return new_array(L, 1); }

/* ---- indexing ------------------------------------------------------------------------ */
/* The integer index at idx in 1..n (n + extra allowed), or an error. */
static lua_Integer check_index(lua_State *L, sb_array *a, int idx, int extra) {
  int isint = 0;
  lua_Integer i = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &isint) : 0;
  if (!isint)
    luaL_error(L, "Array index must be an integer, got %s",
               lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx));
  if (i < 1 || i > a->n + extra) luaL_error(L, "Array index %I out of range (1..%I)", i, a->n);
  return i;
}

static int array_index(lua_State *L) {
  if (lua_type(L, 2) != LUA_TNUMBER) {
    lua_pushvalue(L, 2); /* methods first, without the generic lookup's extra call */
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    return sb_meta_index_fallback(L);
  }
  sb_array *a = check_array(L, 1);
  lua_Integer i = check_index(L, a, 2, 1);
  if (i == a->n + 1) return 0; /* the end of the sequence, for ipairs */
  const sb_tc *t = tc_of(a);
  sb_tc_push(L, t, sb_tc_load(t, elem(a, t, i)));
  return 1;
}

static int array_newindex(lua_State *L) {
  if (lua_type(L, 2) != LUA_TNUMBER) return sb_meta_newindex_fallback(L);
  sb_array *a = check_array(L, 1);
  lua_Integer i = check_index(L, a, 2, 0);
  const sb_tc *t = tc_of(a);
  sb_tc_store(t, elem(a, t, i), sb_tc_tobits_at(L, t, 3, "a[]", i));
  return 0;
}

static int array_len(lua_State *L) {
  lua_pushinteger(L, check_array(L, 1)->n);
  return 1;
}

static int ipairs_step(lua_State *L) {
  lua_Integer i = luaL_checkinteger(L, 2) + 1;
  sb_array *a = check_array(L, 1);
  if (i > a->n) return 0;
  const sb_tc *t = tc_of(a);
  lua_pushinteger(L, i);
  sb_tc_push(L, t, sb_tc_load(t, elem(a, t, i)));
  return 2;
}

/* pairs(a) walks it like ipairs (no snapshot: each element as it is then). */
static int array_pairs(lua_State *L) {
  check_array(L, 1);
  lua_pushcfunction(L, ipairs_step);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  return 3;
}

/* ---- methods ----------------------------------------------------------------------------- */
static int l_get_lock(lua_State *L) {
  sb_array *a = check_array(L, 1);
  if (!a->lock) return luaL_error(L, "a RawArray (or an Array made with lock=false) has no lock");
  return sb_push_cached_ref(L, 1, a->lock);
}

/* slice(i, j): elements i..j as a table; defaults 1 and #a; negative
** positions count from the end; clamped to the array, as string.sub. */
static int l_slice(lua_State *L) {
  sb_array *a = check_array(L, 1);
  lua_Integer n = a->n, i = luaL_optinteger(L, 2, 1), j = luaL_optinteger(L, 3, n);
  if (i < 0) i = i < -n ? 1 : n + i + 1;
  if (j < 0) j = j < -n ? 0 : n + j + 1;
  if (i < 1) i = 1;
  if (j > n) j = n;
  lua_settop(L, 1);
  push_range(L, a, i, j);
  return 1;
}

static int l_totable(lua_State *L) {
  sb_array *a = check_array(L, 1);
  lua_settop(L, 1);
  push_range(L, a, 1, a->n);
  return 1;
}

/* set(i, t): a[i], a[i+1], ... = t[1], t[2], ...; all or nothing. */
static int l_set(lua_State *L) {
  sb_array *a = check_array(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_Integer m = (lua_Integer)lua_rawlen(L, 3);
  if (i < 1 || i > a->n + 1 || m > a->n - i + 1)
    return luaL_error(L, "Array:set(%I, table of %I): out of range (1..%I)", i, m, a->n);
  const sb_tc *t = tc_of(a);
  uint64_t *bits = scratch(L, m);
  for (lua_Integer k = 1; k <= m; k++) {
    lua_rawgeti(L, 3, k);
    bits[k - 1] = sb_tc_tobits_at(L, t, -1, "a[]", i + k - 1);
    lua_pop(L, 1);
  }
  int took = sb_lock_bulk(L, a->lk);
  for (lua_Integer k = 0; k < m; k++) sb_tc_store(t, elem(a, t, i + k), bits[k]);
  if (took) srt_lock_release(a->lk);
  return 0;
}

static int l_add(lua_State *L) {
  sb_array *a = check_array(L, 1);
  lua_Integer i = check_index(L, a, 2, 0);
  const sb_tc *t = tc_of(a);
  return sb_tc_add(L, t, elem(a, t, i), 3, "add");
}

static int l_compare_and_set(lua_State *L) {
  sb_array *a = check_array(L, 1);
  lua_Integer i = check_index(L, a, 2, 0);
  luaL_checkany(L, 4);
  const sb_tc *t = tc_of(a);
  return sb_tc_cas(L, t, elem(a, t, i), 3, 4, "compare_and_set");
}

static int l_exchange(lua_State *L) {
  sb_array *a = check_array(L, 1);
  lua_Integer i = check_index(L, a, 2, 0);
  luaL_checkany(L, 3);
  const sb_tc *t = tc_of(a);
  return sb_tc_exchange(L, t, elem(a, t, i), 3, "exchange");
}

static int g_typecode(lua_State *L) {
  char c = check_array(L, 1)->code;
  lua_pushlstring(L, &c, 1);
  return 1;
}

/* Array('i', {1, 2, 3}); long arrays end with ", ... (n)" */
static int array_tostring(lua_State *L) {
  sb_array *a = check_array(L, 1);
  lua_settop(L, 1);
  lua_Integer shown = a->n < TOSTRING_MAX ? a->n : TOSTRING_MAX;
  push_range(L, a, 1, shown);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "%s('%c', {", a->lock ? "Array" : "RawArray", a->code);
  luaL_addvalue(&b);
  for (lua_Integer k = 1; k <= shown; k++) {
    if (k > 1) luaL_addstring(&b, ", ");
    lua_rawgeti(L, 2, k);
    if (lua_type(L, -1) == LUA_TSTRING) {
      lua_getglobal(L, "string");
      lua_getfield(L, -1, "format");
      lua_pushliteral(L, "%q");
      lua_pushvalue(L, -4);
      lua_call(L, 2, 1);
      lua_replace(L, -3);
      lua_pop(L, 1);
    }
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    luaL_addvalue(&b);
  }
  if (a->n > shown) {
    lua_pushfstring(L, ", ... (%I elements)", a->n);
    luaL_addvalue(&b);
  }
  luaL_addstring(&b, "})");
  luaL_pushresult(&b);
  return 1;
}

static const luaL_Reg array_methods[] = {{"get_lock", l_get_lock},
                                         {"slice", l_slice},
                                         {"set", l_set},
                                         {"totable", l_totable},
                                         {"add", l_add},
                                         {"compare_and_set", l_compare_and_set},
                                         {"exchange", l_exchange},
                                         {NULL, NULL}};
static const luaL_Reg array_getters[] = {{"typecode", g_typecode}, {NULL, NULL}};
static const luaL_Reg array_extra[] = {{"__pairs", array_pairs}, {NULL, NULL}};

static const sb_type array_type = {SB_T_ARRAY, "strand.Array", array_methods, array_getters, NULL,
                                   NULL,        array_tostring, array_len,    array_destroy};

void sb_open_array(lua_State *L) {
  sb_register_type(&array_type);
  sb_meta_patch(L, SB_T_ARRAY, sizeof(sb_array), array_index, array_newindex, array_extra, array_methods);
  sb_setfn(L, "Array", l_array);
  sb_setfn(L, "RawArray", l_rawarray);
}

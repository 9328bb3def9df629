/*
** typecode.c — Python's array/ctypes typecodes for Value and Array: sizes,
** ranges, Lua <-> bits conversion with clear errors, and lock-free atomic
** loads, stores and read-modify-writes on elements in the arena.
**
** An element is 1, 2, 4 or 8 bytes of arena memory, naturally aligned, read
** and written only through C11 atomics of its width, so a lone read or write
** is never torn, whether or not anyone holds the object's lock. Values travel
** as uint64_t bit patterns: two's complement for integers, IEEE bits for
** floats, the byte for 'c', 0/1 for '?'.
*/
#include "sb.h"

#include <float.h>
#include <math.h>
#include <string.h>

static const sb_tc tcs[] = {
    {'b', 1, SB_TC_INT, INT8_MIN, INT8_MAX, "signed char"},
    {'B', 1, SB_TC_INT, 0, UINT8_MAX, "unsigned char"},
    {'h', 2, SB_TC_INT, INT16_MIN, INT16_MAX, "short"},
    {'H', 2, SB_TC_INT, 0, UINT16_MAX, "unsigned short"},
    {'i', 4, SB_TC_INT, INT32_MIN, INT32_MAX, "int"},
    {'I', 4, SB_TC_INT, 0, UINT32_MAX, "unsigned int"},
    {'l', 8, SB_TC_INT, INT64_MIN, INT64_MAX, "long"},
    {'L', 8, SB_TC_INT, 0, INT64_MAX, "unsigned long"},
    {'q', 8, SB_TC_INT, INT64_MIN, INT64_MAX, "long long"},
    {'Q', 8, SB_TC_INT, 0, INT64_MAX, "unsigned long long"},
    {'f', 4, SB_TC_FLOAT, 0, 0, "float"},
    {'d', 8, SB_TC_FLOAT, 0, 0, "double"},
    {'c', 1, SB_TC_CHAR, 0, 0, "char"},
    {'?', 1, SB_TC_BOOL, 0, 0, "bool"},
};

const sb_tc *sb_tc_find(int code) {
  for (size_t i = 0; i < sizeof tcs / sizeof tcs[0]; i++)
    if (tcs[i].code == code) return &tcs[i];
  return NULL;
}

const sb_tc *sb_tc_check(lua_State *L, int idx) {
  size_t n;
  const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
  const sb_tc *t = s && n == 1 ? sb_tc_find(s[0]) : NULL;
  if (!t)
    luaL_argerror(L, idx, lua_pushfstring(L, "bad typecode %s (expected one of b B h H i I l L q Q f d c ?)",
                                          s ? lua_pushfstring(L, "'%s'", s) : luaL_typename(L, idx)));
  return t;
}

/* ---- atomic access by width ----------------------------------------------------- */
uint64_t sb_tc_load(const sb_tc *t, const void *p) {
  switch (t->size) {
    case 1: return atomic_load_explicit((_Atomic uint8_t *)p, memory_order_acquire);
    case 2: return atomic_load_explicit((_Atomic uint16_t *)p, memory_order_acquire);
    case 4: return atomic_load_explicit((_Atomic uint32_t *)p, memory_order_acquire);
    default: return atomic_load_explicit((_Atomic uint64_t *)p, memory_order_acquire);
  }
}

void sb_tc_store(const sb_tc *t, void *p, uint64_t bits) {
  switch (t->size) {
    case 1: atomic_store_explicit((_Atomic uint8_t *)p, (uint8_t)bits, memory_order_release); break;
    case 2: atomic_store_explicit((_Atomic uint16_t *)p, (uint16_t)bits, memory_order_release); break;
    case 4: atomic_store_explicit((_Atomic uint32_t *)p, (uint32_t)bits, memory_order_release); break;
    default: atomic_store_explicit((_Atomic uint64_t *)p, bits, memory_order_release);
  }
}

static uint64_t tc_exchange(const sb_tc *t, void *p, uint64_t bits) {
  switch (t->size) {
    case 1: return atomic_exchange((_Atomic uint8_t *)p, (uint8_t)bits);
    case 2: return atomic_exchange((_Atomic uint16_t *)p, (uint16_t)bits);
    case 4: return atomic_exchange((_Atomic uint32_t *)p, (uint32_t)bits);
    default: return atomic_exchange((_Atomic uint64_t *)p, bits);
  }
}

/* CAS on the bits; on failure *expected gets the current bits. */
static int tc_cas(const sb_tc *t, void *p, uint64_t *expected, uint64_t bits) {
  int r;
  switch (t->size) {
    case 1: {
      uint8_t e = (uint8_t)*expected;
      r = atomic_compare_exchange_strong((_Atomic uint8_t *)p, &e, (uint8_t)bits);
      *expected = e;
      break;
    }
    case 2: {
      uint16_t e = (uint16_t)*expected;
      r = atomic_compare_exchange_strong((_Atomic uint16_t *)p, &e, (uint16_t)bits);
      *expected = e;
      break;
    }
    case 4: {
      uint32_t e = (uint32_t)*expected;
      r = atomic_compare_exchange_strong((_Atomic uint32_t *)p, &e, (uint32_t)bits);
      *expected = e;
      break;
    }
    default: r = atomic_compare_exchange_strong((_Atomic uint64_t *)p, expected, bits);
  }
  return r;
}

/* ---- bits <-> numbers ------------------------------------------------------------ */
static int64_t int_of(const sb_tc *t, uint64_t bits) {
  switch (t->size) {
    case 1: return t->min < 0 ? (int8_t)bits : (int64_t)(uint8_t)bits;
    case 2: return t->min < 0 ? (int16_t)bits : (int64_t)(uint16_t)bits;
    case 4: return t->min < 0 ? (int32_t)bits : (int64_t)(uint32_t)bits;
    default: return (int64_t)bits;
  }
}

static double float_of(const sb_tc *t, uint64_t bits) {
  if (t->size == 4) {
    float f;
    uint32_t b = (uint32_t)bits;
    memcpy(&f, &b, 4);
    return f;
  }
  double d;
  memcpy(&d, &bits, 8);
  return d;
}

static uint64_t bits_of_float(const sb_tc *t, double x) {
  if (t->size == 4) {
    float f = (float)x;
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
  }
  uint64_t b;
  memcpy(&b, &x, 8);
  return b;
}

void sb_tc_push(lua_State *L, const sb_tc *t, uint64_t bits) {
  switch (t->kind) {
    case SB_TC_INT: lua_pushinteger(L, (lua_Integer)int_of(t, bits)); break;
    case SB_TC_FLOAT: lua_pushnumber(L, float_of(t, bits)); break;
    case SB_TC_BOOL: lua_pushboolean(L, (bits & 0xff) != 0); break;
    default: {
      char c = (char)(bits & 0xff);
      lua_pushlstring(L, &c, 1);
    }
  }
}

/* Raises "<what>: <why>" (what names the place: "value", "a[3]"); what
** "a[]" with at > 0 is written "a[at]", so callers build no string unless
** the value is bad. */
static int bad_at(lua_State *L, const char *what, lua_Integer at, const char *why) {
  size_t n = strlen(what);
  if (at > 0 && n >= 2 && what[n - 2] == '[' && what[n - 1] == ']')
    return luaL_error(L, "%s%I]: %s", lua_pushlstring(L, what, n - 1), at, why);
  return luaL_error(L, "%s: %s", what, why);
}
#define bad_value(L, what, why) bad_at(L, what, at, why)

static int64_t check_int(lua_State *L, const sb_tc *t, int idx, const char *what, lua_Integer at) {
  int isnum = 0;
  lua_Integer i = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &isnum) : 0;
  if (!isnum) {
    if (lua_type(L, idx) == LUA_TNUMBER)
      bad_value(L, what, lua_pushfstring(L, "%s has no integer representation (typecode '%c' holds integers)",
                                         lua_tostring(L, idx), t->code));
    bad_value(L, what, lua_pushfstring(L, "integer expected for typecode '%c', got %s", t->code,
                                       luaL_typename(L, idx)));
  }
  if (i < t->min || i > t->max)
    bad_value(L, what, lua_pushfstring(L, "%I is out of range for typecode '%c' (%s: %I..%I)", i, t->code,
                                       t->name, (lua_Integer)t->min, (lua_Integer)t->max));
  return i;
}

uint64_t sb_tc_tobits(lua_State *L, const sb_tc *t, int idx, const char *what) {
  return sb_tc_tobits_at(L, t, idx, what, 0);
}

uint64_t sb_tc_tobits_at(lua_State *L, const sb_tc *t, int idx, const char *what, lua_Integer at) {
  switch (t->kind) {
    case SB_TC_INT: return (uint64_t)check_int(L, t, idx, what, at);
    case SB_TC_FLOAT: {
      if (lua_type(L, idx) != LUA_TNUMBER)
        bad_value(L, what, lua_pushfstring(L, "number expected for typecode '%c', got %s", t->code,
                                           luaL_typename(L, idx)));
      double x = lua_tonumber(L, idx);
      if (t->size == 4 && isfinite(x) && fabs(x) > FLT_MAX)
        bad_value(L, what, lua_pushfstring(L, "%s is out of range for typecode 'f' (float)", lua_tostring(L, idx)));
      return bits_of_float(t, x);
    }
    case SB_TC_BOOL:
      if (lua_type(L, idx) != LUA_TBOOLEAN)
        bad_value(L, what, lua_pushfstring(L, "boolean expected for typecode '?', got %s", luaL_typename(L, idx)));
      return (uint64_t)lua_toboolean(L, idx);
    default: {
      size_t n = 0;
      const char *s = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &n) : NULL;
      if (!s || n != 1)
        bad_value(L, what, s ? lua_pushfstring(L, "a one-byte string expected for typecode 'c', got %d bytes", (int)n)
                             : lua_pushfstring(L, "a one-byte string expected for typecode 'c', got %s",
                                               luaL_typename(L, idx)));
      return (unsigned char)s[0];
    }
  }
}

uint64_t sb_tc_zero(const sb_tc *t) { return t->kind == SB_TC_FLOAT ? bits_of_float(t, 0.0) : 0; }

/* ---- atomic read-modify-write ----------------------------------------------------- */
/* add(n): a CAS loop, so the result is range-checked before it is written
** (an overflow is an error and changes nothing). Pushes the new value. */
int sb_tc_add(lua_State *L, const sb_tc *t, void *p, int idx, const char *what) {
  const lua_Integer at = 0;
  if (t->kind == SB_TC_INT) {
    int isnum = 0;
    lua_Integer n = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &isnum) : 0;
    if (!isnum) return bad_value(L, what, "add needs an integer for an integer typecode");
    uint64_t cur = sb_tc_load(t, p);
    for (;;) {
      int64_t v;
      if (__builtin_add_overflow(int_of(t, cur), (int64_t)n, &v) || v < t->min || v > t->max)
        return bad_value(L, what, lua_pushfstring(L, "add(%I) would leave the range of typecode '%c' (%I..%I)",
                                                  n, t->code, (lua_Integer)t->min, (lua_Integer)t->max));
      if (tc_cas(t, p, &cur, (uint64_t)v)) {
        lua_pushinteger(L, (lua_Integer)v);
        return 1;
      }
    }
  }
  if (t->kind == SB_TC_FLOAT) {
    if (lua_type(L, idx) != LUA_TNUMBER) return bad_value(L, what, "add needs a number");
    double n = lua_tonumber(L, idx);
    uint64_t cur = sb_tc_load(t, p);
    for (;;) {
      double v = float_of(t, cur) + n;
      uint64_t nb = bits_of_float(t, v);
      if (tc_cas(t, p, &cur, nb)) {
        lua_pushnumber(L, float_of(t, nb));
        return 1;
      }
    }
  }
  return bad_value(L, what, lua_pushfstring(L, "add needs a number typecode, not '%c'", t->code));
}

/* Two stored bit patterns hold equal values (floats compare as numbers). */
static int same_value(const sb_tc *t, uint64_t a, uint64_t b) {
  if (t->kind == SB_TC_FLOAT) return float_of(t, a) == float_of(t, b);
  if (t->kind == SB_TC_BOOL) return ((a & 0xff) != 0) == ((b & 0xff) != 0);
  return a == b;
}

/* compare_and_set(old, new): writes new if the element equals old; pushes
** whether it did. An `old` outside the type's range simply never matches. */
int sb_tc_cas(lua_State *L, const sb_tc *t, void *p, int iold, int inew, const char *what) {
  const lua_Integer at = 0;
  uint64_t nb = sb_tc_tobits(L, t, inew, what);
  uint64_t ob;
  if (t->kind == SB_TC_INT) {
    int isnum = 0;
    lua_Integer o = lua_type(L, iold) == LUA_TNUMBER ? lua_tointegerx(L, iold, &isnum) : 0;
    if (!isnum && lua_type(L, iold) != LUA_TNUMBER)
      return bad_value(L, what, lua_pushfstring(L, "integer expected for typecode '%c', got %s", t->code,
                                                luaL_typename(L, iold)));
    if (!isnum || o < t->min || o > t->max) {
      lua_pushboolean(L, 0);
      return 1;
    }
    ob = (uint64_t)o;
  } else {
    ob = sb_tc_tobits(L, t, iold, what);
  }
  uint64_t cur = sb_tc_load(t, p);
  for (;;) {
    if (!same_value(t, cur, ob)) {
      lua_pushboolean(L, 0);
      return 1;
    }
    if (tc_cas(t, p, &cur, nb)) {
      lua_pushboolean(L, 1);
      return 1;
    }
  }
}

/* exchange(v): writes v, pushes the previous value. */
int sb_tc_exchange(lua_State *L, const sb_tc *t, void *p, int idx, const char *what) {
  uint64_t nb = sb_tc_tobits(L, t, idx, what);
  sb_tc_push(L, t, tc_exchange(t, p, nb));
  return 1;
}

/* ---- the lock of a synchronized Value/Array ------------------------------------------ */
srt_obj *sb_lock_option(lua_State *L, int idx, const char *fname, srt_lock **lk) {
  *lk = NULL;
  idx = lua_absindex(L, idx);
  int opt = idx;
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_getfield(L, idx, "lock");
    opt = lua_gettop(L);
  }
  srt_obj *o = NULL;
  if (lua_isnoneornil(L, opt) || (lua_isboolean(L, opt) && lua_toboolean(L, opt))) {
    *lk = sb_push_new_lock(L, 1); /* recursive, as Python's default */
    o = sb_test_any(L, -1);
    srt_incref(o);
    lua_pop(L, 1);
  } else if (lua_isboolean(L, opt)) {
    o = NULL;
  } else {
    o = sb_test_any(L, opt);
    if (!o || (o->type != SB_T_LOCK && o->type != SB_T_RLOCK))
      luaL_error(L, "%s: lock must be true, false, a strand.Lock or a strand.RLock, got %s", fname,
                 luaL_typename(L, opt));
    *lk = sb_lock_of(o);
    srt_incref(o);
  }
  if (opt != idx) lua_pop(L, 1);
  return o;
}

int sb_lock_bulk(lua_State *L, srt_lock *lk) {
  if (!lk || srt_lock_is_owner(lk)) return 0;
  int r = srt_lock_acquire(lk, SRT_FOREVER);
  if (r == SRT_INTERRUPTED) sb_raise_interrupt(L);
  return r == SRT_OK || r == SRT_OWNERDEAD;
}

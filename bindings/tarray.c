/*
** tarray.c — reading and writing runs of numbers in a Lua table's array part
** directly, for the hot loops of Pool.map.
**
** A map of 100,000 integers spends most of its time in the C API: three calls
** per item to read the list, two to store each result, a few nanoseconds
** each. Lua 5.4 keeps a table's array part as a plain C array of tagged
** values, so a run of numbers can be copied in or out in a tight loop
** instead. The layout is Lua's, not part of its API: it is declared here for
** 5.4 only, and checked once per process against the library actually loaded
** (a probe table built through the API must read back exactly as expected,
** and a value written directly must read back through the API). If anything
** differs, every function here answers "not done" and the callers use the
** API as before. Only numbers are written, which need no GC barrier.
*/
#include "sb.h"

#include <string.h>

#if LUA_VERSION_NUM == 504
typedef union lvalue {
  void *gc;
  void *p;
  lua_CFunction f;
  lua_Integer i;
  lua_Number n;
} lvalue;

typedef struct ltvalue {
  lvalue value_;
  unsigned char tt_;
} ltvalue;

typedef struct ltable {
  void *next;                 /* CommonHeader */
  unsigned char tt, marked;
  unsigned char flags, lsizenode;
  unsigned int alimit;
  ltvalue *array;
  void *node, *lastfree, *metatable, *gclist;
} ltable;

#define TAG_INT 0x03   /* makevariant(LUA_TNUMBER, 0) */
#define TAG_FLT 0x13   /* makevariant(LUA_TNUMBER, 1) */
#define TAG_TABLE 0x05 /* an object header keeps the variant without the collectable bit */
#define TAG_SHRSTR 0x44

static _Atomic int layout_ok; /* 0 unknown, 1 yes, -1 no */

static int probe(lua_State *L) {
  if (sizeof(lua_Integer) != 8 || sizeof(lua_Number) != 8 || sizeof(ltvalue) != 16) return -1;
  int top = lua_gettop(L);
  lua_createtable(L, 4, 0);
  lua_pushinteger(L, 10);
  lua_rawseti(L, -2, 1);
  lua_pushnumber(L, 2.5);
  lua_rawseti(L, -2, 2);
  lua_pushliteral(L, "x");
  lua_rawseti(L, -2, 3);
  const ltable *h = lua_topointer(L, -1);
  int ok = h && h->tt == TAG_TABLE && h->alimit == 4 && h->array && h->metatable == NULL &&
           h->array[0].tt_ == TAG_INT && h->array[0].value_.i == 10 &&
           h->array[1].tt_ == TAG_FLT && h->array[1].value_.n == 2.5 &&
           h->array[2].tt_ == TAG_SHRSTR && (h->array[3].tt_ & 0x0f) == LUA_TNIL;
  if (ok) { /* a number written directly reads back through the API */
    h->array[3].value_.i = 77;
    h->array[3].tt_ = TAG_INT;
    ok = lua_rawgeti(L, -1, 4) == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) == 77 &&
         lua_rawlen(L, -2) == 4;
  }
  lua_settop(L, top);
  return ok ? 1 : -1;
}

static const ltable *table_at(lua_State *L, int t) {
  int ok = atomic_load_explicit(&layout_ok, memory_order_relaxed);
  if (!ok) {
    ok = probe(L);
    atomic_store(&layout_ok, ok);
  }
  return ok > 0 ? lua_topointer(L, t) : NULL;
}

int sb_tarray_read(lua_State *L, int t, int64_t first, int64_t count, void *out) {
  const ltable *h = table_at(L, t);
  if (!h || first < 1 || first - 1 + count > (int64_t)h->alimit) return 0;
  const ltvalue *a = h->array + (first - 1);
  unsigned char tag = count > 0 ? a[0].tt_ : TAG_INT;
  if (tag != TAG_INT && tag != TAG_FLT) return 0;
  char *o = out;
  for (int64_t i = 0; i < count; i++) {
    if (a[i].tt_ != tag) return 0;
    memcpy(o + 8 * i, &a[i].value_.i, 8);
  }
  return tag == TAG_INT ? 'i' : 'd';
}

int sb_tarray_write(lua_State *L, int t, int64_t first, int64_t count, int kind, const void *in) {
  const ltable *h = table_at(L, t);
  if (!h || first < 1 || first - 1 + count > (int64_t)h->alimit || (kind != 'i' && kind != 'd'))
    return 0;
  ltvalue *a = h->array + (first - 1);
  unsigned char tag = kind == 'i' ? TAG_INT : TAG_FLT;
  const char *s = in;
  for (int64_t i = 0; i < count; i++) {
    memcpy(&a[i].value_.i, s + 8 * i, 8);
    a[i].tt_ = tag;
  }
  return 1;
}

void sb_tarray_prefault(lua_State *L, int t) {
  const ltable *h = table_at(L, t);
  if (h && h->array) sb_prefault(h->array, (size_t)h->alimit * sizeof(ltvalue));
}

#else /* another Lua: always the API */
void sb_tarray_prefault(lua_State *L, int t) {
  (void)L, (void)t;
}

int sb_tarray_read(lua_State *L, int t, int64_t first, int64_t count, void *out) {
  (void)L, (void)t, (void)first, (void)count, (void)out;
  return 0;
}

int sb_tarray_write(lua_State *L, int t, int64_t first, int64_t count, int kind, const void *in) {
  (void)L, (void)t, (void)first, (void)count, (void)kind, (void)in;
  return 0;
}
#endif

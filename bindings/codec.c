/*
** codec.c — Lua values to bytes and back, for every message, argument,
** result and shared value.
**
** A message is a 24-byte header (magic, handle count, body length, keyed
** checksum), a body of tagged values, then the table of strand handles the
** body refers to by index. The checksum is keyed with a secret made when the
** arena was mapped, so bytes that did not come from this program's encoder
** (random, truncated, from another run) are refused before anything is built;
** only then is bytecode handed to lua_load, which must never see bytes we did
** not write. Tables and functions seen twice are sent once and referred to by
** number, which keeps shared sub-tables, cycles and shared upvalues.
*/
#include "sb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODEC_MAGIC 0x31444353u /* 'SCD1' */
#define HDR 24
#define MAX_DEPTH 180

enum {
  T_NIL, T_FALSE, T_TRUE, T_INT8, T_INT, T_FLT, T_STR, T_TABLE, T_REF,
  T_LFUNC, T_CFUNC, T_HANDLE, T_ERROR, T_MODULE
};
enum { U_ENV, U_VAL, U_SHARED };

/* ---- keyed checksum ------------------------------------------------------- */
static uint64_t codec_key = 0x6a09e667f3bcc908ull;

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

static uint64_t checksum(const unsigned char *p, size_t n) {
  uint64_t h = codec_key ^ (n * 0x9E3779B97F4A7C15ull);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
  }
  uint64_t t = 0;
  memcpy(&t, p + i, n - i);
  return mix(h ^ t ^ 0x5bd1e995u);
}

/* ---- the scratch buffer: one per state, reused ------------------------------ */
typedef struct scratch {
  char *p;
  size_t cap;
  srt_obj **hs; /* handles met while encoding */
  size_t nh, hcap;
} scratch;

static int scratch_gc(lua_State *L) {
  scratch *s = lua_touserdata(L, 1);
  free(s->p);
  free(s->hs);
  s->p = NULL;
  s->hs = NULL;
  return 0;
}

static scratch *get_scratch(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.scratch") == LUA_TUSERDATA) {
    scratch *s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return s;
  }
  lua_pop(L, 1);
  scratch *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  lua_createtable(L, 0, 1);
  sb_setfn(L, "__gc", scratch_gc);
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.scratch");
  return s;
}

/* ---- encoder ------------------------------------------------------------------ */
typedef struct path_seg {
  int kind; /* 0 index, 1 field, 2 upvalue */
  lua_Integer i;
  const char *s;
} path_seg;

typedef struct enc {
  lua_State *L;
  scratch *s;
  size_t n;
  int seen;    /* stack index: value -> ref id */
  int upseen;  /* stack index: upvalue id -> "ref:idx" */
  int modmap;  /* stack index: module table -> name */
  int nextref;
  int lenient;
  const char *what;
  int depth;
  path_seg path[MAX_DEPTH + 2];
} enc;

static void grow(enc *e, size_t more) {
  if (e->n + more <= e->s->cap) return;
  size_t cap = e->s->cap ? e->s->cap : 256;
  while (cap < e->n + more) cap *= 2;
  char *p = realloc(e->s->p, cap);
  if (!p) luaL_error(e->L, "not enough memory to encode a message");
  e->s->p = p;
  e->s->cap = cap;
}

static void put(enc *e, const void *p, size_t n) {
  grow(e, n);
  memcpy(e->s->p + e->n, p, n);
  e->n += n;
}

static void put_byte(enc *e, int b) {
  grow(e, 1);
  e->s->p[e->n++] = (char)b;
}

static void put_varint(enc *e, uint64_t v) {
  unsigned char b[10];
  int k = 0;
  do {
    b[k] = v & 0x7f;
    v >>= 7;
    if (v) b[k] |= 0x80;
    k++;
  } while (v);
  put(e, b, (size_t)k);
}

static void push_path(enc *e, luaL_Buffer *b) {
  luaL_addstring(b, e->what);
  for (int i = 0; i < e->depth; i++) {
    path_seg *p = &e->path[i];
    char num[32];
    if (p->kind == 0) {
      snprintf(num, sizeof num, "[%lld]", (long long)p->i);
      luaL_addstring(b, num);
    } else if (p->kind == 1) {
      luaL_addchar(b, '.');
      luaL_addstring(b, p->s);
    } else {
      luaL_addstring(b, "(upvalue ");
      luaL_addstring(b, p->s ? p->s : "?");
      luaL_addchar(b, ')');
    }
  }
}

static int refuse(enc *e, const char *why) {
  lua_State *L = e->L;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  push_path(e, &b);
  luaL_addstring(&b, ": cannot send ");
  luaL_addstring(&b, why);
  luaL_pushresult(&b);
  sb_push_error(L, "TypeError", lua_tostring(L, -1));
  return lua_error(L);
}

static void enc_value(enc *e, int idx);

/* The seen/upseen/modmap slots start as nil and are filled on first use, so
** a message of plain values (the common queue item) builds no table. */
static void push_modmap(lua_State *L);

static void need_slot(enc *e, int slot) {
  if (!lua_isnil(e->L, slot)) return;
  if (slot == e->modmap) push_modmap(e->L);
  else lua_newtable(e->L);
  lua_replace(e->L, slot);
}

/* Registers the table or function at idx; returns its existing ref or -1. */
static int seen_ref(enc *e, int idx) {
  lua_State *L = e->L;
  need_slot(e, e->seen);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, e->seen) == LUA_TNUMBER) {
    int r = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return r;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, e->nextref++);
  lua_rawset(L, e->seen);
  return -1;
}

static void enter(enc *e, int kind, lua_Integer i, const char *s) {
  if (e->depth >= MAX_DEPTH) refuse(e, "a value nested this deep");
  e->path[e->depth].kind = kind;
  e->path[e->depth].i = i;
  e->path[e->depth].s = s;
  e->depth++;
}

static void enc_key_path(enc *e, int kidx) {
  lua_State *L = e->L;
  if (lua_type(L, kidx) == LUA_TSTRING) enter(e, 1, 0, lua_tostring(L, kidx));
  else if (lua_isinteger(L, kidx)) enter(e, 0, lua_tointeger(L, kidx), NULL);
  else enter(e, 1, 0, luaL_typename(L, kidx));
}

static int is_error_table(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, "strand.Error");
  int r = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return r;
}

static void enc_table(enc *e, int idx) {
  lua_State *L = e->L;
  int ref = seen_ref(e, idx);
  if (ref >= 0) {
    put_byte(e, T_REF);
    put_varint(e, (uint64_t)ref);
    return;
  }
  luaL_checkstack(L, 8, "nesting too deep");
  lua_Integer narr = (lua_Integer)lua_rawlen(L, idx);
  put_byte(e, is_error_table(L, idx) ? T_ERROR : T_TABLE);
  put_varint(e, (uint64_t)narr);
  size_t nh_at = e->n; /* the count of other keys, patched when known */
  uint32_t nh = 0;
  put(e, &nh, 4);
  for (lua_Integer i = 1; i <= narr; i++) {
    lua_rawgeti(L, idx, i);
    enter(e, 0, i, NULL);
    enc_value(e, lua_gettop(L));
    e->depth--;
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int k = lua_gettop(L) - 1;
    if (lua_isinteger(L, k) && lua_tointeger(L, k) >= 1 && lua_tointeger(L, k) <= narr) {
      lua_pop(L, 1);
      continue;
    }
    enc_key_path(e, k);
    enc_value(e, k);
    enc_value(e, k + 1);
    e->depth--;
    lua_pop(L, 1);
    nh++;
  }
  memcpy(e->s->p + nh_at, &nh, 4);
}

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  put((enc *)ud, p, sz);
  return 0;
}

static void enc_lfunc(enc *e, int idx) {
  lua_State *L = e->L;
  int ref = seen_ref(e, idx);
  if (ref >= 0) {
    put_byte(e, T_REF);
    put_varint(e, (uint64_t)ref);
    return;
  }
  int myref = e->nextref - 1;
  put_byte(e, T_LFUNC);
  size_t at = e->n;
  uint64_t zero = 0;
  put(e, &zero, 8); /* code length, patched below */
  lua_pushvalue(L, idx);
  lua_dump(L, dump_writer, e, 0);
  lua_pop(L, 1);
  uint64_t codelen = e->n - at - 8;
  memcpy(e->s->p + at, &codelen, 8);
  int nups = 0;
  while (lua_getupvalue(L, idx, nups + 1)) {
    lua_pop(L, 1);
    nups++;
  }
  put_byte(e, nups);
  for (int u = 1; u <= nups; u++) {
    const char *name = lua_getupvalue(L, idx, u);
    int v = lua_gettop(L);
    void *uid = lua_upvalueid(L, idx, u);
    need_slot(e, e->upseen);
    lua_pushlightuserdata(L, uid);
    if (lua_rawget(L, e->upseen) == LUA_TNUMBER) {
      lua_Integer code = lua_tointeger(L, -1);
      put_byte(e, U_SHARED);
      put_varint(e, (uint64_t)(code >> 8));
      put_byte(e, (int)(code & 0xff));
      lua_pop(L, 2);
      continue;
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, uid);
    lua_pushinteger(L, (lua_Integer)myref << 8 | u);
    lua_rawset(L, e->upseen);
    /* _ENV binds to the receiver's globals, whatever table it was here
    ** (the globals, or an environment such as busted's) */
    if (name && strcmp(name, "_ENV") == 0 && lua_istable(L, v)) {
      put_byte(e, U_ENV);
    } else {
      put_byte(e, U_VAL);
      enter(e, 2, 0, name);
      enc_value(e, v);
      e->depth--;
    }
    lua_pop(L, 1);
  }
}

/* C functions travel by name: standard libraries and strand. The map
** function -> "lib.name" is built once per state. */
static const char *const cfunc_libs[] = {"_G", "string", "table", "math", "io", "os",
                                         "coroutine", "utf8", "debug", "package",
                                         "strand", NULL};

static void push_cnames(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.cnames") == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  for (int i = 0; cfunc_libs[i]; i++) {
    if (lua_getfield(L, -1, cfunc_libs[i]) != LUA_TTABLE) {
      lua_pop(L, 1);
      continue;
    }
    if (strcmp(cfunc_libs[i], "strand") == 0) sb_module_complete(L, -1);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_iscfunction(L, -1) && lua_type(L, -2) == LUA_TSTRING) {
        if (i == 0) lua_pushvalue(L, -2);
        else lua_pushfstring(L, "%s.%s", cfunc_libs[i], lua_tostring(L, -2));
        lua_rawset(L, -6);
      } else {
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.cnames");
}

/* Loaded modules (and strand's views) travel by name, so a function whose
** upvalue is `strand` or `string` arrives bound to the receiver's own copy.
** The map table -> "name" is cached per state and dropped whenever a module
** is added to package.loaded (see loaded_newindex). */
static void push_modmap(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.modmap") == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_istable(L, -1) && lua_type(L, -2) == LUA_TSTRING) {
      int is_strand = strcmp(lua_tostring(L, -2), "strand") == 0;
      lua_pushvalue(L, -1);
      lua_pushvalue(L, -3);
      lua_rawset(L, -6);
      if (is_strand) { /* its views: strand.threading ... */
        lua_pushnil(L);
        while (lua_next(L, -2)) {
          if (lua_istable(L, -1) && lua_type(L, -2) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            lua_pushfstring(L, "strand.%s", lua_tostring(L, -3));
            lua_rawset(L, -8);
          }
          lua_pop(L, 1);
        }
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.modmap");
}

static int loaded_newindex(lua_State *L) {
  lua_rawset(L, 1);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.modmap");
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.cnames");
  return 0;
}

static void watch_loaded(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (!lua_getmetatable(L, -1)) {
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, loaded_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
  } else {
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Puts the module's name if the table at idx is a loaded module. */
static int enc_module(enc *e, int idx) {
  lua_State *L = e->L;
  need_slot(e, e->modmap);
  lua_pushvalue(L, idx);
  int found = lua_rawget(L, e->modmap) == LUA_TSTRING;
  if (found) {
    size_t n;
    const char *name = lua_tolstring(L, -1, &n);
    put_byte(e, T_MODULE);
    put_varint(e, n);
    put(e, name, n);
  }
  lua_pop(L, 1);
  return found;
}

static void enc_cfunc(enc *e, int idx) {
  lua_State *L = e->L;
  push_cnames(L);
  lua_pushvalue(L, idx);
  int found = lua_rawget(L, -2) == LUA_TSTRING;
  lua_remove(L, -2);
  if (!found) {
    lua_pop(L, 1);
    if (e->lenient) {
      put_byte(e, T_NIL);
      return;
    }
    refuse(e, "a C function that is not in a standard library");
  }
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  put_byte(e, T_CFUNC);
  put_varint(e, n);
  put(e, s, n);
  lua_pop(L, 1);
}

static void enc_handle(enc *e, srt_obj *o) {
  scratch *s = e->s;
  if (s->nh == s->hcap) {
    size_t cap = s->hcap ? s->hcap * 2 : 8;
    srt_obj **hs = realloc(s->hs, cap * sizeof *hs);
    if (!hs) luaL_error(e->L, "not enough memory to encode a message");
    s->hs = hs;
    s->hcap = cap;
  }
  put_byte(e, T_HANDLE);
  put_varint(e, s->nh);
  s->hs[s->nh++] = o;
}

static void enc_value(enc *e, int idx) {
  lua_State *L = e->L;
  switch (lua_type(L, idx)) {
    case LUA_TNIL: put_byte(e, T_NIL); break;
    case LUA_TBOOLEAN: put_byte(e, lua_toboolean(L, idx) ? T_TRUE : T_FALSE); break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        if (i >= -128 && i <= 127) {
          put_byte(e, T_INT8);
          put_byte(e, (int)(int8_t)i);
        } else {
          put_byte(e, T_INT);
          put(e, &i, 8);
        }
      } else {
        lua_Number d = lua_tonumber(L, idx);
        put_byte(e, T_FLT);
        put(e, &d, 8);
      }
      break;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      put_byte(e, T_STR);
      put_varint(e, n);
      put(e, s, n);
      break;
    }
    case LUA_TTABLE:
      if (!enc_module(e, idx)) enc_table(e, idx);
      break;
    case LUA_TFUNCTION:
      if (lua_iscfunction(L, idx)) enc_cfunc(e, idx);
      else enc_lfunc(e, idx);
      break;
    case LUA_TUSERDATA: {
      srt_obj *o = sb_test_any(L, idx);
      if (o) {
        enc_handle(e, o);
        break;
      }
    } /* FALLTHROUGH */
    default:
      if (e->lenient) {
        put_byte(e, T_NIL);
        break;
      }
      refuse(e, lua_type(L, idx) == LUA_TTHREAD          ? "a coroutine"
                : lua_type(L, idx) == LUA_TLIGHTUSERDATA ? "a light userdata"
                                                         : "a userdata that is not a strand object");
  }
}

/* Values from index lenient_from on (0-based) are encoded leniently. An error
** names value i as what[base + i] when base > 0, else what[i + 1] when there
** are several values and plain what when there is one. */
static const char *encode(lua_State *L, int first, int n, size_t *len, const char *what,
                          int lenient_from, lua_Integer base) {
  first = lua_absindex(L, first);
  enc e;
  e.L = L;
  e.s = get_scratch(L);
  e.s->nh = 0;
  e.n = HDR;
  e.nextref = 0;
  e.lenient = 0;
  e.what = what;
  e.depth = 0;
  grow(&e, HDR);
  lua_pushnil(L);
  e.seen = lua_gettop(L);
  lua_pushnil(L);
  e.upseen = lua_gettop(L);
  lua_pushnil(L);
  e.modmap = lua_gettop(L);
  put_varint(&e, (uint64_t)n);
  int indexed = base > 0 || n > 1;
  if (base <= 0) base = 1;
  for (int i = 0; i < n; i++) {
    if (indexed) enter(&e, 0, base + i, NULL);
    e.lenient = i >= lenient_from;
    enc_value(&e, first + i);
    if (indexed) e.depth--;
  }
  lua_settop(L, e.seen - 1);
  /* the handle table, then the header */
  size_t body = e.n - HDR;
  for (size_t i = 0; i < e.s->nh; i++) {
    uint64_t p = (uint64_t)(uintptr_t)e.s->hs[i];
    put(&e, &p, 8);
  }
  for (size_t i = 0; i < e.s->nh; i++) srt_incref(e.s->hs[i]);
  uint32_t magic = CODEC_MAGIC, nh = (uint32_t)e.s->nh;
  uint64_t bl = body;
  memcpy(e.s->p, &magic, 4);
  memcpy(e.s->p + 4, &nh, 4);
  memcpy(e.s->p + 8, &bl, 8);
  uint64_t ck = checksum((unsigned char *)e.s->p + HDR, e.n - HDR);
  memcpy(e.s->p + 16, &ck, 8);
  *len = e.n;
  return e.s->p;
}

const char *sb_encode(lua_State *L, int first, int n, size_t *len, const char *what) {
  return encode(L, first, n, len, what, n, 0);
}

const char *sb_encode_at(lua_State *L, int first, int n, size_t *len, const char *what,
                         lua_Integer base) {
  return encode(L, first, n, len, what, n, base);
}

const char *sb_encode_lenient(lua_State *L, int first, int n, size_t *len) {
  return encode(L, first, n, len, "value", 0, 0);
}

const char *sb_encode_partly(lua_State *L, int first, int n, int nstrict, size_t *len,
                             const char *what) {
  return encode(L, first, n, len, what, nstrict, 0);
}

void *sb_encode_arena(lua_State *L, int first, int n, size_t *len, const char *what) {
  const char *p = sb_encode(L, first, n, len, what);
  void *a = srt_alloc(*len);
  if (!a) {
    sb_codec_release(p, *len);
    sb_error(L, "MemoryError", "strand arena is full (message of %d bytes)", (int)*len);
  }
  memcpy(a, p, *len);
  return a;
}

/* ---- header checks and release ------------------------------------------------ */
static int header_ok(const unsigned char *p, size_t len, uint32_t *nh, uint64_t *body) {
  if (!p || len < HDR + 1) return 0;
  uint32_t magic;
  uint64_t ck;
  memcpy(&magic, p, 4);
  memcpy(nh, p + 4, 4);
  memcpy(body, p + 8, 8);
  memcpy(&ck, p + 16, 8);
  if (magic != CODEC_MAGIC || *body > len - HDR || (len - HDR - *body) / 8 != *nh ||
      (len - HDR - *body) % 8 != 0)
    return 0;
  return checksum(p + HDR, len - HDR) == ck;
}

static srt_obj *handle_at(const unsigned char *p, uint64_t body, uint32_t i) {
  uint64_t v;
  memcpy(&v, p + HDR + body + (size_t)i * 8, 8);
  return (srt_obj *)(uintptr_t)v;
}

void sb_codec_release(const void *bytes, size_t len) {
  uint32_t nh;
  uint64_t body;
  const unsigned char *p = bytes;
  if (!p || len < HDR) return;
  memcpy(&nh, p + 4, 4);
  if (nh == 0) return; /* the common case: no handle inside, nothing to check */
  if (!header_ok(p, len, &nh, &body)) return;
  for (uint32_t i = 0; i < nh; i++) srt_decref(handle_at(p, body, i));
}

void sb_msg_free(void *p, size_t len) {
  if (!p) return;
  sb_codec_release(p, len);
  srt_free(p);
}

/* ---- decoder -------------------------------------------------------------------- */
typedef struct dec {
  lua_State *L;
  const unsigned char *p, *end, *base;
  uint64_t body;
  uint32_t nh;
  int refs; /* stack index: ref id -> value */
  int nref;
  int depth;
} dec;

static int bad(dec *d, const char *why) {
  sb_push_error(d->L, "ValueError", lua_pushfstring(d->L, "cannot decode message: %s", why));
  return lua_error(d->L);
}

static void need(dec *d, size_t n) {
  if ((size_t)(d->end - d->p) < n) bad(d, "truncated");
}

static int get_byte(dec *d) {
  need(d, 1);
  return *d->p++;
}

static uint64_t get_varint(dec *d) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    int b = get_byte(d);
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  bad(d, "bad length");
  return 0;
}

static void dec_value(dec *d);

static void add_ref(dec *d) {
  if (d->nref == 0 && lua_isnil(d->L, d->refs)) { /* made on first use */
    lua_newtable(d->L);
    lua_replace(d->L, d->refs);
  }
  lua_pushvalue(d->L, -1);
  lua_rawseti(d->L, d->refs, ++d->nref);
}

static void dec_table(dec *d, int is_error) {
  lua_State *L = d->L;
  uint64_t narr = get_varint(d);
  uint32_t nh;
  need(d, 4);
  memcpy(&nh, d->p, 4);
  d->p += 4;
  if (narr > (uint64_t)(d->end - d->p) || nh > (uint64_t)(d->end - d->p)) bad(d, "bad table size");
  luaL_checkstack(L, 8, "message nested too deep");
  lua_createtable(L, (int)narr, (int)nh);
  add_ref(d);
  for (uint64_t i = 1; i <= narr; i++) {
    dec_value(d);
    lua_rawseti(L, -2, (lua_Integer)i);
  }
  for (uint64_t i = 0; i < nh; i++) {
    dec_value(d);
    if (lua_isnil(L, -1) || (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1)))
      bad(d, "bad table key");
    dec_value(d);
    lua_rawset(L, -3);
  }
  if (is_error) {
    luaL_getmetatable(L, "strand.Error");
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      sb_push_error(L, "Error", "");
      lua_getmetatable(L, -1);
      lua_remove(L, -2);
    }
    lua_setmetatable(L, -2);
  }
}

typedef struct reader {
  const char *p;
  size_t n;
} reader;

static const char *read_chunk(lua_State *L, void *ud, size_t *sz) {
  (void)L;
  reader *r = ud;
  *sz = r->n;
  r->n = 0;
  return *sz ? r->p : NULL;
}

static void dec_lfunc(dec *d) {
  lua_State *L = d->L;
  need(d, 8);
  uint64_t codelen;
  memcpy(&codelen, d->p, 8);
  d->p += 8;
  need(d, codelen);
  reader r = {(const char *)d->p, (size_t)codelen};
  if (lua_load(L, read_chunk, &r, "=(strand)", "b") != LUA_OK) bad(d, lua_tostring(L, -1));
  d->p += codelen;
  add_ref(d);
  int f = lua_gettop(L);
  int nups = get_byte(d);
  for (int u = 1; u <= nups; u++) {
    int kind = get_byte(d);
    if (kind == U_ENV) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
      if (!lua_setupvalue(L, f, u)) bad(d, "bad upvalue");
    } else if (kind == U_VAL) {
      dec_value(d);
      if (!lua_setupvalue(L, f, u)) bad(d, "bad upvalue");
    } else if (kind == U_SHARED) {
      uint64_t ref = get_varint(d);
      int idx = get_byte(d);
      if (ref + 1 > (uint64_t)d->nref) bad(d, "bad upvalue reference");
      lua_rawgeti(L, d->refs, (lua_Integer)ref + 1);
      if (lua_type(L, -1) != LUA_TFUNCTION || lua_iscfunction(L, -1) ||
          !lua_getupvalue(L, -1, idx))
        bad(d, "bad upvalue reference");
      lua_pop(L, 1);
      lua_upvaluejoin(L, f, u, -1, idx);
      lua_pop(L, 1);
    } else {
      bad(d, "bad upvalue kind");
    }
  }
}

static void dec_cfunc(dec *d) {
  lua_State *L = d->L;
  uint64_t n = get_varint(d);
  need(d, n);
  char name[128];
  if (n >= sizeof name) bad(d, "bad function name");
  memcpy(name, d->p, n);
  name[n] = 0;
  d->p += n;
  char *dot = strchr(name, '.');
  if (dot) {
    *dot = 0;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    if (!lua_istable(L, -1)) bad(d, "unknown library in function name");
    lua_getfield(L, -1, dot + 1);
    lua_remove(L, -2);
  } else {
    lua_getglobal(L, name);
  }
  if (!lua_iscfunction(L, -1)) bad(d, "unknown C function");
}

static void dec_module(dec *d) {
  lua_State *L = d->L;
  uint64_t n = get_varint(d);
  need(d, n);
  char name[256];
  if (n == 0 || n >= sizeof name) bad(d, "bad module name");
  memcpy(name, d->p, n);
  name[n] = 0;
  d->p += n;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, name) != LUA_TTABLE) {
    lua_pop(L, 1);
    char *dot = strchr(name, '.');
    if (dot && strncmp(name, "strand.", 7) == 0) { /* a view of strand */
      lua_getfield(L, -1, "strand");
      if (lua_istable(L, -1)) lua_getfield(L, -1, dot + 1);
      else lua_pushnil(L);
      lua_remove(L, -2);
    } else { /* not loaded here yet: require it */
      lua_getglobal(L, "require");
      lua_pushstring(L, name);
      if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        lua_pushnil(L);
      }
    }
  }
  lua_remove(L, -2);
  if (!lua_istable(L, -1)) {
    sb_push_error(L, "ValueError", lua_pushfstring(L, "cannot decode message: module '%s' is not available here", name));
    lua_error(L);
  }
}

static void dec_value(dec *d) {
  lua_State *L = d->L;
  if (++d->depth > MAX_DEPTH) bad(d, "nested too deep");
  luaL_checkstack(L, 4, "message nested too deep");
  int tag = get_byte(d);
  switch (tag) {
    case T_NIL: lua_pushnil(L); break;
    case T_FALSE: lua_pushboolean(L, 0); break;
    case T_TRUE: lua_pushboolean(L, 1); break;
    case T_INT8: lua_pushinteger(L, (int8_t)get_byte(d)); break;
    case T_INT:
    case T_FLT:
      need(d, 8);
      sb_push_raw_number(L, d->p, tag == T_INT);
      d->p += 8;
      break;
    case T_STR: {
      uint64_t n = get_varint(d);
      need(d, n);
      lua_pushlstring(L, (const char *)d->p, (size_t)n);
      d->p += n;
      break;
    }
    case T_TABLE:
    case T_ERROR: dec_table(d, tag == T_ERROR); break;
    case T_REF: {
      uint64_t r = get_varint(d);
      if (r + 1 > (uint64_t)d->nref) bad(d, "bad reference");
      lua_rawgeti(L, d->refs, (lua_Integer)r + 1);
      break;
    }
    case T_LFUNC: dec_lfunc(d); break;
    case T_CFUNC: dec_cfunc(d); break;
    case T_MODULE: dec_module(d); break;
    case T_HANDLE: {
      uint64_t i = get_varint(d);
      if (i >= d->nh) bad(d, "bad handle index");
      srt_obj *o = handle_at(d->base, d->body, (uint32_t)i);
      if (!srt_in_arena(o, sizeof *o) || o->magic != SRT_OBJ_MAGIC || !sb_type_of(o->type))
        bad(d, "bad handle");
      sb_push_ref(L, o);
      break;
    }
    default: bad(d, "bad tag");
  }
  d->depth--;
}

int sb_decode(lua_State *L, const char *bytes, size_t len) {
  dec d;
  const unsigned char *p = (const unsigned char *)bytes;
  if (!header_ok(p, len, &d.nh, &d.body)) {
    sb_push_error(L, "ValueError", "cannot decode message: not produced by strand's encoder (or damaged)");
    return lua_error(L);
  }
  d.L = L;
  d.base = p;
  d.p = p + HDR;
  d.end = p + HDR + d.body;
  d.nref = 0;
  d.depth = 0;
  lua_pushnil(L); /* ref id -> value, made on first use */
  d.refs = lua_gettop(L);
  uint64_t n = get_varint(&d);
  if (n > d.body) bad(&d, "bad value count");
  luaL_checkstack(L, (int)n + 4, "too many values in message");
  for (uint64_t i = 0; i < n; i++) dec_value(&d);
  if (d.p != d.end) bad(&d, "trailing bytes");
  lua_remove(L, d.refs);
  return (int)n;
}

/* ---- one plain value, fast (queue items, pipe messages) ------------------------- */
/* The same bytes sb_encode makes for one nil, boolean, number or string, but
** built straight into the caller's buffer: no scratch buffer, no stack work. */
size_t sb_encode_small(lua_State *L, int idx, char *buf, size_t cap) {
  unsigned char *b = (unsigned char *)buf + HDR;
  size_t n = 0;
  if (cap < HDR + 2 + 9) return 0;
  b[n++] = 1; /* one value */
  switch (lua_type(L, idx)) {
    case LUA_TNIL: b[n++] = T_NIL; break;
    case LUA_TBOOLEAN: b[n++] = lua_toboolean(L, idx) ? T_TRUE : T_FALSE; break;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        if (i >= -128 && i <= 127) {
          b[n++] = T_INT8;
          b[n++] = (unsigned char)(int8_t)i;
        } else {
          b[n++] = T_INT;
          memcpy(b + n, &i, 8);
          n += 8;
        }
      } else {
        lua_Number d = lua_tonumber(L, idx);
        b[n++] = T_FLT;
        memcpy(b + n, &d, 8);
        n += 8;
      }
      break;
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      if (HDR + 2 + 10 + len > cap) return 0;
      b[n++] = T_STR;
      uint64_t v = len;
      do {
        b[n] = v & 0x7f;
        v >>= 7;
        if (v) b[n] |= 0x80;
        n++;
      } while (v);
      memcpy(b + n, s, len);
      n += len;
      break;
    }
    default: return 0;
  }
  uint32_t magic = CODEC_MAGIC, nh = 0;
  uint64_t bl = n, ck = checksum(b, n);
  memcpy(buf, &magic, 4);
  memcpy(buf + 4, &nh, 4);
  memcpy(buf + 8, &bl, 8);
  memcpy(buf + 16, &ck, 8);
  return HDR + n;
}

int sb_decode_small(lua_State *L, const char *bytes, size_t len) {
  const unsigned char *p = (const unsigned char *)bytes;
  uint32_t nh;
  uint64_t body;
  if (len < HDR + 2 || p[HDR] != 1) return 0;
  int tag = p[HDR + 1];
  if (tag != T_NIL && tag != T_FALSE && tag != T_TRUE && tag != T_INT8 && tag != T_INT &&
      tag != T_FLT && tag != T_STR)
    return 0;
  if (!header_ok(p, len, &nh, &body) || nh != 0) return 0; /* sb_decode says why */
  const unsigned char *v = p + HDR + 2, *end = p + HDR + body;
  switch (tag) {
    case T_NIL: lua_pushnil(L); break;
    case T_FALSE: lua_pushboolean(L, 0); break;
    case T_TRUE: lua_pushboolean(L, 1); break;
    case T_INT8:
      if (end - v != 1) return 0;
      lua_pushinteger(L, (int8_t)v[0]);
      break;
    case T_INT:
    case T_FLT:
      if (end - v != 8) return 0;
      sb_push_raw_number(L, v, tag == T_INT);
      break;
    default: { /* T_STR */
      uint64_t n = 0;
      int shift = 0;
      for (;;) {
        if (v >= end || shift > 63) return 0;
        int c = *v++;
        n |= (uint64_t)(c & 0x7f) << shift;
        shift += 7;
        if (!(c & 0x80)) break;
      }
      if ((uint64_t)(end - v) != n) return 0;
      lua_pushlstring(L, (const char *)v, (size_t)n);
    }
  }
  return 1;
}

/* ---- Lua functions: strand.encode / strand.decode ------------------------------- */
static int l_encode(lua_State *L) {
  size_t n;
  const char *p = sb_encode(L, 1, lua_gettop(L), &n, "value");
  lua_pushlstring(L, p, n);
  /* a Lua string does not own handles: the references are dropped at once,
  ** so decode works while the objects are alive elsewhere */
  sb_codec_release(p, n);
  return 1;
}

static int l_decode(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 1, &n);
  lua_settop(L, 1);
  return sb_decode(L, p, n);
}

/* The key comes from an address and the time: enough to tell our bytes from
** noise and from another run's. Made once, before any fork. */
static void make_key(void) {
  codec_key ^= mix((uint64_t)(uintptr_t)&codec_key ^ (uint64_t)srt_now_ns());
}

void sb_open_codec(lua_State *L) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, make_key);
  watch_loaded(L);
  sb_setfn(L, "encode", l_encode);
  sb_setfn(L, "decode", l_decode);
}

/*
** task.c — what a pool worker runs: task functions sent once, arguments and
** results packed without the codec when they are plain, and running one task.
**
** Functions. A task function is encoded once per submitting state into an
** arena block with a process-wide id (a weak table function -> block keeps
** it while the function lives); tasks carry only a reference to the block.
** A worker decodes a block the first time it meets its id and keeps the
** function in a small cache, so a function is not sent again per task. Its
** upvalues are those it had when first sent (as a forked worker sees the
** globals it had at fork).
**
** Packed values. Most arguments and results are numbers and strings, and a
** map chunk is often a run of integers: they are written as a tiny format of
** their own ("PK", a kind, a count, then raw int64s, doubles, or tagged
** scalars) instead of the full codec, which keeps a submit or a chunk cheap.
** Anything else (tables, functions, handles) goes through the codec; the
** first byte tells the two apart (codec messages start with "SCD1").
*/
#include "sb.h"

#include <stdio.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- function blobs --------------------------------------------------------------- */
struct sb_fnblob {
  _Atomic uint32_t refs;
  uint32_t pad;
  uint64_t id;
  size_t len;
  char bytes[];
};

typedef struct fnref {
  sb_fnblob *b;
  pid_t pid; /* a forked child's copy of the table does not own the reference */
} fnref;

void sb_fn_unref(sb_fnblob *b) {
  if (!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
  sb_codec_release(b->bytes, b->len);
  srt_free(b);
}

static int fnref_gc(lua_State *L) {
  fnref *r = lua_touserdata(L, 1);
  if (r->pid == getpid()) sb_fn_unref(r->b);
  r->b = NULL;
  return 0;
}

/* The weak table function -> fnref of this state. */
static void push_fn_ids(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.fnids") == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.fnids");
}

sb_fnblob *sb_fn_ref(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (!lua_isfunction(L, idx))
    luaL_argerror(L, idx, lua_pushfstring(L, "function expected, got %s", luaL_typename(L, idx)));
  push_fn_ids(L);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TUSERDATA) {
    sb_fnblob *b = ((fnref *)lua_touserdata(L, -1))->b;
    lua_pop(L, 2);
    atomic_fetch_add(&b->refs, 1);
    return b;
  }
  lua_pop(L, 1);
  size_t len;
  const char *p = sb_encode(L, idx, 1, &len, "function");
  sb_fnblob *b = srt_alloc(sizeof *b + len);
  if (!b) {
    sb_codec_release(p, len);
    sb_error(L, "MemoryError", "strand arena is full (a function of %d bytes)", (int)len);
  }
  memcpy(b->bytes, p, len);
  b->len = len;
  b->id = srt_counter_next(SRT_CNT_GENERIC);
  atomic_init(&b->refs, 2); /* the weak table's, the caller's */
  fnref *r = lua_newuserdatauv(L, sizeof *r, 0);
  r->b = b;
  r->pid = getpid();
  if (luaL_newmetatable(L, "strand.fnref")) sb_setfn(L, "__gc", fnref_gc);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, idx);
  lua_insert(L, -2);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  return b;
}

#define FNCACHE_MAX 256

/* Push the function of a blob, decoding it the first time this state meets
** it. The cache is dropped whole when it grows past FNCACHE_MAX. */
static void push_task_fn(lua_State *L, sb_fnblob *b) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.fncache") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "strand.fncache");
  }
  if (lua_rawgeti(L, -1, (lua_Integer)b->id) == LUA_TFUNCTION) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "n");
  lua_Integer n = lua_tointeger(L, -1) + 1;
  lua_pop(L, 1);
  if (n > FNCACHE_MAX) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "strand.fncache");
    n = 1;
  }
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "n");
  int top = lua_gettop(L);
  int got = sb_decode(L, b->bytes, b->len);
  if (got != 1 || !lua_isfunction(L, -1)) luaL_error(L, "task function did not decode to a function");
  lua_pushvalue(L, -1);
  lua_rawseti(L, top, (lua_Integer)b->id);
  lua_remove(L, top);
}

/* ---- packed values ------------------------------------------------------------------ */
#define PK_HDR 8
enum { PK_NIL, PK_FALSE, PK_TRUE, PK_INT8, PK_INT, PK_FLT, PK_STR };

static int is_packed(const void *msg, size_t len) {
  const unsigned char *p = msg;
  return len >= PK_HDR && p[0] == 'P' && p[1] == 'K';
}

static void put_header(unsigned char *p, int kind, uint32_t count) {
  p[0] = 'P';
  p[1] = 'K';
  p[2] = (unsigned char)kind;
  p[3] = 0;
  memcpy(p + 4, &count, 4);
}

/* Bytes for the packed form of n stack values, and its kind; 0 when some
** value needs the codec. */
static size_t packed_size(lua_State *L, int first, int n, int *kind) {
  int all_int = 1, all_flt = 1;
  size_t sz = PK_HDR;
  for (int i = first; i < first + n; i++) {
    switch (lua_type(L, i)) {
      case LUA_TNIL:
      case LUA_TBOOLEAN: all_int = all_flt = 0; sz += 1; break;
      case LUA_TNUMBER:
        if (lua_isinteger(L, i)) {
          lua_Integer v = lua_tointeger(L, i);
          all_flt = 0;
          sz += (v >= -128 && v <= 127) ? 2 : 9;
        } else {
          all_int = 0;
          sz += 9;
        }
        break;
      case LUA_TSTRING: all_int = all_flt = 0; sz += 5 + lua_rawlen(L, i); break;
      default: return 0;
    }
  }
  if (n > 0 && all_int) {
    *kind = 'i';
    return PK_HDR + 8 * (size_t)n;
  }
  if (n > 0 && all_flt) {
    *kind = 'd';
    return PK_HDR + 8 * (size_t)n;
  }
  *kind = 'v';
  return sz;
}

static void write_packed(lua_State *L, int first, int n, int kind, unsigned char *p) {
  put_header(p, kind, (uint32_t)n);
  p += PK_HDR;
  for (int i = first; i < first + n; i++) {
    if (kind == 'i') {
      lua_Integer v = lua_tointeger(L, i);
      memcpy(p, &v, 8);
      p += 8;
      continue;
    }
    if (kind == 'd') {
      lua_Number v = lua_tonumber(L, i);
      memcpy(p, &v, 8);
      p += 8;
      continue;
    }
    switch (lua_type(L, i)) {
      case LUA_TNIL: *p++ = PK_NIL; break;
      case LUA_TBOOLEAN: *p++ = lua_toboolean(L, i) ? PK_TRUE : PK_FALSE; break;
      case LUA_TNUMBER:
        if (lua_isinteger(L, i)) {
          lua_Integer v = lua_tointeger(L, i);
          if (v >= -128 && v <= 127) {
            *p++ = PK_INT8;
            *p++ = (unsigned char)(int8_t)v;
          } else {
            *p++ = PK_INT;
            memcpy(p, &v, 8);
            p += 8;
          }
        } else {
          lua_Number v = lua_tonumber(L, i);
          *p++ = PK_FLT;
          memcpy(p, &v, 8);
          p += 8;
        }
        break;
      default: { /* string */
        size_t sl;
        const char *s = lua_tolstring(L, i, &sl);
        uint32_t l32 = (uint32_t)sl;
        *p++ = PK_STR;
        memcpy(p, &l32, 4);
        memcpy(p + 4, s, sl);
        p += 4 + sl;
      }
    }
  }
}

static void *place(lua_State *L, size_t len, void *buf, size_t cap) {
  if (buf && len <= cap) return buf;
  return sb_alloc(L, len);
}

size_t sb_pack(lua_State *L, int first, int n, void *buf, size_t cap, void **out,
               const char *what) {
  return sb_pack_at(L, first, n, buf, cap, out, what, 0);
}

size_t sb_pack_at(lua_State *L, int first, int n, void *buf, size_t cap, void **out,
                  const char *what, lua_Integer base) {
  first = lua_absindex(L, first);
  int kind;
  size_t len = packed_size(L, first, n, &kind);
  if (len && len < 0xffffffffu) {
    unsigned char *p = place(L, len, buf, cap);
    write_packed(L, first, n, kind, p);
    *out = p;
    return len;
  }
  const char *c = sb_encode_at(L, first, n, &len, what, base);
  void *p = buf && len <= cap ? buf : srt_alloc(len);
  if (!p) {
    sb_codec_release(c, len);
    sb_error(L, "MemoryError", "strand arena is full (a message of %d bytes)", (int)len);
  }
  memcpy(p, c, len);
  *out = p;
  return len;
}

static int pack_error_body(lua_State *L) {
  void **out = lua_touserdata(L, 2);
  size_t *len = lua_touserdata(L, 3);
  void *buf = lua_touserdata(L, 4);
  size_t cap = (size_t)lua_tointeger(L, 5);
  const char *c = sb_encode_lenient(L, 1, 1, len);
  void *p = buf && *len <= cap ? buf : srt_alloc(*len);
  if (!p) {
    sb_codec_release(c, *len);
    return luaL_error(L, "arena full");
  }
  memcpy(p, c, *len);
  *out = p;
  return 0;
}

size_t sb_pack_error(lua_State *L, int idx, void *buf, size_t cap, void **out) {
  idx = lua_absindex(L, idx);
  size_t len = 0;
  *out = NULL;
  lua_pushcfunction(L, pack_error_body);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, out);
  lua_pushlightuserdata(L, &len);
  lua_pushlightuserdata(L, buf);
  lua_pushinteger(L, (lua_Integer)cap);
  if (lua_pcall(L, 5, 0, 0) != LUA_OK) {
    lua_pop(L, 1);
    *out = NULL;
    return 0;
  }
  return len;
}

/* ---- prefaulting ------------------------------------------------------------------ */
/* A map moves big runs of fresh memory: the chunk blocks, a worker's first
** look at them, the result list. Touching it page by page costs a fault per
** 4 KiB; one madvise(MADV_POPULATE_WRITE) maps the whole range at once, at a
** fraction of the cost. Only for large ranges; ignored where unsupported. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define PREFAULT_MIN (64 * 1024)

void sb_prefault(void *p, size_t len) {
  if (!p || len < PREFAULT_MIN) return;
  uintptr_t pg = 4096, a = ((uintptr_t)p + pg - 1) & ~(pg - 1), b = ((uintptr_t)p + len) & ~(pg - 1);
  if (b > a) madvise((void *)a, b - a, MADV_POPULATE_WRITE);
}

/* ---- a cache of chunk buffers ---------------------------------------------------- */
/* Pool.map sends each chunk in an arena block that the worker overwrites with
** the chunk's results; once the caller has read them the block comes back
** here for the next chunk, so a run of maps does not ask the arena (and the
** kernel, for fresh pages) for memory again. Process-local: a forked child
** forgets its parent's cache without touching it. */
#define BLOCK_CACHE 32
#define BLOCK_MIN 4096
static pthread_mutex_t bc_mu = PTHREAD_MUTEX_INITIALIZER;
static void *bc[BLOCK_CACHE];
static int nbc;
static pid_t bc_pid;

static void bc_own(void) { /* bc_mu held */
  pid_t me = srt_self_pid();
  if (bc_pid != me) {
    nbc = 0;
    bc_pid = me;
  }
}

void *sb_block_get(size_t n) {
  if (n >= BLOCK_MIN) {
    pthread_mutex_lock(&bc_mu);
    bc_own();
    for (int i = 0; i < nbc; i++) {
      size_t sz = srt_alloc_size(bc[i]);
      if (sz >= n && sz / 4 <= n) {
        void *p = bc[i];
        bc[i] = bc[--nbc];
        pthread_mutex_unlock(&bc_mu);
        return p;
      }
    }
    pthread_mutex_unlock(&bc_mu);
  }
  void *p = srt_alloc(n);
  sb_prefault(p, n);
  return p;
}

void sb_block_put(void *p) {
  if (!p) return;
  if (srt_alloc_size(p) >= BLOCK_MIN) {
    pthread_mutex_lock(&bc_mu);
    bc_own();
    if (nbc < BLOCK_CACHE) {
      bc[nbc++] = p;
      p = NULL;
    }
    pthread_mutex_unlock(&bc_mu);
  }
  if (p) srt_free(p);
}

void sb_packed_recycle(void *msg, size_t len) {
  if (!msg) return;
  if (!is_packed(msg, len)) sb_codec_release(msg, len);
  sb_block_put(msg);
}

void sb_block_cache_clear(void) {
  pthread_mutex_lock(&bc_mu);
  bc_own();
  while (nbc) srt_free(bc[--nbc]);
  pthread_mutex_unlock(&bc_mu);
}

#define SLICE_BATCH 32

size_t sb_pack_slice(lua_State *L, int t, int64_t first, int64_t count, void **out,
                     const char *what) {
  t = lua_absindex(L, t);
  /* the common case, a run of integers, straight into its block; values are
  ** read SLICE_BATCH at a time, so the stack is reset once per batch */
  size_t need = PK_HDR + 8 * (size_t)count;
  unsigned char *p = sb_block_get(need);
  if (!p) sb_error(L, "MemoryError", "strand arena is full (a chunk of %d bytes)", (int)need);
  int kind = sb_tarray_read(L, t, first, count, p + PK_HDR);
  if (kind) {
    put_header(p, kind, (uint32_t)count);
    *out = p;
    return need;
  }
  luaL_checkstack(L, SLICE_BATCH + 8, "map chunk");
  int top = lua_gettop(L);
  int64_t i = 0;
  int ints = 1;
  while (ints && i < count) {
    int m = count - i < SLICE_BATCH ? (int)(count - i) : SLICE_BATCH;
    for (int j = 0; j < m; j++) lua_rawgeti(L, t, (lua_Integer)(first + i + j));
    for (int j = 0; j < m && ints; j++) {
      if (!lua_isinteger(L, top + 1 + j)) {
        ints = 0;
        break;
      }
      lua_Integer v = lua_tointeger(L, top + 1 + j);
      memcpy(p + PK_HDR + 8 * (i + j), &v, 8);
    }
    lua_settop(L, top);
    i += m;
  }
  if (ints) {
    put_header(p, 'i', (uint32_t)count);
    *out = p;
    return need;
  }
  sb_block_put(p);
  luaL_checkstack(L, (int)count + 8, "map chunk too large");
  for (i = 0; i < count; i++) lua_rawgeti(L, t, (lua_Integer)(first + i));
  size_t len = sb_pack_at(L, top + 1, (int)count, NULL, 0, out, what, (lua_Integer)first);
  lua_settop(L, top);
  return len;
}

static void bad_packed(lua_State *L) {
  sb_push_error(L, "ValueError", "cannot decode packed values: damaged");
  lua_error(L);
}

/* Push the values of a packed message; returns the count. */
static int unpack_packed(lua_State *L, const unsigned char *p, size_t len) {
  uint32_t n;
  memcpy(&n, p + 4, 4);
  int kind = p[2];
  const unsigned char *end = p + len;
  p += PK_HDR;
  luaL_checkstack(L, (int)n + 8, "too many values");
  if (kind == 'i' || kind == 'd') {
    if ((size_t)(end - p) != 8 * (size_t)n) bad_packed(L);
    for (uint32_t i = 0; i < n; i++, p += 8) sb_push_raw_number(L, p, kind == 'i');
    return (int)n;
  }
  for (uint32_t i = 0; i < n; i++) {
    if (p >= end) bad_packed(L);
    int tag = *p++;
    switch (tag) {
      case PK_NIL: lua_pushnil(L); break;
      case PK_FALSE: lua_pushboolean(L, 0); break;
      case PK_TRUE: lua_pushboolean(L, 1); break;
      case PK_INT8:
        if (p >= end) bad_packed(L);
        lua_pushinteger(L, (int8_t)*p++);
        break;
      case PK_INT:
      case PK_FLT: {
        if (end - p < 8) bad_packed(L);
        sb_push_raw_number(L, p, tag == PK_INT);
        p += 8;
        break;
      }
      case PK_STR: {
        uint32_t sl;
        if (end - p < 4) bad_packed(L);
        memcpy(&sl, p, 4);
        p += 4;
        if ((size_t)(end - p) < sl) bad_packed(L);
        lua_pushlstring(L, (const char *)p, sl);
        p += sl;
        break;
      }
      default: bad_packed(L);
    }
  }
  return (int)n;
}

int sb_unpack(lua_State *L, const void *msg, size_t len) {
  if (!msg || len == 0) return 0;
  if (is_packed(msg, len)) return unpack_packed(L, msg, len);
  return sb_decode(L, msg, len);
}

int64_t sb_unpack_into(lua_State *L, const void *msg, size_t len, int t, int64_t first) {
  t = lua_absindex(L, t);
  const unsigned char *m = msg;
  if (is_packed(msg, len) && (m[2] == 'i' || m[2] == 'd')) {
    uint32_t n;
    memcpy(&n, m + 4, 4);
    if (len == PK_HDR + 8 * (size_t)n && sb_tarray_write(L, t, first, n, m[2], m + PK_HDR)) return n;
  }
  if (is_packed(msg, len) && ((const unsigned char *)msg)[2] == 'i') {
    uint32_t n;
    memcpy(&n, (const char *)msg + 4, 4);
    if (len != PK_HDR + 8 * (size_t)n) bad_packed(L);
    const char *p = (const char *)msg + PK_HDR;
    for (uint32_t i = 0; i < n; i++, p += 8) {
      lua_Integer v;
      memcpy(&v, p, 8);
      lua_pushinteger(L, v);
      lua_rawseti(L, t, (lua_Integer)(first + i));
    }
    return n;
  }
  int n = sb_unpack(L, msg, len);
  for (int i = n - 1; i >= 0; i--) lua_rawseti(L, t, (lua_Integer)(first + i));
  return n;
}

void sb_packed_free(void *msg, size_t len, const void *inline_buf) {
  if (!msg) return;
  if (!is_packed(msg, len)) sb_codec_release(msg, len);
  if (msg != inline_buf) srt_free(msg);
}

/* ---- running a task ---------------------------------------------------------------- */
typedef struct run_rec {
  sb_task *t;
  void *msg;
  size_t len;
} run_rec;

/* Push the arguments of a starmap item (a table) after the function; the
** item is items[index] of the caller's list. Python's starmap refuses a
** non-iterable item: so does this, rather than call f with the item. */
static int push_star_args(lua_State *L, int item, int64_t index) {
  if (!lua_istable(L, item))
    return sb_error(L, "TypeError", "starmap: items[%I] is a %s, not a table of arguments",
                    (lua_Integer)index, luaL_typename(L, item));
  int n = (int)lua_rawlen(L, item);
  luaL_checkstack(L, n + 4, "too many arguments");
  for (int i = 1; i <= n; i++) lua_rawgeti(L, item, i);
  return n;
}

void sb_task_drop_args(sb_task *t) {
  sb_future *f = t->fut;
  sb_packed_free(t->args, t->args_len, t == &f->task ? f->buf : NULL);
  t->args = NULL;
  t->args_len = 0;
}

/* Push the k-th number of a packed chunk: 'i' integers, 'd' floats. */
static void push_packed(lua_State *L, const unsigned char *d, uint32_t k, int kind) {
  sb_push_raw_number(L, d + 8 * (size_t)k, kind == 'i');
}

/* A chunk of numbers (packed 'i' or 'd'): call the function on each and
** write each result, if it is a number of the kind the first result had,
** over its item, so the block becomes the result message with no other
** allocation and no second pass. A result of another kind switches to the
** generic way: the results so far, then the rest, go on the stack. Returns
** 1 when the block holds the results; 0 when they are on the stack at 2..
** (the block is then left in t->args). */
static int map_numbers(lua_State *L, sb_task *t, run_rec *rr) {
  unsigned char *p = t->args;
  uint32_t n;
  memcpy(&n, p + 4, 4);
  int in = p[2], outk = 0;
  unsigned char *d = p + PK_HDR;
  luaL_checkstack(L, 8, "map chunk");
  for (uint32_t k = 0; k < n; k++) {
    lua_pushvalue(L, 1);
    push_packed(L, d, k, in);
    lua_call(L, 1, 1);
    int kind = lua_isinteger(L, -1) ? 'i' : lua_type(L, -1) == LUA_TNUMBER ? 'd' : 0;
    if (!outk) outk = kind;
    if (kind && kind == outk) {
      if (kind == 'i') {
        lua_Integer v = lua_tointeger(L, -1);
        memcpy(d + 8 * (size_t)k, &v, 8);
      } else {
        lua_Number v = lua_tonumber(L, -1);
        memcpy(d + 8 * (size_t)k, &v, 8);
      }
      lua_settop(L, 1);
      continue;
    }
    /* the generic way from here: results 0..k-1 below this one, then the rest */
    luaL_checkstack(L, (int)n + 8, "map chunk too large");
    for (uint32_t j = 0; j < k; j++) {
      push_packed(L, d, j, outk);
    }
    lua_rotate(L, 2, -1);
    for (uint32_t j = k + 1; j < n; j++) {
      lua_pushvalue(L, 1);
      push_packed(L, d, j, in);
      lua_call(L, 1, 1);
    }
    return 0;
  }
  put_header(p, outk ? outk : 'i', n);
  rr->msg = p;
  rr->len = PK_HDR + 8 * (size_t)n;
  t->args = NULL; /* the block is the result now */
  t->args_len = 0;
  return 1;
}

/* The same with the loop in Lua, where calling the function costs least, and
** the items and results moved in and out of a table without the C API
** (tarray.c), MAP_BATCH items at a time: the table stays small (no fresh
** pages in a new worker) and in the cache. */
#define MAP_LOOP_SOURCE "=(strand map)"
#define MAP_BATCH 1024

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  luaL_Buffer *b = ud;
  (void)L;
  luaL_addlstring(b, p, sz);
  return 0;
}

/* The loop, made once per process and kept in the registry (a pool makes it
** before forking, so its workers find it). Stripped of its local names, its
** call of the task function has no name, so a traceback names the function
** by its definition ("in function <file:line>"), as for a task called from C;
** and the function in a local costs less per item than one in a vararg. */
static void push_map_loop(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.maploop") == LUA_TFUNCTION) return;
  lua_pop(L, 1);
  static const char loop[] = "return function(t, n, f) for i = 1, n do t[i] = f(t[i]) end end";
  if (luaL_loadbuffer(L, loop, sizeof loop - 1, MAP_LOOP_SOURCE) != LUA_OK) lua_error(L);
  lua_call(L, 0, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b); /* below the function: the dump reads the top */
  lua_rotate(L, -2, 1);
  lua_dump(L, dump_writer, &b, 1);
  lua_pop(L, 1);
  luaL_pushresult(&b);
  size_t len;
  const char *code = lua_tolstring(L, -1, &len);
  if (luaL_loadbufferx(L, code, len, MAP_LOOP_SOURCE, "b") != LUA_OK) lua_error(L);
  lua_remove(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.maploop");
}

void sb_map_loop_prepare(lua_State *L) {
  push_map_loop(L);
  lua_pop(L, 1);
}

/* Run items [off, off + m) of the chunk through the loop (table at 2, loop
** at 3, function at 1); the results are left in the table. */
static void map_batch(lua_State *L, const unsigned char *d, uint32_t off, uint32_t m, int kind) {
  sb_tarray_write(L, 2, 1, m, kind, d + 8 * (size_t)off);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 2);
  lua_pushinteger(L, m);
  lua_pushvalue(L, 1);
  lua_call(L, 3, 0);
}

/* A batch gave results of another kind: every result onto the stack at
** 2.., for the generic pack. Those of the batches before it are in the
** block (of kind outk), its own in the table, the rest still to come. */
static int map_spill(lua_State *L, const unsigned char *d, uint32_t n, uint32_t off, uint32_t m,
                     uint32_t b, int in, int outk) {
  luaL_checkstack(L, (int)n + 8, "map chunk too large");
  for (uint32_t j = 0; j < off; j++) push_packed(L, d, j, outk);
  for (uint32_t j = 1; j <= m; j++) lua_rawgeti(L, 2, j);
  for (off += m; off < n; off += m) {
    m = n - off < b ? n - off : b;
    map_batch(L, d, off, m, in);
    for (uint32_t j = 1; j <= m; j++) lua_rawgeti(L, 2, j);
  }
  lua_remove(L, 3);
  lua_remove(L, 2);
  return -1;
}

/* Returns 1 when the block holds the results, -1 when they are on the stack
** at 2.., 0 when this way is not possible here (nothing done). */
static int map_numbers_loop(lua_State *L, sb_task *t, run_rec *rr) {
  unsigned char *p = t->args;
  uint32_t n;
  memcpy(&n, p + 4, 4);
  int in = p[2], outk = 0;
  const unsigned char *d = p + PK_HDR;
  uint32_t b = n < MAP_BATCH ? n : MAP_BATCH;
  sb_prefault(p, t->args_len);
  /* one table per worker, kept across chunks: no allocation per chunk */
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.maptable") != LUA_TTABLE ||
      lua_rawlen(L, -1) < b) {
    lua_pop(L, 1);
    lua_createtable(L, (int)b, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "strand.maptable");
  } /* 2 */
  if (!sb_tarray_write(L, 2, 1, 0, in, d)) {
    lua_settop(L, 1);
    return 0;
  }
  push_map_loop(L); /* 3 */
  for (uint32_t off = 0, m; off < n; off += m) {
    m = n - off < b ? n - off : b;
    map_batch(L, d, off, m, in);
    int kind = sb_tarray_read(L, 2, 1, m, p + PK_HDR + 8 * (size_t)off);
    if (!kind || (outk && kind != outk)) return map_spill(L, d, n, off, m, b, in, outk);
    outk = kind;
  }
  put_header(p, outk ? outk : in, n); /* the block is the result now */
  rr->msg = p;
  rr->len = PK_HDR + 8 * (size_t)n;
  t->args = NULL;
  t->args_len = 0;
  lua_settop(L, 1);
  return 1;
}

static int is_number_chunk(sb_task *t) {
  const unsigned char *p = t->args;
  return t->kind == SB_TASK_MAP && t->args_len >= PK_HDR && p[0] == 'P' && p[1] == 'K' &&
         (p[2] == 'i' || p[2] == 'd');
}

static int run_body(lua_State *L) {
  run_rec *rr = lua_touserdata(L, 1);
  sb_task *t = rr->t;
  sb_future *f = t->fut;
  lua_settop(L, 0);
  push_task_fn(L, t->fn); /* 1 */
  if (t->kind == SB_TASK_CALL) {
    int n = sb_unpack(L, t->args, t->args_len);
    sb_task_drop_args(t); /* a small result takes the arguments' place in the future */
    lua_call(L, n, LUA_MULTRET);
    int nres = lua_gettop(L);
    int one = f->nparts == 1;
    rr->len = sb_pack(L, 1, nres, one ? f->buf : NULL, one ? SB_INLINE : 0, &rr->msg, "result");
    return 0;
  }
  int n;
  if (is_number_chunk(t)) {
    int r = map_numbers_loop(L, t, rr);
    if (r > 0) return 0;
    if (r == 0 && map_numbers(L, t, rr)) return 0;
    n = lua_gettop(L) - 1;
  } else { /* a chunk: each result replaces its item on the stack */
    n = sb_unpack(L, t->args, t->args_len);
    for (int i = 2; i <= n + 1; i++) {
      lua_pushvalue(L, 1);
      if (t->kind == SB_TASK_MAP) {
        lua_pushvalue(L, i);
        lua_call(L, 1, 1);
      } else {
        int na = push_star_args(L, i, (int64_t)t->part * f->chunksize + i - 1);
        lua_call(L, na, 1);
      }
      lua_replace(L, i);
    }
  }
  /* the chunk's block, its references dropped, holds the results if they fit */
  void *block = t->args;
  size_t cap = block ? srt_alloc_size(block) : 0;
  if (block && !is_packed(block, t->args_len)) sb_codec_release(block, t->args_len);
  t->args = NULL;
  t->args_len = 0;
  rr->len = sb_pack(L, 2, n, block, cap, &rr->msg, "result");
  if (block && rr->msg != block) srt_free(block);
  return 0;
}

static int is_cancel_error(lua_State *L, int idx) {
  if (!lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, "kind");
  const char *k = lua_tostring(L, -1);
  int r = k && (strcmp(k, "Cancelled") == 0 || strcmp(k, "KeyboardInterrupt") == 0);
  lua_pop(L, 1);
  return r;
}

static int stack_depth(lua_State *L) {
  lua_Debug ar;
  int n = 0;
  while (lua_getstack(L, n, &ar)) n++;
  return n;
}

/* Keep the first `keep` levels of a luaL_traceback text (levels 1..keep).
** It shows levels 1-10, a "skipping" line, then the last 11 when there are
** more than 22: the cut accounts for that. */
static void push_cut_traceback(lua_State *L, int keep, int total) {
  luaL_traceback(L, L, NULL, 1);
  size_t len;
  const char *tb = lua_tolstring(L, -1, &len);
  int lines = keep; /* level lines to keep, after the header */
  if (total > 22 && keep > 10) { /* 10 lines, the skip line, then levels total-10.. */
    int tail = keep - (total - 11);
    lines = 11 + (tail > 0 ? tail : 0);
  }
  if (lines < 1) lines = 1;
  const char *p = tb, *end = tb + len;
  for (int i = 0; i <= lines && p < end; i++) { /* header + lines */
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
  }
  if (p < end) {
    lua_pushlstring(L, tb, (size_t)(p - tb - 1));
    lua_remove(L, -2);
  }
}

/* Message handler of a task: as the one of sb_pcall_traceback (a
** strand.Error with traceback and worker name, the original value kept),
** but the traceback stops at the task function: the frames of the worker's
** own loop below it say nothing to the caller. Upvalue 1: that loop's depth. */
static int task_msgh(lua_State *L) {
  int outer = (int)lua_tointeger(L, lua_upvalueindex(1));
  int total = stack_depth(L) - 1; /* levels 1.. (level 0 is this handler) */
  int keep = total - outer - 1;   /* minus the C function that runs the task */
  lua_Debug ar; /* and the map loop of run_body, if it is there: known by */
  if (keep > 1 && lua_getstack(L, keep, &ar) && lua_getinfo(L, "f", &ar)) { /* identity, */
    lua_getfield(L, LUA_REGISTRYINDEX, "strand.maploop"); /* its dump keeps no source */
    if (lua_rawequal(L, -1, -2)) keep--;
    lua_pop(L, 2);
  }
  int is_error = 0;
  if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, "strand.Error");
    is_error = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  if (is_error) {
    lua_getfield(L, 1, "traceback");
    int has = lua_isstring(L, -1);
    lua_pop(L, 1);
    if (!has) {
      push_cut_traceback(L, keep, total);
      lua_setfield(L, 1, "traceback");
      lua_pushstring(L, sb_current_name(L));
      lua_setfield(L, 1, "worker");
    }
    lua_settop(L, 1);
    return 1;
  }
  sb_push_error(L, "Error", luaL_tolstring(L, 1, NULL));
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "value");
  push_cut_traceback(L, keep, total);
  lua_setfield(L, -2, "traceback");
  lua_pushstring(L, sb_current_name(L));
  lua_setfield(L, -2, "worker");
  return 1;
}

/* Call the function below nargs arguments with task_msgh. */
static int pcall_task(lua_State *L, int nargs) {
  int depth = stack_depth(L);
  int base = lua_gettop(L) - nargs;
  lua_pushinteger(L, depth);
  lua_pushcclosure(L, task_msgh, 1);
  lua_insert(L, base);
  int r = lua_pcall(L, nargs, 0, base);
  lua_remove(L, base);
  return r;
}

/* Set while this thread runs a task: a cancel that reaches it is the task's
** (Future:cancel, terminate), not its thread's, and says so. */
static __thread int running_task;

int sb_in_task(void) { return running_task; }

int sb_task_run(lua_State *L, sb_task *t) {
  sb_future *f = t->fut;
  if (!sb_future_start(f)) return 0;
  int top = lua_gettop(L);
  run_rec rr = {t, NULL, 0};
  lua_pushcfunction(L, run_body);
  lua_pushlightuserdata(L, &rr);
  running_task = 1;
  int failed = pcall_task(L, 1) != LUA_OK;
  running_task = 0;
  int stop = 0;
  if (failed) {
    int one = f->nparts == 1;
    /* a Cancelled error the task did not ask for: the worker is being ended */
    stop = is_cancel_error(L, -1) && !atomic_load(&f->cancel_req);
    rr.len = sb_pack_error(L, -1, one ? f->buf : NULL, one ? SB_INLINE : 0, &rr.msg);
  }
  lua_settop(L, top);
  sb_future_done_part(f, t->part, rr.msg, rr.len, failed);
  /* a cancel meant for this task may have landed after it ended: drop it */
  if (srt_interrupt_pending() && srt_take_interrupt() && !atomic_load(&f->cancel_req)) stop = 1;
  return stop;
}

sb_task *sb_new_part_task(lua_State *L, sb_future *f, uint32_t part, int kind, void *args,
                          size_t len) {
  sb_task *t = srt_calloc(sizeof *t);
  if (!t) {
    sb_packed_free(args, len, NULL);
    sb_error(L, "MemoryError", "strand arena is full");
  }
  t->fut = f;
  t->part = part;
  t->kind = (uint32_t)kind;
  t->args = args;
  t->args_len = len;
  return t;
}

void sb_task_release(sb_task *t) {
  sb_future *f = t->fut;
  sb_fn_unref(t->fn);
  t->fn = NULL;
  sb_task_drop_args(t);
  if (t != &f->task) srt_free(t);
  srt_decref(&f->h);
}

/* Empty the queue, cancelling each task's future whole, parts running
** elsewhere included: a map whose first chunks run while the rest are
** dropped could never end otherwise. */
void sb_taskq_cancel_all(srt_taskq *q) {
  srt_tqnode *n = srt_taskq_drain(q);
  while (n) {
    srt_tqnode *next = n->next;
    sb_task *t = (sb_task *)n;
    sb_future_cancel(t->fut, 1);
    sb_task_release(t);
    n = next;
  }
}

/* (initializer, initargs) decoded and called, under the caller's pcall. */
static int init_body(lua_State *L) {
  const void *msg = lua_touserdata(L, 1);
  size_t len = (size_t)lua_tointeger(L, 2);
  lua_settop(L, 0);
  int n = sb_unpack(L, msg, len);
  if (n < 1 || lua_isnil(L, 1)) return 0;
  int nargs = 0;
  if (n >= 2 && lua_istable(L, 2)) {
    nargs = (int)lua_rawlen(L, 2);
    luaL_checkstack(L, nargs + 4, "too many initargs");
    for (int i = 1; i <= nargs; i++) lua_rawgeti(L, 2, i);
    lua_remove(L, 2);
  } else {
    lua_settop(L, 1);
  }
  lua_call(L, nargs, 0);
  return 0;
}

int sb_run_initializer(lua_State *L, const void *msg, size_t len) {
  if (!msg) return 0;
  lua_pushcfunction(L, init_body);
  lua_pushlightuserdata(L, (void *)msg);
  lua_pushinteger(L, (lua_Integer)len);
  return pcall_task(L, 2) != LUA_OK;
}

/*
** l_shdict.c — shared containers: strand.shared.dict, .list, .Namespace and
** strand.Manager(), Python's Manager().dict()/list()/Namespace() without a
** server process: the containers live in the arena (runtime/shtable.c) and
** every thread and process of the program reads and writes them directly.
**
** Values are codec-copied in and out: storing a table stores a copy of it
** (changing the table afterwards, or the one you read back, does not change
** the container); storing a strand handle (a Lock, a Queue, another shared
** dict) stores a reference to that object. Keys of a dict or Namespace are
** strings, numbers (1 and 1.0 are one key, as in Lua) and booleans.
**
** Every operation is atomic. d:update(k, f) holds the container's guard (a
** strand RLock, runtime/shtable.c) across f, so writers elsewhere wait while
** readers go on; f runs under pcall so the guard is always released. No
** Lua code ever runs while the internal mutex is held: values are decoded
** after it is released, from a blob the reader holds a reference to.
**
** pairs(), keys(), values() and totable() work on a snapshot taken at once
** under the mutex: they see every entry as it was at that moment and none of
** the writes made during the loop. ipairs(l) reads l[1], l[2] ... live, one
** atomic read each, and stops at the first nil (or the end).
*/
#include "sb.h"

#include <string.h>

typedef struct sb_shdict {
  srt_obj h;
  srt_dict d;
} sb_shdict;

typedef struct sb_shlist {
  srt_obj h;
  srt_list l;
} sb_shlist;

#define KEY_INLINE 64
#define TOSTRING_MAX 16

/* ---- blobs of values ------------------------------------------------------------- */
static void release_blob(srt_blob *b) { sb_codec_release(b->data, b->len); }

/* The value at idx as a new blob (codec bytes owning its handles). */
static srt_blob *value_blob(lua_State *L, int idx) {
  size_t len;
  const char *p = sb_encode(L, idx, 1, &len, "value");
  srt_blob *b = srt_blob_new(p, len, SRT_BLOB_OWNS);
  if (!b) {
    sb_codec_release(p, len);
    sb_error(L, "MemoryError", "strand arena is full (a value of %d bytes)", (int)len);
  }
  return b;
}

static int decode_blob(lua_State *L) {
  srt_blob *b = lua_touserdata(L, 1);
  return sb_decode(L, (const char *)b->data, b->len);
}

/* Push the value in b, or nil for NULL; drops the caller's reference even
** when decoding fails (a function needing a module this state lacks). */
static void push_blob(lua_State *L, srt_blob *b) {
  if (!b) {
    lua_pushnil(L);
    return;
  }
  lua_pushcfunction(L, decode_blob);
  lua_pushlightuserdata(L, b);
  int r = lua_pcall(L, 1, 1, 0);
  srt_blob_decref(b);
  if (r != LUA_OK) lua_error(L);
}

/* Raise for a failed container write; val is dropped. */
static int write_failed(lua_State *L, int r, srt_blob *val, const char *what) {
  srt_blob_decref(val);
  if (r == SRT_INTERRUPTED) return sb_raise_interrupt(L);
  if (r == SRT_NOMEM) return sb_error(L, "MemoryError", "strand arena is full (%s)", what);
  if (r == SRT_TIMEDOUT) return sb_error(L, "Timeout", "%s: timed out", what);
  return luaL_error(L, "%s failed (%d)", what, r);
}

/* ---- snapshots: iteration, keys, totable ---------------------------------------------- */
typedef struct snapshot {
  srt_blob **a;
  size_t n, pos; /* n blobs; pos: the next one */
} snapshot;

static void snapshot_release(snapshot *s) {
  if (s->a) srt_blobs_release(s->a, s->n);
  s->a = NULL;
  s->n = s->pos = 0;
}

static int snapshot_gc(lua_State *L) {
  snapshot_release(lua_touserdata(L, 1));
  return 0;
}

/* Push an empty snapshot userdata; fill it with fill_snapshot. */
static snapshot *push_snapshot(lua_State *L) {
  snapshot *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  if (luaL_newmetatable(L, "strand.shared.snapshot")) {
    sb_setfn(L, "__gc", snapshot_gc);
    sb_setfn(L, "__close", snapshot_gc);
  }
  lua_setmetatable(L, -2);
  return s;
}

static void snapshot_check(lua_State *L, int r) {
  if (r == SRT_NOMEM) luaL_error(L, "not enough memory for a snapshot");
}

/* ---- dict keys --------------------------------------------------------------------------- */
/* A key as bytes: a tag, then the payload ('s' string, 'i' integer, 'f'
** float, 'b' boolean). Floats with an integer value become integers. */
typedef struct keybuf {
  const char *p;
  size_t len;
  char inl[KEY_INLINE];
} keybuf;

static void check_key(lua_State *L, int idx, keybuf *k) {
  char *out = k->inl;
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      if (n + 1 > KEY_INLINE) out = lua_newuserdatauv(L, n + 1, 0); /* freed by the GC */
      out[0] = 's';
      memcpy(out + 1, s, n);
      k->len = n + 1;
      break;
    }
    case LUA_TNUMBER: {
      int isint = 0;
      lua_Integer i = lua_tointegerx(L, idx, &isint); /* 2.0 is the key 2, as in Lua */
      if (isint) {
        out[0] = 'i';
        memcpy(out + 1, &i, sizeof i);
      } else {
        lua_Number x = lua_tonumber(L, idx);
        if (x != x) luaL_error(L, "shared dict key is NaN");
        out[0] = 'f';
        memcpy(out + 1, &x, sizeof x);
      }
      k->len = 9;
      break;
    }
    case LUA_TBOOLEAN:
      out[0] = 'b';
      out[1] = (char)lua_toboolean(L, idx);
      k->len = 2;
      break;
    default:
      luaL_error(L, "shared dict key must be a string, number or boolean, got %s", luaL_typename(L, idx));
  }
  k->p = out;
}

static void push_key(lua_State *L, const srt_blob *b) {
  const char *p = (const char *)b->data;
  switch (p[0]) {
    case 's': lua_pushlstring(L, p + 1, b->len - 1); break;
    case 'i': {
      lua_Integer i;
      memcpy(&i, p + 1, sizeof i);
      lua_pushinteger(L, i);
      break;
    }
    case 'f': {
      lua_Number x;
      memcpy(&x, p + 1, sizeof x);
      lua_pushnumber(L, x);
      break;
    }
    default: lua_pushboolean(L, p[1]);
  }
}

/* ---- dict and Namespace -------------------------------------------------------------------- */
static srt_dict *check_dict(lua_State *L, int idx) {
  sb_shdict *d = sb_test(L, idx, SB_T_DICT);
  if (!d) d = sb_test(L, idx, SB_T_NAMESPACE);
  if (!d) sb_check(L, idx, SB_T_DICT);
  return &d->d;
}

static void dict_destroy(srt_obj *o) { srt_dict_destroy(&((sb_shdict *)o)->d); }

/* Push d[key at kidx]. (check_key may push a buffer: it is removed.) */
static void dict_get(lua_State *L, srt_dict *d, int kidx) {
  int top = lua_gettop(L);
  keybuf k;
  check_key(L, kidx, &k);
  luaL_checkstack(L, 4, NULL);
  push_blob(L, srt_dict_get(d, k.p, k.len));
  if (lua_gettop(L) > top + 1) {
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
  }
}

/* d[key at kidx] = value at vidx (nil deletes). Leaves the stack as it was. */
static void dict_set(lua_State *L, srt_dict *d, int kidx, int vidx) {
  int top = lua_gettop(L);
  kidx = lua_absindex(L, kidx);
  vidx = lua_absindex(L, vidx);
  keybuf k;
  check_key(L, kidx, &k);
  srt_blob *val = lua_isnil(L, vidx) ? NULL : value_blob(L, vidx);
  int r = srt_dict_set(d, k.p, k.len, val, NULL, SRT_FOREVER);
  if (r != SRT_OK) write_failed(L, r, val, "shared dict write");
  lua_settop(L, top);
}

/* __index: methods first (upvalue 2), then the entry. */
static int dict_index(lua_State *L) {
  srt_dict *d = check_dict(L, 1);
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
  }
  dict_get(L, d, 2);
  return 1;
}

static int dict_newindex(lua_State *L) {
  dict_set(L, check_dict(L, 1), 2, 3);
  return 0;
}

static int dict_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)srt_dict_len(check_dict(L, 1)));
  return 1;
}

static snapshot *dict_snapshot(lua_State *L, srt_dict *d) {
  snapshot *s = push_snapshot(L);
  size_t n;
  snapshot_check(L, srt_dict_snapshot(d, &s->a, &n));
  s->n = 2 * n;
  return s;
}

static int dict_next(lua_State *L) {
  snapshot *s = luaL_checkudata(L, 1, "strand.shared.snapshot");
  if (s->pos >= s->n) return 0;
  push_key(L, s->a[s->pos]);
  srt_blob *v = s->a[s->pos + 1];
  srt_blob_incref(v);
  s->pos += 2;
  push_blob(L, v);
  return 2;
}

/* pairs(d): iterator, snapshot, nil, snapshot (closed when the loop ends). */
static int dict_pairs(lua_State *L) {
  srt_dict *d = check_dict(L, 1);
  lua_pushcfunction(L, dict_next);
  dict_snapshot(L, d);
  lua_pushnil(L);
  lua_pushvalue(L, -2);
  return 4;
}

/* keys / values / totable from one snapshot. which: 'k', 'v' or 't'. */
static int dict_collect(lua_State *L, int which) {
  srt_dict *d = check_dict(L, 1);
  lua_settop(L, 1);
  snapshot *s = dict_snapshot(L, d); /* 2 */
  lua_createtable(L, which == 't' ? 0 : (int)(s->n / 2), which == 't' ? (int)(s->n / 2) : 0);
  for (size_t i = 0; i < s->n; i += 2) {
    if (which == 'k') {
      push_key(L, s->a[i]);
      lua_rawseti(L, 3, (lua_Integer)(i / 2 + 1));
      continue;
    }
    srt_blob_incref(s->a[i + 1]);
    push_blob(L, s->a[i + 1]);
    if (which == 'v') {
      lua_rawseti(L, 3, (lua_Integer)(i / 2 + 1));
    } else {
      push_key(L, s->a[i]);
      lua_insert(L, -2);
      lua_rawset(L, 3);
    }
  }
  snapshot_release(s);
  return 1;
}

static int d_keys(lua_State *L) { return dict_collect(L, 'k'); }
static int d_values(lua_State *L) { return dict_collect(L, 'v'); }
static int d_totable(lua_State *L) { return dict_collect(L, 't'); }

static int d_get(lua_State *L) {
  srt_dict *d = check_dict(L, 1);
  luaL_checkany(L, 2);
  lua_settop(L, 3);
  dict_get(L, d, 2);
  if (lua_isnil(L, -1)) lua_pushvalue(L, 3);
  return 1;
}

static int d_set(lua_State *L) {
  srt_dict *d = check_dict(L, 1);
  luaL_checkany(L, 2);
  lua_settop(L, 3);
  dict_set(L, d, 2, 3);
  return 0;
}

/* pop(k [, default]): remove k, returning its value (or default). */
static int d_pop(lua_State *L) {
  srt_dict *d = check_dict(L, 1);
  luaL_checkany(L, 2);
  lua_settop(L, 3);
  keybuf k;
  check_key(L, 2, &k);
  luaL_checkstack(L, 4, NULL);
  srt_blob *old = NULL;
  int r = srt_dict_set(d, k.p, k.len, NULL, &old, SRT_FOREVER);
  if (r != SRT_OK) write_failed(L, r, NULL, "shared dict pop");
  push_blob(L, old);
  if (lua_isnil(L, -1)) lua_pushvalue(L, 3);
  return 1;
}

static int d_clear(lua_State *L) {
  int r = srt_dict_clear(check_dict(L, 1), SRT_FOREVER);
  if (r != SRT_OK) write_failed(L, r, NULL, "shared dict clear");
  return 0;
}

/* Under pcall, with the guard held: new = f(old); store it; return it. */
static int update_body(lua_State *L) {
  srt_dict *d = lua_touserdata(L, 1); /* 2: key, 3: f */
  dict_get(L, d, 2);                   /* 4: old */
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 4);
  lua_call(L, 1, 1); /* 5: new */
  dict_set(L, d, 2, 5);
  return 1;
}

/* update(k, f [, timeout]): d[k] = f(d[k]) atomically; returns the new value. */
static int d_update(lua_State *L) {
  srt_dict *d = check_dict(L, 1);
  luaL_checkany(L, 2);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  int64_t deadline = sb_opt_deadline(L, 4);
  keybuf k;
  check_key(L, 2, &k); /* a bad key fails here, before the guard */
  lua_settop(L, 3);
  luaL_checkstack(L, 8, NULL);
  int r = srt_lock_acquire(&d->guard, deadline);
  if (r == SRT_TIMEDOUT) return sb_error(L, "Timeout", "shared dict update: timed out waiting for another update");
  if (r == SRT_INTERRUPTED) return sb_raise_interrupt(L);
  lua_pushcfunction(L, update_body);
  lua_pushlightuserdata(L, d);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  r = lua_pcall(L, 3, 1, 0);
  srt_lock_release(&d->guard);
  if (r != LUA_OK) return lua_error(L);
  return 1;
}

/* {k=v, ...}: entries shown up to TOSTRING_MAX, values by tostring. */
static void push_entries_string(lua_State *L, srt_dict *d, const char *open, const char *sep,
                                const char *close, int quote_keys) {
  int top = lua_gettop(L);
  snapshot *s = dict_snapshot(L, d);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, open);
  for (size_t i = 0; i < s->n && i < 2 * TOSTRING_MAX; i += 2) {
    if (i) luaL_addstring(&b, ", ");
    push_key(L, s->a[i]);
    if (quote_keys && lua_type(L, -1) != LUA_TSTRING) {
      lua_pushfstring(L, "[%s]", luaL_tolstring(L, -1, NULL));
      lua_remove(L, -2);
      lua_remove(L, -2);
    }
    luaL_addvalue(&b);
    luaL_addstring(&b, sep);
    srt_blob_incref(s->a[i + 1]);
    push_blob(L, s->a[i + 1]);
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    luaL_addvalue(&b);
  }
  if (s->n > 2 * TOSTRING_MAX) luaL_addstring(&b, ", ...");
  luaL_addstring(&b, close);
  luaL_pushresult(&b);
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
}

static int dict_tostring(lua_State *L) {
  push_entries_string(L, check_dict(L, 1), "shared.dict{", "=", "}", 1);
  return 1;
}

static int ns_tostring(lua_State *L) {
  push_entries_string(L, check_dict(L, 1), "Namespace(", "=", ")", 1);
  return 1;
}

/* A Namespace has no methods: every name is an attribute. */
static int ns_index(lua_State *L) {
  dict_get(L, check_dict(L, 1), 2);
  return 1;
}

/* Fill a new container from the table at idx (if any). */
static void dict_fill(lua_State *L, srt_dict *d, int idx) {
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    dict_set(L, d, -2, -1);
    lua_pop(L, 1);
  }
}

static int new_dict(lua_State *L, uint32_t type, int init) {
  lua_settop(L, init);
  if (!lua_isnil(L, init)) luaL_checktype(L, init, LUA_TTABLE);
  sb_shdict *d = sb_new_obj(L, type, sizeof *d);
  srt_dict_init(&d->d);
  sb_push_handle(L, &d->h);
  dict_fill(L, &d->d, init);
  return 1;
}

static int l_shared_dict(lua_State *L) { return new_dict(L, SB_T_DICT, 1); }
static int l_shared_namespace(lua_State *L) { return new_dict(L, SB_T_NAMESPACE, 1); }

/* ---- list ------------------------------------------------------------------------------------- */
static srt_list *check_list(lua_State *L, int idx) { return &((sb_shlist *)sb_check(L, idx, SB_T_LIST))->l; }

static void list_destroy(srt_obj *o) { srt_list_destroy(&((sb_shlist *)o)->l); }

static lua_Integer check_pos(lua_State *L, int idx) {
  int isint = 0;
  lua_Integer i = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &isint) : 0;
  if (!isint)
    luaL_error(L, "shared list index must be an integer, got %s",
               lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx));
  return i;
}

/* Lua position (1-based; negative from the end) to the runtime's. */
static int64_t to_runtime(lua_Integer i) { return i > 0 ? i - 1 : i; }

static int list_index(lua_State *L) {
  srt_list *l = check_list(L, 1);
  if (lua_type(L, 2) != LUA_TNUMBER) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    return sb_meta_index_fallback(L);
  }
  lua_Integer i = check_pos(L, 2);
  luaL_checkstack(L, 4, NULL);
  srt_blob *b = i >= 1 ? srt_list_get(l, i - 1) : NULL;
  if (!b) {
    size_t n = srt_list_len(l);
    if (i != (lua_Integer)n + 1) /* n + 1 is the end of the sequence, for ipairs */
      return luaL_error(L, "shared list index %I out of range (1..%I)", i, (lua_Integer)n);
    lua_pushnil(L);
    return 1;
  }
  push_blob(L, b);
  return 1;
}

static void list_store(lua_State *L, srt_list *l, lua_Integer i, int vidx) {
  srt_blob *val = value_blob(L, vidx);
  int r = i >= 1 ? srt_list_set(l, i - 1, val, SRT_FOREVER) : SRT_RANGE;
  if (r == SRT_RANGE) {
    srt_blob_decref(val);
    luaL_error(L, "shared list index %I out of range (1..%I); l:append(v) adds at the end", i,
               (lua_Integer)srt_list_len(l));
  }
  if (r != SRT_OK) write_failed(L, r, val, "shared list write");
}

static int list_newindex(lua_State *L) {
  srt_list *l = check_list(L, 1);
  if (lua_type(L, 2) != LUA_TNUMBER) return sb_meta_newindex_fallback(L);
  list_store(L, l, check_pos(L, 2), 3);
  return 0;
}

static int list_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)srt_list_len(check_list(L, 1)));
  return 1;
}

static snapshot *list_snapshot(lua_State *L, srt_list *l) {
  snapshot *s = push_snapshot(L);
  snapshot_check(L, srt_list_snapshot(l, &s->a, &s->n));
  return s;
}

static int list_next(lua_State *L) {
  snapshot *s = luaL_checkudata(L, 1, "strand.shared.snapshot");
  if (s->pos >= s->n) return 0;
  lua_pushinteger(L, (lua_Integer)s->pos + 1);
  srt_blob *v = s->a[s->pos++];
  srt_blob_incref(v);
  push_blob(L, v);
  return 2;
}

/* pairs(l): index, value over a snapshot. */
static int list_pairs(lua_State *L) {
  srt_list *l = check_list(L, 1);
  lua_pushcfunction(L, list_next);
  list_snapshot(L, l);
  lua_pushnil(L);
  lua_pushvalue(L, -2);
  return 4;
}

static int l_append(lua_State *L) {
  srt_list *l = check_list(L, 1);
  luaL_checkany(L, 2);
  srt_blob *val = value_blob(L, 2);
  int r = srt_list_insert(l, -1, val, SRT_FOREVER);
  if (r != SRT_OK) write_failed(L, r, val, "shared list append");
  return 0;
}

/* insert(i, v) as table.insert: i in 1..#l+1; insert(v) appends. */
static int l_insert(lua_State *L) {
  srt_list *l = check_list(L, 1);
  if (lua_gettop(L) <= 2) return l_append(L);
  lua_Integer i = check_pos(L, 2);
  srt_blob *val = value_blob(L, 3);
  int r = i >= 1 ? srt_list_insert(l, i - 1, val, SRT_FOREVER) : SRT_RANGE;
  if (r == SRT_RANGE) {
    srt_blob_decref(val);
    return luaL_error(L, "shared list insert position %I out of range (1..%I)", i,
                      (lua_Integer)srt_list_len(l) + 1);
  }
  if (r != SRT_OK) write_failed(L, r, val, "shared list insert");
  return 0;
}

/* pop([i]): remove and return item i (default: the last; negative from the end). */
static int l_pop(lua_State *L) {
  srt_list *l = check_list(L, 1);
  lua_Integer i = lua_isnoneornil(L, 2) ? -1 : check_pos(L, 2);
  luaL_checkstack(L, 4, NULL);
  srt_blob *out = NULL;
  int r = i != 0 ? srt_list_pop(l, to_runtime(i), &out, SRT_FOREVER) : SRT_RANGE;
  if (r == SRT_RANGE) {
    size_t n = srt_list_len(l);
    if (n == 0) return sb_error(L, "IndexError", "pop from an empty shared list");
    return sb_error(L, "IndexError", "shared list pop index %I out of range (1..%I)", i, (lua_Integer)n);
  }
  if (r != SRT_OK) write_failed(L, r, NULL, "shared list pop");
  push_blob(L, out);
  return 1;
}

static int l_get(lua_State *L) {
  srt_list *l = check_list(L, 1);
  lua_Integer i = check_pos(L, 2);
  lua_settop(L, 3);
  luaL_checkstack(L, 4, NULL);
  srt_blob *b = i != 0 ? srt_list_get(l, to_runtime(i)) : NULL;
  if (!b) {
    lua_pushvalue(L, 3);
    return 1;
  }
  push_blob(L, b);
  return 1;
}

static int l_set(lua_State *L) {
  srt_list *l = check_list(L, 1);
  list_store(L, l, check_pos(L, 2), 3);
  return 0;
}

static int l_totable(lua_State *L) {
  srt_list *l = check_list(L, 1);
  lua_settop(L, 1);
  snapshot *s = list_snapshot(L, l);
  lua_createtable(L, (int)s->n, 0);
  for (size_t i = 0; i < s->n; i++) {
    srt_blob_incref(s->a[i]);
    push_blob(L, s->a[i]);
    lua_rawseti(L, 3, (lua_Integer)i + 1);
  }
  return 1;
}

static int l_clear(lua_State *L) {
  int r = srt_list_clear(check_list(L, 1), SRT_FOREVER);
  if (r != SRT_OK) write_failed(L, r, NULL, "shared list clear");
  return 0;
}

static int list_tostring(lua_State *L) {
  srt_list *l = check_list(L, 1);
  lua_settop(L, 1);
  snapshot *s = list_snapshot(L, l);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "shared.list{");
  for (size_t i = 0; i < s->n && i < TOSTRING_MAX; i++) {
    if (i) luaL_addstring(&b, ", ");
    srt_blob_incref(s->a[i]);
    push_blob(L, s->a[i]);
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    luaL_addvalue(&b);
  }
  if (s->n > TOSTRING_MAX) luaL_addstring(&b, ", ...");
  luaL_addstring(&b, "}");
  luaL_pushresult(&b);
  return 1;
}

static int l_shared_list(lua_State *L) {
  lua_settop(L, 1);
  sb_shlist *o = sb_new_obj(L, SB_T_LIST, sizeof *o);
  srt_list_init(&o->l);
  sb_push_handle(L, &o->h);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, 1, i);
      srt_blob *val = value_blob(L, -1);
      int r = srt_list_insert(&o->l, -1, val, SRT_FOREVER);
      if (r != SRT_OK) write_failed(L, r, val, "shared list");
      lua_pop(L, 1);
    }
  }
  return 1;
}

/* ---- Manager ------------------------------------------------------------------------------------- */
/* strand.Manager(): what Python's SyncManager offers, without its server:
** dict(), list(), Namespace(), and every other strand constructor (m:Lock(),
** m:Queue(), m:Value(...)) as a method. shutdown() (and leaving a `<close>`
** scope) only stops it making new objects; the ones made keep working for
** as long as someone holds them. */
typedef struct manager {
  int shut;
} manager;

static manager *check_manager(lua_State *L) {
  manager *m = luaL_checkudata(L, 1, "strand.Manager");
  if (m->shut) luaL_error(L, "Manager is shut down");
  return m;
}

/* A constructor called as a method: drop self, call the module function. */
static int manager_call(lua_State *L) {
  check_manager(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_replace(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

static int manager_shutdown(lua_State *L) {
  manager *m = luaL_checkudata(L, 1, "strand.Manager");
  m->shut = 1;
  return 0;
}

static int manager_start(lua_State *L) {
  check_manager(L);
  lua_settop(L, 1);
  return 1;
}

/* __index: start/shutdown, then module[key] (a function) bound as a method.
** dict/list/Namespace map to shared_dict/shared_list/shared_namespace. */
static int manager_index(lua_State *L) {
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "shutdown") == 0) return lua_pushcfunction(L, manager_shutdown), 1;
  if (strcmp(k, "start") == 0) return lua_pushcfunction(L, manager_start), 1;
  const char *field = strcmp(k, "dict") == 0        ? "shared_dict"
                      : strcmp(k, "list") == 0      ? "shared_list"
                      : strcmp(k, "Namespace") == 0 ? "shared_namespace"
                                                    : k;
  if (lua_getfield(L, lua_upvalueindex(1), field) != LUA_TFUNCTION) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushcclosure(L, manager_call, 1);
  return 1;
}

static int manager_tostring(lua_State *L) {
  manager *m = luaL_checkudata(L, 1, "strand.Manager");
  lua_pushstring(L, m->shut ? "<strand.Manager (shut down)>" : "<strand.Manager>");
  return 1;
}

static int l_manager(lua_State *L) {
  manager *m = lua_newuserdatauv(L, sizeof *m, 0);
  m->shut = 0;
  luaL_setmetatable(L, "strand.Manager");
  return 1;
}

/* ---- registration ----------------------------------------------------------------------------------- */
static const luaL_Reg dict_methods[] = {{"get", d_get},       {"set", d_set},         {"keys", d_keys},
                                        {"values", d_values}, {"totable", d_totable}, {"pop", d_pop},
                                        {"clear", d_clear},   {"update", d_update},   {NULL, NULL}};
static const luaL_Reg dict_extra[] = {{"__pairs", dict_pairs}, {NULL, NULL}};
static const luaL_Reg list_methods[] = {{"append", l_append}, {"insert", l_insert}, {"pop", l_pop},
                                        {"get", l_get},       {"set", l_set},       {"totable", l_totable},
                                        {"clear", l_clear},   {NULL, NULL}};
static const luaL_Reg list_extra[] = {{"__pairs", list_pairs}, {NULL, NULL}};

static const sb_type dict_type = {SB_T_DICT, "strand.shared.dict", NULL, NULL, NULL, NULL,
                                  dict_tostring, dict_len, dict_destroy};
static const sb_type ns_type = {SB_T_NAMESPACE, "strand.shared.Namespace", NULL, NULL, NULL, NULL,
                                ns_tostring, dict_len, dict_destroy};
static const sb_type list_type = {SB_T_LIST, "strand.shared.list", NULL, NULL, NULL, NULL,
                                  list_tostring, list_len, list_destroy};

void sb_open_shared(lua_State *L) {
  srt_blob_set_release(release_blob);
  sb_register_type(&dict_type);
  sb_register_type(&ns_type);
  sb_register_type(&list_type);
  sb_meta_patch(L, SB_T_DICT, sizeof(sb_shdict), dict_index, dict_newindex, dict_extra, dict_methods);
  sb_meta_patch(L, SB_T_NAMESPACE, sizeof(sb_shdict), ns_index, dict_newindex, dict_extra, NULL);
  sb_meta_patch(L, SB_T_LIST, sizeof(sb_shlist), list_index, list_newindex, list_extra, list_methods);
  sb_setfn(L, "shared_dict", l_shared_dict);
  sb_setfn(L, "shared_list", l_shared_list);
  sb_setfn(L, "shared_namespace", l_shared_namespace);
  if (luaL_newmetatable(L, "strand.Manager")) {
    lua_pushvalue(L, -2); /* the module table */
    lua_pushcclosure(L, manager_index, 1);
    lua_setfield(L, -2, "__index");
    sb_setfn(L, "__close", manager_shutdown);
    sb_setfn(L, "__tostring", manager_tostring);
  }
  lua_pop(L, 1);
  sb_setfn(L, "Manager", l_manager);
}

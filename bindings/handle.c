/*
** handle.c — Lua userdata that name shared objects, and strand's errors.
**
** A handle is a full userdata holding one pointer into the arena and one
** reference to the object. Copies made by the codec in other states or
** processes are other handles to the same object. Metatables are built the
** first time a state meets a kind, so a new worker state pays only for what
** it uses.
*/
#include "sb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Handles of one state are linked in a ring around a sentinel kept in its
** registry: a fork hands exactly these to the child (sb_handles_fork_*). */
typedef struct sb_handle {
  srt_obj *o;
  struct sb_handle *prev, *next;
  uint64_t magic; /* HANDLE_MAGIC: a strand handle, checked without a table lookup */
} sb_handle;

#define HANDLE_MAGIC 0x5374724848616e64ull /* 'StrHHand' */

static const char sentinel_key = 'h';

typedef void (*hook_fn)(srt_obj *o);
typedef struct local_hooks {
  _Atomic hook_fn adopt, drop; /* set by every state that opens strand, read by all */
} local_hooks;
static local_hooks hooks[SB_T_COUNT];

void sb_set_local_hooks(uint32_t type, void (*adopt)(srt_obj *o), void (*drop)(srt_obj *o)) {
  if (type >= SB_T_COUNT) return;
  atomic_store_explicit(&hooks[type].adopt, adopt, memory_order_relaxed);
  atomic_store_explicit(&hooks[type].drop, drop, memory_order_relaxed);
}

static hook_fn adopt_hook(uint32_t t) {
  return t < SB_T_COUNT ? atomic_load_explicit(&hooks[t].adopt, memory_order_relaxed) : NULL;
}

static hook_fn drop_hook(uint32_t t) {
  return t < SB_T_COUNT ? atomic_load_explicit(&hooks[t].drop, memory_order_relaxed) : NULL;
}

/* On every method call: a full userdata of a handle's size carrying the
** magic word is a handle (no metatable or registry lookup). */
static sb_handle *to_handle(lua_State *L, int idx) {
  sb_handle *h = lua_touserdata(L, idx);
  /* a light userdata has no length, a string is no userdata */
  if (!h || lua_rawlen(L, idx) != sizeof *h) return NULL;
  return h->magic == HANDLE_MAGIC ? h : NULL;
}

static sb_handle *state_ring(lua_State *L) {
  sb_handle *s;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &sentinel_key) == LUA_TUSERDATA) {
    s = lua_touserdata(L, -1);
  } else {
    lua_pop(L, 1);
    s = lua_newuserdatauv(L, sizeof *s, 0); /* no __gc: outlives every handle */
    s->o = NULL;
    s->prev = s->next = s;
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &sentinel_key);
  }
  lua_pop(L, 1);
  return s;
}

static void ring_unlink(sb_handle *h) {
  if (!h->prev) return;
  h->prev->next = h->next;
  h->next->prev = h->prev;
  h->prev = h->next = NULL;
}

void sb_handles_fork_prepare(lua_State *L, srt_obj *skip) {
  sb_handle *s = state_ring(L);
  for (sb_handle *h = s->next; h != s; h = h->next)
    if (h->o && h->o != skip) srt_incref(h->o);
}

void sb_handles_fork_undo(lua_State *L, srt_obj *skip) {
  sb_handle *s = state_ring(L);
  for (sb_handle *h = s->next; h != s; h = h->next)
    if (h->o && h->o != skip) srt_decref(h->o);
}

void sb_handles_forget(lua_State *L, srt_obj *o) {
  sb_handle *s = state_ring(L);
  for (sb_handle *h = s->next; h != s; h = h->next)
    if (h->o == o) h->o = NULL;
}

void sb_handles_fork_child(lua_State *L) {
  sb_handle *s = state_ring(L);
  for (sb_handle *h = s->next; h != s; h = h->next) {
    hook_fn adopt = h->o ? adopt_hook(h->o->type) : NULL;
    if (adopt) adopt(h->o);
  }
}

void sb_handles_release_all(lua_State *L) {
  sb_handle *s = state_ring(L);
  for (sb_handle *h = s->next; h != s; h = h->next) {
    srt_obj *o = h->o;
    h->o = NULL;
    if (o) srt_decref(o);
  }
}

/* Written when the first state opens strand, read from every thread. */
static const sb_type *_Atomic types[SB_T_COUNT];

void sb_register_type(const sb_type *t) {
  if (t->id >= SB_T_COUNT || atomic_load(&types[t->id])) return;
  srt_type_register(t->id, t->destroy);
  atomic_store(&types[t->id], t);
}

const sb_type *sb_type_of(uint32_t id) { return id < SB_T_COUNT ? atomic_load(&types[id]) : NULL; }

static int handle_gc(lua_State *L) {
  sb_handle *h = lua_touserdata(L, 1);
  if (!h) return 0;
  ring_unlink(h);
  if (h->o) {
    srt_obj *o = h->o;
    h->o = NULL;
    hook_fn drop = drop_hook(o->type);
    if (drop) drop(o);
    srt_decref(o);
  }
  return 0;
}

static int handle_eq(lua_State *L) {
  sb_handle *a = lua_touserdata(L, 1), *b = lua_touserdata(L, 2);
  lua_pushboolean(L, a && b && a->o == b->o);
  return 1;
}

static int handle_tostring(lua_State *L) {
  sb_handle *h = lua_touserdata(L, 1);
  const sb_type *t = sb_type_of(h->o->type);
  if (t && t->tostring) return t->tostring(L);
  lua_pushfstring(L, "%s: %p", t ? t->name : "strand.Object", (void *)h->o);
  return 1;
}

/* __index: methods first (upvalue 1), then field getters (upvalue 2), then
** the per-state field table of the handle (user fields). */
static int handle_index(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) {
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
  }
  if (lua_getiuservalue(L, 1, 1) == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    lua_rawget(L, -2);
    return 1;
  }
  lua_pushnil(L);
  return 1;
}

/* __newindex: a setter if there is one; a read-only field is an error; any
** other key is stored in this state's own field table of the handle (as a
** Python subclass instance would keep attributes). */
static int handle_newindex(lua_State *L) {
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {
    const char *tn = luaL_typename(L, 1);
    return luaL_error(L, "cannot assign to method '%s' of %s", lua_tostring(L, 2), tn);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(3)) == LUA_TNIL)
      return luaL_error(L, "field '%s' is read-only", lua_tostring(L, 2));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_call(L, 3, 0);
    return 0;
  }
  if (lua_getiuservalue(L, 1, 1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, 1);
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  return 0;
}

static void push_reg_table(lua_State *L, const luaL_Reg *r) {
  lua_newtable(L);
  if (r) luaL_setfuncs(L, r, 0);
}

static void push_meta(lua_State *L, const sb_type *t) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, t) != LUA_TNIL) return;
  lua_pop(L, 1);
  luaL_newmetatable(L, t->name);
  push_reg_table(L, t->methods);
  push_reg_table(L, t->getters);
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, handle_index, 2);
  lua_setfield(L, -4, "__index");
  push_reg_table(L, t->setters);
  lua_pushcclosure(L, handle_newindex, 3);
  lua_setfield(L, -2, "__newindex");
  sb_setfn(L, "__gc", handle_gc);
  sb_setfn(L, "__eq", handle_eq);
  sb_setfn(L, "__tostring", handle_tostring);
  if (t->close) sb_setfn(L, "__close", t->close);
  if (t->len) sb_setfn(L, "__len", t->len);
  lua_pushinteger(L, t->id);
  lua_setfield(L, -2, "__strand_type");
  sb_meta_apply(L, t->id);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, t);
}

void sb_push_handle(lua_State *L, srt_obj *o) {
  const sb_type *t = sb_type_of(o->type);
  if (!t) luaL_error(L, "strand: object of unknown type %d", (int)o->type);
  sb_handle *ring = state_ring(L);
  push_meta(L, t);
  sb_handle *h = lua_newuserdatauv(L, sizeof *h, 1);
  h->o = o;
  h->magic = HANDLE_MAGIC;
  h->prev = ring;
  h->next = ring->next;
  ring->next->prev = h;
  ring->next = h;
  hook_fn adopt = adopt_hook(o->type);
  if (adopt) adopt(o);
  lua_insert(L, -2);
  lua_setmetatable(L, -2);
}

void sb_push_ref(lua_State *L, srt_obj *o) {
  srt_incref(o);
  sb_push_handle(L, o);
}

srt_obj *sb_test_any(lua_State *L, int idx) {
  sb_handle *h = to_handle(L, idx);
  if (!h) return NULL;
  if (!h->o) luaL_error(L, "strand handle used after it was collected");
  return h->o;
}

void *sb_test(lua_State *L, int idx, uint32_t type) {
  sb_handle *h = to_handle(L, idx);
  return h && h->o && h->o->type == type ? h->o : NULL;
}

void *sb_check(lua_State *L, int idx, uint32_t type) {
  void *o = sb_test(L, idx, type);
  if (!o) {
    const sb_type *t = sb_type_of(type);
    const char *want = t ? t->name : "strand object";
    const char *got = luaL_typename(L, idx);
    if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) got = lua_tostring(L, -1);
    luaL_argerror(L, idx, lua_pushfstring(L, "%s expected, got %s", want, got));
  }
  return o;
}

void *sb_alloc(lua_State *L, size_t n) {
  void *p = srt_alloc(n);
  if (!p) sb_error(L, "MemoryError", "strand arena is full (asked for %d bytes; set STRAND_ARENA_MB)", (int)n);
  return p;
}

void *sb_new_obj(lua_State *L, uint32_t type, size_t size) {
  void *o = srt_obj_new(type, size);
  if (!o) sb_error(L, "MemoryError", "strand arena is full (set STRAND_ARENA_MB)");
  return o;
}

/* ---- errors ------------------------------------------------------------------ */
static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "kind");
  lua_getfield(L, 1, "message");
  lua_getfield(L, 1, "traceback");
  const char *kind = lua_tostring(L, 2), *msg = lua_tostring(L, 3);
  const char *tb = lua_type(L, 4) == LUA_TSTRING ? lua_tostring(L, 4) : NULL;
  int plain = !kind || strcmp(kind, "Error") == 0;
  lua_pushfstring(L, "%s%s%s%s%s", plain ? "" : kind, plain ? "" : ": ", msg ? msg : "?",
                  tb ? "\n" : "", tb ? tb : "");
  return 1;
}

static void push_error_meta(lua_State *L) {
  if (luaL_newmetatable(L, "strand.Error")) {
    sb_setfn(L, "__tostring", error_tostring);
    lua_pushstring(L, "strand.Error");
    lua_setfield(L, -2, "__name");
  }
}

void sb_push_error(lua_State *L, const char *kind, const char *msg) {
  lua_createtable(L, 0, 4);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  push_error_meta(L);
  lua_setmetatable(L, -2);
}

int sb_error(lua_State *L, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  luaL_where(L, 1);
  lua_insert(L, -2);
  lua_concat(L, 2);
  sb_push_error(L, kind, lua_tostring(L, -1));
  return lua_error(L);
}

int sb_raise_interrupt(lua_State *L) {
  int why = srt_take_interrupt();
  if (why == SRT_INT_KEYBOARD) return sb_error(L, "KeyboardInterrupt", "interrupted");
  return sb_error(L, "Cancelled", sb_in_task() ? "task cancelled" : "thread cancelled");
}

int sb_wait_result(lua_State *L, int r) {
  switch (r) {
    case SRT_OK:
    case SRT_OWNERDEAD: return 1;
    case SRT_TIMEDOUT: return 0;
    case SRT_INTERRUPTED: return sb_raise_interrupt(L);
    default: return sb_error(L, "Error", "wait failed (%d)", r);
  }
}

int64_t sb_opt_deadline(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return SRT_FOREVER;
  double t = luaL_checknumber(L, idx);
  if (t != t) luaL_argerror(L, idx, "timeout is NaN");
  if (t < 0) t = 0;
  return srt_deadline(t);
}

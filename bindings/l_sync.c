/*
** l_sync.c — strand.Lock, RLock, Semaphore, BoundedSemaphore, Event,
** Condition and Barrier: Lua handles on the runtime's primitives (lock.c,
** sema.c, event.c, condition.c, barrier.c), which live in the arena and so
** work between threads and processes alike.
**
** Hot path. `lock:acquire()` and `lock:release()` must cost little more than
** two calls of empty C functions. handle.c gives every type an __index
** function (methods, then getters, then per-state fields) and sb_check
** compares metatables through the registry: both too slow here. So each
** state that opens strand makes the metatables of Lock, RLock, Semaphore
** and Event at once with a plain table as __index (the VM finds a method
** with one table lookup), and their methods check their argument as the
** codec checks a decoded pointer (fast_obj).
**
** Guards: hold() returns a to-be-closed guard; with(f, ...) calls f holding
** the primitive, releasing it however f ends.
*/
#include "sb.h"

#include <string.h>

typedef struct sb_lock {
  srt_obj h;
  srt_lock l;
} sb_lock;

typedef struct sb_sema {
  srt_obj h;
  srt_sema s;
  uint32_t bounded;
} sb_sema;

typedef struct sb_event {
  srt_obj h;
  srt_event e;
} sb_event;

typedef struct sb_condition {
  srt_obj h;
  srt_obj *lockobj; /* a Lock or RLock, referenced */
  srt_condition c;
} sb_condition;

typedef struct sb_barrier {
  srt_obj h;
  srt_barrier b;
  double timeout; /* default for wait(); < 0: none */
  void *action;   /* codec bytes of the action function, or NULL */
  size_t action_len;
} sb_barrier;

/* ---- the fast path ------------------------------------------------------------ */
typedef struct fast_type {
  uint32_t id;
  const luaL_Reg *methods;
} fast_type;

static int no_new_fields(lua_State *L) {
  return luaL_error(L, "cannot set field '%s' of %s", luaL_tolstring(L, 2, NULL),
                    luaL_typename(L, 1));
}

/* The object at 1 if it is a handle of this type: a full userdata (a light
** one has no length) whose first word (handle.c) points to a live object of
** the type in the arena, checked as the codec checks decoded pointers. Two
** API calls, where comparing metatables takes four. Anything else gets
** sb_check's error. */
static inline void *fast_obj(lua_State *L, const fast_type *ft) {
  srt_obj **p = lua_touserdata(L, 1);
  if (p && lua_rawlen(L, 1) >= sizeof *p) {
    srt_obj *o = *p;
    if (o && srt_in_arena(o, sizeof *o) && o->magic == SRT_OBJ_MAGIC && o->type == ft->id) return o;
  }
  return sb_check(L, 1, ft->id);
}

static inline srt_obj *handle_obj(lua_State *L, int idx) { return *(srt_obj **)lua_touserdata(L, idx); }

/* ---- arguments and results -------------------------------------------------------- */
/* acquire([blocking=true [, timeout=-1]]) as Python: nil or -1 waits forever. */
static int64_t acquire_deadline(lua_State *L, int bi) {
  int blocking = lua_isnoneornil(L, bi) || lua_toboolean(L, bi);
  int has_timeout = !lua_isnoneornil(L, bi + 1);
  double t = has_timeout ? luaL_checknumber(L, bi + 1) : -1;
  if (!blocking) {
    if (t != -1) luaL_argerror(L, bi + 1, "can't specify a timeout for a non-blocking call");
    return 0;
  }
  if (t == -1) return SRT_FOREVER;
  if (!(t >= 0)) luaL_argerror(L, bi + 1, "timeout value must be a non-negative number");
  return srt_deadline(t);
}

/* Optional timeout in seconds -> deadline: nil gives dflt (negative dflt:
** forever); a negative timeout is 0, as in Python. */
static int64_t wait_deadline(lua_State *L, int idx, double dflt) {
  double t = dflt;
  if (!lua_isnoneornil(L, idx)) {
    t = luaL_checknumber(L, idx);
    if (t != t) luaL_argerror(L, idx, "timeout is NaN");
    if (t < 0) t = 0;
  }
  return t < 0 ? SRT_FOREVER : srt_deadline(t);
}

static int raise_deadlock(lua_State *L) { return sb_error(L, "Deadlock", "%s", srt_deadlock_report()); }

/* Take a lock: a quick try, then the wait. The thread's name for deadlock
** reports is given once (a renamed thread keeps its first name there). */
static int take_lock(lua_State *L, srt_lock *l, int64_t deadline) {
  int r = srt_lock_try(l);
  if (r == SRT_OK || deadline == 0) return r == SRT_OK ? r : srt_lock_acquire(l, 0);
  if (!srt_deadlock_named()) srt_deadlock_name(sb_current_name(L));
  r = srt_lock_acquire_checked(l, deadline);
  if (r == SRT_INTERRUPTED) sb_raise_interrupt(L);
  if (r == SRT_DEADLOCK) raise_deadlock(L);
  return r;
}

/* true | false | true, "owner died" */
static int push_acquired(lua_State *L, int r) {
  lua_pushboolean(L, r == SRT_OK || r == SRT_OWNERDEAD);
  if (r != SRT_OWNERDEAD) return 1;
  lua_pushliteral(L, "owner died");
  return 2;
}

static int sema_take(lua_State *L, srt_sema *s, int64_t deadline) {
  int r = srt_sema_acquire(s, deadline);
  if (r == SRT_INTERRUPTED) sb_raise_interrupt(L);
  return r;
}

/* ---- guards ------------------------------------------------------------------------ */
enum { G_LOCK, G_SEMA };
typedef struct guard {
  void *prim; /* srt_lock or srt_sema */
  int kind;
  int engaged;
} guard;

static int release_prim(void *prim, int kind) {
  if (kind == G_SEMA) return srt_sema_release(prim, 1);
  return srt_lock_release(prim);
}

static int guard_release(lua_State *L) {
  guard *g = luaL_checkudata(L, 1, "strand.Guard");
  if (!g->engaged) return luaL_error(L, "guard already released");
  g->engaged = 0;
  if (release_prim(g->prim, g->kind) != SRT_OK)
    return sb_error(L, "RuntimeError", "release of a primitive this guard no longer holds");
  return 0;
}

/* __close(g, err): when an error is on its way out, let it through. */
static int guard_close(lua_State *L) {
  guard *g = luaL_checkudata(L, 1, "strand.Guard");
  if (!g->engaged) return 0;
  g->engaged = 0;
  if (release_prim(g->prim, g->kind) != SRT_OK && lua_isnoneornil(L, 2))
    return sb_error(L, "RuntimeError", "release of a primitive this guard no longer holds");
  return 0;
}

static int guard_tostring(lua_State *L) {
  guard *g = luaL_checkudata(L, 1, "strand.Guard");
  lua_pushfstring(L, "<strand.Guard %s %p>", g->engaged ? "holding" : "released", g->prim);
  return 1;
}

/* A disengaged guard at the top; the handle at 1 is kept as its user value. */
static guard *push_guard(lua_State *L, void *prim, int kind) {
  guard *g = lua_newuserdatauv(L, sizeof *g, 1);
  g->prim = prim;
  g->kind = kind;
  g->engaged = 0;
  if (luaL_newmetatable(L, "strand.Guard")) {
    static const luaL_Reg m[] = {{"release", guard_release}, {NULL, NULL}};
    luaL_newlib(L, m);
    lua_setfield(L, -2, "__index");
    sb_setfn(L, "__close", guard_close);
    sb_setfn(L, "__tostring", guard_tostring);
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return g;
}

/* obj:hold([blocking [, timeout]]) -> guard [, "owner died"] */
static int hold_lock(lua_State *L, srt_lock *l) {
  int64_t deadline = acquire_deadline(L, 2);
  guard *g = push_guard(L, l, G_LOCK);
  int r = take_lock(L, l, deadline);
  if (r != SRT_OK && r != SRT_OWNERDEAD)
    return sb_error(L, "Timeout", "could not acquire the lock %s", deadline ? "in time" : "at once");
  g->engaged = 1;
  if (r != SRT_OWNERDEAD) return 1;
  lua_pushliteral(L, "owner died");
  return 2;
}

/* obj:with(f, ...) -> f(...) while holding; released however f ends. */
static int with_prim(lua_State *L, void *prim, int kind) {
  luaL_checkany(L, 2);
  int n = lua_gettop(L);
  guard *g = push_guard(L, prim, kind);
  lua_toclose(L, -1);
  if (kind == G_SEMA) sema_take(L, prim, SRT_FOREVER);
  else take_lock(L, prim, SRT_FOREVER);
  g->engaged = 1;
  for (int i = 2; i <= n; i++) lua_pushvalue(L, i);
  lua_call(L, n - 2, LUA_MULTRET);
  return lua_gettop(L) - (n + 1);
}

/* ---- Lock and RLock ------------------------------------------------------------------ */
static const fast_type lock_ft, rlock_ft;

static void lock_destroy(srt_obj *o) { (void)o; }

srt_lock *sb_push_new_lock(lua_State *L, int recursive) {
  sb_lock *k = sb_new_obj(L, recursive ? SB_T_RLOCK : SB_T_LOCK, sizeof *k);
  srt_lock_init(&k->l, recursive);
  sb_push_handle(L, &k->h);
  return &k->l;
}

srt_lock *sb_lock_of(srt_obj *o) {
  if (!o || (o->type != SB_T_LOCK && o->type != SB_T_RLOCK)) return NULL;
  return &((sb_lock *)o)->l;
}

static int l_lock_new(lua_State *L) {
  sb_push_new_lock(L, 0);
  return 1;
}

static int l_rlock_new(lua_State *L) {
  sb_push_new_lock(L, 1);
  return 1;
}

#define LOCK_OF(L, ft) (&((sb_lock *)fast_obj(L, ft))->l)

static int acquire_common(lua_State *L, srt_lock *l) {
  if (lua_gettop(L) == 1 && srt_lock_try(l) == SRT_OK) { /* the hot path */
    lua_pushboolean(L, 1);
    return 1;
  }
  return push_acquired(L, take_lock(L, l, acquire_deadline(L, 2)));
}

static int lock_acquire(lua_State *L) { return acquire_common(L, LOCK_OF(L, &lock_ft)); }
static int rlock_acquire(lua_State *L) { return acquire_common(L, LOCK_OF(L, &rlock_ft)); }

static int lock_release(lua_State *L) {
  if (srt_lock_release(LOCK_OF(L, &lock_ft)) != SRT_OK)
    return sb_error(L, "RuntimeError", "release unlocked lock");
  return 0;
}

static int rlock_release(lua_State *L) {
  if (srt_lock_release(LOCK_OF(L, &rlock_ft)) != SRT_OK)
    return sb_error(L, "RuntimeError", "cannot release un-acquired lock");
  return 0;
}

static int lock_locked(lua_State *L) {
  lua_pushboolean(L, srt_lock_locked(LOCK_OF(L, &lock_ft)));
  return 1;
}

static int rlock_locked(lua_State *L) {
  lua_pushboolean(L, srt_lock_locked(LOCK_OF(L, &rlock_ft)));
  return 1;
}

static int rlock_is_owned(lua_State *L) {
  lua_pushboolean(L, srt_lock_is_owner(LOCK_OF(L, &rlock_ft)));
  return 1;
}

static int lock_hold(lua_State *L) { return hold_lock(L, LOCK_OF(L, &lock_ft)); }
static int rlock_hold(lua_State *L) { return hold_lock(L, LOCK_OF(L, &rlock_ft)); }
static int lock_with(lua_State *L) { return with_prim(L, LOCK_OF(L, &lock_ft), G_LOCK); }
static int rlock_with(lua_State *L) { return with_prim(L, LOCK_OF(L, &rlock_ft), G_LOCK); }

static int lock_tostring(lua_State *L) {
  sb_lock *k = (sb_lock *)handle_obj(L, 1);
  srt_lock *l = &k->l;
  if (!l->recursive) {
    lua_pushfstring(L, "<strand.Lock %s %p>", srt_lock_locked(l) ? "locked" : "unlocked", (void *)l);
  } else {
    uint64_t o = atomic_load(&l->owner);
    if (srt_lock_locked(l) && o)
      lua_pushfstring(L, "<strand.RLock locked by thread %d of process %d, depth %d %p>",
                      (int)(uint32_t)o, (int)(o >> 32), (int)l->depth, (void *)l);
    else
      lua_pushfstring(L, "<strand.RLock %s %p>", srt_lock_locked(l) ? "locked" : "unlocked", (void *)l);
  }
  return 1;
}

static const luaL_Reg lock_methods[] = {{"acquire", lock_acquire}, {"release", lock_release},
                                        {"locked", lock_locked},   {"hold", lock_hold},
                                        {"with", lock_with},       {NULL, NULL}};
static const luaL_Reg rlock_methods[] = {{"acquire", rlock_acquire}, {"release", rlock_release},
                                         {"locked", rlock_locked},   {"is_owned", rlock_is_owned},
                                         {"hold", rlock_hold},       {"with", rlock_with},
                                         {NULL, NULL}};
static const fast_type lock_ft = {SB_T_LOCK, lock_methods};
static const fast_type rlock_ft = {SB_T_RLOCK, rlock_methods};

static const sb_type lock_type = {SB_T_LOCK, "strand.Lock", lock_methods, NULL, NULL,
                                  NULL,      lock_tostring, NULL,         lock_destroy};
static const sb_type rlock_type = {SB_T_RLOCK, "strand.RLock", rlock_methods, NULL, NULL,
                                   NULL,       lock_tostring,  NULL,          lock_destroy};

/* ---- Semaphore and BoundedSemaphore ------------------------------------------------------ */
static const fast_type sema_ft;

static void sema_destroy(srt_obj *o) { (void)o; }

/* Semaphore([value=1]) or Semaphore{value=} */
static int new_sema(lua_State *L, int bounded) {
  lua_Integer v = 1;
  if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "value");
    if (!lua_isnil(L, -1)) v = luaL_checkinteger(L, -1);
    lua_pop(L, 1);
  } else if (!lua_isnoneornil(L, 1)) {
    v = luaL_checkinteger(L, 1);
  }
  if (v < 0) return luaL_argerror(L, 1, "semaphore initial value must be >= 0");
  if (v > (lua_Integer)SRT_SEMA_MAX) return luaL_argerror(L, 1, "semaphore initial value too large");
  sb_sema *s = sb_new_obj(L, SB_T_SEMAPHORE, sizeof *s);
  srt_sema_init(&s->s, (uint32_t)v, bounded ? (uint32_t)v : 0);
  s->bounded = (uint32_t)bounded;
  sb_push_handle(L, &s->h);
  return 1;
}

static int l_sema_new(lua_State *L) { return new_sema(L, 0); }
static int l_bsema_new(lua_State *L) { return new_sema(L, 1); }

#define SEMA_OF(L) ((sb_sema *)fast_obj(L, &sema_ft))

static int sema_acquire(lua_State *L) {
  sb_sema *s = SEMA_OF(L);
  int r = sema_take(L, &s->s, acquire_deadline(L, 2));
  lua_pushboolean(L, r == SRT_OK);
  return 1;
}

static int sema_release(lua_State *L) {
  sb_sema *s = SEMA_OF(L);
  lua_Integer n = luaL_optinteger(L, 2, 1);
  if (n < 1) return luaL_argerror(L, 2, "n must be one or more");
  if (n > (lua_Integer)SRT_SEMA_MAX || srt_sema_release(&s->s, (uint32_t)n) != SRT_OK) {
    if (s->bounded) return sb_error(L, "ValueError", "Semaphore released too many times");
    return sb_error(L, "ValueError", "Semaphore value would pass %d", (int)SRT_SEMA_MAX);
  }
  return 0;
}

static int sema_get_value(lua_State *L) {
  lua_pushinteger(L, srt_sema_value(&SEMA_OF(L)->s));
  return 1;
}

/* hold([blocking [, timeout]]) -> guard (releases one) */
static int sema_hold(lua_State *L) {
  sb_sema *s = SEMA_OF(L);
  int64_t deadline = acquire_deadline(L, 2);
  guard *g = push_guard(L, &s->s, G_SEMA);
  if (sema_take(L, &s->s, deadline) != SRT_OK)
    return sb_error(L, "Timeout", "could not acquire the semaphore %s", deadline ? "in time" : "at once");
  g->engaged = 1;
  return 1;
}

static int sema_with(lua_State *L) { return with_prim(L, &SEMA_OF(L)->s, G_SEMA); }

static int sema_tostring(lua_State *L) {
  sb_sema *s = (sb_sema *)handle_obj(L, 1);
  lua_pushfstring(L, "<strand.%s value=%d %p>", s->bounded ? "BoundedSemaphore" : "Semaphore",
                  (int)srt_sema_value(&s->s), (void *)s);
  return 1;
}

static const luaL_Reg sema_methods[] = {{"acquire", sema_acquire}, {"release", sema_release},
                                        {"get_value", sema_get_value}, {"hold", sema_hold},
                                        {"with", sema_with},       {NULL, NULL}};
static const fast_type sema_ft = {SB_T_SEMAPHORE, sema_methods};
static const sb_type sema_type = {SB_T_SEMAPHORE, "strand.Semaphore", sema_methods, NULL, NULL,
                                  NULL,           sema_tostring,      NULL,         sema_destroy};

/* ---- Event ---------------------------------------------------------------------------------- */
static const fast_type event_ft;

static void event_destroy(srt_obj *o) { (void)o; }

static int l_event_new(lua_State *L) {
  sb_event *e = sb_new_obj(L, SB_T_EVENT, sizeof *e);
  srt_event_init(&e->e);
  sb_push_handle(L, &e->h);
  return 1;
}

#define EVENT_OF(L) (&((sb_event *)fast_obj(L, &event_ft))->e)

static int event_set(lua_State *L) {
  srt_event_set(EVENT_OF(L));
  return 0;
}

static int event_clear(lua_State *L) {
  srt_event_clear(EVENT_OF(L));
  return 0;
}

static int event_is_set(lua_State *L) {
  lua_pushboolean(L, srt_event_is_set(EVENT_OF(L)));
  return 1;
}

/* wait([timeout]) -> the flag: true once set, false on timeout */
static int event_wait(lua_State *L) {
  srt_event *e = EVENT_OF(L);
  int r = srt_event_wait(e, wait_deadline(L, 2, -1));
  if (r == SRT_INTERRUPTED) return sb_raise_interrupt(L);
  lua_pushboolean(L, r == SRT_OK);
  return 1;
}

static int event_tostring(lua_State *L) {
  sb_event *e = (sb_event *)handle_obj(L, 1);
  lua_pushfstring(L, "<strand.Event %s %p>", srt_event_is_set(&e->e) ? "set" : "unset", (void *)e);
  return 1;
}

static const luaL_Reg event_methods[] = {{"set", event_set},       {"clear", event_clear},
                                         {"is_set", event_is_set}, {"wait", event_wait},
                                         {NULL, NULL}};
static const fast_type event_ft = {SB_T_EVENT, event_methods};
static const sb_type event_type = {SB_T_EVENT, "strand.Event", event_methods, NULL, NULL,
                                   NULL,       event_tostring, NULL,          event_destroy};

/* ---- Condition -------------------------------------------------------------------------------- */
static void condition_destroy(srt_obj *o) {
  sb_condition *c = (sb_condition *)o;
  if (c->lockobj) srt_decref(c->lockobj);
  c->lockobj = NULL;
}

/* Condition([lock]) or Condition{lock=}: a Lock or RLock; a new RLock by default. */
static int l_condition_new(lua_State *L) {
  int li = 1;
  if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "lock");
    li = lua_gettop(L);
  }
  srt_obj *lo = NULL;
  if (!lua_isnoneornil(L, li)) {
    lo = sb_test_any(L, li);
    if (!sb_lock_of(lo))
      return luaL_argerror(L, 1, lua_pushfstring(L, "strand.Lock or strand.RLock expected, got %s",
                                                 luaL_typename(L, li)));
    srt_incref(lo);
  } else {
    sb_push_new_lock(L, 1);
    lo = sb_test_any(L, -1);
    srt_incref(lo);
  }
  sb_condition *c = srt_obj_new(SB_T_CONDITION, sizeof *c);
  if (!c) {
    srt_decref(lo);
    return sb_error(L, "MemoryError", "strand arena is full (set STRAND_ARENA_MB)");
  }
  c->lockobj = lo;
  srt_condition_init(&c->c, sb_lock_of(lo));
  sb_push_handle(L, &c->h);
  return 1;
}

#define check_condition(L) ((sb_condition *)sb_check(L, 1, SB_T_CONDITION))

static int cond_acquire(lua_State *L) {
  srt_lock *l = check_condition(L)->c.lock;
  return push_acquired(L, take_lock(L, l, acquire_deadline(L, 2)));
}

static int cond_release(lua_State *L) {
  srt_lock *l = check_condition(L)->c.lock;
  if (srt_lock_release(l) != SRT_OK)
    return sb_error(L, "RuntimeError", l->recursive ? "cannot release un-acquired lock" : "release unlocked lock");
  return 0;
}

static int cond_hold(lua_State *L) { return hold_lock(L, check_condition(L)->c.lock); }
static int cond_with(lua_State *L) { return with_prim(L, check_condition(L)->c.lock, G_LOCK); }

static int cond_wait_result(lua_State *L, int r, int died) {
  switch (r) {
    case SRT_EPERM: return sb_error(L, "RuntimeError", "cannot wait on un-acquired lock");
    case SRT_NOMEM: return sb_error(L, "MemoryError", "strand arena is full (set STRAND_ARENA_MB)");
    case SRT_INTERRUPTED: return sb_raise_interrupt(L);
    default: break;
  }
  lua_pushboolean(L, r == SRT_OK);
  if (!died) return 1;
  lua_pushliteral(L, "owner died");
  return 2;
}

/* wait([timeout]) -> notified (false on timeout); the lock is held again */
static int cond_wait(lua_State *L) {
  sb_condition *c = check_condition(L);
  int died;
  int r = srt_condition_wait(&c->c, wait_deadline(L, 2, -1), &died);
  return cond_wait_result(L, r, died);
}

/* wait_for(predicate [, timeout]) -> the predicate's last result */
static int cond_wait_for(lua_State *L) {
  sb_condition *c = check_condition(L);
  luaL_checkany(L, 2);
  int64_t deadline = wait_deadline(L, 3, -1);
  if (!srt_lock_is_owner(c->c.lock)) return sb_error(L, "RuntimeError", "cannot wait on un-acquired lock");
  lua_settop(L, 2);
  for (;;) {
    lua_pushvalue(L, 2);
    lua_call(L, 0, 1);
    if (lua_toboolean(L, -1) || srt_now_ns() >= deadline) return 1;
    lua_pop(L, 1);
    int died;
    int r = srt_condition_wait(&c->c, deadline, &died);
    if (r != SRT_OK && r != SRT_TIMEDOUT) return cond_wait_result(L, r, died);
  }
}

static int cond_notify(lua_State *L) {
  sb_condition *c = check_condition(L);
  lua_Integer n = luaL_optinteger(L, 2, 1);
  if (n <= 0) n = 0;
  if (n > INT32_MAX) n = INT32_MAX;
  if (srt_condition_notify(&c->c, (int)n) < 0)
    return sb_error(L, "RuntimeError", "cannot notify on un-acquired lock");
  return 0;
}

static int cond_notify_all(lua_State *L) {
  sb_condition *c = check_condition(L);
  if (srt_condition_notify(&c->c, INT32_MAX) < 0)
    return sb_error(L, "RuntimeError", "cannot notify on un-acquired lock");
  return 0;
}

static int cond_locked(lua_State *L) {
  lua_pushboolean(L, srt_lock_locked(check_condition(L)->c.lock));
  return 1;
}

static int cond_get_lock(lua_State *L) {
  sb_push_ref(L, check_condition(L)->lockobj);
  return 1;
}

static int cond_tostring(lua_State *L) {
  sb_condition *c = check_condition(L);
  lua_pushfstring(L, "<strand.Condition over strand.%s %p>", c->c.lock->recursive ? "RLock" : "Lock",
                  (void *)c->c.lock);
  return 1;
}

static const luaL_Reg cond_methods[] = {
    {"acquire", cond_acquire}, {"release", cond_release},         {"locked", cond_locked},
    {"hold", cond_hold},       {"with", cond_with},               {"wait", cond_wait},
    {"wait_for", cond_wait_for}, {"notify", cond_notify},         {"notify_all", cond_notify_all},
    {NULL, NULL}};
static const luaL_Reg cond_getters[] = {{"lock", cond_get_lock}, {NULL, NULL}};
static const sb_type cond_type = {SB_T_CONDITION, "strand.Condition", cond_methods, cond_getters,
                                  NULL,           NULL,               cond_tostring, NULL,
                                  condition_destroy};

/* ---- Barrier ----------------------------------------------------------------------------------- */
static void barrier_destroy(srt_obj *o) {
  sb_barrier *b = (sb_barrier *)o;
  srt_barrier_destroy(&b->b);
  if (b->action) sb_msg_free(b->action, b->action_len);
  b->action = NULL;
}

/* Barrier(parties [, action [, timeout]]) or Barrier{parties=, action=, timeout=} */
static int l_barrier_new(lua_State *L) {
  if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "parties");
    lua_getfield(L, 1, "action");
    lua_getfield(L, 1, "timeout");
    lua_remove(L, 1);
  }
  lua_settop(L, 3);
  lua_Integer parties = luaL_checkinteger(L, 1);
  if (parties < 1 || parties > INT32_MAX) return luaL_argerror(L, 1, "parties must be >= 1");
  if (!lua_isnil(L, 2) && !lua_isfunction(L, 2))
    return luaL_argerror(L, 2, lua_pushfstring(L, "action must be a function, got %s", luaL_typename(L, 2)));
  double timeout = -1;
  if (!lua_isnil(L, 3)) {
    timeout = luaL_checknumber(L, 3);
    if (!(timeout >= 0)) return luaL_argerror(L, 3, "timeout must be a non-negative number");
  }
  void *action = NULL;
  size_t alen = 0;
  if (!lua_isnil(L, 2)) action = sb_encode_arena(L, 2, 1, &alen, "action");
  sb_barrier *b = srt_obj_new(SB_T_BARRIER, sizeof *b);
  if (!b) {
    if (action) sb_msg_free(action, alen);
    return sb_error(L, "MemoryError", "strand arena is full (set STRAND_ARENA_MB)");
  }
  srt_barrier_init(&b->b, (uint32_t)parties);
  b->timeout = timeout;
  b->action = action;
  b->action_len = alen;
  sb_push_handle(L, &b->h);
  return 1;
}

#define check_barrier(L) ((sb_barrier *)sb_check(L, 1, SB_T_BARRIER))

static int broken_barrier(lua_State *L) { return sb_error(L, "BrokenBarrier", "the barrier is broken"); }

/* In a pcall: decode the action (light userdata, length) and call it. */
static int decode_and_call(lua_State *L) {
  const char *p = lua_touserdata(L, 1);
  size_t len = (size_t)lua_tointeger(L, 2);
  lua_settop(L, 0);
  sb_decode(L, p, len);
  lua_call(L, lua_gettop(L) - 1, 0);
  return 0;
}

/* The last party runs the action in its own state; an error in it breaks
** the barrier for the others and reaches this caller as itself. */
static int run_action(lua_State *L, sb_barrier *b, uint32_t index) {
  int top = lua_gettop(L);
  lua_pushcfunction(L, decode_and_call);
  lua_pushlightuserdata(L, b->action);
  lua_pushinteger(L, (lua_Integer)b->action_len);
  int st = lua_pcall(L, 2, 0, 0);
  int r = srt_barrier_action_done(&b->b, st == LUA_OK);
  if (st != LUA_OK) return lua_error(L);
  lua_settop(L, top);
  if (r != SRT_OK) return broken_barrier(L);
  lua_pushinteger(L, index);
  return 1;
}

/* wait([timeout]) -> this party's index, 0 .. parties-1 */
static int barrier_wait(lua_State *L) {
  sb_barrier *b = check_barrier(L);
  int64_t deadline = wait_deadline(L, 2, b->timeout);
  uint32_t index = 0;
  int r = srt_barrier_wait(&b->b, deadline, b->action != NULL, &index);
  switch (r) {
    case SRT_OK: lua_pushinteger(L, index); return 1;
    case SRT_BARRIER_ACTION: return run_action(L, b, index);
    case SRT_INTERRUPTED: return sb_raise_interrupt(L);
    default: return broken_barrier(L);
  }
}

static int barrier_reset(lua_State *L) {
  srt_barrier_reset(&check_barrier(L)->b);
  return 0;
}

static int barrier_abort(lua_State *L) {
  srt_barrier_abort(&check_barrier(L)->b);
  return 0;
}

static int g_parties(lua_State *L) {
  lua_pushinteger(L, check_barrier(L)->b.parties);
  return 1;
}

static int g_n_waiting(lua_State *L) {
  lua_pushinteger(L, srt_barrier_n_waiting(&check_barrier(L)->b));
  return 1;
}

static int g_broken(lua_State *L) {
  lua_pushboolean(L, srt_barrier_broken(&check_barrier(L)->b));
  return 1;
}

static int barrier_tostring(lua_State *L) {
  sb_barrier *b = check_barrier(L);
  lua_pushfstring(L, "<strand.Barrier parties=%d waiting=%d%s %p>", (int)b->b.parties,
                  (int)srt_barrier_n_waiting(&b->b), srt_barrier_broken(&b->b) ? " broken" : "",
                  (void *)b);
  return 1;
}

static const luaL_Reg barrier_methods[] = {
    {"wait", barrier_wait}, {"reset", barrier_reset}, {"abort", barrier_abort}, {NULL, NULL}};
static const luaL_Reg barrier_getters[] = {
    {"parties", g_parties}, {"n_waiting", g_n_waiting}, {"broken", g_broken}, {NULL, NULL}};
static const sb_type barrier_type = {SB_T_BARRIER, "strand.Barrier", barrier_methods, barrier_getters,
                                     NULL,         NULL,             barrier_tostring, NULL,
                                     barrier_destroy};

/* ---- opening ------------------------------------------------------------------------------------ */
/* The metatable's __index is the plain table of methods (the VM indexes it
** without a C call), for handles made here, decoded later, and methods a
** script takes out of a handle before calling them. */
static void prepare_fast(lua_State *L, const fast_type *ft, size_t objsize) {
  sb_meta_patch(L, ft->id, objsize, NULL, no_new_fields, NULL, ft->methods);
}

void sb_open_sync(lua_State *L) {
  sb_register_type(&lock_type);
  sb_register_type(&rlock_type);
  sb_register_type(&sema_type);
  sb_register_type(&event_type);
  sb_register_type(&cond_type);
  sb_register_type(&barrier_type);
  prepare_fast(L, &lock_ft, sizeof(sb_lock));
  prepare_fast(L, &rlock_ft, sizeof(sb_lock));
  prepare_fast(L, &sema_ft, sizeof(sb_sema));
  prepare_fast(L, &event_ft, sizeof(sb_event));
  sb_setfn(L, "Lock", l_lock_new);
  sb_setfn(L, "RLock", l_rlock_new);
  sb_setfn(L, "Semaphore", l_sema_new);
  sb_setfn(L, "BoundedSemaphore", l_bsema_new);
  sb_setfn(L, "Event", l_event_new);
  sb_setfn(L, "Condition", l_condition_new);
  sb_setfn(L, "Barrier", l_barrier_new);
}

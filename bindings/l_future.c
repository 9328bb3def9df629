/*
** l_future.c — strand.Future, waiting on many futures at once, done
** callbacks, and the iterator over the results of a map.
**
** A future lives in the arena, so a worker thread or a forked worker process
** writes its result straight into it. Its result may come in parts (one per
** chunk of a map); a plain call has one part.
**
** Waiting on many futures does not poll. as_completed and wait make one
** waiter block in the arena and link it into every pending future; the
** thread that completes a future appends the future's index to the waiter's
** slots and bumps the waiter's futex word, so the waiting thread sleeps on
** one word however many futures it watches. Links are added, notified and
** removed under the future's mutex, so a waiter can be freed as soon as it
** has unlinked itself.
**
** Done callbacks need the Lua state that registered them. Each state has an
** inbox in the arena; a future with callbacks links that inbox, and the
** thread or process that completes the future pushes it there. The state
** runs the callbacks of what its inbox holds whenever it next enters the
** futures, executor or pool API (any method of a Future, AsyncResult, Pool
** or executor, wait, as_completed, an iterator step), or at once when a
** callback is added to a future that is already done.
*/
#include "sb.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { LINK_WAITER, LINK_INBOX };

struct sb_flink {
  sb_flink *next;
  int kind;
  void *target;
  uint32_t idx; /* the future's index in the waiter's list */
};

/* ---- waiters ---------------------------------------------------------------------- */
typedef struct fwaiter {
  _Atomic uint32_t seq;      /* futex word */
  _Atomic uint32_t sleepers;
  _Atomic uint32_t n;        /* slots reserved by completers */
  _Atomic uint32_t refs;     /* the watch's, and one per link into a future */
  uint32_t cap;
  _Atomic uint32_t slot[];   /* index + 1 of each completed future, in completion order */
} fwaiter;

/* A completer may still be waking the waiter when its owner has seen the
** slot and moved on: the last of them frees it. */
static void waiter_unref(fwaiter *w) {
  if (w && atomic_fetch_sub(&w->refs, 1) == 1) srt_free(w);
}

static void waiter_publish(fwaiter *w, uint32_t idx) {
  uint32_t k = atomic_fetch_add(&w->n, 1);
  if (k < w->cap) atomic_store(&w->slot[k], idx + 1);
  atomic_fetch_add(&w->seq, 1);
  if (atomic_load(&w->sleepers)) srt_futex_wake(&w->seq, INT_MAX);
  waiter_unref(w); /* the link's */
}

/* ---- callback inboxes ------------------------------------------------------------- */
typedef struct inode {
  struct inode *next;
  sb_future *f;
} inode;

typedef struct sb_inbox {
  _Atomic uint32_t refs;
  pid_t pid; /* a forked child makes its own */
  inode *_Atomic head;
} sb_inbox;

static void inbox_unref(sb_inbox *ib) {
  if (!ib || atomic_fetch_sub(&ib->refs, 1) != 1) return;
  inode *n = atomic_exchange(&ib->head, NULL);
  while (n) {
    inode *next = n->next;
    srt_decref(&n->f->h);
    srt_free(n);
    n = next;
  }
  srt_free(ib);
}

static void inbox_push(sb_inbox *ib, sb_future *f) {
  inode *n = srt_alloc(sizeof *n);
  if (!n) {
    fputs("strand: arena full, a done callback was dropped\n", stderr);
    return;
  }
  srt_incref(&f->h);
  n->f = f;
  inode *head = atomic_load(&ib->head);
  do n->next = head;
  while (!atomic_compare_exchange_weak(&ib->head, &head, n));
}

/* ---- the future object ------------------------------------------------------------ */
/* The lock is a strand Lock word (a holder that dies is noticed); its
** sections are a few stores long, and must not be cut by an interrupt. */
static void flock(sb_future *f) {
  if (srt_lock_try(&f->mu) != SRT_OK) srt_lock_acquire_restore_nointr(&f->mu, 1);
}

static void funlock(sb_future *f) { srt_lock_release(&f->mu); }

/* Tell what watches f that it is done (f->mu held). Callback inboxes hear it
** before the state changes, so a thread that sees the future done and then
** runs its callbacks finds them due; waiters after, so that a future
** as_completed or wait hands out already reads as done. */
static void notify_links(sb_future *f, int kind) {
  for (sb_flink **pp = &f->links; *pp;) {
    sb_flink *l = *pp;
    if (l->kind != kind) {
      pp = &l->next;
      continue;
    }
    *pp = l->next;
    if (kind == LINK_WAITER) {
      waiter_publish(l->target, l->idx);
    } else {
      inbox_push(l->target, f);
      inbox_unref(l->target);
    }
    srt_free(l);
  }
}

static void set_done(sb_future *f, uint32_t state) { /* f->mu held */
  notify_links(f, LINK_INBOX);
  atomic_store(&f->state, state);
  notify_links(f, LINK_WAITER);
}

static void wake_all(sb_future *f) {
  atomic_fetch_add(&f->seq, 1);
  if (atomic_load(&f->sleepers)) srt_futex_wake(&f->seq, INT_MAX);
}

static int terminal(uint32_t s) { return s == SB_F_FINISHED || s == SB_F_CANCELLED; }

int sb_future_is_done(sb_future *f) { return terminal(atomic_load(&f->state)); }

static void future_destroy(srt_obj *o) {
  sb_future *f = (sb_future *)o;
  if (f->parts) {
    for (uint32_t i = 0; i < f->nparts; i++)
      if (f->parts[i].done) sb_packed_free(f->parts[i].msg, f->parts[i].len, f->buf);
    if (f->parts != &f->one) srt_free(f->parts);
  }
  if (f->task.fn) sb_fn_unref(f->task.fn); /* a task that never reached a queue */
  if (f->task.args) sb_packed_free(f->task.args, f->task.args_len, f->buf);
  sb_flink *l = f->links; /* only callback inboxes can be left */
  while (l) {
    sb_flink *next = l->next;
    if (l->kind == LINK_INBOX) inbox_unref(l->target);
    srt_free(l);
    l = next;
  }
}

sb_future *sb_future_new(lua_State *L, uint32_t type, uint32_t kind, uint32_t nparts) {
  sb_future *f = sb_new_obj(L, type, sizeof *f);
  srt_lock_init(&f->mu, 0);
  atomic_init(&f->failed_part, -1);
  f->kind = kind;
  f->nitems = 1;
  f->chunksize = 1;
  sb_push_handle(L, &f->h); /* from here the handle owns it */
  if (nparts <= 1) {
    f->parts = &f->one;
    f->order = &f->one_order;
    f->nparts = 1;
  } else {
    size_t sz = (size_t)nparts * (sizeof(sb_part) + sizeof(uint32_t));
    sb_part *p = sb_alloc(L, sz);
    memset(p, 0, sz);
    f->order = (_Atomic uint32_t *)(p + nparts);
    f->parts = p;
    f->nparts = nparts;
  }
  return f;
}

/* This thread's context, without srt_self's getpid() on every call. */
static __thread srt_tctx *tl_ctx;
static __thread pid_t tl_pid;

static srt_tctx *self_ctx(void) {
  pid_t pid = srt_self_pid();
  if (!tl_ctx || tl_pid != pid) {
    tl_ctx = srt_self();
    tl_pid = pid;
  }
  return tl_ctx;
}

int sb_future_start(sb_future *f) {
  if (f->nparts == 1) {
    srt_tctx *me = self_ctx();
    flock(f);
    int ok = atomic_load(&f->state) == SB_F_PENDING;
    if (ok) {
      atomic_store(&f->state, SB_F_RUNNING);
      atomic_store(&f->runner, me);
    }
    funlock(f);
    if (ok) wake_all(f);
    return ok;
  }
  uint32_t s = SB_F_PENDING;
  atomic_compare_exchange_strong(&f->state, &s, SB_F_RUNNING);
  return atomic_load(&f->state) != SB_F_CANCELLED;
}

void sb_future_done_part(sb_future *f, uint32_t i, void *msg, size_t len, int failed) {
  flock(f);
  atomic_store(&f->runner, NULL);
  sb_part *p = &f->parts[i];
  if (i >= f->nparts || atomic_load(&f->state) == SB_F_CANCELLED || atomic_load(&p->done)) {
    funlock(f);
    sb_packed_free(msg, len, f->buf);
    return;
  }
  p->msg = msg;
  p->len = len;
  p->failed = failed;
  atomic_store(&p->done, 1);
  uint32_t k = atomic_load(&f->ndone);
  atomic_store(&f->order[k], i);
  atomic_store(&f->ndone, k + 1);
  if (failed && atomic_load(&f->failed_part) < 0) atomic_store(&f->failed_part, (int32_t)i);
  if (k + 1 == f->nparts) set_done(f, SB_F_FINISHED);
  funlock(f);
  wake_all(f);
}

int sb_future_cancel(sb_future *f, int running_too) {
  flock(f);
  uint32_t s = atomic_load(&f->state);
  int ok = s == SB_F_PENDING || s == SB_F_CANCELLED || (s == SB_F_RUNNING && running_too);
  if (ok && s != SB_F_CANCELLED) {
    srt_tctx *runner = atomic_load(&f->runner);
    if (s == SB_F_RUNNING && runner) { /* stop the task where it runs */
      atomic_store(&f->cancel_req, 1);
      srt_interrupt(runner, SRT_INT_CANCEL);
    }
    set_done(f, SB_F_CANCELLED);
  }
  funlock(f);
  if (ok) wake_all(f);
  return ok;
}

/* ---- waiting on one future -------------------------------------------------------- */
static void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

typedef int (*cond_fn)(sb_future *f, uint32_t arg);

static int cond_done(sb_future *f, uint32_t arg) {
  (void)arg;
  return terminal(atomic_load(&f->state));
}

static int cond_parts(sb_future *f, uint32_t k) {
  return atomic_load(&f->ndone) > k || atomic_load(&f->state) == SB_F_CANCELLED;
}

static int cond_part_done(sb_future *f, uint32_t p) {
  return atomic_load(&f->parts[p].done) || atomic_load(&f->state) == SB_F_CANCELLED;
}

/* Spin a little (more than one CPU only, and unless the wait is known to be
** long: a spinning caller takes a CPU from the workers), then sleep on the
** future's word. */
static int wait_spin(lua_State *L, sb_future *f, cond_fn cond, uint32_t arg, int64_t deadline,
                     int spin) {
  int polls = spin ? srt_taskq_spin_polls() : 0;
  for (;;) {
    uint32_t seq = atomic_load(&f->seq);
    if (cond(f, arg)) return 1;
    int changed = 0;
    for (int i = 0; i < polls && !changed; i++) {
      relax();
      changed = atomic_load_explicit(&f->seq, memory_order_acquire) != seq;
    }
    if (changed) continue;
    polls = 0;
    atomic_fetch_add(&f->sleepers, 1);
    int r = srt_futex_wait(&f->seq, seq, deadline);
    atomic_fetch_sub(&f->sleepers, 1);
    if (r == SRT_TIMEDOUT) return cond(f, arg);
    if (r == SRT_INTERRUPTED) return sb_raise_interrupt(L);
  }
}

static int wait_cond(lua_State *L, sb_future *f, cond_fn cond, uint32_t arg, int64_t deadline) {
  return wait_spin(L, f, cond, arg, deadline, 1);
}

int sb_future_wait(lua_State *L, sb_future *f, int64_t deadline) {
  return wait_cond(L, f, cond_done, 0, deadline);
}

int sb_future_wait_parts(lua_State *L, sb_future *f, uint32_t k, int64_t deadline) {
  return wait_spin(L, f, cond_parts, k, deadline, f->chunksize < 256);
}

/* ---- results ----------------------------------------------------------------------- */
static int raise_cancelled(lua_State *L) { return sb_error(L, "Cancelled", "the future was cancelled"); }

/* Push the error of a failed part and raise it. */
static int raise_part(lua_State *L, sb_part *p) {
  int n = p->msg ? sb_unpack(L, p->msg, p->len) : 0;
  if (n < 1) sb_push_error(L, "Error", "the task failed (its error could not be sent)");
  return lua_error(L);
}

int sb_future_push_result(lua_State *L, sb_future *f) {
  uint32_t s = atomic_load(&f->state);
  if (s == SB_F_CANCELLED) return raise_cancelled(L);
  if (s != SB_F_FINISHED) return luaL_error(L, "the future is not done");
  int32_t fp = atomic_load(&f->failed_part);
  if (fp >= 0) return raise_part(L, &f->parts[fp]);
  if (f->kind == SB_FK_CALL) return sb_unpack(L, f->parts[0].msg, f->parts[0].len);
  lua_createtable(L, f->nitems > INT_MAX ? INT_MAX : (int)f->nitems, 0);
  sb_tarray_prefault(L, -1);
  for (uint32_t i = 0; i < f->nparts; i++)
    sb_unpack_into(L, f->parts[i].msg, f->parts[i].len, -1, (int64_t)i * f->chunksize + 1);
  return 1;
}

/* ---- callbacks ---------------------------------------------------------------------- */
typedef struct inbox_ud {
  sb_inbox *ib;
} inbox_ud;

static int inbox_gc(lua_State *L) {
  inbox_ud *u = lua_touserdata(L, 1);
  if (u->ib && u->ib->pid == getpid()) inbox_unref(u->ib); /* not a parent's copy */
  u->ib = NULL;
  return 0;
}

/* This state's inbox, made when the state opens strand (so it is not
** counted as a test's leftover), and again in a forked child: the parent's
** inbox is the parent's. */
static sb_inbox *state_inbox(lua_State *L, int create) {
  sb_inbox *ib = NULL;
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.inbox") == LUA_TUSERDATA) {
    ib = ((inbox_ud *)lua_touserdata(L, -1))->ib;
    lua_pop(L, 1);
    if (ib && ib->pid == srt_self_pid()) return ib;
  } else {
    lua_pop(L, 1);
  }
  if (!create) return NULL;
  ib = sb_alloc(L, sizeof *ib);
  atomic_init(&ib->refs, 1);
  ib->pid = srt_self_pid();
  atomic_init(&ib->head, NULL);
  inbox_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
  u->ib = ib;
  lua_createtable(L, 0, 1);
  sb_setfn(L, "__gc", inbox_gc);
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.inbox");
  return ib;
}

static void push_fcb(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.fcb") == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.fcb");
}

static void report_callback_error(lua_State *L, const char *what) {
  const char *msg = luaL_tolstring(L, -1, NULL);
  fprintf(stderr, "Exception in %s:\n%s\n", what, msg);
  fflush(stderr);
  lua_pop(L, 2);
}

static int traceback_msgh(lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING) luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

/* Call the function at -(nargs+1) with a traceback; report an error. */
static void call_reporting(lua_State *L, int nargs, const char *what) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback_msgh);
  lua_insert(L, base);
  if (lua_pcall(L, nargs, 0, base) != LUA_OK) report_callback_error(L, what);
  lua_remove(L, base);
}

static int push_result_body(lua_State *L) {
  sb_future *f = lua_touserdata(L, 1);
  lua_settop(L, 0);
  return sb_future_push_result(L, f);
}

/* Run the callbacks of the entry table at e: {handle, cb..., mode=,
** callback=, error_callback=}. */
static void run_entry(lua_State *L, int e) {
  e = lua_absindex(L, e);
  lua_rawgeti(L, e, 1);
  int h = lua_gettop(L);
  lua_getfield(L, e, "mode");
  int mode = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (mode == 0) {
    int n = (int)lua_rawlen(L, e);
    for (int i = 2; i <= n; i++) {
      lua_rawgeti(L, e, i);
      lua_pushvalue(L, h);
      call_reporting(L, 1, "a done callback of a Future");
    }
  } else {
    sb_future *f = (sb_future *)sb_test_any(L, h);
    int top = lua_gettop(L);
    lua_getfield(L, e, "callback");
    lua_pushcfunction(L, push_result_body);
    lua_pushlightuserdata(L, f);
    if (lua_pcall(L, 1, LUA_MULTRET, 0) == LUA_OK) {
      if (lua_isnil(L, top + 1)) lua_settop(L, top);
      else call_reporting(L, lua_gettop(L) - top - 1, "the callback of an AsyncResult");
    } else {
      lua_getfield(L, e, "error_callback");
      lua_insert(L, -2);
      if (lua_isnil(L, -2)) lua_settop(L, top);
      else call_reporting(L, 1, "the error_callback of an AsyncResult");
    }
    lua_settop(L, top);
  }
  lua_settop(L, h - 1);
}

void sb_run_callbacks(lua_State *L) {
  sb_inbox *ib = state_inbox(L, 0);
  if (!ib || !atomic_load_explicit(&ib->head, memory_order_relaxed)) return;
  inode *n = atomic_exchange(&ib->head, NULL), *rev = NULL;
  while (n) { /* oldest first */
    inode *next = n->next;
    n->next = rev;
    rev = n;
    n = next;
  }
  push_fcb(L);
  int fcb = lua_gettop(L);
  while (rev) {
    inode *next = rev->next;
    sb_future *f = rev->f;
    srt_free(rev);
    rev = next;
    if (lua_rawgetp(L, fcb, f) == LUA_TTABLE) {
      lua_pushnil(L);
      lua_rawsetp(L, fcb, f);
      run_entry(L, -1);
    }
    lua_pop(L, 1);
    srt_decref(&f->h);
  }
  lua_pop(L, 1);
}

void sb_future_on_done(lua_State *L, int handle, int cb, int ecb, int mode) {
  handle = lua_absindex(L, handle);
  cb = lua_absindex(L, cb);
  ecb = ecb ? lua_absindex(L, ecb) : 0;
  sb_future *f = (sb_future *)sb_test_any(L, handle);
  sb_inbox *ib = state_inbox(L, 1);
  push_fcb(L);
  int fresh = lua_rawgetp(L, -1, f) != LUA_TTABLE;
  if (fresh) {
    lua_pop(L, 1);
    lua_createtable(L, 2, 3);
    lua_pushvalue(L, handle);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, mode);
    lua_setfield(L, -2, "mode");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, -3, f);
  }
  if (mode == 0) {
    lua_pushvalue(L, cb);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  } else {
    lua_pushvalue(L, cb);
    lua_setfield(L, -2, "callback");
    if (ecb) lua_pushvalue(L, ecb);
    else lua_pushnil(L);
    lua_setfield(L, -2, "error_callback");
  }
  sb_flink *lk = fresh ? sb_alloc(L, sizeof *lk) : NULL;
  flock(f);
  int done = terminal(atomic_load(&f->state));
  if (!done && lk) {
    lk->kind = LINK_INBOX;
    lk->target = ib;
    atomic_fetch_add(&ib->refs, 1);
    lk->next = f->links;
    f->links = lk;
    lk = NULL;
  }
  funlock(f);
  if (lk) srt_free(lk);
  if (done && fresh) { /* already done: call it now */
    lua_pushnil(L);
    lua_rawsetp(L, -3, f);
    run_entry(L, -1);
  }
  lua_pop(L, 2);
  if (done && !fresh) sb_run_callbacks(L);
}

/* ---- Lua: Future ------------------------------------------------------------------- */
static sb_future *check_future(lua_State *L, int i) {
  sb_future *f = sb_test(L, i, SB_T_FUTURE);
  if (!f) f = sb_test(L, i, SB_T_ASYNCRESULT);
  if (!f) sb_check(L, i, SB_T_FUTURE);
  return f;
}

static int timeout_error(lua_State *L) { return sb_error(L, "Timeout", "timed out waiting for the result"); }

static int l_future_new(lua_State *L) {
  sb_future_new(L, SB_T_FUTURE, SB_FK_CALL, 1);
  return 1;
}

static int l_result(lua_State *L) {
  sb_future *f = check_future(L, 1);
  int64_t deadline = sb_opt_deadline(L, 2);
  if (!sb_future_wait(L, f, deadline)) return timeout_error(L);
  sb_run_callbacks(L);
  lua_settop(L, 1);
  return sb_future_push_result(L, f);
}

static int l_exception(lua_State *L) {
  sb_future *f = check_future(L, 1);
  int64_t deadline = sb_opt_deadline(L, 2);
  if (!sb_future_wait(L, f, deadline)) return timeout_error(L);
  sb_run_callbacks(L);
  if (atomic_load(&f->state) == SB_F_CANCELLED) return raise_cancelled(L);
  int32_t fp = atomic_load(&f->failed_part);
  if (fp < 0) return 0;
  sb_part *p = &f->parts[fp];
  int n = p->msg ? sb_unpack(L, p->msg, p->len) : 0;
  if (n < 1) sb_push_error(L, "Error", "the task failed (its error could not be sent)");
  return 1;
}

static int l_done(lua_State *L) {
  sb_future *f = check_future(L, 1);
  sb_run_callbacks(L);
  lua_pushboolean(L, sb_future_is_done(f));
  return 1;
}

static int l_running(lua_State *L) {
  sb_future *f = check_future(L, 1);
  sb_run_callbacks(L);
  lua_pushboolean(L, atomic_load(&f->state) == SB_F_RUNNING);
  return 1;
}

static int l_cancelled(lua_State *L) {
  sb_future *f = check_future(L, 1);
  sb_run_callbacks(L);
  lua_pushboolean(L, atomic_load(&f->state) == SB_F_CANCELLED);
  return 1;
}

static int l_cancel(lua_State *L) {
  sb_future *f = check_future(L, 1);
  lua_pushboolean(L, sb_future_cancel(f, 1));
  sb_run_callbacks(L);
  return 1;
}

static int l_add_done_callback(lua_State *L) {
  check_future(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  sb_future_on_done(L, 1, 2, 0, 0);
  sb_run_callbacks(L);
  return 0;
}

/* For those who implement their own executors, and for tests. */
static int l_set_running(lua_State *L) {
  sb_future *f = check_future(L, 1);
  flock(f);
  uint32_t s = atomic_load(&f->state);
  if (s == SB_F_PENDING) atomic_store(&f->state, SB_F_RUNNING);
  funlock(f);
  if (s == SB_F_CANCELLED) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (s != SB_F_PENDING) return sb_error(L, "InvalidStateError", "the future is %s",
                                         s == SB_F_RUNNING ? "running" : "finished");
  wake_all(f);
  lua_pushboolean(L, 1);
  return 1;
}

static int set_outcome(lua_State *L, int failed) {
  sb_future *f = check_future(L, 1);
  if (f->nparts != 1) return luaL_error(L, "cannot set the result of a map");
  if (sb_future_is_done(f)) return sb_error(L, "InvalidStateError", "the future is already done");
  void *msg;
  size_t len;
  if (failed) {
    luaL_checkany(L, 2);
    len = sb_pack_error(L, 2, f->buf, SB_INLINE, &msg);
  } else {
    len = sb_pack(L, 2, lua_gettop(L) - 1, f->buf, SB_INLINE, &msg, "result");
  }
  sb_future_done_part(f, 0, msg, len, failed);
  sb_run_callbacks(L);
  return 0;
}

static int l_set_result(lua_State *L) { return set_outcome(L, 0); }
static int l_set_exception(lua_State *L) { return set_outcome(L, 1); }

static const char *state_name(uint32_t s) {
  static const char *const names[] = {"pending", "running", "finished", "cancelled"};
  return s < 4 ? names[s] : "?";
}

static int future_tostring(lua_State *L) {
  sb_future *f = check_future(L, 1);
  uint32_t s = atomic_load(&f->state);
  const char *tn = f->h.type == SB_T_ASYNCRESULT ? "AsyncResult" : "Future";
  if (s == SB_F_FINISHED)
    lua_pushfstring(L, "<%s at %p state=finished %s>", tn, (void *)f,
                    atomic_load(&f->failed_part) >= 0 ? "raised" : "returned");
  else lua_pushfstring(L, "<%s at %p state=%s>", tn, (void *)f, state_name(s));
  return 1;
}

/* ---- many futures: as_completed and wait -------------------------------------------- */
typedef struct watch {
  fwaiter *w;
  uint32_t n;          /* distinct futures */
  uint32_t consumed;   /* waiter slots read */
  uint32_t yielded;    /* futures handed out (as_completed) */
  uint32_t npre;       /* done before the wait began */
  int registered;
  int64_t deadline;
  sb_future **fs;      /* referenced */
  uint32_t *pre;       /* indices of those done before */
  unsigned char *linked, *seen;
} watch;

static void watch_unregister(watch *wa) {
  if (!wa->registered) return;
  wa->registered = 0;
  for (uint32_t i = 0; i < wa->n; i++) {
    if (!wa->linked[i]) continue;
    sb_future *f = wa->fs[i];
    flock(f);
    for (sb_flink **pp = &f->links; *pp; pp = &(*pp)->next) {
      if ((*pp)->target == wa->w) {
        sb_flink *l = *pp;
        *pp = l->next;
        srt_free(l);
        waiter_unref(wa->w); /* the link's */
        break;
      }
    }
    funlock(f);
    wa->linked[i] = 0;
  }
}

static void watch_free(watch *wa) {
  watch_unregister(wa);
  for (uint32_t i = 0; wa->fs && i < wa->n; i++) srt_decref(&wa->fs[i]->h);
  waiter_unref(wa->w);
  free(wa->fs);
  free(wa->pre);
  free(wa->linked);
  free(wa->seen);
  memset(wa, 0, sizeof *wa);
}

static int watch_gc(lua_State *L) {
  watch_free(lua_touserdata(L, 1));
  return 0;
}

/* Build a watch over the futures of the table at idx: pushes the watch
** userdata and a table of the distinct handles (in the order given). */
static watch *watch_new(lua_State *L, int idx, int64_t deadline) {
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer len = luaL_len(L, idx);
  watch *wa = lua_newuserdatauv(L, sizeof *wa, 0);
  memset(wa, 0, sizeof *wa);
  if (luaL_newmetatable(L, "strand.watch")) {
    sb_setfn(L, "__gc", watch_gc);
    sb_setfn(L, "__close", watch_gc);
  }
  lua_setmetatable(L, -2);
  int wi = lua_gettop(L);
  lua_newtable(L); /* distinct handles */
  lua_newtable(L); /* pointer -> true, to drop duplicates */
  size_t cap = len > 0 ? (size_t)len : 1;
  wa->fs = malloc(cap * sizeof *wa->fs);
  wa->pre = malloc(cap * sizeof *wa->pre);
  wa->linked = calloc(cap, 1);
  wa->seen = calloc(cap, 1);
  if (!wa->fs || !wa->pre || !wa->linked || !wa->seen) luaL_error(L, "not enough memory");
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, idx, i);
    sb_future *f = sb_test(L, -1, SB_T_FUTURE);
    if (!f) f = sb_test(L, -1, SB_T_ASYNCRESULT);
    if (!f) return (watch *)(intptr_t)luaL_error(L, "fs[%d]: Future expected, got %s", (int)i, luaL_typename(L, -1));
    if (lua_rawgetp(L, wi + 2, f) != LUA_TNIL) {
      lua_pop(L, 2);
      continue;
    }
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_rawsetp(L, wi + 2, f);
    lua_rawseti(L, wi + 1, (lua_Integer)wa->n + 1);
    srt_incref(&f->h);
    wa->fs[wa->n++] = f;
  }
  lua_pop(L, 1);
  wa->w = sb_alloc(L, sizeof(fwaiter) + (wa->n ? wa->n : 1) * sizeof(uint32_t));
  memset(wa->w, 0, sizeof(fwaiter) + (wa->n ? wa->n : 1) * sizeof(uint32_t));
  wa->w->cap = wa->n;
  atomic_store(&wa->w->refs, 1);
  wa->deadline = deadline;
  /* link the waiter into every pending future */
  wa->registered = 1;
  for (uint32_t i = 0; i < wa->n; i++) {
    sb_future *f = wa->fs[i];
    sb_flink *lk = srt_alloc(sizeof *lk);
    if (!lk) {
      watch_unregister(wa);
      sb_error(L, "MemoryError", "strand arena is full");
    }
    flock(f);
    if (terminal(atomic_load(&f->state))) {
      funlock(f);
      srt_free(lk);
      wa->pre[wa->npre++] = i;
      wa->seen[i] = 1;
      continue;
    }
    lk->kind = LINK_WAITER;
    lk->target = wa->w;
    lk->idx = i;
    atomic_fetch_add(&wa->w->refs, 1);
    lk->next = f->links;
    f->links = lk;
    wa->linked[i] = 1;
    funlock(f);
  }
  return wa;
}

/* Next future that completed while watching (its index), or -1 when the
** deadline passed. Raises on interrupt. */
static int64_t watch_next(lua_State *L, watch *wa) {
  fwaiter *w = wa->w;
  int polls = srt_taskq_spin_polls();
  for (;;) {
    uint32_t seq = atomic_load(&w->seq);
    if (wa->consumed < atomic_load(&w->n) && wa->consumed < w->cap) {
      uint32_t v = atomic_load(&w->slot[wa->consumed]);
      if (v) {
        wa->consumed++;
        wa->linked[v - 1] = 0; /* the completer removed the link */
        return v - 1;
      }
    }
    int changed = 0;
    for (int i = 0; i < polls && !changed; i++) {
      relax();
      changed = atomic_load_explicit(&w->seq, memory_order_acquire) != seq;
    }
    if (changed) continue;
    polls = 0;
    atomic_fetch_add(&w->sleepers, 1);
    int r = srt_futex_wait(&w->seq, seq, wa->deadline);
    atomic_fetch_sub(&w->sleepers, 1);
    if (r == SRT_TIMEDOUT && atomic_load(&w->seq) == seq) return -1;
    if (r == SRT_INTERRUPTED) sb_raise_interrupt(L);
  }
}

/* iterator of as_completed: upvalues 1 the watch, 2 the handles */
static int as_completed_next(lua_State *L) {
  watch *wa = lua_touserdata(L, lua_upvalueindex(1));
  sb_run_callbacks(L);
  if (!wa->w || wa->yielded >= wa->n) return 0;
  int64_t i;
  if (wa->yielded < wa->npre) {
    i = wa->pre[wa->yielded];
  } else {
    i = watch_next(L, wa);
    if (i < 0)
      return sb_error(L, "Timeout", "%d (of %d) futures unfinished", (int)(wa->n - wa->yielded),
                      (int)wa->n);
  }
  wa->yielded++;
  if (wa->yielded == wa->n) watch_unregister(wa);
  lua_rawgeti(L, lua_upvalueindex(2), i + 1);
  return 1;
}

/* strand.futures.as_completed(fs [, timeout]): for f in as_completed(fs) do */
static int l_as_completed(lua_State *L) {
  int64_t deadline = sb_opt_deadline(L, 2);
  sb_run_callbacks(L);
  lua_settop(L, 1);
  watch_new(L, 1, deadline); /* 2 watch, 3 handles */
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_pushcclosure(L, as_completed_next, 2);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushvalue(L, 2); /* closing value: unlinks on break */
  return 4;
}

enum { RW_FIRST_COMPLETED, RW_FIRST_EXCEPTION, RW_ALL_COMPLETED };

static int failed_future(sb_future *f) {
  return atomic_load(&f->state) == SB_F_FINISHED && atomic_load(&f->failed_part) >= 0;
}

static int wait_satisfied(watch *wa, int how, uint32_t ndone, int any_failed) {
  if (ndone >= wa->n) return 1;
  if (how == RW_FIRST_COMPLETED) return ndone > 0;
  if (how == RW_FIRST_EXCEPTION) return any_failed;
  return 0;
}

/* strand.futures.wait(fs [, timeout [, return_when]]) -> done, not_done */
static int l_futures_wait(lua_State *L) {
  int64_t deadline = sb_opt_deadline(L, 2);
  static const char *const whens[] = {"FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED", NULL};
  int how = luaL_checkoption(L, 3, "ALL_COMPLETED", whens);
  sb_run_callbacks(L);
  lua_settop(L, 1);
  watch *wa = watch_new(L, 1, deadline); /* 2 watch, 3 handles */
  uint32_t ndone = wa->npre;
  int any_failed = 0;
  for (uint32_t i = 0; i < wa->npre; i++) any_failed |= failed_future(wa->fs[wa->pre[i]]);
  while (!wait_satisfied(wa, how, ndone, any_failed)) {
    int64_t i = watch_next(L, wa);
    if (i < 0) break;
    ndone++;
    any_failed |= failed_future(wa->fs[i]);
  }
  watch_unregister(wa);
  sb_run_callbacks(L);
  lua_newtable(L); /* 4 done */
  lua_newtable(L); /* 5 not done */
  for (uint32_t i = 0; i < wa->n; i++) {
    int t = sb_future_is_done(wa->fs[i]) ? 4 : 5;
    lua_rawgeti(L, 3, (lua_Integer)i + 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, t, (lua_Integer)lua_rawlen(L, t) + 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, t);
  }
  watch_free(wa);
  return 2;
}

/* ---- iterating over a map's results -------------------------------------------------- */
typedef struct mapiter {
  sb_future *f;     /* referenced */
  int ordered;
  int64_t next;     /* ordered: next item, 1-based */
  uint32_t k;       /* unordered: next part in completion order */
  int64_t part;     /* the part decoded in the cache, or -1 */
  int64_t pos, pend; /* unordered: next item in the cached part, and its end */
  int64_t deadline;
  int done;
} mapiter;

static int mapiter_close(lua_State *L) {
  mapiter *it = lua_touserdata(L, 1);
  if (it->f) {
    if (!sb_future_is_done(it->f)) sb_future_cancel(it->f, 1);
    srt_decref(&it->f->h);
    it->f = NULL;
  }
  return 0;
}

static int64_t part_first(sb_future *f, int64_t p) { return p * f->chunksize + 1; }

/* Decode part p into the iterator's cache table (its user value). */
static void load_part(lua_State *L, int iti, mapiter *it, int64_t p) {
  sb_future *f = it->f;
  sb_part *pp = &f->parts[p];
  if (atomic_load(&f->state) == SB_F_CANCELLED && !atomic_load(&pp->done)) raise_cancelled(L);
  if (pp->failed) {
    it->done = 1;
    raise_part(L, pp);
  }
  lua_createtable(L, (int)f->chunksize, 0);
  sb_unpack_into(L, pp->msg, pp->len, -1, 1);
  lua_setiuservalue(L, iti, 1);
  it->part = p;
}

static int map_next(lua_State *L) {
  int iti = lua_upvalueindex(1);
  mapiter *it = lua_touserdata(L, iti);
  sb_run_callbacks(L);
  if (!it->f || it->done) return 0;
  sb_future *f = it->f;
  int64_t item;
  if (it->ordered) {
    if (it->next > f->nitems) return 0;
    item = it->next;
    int64_t p = (item - 1) / f->chunksize;
    if (p != it->part) {
      if (!wait_cond(L, f, cond_part_done, (uint32_t)p, it->deadline)) return timeout_error(L);
      load_part(L, iti, it, p);
    }
    it->next++;
  } else {
    if (it->pos >= it->pend) {
      if (it->k >= f->nparts) return 0;
      if (!wait_cond(L, f, cond_parts, it->k, it->deadline)) return timeout_error(L);
      if (atomic_load(&f->ndone) <= it->k) return raise_cancelled(L);
      int64_t p = atomic_load(&f->order[it->k]);
      it->k++;
      load_part(L, iti, it, p);
      it->pos = part_first(f, p);
      int64_t end = it->pos + f->chunksize;
      it->pend = end > f->nitems + 1 ? f->nitems + 1 : end;
    }
    item = it->pos++;
  }
  lua_pushinteger(L, item);
  lua_getiuservalue(L, iti, 1);
  lua_rawgeti(L, -1, item - part_first(f, it->part) + 1);
  lua_remove(L, -2);
  return 2;
}

/* Push iterator, nil, nil, closing value for `for i, v in ...` over the map
** future at fidx; closing the loop early cancels what has not run. */
int sb_push_map_iter(lua_State *L, int fidx, int ordered, int64_t deadline) {
  sb_future *f = (sb_future *)sb_test_any(L, fidx);
  mapiter *it = lua_newuserdatauv(L, sizeof *it, 1);
  memset(it, 0, sizeof *it);
  if (luaL_newmetatable(L, "strand.MapIterator")) {
    sb_setfn(L, "__gc", mapiter_close);
    sb_setfn(L, "__close", mapiter_close);
  }
  lua_setmetatable(L, -2);
  srt_incref(&f->h);
  it->f = f;
  it->ordered = ordered;
  it->next = 1;
  it->part = -1;
  it->deadline = deadline;
  lua_pushvalue(L, -1);
  lua_pushcclosure(L, map_next, 1);
  lua_insert(L, -2);
  lua_pushnil(L);
  lua_insert(L, -2);
  lua_pushnil(L);
  lua_insert(L, -2);
  return 4;
}

/* ---- registration --------------------------------------------------------------------- */
static const luaL_Reg future_methods[] = {
    {"result", l_result},
    {"exception", l_exception},
    {"done", l_done},
    {"running", l_running},
    {"cancelled", l_cancelled},
    {"cancel", l_cancel},
    {"add_done_callback", l_add_done_callback},
    {"set_running_or_notify_cancel", l_set_running},
    {"set_result", l_set_result},
    {"set_exception", l_set_exception},
    {NULL, NULL}};

static const sb_type future_type = {SB_T_FUTURE, "strand.Future", future_methods, NULL, NULL,
                                    NULL,        future_tostring, NULL,           future_destroy};

void sb_future_destroy(srt_obj *o) { future_destroy(o); }

void sb_futures_shutdown(int cancel_all) {
  sb_executors_atexit(cancel_all);
  sb_pools_atexit(cancel_all);
}

void sb_open_futures(lua_State *L) {
  sb_register_type(&future_type);
  state_inbox(L, 1);
  sb_setfn(L, "Future", l_future_new);
  sb_setfn(L, "as_completed", l_as_completed);
  sb_setfn(L, "futures_wait", l_futures_wait);
  lua_pushliteral(L, "FIRST_COMPLETED");
  lua_setfield(L, -2, "FIRST_COMPLETED");
  lua_pushliteral(L, "FIRST_EXCEPTION");
  lua_setfield(L, -2, "FIRST_EXCEPTION");
  lua_pushliteral(L, "ALL_COMPLETED");
  lua_setfield(L, -2, "ALL_COMPLETED");
  sb_open_executor(L);
}

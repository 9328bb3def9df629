/*
** l_debug.c — seeing what threads are doing, and a watchdog.
**
** Every state that opens strand registers the thread it was opened on (its
** srt_tctx) in a process-local list until the state is closed. That covers
** strand.Thread workers, executor and pool workers, a host's own states and
** the main state alike, without knowing how each was started.
**
**   strand.debug_threads()            -> { {tid=, pid=, waiting=, ...}, ... }
**   strand.debug_cancel(tid)          -> whether a registered thread was found
**   strand.debug_forks()              -> forks this process has made
**   strand.debug_children()           -> living child processes of this one
**   strand.debug_kill(pid, "term"|"kill") -> signal a child of this process
**   strand.debug_watchdog(timeout [, grace]) -> watchdog
**
** The watchdog is a plain pthread (no Lua state): when `timeout` passes
** before wd:cancel(), it records a snapshot of every registered thread and
** interrupts the thread that armed it with SRT_INT_CANCEL, so a wait
** blocked forever raises a Cancelled error there. It repeats the interrupt
** (a test may catch the first) until cancelled; if `grace` seconds more go
** by, the armer is stuck where no interrupt reaches (a C call, a system
** call that restarts): it prints the snapshot and exits the process, since
** hanging is the one outcome a test run must never have. strand.busted
** (lua/strand/busted.lua) builds on this.
*/
#include "sb.h"

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the registry of threads running strand states ---------------------- */
typedef struct reg_entry {
  srt_tctx *ctx;
  int states; /* how many open states of that thread */
} reg_entry;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static reg_entry *reg;
static size_t nreg, reg_cap;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

/* A forked child keeps only its forking thread; the parent's entries name
** threads that do not exist there. */
static void reg_atfork_child(void) {
  pthread_mutex_init(&reg_mu, NULL);
  nreg = 0;
}

/* Forks this process has made: a child keeps references it took to arena
** objects when it exits, so arena accounting across a fork is not exact. */
static _Atomic uint64_t forks_made;
static void count_fork(void) { atomic_fetch_add(&forks_made, 1); }

static void reg_init(void) { pthread_atfork(NULL, count_fork, reg_atfork_child); }

static int reg_add(srt_tctx *ctx) {
  int ok = 1;
  pthread_mutex_lock(&reg_mu);
  size_t i = 0;
  while (i < nreg && reg[i].ctx != ctx) i++;
  if (i < nreg) {
    reg[i].states++;
  } else if (nreg == reg_cap) {
    size_t cap = reg_cap ? reg_cap * 2 : 16;
    reg_entry *p = realloc(reg, cap * sizeof *p);
    if (p) {
      reg = p;
      reg_cap = cap;
      reg[nreg++] = (reg_entry){ctx, 1};
    } else {
      ok = 0;
    }
  } else {
    reg[nreg++] = (reg_entry){ctx, 1};
  }
  pthread_mutex_unlock(&reg_mu);
  return ok;
}

static void reg_remove(srt_tctx *ctx) {
  pthread_mutex_lock(&reg_mu);
  for (size_t i = 0; i < nreg; i++) {
    if (reg[i].ctx != ctx) continue;
    if (--reg[i].states == 0) reg[i] = reg[--nreg];
    break;
  }
  pthread_mutex_unlock(&reg_mu);
}

/* What one thread was doing, copied out so it can be read after it ends. */
typedef struct thread_rec {
  pid_t pid, tid;
  int waiting, interrupt, waiting_kind;
  const void *waiting_on;
  char on_type[48]; /* type name of the object waited on, if it is one */
} thread_rec;

/* The object a thread says it waits on, when that is a live strand object. */
static void describe_waited(thread_rec *r) {
  const srt_obj *o = r->waiting_on;
  r->on_type[0] = 0;
  if (!o || ((uintptr_t)o & 15) != 0 || !srt_in_arena(o, sizeof *o)) return;
  if (o->magic != SRT_OBJ_MAGIC) return;
  const sb_type *t = sb_type_of(o->type);
  snprintf(r->on_type, sizeof r->on_type, "%s", t ? t->name : "strand.Object");
}

/* Copy every registered thread's state; returns a malloc'd array. */
static thread_rec *reg_snapshot(size_t *n) {
  pthread_mutex_lock(&reg_mu);
  thread_rec *out = calloc(nreg ? nreg : 1, sizeof *out);
  *n = out ? nreg : 0;
  for (size_t i = 0; i < *n; i++) {
    srt_tctx *c = reg[i].ctx;
    thread_rec *r = &out[i];
    r->pid = c->pid;
    r->tid = c->tid;
    r->waiting = atomic_load_explicit(&c->waiting, memory_order_relaxed);
    r->interrupt = atomic_load_explicit(&c->interrupt, memory_order_relaxed);
    /* plain fields another thread writes: read them as atomics would */
    r->waiting_on = __atomic_load_n(&c->waiting_on, __ATOMIC_RELAXED);
    r->waiting_kind = __atomic_load_n(&c->waiting_kind, __ATOMIC_RELAXED);
    describe_waited(r);
  }
  pthread_mutex_unlock(&reg_mu);
  return out;
}

static int reg_interrupt_tid(pid_t tid, int why) {
  int found = 0;
  pthread_mutex_lock(&reg_mu);
  for (size_t i = 0; i < nreg && !found; i++) {
    if (reg[i].ctx->tid != tid || reg[i].ctx->pid != getpid()) continue;
    srt_interrupt(reg[i].ctx, why);
    found = 1;
  }
  pthread_mutex_unlock(&reg_mu);
  return found;
}

/* ---- registration: one sentinel per state, whose __gc unregisters -------- */
#define SENTINEL_KEY "strand.debug.sentinel"

typedef struct sentinel {
  srt_tctx *ctx;
  pid_t pid;
} sentinel;

static int sentinel_gc(lua_State *L) {
  sentinel *s = lua_touserdata(L, 1);
  if (s->ctx && s->pid == srt_self_pid()) reg_remove(s->ctx);
  s->ctx = NULL;
  return 0;
}

static void register_state(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, SENTINEL_KEY) != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  srt_tctx *ctx = srt_self();
  sentinel *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->ctx = NULL;
  s->pid = srt_self_pid();
  if (luaL_newmetatable(L, "strand.debug.sentinel")) sb_setfn(L, "__gc", sentinel_gc);
  lua_setmetatable(L, -2);
  if (ctx && reg_add(ctx)) s->ctx = ctx;
  lua_setfield(L, LUA_REGISTRYINDEX, SENTINEL_KEY);
}

/* ---- records as Lua tables ------------------------------------------------- */
static const char *interrupt_name(int why) {
  return why == SRT_INT_CANCEL ? "cancel" : why == SRT_INT_KEYBOARD ? "keyboard" : NULL;
}

static void push_rec(lua_State *L, const thread_rec *r, pid_t self_tid) {
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, r->pid);
  lua_setfield(L, -2, "pid");
  lua_pushinteger(L, r->tid);
  lua_setfield(L, -2, "tid");
  lua_pushboolean(L, r->waiting);
  lua_setfield(L, -2, "waiting");
  lua_pushboolean(L, r->tid == self_tid && r->pid == getpid());
  lua_setfield(L, -2, "current");
  if (interrupt_name(r->interrupt)) {
    lua_pushstring(L, interrupt_name(r->interrupt));
    lua_setfield(L, -2, "interrupt");
  }
  if (r->waiting_on) {
    if (r->on_type[0]) lua_pushfstring(L, "%s: %p", r->on_type, r->waiting_on);
    else lua_pushfstring(L, "%p", r->waiting_on);
    lua_setfield(L, -2, "waiting_on");
    lua_pushinteger(L, r->waiting_kind);
    lua_setfield(L, -2, "waiting_kind");
  }
}

static void push_recs(lua_State *L, const thread_rec *recs, size_t n, pid_t self_tid) {
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    push_rec(L, &recs[i], self_tid);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* strand.debug_threads() */
static int l_debug_threads(lua_State *L) {
  size_t n;
  thread_rec *recs = reg_snapshot(&n);
  if (!recs) return luaL_error(L, "not enough memory");
  push_recs(L, recs, n, srt_gettid());
  free(recs);
  return 1;
}

/* strand.debug_cancel(tid): interrupt a thread of this process that runs a
** strand state, as thread:cancel() does, for threads without a handle. */
static int l_debug_cancel(lua_State *L) {
  lua_Integer tid = luaL_checkinteger(L, 1);
  lua_pushboolean(L, tid > 0 && tid <= INT_MAX && reg_interrupt_tid((pid_t)tid, SRT_INT_CANCEL));
  return 1;
}

/* strand.debug_forks() -> how many times this process has forked */
static int l_debug_forks(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)atomic_load(&forks_made));
  return 1;
}

/* ---- child processes ------------------------------------------------------- */
/* The state letter and command name of a process, from /proc/PID/stat. */
static int proc_stat(pid_t pid, char *state, char *comm, size_t commlen) {
  char buf[512];
  if (!srt_proc_stat(pid, buf, sizeof buf)) return 0;
  char *open = strchr(buf, '('), *close = strrchr(buf, ')');
  if (!open || !close || close < open || close[1] != ' ') return 0;
  size_t len = (size_t)(close - open - 1);
  if (len >= commlen) len = commlen - 1;
  memcpy(comm, open + 1, len);
  comm[len] = 0;
  *state = close[2];
  return 1;
}

/* strand.debug_children() -> { {pid=, state=, name=}, ... }: the living
** (not zombie) children of this process, whoever started them (Process,
** the server of a Pool or ProcessPoolExecutor, io.popen ...). */
static int l_debug_children(lua_State *L) {
  lua_newtable(L);
  DIR *tasks = opendir("/proc/self/task");
  if (!tasks) return 1;
  lua_Integer n = 0;
  struct dirent *d;
  while ((d = readdir(tasks)) != NULL) {
    if (d->d_name[0] == '.') continue;
    char path[300];
    snprintf(path, sizeof path, "/proc/self/task/%s/children", d->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    int pid;
    while (fscanf(f, "%d", &pid) == 1) {
      char state, comm[64];
      if (!proc_stat(pid, &state, comm, sizeof comm) || state == 'Z' || state == 'X') continue;
      lua_createtable(L, 0, 3);
      lua_pushinteger(L, pid);
      lua_setfield(L, -2, "pid");
      lua_pushlstring(L, &state, 1);
      lua_setfield(L, -2, "state");
      lua_pushstring(L, comm);
      lua_setfield(L, -2, "name");
      lua_rawseti(L, -2, ++n);
    }
    fclose(f);
  }
  closedir(tasks);
  return 1;
}

/* strand.debug_kill(pid, "term" | "kill") -> sent: signal a child of this
** process (only a child: a test helper must not reach anything else). It
** is not reaped here; whoever started it does that. */
static int l_debug_kill(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  static const char *const names[] = {"term", "kill", NULL};
  int sig = luaL_checkoption(L, 2, "term", names) == 0 ? SIGTERM : SIGKILL;
  char buf[512];
  int ours = 0;
  if (pid > 0 && pid <= INT_MAX) {
    if (srt_proc_stat((pid_t)pid, buf, sizeof buf)) {
      const char *close = strrchr(buf, ')');
      int ppid = 0;
      ours = close && sscanf(close + 2, "%*c %d", &ppid) == 1 && ppid == getpid();
    }
  }
  lua_pushboolean(L, ours && kill((pid_t)pid, sig) == 0);
  return 1;
}

/* ---- the watchdog ---------------------------------------------------------- */
enum { WD_ARMED = 0, WD_DISARMED = 1 };

typedef struct watchdog {
  _Atomic uint32_t state;    /* futex: WD_ARMED until cancelled */
  _Atomic uint32_t fired;
  _Atomic int64_t deadline;  /* changed by :reset() */
  int64_t grace_ns;          /* after firing; <= 0: never exit */
  srt_tctx *target;
  pid_t owner_pid;           /* the thread exists only in this process */
  pthread_t thread;
  int joined;
  thread_rec *snap;          /* written once by the watchdog, before fired */
  size_t nsnap;
  pid_t target_tid;
} watchdog;

#define WD_MT "strand.debug.watchdog"
#define WD_REPEAT_NS 200000000LL /* re-interrupt a target that caught it */

static void wd_report_and_exit(watchdog *w) {
  fprintf(stderr,
          "not ok - strand watchdog: thread %d did not respond to cancel within the grace "
          "period; exiting. Threads at the time limit:\n",
          (int)w->target_tid);
  for (size_t i = 0; i < w->nsnap; i++) {
    const thread_rec *r = &w->snap[i];
    fprintf(stderr, "  tid %d: %s%s%s\n", (int)r->tid, r->waiting ? "blocked in a strand wait" : "running",
            r->on_type[0] ? " on " : "", r->on_type);
  }
  fflush(NULL);
  /* a TAP consumer counts this line as a failure */
  printf("not ok - strand watchdog: test did not stop after its time limit\n");
  fflush(NULL);
  _exit(124);
}

static void *wd_main(void *arg) {
  watchdog *w = arg;
  for (;;) { /* armed: sleep until cancelled or the deadline (which may move) */
    if (atomic_load(&w->state) != WD_ARMED) return NULL;
    int64_t deadline = atomic_load(&w->deadline);
    if (srt_now_ns() >= deadline) break;
    srt_futex_wait(&w->state, WD_ARMED, deadline);
  }
  w->snap = reg_snapshot(&w->nsnap);
  atomic_store(&w->fired, 1);
  int64_t give_up = w->grace_ns > 0 ? srt_now_ns() + w->grace_ns : SRT_FOREVER;
  while (atomic_load(&w->state) == WD_ARMED) {
    if (atomic_load_explicit(&w->target->interrupt, memory_order_relaxed) == SRT_INT_NONE)
      srt_interrupt(w->target, SRT_INT_CANCEL);
    int64_t now = srt_now_ns();
    if (now >= give_up) wd_report_and_exit(w);
    int64_t next = now + WD_REPEAT_NS < give_up ? now + WD_REPEAT_NS : give_up;
    srt_futex_wait(&w->state, WD_ARMED, next);
  }
  return NULL;
}

static watchdog *check_wd(lua_State *L) {
  watchdog **p = luaL_checkudata(L, 1, WD_MT);
  if (!*p) luaL_error(L, "watchdog already released");
  return *p;
}

/* Stop the thread (if this process has it) and undo a pending interrupt the
** watchdog caused; returns whether it had fired. */
static int wd_stop(watchdog *w) {
  atomic_store(&w->state, WD_DISARMED);
  srt_futex_wake(&w->state, INT_MAX);
  if (!w->joined && w->owner_pid == getpid()) {
    pthread_join(w->thread, NULL);
    w->joined = 1;
  }
  int fired = atomic_load(&w->fired);
  if (fired && w->owner_pid == getpid()) {
    int cancel = SRT_INT_CANCEL; /* a Ctrl-C that came meanwhile stays */
    atomic_compare_exchange_strong(&w->target->interrupt, &cancel, SRT_INT_NONE);
  }
  return fired;
}

static int wd_gc(lua_State *L) {
  watchdog **p = luaL_checkudata(L, 1, WD_MT);
  if (*p) {
    wd_stop(*p);
    free((*p)->snap);
    free(*p);
    *p = NULL;
  }
  return 0;
}

static double check_seconds(lua_State *L, int idx, const char *what) {
  double s = luaL_checknumber(L, idx);
  if (s != s || s < 0) luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a non-negative number", what));
  return s;
}

static void open_watchdog_meta(lua_State *L);

/* strand.debug_watchdog(timeout [, grace]) */
static int l_debug_watchdog(lua_State *L) {
  double timeout = check_seconds(L, 1, "timeout");
  double grace = luaL_optnumber(L, 2, 0);
  srt_tctx *target = srt_self();
  if (!target) return sb_error(L, "MemoryError", "strand arena is full");
  sb_install_interrupt_hook(L); /* so a busy Lua loop notices too */
  watchdog **p = lua_newuserdatauv(L, sizeof *p, 0);
  *p = NULL;
  open_watchdog_meta(L); /* the first watchdog of this state makes it */
  luaL_setmetatable(L, WD_MT);
  watchdog *w = calloc(1, sizeof *w);
  if (!w) return luaL_error(L, "not enough memory");
  atomic_init(&w->state, WD_ARMED);
  atomic_init(&w->deadline, srt_deadline(timeout));
  w->grace_ns = grace > 0 && grace == grace ? (int64_t)(grace * 1e9) : 0;
  w->target = target;
  w->target_tid = srt_gettid();
  w->owner_pid = getpid();
  /* Ctrl-C and SIGTERM belong to the main thread, not to the watchdog */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  int rc = pthread_create(&w->thread, NULL, wd_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    free(w);
    return sb_error(L, "RuntimeError", "can't start the watchdog thread (%s)", strerror(rc));
  }
  *p = w;
  return 1;
}

/* wd:cancel() -> fired */
static int wd_cancel(lua_State *L) {
  lua_pushboolean(L, wd_stop(check_wd(L)));
  return 1;
}

/* wd:reset(timeout): move the deadline to `timeout` seconds from now. */
static int wd_reset(lua_State *L) {
  watchdog *w = check_wd(L);
  double timeout = check_seconds(L, 2, "timeout");
  if (atomic_load(&w->fired)) return luaL_error(L, "watchdog has already fired");
  atomic_store(&w->deadline, srt_deadline(timeout));
  srt_futex_wake(&w->state, INT_MAX); /* re-read the deadline */
  return 0;
}

static int wd_fired(lua_State *L) {
  lua_pushboolean(L, atomic_load(&check_wd(L)->fired));
  return 1;
}

/* wd:snapshot() -> the threads when it fired, or nil */
static int wd_snapshot(lua_State *L) {
  watchdog *w = check_wd(L);
  if (!atomic_load(&w->fired) || !w->snap) return 0;
  push_recs(L, w->snap, w->nsnap, w->target_tid);
  return 1;
}

static const luaL_Reg wd_methods[] = {
    {"cancel", wd_cancel}, {"reset", wd_reset}, {"fired", wd_fired}, {"snapshot", wd_snapshot}, {NULL, NULL}};

static void open_watchdog_meta(lua_State *L) {
  if (!luaL_newmetatable(L, WD_MT)) {
    lua_pop(L, 1);
    return;
  }
  luaL_newlib(L, wd_methods);
  lua_setfield(L, -2, "__index");
  sb_setfn(L, "__gc", wd_gc);
  sb_setfn(L, "__close", wd_gc);
  lua_pop(L, 1);
}

void sb_debug_register_state(lua_State *L) {
  pthread_once(&reg_once, reg_init);
  register_state(L);
}

void sb_open_debug(lua_State *L) {
  sb_debug_register_state(L);
  sb_setfn(L, "debug_threads", l_debug_threads);
  sb_setfn(L, "debug_cancel", l_debug_cancel);
  sb_setfn(L, "debug_forks", l_debug_forks);
  sb_setfn(L, "debug_children", l_debug_children);
  sb_setfn(L, "debug_kill", l_debug_kill);
  sb_setfn(L, "debug_watchdog", l_debug_watchdog);
}

/*
** l_process.c — strand.Process: a forked child running a Lua function in its
** copy of the parent's state, as Python's fork start method does.
**
** start() forks from whichever thread calls it; the child keeps only that
** thread and that thread's Lua state, runs the target, joins what it started
** itself, and leaves with _exit: 0, 1 after a Python-like report of the
** error, or the code the target gave os.exit. The Process object lives in
** the arena, so a handle works in any thread or process, but only the
** process that started a child waits for it and reaps it, one pid at a time
** (never waitpid(-1), which would steal io.popen's children).
**
** No zombie is left: a finished child is reaped by join, is_alive, exitcode,
** active_children, the next start, the collection of its last handle in the
** parent, and at exit, where daemon children are terminated and the others
** joined (a Ctrl-C there terminates them all).
**
** References across fork: the child inherits the forking state's handles
** without the references they stand for, so start() takes one more on each
** object they name before forking (sb_handles_fork_prepare) and the child
** drops them just before it exits.
*/
#include "sb.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { P_NEW, P_RUNNING, P_DONE };
#define EXIT_UNKNOWN INT_MIN /* reaped by someone else: no status */
#define GRACE_S 1.0          /* from SIGTERM to SIGKILL at shutdown */

typedef struct sb_process {
  srt_obj h;
  _Atomic uint32_t state;
  _Atomic uint32_t started;
  pid_t pid;
  pid_t parent;   /* the process that started it (may reap it) */
  int exitcode;
  int daemon;
  int is_main;    /* the MainProcess of a program, or a parent_process() view */
  int closed;
  char name[96];
  char ident[64]; /* "1", "1:2": names its own children Process-1:2:N */
} sb_process;

/* ---- the children of this process -------------------------------------------- */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t reap_mu = PTHREAD_MUTEX_INITIALIZER;
static sb_registry children = SB_REGISTRY_INIT;
static unsigned long name_counter; /* per process, as Python's _children counter */
static sb_process *self_proc;      /* current_process() in a child */
static pid_t self_pid;
static lua_State *child_L; /* the child's state, for the exit path of os.exit (a Process's or a pool worker's) */
static pid_t child_tid;
static srt_tctx *child_ctx; /* the child's own thread context */

#define reg_add(p) sb_registry_add(&children, &(p)->h)
#define reg_remove(p) sb_registry_remove(&children, &(p)->h)

/* A copy of the list with a reference on each. */
static sb_process **reg_snapshot(size_t *n) {
  return (sb_process **)sb_registry_snapshot(&children, n, NULL);
}

static void release_snapshot(sb_process **c, size_t n) { sb_registry_release((srt_obj **)c, n); }

/* The parent's children belong to the parent (and so do the references
** the list holds): the child only drops its copy of the list. */
static void atfork_child(void) {
  pthread_mutex_init(&reg_mu, NULL);
  pthread_mutex_init(&reap_mu, NULL);
  sb_registry_forget(&children);
  name_counter = 0;
}

/* ---- reaping ------------------------------------------------------------------ */
static int is_my_child(const sb_process *p) { return p->pid > 0 && p->parent == getpid(); }

/* Reap p if it has ended (blocking only when it is known to have exited).
** Returns whether it is done. Safe from many threads at once. */
static int try_reap(sb_process *p, int block) {
  if (atomic_load(&p->state) == P_DONE) return 1;
  if (!is_my_child(p) || atomic_load(&p->state) != P_RUNNING) return 0;
  pthread_mutex_lock(&reap_mu);
  int done = atomic_load(&p->state) == P_DONE;
  if (!done) {
    int st = 0, r = srt_reap(p->pid, &st, block);
    if (r != 0) {
      p->exitcode = r == 1 ? srt_exitcode(st) : EXIT_UNKNOWN;
      atomic_store(&p->state, P_DONE);
      srt_futex_wake(&p->state, INT_MAX);
      done = 1;
    }
  }
  pthread_mutex_unlock(&reap_mu);
  if (done) reg_remove(p);
  return done;
}

static void reap_finished(void) {
  size_t n;
  sb_process **all = reg_snapshot(&n);
  if (!all) return;
  for (size_t i = 0; i < n; i++) try_reap(all[i], 0);
  release_snapshot(all, n);
}

/* poll without interrupts, for the exit path */
static int poll_quiet(struct pollfd *pf, int64_t deadline) {
  int ms = -1;
  if (deadline != SRT_FOREVER) {
    int64_t left = deadline - srt_now_ns();
    ms = left <= 0 ? 0 : (int)(left / 1000000) + 1;
  }
  int r = poll(pf, 1, ms);
  return r == 0 ? SRT_TIMEDOUT : SRT_OK;
}

/* Wait until p ends or the deadline passes; returns whether it ended. With
** L, a Ctrl-C or cancel raises; without, the wait cannot be interrupted. */
static int wait_ended(lua_State *L, sb_process *p, int64_t deadline) {
  if (try_reap(p, 0)) return 1;
  if (!is_my_child(p)) return 0;
  int fd = srt_pidfd(p->pid);
  if (fd < 0) return try_reap(p, 0);
  int done = 0;
  for (;;) {
    struct pollfd pf = {fd, POLLIN, 0};
    int r = L ? srt_poll(&pf, 1, deadline) : poll_quiet(&pf, deadline);
    if ((done = try_reap(p, r == SRT_OK && (pf.revents & POLLIN)))) break;
    if (r == SRT_INTERRUPTED) {
      close(fd);
      sb_raise_interrupt(L);
    }
    if (r != SRT_OK) break;
    if (deadline != SRT_FOREVER && srt_now_ns() >= deadline) break;
  }
  close(fd);
  return done;
}

/* ---- the process objects --------------------------------------------------------- */
#define check_process(L, i) ((sb_process *)sb_check(L, i, SB_T_PROCESS))

static sb_process *check_open(lua_State *L, int i) {
  sb_process *p = check_process(L, i);
  if (p->closed) sb_error(L, "ValueError", "process object is closed");
  return p;
}

/* This process as a Process object: the child's own, or MainProcess. */
static sb_process *current(lua_State *L) {
  pthread_mutex_lock(&reg_mu);
  sb_process *me = self_proc && self_pid == getpid() ? self_proc : NULL;
  pthread_mutex_unlock(&reg_mu);
  if (me) return me;
  sb_process *p = sb_new_obj(L, SB_T_PROCESS, sizeof *p); /* may raise: no lock held */
  strcpy(p->name, "MainProcess");
  p->pid = getpid();
  p->is_main = 1;
  atomic_store(&p->state, P_RUNNING);
  atomic_store(&p->started, 1);
  pthread_mutex_lock(&reg_mu);
  if (self_proc && self_pid == getpid()) { /* another thread was first */
    me = self_proc;
  } else {
    self_proc = me = p; /* keeps the reference for the life of the process */
    self_pid = p->pid;
    p = NULL;
  }
  pthread_mutex_unlock(&reg_mu);
  if (p) srt_decref(&p->h);
  return me;
}

/* A pool or executor worker is a process of its own to current_process():
** named as Python names it ("ForkPoolWorker-3"), a daemon, a child of the
** pool's owner. Called in the fresh worker, before it runs any task. */
void sb_process_name_self(lua_State *L, const char *name, pid_t owner) {
  sb_process *me = current(L);
  /* not snprintf: a fresh pool worker would fault its code in for one copy */
  size_t len = strnlen(name, sizeof me->name - 1);
  memcpy(me->name, name, len);
  me->name[len] = 0;
  me->is_main = 0;
  me->daemon = 1;
  me->parent = owner;
  me->ident[0] = 0;
}

/* strand.Process{target=, args=, name=, daemon=, run=} */
static int l_process_new(lua_State *L) {
  sb_spawn_options(L, "Process");
  sb_process *me = current(L);
  sb_process *p = sb_new_obj(L, SB_T_PROCESS, sizeof *p);
  sb_push_handle(L, &p->h); /* 7 */
  p->daemon = lua_isnil(L, 6) ? me->daemon : lua_toboolean(L, 6);
  p->exitcode = EXIT_UNKNOWN;
  pthread_mutex_lock(&reg_mu);
  unsigned long n = ++name_counter;
  pthread_mutex_unlock(&reg_mu);
  snprintf(p->ident, sizeof p->ident, "%.40s%s%lu", me->is_main ? "" : me->ident,
           me->is_main ? "" : ":", n);
  if (lua_isstring(L, 5)) snprintf(p->name, sizeof p->name, "%s", lua_tostring(L, 5));
  else snprintf(p->name, sizeof p->name, "Process-%s", p->ident);
  sb_spawn_keep(L, 7);
  return 1;
}

/* ---- the child side ----------------------------------------------------------------- */
static pid_t closed_child; /* a child whose state was closed: os.exit(code, true) */

static int clear_child_state(lua_State *L) {
  (void)L;
  child_L = NULL; /* the state is being closed: its handles give their references back */
  closed_child = getpid();
  return 0;
}

void sb_child_exit_guard(lua_State *L) {
  child_L = L;
  child_tid = srt_gettid();
  lua_newuserdatauv(L, 1, 0);
  lua_createtable(L, 0, 1);
  sb_setfn(L, "__gc", clear_child_state);
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.child_sentinel");
}

/* What the child holds in the arena for itself: its context, its object. */
void sb_process_release_self(void) {
  sb_threads_settle();
  sb_threads_release_main();
  if (self_proc && self_pid == getpid()) {
    sb_process *p = self_proc;
    self_proc = NULL;
    srt_decref(&p->h);
  }
  if (child_ctx) {
    srt_free(child_ctx);
    child_ctx = NULL;
  }
}

/* Run at exit() in a child (os.exit from the target): give back the
** references the child's handles hold, and wait for its own children. */
static void child_atexit(void) {
  if (!srt_arena_ready()) return;
  if (child_L && self_pid == getpid() && child_tid == srt_gettid()) {
    sb_processes_shutdown(0);
    sb_handles_release_all(child_L);
    child_L = NULL;
    sb_process_release_self();
  } else if (!child_L) {
    sb_processes_shutdown(0);
    if (closed_child == getpid()) sb_process_release_self();
  }
}

/* The traceback's frames below the target are the parent's (start() and
** its callers, which the child never returns to): cut them, as Python shows
** only the child's frames. The target is called from child_body ("[C]: in
** ?"), itself called through start(). */
static const char *child_frames(lua_State *L, const char *tb) {
  const char *cut = strstr(tb, "\n\t[C]: in ?\n\t[C]: in ");
  if (!cut) return tb;
  const char *next = cut + strlen("\n\t[C]: in ?\n\t[C]: in ");
  const char *eol = strchr(next, '\n');
  size_t n = eol ? (size_t)(eol - next) : strlen(next);
  if (!memmem(next, n, "start'", 6)) return tb;
  return lua_pushlstring(L, tb, (size_t)(cut - tb));
}

static void report_child_error(lua_State *L, sb_process *p, int err) {
  const char *msg, *tb = NULL;
  if (lua_istable(L, err)) {
    lua_getfield(L, err, "message");
    lua_getfield(L, err, "traceback");
    msg = luaL_optstring(L, -2, "?");
    tb = lua_isstring(L, -1) ? child_frames(L, lua_tostring(L, -1)) : NULL;
  } else {
    msg = luaL_tolstring(L, err, NULL);
  }
  /* one write, so it does not interleave with other processes' output */
  const char *all = lua_pushfstring(L, "Process %s:\n%s%s%s\n", p->name, msg, tb ? "\n" : "", tb ? tb : "");
  fflush(stdout);
  fputs(all, stderr);
  fflush(stderr);
}

static _Noreturn void child_exit(lua_State *L, int code) {
  sb_threads_shutdown(0);
  sb_processes_shutdown(0);
  if (child_L) sb_handles_release_all(L);
  child_L = NULL;
  sb_process_release_self();
  fflush(NULL);
  _exit(code);
}

/* The child's work, under lua_pcall: no error may unwind into the frames
** of the parent's code above start(), which the child must never run. */
static int child_body(lua_State *L) {
  sb_process *p = lua_touserdata(L, 1);
  lua_remove(L, 1);
  sb_child_exit_guard(L);
  lua_pushstring(L, p->name);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.name");
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.current"); /* the thread is this process's main */
  int nargs = lua_istable(L, 4) ? (int)luaL_len(L, 4) : 0;
  luaL_checkstack(L, nargs + 8, "too many arguments");
  lua_settop(L, 4);
  lua_pushvalue(L, 3);
  for (int i = 1; i <= nargs; i++) lua_rawgeti(L, 4, i);
  if (sb_pcall_traceback(L, nargs, 0) != LUA_OK) {
    report_child_error(L, p, lua_gettop(L));
    lua_pushinteger(L, 1);
  } else {
    lua_pushinteger(L, 0);
  }
  return 1;
}

/* In the child, right after fork: only this thread exists; the target and
** its arguments are at 3 and 4 (a table). */
static _Noreturn void child_main(lua_State *L, sb_process *p) {
  child_ctx = srt_tctx_new();
  if (child_ctx) srt_set_self(child_ctx); /* own interrupt flag, not the parent thread's */
  sb_sigint_after_fork();
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, SIGINT);
  sigaddset(&unblock, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
  p->pid = getpid();
  self_proc = p;
  srt_incref(&p->h); /* current_process() keeps it */
  self_pid = p->pid;
  sb_handles_fork_child(L);
  int code = 1;
  lua_pushcfunction(L, child_body);
  lua_insert(L, 1);
  lua_pushlightuserdata(L, p);
  lua_insert(L, 2);
  /* stack: child_body, p, handle, fields, target, args */
  if (lua_pcall(L, 5, 1, 0) == LUA_OK) code = (int)lua_tointeger(L, -1);
  else report_child_error(L, p, lua_gettop(L));
  child_exit(L, code);
}

/* ---- Lua API ------------------------------------------------------------------------ */
static int l_start(lua_State *L) {
  sb_process *p = check_open(L, 1);
  if (p->is_main) return luaL_error(L, "cannot start the main process");
  sb_process *me = current(L);
  if (me->daemon && !me->is_main) return sb_error(L, "AssertionError", "daemonic processes are not allowed to have children");
  uint32_t zero = 0;
  if (!atomic_compare_exchange_strong(&p->started, &zero, 1))
    return sb_error(L, "AssertionError", "cannot start a process twice");
  sb_spawn_callable(L);
  reap_finished();
  p->parent = getpid();
  atomic_store(&p->state, P_RUNNING);
  sb_handles_fork_prepare(L, NULL);
  pid_t pid = fork();
  if (pid == 0) child_main(L, p);
  if (pid < 0) {
    int e = errno;
    sb_handles_fork_undo(L, NULL);
    atomic_store(&p->state, P_NEW);
    atomic_store(&p->started, 0);
    return sb_error(L, "OSError", "cannot fork: %s", strerror(e));
  }
  p->pid = pid;
  reg_add(p);
  return 0;
}

static int l_join(lua_State *L) {
  sb_process *p = check_open(L, 1);
  int64_t deadline = sb_opt_deadline(L, 2);
  if (!atomic_load(&p->started) || p->is_main) return sb_error(L, "AssertionError", "can only join a started process");
  if (p->pid == getpid()) return sb_error(L, "AssertionError", "can only join a child process");
  if (p->parent != getpid() && atomic_load(&p->state) != P_DONE)
    return sb_error(L, "AssertionError", "can only join a child process");
  lua_pushboolean(L, wait_ended(L, p, deadline));
  return 1;
}

static int l_is_alive(lua_State *L) {
  sb_process *p = check_open(L, 1);
  int alive;
  if (p->is_main) alive = p->pid == getpid() || srt_pid_alive(p->pid);
  else if (!atomic_load(&p->started) || p->pid <= 0) alive = 0;
  else if (p->pid == getpid()) alive = 1;
  else if (is_my_child(p)) alive = !try_reap(p, 0);
  else alive = atomic_load(&p->state) != P_DONE && srt_pid_alive(p->pid);
  lua_pushboolean(L, alive);
  return 1;
}

static int send_signal(lua_State *L, int sig) {
  sb_process *p = check_open(L, 1);
  if (p->is_main) return luaL_error(L, "cannot signal the main process this way");
  if (atomic_load(&p->state) == P_RUNNING && p->pid > 0 && p->pid != getpid() && !try_reap(p, 0))
    kill(p->pid, sig);
  return 0;
}

static int l_terminate(lua_State *L) { return send_signal(L, SIGTERM); }
static int l_kill(lua_State *L) { return send_signal(L, SIGKILL); }

static int l_close(lua_State *L) {
  sb_process *p = check_process(L, 1);
  if (p->closed) return 0;
  if (atomic_load(&p->started) && !p->is_main && !try_reap(p, 0))
    return sb_error(L, "ValueError", "Cannot close a process while it is still running. "
                                     "You should first call join() or terminate().");
  p->closed = 1;
  return 0;
}

static int g_exitcode(lua_State *L) {
  sb_process *p = check_open(L, 1);
  if (!atomic_load(&p->started) || p->is_main) return 0;
  if (!try_reap(p, 0) || p->exitcode == EXIT_UNKNOWN) return 0;
  lua_pushinteger(L, p->exitcode);
  return 1;
}

static int g_pid(lua_State *L) {
  sb_process *p = check_open(L, 1);
  if (p->pid <= 0) return 0;
  lua_pushinteger(L, p->pid);
  return 1;
}

static int g_name(lua_State *L) {
  lua_pushstring(L, check_process(L, 1)->name);
  return 1;
}

static int s_name(lua_State *L) {
  sb_process *p = check_process(L, 1);
  snprintf(p->name, sizeof p->name, "%s", luaL_checkstring(L, 3));
  return 0;
}

static int g_daemon(lua_State *L) {
  lua_pushboolean(L, check_process(L, 1)->daemon);
  return 1;
}

static int s_daemon(lua_State *L) {
  sb_process *p = check_open(L, 1);
  if (atomic_load(&p->started)) return sb_error(L, "AssertionError", "process has already started");
  p->daemon = lua_toboolean(L, 3);
  return 0;
}

static int g_closed(lua_State *L) {
  lua_pushboolean(L, check_process(L, 1)->closed);
  return 1;
}

static int process_tostring(lua_State *L) {
  sb_process *p = check_process(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "<%s name='%s'", p->is_main ? "_MainProcess" : "Process", p->name);
  luaL_addvalue(&b);
  if (p->closed) {
    luaL_addstring(&b, " closed>");
    luaL_pushresult(&b);
    return 1;
  }
  int st = (int)atomic_load(&p->state);
  if (!p->is_main && st == P_RUNNING && is_my_child(p) && try_reap(p, 0)) st = P_DONE;
  if (p->pid > 0) {
    lua_pushfstring(L, " pid=%d", (int)p->pid);
    luaL_addvalue(&b);
  }
  if (p->parent > 0) {
    lua_pushfstring(L, " parent=%d", (int)p->parent);
    luaL_addvalue(&b);
  }
  if (p->is_main || st == P_RUNNING) luaL_addstring(&b, " started");
  else if (st == P_DONE && p->exitcode != EXIT_UNKNOWN) {
    lua_pushfstring(L, " stopped exitcode=%d", p->exitcode);
    luaL_addvalue(&b);
  } else if (st == P_DONE) luaL_addstring(&b, " stopped");
  else luaL_addstring(&b, " initial");
  if (p->daemon) luaL_addstring(&b, " daemon");
  luaL_addchar(&b, '>');
  luaL_pushresult(&b);
  return 1;
}

/* A handle collected in the parent: reap the child now if it has ended. */
static void process_drop(srt_obj *o) {
  sb_process *p = (sb_process *)o;
  if (!p->is_main && atomic_load(&p->state) == P_RUNNING && is_my_child(p)) try_reap(p, 0);
}

/* For strand.wait: 1 if o has ended; else 0 with a pidfd to poll in *pidfd
** (-1 when there is none: an unstarted process never becomes ready). */
int sb_process_ended(srt_obj *o, int *pidfd) {
  sb_process *p = (sb_process *)o;
  *pidfd = -1;
  if (p->is_main) {
    if (p->pid != getpid()) *pidfd = srt_pidfd(p->pid);
    return p->pid != getpid() && *pidfd < 0;
  }
  if (!atomic_load(&p->started) || p->pid <= 0) return 0;
  if (try_reap(p, 0) || atomic_load(&p->state) == P_DONE) return 1;
  *pidfd = srt_pidfd(p->pid);
  return *pidfd < 0;
}

/* ---- strand.multiprocessing functions --------------------------------------------------- */
static int l_current_process(lua_State *L) {
  sb_push_ref(L, &current(L)->h);
  return 1;
}

static int l_parent_process(lua_State *L) {
  sb_process *me = current(L);
  if (me->is_main) return 0;
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.parent_process") == LUA_TUSERDATA) {
    sb_process *pp = sb_test(L, -1, SB_T_PROCESS);
    if (pp && pp->pid == me->parent) return 1;
  }
  lua_pop(L, 1);
  sb_process *pp = sb_new_obj(L, SB_T_PROCESS, sizeof *pp);
  pp->pid = me->parent;
  pp->is_main = 1;
  atomic_store(&pp->state, P_RUNNING);
  atomic_store(&pp->started, 1);
  char *colon = strrchr(me->ident, ':');
  if (colon) snprintf(pp->name, sizeof pp->name, "Process-%.*s", (int)(colon - me->ident), me->ident);
  else strcpy(pp->name, "MainProcess");
  sb_push_handle(L, &pp->h);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.parent_process");
  return 1;
}

static int l_active_children(lua_State *L) {
  reap_finished();
  size_t n;
  sb_process **all = reg_snapshot(&n);
  if (!all) return luaL_error(L, "not enough memory");
  lua_createtable(L, (int)n, 0);
  int k = 0;
  for (size_t i = 0; i < n; i++) {
    if (atomic_load(&all[i]->state) == P_RUNNING) {
      sb_push_ref(L, &all[i]->h);
      lua_rawseti(L, -2, ++k);
    }
  }
  release_snapshot(all, n);
  return 1;
}

/* ---- shutdown --------------------------------------------------------------------------- */
static int64_t grace_deadline(void) { return srt_deadline(GRACE_S); }

/* Wait for p without raising; SIGKILL it when the grace period is over. */
static void finish_quietly(sb_process *p, int64_t grace) {
  if (wait_ended(NULL, p, grace)) return;
  if (p->pid > 0) kill(p->pid, SIGKILL);
  wait_ended(NULL, p, SRT_FOREVER);
}

void sb_processes_shutdown(int kill_all) {
  if (!srt_arena_ready()) return;
  size_t n;
  sb_process **all = reg_snapshot(&n);
  if (!all) return;
  for (size_t i = 0; i < n; i++)
    if ((kill_all || all[i]->daemon) && atomic_load(&all[i]->state) == P_RUNNING)
      kill(all[i]->pid, SIGTERM);
  for (size_t i = 0; i < n && !kill_all; i++) {
    if (all[i]->daemon) continue;
    /* join, but a Ctrl-C here ends the wait and terminates the rest */
    int fd = srt_pidfd(all[i]->pid);
    while (!try_reap(all[i], 0)) {
      struct pollfd pf = {fd, POLLIN, 0};
      int r = fd >= 0 ? srt_poll(&pf, 1, SRT_FOREVER) : SRT_OK;
      if (r == SRT_INTERRUPTED || r == SRT_EPERM) {
        kill_all = 1;
        break;
      }
      if (fd < 0) usleep(5000);
    }
    if (fd >= 0) close(fd);
  }
  if (kill_all)
    for (size_t i = 0; i < n; i++)
      if (atomic_load(&all[i]->state) == P_RUNNING) kill(all[i]->pid, SIGTERM);
  int64_t grace = grace_deadline();
  for (size_t i = 0; i < n; i++) finish_quietly(all[i], grace);
  release_snapshot(all, n);
}

/* ---- registration -------------------------------------------------------------------------- */
static const luaL_Reg process_methods[] = {
    {"start", l_start},         {"join", l_join}, {"is_alive", l_is_alive},
    {"terminate", l_terminate}, {"kill", l_kill}, {"close", l_close},
    {NULL, NULL}};
static const luaL_Reg process_getters[] = {
    {"name", g_name},     {"daemon", g_daemon}, {"pid", g_pid},       {"ident", g_pid},
    {"exitcode", g_exitcode}, {"closed", g_closed}, {NULL, NULL}};
static const luaL_Reg process_setters[] = {{"name", s_name}, {"daemon", s_daemon}, {NULL, NULL}};

static const sb_type process_type = {
    SB_T_PROCESS, "strand.Process", process_methods, process_getters, process_setters,
    NULL,         process_tostring, NULL,            NULL};

static void install_once(void) {
  pthread_atfork(NULL, NULL, atfork_child);
  atexit(child_atexit);
}

void sb_open_process(lua_State *L) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install_once);
  sb_register_type(&process_type);
  sb_set_local_hooks(SB_T_PROCESS, NULL, process_drop);
  sb_setfn(L, "Process", l_process_new);
  sb_setfn(L, "current_process", l_current_process);
  sb_setfn(L, "parent_process", l_parent_process);
  sb_setfn(L, "active_children", l_active_children);
}

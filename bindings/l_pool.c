/*
** l_pool.c — strand.Pool, its AsyncResult, and the engine of forked worker
** processes that Pool and ProcessPoolExecutor share.
**
** The engine. Starting it forks the first workers straight from the calling
** Lua state (consistent: we are inside a C call), so they take tasks at
** once, then one small "server" process, from the same state. Every worker,
** a replacement forked later included, starts from that same copy of the
** program, as with Python's fork pools. The server watches: it sleeps in
** poll() on a pidfd per worker, on a pidfd of the owner, and on a signalfd
** (the owner pokes it with SIGTERM to terminate the pool). When a
** worker dies, the server fails the task it was running (its claim word in
** the queue says which) with a ProcessDied error naming the pid and the
** signal or exit code, and forks a replacement, its own child; workers that
** reach maxtasksperchild exit and are replaced the same way. When the owner
** dies, the server kills the workers and exits.
**
** Who reaps whom: the first workers are the owner's children. The server
** reads how one of them ended from /proc while it is a zombie (only the owner
** could reap it, and it waits until the server has looked), then says so in
** the worker's slot; the owner reaps it then, at its next pool call or join.
** Replacements are the server's children and it reaps them. The owner waits
** only for its own pids, never waitpid(-1): nobody else's children are
** collected. join returns when the server says every worker is gone, and
** reaps the server, which exits then (one that does not within a second is
** reaped later: at the next pool, or the end of the program).
**
** Workers take tasks from a task queue in the arena and write each result
** straight into its Future or AsyncResult, so no result travels through the
** owner. A map is cut into chunks; a chunk travels as one task and its
** results come back as one message (arrays of numbers without the codec).
*/
#include "sb.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define MAX_CHUNK 65536 /* items per task at most: a chunk is decoded on one Lua stack */
#define LIVENESS_S 1.0  /* an idle first worker checks this often that its owner lives */
#define TERM_GRACE_S 1.0 /* terminate: how long a stopped task may take to unwind */

void sb_map_loop_prepare(lua_State *L); /* task.c */

static int open_pidfd(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
static int pidfd_kill(int fd, int sig) { return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0); }

/* ---- the engine -------------------------------------------------------------------- */
enum { E_RUN, E_CLOSE, E_TERMINATE };

typedef struct wslot {
  _Atomic pid_t pid;            /* 0 while there is no worker */
  int pidfd;                    /* in the server */
  srt_tqnode *_Atomic current;  /* the task it runs (its claim word) */
  uint64_t number;              /* ForkPoolWorker-N */
  _Atomic pid_t first;          /* the owner's child in this slot, until the owner reaps it */
  _Atomic uint32_t first_ended; /* the server has seen it end: the owner may reap it */
  srt_tctx *_Atomic ctx;        /* the worker's thread, to interrupt its task */
} wslot;

struct sb_engine {
  srt_taskq q;
  srt_mutex mu;                 /* guards broken_msg */
  int nworkers, maxtasks;
  _Atomic uint32_t state;       /* E_* */
  _Atomic uint32_t broken;
  _Atomic uint32_t gone;        /* futex word: 1 when no worker is left and none will come */
  _Atomic uint32_t gone_sleepers;
  _Atomic uint32_t joined;
  pid_t owner;
  srt_obj *self;                /* the Pool or executor: its workers take no reference on it */
  _Atomic pid_t server;
  int server_pidfd;             /* in the owner */
  void *init;                   /* (initializer, initargs), packed */
  size_t init_len;
  void *broken_msg;             /* the error every task gets once broken */
  size_t broken_len;
  _Atomic uint64_t counter;     /* worker numbers */
  char name[32];
  wslot slots[];
};

/* Store the error of every task from now on (the one at the top), close the
** queue and fail what is queued. The first error wins. */
static void engine_break(lua_State *L, sb_engine *e) {
  void *msg;
  size_t len = sb_pack_error(L, -1, NULL, 0, &msg);
  srt_mutex_lock(&e->mu);
  if (!atomic_load(&e->broken) && msg) {
    e->broken_msg = msg;
    e->broken_len = len;
    msg = NULL;
    atomic_store(&e->broken, 1);
  }
  srt_mutex_unlock(&e->mu);
  sb_packed_free(msg, len, NULL);
  srt_taskq_close(&e->q);
  srt_tqnode *n = srt_taskq_drain(&e->q);
  while (n) {
    srt_tqnode *next = n->next;
    sb_task *t = (sb_task *)n;
    int one = t->fut->nparts == 1;
    void *m;
    sb_task_drop_args(t);
    size_t ml = sb_pack_error(L, -1, one ? t->fut->buf : NULL, one ? SB_INLINE : 0, &m);
    sb_future_done_part(t->fut, t->part, m, ml, 1);
    sb_task_release(t);
    n = next;
  }
}

int sb_engine_broken(lua_State *L, sb_engine *e) {
  if (!atomic_load(&e->broken)) return 0;
  int n = e->broken_msg ? sb_unpack(L, e->broken_msg, e->broken_len) : 0;
  if (n < 1) sb_push_error(L, "BrokenProcessPool", "the process pool is not usable anymore");
  else if (n > 1) lua_pop(L, n - 1);
  return 1;
}

/* ---- the worker process ------------------------------------------------------------- */
static void worker_failed_init(lua_State *L, sb_engine *e) {
  /* the initializer's error is at the top */
  fprintf(stderr, "Exception in initializer:\n%s\n", luaL_tolstring(L, -1, NULL));
  lua_pop(L, 1);
  lua_getfield(L, -1, "message");
  const char *m = lua_tostring(L, -1);
  sb_push_error(L, "BrokenProcessPool",
                lua_pushfstring(L, "a worker's initializer failed: %s", m ? m : "?"));
  lua_getfield(L, -4, "traceback");
  lua_setfield(L, -2, "traceback");
  lua_getfield(L, -4, "worker");
  lua_setfield(L, -2, "worker");
  engine_break(L, e);
}

/* A task that runs pure Lua notices a cancel (Future:cancel, terminate)
** through the interrupt hook that the wake signal arms in this state, the
** state the worker inherited and runs its tasks in. */
static void arm_on_interrupt(lua_State *L) { sb_install_interrupt_hook(L); }

/* A forked process holds one reference for each handle of the state it was
** forked from (sb_handles_fork_prepare, taken by the forker): give them back
** on the way out. One that is killed keeps them, as a killed Process does. */
static void worker_exit(lua_State *L, int code) __attribute__((noreturn));
static void worker_exit(lua_State *L, int code) {
  srt_take_interrupt();
  fflush(NULL);
  sb_handles_release_all(L);
  sb_process_release_self();
  _exit(code);
}

/* "ForkPoolWorker-N", written here: Lua's "%d" goes through snprintf, and
** luaL_addstring through a lazily bound call inside liblua; a fresh worker
** would fault in the code of both (and the dynamic linker's) for one name. */
static void push_worker_name(lua_State *L, const char *base, uint64_t n) {
  char name[sizeof ((sb_engine *)0)->name + 24], *p = name + sizeof name;
  do *--p = (char)('0' + n % 10);
  while ((n /= 10) != 0);
  *--p = '-';
  size_t len = strlen(base);
  p -= len;
  memcpy(p, base, len);
  lua_pushlstring(L, p, (size_t)(name + sizeof name - p));
}

/* A worker of the server dies with it (PDEATHSIG: the server has one
** thread). A first worker cannot rely on that (the owner's forking thread
** may end first); the server kills it when the owner dies, and, should the
** server be gone too, it notices on its own, idle, within LIVENESS_S. */
static void worker_main(lua_State *L, sb_engine *e, int i, pid_t parent, int first)
    __attribute__((noreturn));
static void worker_main(lua_State *L, sb_engine *e, int i, pid_t parent, int first) {
  if (!first) prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  sigset_t none;
  sigemptyset(&none);
  signal(SIGINT, SIG_IGN); /* Ctrl-C belongs to the owner, which ends the pool */
  signal(SIGTERM, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  wslot *s = &e->slots[i];
  sb_handles_forget(L, e->self);
  sb_handles_fork_child(L);
  sb_child_exit_guard(L);
  atomic_store(&s->ctx, srt_self());
  push_worker_name(L, e->name, s->number);
  sb_process_name_self(L, lua_tostring(L, -1), e->owner);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.name");
  srt_take_interrupt();
  arm_on_interrupt(L);
  int base = lua_gettop(L);
  if (e->init && sb_run_initializer(L, e->init, e->init_len)) {
    worker_failed_init(L, e);
    worker_exit(L, 1);
  }
  lua_settop(L, base);
  int ntasks = 0;
  for (;;) {
    srt_tqnode *n;
    int r = srt_taskq_pop(&e->q, &n, &s->current, first ? srt_deadline(LIVENESS_S) : SRT_FOREVER);
    if (r == SRT_BROKEN) break;
    if (r == SRT_TIMEDOUT) {
      if (getppid() != parent) break; /* orphaned: the owner is gone */
      continue;
    }
    if (r != SRT_OK) { /* a cancel that came after its task ended */
      srt_take_interrupt();
      continue;
    }
    sb_task *t = (sb_task *)n;
    if (atomic_load(&e->state) == E_TERMINATE) sb_future_cancel(t->fut, 1);
    else sb_task_run(L, t);
    atomic_store(&s->current, NULL);
    sb_task_release(t);
    lua_settop(L, base);
    sb_run_callbacks(L);
    fflush(stdout);
    if (atomic_load(&e->state) == E_TERMINATE) break;
    if (e->maxtasks && ++ntasks >= e->maxtasks) break;
  }
  worker_exit(L, 0);
}

/* ---- the server process -------------------------------------------------------------- */
typedef struct server_fds {
  int sfd, ppfd;
} server_fds;

static int spawn_worker(lua_State *L, sb_engine *e, int i, server_fds *fds) {
  wslot *s = &e->slots[i];
  s->number = atomic_fetch_add(&e->counter, 1) + 1;
  pid_t server = getpid();
  sb_handles_fork_prepare(L, NULL); /* the owner's handles: forgotten here */
  pid_t pid = fork();
  if (pid < 0) {
    sb_handles_fork_undo(L, NULL);
    return -1;
  }
  if (pid == 0) {
    close(fds->sfd);
    if (fds->ppfd >= 0) close(fds->ppfd);
    for (int j = 0; j < e->nworkers; j++)
      if (e->slots[j].pidfd >= 0) close(e->slots[j].pidfd);
    worker_main(L, e, i, server, 0);
  }
  s->pidfd = open_pidfd(pid);
  atomic_store(&s->pid, pid);
  srt_taskq_consumers(&e->q, 1);
  if (s->pidfd < 0) { /* cannot watch it: do without it */
    srt_taskq_consumers(&e->q, -1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    atomic_store(&s->pid, 0);
    return -1;
  }
  return 0;
}

typedef struct death {
  sb_task *t;
  pid_t pid;
  uint64_t number;
  siginfo_t si;
  sb_engine *e;
} death;

static int fail_task_body(lua_State *L) {
  death *d = lua_touserdata(L, 1);
  char why[128];
  int exitcode = 0;
  if (d->si.si_code == CLD_EXITED) {
    exitcode = d->si.si_status;
    snprintf(why, sizeof why, "exited with code %d", exitcode);
  } else if (d->si.si_code == CLD_KILLED || d->si.si_code == CLD_DUMPED) {
    exitcode = -d->si.si_status;
    const char *abbrev = sigabbrev_np(d->si.si_status);
    snprintf(why, sizeof why, "was killed by signal %d (SIG%s)", d->si.si_status, abbrev ? abbrev : "?");
  } else {
    snprintf(why, sizeof why, "ended (how is not known)");
  }
  lua_pushfstring(L, "worker process %d (%s-%d) %s while running a task", (int)d->pid, d->e->name,
                  (int)d->number, why);
  sb_push_error(L, "ProcessDied", lua_tostring(L, -1));
  lua_pushinteger(L, d->pid);
  lua_setfield(L, -2, "pid");
  lua_pushinteger(L, exitcode);
  lua_setfield(L, -2, "exitcode");
  sb_future *f = d->t->fut;
  int one = f->nparts == 1;
  void *msg;
  sb_task_drop_args(d->t); /* the error may take their place */
  size_t len = sb_pack_error(L, -1, one ? f->buf : NULL, one ? SB_INLINE : 0, &msg);
  sb_future_done_part(f, d->t->part, msg, len, 1);
  return 0;
}

/* How a process that is not our child ended, read from /proc while it is a
** zombie: field 52 of its stat is the status waitpid would give. */
static void status_from_proc(pid_t pid, siginfo_t *si) {
  char buf[1024];
  srt_proc_stat(pid, buf, sizeof buf);
  si->si_code = 0;
  char *p = strrchr(buf, ')');
  if (!p) return;
  int field = 2; /* the one the ')' closes */
  for (p++; *p && field < 52; p++)
    if (*p == ' ') field++;
  if (field != 52) return;
  int st = atoi(p);
  if (WIFEXITED(st)) {
    si->si_code = CLD_EXITED;
    si->si_status = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    si->si_code = WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED;
    si->si_status = WTERMSIG(st);
  }
}

static void settle_task(lua_State *L, sb_engine *e, death *dp, srt_tqnode *n);

/* Settle worker i, which has ended (its pidfd is readable): how it ended,
** and the task it held. */
static void reap_worker(lua_State *L, sb_engine *e, int i) {
  wslot *s = &e->slots[i];
  death d;
  memset(&d, 0, sizeof d);
  d.pid = atomic_load(&s->pid);
  int first = d.pid == atomic_load(&s->first);
  srt_tqnode *n = atomic_exchange(&s->current, NULL); /* it is gone: nobody sets it now */
  if (first && n) { /* the owner's child: look (only to say why it died), let the owner reap */
    status_from_proc(d.pid, &d.si);
  } else if (!first) {
    while (waitid(P_PIDFD, (id_t)s->pidfd, &d.si, WEXITED) != 0 && errno == EINTR) {
    }
  }
  close(s->pidfd);
  s->pidfd = -1;
  srt_taskq_consumers(&e->q, -1);
  srt_tctx *ctx = atomic_exchange(&s->ctx, NULL); /* freed below, after its task */
  atomic_store(&s->pid, 0);
  d.number = s->number;
  d.e = e;
  if (first) atomic_store(&s->first_ended, 1);
  if (n) settle_task(L, e, &d, n);
  srt_free(ctx); /* the worker's thread context: nobody interrupts it now */
}

static void settle_task(lua_State *L, sb_engine *e, death *dp, srt_tqnode *n) {
  death d = *dp;
  srt_taskq_unclaim(&e->q, n);
  d.t = (sb_task *)n;
  if (atomic_load(&e->state) == E_TERMINATE) {
    sb_future_cancel(d.t->fut, 1);
  } else {
    int top = lua_gettop(L);
    lua_pushcfunction(L, fail_task_body);
    lua_pushlightuserdata(L, &d);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) sb_future_cancel(d.t->fut, 1);
    lua_settop(L, top);
  }
  sb_task_release(d.t);
}

static int alive(sb_engine *e) {
  int n = 0;
  for (int i = 0; i < e->nworkers; i++) n += e->slots[i].pidfd >= 0;
  return n;
}

static int respawn_wanted(sb_engine *e) {
  uint32_t st = atomic_load(&e->state);
  if (atomic_load(&e->broken)) return 0;
  return st == E_RUN || (st == E_CLOSE && srt_taskq_size(&e->q) > 0);
}

/* No worker left, and none will be forked: tell the owner, then go. */
static void server_exit(lua_State *L, sb_engine *e) __attribute__((noreturn));
static void server_exit(lua_State *L, sb_engine *e) {
  sb_taskq_cancel_all(&e->q);
  sb_handles_release_all(L);
  atomic_store(&e->gone, 1);
  if (atomic_load(&e->gone_sleepers)) srt_futex_wake(&e->gone, INT_MAX);
  _exit(0);
}

/* Terminate: a worker that is idle sees the closed queue and leaves; one
** running a task is interrupted (Cancelled in the task, at its next
** instruction check or wait) and leaves after it; so each gives its
** references back. One that has not left after TERM_GRACE_S (stuck in a C
** call) is killed. */
static void stop_workers(lua_State *L, sb_engine *e) {
  for (int i = 0; i < e->nworkers; i++) {
    srt_tctx *ctx = atomic_load(&e->slots[i].ctx);
    if (e->slots[i].pidfd >= 0 && ctx && atomic_load(&e->slots[i].current))
      srt_interrupt(ctx, SRT_INT_CANCEL);
  }
  int64_t grace = srt_deadline(TERM_GRACE_S);
  for (int i = 0; i < e->nworkers; i++) {
    if (e->slots[i].pidfd < 0) continue;
    struct pollfd pf = {e->slots[i].pidfd, POLLIN, 0};
    int64_t left = grace - srt_now_ns();
    int ms = left > 0 ? (int)(left / 1000000) + 1 : 0;
    int r;
    while ((r = poll(&pf, 1, ms)) < 0 && errno == EINTR) {
    }
    if (r == 0) { /* still there: kill it */
      pidfd_kill(e->slots[i].pidfd, SIGKILL);
      while (poll(&pf, 1, -1) < 0 && errno == EINTR) {
      }
    }
    reap_worker(L, e, i);
  }
}

static void server_main(lua_State *L, sb_engine *e) __attribute__((noreturn));
static void server_main(lua_State *L, sb_engine *e) {
  sb_handles_forget(L, e->self);
  sb_handles_fork_child(L);
  signal(SIGINT, SIG_IGN); /* Ctrl-C belongs to the owner, which ends the pool */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  server_fds fds;
  fds.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  fds.ppfd = open_pidfd(e->owner);
  /* An owner already exiting: pidfd_open says ESRCH while getppid() may
  ** still name it (seen on 6.x). Without this the server would poll only
  ** its signalfd, forever, holding the owner's stdout open. */
  if ((fds.ppfd < 0 && errno == ESRCH) || getppid() != e->owner) atomic_store(&e->state, E_TERMINATE);
  for (int i = 0; i < e->nworkers; i++) { /* the first workers, forked by the owner */
    pid_t pid = atomic_load(&e->slots[i].pid);
    e->slots[i].pidfd = pid > 0 ? open_pidfd(pid) : -1;
  }
  struct pollfd *pf = calloc((size_t)e->nworkers + 2, sizeof *pf);
  int *who = calloc((size_t)e->nworkers + 2, sizeof *who);
  if (!pf || !who) _exit(1);
  for (int round = 0;; round++) {
    int k = 0;
    pf[k++] = (struct pollfd){fds.sfd, POLLIN, 0};
    pf[k++] = (struct pollfd){fds.ppfd, POLLIN, 0};
    for (int i = 0; i < e->nworkers; i++)
      if (e->slots[i].pidfd >= 0) {
        who[k] = i;
        pf[k++] = (struct pollfd){e->slots[i].pidfd, POLLIN, 0};
      }
    /* Not in the first round: the first workers may have ended, and been
    ** reaped by the owner (a pool closed and joined at once), before this
    ** server could open their pidfds; then no poll would ever wake it, and
    ** an owner waiting for it at exit would hang. Look at the state first. */
    if (round > 0 && poll(pf, (nfds_t)k, -1) < 0 && errno != EINTR) _exit(1);
    if (pf[0].revents) {
      struct signalfd_siginfo si;
      while (read(fds.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
    }
    if (pf[1].revents) atomic_store(&e->state, E_TERMINATE); /* the owner is gone */
    if (atomic_load(&e->state) == E_TERMINATE) {
      stop_workers(L, e);
      server_exit(L, e);
    }
    for (int j = 2; j < k; j++)
      if (pf[j].revents) reap_worker(L, e, who[j]);
    int failed_forks = 0;
    for (int i = 0; i < e->nworkers && respawn_wanted(e); i++)
      if (e->slots[i].pidfd < 0 && spawn_worker(L, e, i, &fds) != 0) failed_forks++;
    if (failed_forks && alive(e) == 0) {
      sb_push_error(L, "BrokenProcessPool", "cannot fork a worker process");
      engine_break(L, e);
      lua_pop(L, 1);
    }
    if (alive(e) == 0 && (atomic_load(&e->state) != E_RUN || atomic_load(&e->broken)))
      server_exit(L, e);
  }
}

/* ---- the owner's side ----------------------------------------------------------------- */
/* Servers that said "gone" but may not have exited yet, reaped later; and
** engines of dropped executors, freed once they are done. */
static pthread_mutex_t orphan_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t *late;
static size_t nlate, late_cap;
static sb_engine **orphans;
static size_t norphans, orphan_cap;

static int engines_alive; /* in this process: the chunk cache goes with the last */

static int push_ptr(void **arr, size_t *n, size_t *cap, size_t elem, const void *v) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, c * elem);
    if (!p) return -1;
    *arr = p;
    *cap = c;
  }
  memcpy((char *)*arr + *n * elem, v, elem);
  (*n)++;
  return 0;
}

/* Reap this engine's first workers the server has seen end (all of them,
** and wait for them, when all is set: the server is done). */
static void reap_firsts(sb_engine *e, int all) {
  for (int i = 0; i < e->nworkers; i++) {
    wslot *s = &e->slots[i];
    pid_t pid = atomic_load(&s->first);
    if (!pid || (!all && !atomic_load(&s->first_ended))) continue;
    pid_t r;
    while ((r = waitpid(pid, NULL, all ? 0 : WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == pid || (r < 0 && errno == ECHILD)) atomic_store(&s->first, 0);
  }
}

static void reap_late(int wait) { /* orphan_mu held */
  for (size_t i = 0; i < nlate;) {
    pid_t r = waitpid(late[i], NULL, wait ? 0 : WNOHANG);
    if (r == 0) {
      i++;
      continue;
    }
    late[i] = late[--nlate];
  }
}

static void free_engine(sb_engine *e) {
  pid_t srv = atomic_load(&e->server);
  if (e->owner == getpid() && srv > 0 && waitpid(srv, NULL, WNOHANG) == 0) {
    pthread_mutex_lock(&orphan_mu); /* exiting: reap it later */
    push_ptr((void **)&late, &nlate, &late_cap, sizeof *late, &srv);
    pthread_mutex_unlock(&orphan_mu);
  }
  if (--engines_alive <= 0) {
    engines_alive = 0;
    sb_block_cache_clear();
  }
  if (e->server_pidfd >= 0 && e->owner == getpid()) close(e->server_pidfd);
  sb_taskq_cancel_all(&e->q);
  srt_taskq_destroy(&e->q);
  srt_mutex_destroy(&e->mu);
  sb_packed_free(e->init, e->init_len, NULL);
  sb_packed_free(e->broken_msg, e->broken_len, NULL);
  /* the thread contexts of workers the server did not settle: first ones
  ** that ended before it could watch them */
  for (int i = 0; i < e->nworkers; i++) srt_free(atomic_exchange(&e->slots[i].ctx, NULL));
  srt_free(e);
}

/* The server exits as soon as it has seen the last worker end: reap it at
** join, so that a joined pool, which a program may keep for long, holds no
** zombie and no descriptor (each kept pool held both until it was
** collected). One that has not exited within a second (stopped?) is left to
** the engine's end, as before. */
static void reap_server(sb_engine *e, int64_t deadline) {
  pid_t srv = atomic_load(&e->server);
  if (srv <= 0 || e->server_pidfd < 0) return;
  int64_t limit = srt_deadline(1.0);
  if (deadline > limit || deadline == SRT_FOREVER) deadline = limit;
  struct pollfd pf = {e->server_pidfd, POLLIN, 0};
  if (srt_poll(&pf, 1, deadline) != SRT_OK) return; /* not yet, or interrupted */
  srt_reap(srv, NULL, 1);
  close(e->server_pidfd);
  e->server_pidfd = -1;
  atomic_store(&e->server, 0);
}

/* The workers have ended: reap the first ones, and the server. */
static void finish_engine(sb_engine *e, int64_t deadline) {
  reap_firsts(e, 1);
  reap_server(e, deadline);
  atomic_store(&e->joined, 1);
}

static int wait_gone(lua_State *L, sb_engine *e, int owner, int64_t deadline);

/* Reap what has finished: late servers, and the engines of dropped executors
** that are done (all of them, waiting, when wait is set). */
static void reap_orphans(int wait) {
  for (;;) { /* one engine at a time, out of the list while it is looked at */
    sb_engine *e = NULL;
    pthread_mutex_lock(&orphan_mu);
    for (size_t i = 0; i < norphans; i++)
      if (wait || atomic_load(&orphans[i]->gone)) {
        e = orphans[i];
        orphans[i] = orphans[--norphans];
        break;
      }
    pthread_mutex_unlock(&orphan_mu);
    if (!e) break;
    int64_t deadline = wait ? srt_deadline(5.0) : 0;
    int done = atomic_load(&e->joined) ? wait_gone(NULL, e, 1, deadline)
                                        : sb_engine_join(NULL, e, deadline) && wait_gone(NULL, e, 1, deadline);
    if (done) {
      free_engine(e);
    } else if (!wait) {
      pthread_mutex_lock(&orphan_mu);
      push_ptr((void **)&orphans, &norphans, &orphan_cap, sizeof *orphans, &e);
      pthread_mutex_unlock(&orphan_mu);
      break;
    }
  }
  pthread_mutex_lock(&orphan_mu);
  reap_late(wait);
  pthread_mutex_unlock(&orphan_mu);
}

static void orphans_atfork_child(void) {
  pthread_mutex_init(&orphan_mu, NULL);
  free(orphans);
  orphans = NULL;
  norphans = orphan_cap = 0;
  free(late);
  late = NULL;
  nlate = late_cap = 0;
}

void sb_engine_orphan(sb_engine *e) {
  sb_engine_close(e);
  if (e->owner != getpid()) return;
  if (atomic_load(&e->joined)) { /* shut down: only the engine is left */
    sb_engine_free(e);
    return;
  }
  pthread_mutex_lock(&orphan_mu);
  push_ptr((void **)&orphans, &norphans, &orphan_cap, sizeof *orphans, &e);
  pthread_mutex_unlock(&orphan_mu);
}

/* Kill and reap the first workers forked so far (starting failed). */
static void undo_start(sb_engine *e, int n) {
  for (int i = 0; i < n; i++) {
    pid_t pid = atomic_load(&e->slots[i].pid);
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
  }
}

sb_engine *sb_engine_start(lua_State *L, srt_obj *self, int nworkers, int maxtasks, void **init,
                           size_t init_len, const char *worker_name) {
  reap_orphans(0);
  sb_map_loop_prepare(L); /* once per process, not once per worker */
  size_t sz = sizeof(sb_engine) + (size_t)nworkers * sizeof(wslot);
  sb_engine *e = sb_alloc(L, sz);
  engines_alive++;
  memset(e, 0, sz);
  e->init = *init; /* taken over */
  e->init_len = init_len;
  *init = NULL;
  srt_taskq_init(&e->q);
  srt_mutex_init(&e->mu);
  e->nworkers = nworkers;
  e->maxtasks = maxtasks;
  e->owner = getpid();
  e->self = self;
  e->server_pidfd = -1;
  snprintf(e->name, sizeof e->name, "%s", worker_name);
  for (int i = 0; i < nworkers; i++) e->slots[i].pidfd = -1;
  /* the children start with SIGTERM blocked: a poke that comes before the
  ** server has set up its signalfd waits there instead of killing it */
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  pid_t me = getpid();
  int err = 0, made = 0;
  srt_taskq_consumers(&e->q, nworkers); /* before the server may count one out */
  for (; made < nworkers; made++) {
    wslot *s = &e->slots[made];
    s->number = atomic_fetch_add(&e->counter, 1) + 1;
    sb_handles_fork_prepare(L, self);
    pid_t pid = fork();
    if (pid == 0) worker_main(L, e, made, me, 1);
    if (pid < 0) {
      err = errno;
      sb_handles_fork_undo(L, self);
      break;
    }
    atomic_store(&s->pid, pid);
    atomic_store(&s->first, pid);
  }
  if (!err) sb_handles_fork_prepare(L, self);
  pid_t server = err ? -1 : fork();
  if (server == 0) server_main(L, e);
  if (server < 0 && !err) {
    err = errno;
    sb_handles_fork_undo(L, self);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err) {
    undo_start(e, made);
    free_engine(e);
    sb_error(L, "OSError", "cannot fork the pool's processes: %s", strerror(err));
  }
  atomic_store(&e->server, server);
  e->server_pidfd = open_pidfd(server);
  return e;
}

int sb_engine_submit(sb_engine *e, sb_task *t) {
  if (e->owner == getpid()) reap_firsts(e, 0);
  return srt_taskq_push(&e->q, &t->node);
}

/* Make the server look at the state again. Only while it is unreaped can its
** pid not name another process. */
static void poke_server(sb_engine *e) {
  pid_t s = atomic_load(&e->server);
  if (s > 0 && !atomic_load(&e->joined) && !atomic_load(&e->gone)) kill(s, SIGTERM);
}

/* No poke: the workers leave on the closed queue once it is empty, and the
** server, which wakes as each ends, sees the new state then. */
void sb_engine_close(sb_engine *e) {
  uint32_t run = E_RUN;
  atomic_compare_exchange_strong(&e->state, &run, E_CLOSE);
  srt_taskq_close(&e->q);
}

void sb_engine_terminate_queue(sb_engine *e) { sb_taskq_cancel_all(&e->q); }

void sb_engine_terminate(sb_engine *e) {
  atomic_store(&e->state, E_TERMINATE);
  srt_taskq_close(&e->q);
  sb_taskq_cancel_all(&e->q);
  poke_server(e);
}

/* Has the server process ended (without saying "gone": it was killed)? */
static int server_dead(sb_engine *e, int owner) {
  pid_t srv = atomic_load(&e->server);
  if (srv <= 0) return 1; /* reaped at join */
  int fd = owner ? e->server_pidfd : -1;
  if (fd < 0) return !srt_pid_alive(srv);
  struct pollfd pf = {fd, POLLIN, 0};
  return poll(&pf, 1, 0) > 0;
}

/* Wait until the server says every worker is gone (1), the deadline (0). */
static int wait_gone(lua_State *L, sb_engine *e, int owner, int64_t deadline) {
  for (;;) {
    if (atomic_load(&e->gone)) return 1;
    if (server_dead(e, owner)) { /* killed from outside: end the workers ourselves */
      if (owner)
        for (int i = 0; i < e->nworkers; i++) {
          pid_t pid = atomic_load(&e->slots[i].first);
          if (pid) kill(pid, SIGKILL);
        }
      return 1;
    }
    atomic_fetch_add(&e->gone_sleepers, 1);
    int r = srt_futex_wait(&e->gone, 0, deadline);
    atomic_fetch_sub(&e->gone_sleepers, 1);
    if (r == SRT_TIMEDOUT && !atomic_load(&e->gone)) return 0;
    if (r == SRT_INTERRUPTED) {
      if (L) sb_raise_interrupt(L);
      return 0;
    }
  }
}

/* The owner's short way, while every worker is still a first one (its own
** child): wait for each to end, without reaping, and without the round trip
** through the server. 1: all ended, none holding a task (so the server has
** nothing to settle); 0: the server must be waited for; -1: the deadline. */
static int wait_firsts(lua_State *L, sb_engine *e, int64_t deadline) {
  int n = e->nworkers, fds[64];
  if (n > 64) return 0;
  for (int i = 0; i < n; i++) {
    pid_t pid = atomic_load(&e->slots[i].pid);
    if (!pid || pid != atomic_load(&e->slots[i].first)) return 0;
  }
  int ok = 1;
  for (int i = 0; i < n; i++) fds[i] = -1;
  for (int i = 0; i < n && ok == 1; i++) {
    fds[i] = open_pidfd(atomic_load(&e->slots[i].first));
    if (fds[i] < 0) ok = 0;
  }
  for (int i = 0; i < n && ok == 1; i++) {
    for (;;) { /* 250 ms slices: a lost interrupt signal costs at most that */
      if (srt_interrupt_pending()) {
        ok = -2;
        break;
      }
      int64_t left = deadline - srt_now_ns();
      if (left <= 0) {
        ok = -1;
        break;
      }
      int ms = left / 1000000 + 1 > 250 ? 250 : (int)(left / 1000000 + 1);
      struct pollfd pf = {fds[i], POLLIN, 0};
      if (poll(&pf, 1, ms) > 0) break;
    }
  }
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
  if (ok == -2) {
    if (L) sb_raise_interrupt(L);
    return -1;
  }
  for (int i = 0; i < n && ok == 1; i++)
    if (atomic_load(&e->slots[i].current)) ok = 0; /* died with a task: the server fails it */
  return ok;
}

int sb_engine_join(lua_State *L, sb_engine *e, int64_t deadline) {
  if (atomic_load(&e->joined)) return 1;
  int owner = e->owner == getpid();
  int r = owner && atomic_load(&e->state) != E_RUN ? wait_firsts(L, e, deadline) : 0;
  if (r < 0) return 0;
  if (r == 0 && !wait_gone(L, e, owner, deadline)) return 0;
  if (owner) finish_engine(e, deadline);
  else atomic_store(&e->joined, 1);
  return 1;
}

/* Free the engine once its server is done with it; until then it waits in
** the orphan list (reaped at the next pool start, or at exit). */
void sb_engine_free(sb_engine *e) {
  reap_orphans(0);
  if (atomic_load(&e->gone) || server_dead(e, e->owner == getpid())) {
    free_engine(e);
    return;
  }
  pthread_mutex_lock(&orphan_mu);
  push_ptr((void **)&orphans, &norphans, &orphan_cap, sizeof *orphans, &e);
  pthread_mutex_unlock(&orphan_mu);
}

/* ---- Pool ------------------------------------------------------------------------------ */
enum { P_RUN, P_CLOSE, P_TERMINATE };

typedef struct sb_pool {
  srt_obj h;
  sb_engine *eng;
  void *init;      /* until the engine takes it over */
  size_t init_len;
  int processes;
  _Atomic uint32_t state;
  pid_t owner;
  uint64_t serial;
} sb_pool;

typedef struct live_pool {
  sb_pool *p;
  uint64_t serial;
} live_pool;
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static live_pool *live;
static size_t nlive, live_cap;

static void live_add(sb_pool *p) {
  pthread_mutex_lock(&live_mu);
  if (nlive == live_cap) {
    size_t cap = live_cap ? live_cap * 2 : 8;
    live_pool *np = realloc(live, cap * sizeof *np);
    if (!np) {
      pthread_mutex_unlock(&live_mu);
      return;
    }
    live = np;
    live_cap = cap;
  }
  live[nlive].p = p;
  live[nlive].serial = p->serial;
  nlive++;
  pthread_mutex_unlock(&live_mu);
}

static void live_remove(sb_pool *p) {
  pthread_mutex_lock(&live_mu);
  for (size_t i = 0; i < nlive; i++)
    if (live[i].p == p) {
      live[i] = live[--nlive];
      break;
    }
  pthread_mutex_unlock(&live_mu);
}

static void atfork_child(void) {
  pthread_mutex_init(&live_mu, NULL);
  free(live);
  live = NULL;
  nlive = live_cap = 0;
  orphans_atfork_child();
}

static void pool_terminate_quiet(sb_pool *p, int64_t deadline) {
  atomic_store(&p->state, P_TERMINATE);
  sb_engine_terminate(p->eng);
  sb_engine_join(NULL, p->eng, deadline);
}

static void pool_destroy(srt_obj *o) {
  sb_pool *p = (sb_pool *)o;
  sb_packed_free(p->init, p->init_len, NULL);
  p->init = NULL;
  if (!p->eng) return;
  if (p->owner == getpid()) {
    live_remove(p);
    if (!atomic_load(&p->eng->joined)) pool_terminate_quiet(p, srt_deadline(5.0));
    if (atomic_load(&p->eng->joined)) sb_engine_free(p->eng);
  } else {
    sb_engine_terminate(p->eng); /* the owner reaps the server at its exit */
  }
  p->eng = NULL;
}

#define check_pool(L, i) ((sb_pool *)sb_check(L, i, SB_T_POOL))

static void check_running(lua_State *L, sb_pool *p) {
  sb_run_callbacks(L);
  if (atomic_load(&p->state) != P_RUN) sb_error(L, "ValueError", "Pool not running");
  if (sb_engine_broken(L, p->eng)) lua_error(L);
}

static void queue_task(lua_State *L, sb_pool *p, sb_task *t) {
  srt_incref(&t->fut->h); /* the queue's */
  if (sb_engine_submit(p->eng, t) != SRT_OK) {
    sb_task_release(t);
    if (sb_engine_broken(L, p->eng)) lua_error(L);
    sb_error(L, "ValueError", "Pool not running");
  }
}

/* Push an AsyncResult (or Future) for f(table.unpack(args)) and queue it. */
static sb_future *submit_call(lua_State *L, sb_pool *p, int fn, int args, uint32_t type) {
  fn = lua_absindex(L, fn);
  args = lua_absindex(L, args);
  luaL_checktype(L, fn, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, args)) luaL_checktype(L, args, LUA_TTABLE);
  int n = lua_istable(L, args) ? (int)lua_rawlen(L, args) : 0;
  luaL_checkstack(L, n + 8, "too many arguments");
  int base = lua_gettop(L);
  for (int i = 1; i <= n; i++) lua_rawgeti(L, args, i);
  sb_future *f = sb_future_new(L, type, SB_FK_CALL, 1);
  sb_task *t = &f->task;
  t->fut = f;
  t->kind = SB_TASK_CALL;
  t->args_len = sb_pack_at(L, base + 1, n, f->buf, SB_INLINE, &t->args, "args", 1);
  t->fn = sb_fn_ref(L, fn);
  if (n > 0) lua_replace(L, base + 1); /* the future takes the arguments' place */
  lua_settop(L, base + 1);
  queue_task(L, p, t);
  return f;
}

/* Python's default: len / (4 * processes), rounded up. */
static int64_t default_chunksize(sb_pool *p, int64_t n) {
  int64_t d = 4 * (int64_t)p->processes;
  int64_t c = n / d + (n % d ? 1 : 0);
  return c < 1 ? 1 : c;
}

/* Push a map future over the table at list, its chunks queued. */
static sb_future *submit_map(lua_State *L, sb_pool *p, int fn, int list, int64_t chunksize,
                             int kind, uint32_t type) {
  fn = lua_absindex(L, fn);
  list = lua_absindex(L, list);
  luaL_checktype(L, fn, LUA_TFUNCTION);
  luaL_checktype(L, list, LUA_TTABLE);
  int64_t n = (int64_t)luaL_len(L, list);
  if (chunksize <= 0) chunksize = default_chunksize(p, n);
  if (chunksize > MAX_CHUNK) chunksize = MAX_CHUNK;
  int64_t nparts = n > 0 ? (n + chunksize - 1) / chunksize : 1;
  if (nparts > UINT32_MAX / 2) luaL_error(L, "too many items");
  sb_future *f = sb_future_new(L, type, SB_FK_MAP, (uint32_t)nparts);
  f->nitems = n;
  f->chunksize = chunksize;
  if (n == 0) {
    sb_future_done_part(f, 0, NULL, 0, 0);
    return f;
  }
  sb_fn_unref(sb_fn_ref(L, fn)); /* sent once: each task's reference is a lookup */
  for (int64_t k = 0; k < nparts; k++) {
    int64_t first = k * chunksize + 1;
    int64_t count = n - first + 1 < chunksize ? n - first + 1 : chunksize;
    void *args;
    size_t len = sb_pack_slice(L, list, first, count, &args, "items");
    sb_task *t = sb_new_part_task(L, f, (uint32_t)k, kind, args, len);
    t->count = count;
    t->fn = sb_fn_ref(L, fn);
    queue_task(L, p, t);
  }
  return f;
}

/* The chunksize at slot (nil: 0, the default), named as the caller wrote it. */
static int64_t chunksize_option(lua_State *L, int slot, const char *what, int pos) {
  sb_optsrc src = {what, "chunksize", pos};
  int64_t c = sb_opt_integer(L, slot, &src, 0);
  if (!lua_isnoneornil(L, slot) && c < 1) {
    if (pos) return luaL_argerror(L, pos, "chunksize must be >= 1");
    return luaL_error(L, "%s: chunksize must be >= 1", what);
  }
  return c;
}

/* Wait for every part of a map, storing each into the result list as it
** arrives; raise the first error once all are done. */
static int collect_map(lua_State *L, sb_future *f) {
  lua_createtable(L, f->nitems > INT_MAX ? INT_MAX : (int)f->nitems, 0);
  int t = lua_gettop(L);
  sb_tarray_prefault(L, t);
  for (uint32_t k = 0; k < f->nparts; k++) {
    sb_future_wait_parts(L, f, k, SRT_FOREVER);
    if (atomic_load(&f->ndone) <= k) return sb_error(L, "Cancelled", "the pool was terminated");
    uint32_t i = atomic_load(&f->order[k]);
    sb_part *pp = &f->parts[i];
    if (!pp->failed && pp->msg) {
      sb_unpack_into(L, pp->msg, pp->len, t, (int64_t)i * f->chunksize + 1);
      /* nobody reads it again: its block carries the next chunk */
      void *msg = pp->msg;
      pp->msg = NULL;
      sb_packed_recycle(msg, pp->len);
    }
  }
  sb_run_callbacks(L);
  if (atomic_load(&f->failed_part) >= 0) return sb_future_push_result(L, f);
  return 1;
}

static int l_map(lua_State *L) {
  sb_pool *p = check_pool(L, 1);
  check_running(L, p);
  sb_future *f = submit_map(L, p, 2, 3, chunksize_option(L, 4, "map", 4), SB_TASK_MAP, SB_T_ASYNCRESULT);
  return collect_map(L, f);
}

static int l_starmap(lua_State *L) {
  sb_pool *p = check_pool(L, 1);
  check_running(L, p);
  sb_future *f = submit_map(L, p, 2, 3, chunksize_option(L, 4, "starmap", 4), SB_TASK_STARMAP, SB_T_ASYNCRESULT);
  return collect_map(L, f);
}

static int imap_common(lua_State *L, int ordered) {
  sb_pool *p = check_pool(L, 1);
  check_running(L, p);
  int64_t c = chunksize_option(L, 4, ordered ? "imap" : "imap_unordered", 4);
  submit_map(L, p, 2, 3, c ? c : 1, SB_TASK_MAP, SB_T_ASYNCRESULT);
  return sb_push_map_iter(L, lua_gettop(L), ordered, SRT_FOREVER);
}

static int l_imap(lua_State *L) { return imap_common(L, 1); }
static int l_imap_unordered(lua_State *L) { return imap_common(L, 0); }

static int l_apply(lua_State *L) {
  sb_pool *p = check_pool(L, 1);
  check_running(L, p);
  sb_future *f = submit_call(L, p, 2, 3, SB_T_ASYNCRESULT);
  sb_future_wait(L, f, SRT_FOREVER);
  sb_run_callbacks(L);
  return sb_future_push_result(L, f);
}

/* callback and error_callback at cb and cb+1, or in the options table at
** cb: checked before anything is queued, pushed (nil when absent). */
static void push_callbacks(lua_State *L, const char *what, int cb) {
  static const char *const keys[] = {"callback", "error_callback"};
  int table = lua_istable(L, cb);
  for (int i = 0; i < 2; i++) {
    if (table) lua_getfield(L, cb, keys[i]);
    else lua_pushvalue(L, cb + i);
    sb_optsrc src = {what, keys[i], table ? 0 : cb + i};
    sb_opt_type(L, -1, &src, LUA_TFUNCTION);
  }
}

/* Call them when the future at fidx is done (callbacks at the top, popped). */
static void add_callbacks(lua_State *L, int fidx) {
  int c = lua_gettop(L) - 1, e = c + 1;
  if (!lua_isnil(L, c) || !lua_isnil(L, e)) sb_future_on_done(L, fidx, c, lua_isnil(L, e) ? 0 : e, 1);
  lua_pop(L, 2);
}

/* pool:apply_async(f, args [, callback [, error_callback]]) or
** pool:apply_async(f, args, {callback=, error_callback=}) */
static int l_apply_async(lua_State *L) {
  static const char *const keys[] = {"callback", "error_callback", NULL};
  sb_pool *p = check_pool(L, 1);
  check_running(L, p);
  lua_settop(L, 5);
  if (lua_istable(L, 4)) sb_check_options(L, 4, "apply_async", keys);
  push_callbacks(L, "apply_async", 4); /* 6, 7 */
  submit_call(L, p, 2, 3, SB_T_ASYNCRESULT); /* 8 */
  lua_insert(L, 6);
  add_callbacks(L, 6);
  return 1;
}

/* pool:map_async(f, list [, chunksize [, callback [, error_callback]]]) or
** pool:map_async(f, list, {chunksize=, callback=, error_callback=}) */
static int map_async_common(lua_State *L, int kind) {
  static const char *const keys[] = {"chunksize", "callback", "error_callback", NULL};
  const char *what = kind == SB_TASK_MAP ? "map_async" : "starmap_async";
  sb_pool *p = check_pool(L, 1);
  check_running(L, p);
  lua_settop(L, 6);
  int64_t c;
  if (lua_istable(L, 4)) {
    sb_check_options(L, 4, what, keys);
    lua_getfield(L, 4, "chunksize");
    c = chunksize_option(L, -1, what, 0);
    lua_pop(L, 1);
    push_callbacks(L, what, 4); /* 7, 8 */
  } else {
    c = chunksize_option(L, 4, what, 4);
    push_callbacks(L, what, 5);
  }
  submit_map(L, p, 2, 3, c, kind, SB_T_ASYNCRESULT); /* 9 */
  lua_insert(L, 7);
  add_callbacks(L, 7);
  return 1;
}

static int l_map_async(lua_State *L) { return map_async_common(L, SB_TASK_MAP); }
static int l_starmap_async(lua_State *L) { return map_async_common(L, SB_TASK_STARMAP); }

static int l_close(lua_State *L) {
  sb_pool *p = check_pool(L, 1);
  uint32_t run = P_RUN;
  if (atomic_compare_exchange_strong(&p->state, &run, P_CLOSE)) sb_engine_close(p->eng);
  sb_run_callbacks(L);
  return 0;
}

static int l_terminate(lua_State *L) {
  sb_pool *p = check_pool(L, 1);
  atomic_store(&p->state, P_TERMINATE);
  sb_engine_terminate(p->eng);
  sb_engine_join(L, p->eng, SRT_FOREVER);
  sb_run_callbacks(L);
  return 0;
}

/* pool:join([timeout]) -> whether the workers have ended */
static int l_join(lua_State *L) {
  sb_pool *p = check_pool(L, 1);
  int64_t deadline = sb_opt_deadline(L, 2);
  if (atomic_load(&p->state) == P_RUN) return sb_error(L, "ValueError", "Pool is still running");
  int ok = sb_engine_join(L, p->eng, deadline);
  sb_run_callbacks(L);
  lua_pushboolean(L, ok);
  return 1;
}

static int g_processes(lua_State *L) {
  lua_pushinteger(L, check_pool(L, 1)->processes);
  return 1;
}

static int pool_tostring(lua_State *L) {
  sb_pool *p = check_pool(L, 1);
  static const char *const st[] = {"RUN", "CLOSE", "TERMINATE"};
  lua_pushfstring(L, "<strand.Pool state=%s pool_size=%d>", st[atomic_load(&p->state) % 3], p->processes);
  return 1;
}

/* strand.Pool(n [, initializer [, initargs [, maxtasksperchild]]]) or
** strand.Pool{processes=, initializer=, initargs=, maxtasksperchild=} */
static int l_pool_new(lua_State *L) {
  static const char *const keys[] = {"processes", "initializer", "initargs", "maxtasksperchild", NULL};
  lua_settop(L, 4);
  if (!lua_istable(L, 1) && !lua_isnil(L, 1) && lua_type(L, 1) != LUA_TNUMBER)
    return luaL_argerror(L, 1, "options table or number of processes expected");
  sb_optsrc src[4];
  sb_push_options(L, "Pool", keys, src); /* 5 processes, 6 initializer, 7 initargs, 8 maxtasksperchild */
  lua_Integer n = sb_opt_integer(L, 5, &src[0], 0);
  if (lua_isnil(L, 5)) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    n = ncpu > 0 ? ncpu : 1;
  }
  if (n < 1) return sb_error(L, "ValueError", "Number of processes must be at least 1");
  if (n > 4096) return sb_error(L, "ValueError", "Number of processes must be at most 4096");
  sb_opt_type(L, 6, &src[1], LUA_TFUNCTION);
  sb_opt_type(L, 7, &src[2], LUA_TTABLE);
  lua_Integer maxtasks = sb_opt_integer(L, 8, &src[3], 0);
  if (!lua_isnil(L, 8) && maxtasks < 1)
    return sb_error(L, "ValueError", "maxtasksperchild must be a positive int or nil");
  sb_pool *p = srt_obj_new(SB_T_POOL, sizeof *p);
  if (!p) return sb_error(L, "MemoryError", "strand arena is full");
  p->processes = (int)n;
  p->owner = getpid();
  p->serial = srt_counter_next(SRT_CNT_GENERIC);
  sb_push_handle(L, &p->h); /* 9 */
  if (!lua_isnil(L, 6)) {
    p->init_len = sb_pack(L, 6, 2, NULL, 0, &p->init, "initializer");
  }
  p->eng = sb_engine_start(L, &p->h, (int)n, (int)maxtasks, &p->init, p->init_len, "ForkPoolWorker");
  live_add(p);
  lua_settop(L, 9);
  return 1;
}

/* ---- AsyncResult -------------------------------------------------------------------------- */
static sb_future *check_async(lua_State *L, int i) { return sb_check(L, i, SB_T_ASYNCRESULT); }

static int l_get(lua_State *L) {
  sb_future *f = check_async(L, 1);
  int64_t deadline = sb_opt_deadline(L, 2);
  sb_run_callbacks(L);
  if (!sb_future_wait(L, f, deadline)) return sb_error(L, "Timeout", "timed out waiting for the result");
  sb_run_callbacks(L);
  lua_settop(L, 1);
  return sb_future_push_result(L, f);
}

static int l_wait(lua_State *L) {
  sb_future *f = check_async(L, 1);
  int64_t deadline = sb_opt_deadline(L, 2);
  sb_run_callbacks(L);
  int done = sb_future_wait(L, f, deadline);
  sb_run_callbacks(L);
  lua_pushboolean(L, done);
  return 1;
}

static int l_ready(lua_State *L) {
  sb_future *f = check_async(L, 1);
  sb_run_callbacks(L);
  lua_pushboolean(L, sb_future_is_done(f));
  return 1;
}

static int l_successful(lua_State *L) {
  sb_future *f = check_async(L, 1);
  sb_run_callbacks(L);
  if (!sb_future_is_done(f)) return sb_error(L, "ValueError", "the result is not ready");
  lua_pushboolean(L, atomic_load(&f->state) == SB_F_FINISHED && atomic_load(&f->failed_part) < 0);
  return 1;
}

static int async_tostring(lua_State *L) {
  sb_future *f = check_async(L, 1);
  lua_pushfstring(L, "<strand.AsyncResult at %p %s>", (void *)f,
                  sb_future_is_done(f) ? "ready" : "not ready");
  return 1;
}

/* ---- end of program ----------------------------------------------------------------------- */
void sb_pools_atexit(int cancel_all) {
  (void)cancel_all; /* as Python's: pools still running at exit are terminated */
  pid_t me = getpid();
  for (;;) {
    pthread_mutex_lock(&live_mu);
    sb_pool *p = NULL;
    while (nlive) {
      live_pool lp = live[--nlive];
      if (srt_obj_valid(&lp.p->h, SB_T_POOL) && lp.p->serial == lp.serial && lp.p->owner == me) {
        p = lp.p;
        srt_incref(&p->h);
        break;
      }
    }
    pthread_mutex_unlock(&live_mu);
    if (!p) break;
    if (p->eng && !atomic_load(&p->eng->joined)) pool_terminate_quiet(p, srt_deadline(5.0));
    srt_decref(&p->h);
  }
  reap_orphans(1);
}

static const luaL_Reg pool_methods[] = {
    {"map", l_map},
    {"starmap", l_starmap},
    {"imap", l_imap},
    {"imap_unordered", l_imap_unordered},
    {"apply", l_apply},
    {"apply_async", l_apply_async},
    {"map_async", l_map_async},
    {"starmap_async", l_starmap_async},
    {"close", l_close},
    {"terminate", l_terminate},
    {"join", l_join},
    {NULL, NULL}};
static const luaL_Reg pool_getters[] = {{"processes", g_processes}, {NULL, NULL}};

static const sb_type pool_type = {SB_T_POOL, "strand.Pool", pool_methods, pool_getters, NULL,
                                  l_terminate, pool_tostring, NULL,        pool_destroy};

static const luaL_Reg async_methods[] = {
    {"get", l_get}, {"wait", l_wait}, {"ready", l_ready}, {"successful", l_successful}, {NULL, NULL}};

static const sb_type async_type = {SB_T_ASYNCRESULT, "strand.AsyncResult", async_methods, NULL, NULL,
                                   NULL, async_tostring, NULL, sb_future_destroy};

static void install_atfork(void) { pthread_atfork(NULL, NULL, atfork_child); }

void sb_open_pool(lua_State *L) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install_atfork);
  sb_register_type(&pool_type);
  sb_register_type(&async_type);
  sb_setfn(L, "Pool", l_pool_new);
}

/*
** deadlock.c — the wait-for graph of the threads of this process that are
** blocked with no timeout on a Lock or RLock, or joining a thread.
**
** A thread about to sleep forever on lock L enters the graph. L's owner word
** names the thread holding it; if that thread is in the graph too, it waits
** for some lock M (or to join some thread: then that thread is the one to
** follow), whose owner is followed in turn, and so on. Coming back
** to the entering thread means a cycle: each of its threads waits forever
** for a lock that only another of them could release. The entering thread
** is the one that sees it, because a waiting thread takes no new lock: every
** edge of a cycle exists by the time its last member enters. That thread is
** told (SRT_DEADLOCK) instead of sleeping, and srt_deadlock_report() says
** who waits for what and who holds it.
**
** A thread waiting for a plain Lock it acquired itself is left alone: with
** a Lock, as in Python, another thread or process may do the release.
*/
#include "srt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 64
#define REPORT_MAX 4096

typedef struct waiter {
  uint64_t who;       /* pid << 32 | tid */
  const srt_lock *on; /* the lock it waits for, or NULL when joining */
  uint64_t joins;     /* the thread it waits to end */
  char name[NAME_MAX_LEN];
} waiter;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static waiter *tab;
static size_t ntab, captab;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static __thread char self_name[NAME_MAX_LEN];
static __thread char report[REPORT_MAX];

/* A forked child has one thread, which is not waiting: start empty. */
static void before_fork(void) { pthread_mutex_lock(&mu); }
static void after_fork_parent(void) { pthread_mutex_unlock(&mu); }
static void after_fork_child(void) {
  ntab = 0;
  pthread_mutex_unlock(&mu);
}
static void install(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }

void srt_deadlock_name(const char *name) {
  snprintf(self_name, sizeof self_name, "%s", name ? name : "");
}

int srt_deadlock_named(void) { return self_name[0] != 0; }

const char *srt_deadlock_report(void) { return report; }

static waiter *find(uint64_t who) {
  for (size_t i = 0; i < ntab; i++)
    if (tab[i].who == who) return &tab[i];
  return NULL;
}

static const char *kind_of(const srt_lock *l) { return l->recursive ? "RLock" : "Lock"; }

static void thread_label(char *buf, size_t n, const char *name, uint64_t who) {
  if (name && *name) snprintf(buf, n, "%s", name);
  else snprintf(buf, n, "thread %u", (unsigned)(uint32_t)who);
}

/* Who must act for w to go on: the lock's holder, or the joined thread. */
static uint64_t holder_of(const srt_lock *on, uint64_t joins) {
  return on ? atomic_load(&on->owner) : joins;
}

/* One line of the report: `who` waits for (on, joins), held by `by`. */
static size_t report_line(size_t off, const char *who, const srt_lock *on, const char *by) {
  if (off >= sizeof report) return off;
  if (on)
    return off + (size_t)snprintf(report + off, sizeof report - off,
                                  "\n  %s waits for strand.%s %p held by %s", who, kind_of(on),
                                  (const void *)on, by);
  return off + (size_t)snprintf(report + off, sizeof report - off, "\n  %s waits for %s to end", who, by);
}

/* path[0] is the entering thread (waiting for on/joins), path[1..len-1]
** the others, each holding what the one before waits for. */
static void write_report(const srt_lock *on, uint64_t me, waiter **path, size_t len) {
  size_t off = (size_t)snprintf(report, sizeof report, "%zu threads wait forever for each other:", len);
  for (size_t i = 0; i < len; i++) {
    char who[NAME_MAX_LEN + 16], by[NAME_MAX_LEN + 16];
    thread_label(who, sizeof who, i == 0 ? self_name : path[i]->name, i == 0 ? me : path[i]->who);
    if (i + 1 < len) thread_label(by, sizeof by, path[i + 1]->name, path[i + 1]->who);
    else thread_label(by, sizeof by, self_name, me);
    off = report_line(off, who, i == 0 ? on : path[i]->on, by);
  }
}

/* 1: waiting here would close a cycle (report written, not entered). */
static int enter(const srt_lock *l, uint64_t joins) {
  pthread_once(&once, install);
  uint64_t me = srt_self_owner_id();
  pid_t pid = (pid_t)(me >> 32);
  int cycle = 0;
  pthread_mutex_lock(&mu);
  waiter **path = malloc((ntab + 2) * sizeof *path);
  size_t len = 1;
  uint64_t holder = holder_of(l, joins);
  for (size_t step = 0; path && step <= ntab; step++) {
    if (!holder || (pid_t)(holder >> 32) != pid) break; /* free, or another process */
    if (holder == me) {
      cycle = step > 0 || !l; /* a plain self-wait on a Lock is allowed; joining oneself is not */
      break;
    }
    waiter *w = find(holder);
    if (!w) break; /* the holder is running: it may release */
    path[len++] = w;
    holder = holder_of(w->on, w->joins);
  }
  if (cycle) write_report(l, me, path, len);
  free(path);
  if (!cycle) {
    if (ntab == captab) {
      size_t cap = captab ? captab * 2 : 16;
      waiter *t = realloc(tab, cap * sizeof *t);
      if (t) {
        tab = t;
        captab = cap;
      }
    }
    if (ntab < captab) { /* out of memory: the wait goes unwatched */
      waiter *w = &tab[ntab++];
      w->who = me;
      w->on = l;
      w->joins = joins;
      memcpy(w->name, self_name, sizeof w->name);
    }
  }
  pthread_mutex_unlock(&mu);
  return cycle;
}

int srt_deadlock_enter(const srt_lock *l) { return enter(l, 0); }

int srt_deadlock_enter_join(uint64_t thread) { return thread ? enter(NULL, thread) : 0; }

void srt_deadlock_leave(void) {
  uint64_t me = srt_self_owner_id();
  pthread_mutex_lock(&mu);
  waiter *w = find(me);
  if (w) *w = tab[--ntab];
  pthread_mutex_unlock(&mu);
}

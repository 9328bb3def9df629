/*
** futex.c — time, futex waits, thread contexts and interrupts, the robust
** internal mutex and the futex condition.
**
** Every blocking wait in strand ends in srt_futex_wait. It sleeps on a shared
** (not private) futex so waiters in different processes meet, and it returns
** early when the thread is interrupted (cancel, Ctrl-C): the interrupter sets
** a flag and sends the wake signal, whose handler does nothing but make the
** futex syscall fail with EINTR. A signal that lands just before the thread
** enters the kernel would be lost, so no single sleep is longer than
** SLICE_NS; the caller re-checks its condition and the flag after each one.
*/
#include "srt.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SLICE_NS 250000000LL /* 250 ms: bound on a lost wake-up or interrupt */

int srt_wake_signal;

/* ---- time ----------------------------------------------------------------- */
int64_t srt_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t srt_deadline(double timeout_s) {
  if (timeout_s < 0 || timeout_s != timeout_s || timeout_s > 1e9) return SRT_FOREVER;
  return srt_now_ns() + (int64_t)(timeout_s * 1e9);
}

double srt_monotonic(void) { return (double)srt_now_ns() / 1e9; }

double srt_walltime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

pid_t srt_gettid(void) { return (pid_t)syscall(SYS_gettid); }

size_t srt_proc_stat(pid_t pid, char *buf, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = cap ? fopen(path, "r") : NULL;
  size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
  if (f) fclose(f);
  if (cap) buf[n] = 0;
  return n;
}

/* A zombie still answers kill(pid, 0), but holds nothing any more. */
int srt_pid_alive(pid_t pid) {
  if (pid <= 0) return 0;
  if (kill(pid, 0) != 0 && errno == ESRCH) return 0;
  char buf[256];
  if (!srt_proc_stat(pid, buf, sizeof buf)) return 0;
  const char *rp = strrchr(buf, ')');
  return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

/* ---- thread contexts -------------------------------------------------------- */
static __thread srt_tctx *self_ctx;
static __thread pid_t self_pid;

srt_tctx *srt_tctx_new(void) {
  srt_tctx *c = srt_calloc(sizeof *c);
  if (!c) return NULL;
  c->pid = getpid();
  c->tid = srt_gettid();
  return c;
}

void srt_set_self(srt_tctx *ctx) {
  uint64_t me = srt_self_owner_id(); /* cached: no system call after the first */
  ctx->pid = (pid_t)(me >> 32);
  ctx->tid = (pid_t)(uint32_t)me;
  self_ctx = ctx;
  self_pid = ctx->pid;
}

/* After a fork the surviving thread still points at its parent's context, so
** the pid is compared (getpid is cheap enough off the hot paths that use it). */
srt_tctx *srt_self(void) {
  if (self_ctx && self_pid == getpid()) return self_ctx;
  srt_tctx *c = srt_tctx_new();
  if (c) {
    self_ctx = c;
    self_pid = c->pid;
  }
  return c;
}

void srt_interrupt(srt_tctx *ctx, int why) {
  if (!ctx) return;
  atomic_store(&ctx->interrupt, why);
  if (ctx->tid > 0 && srt_wake_signal > 0)
    syscall(SYS_tgkill, ctx->pid, ctx->tid, srt_wake_signal);
}

int srt_take_interrupt(void) {
  srt_tctx *c = srt_self();
  return c ? atomic_exchange(&c->interrupt, SRT_INT_NONE) : 0;
}

int srt_interrupt_pending(void) {
  srt_tctx *c = self_ctx;
  return c ? atomic_load_explicit(&c->interrupt, memory_order_relaxed) : 0;
}

static void (*_Atomic wake_hook)(void);

void srt_set_wake_hook(void (*fn)(void)) { atomic_store(&wake_hook, fn); }

/* Breaks the futex wait; the hook lets the bindings make busy Lua code in
** this thread notice the interrupt too. */
static void wake_handler(int sig) {
  (void)sig;
  void (*fn)(void) = atomic_load(&wake_hook);
  if (fn && srt_interrupt_pending()) fn();
}

void srt_signals_init(void) {
  if (srt_wake_signal) return;
  srt_wake_signal = SIGRTMIN + 4;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = wake_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: the point is to break the futex wait */
  sigaction(srt_wake_signal, &sa, NULL);
}

/* ---- futex ---------------------------------------------------------------- */
int srt_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline) {
  if (srt_interrupt_pending()) return SRT_INTERRUPTED;
  int64_t now = srt_now_ns();
  if (now >= deadline) return SRT_TIMEDOUT;
  int64_t until = deadline - now > SLICE_NS ? now + SLICE_NS : deadline;
  struct timespec ts = {(time_t)(until / 1000000000LL), (long)(until % 1000000000LL)};
  srt_tctx *me = self_ctx;
  if (me) atomic_store_explicit(&me->waiting, 1, memory_order_relaxed);
  long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET, val, &ts, NULL,
                   FUTEX_BITSET_MATCH_ANY);
  int err = r == 0 ? 0 : errno;
  if (me) atomic_store_explicit(&me->waiting, 0, memory_order_relaxed);
  if (srt_interrupt_pending()) return SRT_INTERRUPTED;
  if (err == ETIMEDOUT && until == deadline) return SRT_TIMEDOUT;
  return SRT_OK;
}

void srt_futex_wake(_Atomic uint32_t *addr, int n) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* ---- robust mutex ------------------------------------------------------------ */
void srt_mutex_init(srt_mutex *m) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&m->m, &a);
  pthread_mutexattr_destroy(&a);
}

int srt_mutex_lock(srt_mutex *m) {
  int r = pthread_mutex_lock(&m->m);
  if (r == EOWNERDEAD) {
    /* The holder died mid-section. strand's sections leave their data
    ** readable at every step, so carry on with what is there. */
    pthread_mutex_consistent(&m->m);
    return 1;
  }
  return 0;
}

void srt_mutex_unlock(srt_mutex *m) { pthread_mutex_unlock(&m->m); }
void srt_mutex_destroy(srt_mutex *m) { pthread_mutex_destroy(&m->m); }

/* ---- condition ------------------------------------------------------------- */
/* A sequence number: waiters sleep on the value they saw, signalers bump it.
** No per-waiter state, so a waiter killed in the middle leaves nothing
** behind, unlike glibc's condvar groups. */
void srt_cond_init(srt_cond *c) {
  atomic_init(&c->seq, 0);
  atomic_init(&c->waiters, 0);
}

int srt_cond_wait(srt_cond *c, srt_mutex *m, int64_t deadline) {
  uint32_t seq = atomic_load(&c->seq);
  atomic_fetch_add(&c->waiters, 1);
  srt_mutex_unlock(m);
  int r = srt_futex_wait(&c->seq, seq, deadline);
  srt_mutex_lock(m);
  atomic_fetch_sub(&c->waiters, 1);
  return r;
}

void srt_cond_signal(srt_cond *c) {
  atomic_fetch_add(&c->seq, 1);
  if (atomic_load(&c->waiters)) srt_futex_wake(&c->seq, 1);
}

void srt_cond_broadcast(srt_cond *c) {
  atomic_fetch_add(&c->seq, 1);
  if (atomic_load(&c->waiters)) srt_futex_wake(&c->seq, INT_MAX);
}

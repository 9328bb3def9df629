/* Synchronization primitives from C: Lock, RLock, Semaphore, Event,
** Condition, Barrier, between threads and between forked processes; a
** process SIGKILLed while holding a lock; interrupts; deadlock detection. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "srt.h"
#include "tap.h"

#define THREADS 4
#define ROUNDS 100000
#define PROC_ROUNDS 50000

typedef struct shared {
  srt_lock lock, rlock, a, b;
  srt_sema sema, bsema;
  srt_event ev, ev2;
  srt_condition cond;
  srt_barrier bar;
  _Atomic int ready, woken, arrived, go;
  long counter;
  int seen[8];
} shared;
static shared *S;

static int64_t in(double s) { return srt_deadline(s); }

/* ---- helpers ------------------------------------------------------------------ */
static void *incrementer(void *arg) {
  srt_lock *l = arg;
  for (int i = 0; i < ROUNDS; i++) {
    srt_lock_acquire(l, SRT_FOREVER);
    long c = S->counter; /* a read and a write apart: a lost update shows */
    S->counter = c + 1;
    srt_lock_release(l);
  }
  return NULL;
}

static long run_incrementers(srt_lock *l) {
  pthread_t th[THREADS];
  S->counter = 0;
  for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, incrementer, l);
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  return S->counter;
}

static int wait_child(pid_t pid) {
  int st;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Sleep-free spin until *flag reaches v (bounded: 10 s). */
static int await_flag(_Atomic int *flag, int v) {
  int64_t end = in(10);
  while (atomic_load(flag) < v)
    if (srt_now_ns() > end) return 0;
    else sched_yield();
  return 1;
}

static void *release_later(void *arg) {
  srt_lock *l = arg;
  await_flag(&S->ready, 1);
  srt_lock_release(l);
  return NULL;
}

static void *release_as_other(void *arg) { return (void *)(intptr_t)srt_lock_release(arg); }

static void *interrupted_waiter(void *arg) {
  srt_tctx *ctx = srt_self();
  *(srt_tctx **)arg = ctx;
  atomic_store(&S->ready, 1);
  int r = srt_lock_acquire(&S->lock, SRT_FOREVER);
  srt_take_interrupt();
  return (void *)(intptr_t)r;
}

/* ---- Lock and RLock ------------------------------------------------------------ */
static void test_lock(void) {
  srt_lock *l = &S->lock;
  srt_lock_init(l, 0);
  ok(srt_lock_acquire(l, SRT_FOREVER) == SRT_OK && srt_lock_locked(l), "Lock: acquire");
  ok(srt_lock_acquire(l, 0) == SRT_TIMEDOUT, "Lock: a second non-blocking acquire fails");
  int64_t t0 = srt_now_ns();
  ok(srt_lock_acquire(l, in(0.05)) == SRT_TIMEDOUT && srt_now_ns() - t0 >= 45000000,
     "Lock: a timed acquire of a held lock times out after the timeout");
  ok(srt_lock_release(l) == SRT_OK && !srt_lock_locked(l), "Lock: release");
  ok(srt_lock_release(l) == SRT_EPERM, "Lock: releasing an unlocked lock is refused");
  srt_lock_acquire(l, SRT_FOREVER);
  pthread_t t;
  void *r;
  pthread_create(&t, NULL, release_as_other, l);
  pthread_join(t, &r);
  ok((intptr_t)r == SRT_OK && !srt_lock_locked(l), "Lock: another thread may release it");
  ok(run_incrementers(l) == THREADS * ROUNDS, "Lock: %d threads x %d locked increments exact",
     THREADS, ROUNDS);

  srt_lock *rl = &S->rlock;
  srt_lock_init(rl, 1);
  ok(srt_lock_acquire(rl, SRT_FOREVER) == SRT_OK && srt_lock_acquire(rl, 0) == SRT_OK &&
         rl->depth == 2,
     "RLock: the owner re-acquires");
  pthread_create(&t, NULL, release_as_other, rl);
  pthread_join(t, &r);
  ok((intptr_t)r == SRT_EPERM && srt_lock_locked(rl), "RLock: a non-owner cannot release it");
  ok(srt_lock_release(rl) == SRT_OK && srt_lock_locked(rl) && srt_lock_release(rl) == SRT_OK &&
         !srt_lock_locked(rl),
     "RLock: released once per acquire");
  ok(srt_lock_release(rl) == SRT_EPERM, "RLock: releasing it unheld is refused");
  ok(run_incrementers(rl) == THREADS * ROUNDS, "RLock: %d threads x %d increments exact", THREADS,
     ROUNDS);
  uint32_t d;
  srt_lock_acquire(rl, 0);
  srt_lock_acquire(rl, 0);
  srt_lock_acquire(rl, 0);
  d = srt_lock_release_all(rl);
  ok(d == 3 && !srt_lock_locked(rl), "RLock: release_all drops every level");
  ok(srt_lock_acquire_restore(rl, d, SRT_FOREVER) == SRT_OK && rl->depth == 3,
     "RLock: acquire_restore brings the depth back");
  srt_lock_release_all(rl);

  /* an interrupt ends a wait */
  srt_lock_acquire(l, SRT_FOREVER);
  atomic_store(&S->ready, 0);
  srt_tctx *ctx = NULL;
  pthread_create(&t, NULL, interrupted_waiter, &ctx);
  await_flag(&S->ready, 1);
  usleep(20000);
  srt_interrupt(ctx, SRT_INT_CANCEL);
  pthread_join(t, &r);
  srt_free(ctx);
  ok((intptr_t)r == SRT_INTERRUPTED, "Lock: an interrupt ends a blocked acquire");
  srt_lock_release(l);
}

/* ---- across processes ------------------------------------------------------------ */
static void test_lock_processes(void) {
  srt_lock *l = &S->lock;
  srt_lock_init(l, 0);
  S->counter = 0;
  pid_t kids[2];
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    if (kids[k] == 0) {
      for (int i = 0; i < PROC_ROUNDS; i++) {
        srt_lock_acquire(l, SRT_FOREVER);
        long c = S->counter;
        S->counter = c + 1;
        srt_lock_release(l);
      }
      _exit(0);
    }
  }
  int bad = 0;
  for (int k = 0; k < 2; k++) bad += wait_child(kids[k]) != 0;
  ok(!bad && S->counter == 2 * PROC_ROUNDS, "Lock: 2 processes x %d increments exact (%ld)",
     PROC_ROUNDS, S->counter);

  /* a child SIGKILLed while holding the Lock: the parent takes it over */
  for (int rec = 0; rec < 2; rec++) {
    srt_lock *x = rec ? &S->rlock : &S->lock;
    srt_lock_init(x, rec);
    atomic_store(&S->ready, 0);
    pid_t k = fork();
    if (k == 0) {
      srt_lock_acquire(x, SRT_FOREVER);
      atomic_store(&S->ready, 1);
      for (;;) pause();
    }
    await_flag(&S->ready, 1);
    ok(srt_lock_acquire(x, 0) == SRT_TIMEDOUT, "%s: held by a live child", rec ? "RLock" : "Lock");
    kill(k, SIGKILL);
    /* not reaped yet: the holder is a zombie, and still counts as dead */
    int64_t t0 = srt_now_ns();
    int r = srt_lock_acquire(x, in(10));
    ok(r == SRT_OWNERDEAD && srt_lock_is_owner(x),
       "%s: a child SIGKILLed holding it: the next acquirer gets it with OWNERDEAD (%.0f ms)",
       rec ? "RLock" : "Lock", (srt_now_ns() - t0) / 1e6);
    wait_child(k);
    ok(srt_lock_release(x) == SRT_OK && srt_lock_acquire(x, 0) == SRT_OK && srt_lock_release(x) == SRT_OK,
       "%s: works normally after the takeover", rec ? "RLock" : "Lock");
  }

  /* several waiters, one dead holder: exactly one gets OWNERDEAD */
  srt_lock_init(l, 0);
  atomic_store(&S->ready, 0);
  atomic_store(&S->woken, 0);
  pid_t holder = fork();
  if (holder == 0) {
    srt_lock_acquire(l, SRT_FOREVER);
    atomic_store(&S->ready, 1);
    for (;;) pause();
  }
  await_flag(&S->ready, 1);
  pid_t waiters[3];
  for (int i = 0; i < 3; i++) {
    waiters[i] = fork();
    if (waiters[i] == 0) {
      int r = srt_lock_acquire(l, in(20));
      if (r == SRT_OWNERDEAD) atomic_fetch_add(&S->woken, 1);
      if (r == SRT_OK || r == SRT_OWNERDEAD) srt_lock_release(l);
      _exit(r == SRT_OK || r == SRT_OWNERDEAD ? 0 : 1);
    }
  }
  usleep(30000);
  kill(holder, SIGKILL);
  wait_child(holder);
  bad = 0;
  for (int i = 0; i < 3; i++) bad += wait_child(waiters[i]) != 0;
  ok(!bad && atomic_load(&S->woken) == 1, "Lock: 3 waiting processes, dead holder: all get it, one is told");

  /* a process that exits holding a non-blocking-polled lock */
  srt_lock_init(l, 0);
  pid_t k = fork();
  if (k == 0) {
    srt_lock_acquire(l, SRT_FOREVER);
    _exit(0);
  }
  wait_child(k);
  ok(srt_lock_acquire(l, 0) == SRT_OWNERDEAD, "Lock: a non-blocking acquire also takes over from a dead holder");
  srt_lock_release(l);
}

/* ---- deadlock detection ----------------------------------------------------------- */
static int dl_result[2];
static void *dl_worker(void *arg) {
  int me = (int)(intptr_t)arg;
  srt_lock *first = me ? &S->b : &S->a, *second = me ? &S->a : &S->b;
  srt_deadlock_name(me ? "worker-B" : "worker-A");
  srt_lock_acquire(first, SRT_FOREVER);
  atomic_fetch_add(&S->arrived, 1);
  await_flag(&S->arrived, 2);
  int r = srt_lock_acquire_checked(second, SRT_FOREVER);
  dl_result[me] = r;
  if (r == SRT_OK) srt_lock_release(second);
  srt_lock_release(first);
  return NULL;
}

static void *report_helper(void *arg) {
  atomic_store((srt_tctx *_Atomic *)arg, srt_self());
  srt_deadlock_name("worker-B");
  srt_lock_acquire(&S->b, SRT_FOREVER);
  int r = srt_lock_acquire_checked(&S->a, SRT_FOREVER);
  if (r == SRT_OK) srt_lock_release(&S->a);
  srt_lock_release(&S->b);
  return NULL;
}

static _Atomic uint64_t joined_id;
static void *lock_after_join(void *arg) {
  (void)arg;
  srt_deadlock_name("worker-J");
  atomic_store(&joined_id, srt_self_owner_id());
  await_flag(&S->ready, 1); /* the main thread is now in the graph, joining this one */
  int r = srt_lock_acquire_checked(&S->a, SRT_FOREVER);
  if (r == SRT_OK) srt_lock_release(&S->a);
  atomic_store(&S->woken, r == SRT_DEADLOCK && strstr(srt_deadlock_report(), "worker-J waits for strand.Lock") &&
                              strstr(srt_deadlock_report(), "main waits for worker-J to end"));
  return (void *)(intptr_t)r;
}

static void *self_waiter(void *arg) {
  (void)arg;
  srt_lock_acquire(&S->a, SRT_FOREVER);
  atomic_store(&S->ready, 1);
  return (void *)(intptr_t)srt_lock_acquire_checked(&S->a, SRT_FOREVER);
}

static void test_deadlock(void) {
  for (int rec = 0; rec < 2; rec++) {
    srt_lock_init(&S->a, rec);
    srt_lock_init(&S->b, rec);
    atomic_store(&S->arrived, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, dl_worker, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    int dl = (dl_result[0] == SRT_DEADLOCK) + (dl_result[1] == SRT_DEADLOCK);
    int okc = (dl_result[0] == SRT_OK) + (dl_result[1] == SRT_OK);
    ok(dl == 1 && okc == 1, "deadlock (%s): of two threads taking two locks in opposite order, one is told, the other goes on",
       rec ? "RLock" : "Lock");
  }
  /* the report names both threads and both locks: the helper holds b and
  ** sleeps waiting for a (held here); then this thread waits for b */
  srt_lock_init(&S->a, 0);
  srt_lock_init(&S->b, 0);
  srt_deadlock_name("main");
  srt_lock_acquire(&S->a, SRT_FOREVER);
  srt_tctx *_Atomic helper_ctx = NULL;
  pthread_t h;
  pthread_create(&h, NULL, report_helper, (void *)&helper_ctx);
  int64_t end = in(10);
  while ((!atomic_load(&helper_ctx) || !atomic_load(&atomic_load(&helper_ctx)->waiting)) &&
         srt_now_ns() < end)
    sched_yield();
  int r = srt_lock_acquire_checked(&S->b, SRT_FOREVER);
  const char *rep = srt_deadlock_report();
  ok(r == SRT_DEADLOCK && strstr(rep, "2 threads wait forever") && strstr(rep, "main waits for strand.Lock") &&
         strstr(rep, "held by worker-B") && strstr(rep, "worker-B waits for strand.Lock") &&
         strstr(rep, "held by main"),
     "deadlock: the report says who waits for what and who holds it:\n# %s", rep);
  srt_lock_release(&S->a);
  pthread_join(h, NULL);
  srt_free(helper_ctx);

  /* the main thread holds a lock and joins a thread that waits for it */
  srt_lock_init(&S->a, 0);
  srt_lock_acquire(&S->a, SRT_FOREVER);
  atomic_store(&S->ready, 0);
  atomic_store(&S->woken, 0);
  atomic_store(&joined_id, 0);
  pthread_t j;
  void *jr;
  pthread_create(&j, NULL, lock_after_join, NULL);
  while (!atomic_load(&joined_id)) sched_yield();
  int entered = !srt_deadlock_enter_join(atomic_load(&joined_id));
  atomic_store(&S->ready, 1);
  pthread_join(j, &jr);
  srt_deadlock_leave();
  srt_lock_release(&S->a);
  ok(entered && (intptr_t)jr == SRT_DEADLOCK && atomic_load(&S->woken),
     "deadlock: a thread waiting for a lock held by the thread joining it is told");

  /* a thread waiting for a plain Lock it holds is not a deadlock: another may release */
  srt_lock_init(&S->a, 0);
  atomic_store(&S->ready, 0);
  pthread_t sw, rel;
  void *res;
  pthread_create(&sw, NULL, self_waiter, NULL);
  pthread_create(&rel, NULL, release_later, &S->a);
  pthread_join(rel, NULL);
  pthread_join(sw, &res);
  ok((intptr_t)res == SRT_OK, "deadlock: waiting for a Lock one holds, released by another thread, is allowed");
  srt_lock_release(&S->a);
}

/* ---- Semaphore ----------------------------------------------------------------------- */
static void *sema_taker(void *arg) {
  (void)arg;
  int n = 0;
  while (srt_sema_acquire(&S->sema, in(0.2)) == SRT_OK) n++;
  return (void *)(intptr_t)n;
}

static void test_sema(void) {
  srt_sema *s = &S->sema;
  srt_sema_init(s, 2, 0);
  ok(srt_sema_acquire(s, 0) == SRT_OK && srt_sema_acquire(s, 0) == SRT_OK &&
         srt_sema_acquire(s, 0) == SRT_TIMEDOUT,
     "Semaphore(2): two acquires, the third fails");
  ok(srt_sema_acquire(s, in(0.03)) == SRT_TIMEDOUT, "Semaphore: a timed acquire times out");
  ok(srt_sema_release(s, 5) == SRT_OK && srt_sema_value(s) == 5, "Semaphore: release(n) adds n");
  ok(srt_sema_release(s, SRT_SEMA_MAX) == SRT_EPERM && srt_sema_value(s) == 5,
     "Semaphore: overflowing the count is refused");
  srt_sema *b = &S->bsema;
  srt_sema_init(b, 1, 1);
  ok(srt_sema_release(b, 1) == SRT_EPERM && srt_sema_value(b) == 1,
     "BoundedSemaphore: releasing past the initial value is refused");
  srt_sema_init(s, 0, 0);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, sema_taker, NULL);
  for (int i = 0; i < 10000; i++) srt_sema_release(s, 1);
  long total = 0;
  for (int i = 0; i < THREADS; i++) {
    void *r;
    pthread_join(t[i], &r);
    total += (intptr_t)r;
  }
  ok(total == 10000 && srt_sema_value(s) == 0, "Semaphore: 10000 releases, 10000 acquires across %d threads", THREADS);
  /* across processes */
  srt_sema_init(s, 0, 0);
  pid_t k = fork();
  if (k == 0) _exit(srt_sema_acquire(s, in(10)) == SRT_OK ? 0 : 1);
  usleep(20000);
  srt_sema_release(s, 1);
  ok(wait_child(k) == 0, "Semaphore: a child process waits for the parent's release");
}

/* ---- Event ---------------------------------------------------------------------------- */
static void *pinger(void *arg) {
  long n = (long)(intptr_t)arg;
  for (long i = 0; i < n; i++) {
    if (srt_event_wait(&S->ev, in(10)) != SRT_OK) return (void *)1;
    srt_event_clear(&S->ev);
    srt_event_set(&S->ev2);
  }
  return NULL;
}

static void *set_then_clear(void *arg) {
  (void)arg;
  await_flag(&S->ready, 1);
  /* once the waiter counts as a sleeper it has read the word it waits on;
  ** a fixed 20 ms pause let a late waiter start after the clear (bounded) */
  int64_t end = in(10);
  while (atomic_load(&S->ev.sleepers) == 0 && srt_now_ns() < end) usleep(1000);
  srt_event_set(&S->ev);
  srt_event_clear(&S->ev);
  return NULL;
}

static void test_event(void) {
  srt_event *e = &S->ev;
  srt_event_init(e);
  ok(!srt_event_is_set(e) && srt_event_wait(e, 0) == SRT_TIMEDOUT, "Event: starts clear");
  ok(srt_event_wait(e, in(0.03)) == SRT_TIMEDOUT, "Event: a timed wait times out");
  srt_event_set(e);
  ok(srt_event_is_set(e) && srt_event_wait(e, SRT_FOREVER) == SRT_OK, "Event: set, wait returns at once");
  srt_event_clear(e);
  ok(!srt_event_is_set(e), "Event: clear");
  /* a waiter that sleeps through set()+clear() still sees it */
  atomic_store(&S->ready, 0);
  pthread_t t;
  pthread_create(&t, NULL, set_then_clear, NULL);
  atomic_store(&S->ready, 1);
  int r = srt_event_wait(e, in(10));
  pthread_join(t, NULL);
  ok(r == SRT_OK && !srt_event_is_set(e), "Event: a wait that spans set()+clear() returns true");
  /* ping-pong */
  srt_event_init(e);
  srt_event_init(&S->ev2);
  pthread_create(&t, NULL, pinger, (void *)(intptr_t)10000);
  int bad = 0;
  for (int i = 0; i < 10000 && !bad; i++) {
    srt_event_set(e);
    bad = srt_event_wait(&S->ev2, in(10)) != SRT_OK;
    srt_event_clear(&S->ev2);
  }
  void *res;
  pthread_join(t, &res);
  ok(!bad && !res, "Event: 10000 ping-pongs between threads");
  /* a child waits for an event set by the parent */
  srt_event_init(e);
  pid_t k = fork();
  if (k == 0) _exit(srt_event_wait(e, in(10)) == SRT_OK ? 0 : 1);
  usleep(20000);
  srt_event_set(e);
  ok(wait_child(k) == 0, "Event: a child process waits for the parent's set");
}

/* ---- Condition --------------------------------------------------------------------------- */
static void *cond_waiter(void *arg) {
  (void)arg;
  int died;
  srt_lock_acquire(&S->rlock, SRT_FOREVER);
  atomic_fetch_add(&S->arrived, 1);
  int r = srt_condition_wait(&S->cond, in(2), &died);
  if (r == SRT_OK) atomic_fetch_add(&S->woken, 1);
  int held = srt_lock_is_owner(&S->rlock);
  srt_lock_release(&S->rlock);
  return (void *)(intptr_t)(held ? r : 99);
}

static int cond_round(int how) { /* how: 1 = notify(1), 0 = notify_all */
  pthread_t t[3];
  atomic_store(&S->arrived, 0);
  atomic_store(&S->woken, 0);
  for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, cond_waiter, NULL);
  await_flag(&S->arrived, 3);
  srt_lock_acquire(&S->rlock, SRT_FOREVER); /* all three are now waiting */
  int n = how ? srt_condition_notify(&S->cond, 1) : srt_condition_notify(&S->cond, 1 << 30);
  srt_lock_release(&S->rlock);
  int timedout = 0;
  for (int i = 0; i < 3; i++) {
    void *r;
    pthread_join(t[i], &r);
    timedout += (intptr_t)r == SRT_TIMEDOUT;
  }
  return n * 100 + atomic_load(&S->woken) * 10 + timedout;
}

static void test_condition(void) {
  srt_lock_init(&S->rlock, 1);
  srt_condition_init(&S->cond, &S->rlock);
  int died;
  ok(srt_condition_wait(&S->cond, in(1), &died) == SRT_EPERM, "Condition: wait without the lock is refused");
  ok(srt_condition_notify(&S->cond, 1) == -1, "Condition: notify without the lock is refused");
  srt_lock_acquire(&S->rlock, SRT_FOREVER);
  srt_lock_acquire(&S->rlock, SRT_FOREVER);
  ok(srt_condition_wait(&S->cond, in(0.03), &died) == SRT_TIMEDOUT && S->rlock.depth == 2 &&
         srt_lock_is_owner(&S->rlock),
     "Condition: a wait times out holding the RLock again at its depth");
  srt_lock_release_all(&S->rlock);
  ok(cond_round(1) == 112, "Condition: notify(1) wakes exactly one of three waiters");
  ok(cond_round(0) == 330, "Condition: notify_all wakes all three");
  /* across processes: the child waits, the parent notifies */
  atomic_store(&S->arrived, 0);
  pid_t k = fork();
  if (k == 0) {
    srt_lock_acquire(&S->rlock, SRT_FOREVER);
    atomic_store(&S->arrived, 1);
    int r = srt_condition_wait(&S->cond, in(10), &died);
    srt_lock_release(&S->rlock);
    _exit(r == SRT_OK ? 0 : 1);
  }
  await_flag(&S->arrived, 1);
  srt_lock_acquire(&S->rlock, SRT_FOREVER); /* the child is waiting once this succeeds */
  int n = srt_condition_notify(&S->cond, 1);
  srt_lock_release(&S->rlock);
  ok(n == 1 && wait_child(k) == 0, "Condition: a child process is notified by the parent");
  /* a child killed while waiting does not swallow a notification */
  atomic_store(&S->arrived, 0);
  k = fork();
  if (k == 0) {
    srt_lock_acquire(&S->rlock, SRT_FOREVER);
    atomic_store(&S->arrived, 1);
    srt_condition_wait(&S->cond, SRT_FOREVER, &died);
    _exit(1);
  }
  await_flag(&S->arrived, 1);
  srt_lock_acquire(&S->rlock, SRT_FOREVER);
  srt_lock_release(&S->rlock);
  kill(k, SIGKILL);
  wait_child(k);
  pthread_t t;
  atomic_store(&S->arrived, 0);
  atomic_store(&S->woken, 0);
  pthread_create(&t, NULL, cond_waiter, NULL);
  await_flag(&S->arrived, 1);
  srt_lock_acquire(&S->rlock, SRT_FOREVER);
  n = srt_condition_notify(&S->cond, 1);
  srt_lock_release(&S->rlock);
  pthread_join(t, NULL);
  ok(n == 1 && atomic_load(&S->woken) == 1, "Condition: the node of a dead waiter is skipped");
}

/* ---- Barrier ---------------------------------------------------------------------------------- */
static void *bar_party(void *arg) {
  (void)arg;
  uint32_t idx = 99;
  int r = srt_barrier_wait(&S->bar, in(10), 0, &idx);
  if (r == SRT_OK && idx < 8) S->seen[idx]++;
  return (void *)(intptr_t)r;
}

static void test_barrier(void) {
  srt_barrier *b = &S->bar;
  srt_barrier_init(b, 4);
  memset(S->seen, 0, sizeof S->seen);
  for (int round = 0; round < 3; round++) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, bar_party, NULL);
    bar_party(NULL);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  }
  ok(S->seen[0] == 3 && S->seen[1] == 3 && S->seen[2] == 3 && S->seen[3] == 3,
     "Barrier(4): three rounds, indexes 0..3 once each per round");
  uint32_t idx;
  ok(srt_barrier_wait(b, in(0.03), 0, &idx) == SRT_BROKEN && srt_barrier_broken(b),
     "Barrier: a waiter's timeout breaks it");
  ok(srt_barrier_wait(b, in(1), 0, &idx) == SRT_BROKEN, "Barrier: a broken barrier refuses waiters");
  srt_barrier_reset(b);
  ok(!srt_barrier_broken(b) && srt_barrier_n_waiting(b) == 0, "Barrier: reset mends it");
  pthread_t t;
  pthread_create(&t, NULL, bar_party, NULL);
  while (srt_barrier_n_waiting(b) < 1) sched_yield();
  srt_barrier_abort(b);
  void *r;
  pthread_join(t, &r);
  ok((intptr_t)r == SRT_BROKEN, "Barrier: abort breaks it for a waiter");
  srt_barrier_reset(b);
  /* the action: the last party runs it, then the others go */
  srt_barrier_init(b, 2);
  pthread_create(&t, NULL, bar_party, NULL);
  while (srt_barrier_n_waiting(b) < 1) sched_yield();
  int a = srt_barrier_wait(b, in(10), 1, &idx);
  int still = srt_barrier_n_waiting(b) == 0; /* the other is held in ACTION */
  int d = srt_barrier_action_done(b, 1);
  pthread_join(t, &r);
  ok(a == SRT_BARRIER_ACTION && idx == 1 && still && d == SRT_OK && (intptr_t)r == SRT_OK,
     "Barrier: the last party runs the action, then all go");
  pthread_create(&t, NULL, bar_party, NULL);
  while (srt_barrier_n_waiting(b) < 1) sched_yield();
  srt_barrier_wait(b, in(10), 1, &idx);
  d = srt_barrier_action_done(b, 0);
  pthread_join(t, &r);
  ok(d == SRT_BROKEN && (intptr_t)r == SRT_BROKEN, "Barrier: a failed action breaks it");
  /* across processes: 3 children and the parent */
  srt_barrier_init(b, 4);
  memset(S->seen, 0, sizeof S->seen);
  pid_t kids[3];
  for (int i = 0; i < 3; i++) {
    kids[i] = fork();
    if (kids[i] == 0) _exit(bar_party(NULL) == (void *)SRT_OK ? 0 : 1);
  }
  int me = (intptr_t)bar_party(NULL) == SRT_OK;
  int bad = 0;
  for (int i = 0; i < 3; i++) bad += wait_child(kids[i]) != 0;
  ok(me && !bad && S->seen[0] + S->seen[1] + S->seen[2] + S->seen[3] == 4 && S->seen[0] == 1 &&
         S->seen[3] == 1,
     "Barrier: four processes pass it with distinct indexes");
  /* a process killed inside the barrier's internal critical section */
  srt_barrier_init(b, 2);
  atomic_store(&S->ready, 0);
  pid_t k = fork();
  if (k == 0) {
    srt_mutex_lock(&b->m);
    atomic_store(&S->ready, 1);
    for (;;) pause();
  }
  await_flag(&S->ready, 1);
  kill(k, SIGKILL);
  wait_child(k);
  pthread_create(&t, NULL, bar_party, NULL);
  a = srt_barrier_wait(b, in(10), 0, &idx);
  pthread_join(t, &r);
  ok(a == SRT_OK && (intptr_t)r == SRT_OK, "Barrier: works after a process died inside its critical section");
  /* the process running the action dies: the others are told it is broken */
  srt_barrier_init(b, 2);
  pthread_create(&t, NULL, bar_party, NULL);
  while (srt_barrier_n_waiting(b) < 1) sched_yield();
  k = fork();
  if (k == 0) {
    uint32_t i;
    if (srt_barrier_wait(b, in(10), 1, &i) == SRT_BARRIER_ACTION) kill(getpid(), SIGKILL);
    _exit(1);
  }
  wait_child(k);
  pthread_join(t, &r);
  ok((intptr_t)r == SRT_BROKEN && srt_barrier_broken(b), "Barrier: a party that dies running the action breaks it");
  srt_barrier_destroy(b);
}

int main(void) {
  ok(srt_arena_init(64 << 20) == 0, "arena maps");
  srt_arena_stats st0, st;
  srt_arena_stats_get(&st0);
  S = srt_calloc(sizeof *S);
  test_lock();
  test_lock_processes();
  test_deadlock();
  test_sema();
  test_event();
  test_condition();
  test_barrier();
  srt_free(S);
  srt_arena_stats_get(&st);
  ok(st.in_use == st0.in_use, "nothing left in the arena (%zu bytes in use, %zu at start)", st.in_use, st0.in_use);
  return 0;
}

/*
** condition.c — Condition: a queue of waiting threads, guarded by the
** condition's own Lock or RLock.
**
** wait() and notify() may only be called holding that lock, so the queue
** needs no lock of its own. Each wait puts a node in the arena (where other
** processes see it) with a futex word; notify(n) unlinks the first n nodes and
** wakes each, so exactly n waiters return notified, in arrival order, as in
** Python. Every change to the queue is a single pointer store made after
** the node is complete, so a process killed while holding the lock leaves a
** well-formed queue to whoever takes the lock over. Nodes of processes that
** died while waiting are skipped, and freed, by notify.
*/
#include "srt.h"

#include <limits.h>

struct srt_cwaiter {
  _Atomic uint32_t notified;
  pid_t pid;
  struct srt_cwaiter *_Atomic next;
};

/* ---- the queue --------------------------------------------------------------- */
void srt_condition_init(srt_condition *c, srt_lock *lock) {
  c->lock = lock;
  atomic_init(&c->head, NULL);
}

static void enqueue(srt_condition *c, srt_cwaiter *n) {
  atomic_store(&n->next, NULL);
  atomic_store(&n->notified, 0);
  srt_cwaiter *_Atomic *p = &c->head;
  while (atomic_load(p)) p = &atomic_load(p)->next;
  atomic_store(p, n);
}

static void unlink_node(srt_condition *c, srt_cwaiter *n) {
  srt_cwaiter *_Atomic *p = &c->head;
  while (atomic_load(p) && atomic_load(p) != n) p = &atomic_load(p)->next;
  if (atomic_load(p)) atomic_store(p, atomic_load(&n->next));
}

int srt_condition_wait(srt_condition *c, int64_t deadline, int *owner_died) {
  *owner_died = 0;
  if (!srt_lock_is_owner(c->lock)) return SRT_EPERM;
  srt_cwaiter *n = srt_alloc(sizeof *n);
  if (!n) return SRT_NOMEM;
  n->pid = srt_self_pid();
  enqueue(c, n);
  uint32_t depth = srt_lock_release_all(c->lock);
  int r = SRT_OK;
  while (!atomic_load(&n->notified)) {
    r = srt_futex_wait(&n->notified, 0, deadline);
    if (r != SRT_OK) break;
  }
  *owner_died = srt_lock_acquire_restore_nointr(c->lock, depth) == SRT_OWNERDEAD;
  /* A notify may have come between the timeout and taking the lock back:
  ** then the node is already out of the queue, and this wait was notified. */
  int notified = atomic_load(&n->notified);
  if (!notified) unlink_node(c, n);
  srt_free(n); /* the notifier is done with it: it held the lock until now */
  if (notified) return r == SRT_INTERRUPTED ? r : SRT_OK;
  return r == SRT_OK ? SRT_TIMEDOUT : r;
}

int srt_condition_notify(srt_condition *c, int n) {
  if (!srt_lock_is_owner(c->lock)) return -1;
  pid_t me = srt_self_pid();
  int woken = 0;
  while (woken < n) {
    srt_cwaiter *w = atomic_load(&c->head);
    if (!w) break;
    atomic_store(&c->head, atomic_load(&w->next));
    if (w->pid != me && !srt_pid_alive(w->pid)) { /* died waiting */
      srt_free(w);
      continue;
    }
    atomic_store(&w->notified, 1);
    srt_futex_wake(&w->notified, 1);
    woken++;
  }
  return woken;
}

int srt_condition_has_waiters(const srt_condition *c) { return atomic_load(&c->head) != NULL; }

/*
** taskq.c — the queue of tasks a pool's workers take work from.
**
** An intrusive FIFO of nodes that live in the arena (a task record starts
** with its srt_tqnode), guarded by a strand Lock word, with a
** futex sequence word for consumers that have to wait. Pools of threads and
** pools of forked processes use the same queue.
**
** A consumer may be killed at any moment (a pool worker that segfaults), so
** pop records the node it takes in the consumer's own "claim" word before it
** unlinks it: whoever cleans up after a dead consumer learns which task it
** was running, and srt_taskq_unclaim finishes a pop the dead consumer left
** half done.
**
** Wake-ups cost a system call on the producer's side, so a push wakes a
** sleeping consumer only when the consumers that are awake (running a task,
** or spinning) are fewer than the queued tasks: one busy consumer keeps up
** with a producer that is slower than it without a single wake-up. A
** consumer spins briefly before it sleeps, but only when more than one CPU
** is usable (a spin on a single CPU burns the time slice the producer needs),
** and only one consumer spins at a time. A consumer that sleeps re-checks the
** queue at least every 250 ms (the futex slice), so a miscount (a consumer
** killed while awake) delays work, never loses it.
*/
#include "srt.h"

#include <limits.h>
#include <unistd.h>

#define SPIN_POLLS 4000 /* ~10-20 us of polling before a consumer sleeps */

int srt_taskq_spin_polls(void) { return srt_spin_budget(SPIN_POLLS); }

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* The guard is a strand Lock word: one CAS each way when free, and a holder
** killed inside is noticed by the next comer (SRT_OWNERDEAD), which goes on:
** every section leaves the list usable at each store. An interrupt may not
** cut a section short: it is set aside and left pending. */
static void qlock(srt_taskq *q) {
  if (srt_lock_try(&q->mu) != SRT_OK) srt_lock_acquire_restore_nointr(&q->mu, 1);
}

static void qunlock(srt_taskq *q) { srt_lock_release(&q->mu); }

void srt_taskq_init(srt_taskq *q) {
  srt_lock_init(&q->mu, 0);
  q->head = q->tail = NULL;
  atomic_init(&q->count, 0);
  atomic_init(&q->seq, 0);
  atomic_init(&q->sleepers, 0);
  atomic_init(&q->spinners, 0);
  atomic_init(&q->closed, 0);
  atomic_init(&q->waiting, 0);
  atomic_init(&q->consumers, 0);
  atomic_init(&q->wakes, 0);
}

void srt_taskq_consumers(srt_taskq *q, int delta) { atomic_fetch_add(&q->consumers, (uint32_t)delta); }

void srt_taskq_destroy(srt_taskq *q) { (void)q; }

/* Link n at the tail (lock held). head is checked rather than tail, so a
** consumer killed after it emptied the list leaves nothing stale behind. */
static void link_tail(srt_taskq *q, srt_tqnode *n) {
  n->next = NULL;
  if (!q->head) q->head = n;
  else q->tail->next = n;
  q->tail = n;
  atomic_fetch_add(&q->count, 1);
}

/* After a push: wake a sleeper unless the awake consumers can take what is
** queued (a spinning one will see it at once). */
static void wake_for(srt_taskq *q, uint32_t queued) {
  atomic_fetch_add(&q->seq, 1);
  uint32_t sleepers = atomic_load(&q->sleepers);
  if (!sleepers || atomic_load(&q->spinners)) return;
  /* a sleeper already woken counts as awake until it runs */
  uint32_t pending = atomic_load(&q->wakes);
  uint32_t asleep = sleepers > pending ? sleepers - pending : 0;
  uint32_t consumers = atomic_load(&q->consumers);
  uint32_t awake = consumers > asleep ? consumers - asleep : 0;
  if (asleep && queued > awake) {
    atomic_fetch_add(&q->wakes, 1);
    srt_futex_wake(&q->seq, 1);
  }
}

/* A sleeper is up: one wake fewer in flight (whatever woke it). */
static void woke(srt_taskq *q) {
  uint32_t w = atomic_load(&q->wakes);
  while (w && !atomic_compare_exchange_weak(&q->wakes, &w, w - 1)) {
  }
}

int srt_taskq_push(srt_taskq *q, srt_tqnode *n) {
  qlock(q);
  if (atomic_load(&q->closed)) {
    qunlock(q);
    return SRT_BROKEN;
  }
  link_tail(q, n);
  uint32_t queued = atomic_load(&q->count);
  qunlock(q);
  wake_for(q, queued);
  return SRT_OK;
}

/* Take the head (lock held): claim first, then unlink. */
static srt_tqnode *take_head(srt_taskq *q, srt_tqnode *_Atomic *claim) {
  srt_tqnode *n = q->head;
  if (!n) return NULL;
  if (claim) atomic_store(claim, n);
  q->head = n->next;
  atomic_fetch_sub(&q->count, 1);
  return n;
}

/* Poll the count for a while; returns 1 if something may be there. Only one
** consumer spins at a time: the others would only compete for the CPU. */
static int spin_for_work(srt_taskq *q, uint32_t seq) {
  int polls = srt_taskq_spin_polls();
  if (!polls) return 0;
  if (atomic_fetch_add(&q->spinners, 1) != 0) {
    atomic_fetch_sub(&q->spinners, 1);
    return 0;
  }
  int found = 0;
  for (int i = 0; i < polls && !found; i++) {
    relax();
    found = atomic_load_explicit(&q->seq, memory_order_acquire) != seq ||
            srt_interrupt_pending();
  }
  atomic_fetch_sub(&q->spinners, 1);
  return found;
}

int srt_taskq_pop(srt_taskq *q, srt_tqnode **out, srt_tqnode *_Atomic *claim, int64_t deadline) {
  *out = NULL;
  atomic_fetch_add(&q->waiting, 1);
  int r;
  for (;;) {
    qlock(q);
    srt_tqnode *n = take_head(q, claim);
    int closed = atomic_load(&q->closed);
    uint32_t seq = atomic_load(&q->seq);
    qunlock(q);
    if (n) {
      *out = n;
      r = SRT_OK;
      break;
    }
    if (closed) {
      r = SRT_BROKEN;
      break;
    }
    if (deadline == 0) {
      r = SRT_TIMEDOUT;
      break;
    }
    if (spin_for_work(q, seq)) continue;
    atomic_fetch_add(&q->sleepers, 1);
    r = srt_futex_wait(&q->seq, seq, deadline);
    atomic_fetch_sub(&q->sleepers, 1);
    woke(q);
    if (r == SRT_INTERRUPTED) break;
    if (r == SRT_TIMEDOUT) deadline = 0; /* one last look, then give up */
  }
  atomic_fetch_sub(&q->waiting, 1);
  return r;
}

/* A consumer died with `n` in its claim word: if the pop was left half done
** (n still at the head), finish it. Returns 1 when n was still queued. */
int srt_taskq_unclaim(srt_taskq *q, srt_tqnode *n) {
  qlock(q);
  int was_queued = q->head == n;
  if (was_queued) {
    q->head = n->next;
    atomic_fetch_sub(&q->count, 1);
  }
  qunlock(q);
  return was_queued;
}

void srt_taskq_close(srt_taskq *q) {
  qlock(q);
  atomic_store(&q->closed, 1);
  qunlock(q);
  atomic_fetch_add(&q->seq, 1);
  srt_futex_wake(&q->seq, INT_MAX);
}

int srt_taskq_closed(srt_taskq *q) { return atomic_load(&q->closed) != 0; }

srt_tqnode *srt_taskq_drain(srt_taskq *q) {
  qlock(q);
  srt_tqnode *all = q->head;
  q->head = q->tail = NULL;
  atomic_store(&q->count, 0);
  qunlock(q);
  return all;
}

uint32_t srt_taskq_size(srt_taskq *q) { return atomic_load(&q->count); }
uint32_t srt_taskq_waiting(srt_taskq *q) { return atomic_load(&q->waiting); }

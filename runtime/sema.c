/*
** sema.c — Semaphore and BoundedSemaphore on one futex word: the count.
**
** No owner and no internal lock, so there is nothing a killed process can
** leave half done: acquire is a CAS that takes one from a positive count,
** release adds. Sleepers sleep on the count while it is 0 and say so in
** `sleepers`, so release makes a system call only when someone sleeps. Both
** sides use sequentially consistent operations on the two words, so either
** the releaser sees the sleeper or the sleeper sees the new count.
*/
#include "srt.h"

#define SPIN_POLLS 2000 /* at most ~50 us: a handoff between two busy CPUs */

void srt_sema_init(srt_sema *s, uint32_t value, uint32_t bound) {
  atomic_init(&s->value, value);
  atomic_init(&s->sleepers, 0);
  s->bound = bound;
  atomic_init(&s->spin, 0);
}

static int try_down(srt_sema *s) {
  uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
  while (v > 0)
    if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1, memory_order_acquire,
                                              memory_order_relaxed))
      return 1;
  return 0;
}

int srt_sema_acquire(srt_sema *s, int64_t deadline) {
  if (try_down(s)) return SRT_OK;
  if (deadline <= 0) return SRT_TIMEDOUT;
  int polls = srt_spin_polls(&s->spin, SPIN_POLLS);
  for (int i = 0; i < polls; i++) {
    srt_cpu_relax();
    if (atomic_load_explicit(&s->value, memory_order_relaxed) && try_down(s)) {
      srt_spin_learn(&s->spin, 1, SPIN_POLLS);
      return SRT_OK;
    }
  }
  if (polls) srt_spin_learn(&s->spin, 0, SPIN_POLLS);
  int r;
  atomic_fetch_add(&s->sleepers, 1);
  for (;;) {
    if (try_down(s)) {
      r = SRT_OK;
      break;
    }
    r = srt_futex_wait(&s->value, 0, deadline);
    if (r == SRT_INTERRUPTED) break;
    if (r == SRT_TIMEDOUT) {
      r = try_down(s) ? SRT_OK : SRT_TIMEDOUT;
      break;
    }
  }
  atomic_fetch_sub(&s->sleepers, 1);
  return r;
}

/* Adds n, or nothing when that would pass the bound (SRT_EPERM). */
int srt_sema_release(srt_sema *s, uint32_t n) {
  uint32_t limit = s->bound ? s->bound : SRT_SEMA_MAX;
  uint32_t v = atomic_load(&s->value);
  do {
    if (n > limit || v > limit - n) return SRT_EPERM;
  } while (!atomic_compare_exchange_weak(&s->value, &v, v + n));
  if (atomic_load(&s->sleepers)) srt_futex_wake(&s->value, (int)n);
  return SRT_OK;
}

uint32_t srt_sema_value(const srt_sema *s) { return atomic_load(&s->value); }

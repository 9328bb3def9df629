/*
** event.c — Event on one futex word: (generation << 1) | flag.
**
** set() raises the flag and bumps the generation, so a waiter that slept
** through a set() followed at once by clear() still returns true, as in
** Python, where set() notifies everyone who was waiting. No internal lock:
** a killed process cannot leave it half done. A waiter spins before
** sleeping, as long as spinning pays (spin.c); set() wakes only when someone
** sleeps.
*/
#include "srt.h"

#include <limits.h>

#define SPIN_POLLS 2000 /* ~50 us: an Event handoff is often a ping-pong */

void srt_event_init(srt_event *e) {
  atomic_init(&e->word, 0);
  atomic_init(&e->sleepers, 0);
  atomic_init(&e->spin, 0);
}

int srt_event_is_set(const srt_event *e) { return atomic_load(&e->word) & 1; }

void srt_event_set(srt_event *e) {
  uint32_t w = atomic_load(&e->word);
  do {
    if (w & 1) return; /* already set: nothing to wake */
  } while (!atomic_compare_exchange_weak(&e->word, &w, (w + 2) | 1));
  if (atomic_load(&e->sleepers)) srt_futex_wake(&e->word, INT_MAX);
}

void srt_event_clear(srt_event *e) { atomic_fetch_and(&e->word, ~1u); }

/* Set now, or set (and maybe cleared) since the waiter first looked. */
static inline int happened(uint32_t now, uint32_t first) { return (now & 1) || (now >> 1) != (first >> 1); }

int srt_event_wait(srt_event *e, int64_t deadline) {
  uint32_t first = atomic_load(&e->word);
  if (first & 1) return SRT_OK;
  if (deadline <= 0) return SRT_TIMEDOUT;
  int polls = srt_spin_polls(&e->spin, SPIN_POLLS);
  for (int i = 0; i < polls; i++) {
    srt_cpu_relax();
    if (happened(atomic_load_explicit(&e->word, memory_order_acquire), first)) {
      srt_spin_learn(&e->spin, 1, SPIN_POLLS);
      return SRT_OK;
    }
  }
  if (polls) srt_spin_learn(&e->spin, 0, SPIN_POLLS);
  int r;
  atomic_fetch_add(&e->sleepers, 1);
  for (;;) {
    uint32_t w = atomic_load(&e->word);
    if (happened(w, first)) {
      r = SRT_OK;
      break;
    }
    r = srt_futex_wait(&e->word, w, deadline);
    if (r == SRT_INTERRUPTED) break;
    if (r == SRT_TIMEDOUT) {
      r = happened(atomic_load(&e->word), first) ? SRT_OK : SRT_TIMEDOUT;
      break;
    }
  }
  atomic_fetch_sub(&e->sleepers, 1);
  return r;
}

/*
** barrier.c — Barrier, as Python's threading.Barrier: parties arrive, the
** last one releases them all, each gets a distinct index; it can be reset,
** aborted, and broken by a waiter's timeout or interrupt.
**
** State lives under a robust internal mutex, held only for a few stores, so
** a process killed inside it leaves the barrier usable. The action (Lua code
** the bindings run) runs outside that mutex, in the ACTION state; a waiter
** that finds the process running the action dead breaks the barrier.
*/
#include "srt.h"

#include <string.h>

enum { FILLING = 0, DRAINING = 1, ACTION = 2, RESETTING = -1, BROKEN = -2 };

void srt_barrier_init(srt_barrier *b, uint32_t parties) {
  memset(b, 0, sizeof *b);
  srt_mutex_init(&b->m);
  srt_cond_init(&b->c);
  b->parties = parties;
  b->state = FILLING;
}

void srt_barrier_destroy(srt_barrier *b) { srt_mutex_destroy(&b->m); }

static void set_state(srt_barrier *b, int32_t s) {
  b->state = s;
  srt_cond_broadcast(&b->c);
}

/* The last one out of a released or reset barrier lets the next round in. */
static void leave(srt_barrier *b) {
  b->count--;
  if (b->count == 0 && (b->state == RESETTING || b->state == DRAINING)) set_state(b, FILLING);
}

int srt_barrier_wait(srt_barrier *b, int64_t deadline, int has_action, uint32_t *index) {
  srt_mutex_lock(&b->m);
  /* wait while the previous round drains or resets */
  while (b->state == DRAINING || b->state == RESETTING) {
    int r = srt_cond_wait(&b->c, &b->m, SRT_FOREVER);
    if (r == SRT_INTERRUPTED) {
      srt_mutex_unlock(&b->m);
      return r;
    }
  }
  if (b->state == BROKEN) {
    srt_mutex_unlock(&b->m);
    return SRT_BROKEN;
  }
  *index = b->count++;
  if (*index + 1 == b->parties) {
    if (has_action) {
      b->state = ACTION;
      b->action_pid = srt_self_pid();
      srt_mutex_unlock(&b->m);
      return SRT_BARRIER_ACTION; /* run it, then srt_barrier_action_done */
    }
    set_state(b, DRAINING);
    leave(b);
    srt_mutex_unlock(&b->m);
    return SRT_OK;
  }
  int r = SRT_OK;
  while (b->state == FILLING || b->state == ACTION) {
    r = srt_cond_wait(&b->c, &b->m, deadline);
    if (r == SRT_TIMEDOUT || r == SRT_INTERRUPTED) {
      set_state(b, BROKEN);
      break;
    }
    if (b->state == ACTION && b->action_pid != srt_self_pid() && !srt_pid_alive(b->action_pid))
      set_state(b, BROKEN); /* died running the action */
  }
  int broken = b->state < 0;
  leave(b);
  srt_mutex_unlock(&b->m);
  if (r == SRT_INTERRUPTED) return r;
  return broken ? SRT_BROKEN : SRT_OK;
}

int srt_barrier_action_done(srt_barrier *b, int ok) {
  srt_mutex_lock(&b->m);
  int released = b->state == ACTION && ok;
  if (b->state == ACTION) set_state(b, ok ? DRAINING : BROKEN);
  leave(b);
  srt_mutex_unlock(&b->m);
  return released ? SRT_OK : SRT_BROKEN;
}

void srt_barrier_reset(srt_barrier *b) {
  srt_mutex_lock(&b->m);
  if (b->count > 0) {
    if (b->state == FILLING || b->state == ACTION || b->state == BROKEN) b->state = RESETTING;
  } else {
    b->state = FILLING;
  }
  srt_cond_broadcast(&b->c);
  srt_mutex_unlock(&b->m);
}

void srt_barrier_abort(srt_barrier *b) {
  srt_mutex_lock(&b->m);
  set_state(b, BROKEN);
  srt_mutex_unlock(&b->m);
}

uint32_t srt_barrier_n_waiting(srt_barrier *b) {
  srt_mutex_lock(&b->m);
  uint32_t n = b->state == FILLING ? b->count : 0;
  srt_mutex_unlock(&b->m);
  return n;
}

int srt_barrier_broken(srt_barrier *b) { return __atomic_load_n(&b->state, __ATOMIC_ACQUIRE) == BROKEN; }

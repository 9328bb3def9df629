/*
** lock.c — Lock and RLock on a bare futex word (Drepper's three-state mutex),
** so any thread may release a Lock, as Python allows, which a pthread robust
** mutex forbids.
**
** Robustness comes from the owner word (pid << 32 | tid): a sleeper that
** wakes from a slice with the lock still held checks whether the holder's
** process is alive, and if not takes the lock over (one CAS decides who) and
** reports SRT_OWNERDEAD.
*/
#include "srt.h"

#include <unistd.h>

#define SPIN_TRIES 64

static __thread uint64_t self_owner;
static __thread pid_t self_owner_pid;

uint64_t srt_self_owner_id(void) {
  pid_t pid = getpid();
  if (!self_owner || self_owner_pid != pid) {
    self_owner = (uint64_t)(uint32_t)pid << 32 | (uint32_t)srt_gettid();
    self_owner_pid = pid;
  }
  return self_owner;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

void srt_lock_init(srt_lock *l, int recursive) {
  atomic_init(&l->state, 0);
  atomic_init(&l->owner, 0);
  l->recursive = (uint32_t)recursive;
  l->depth = 0;
}

static int took(srt_lock *l, uint64_t me, int result) {
  atomic_store_explicit(&l->owner, me, memory_order_relaxed);
  if (l->recursive) l->depth = 1;
  return result;
}

/* The holder's process is gone: take the lock over, once. */
static int take_from_dead(srt_lock *l, uint64_t me) {
  uint64_t o = atomic_load(&l->owner);
  if (!o || (pid_t)(o >> 32) == (pid_t)(me >> 32)) return 0;
  if (srt_pid_alive((pid_t)(o >> 32))) return 0;
  return atomic_compare_exchange_strong(&l->owner, &o, me);
}

int srt_lock_acquire(srt_lock *l, int64_t deadline) {
  uint64_t me = srt_self_owner_id();
  if (l->recursive && atomic_load_explicit(&l->owner, memory_order_relaxed) == me) {
    l->depth++;
    return SRT_OK;
  }
  uint32_t c = 0;
  if (atomic_compare_exchange_strong(&l->state, &c, 1)) return took(l, me, SRT_OK);
  if (deadline == 0) return SRT_TIMEDOUT;
  for (int i = 0; i < SPIN_TRIES; i++) {
    cpu_relax();
    c = 0;
    if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_weak(&l->state, &c, 1))
      return took(l, me, SRT_OK);
  }
  for (;;) {
    if (atomic_exchange(&l->state, 2) == 0) return took(l, me, SRT_OK);
    int r = srt_futex_wait(&l->state, 2, deadline);
    if (r == SRT_INTERRUPTED || r == SRT_TIMEDOUT) return r;
    if (take_from_dead(l, me)) return took(l, me, SRT_OWNERDEAD);
  }
}

int srt_lock_release(srt_lock *l) {
  if (atomic_load(&l->state) == 0) return SRT_EPERM;
  if (l->recursive) {
    if (atomic_load_explicit(&l->owner, memory_order_relaxed) != srt_self_owner_id())
      return SRT_EPERM;
    if (--l->depth > 0) return SRT_OK;
  }
  atomic_store_explicit(&l->owner, 0, memory_order_relaxed);
  if (atomic_exchange(&l->state, 0) == 2) srt_futex_wake(&l->state, 1);
  return SRT_OK;
}

int srt_lock_locked(const srt_lock *l) { return atomic_load(&l->state) != 0; }

int srt_lock_is_owner(const srt_lock *l) {
  return atomic_load(&l->state) != 0 && atomic_load(&l->owner) == srt_self_owner_id();
}

uint32_t srt_lock_release_all(srt_lock *l) {
  uint32_t depth = l->recursive ? l->depth : 1;
  if (l->recursive) l->depth = 1;
  srt_lock_release(l);
  return depth;
}

int srt_lock_acquire_restore(srt_lock *l, uint32_t depth, int64_t deadline) {
  int r = srt_lock_acquire(l, deadline);
  if ((r == SRT_OK || r == SRT_OWNERDEAD) && l->recursive) l->depth = depth;
  return r;
}

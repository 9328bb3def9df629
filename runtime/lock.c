/*
** lock.c — Lock and RLock on one futex word, so any thread of any process
** may release a Lock, as Python allows (a pthread robust mutex forbids it).
**
** The word holds the holder's pid (0 = free) and a "sleepers" bit. Putting
** the pid in the word itself, in the same compare-and-swap that takes the
** lock, leaves no instant at which a holder killed by SIGKILL is unknown: a
** waiter that has slept a while, or whose timeout ran out, checks whether
** the holder's process is alive, and if not takes the lock over with one CAS
** and reports SRT_OWNERDEAD. `owner` (pid << 32 | tid) names the holding
** thread, for RLock recursion, Condition and the deadlock detector.
*/
#include "srt.h"

#include <unistd.h>

#define SLEEPERS 0x80000000u
#define PID_BITS 0x7fffffffu
/* A waiter checks the holder's process after this much sleep without a
** wake-up, then every CHECK_EVERY_NS: a live holder wakes it long before. */
#define FIRST_CHECK_NS 20000000LL /* 20 ms */
#define CHECK_EVERY_NS 250000000LL
/* Spinning, in pauses (~26 ns each here): at most about what a futex sleep
** and wake-up cost the waiter, with reads of the word further and further
** apart (1, 2, 4 ... POLL_GAP pauses), as in a test-and-test-and-set lock
** with backoff. A holder that frees and retakes the lock in a loop (two
** threads bumping a counter) then keeps it for runs of many turns instead
** of losing it to the waiter at nearly every turn, each loss moving the
** lock and the data it guards from one CPU's cache to the other; and a
** waiter that reads rarely hardly slows the holder. Short waits still end
** within a few pauses. */
#define SPIN_PAUSES 800
#define POLL_GAP 32

/* ---- who am I ------------------------------------------------------------ */
/* getpid() is a system call in current glibc; acquire needs the pid on its
** fast path, so it is cached per thread and forgotten in a forked child. */
static __thread struct {
  uint64_t owner; /* pid << 32 | tid */
  uint32_t pid;
} self;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_self(void) {
  self.owner = 0;
  self.pid = 0;
}

static void install_atfork(void) { pthread_atfork(NULL, NULL, forget_self); }

static uint64_t self_slow(void) {
  pthread_once(&atfork_once, install_atfork); /* before the cache is filled */
  pid_t pid = getpid();
  self.pid = (uint32_t)pid;
  self.owner = (uint64_t)(uint32_t)pid << 32 | (uint32_t)srt_gettid();
  return self.owner;
}

static inline uint64_t self_id(void) { return self.owner ? self.owner : self_slow(); }

uint64_t srt_self_owner_id(void) { return self_id(); }

pid_t srt_self_pid(void) { return (pid_t)(self_id() >> 32); }

/* ---- the word ------------------------------------------------------------ */
void srt_lock_init(srt_lock *l, int recursive) {
  atomic_init(&l->state, 0);
  atomic_init(&l->owner, 0);
  l->recursive = (uint32_t)recursive;
  l->depth = 0;
  atomic_init(&l->spin, 0);
}

static inline int try_take(srt_lock *l, uint32_t word) {
  uint32_t free_word = 0;
  return atomic_compare_exchange_strong_explicit(&l->state, &free_word, word,
                                                 memory_order_acquire, memory_order_relaxed);
}

static inline int took(srt_lock *l, uint64_t me, int result) {
  atomic_store_explicit(&l->owner, me, memory_order_relaxed);
  l->depth = 1;
  return result;
}

/* The holder's process is gone (exited, killed, or a zombie not yet reaped):
** take the lock over. One CAS on the word decides between rival waiters. */
static int take_from_dead(srt_lock *l, uint64_t me) {
  uint32_t word = atomic_load(&l->state);
  pid_t holder = (pid_t)(word & PID_BITS);
  if (!holder || holder == (pid_t)(me >> 32) || srt_pid_alive(holder)) return 0;
  return atomic_compare_exchange_strong(&l->state, &word, (uint32_t)(me >> 32) | SLEEPERS);
}

/* Spin a while for the word to come free, then take it as `word`. */
static int spin_take(srt_lock *l, uint32_t word) {
  int budget = srt_spin_polls(&l->spin, SPIN_PAUSES);
  for (int spent = 0, gap = 1; spent < budget; spent += gap, gap = gap < POLL_GAP ? 2 * gap : gap) {
    for (int i = 0; i < gap; i++) srt_cpu_relax();
    if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0 && try_take(l, word)) {
      srt_spin_learn(&l->spin, 1, SPIN_PAUSES);
      return 1;
    }
  }
  if (budget) srt_spin_learn(&l->spin, 0, SPIN_PAUSES);
  return 0;
}

/* Sleep until the word changes, the deadline, an interrupt, or a dead
** holder. Waits with no deadline join the wait-for graph when `detect`. */
static int acquire_slow(srt_lock *l, uint64_t me, int64_t deadline, int detect) {
  uint32_t mine = (uint32_t)(me >> 32);
  if (spin_take(l, mine)) return took(l, me, SRT_OK);
  int registered = 0, r;
  int64_t check_at = srt_now_ns() + FIRST_CHECK_NS;
  for (;;) {
    uint32_t w = atomic_load(&l->state);
    /* Taking a free word here marks sleepers: others may still sleep. */
    if (w == 0) {
      if (try_take(l, mine | SLEEPERS)) {
        r = took(l, me, SRT_OK);
        break;
      }
      continue;
    }
    if (!(w & SLEEPERS)) {
      if (!atomic_compare_exchange_weak(&l->state, &w, w | SLEEPERS)) continue;
      w |= SLEEPERS;
    }
    if (detect && deadline == SRT_FOREVER && !registered) {
      if (srt_deadlock_enter(l)) {
        r = SRT_DEADLOCK;
        break;
      }
      registered = 1;
    }
    int64_t until = deadline < check_at ? deadline : check_at;
    int wr = srt_futex_wait(&l->state, w, until);
    if (wr == SRT_INTERRUPTED) {
      r = wr;
      break;
    }
    if (wr == SRT_TIMEDOUT) { /* slept a whole check period, or out of time */
      if (take_from_dead(l, me)) {
        r = took(l, me, SRT_OWNERDEAD);
        break;
      }
      if (until == deadline) {
        r = try_take(l, mine | SLEEPERS) ? took(l, me, SRT_OK) : SRT_TIMEDOUT;
        break;
      }
      check_at = srt_now_ns() + CHECK_EVERY_NS;
    }
  }
  if (registered) srt_deadlock_leave();
  return r;
}

static int acquire(srt_lock *l, int64_t deadline, int detect) {
  uint64_t me = self_id();
  if (l->recursive && atomic_load_explicit(&l->owner, memory_order_relaxed) == me) {
    l->depth++;
    return SRT_OK;
  }
  if (try_take(l, (uint32_t)(me >> 32))) return took(l, me, SRT_OK);
  if (deadline <= 0) return take_from_dead(l, me) ? took(l, me, SRT_OWNERDEAD) : SRT_TIMEDOUT;
  return acquire_slow(l, me, deadline, detect);
}

int srt_lock_acquire(srt_lock *l, int64_t deadline) { return acquire(l, deadline, 0); }

/* The bindings' fast path: recursion or one CAS, nothing that may sleep or
** make a system call. */
int srt_lock_try(srt_lock *l) {
  uint64_t me = self_id();
  if (l->recursive && atomic_load_explicit(&l->owner, memory_order_relaxed) == me) {
    l->depth++;
    return SRT_OK;
  }
  return try_take(l, (uint32_t)(me >> 32)) ? took(l, me, SRT_OK) : SRT_TIMEDOUT;
}

int srt_lock_acquire_checked(srt_lock *l, int64_t deadline) { return acquire(l, deadline, 1); }

/* Free the word; wake one sleeper if any marked itself. Two threads
** releasing one Lock at once: the second finds it free. */
int srt_lock_release(srt_lock *l) {
  if (atomic_load_explicit(&l->state, memory_order_relaxed) == 0) return SRT_EPERM;
  if (l->recursive) {
    if (atomic_load_explicit(&l->owner, memory_order_relaxed) != self_id()) return SRT_EPERM;
    if (--l->depth > 0) return SRT_OK;
  }
  atomic_store_explicit(&l->owner, 0, memory_order_relaxed);
  uint32_t old = atomic_exchange_explicit(&l->state, 0, memory_order_release);
  if (old & SLEEPERS) srt_futex_wake(&l->state, 1);
  return old ? SRT_OK : SRT_EPERM;
}

int srt_lock_locked(const srt_lock *l) { return atomic_load(&l->state) != 0; }

int srt_lock_is_owner(const srt_lock *l) {
  return atomic_load(&l->state) != 0 && atomic_load(&l->owner) == self_id();
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

/* Condition's wait must return holding its lock even when interrupted, as
** Python's does: a pending interrupt is set aside while waiting for the
** lock, and put back for the caller to raise. */
int srt_lock_acquire_restore_nointr(srt_lock *l, uint32_t depth) {
  int why = 0, r;
  for (;;) {
    if (srt_interrupt_pending()) {
      int w = srt_take_interrupt();
      if (w) why = w;
    }
    r = srt_lock_acquire_restore(l, depth, SRT_FOREVER);
    if (r != SRT_INTERRUPTED) break;
  }
  if (why) atomic_store(&srt_self()->interrupt, why);
  return r;
}

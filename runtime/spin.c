/*
** spin.c — how long to spin before sleeping.
**
** A handoff to a thread that is spinning costs well under a microsecond; a
** futex wake-up costs tens. But a spin while the other side needs the same
** CPU, or is not running at all (preempted by another program), only burns
** time. So:
**   - a process that may run on one CPU only (taskset, cgroup) never spins
**     (the count is read once per process);
**   - otherwise each object keeps a hint, the number of polls worth trying:
**     a spin that ends with what it waited for raises it, one that ends in a
**     sleep anyway halves it. Ping-pong between two idle CPUs keeps spinning;
**     a loaded machine soon goes straight to sleep.
*/
#include "srt.h"

#include <sched.h>
#include <unistd.h>

#define SPIN_MIN 16 /* polls: still enough to notice a partner that answers at once */

static int count_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* The affinity mask belongs to a thread (taskset sets it for all), and a
** forked child's one thread inherits the forker's mask with its thread-local
** copy of this count: read once per thread, never again in a child. */
int srt_usable_cpus(void) {
  static __thread int n; /* 0: not read yet */
  if (!n) n = count_cpus();
  return n;
}

int srt_spin_budget(int polls) { return srt_usable_cpus() > 1 ? polls : 0; }

int srt_spin_polls(_Atomic uint32_t *hint, int max) {
  if (srt_usable_cpus() <= 1) return 0;
  uint32_t h = atomic_load_explicit(hint, memory_order_relaxed);
  if (h == 0) return max / 4; /* a new object */
  return (int)(h < SPIN_MIN ? SPIN_MIN : h > (uint32_t)max ? (uint32_t)max : h);
}

void srt_spin_learn(_Atomic uint32_t *hint, int ok, int max) {
  uint32_t h = atomic_load_explicit(hint, memory_order_relaxed);
  if (h == 0) h = (uint32_t)max / 4;
  if (ok) h = h + h / 4 + 8;
  else h /= 2;
  if (h < SPIN_MIN) h = SPIN_MIN;
  if (h > (uint32_t)max) h = (uint32_t)max;
  atomic_store_explicit(hint, h, memory_order_relaxed);
}

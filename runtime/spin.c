/*
** spin.c — how long to spin before sleeping.
**
** A handoff to a thread that is spinning costs well under a microsecond; a
** futex wake-up costs tens. But a spin while the other side needs the same
** CPU only burns its time slice, so a process that may run on one CPU only
** (taskset, cgroup) never spins. The count is read once per process.
*/
#include "srt.h"

#include <sched.h>
#include <unistd.h>

static _Atomic int usable_cpus; /* 0: not read yet */
static _Atomic pid_t read_by;

static int count_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int srt_usable_cpus(void) {
  int n = atomic_load_explicit(&usable_cpus, memory_order_relaxed);
  if (n && atomic_load_explicit(&read_by, memory_order_relaxed) == srt_self_pid()) return n;
  n = count_cpus();
  atomic_store(&usable_cpus, n);
  atomic_store(&read_by, srt_self_pid());
  return n;
}

int srt_spin_budget(int polls) { return srt_usable_cpus() > 1 ? polls : 0; }

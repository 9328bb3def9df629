/*
** proc.c — waiting on file descriptors and child processes without losing
** an interrupt, and reaping children one pid at a time.
**
** Interrupts (cancel, Ctrl-C) reach a waiting thread as a signal that must
** make its syscall fail with EINTR. A signal that lands just before the
** thread enters poll would be lost, so the wake signal and SIGINT stay
** blocked while the waiter checks its conditions, and ppoll unblocks them
** atomically as it starts to sleep: a signal sent at any moment after the
** check interrupts the sleep. The same mechanism lets a queue wake a thread
** that waits on many objects (srt_queue_watch).
**
** Children are waited for through a pidfd (readable once the child has
** exited) and reaped with waitpid on that one pid only, never waitpid(-1),
** so children that the host or io.popen made are left to their owners.
*/
#include "srt.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

void srt_signals_hold(sigset_t *old) {
  sigset_t blk;
  sigemptyset(&blk);
  sigaddset(&blk, srt_wake_signal);
  sigaddset(&blk, SIGINT);
  pthread_sigmask(SIG_BLOCK, &blk, old);
}

void srt_signals_release(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

int srt_ppoll(struct pollfd *fds, unsigned n, int64_t deadline, const sigset_t *old, int *nready) {
  *nready = 0;
  if (srt_interrupt_pending()) return SRT_INTERRUPTED;
  struct timespec ts, *tp = NULL;
  if (deadline != SRT_FOREVER) {
    int64_t left = deadline - srt_now_ns();
    if (left < 0) left = 0;
    ts.tv_sec = (time_t)(left / 1000000000LL);
    ts.tv_nsec = (long)(left % 1000000000LL);
    tp = &ts;
  }
  sigset_t during = *old;
  sigdelset(&during, srt_wake_signal); /* always deliverable while we sleep */
  int r = ppoll(fds, n, tp, &during);
  if (r > 0) {
    *nready = r;
    return SRT_OK;
  }
  if (r < 0 && errno == EINTR) return srt_interrupt_pending() ? SRT_INTERRUPTED : SRT_OK;
  if (r < 0) return SRT_EPERM; /* EINVAL, ENOMEM */
  return deadline == SRT_FOREVER ? SRT_OK : SRT_TIMEDOUT;
}

int srt_poll(struct pollfd *fds, unsigned n, int64_t deadline) {
  sigset_t old;
  srt_signals_hold(&old);
  int nready, r;
  do {
    r = srt_ppoll(fds, n, deadline, &old, &nready);
  } while (r == SRT_OK && nready == 0);
  srt_signals_release(&old);
  return r;
}

int srt_pidfd(pid_t pid) {
  if (pid <= 0) return -1;
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

int srt_reap(pid_t pid, int *status, int block) {
  if (pid <= 0) return -1;
  for (;;) {
    pid_t r = waitpid(pid, status, block ? 0 : WNOHANG);
    if (r == pid) return 1;
    if (r == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

int srt_exitcode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return 0;
}

int srt_child_wait(pid_t pid, int64_t deadline, int *status) {
  int r = srt_reap(pid, status, 0);
  if (r != 0) return r == 1 ? SRT_OK : SRT_EPERM;
  if (deadline == 0) return SRT_TIMEDOUT;
  int fd = srt_pidfd(pid);
  for (;;) {
    int w;
    if (fd >= 0) {
      struct pollfd pf = {fd, POLLIN, 0};
      w = srt_poll(&pf, 1, deadline);
    } else { /* no pidfd: short sleeps (kernels before 5.3 only) */
      _Atomic uint32_t never = 0;
      int64_t slice = srt_now_ns() + 5000000;
      w = srt_futex_wait(&never, 0, slice < deadline ? slice : deadline);
      if (w == SRT_TIMEDOUT && slice < deadline) w = SRT_OK;
    }
    r = srt_reap(pid, status, 0);
    if (r != 0 || w != SRT_OK) {
      if (fd >= 0) close(fd);
      if (r != 0) return r == 1 ? SRT_OK : SRT_EPERM;
      return w;
    }
  }
}

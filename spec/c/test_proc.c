/* Child waits and interrupt-safe polls: exit codes and signals, timeouts,
** non-children, interrupts reaching a thread blocked in a wait. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "srt.h"
#include "tap.h"

static pid_t spawn(int how) {
  pid_t k = fork();
  if (k != 0) return k;
  switch (how) {
    case 0: _exit(3);
    case 1: raise(SIGSEGV); break;
    case 2: pause(); break;
  }
  _exit(0);
}

typedef struct waiter {
  pid_t pid;
  srt_tctx *ctx;
  _Atomic int ready;
  int result;
} waiter;

static void *wait_child(void *arg) {
  waiter *w = arg;
  srt_set_self(w->ctx = srt_tctx_new());
  atomic_store(&w->ready, 1);
  int st;
  w->result = srt_child_wait(w->pid, srt_deadline(20), &st);
  return NULL;
}

static void *poll_pipe(void *arg) {
  waiter *w = arg;
  srt_set_self(w->ctx = srt_tctx_new());
  atomic_store(&w->ready, 1);
  struct pollfd pf = {w->pid, POLLIN, 0};
  w->result = srt_poll(&pf, 1, srt_deadline(20));
  return NULL;
}

int main(void) {
  ok(srt_arena_init(16u << 20) == 0, "arena maps");
  int st;
  pid_t k = spawn(0);
  ok(srt_child_wait(k, SRT_FOREVER, &st) == SRT_OK && srt_exitcode(st) == 3, "a child's exit code");
  k = spawn(1);
  ok(srt_child_wait(k, SRT_FOREVER, &st) == SRT_OK && srt_exitcode(st) == -SIGSEGV,
     "a child that segfaults: -SIGSEGV");
  k = spawn(2);
  ok(srt_child_wait(k, 0, &st) == SRT_TIMEDOUT, "a running child: no wait with deadline 0");
  int64_t t0 = srt_now_ns();
  ok(srt_child_wait(k, srt_deadline(0.05), &st) == SRT_TIMEDOUT && srt_now_ns() - t0 >= 50000000,
     "a timed wait on a running child times out");
  kill(k, SIGKILL);
  ok(srt_child_wait(k, SRT_FOREVER, &st) == SRT_OK && srt_exitcode(st) == -SIGKILL, "a killed child: -SIGKILL");
  ok(srt_child_wait(k, SRT_FOREVER, &st) == SRT_EPERM, "a reaped child cannot be waited for again");
  ok(srt_child_wait(1, 0, &st) == SRT_EPERM, "a process that is not our child: SRT_EPERM");

  /* an interrupt reaches a thread waiting for a child */
  k = spawn(2);
  waiter w = {.pid = k};
  pthread_t t;
  pthread_create(&t, NULL, wait_child, &w);
  while (!atomic_load(&w.ready)) usleep(100);
  usleep(20000);
  srt_interrupt(w.ctx, SRT_INT_CANCEL);
  pthread_join(t, NULL);
  ok(w.result == SRT_INTERRUPTED, "an interrupt ends a child wait with SRT_INTERRUPTED");
  kill(k, SIGKILL);
  srt_child_wait(k, SRT_FOREVER, &st);

  /* srt_poll: ready fds, timeouts, interrupts (sent many times at random
  ** moments, none may be lost) */
  int fds[2];
  ok(pipe(fds) == 0, "pipe");
  struct pollfd pf = {fds[0], POLLIN, 0};
  ok(srt_poll(&pf, 1, srt_deadline(0.02)) == SRT_TIMEDOUT, "poll on an empty pipe times out");
  ok(write(fds[1], "x", 1) == 1 && srt_poll(&pf, 1, srt_deadline(1)) == SRT_OK && (pf.revents & POLLIN),
     "poll sees a readable pipe");
  char c;
  ok(read(fds[0], &c, 1) == 1, "drained");
  int lost = 0;
  for (int i = 0; i < 200; i++) {
    waiter p = {.pid = fds[0]};
    pthread_create(&t, NULL, poll_pipe, &p);
    while (!atomic_load(&p.ready)) sched_yield();
    if (i % 2) usleep((useconds_t)(i % 7) * 10);
    srt_interrupt(p.ctx, SRT_INT_CANCEL);
    pthread_join(t, NULL);
    lost += p.result != SRT_INTERRUPTED;
  }
  ok(lost == 0, "200 interrupts sent at random moments all end the poll (%d lost)", lost);
  close(fds[0]);
  close(fds[1]);
  return 0;
}

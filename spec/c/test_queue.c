/* The arena message queue: orders, bounds, timeouts, close, join, big and
** empty messages, threads and processes racing (every message exactly once),
** interrupts, processes killed inside put / while blocked in get, and
** destroy leaving nothing behind. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "srt.h"
#include "tap.h"

static int put_u64(srt_queue *q, uint64_t v, double prio, int64_t deadline) {
  return srt_queue_put_bytes(q, &v, sizeof v, &(srt_qkey){prio, NULL, 0}, deadline);
}

static int get_u64(srt_queue *q, uint64_t *v, int64_t deadline) {
  srt_qmsg m;
  int r = srt_queue_take(q, &m, deadline);
  if (r == SRT_OK) {
    memcpy(v, srt_qmsg_data(&m), sizeof *v);
    srt_free(m.block);
  }
  return r;
}

static void test_orders(void) {
  srt_queue *f = srt_queue_new(0, SRT_QUEUE_FIFO), *l = srt_queue_new(0, SRT_QUEUE_LIFO),
            *p = srt_queue_new(0, SRT_QUEUE_PRIORITY);
  int okf = 1, okl = 1, okp = 1;
  for (uint64_t i = 0; i < 1000; i++) { /* several ring growths */
    put_u64(f, i, 0, 0);
    put_u64(l, i, 0, 0);
    put_u64(p, i, (double)((i * 7919) % 1000), 0);
  }
  ok(srt_queue_size(f) == 1000 && srt_queue_size(p) == 1000, "qsize counts puts");
  for (uint64_t i = 0; i < 1000; i++) {
    uint64_t v;
    okf &= get_u64(f, &v, 0) == SRT_OK && v == i;
    okl &= get_u64(l, &v, 0) == SRT_OK && v == 999 - i;
    okp &= get_u64(p, &v, 0) == SRT_OK && (v * 7919) % 1000 == i;
  }
  ok(okf, "FIFO keeps put order across ring growth");
  ok(okl, "LIFO gives the last put first");
  ok(okp, "priority queue gives the smallest key first");
  uint64_t v;
  ok(get_u64(f, &v, 0) == SRT_TIMEDOUT, "get on an empty queue without blocking times out at once");
  /* equal priorities keep put order; strings after numbers, bytewise */
  put_u64(p, 1, 5, 0);
  put_u64(p, 2, 5, 0);
  srt_queue_put_bytes(p, &(uint64_t){3}, 8, &(srt_qkey){0, "b", 1}, 0);
  srt_queue_put_bytes(p, &(uint64_t){4}, 8, &(srt_qkey){0, "ab", 2}, 0);
  srt_queue_put_bytes(p, &(uint64_t){5}, 8, &(srt_qkey){0, "a", 1}, 0);
  put_u64(p, 6, -1, 0);
  uint64_t want[] = {6, 1, 2, 5, 4, 3}, got_all = 1;
  for (int i = 0; i < 6; i++) got_all &= get_u64(p, &v, 0) == SRT_OK && v == want[i];
  ok(got_all, "ties keep put order; numbers before strings; strings bytewise");
  srt_queue_destroy(f, NULL);
  srt_queue_destroy(l, NULL);
  srt_queue_destroy(p, NULL);
}

static void test_sizes(void) {
  srt_queue *q = srt_queue_new(0, SRT_QUEUE_FIFO);
  size_t big = 10u << 20;
  char *src = malloc(big);
  for (size_t i = 0; i < big; i++) src[i] = (char)(i * 31);
  ok(srt_queue_put_bytes(q, "", 0, NULL, 0) == SRT_OK, "an empty message goes in");
  ok(srt_queue_put_bytes(q, src, big, NULL, 0) == SRT_OK, "a 10 MB message goes in");
  ok(srt_queue_put_bytes(q, src, SRT_QMSG_INLINE, NULL, 0) == SRT_OK &&
         srt_queue_put_bytes(q, src, SRT_QMSG_INLINE + 1, NULL, 0) == SRT_OK,
     "messages at and just past the inline size go in");
  srt_qmsg m;
  ok(srt_queue_take(q, &m, 0) == SRT_OK && m.len == 0 && !m.block, "the empty message comes out empty");
  ok(srt_queue_take(q, &m, 0) == SRT_OK && m.len == big && m.block &&
         memcmp(m.block, src, big) == 0,
     "the 10 MB message comes out whole, as an arena block");
  srt_free(m.block);
  ok(srt_queue_take(q, &m, 0) == SRT_OK && m.len == SRT_QMSG_INLINE && !m.block &&
         memcmp(m.small, src, m.len) == 0,
     "an inline-sized message is copied inline");
  void *blk;
  size_t len;
  ok(srt_queue_get(q, &blk, &len, 0) == SRT_OK && len == SRT_QMSG_INLINE + 1 &&
         memcmp(blk, src, len) == 0,
     "srt_queue_get hands back an arena block");
  srt_free(blk);
  void *a = srt_alloc(20);
  memcpy(a, "twenty bytes of data", 20);
  ok(srt_queue_put(q, a, 20, 0, 0) == SRT_OK && srt_queue_get(q, &blk, &len, 0) == SRT_OK &&
         len == 20 && memcmp(blk, "twenty bytes of data", 20) == 0,
     "srt_queue_put takes an arena block over");
  srt_free(blk);
  free(src);
  srt_queue_destroy(q, NULL);
}

static void test_bounds(void) {
  srt_queue *q = srt_queue_new(2, SRT_QUEUE_FIFO);
  ok(put_u64(q, 1, 0, 0) == SRT_OK && put_u64(q, 2, 0, 0) == SRT_OK, "a bounded queue takes maxsize items");
  ok(put_u64(q, 3, 0, 0) == SRT_TIMEDOUT, "a full queue refuses a non-blocking put");
  int64_t t0 = srt_now_ns();
  ok(put_u64(q, 3, 0, srt_deadline(0.05)) == SRT_TIMEDOUT && srt_now_ns() - t0 >= 50000000,
     "a timed put on a full queue waits for its deadline");
  uint64_t v;
  ok(get_u64(q, &v, 0) == SRT_OK && v == 1 && put_u64(q, 3, 0, 0) == SRT_OK, "a get makes room");
  srt_queue_destroy(q, NULL);
  q = srt_queue_new(0, SRT_QUEUE_FIFO);
  t0 = srt_now_ns();
  ok(get_u64(q, &v, srt_deadline(0.05)) == SRT_TIMEDOUT && srt_now_ns() - t0 >= 50000000,
     "a timed get on an empty queue waits for its deadline");
  srt_queue_destroy(q, NULL);
}

/* ---- threads ---------------------------------------------------------------- */
typedef struct job {
  srt_queue *q;
  uint64_t from, n;
  int result;
  srt_tctx *ctx;
  _Atomic int started;
} job;

static void *blocked_get(void *arg) {
  job *j = arg;
  srt_set_self(j->ctx = srt_tctx_new());
  atomic_store(&j->started, 1);
  uint64_t v;
  j->result = get_u64(j->q, &v, srt_deadline(10));
  return NULL;
}

static void *blocked_put(void *arg) {
  job *j = arg;
  atomic_store(&j->started, 1);
  j->result = put_u64(j->q, 9, 0, srt_deadline(10));
  return NULL;
}

static void wait_sleeping(srt_tctx *ctx) {
  for (int i = 0; i < 2000 && !(ctx && atomic_load(&ctx->waiting)); i++) usleep(1000);
}

static void test_close_and_interrupt(void) {
  srt_queue *q = srt_queue_new(1, SRT_QUEUE_FIFO);
  job g = {.q = q}, p = {.q = q};
  pthread_t tg, tp;
  pthread_create(&tg, NULL, blocked_get, &g);
  while (!atomic_load(&g.started)) usleep(100);
  wait_sleeping(g.ctx);
  srt_interrupt(g.ctx, SRT_INT_CANCEL);
  pthread_join(tg, NULL);
  ok(g.result == SRT_INTERRUPTED, "an interrupt ends a blocked get with SRT_INTERRUPTED");

  put_u64(q, 1, 0, 0);
  pthread_create(&tp, NULL, blocked_put, &p);
  memset(&g, 0, sizeof g);
  g.q = q;
  uint64_t v;
  while (!atomic_load(&p.started)) usleep(100);
  usleep(20000);
  srt_queue_close(q);
  pthread_join(tp, NULL);
  ok(p.result == SRT_BROKEN, "close wakes a blocked put with SRT_BROKEN");
  ok(put_u64(q, 2, 0, 0) == SRT_BROKEN, "put after close is SRT_BROKEN");
  ok(get_u64(q, &v, 0) == SRT_OK && v == 1, "get after close drains what is left");
  ok(get_u64(q, &v, SRT_FOREVER) == SRT_BROKEN, "then answers SRT_BROKEN without blocking");
  srt_queue_destroy(q, NULL);

  q = srt_queue_new(0, SRT_QUEUE_FIFO);
  g.q = q;
  g.ctx = NULL;
  pthread_create(&tg, NULL, blocked_get, &g);
  while (!atomic_load(&g.started)) usleep(100);
  wait_sleeping(g.ctx);
  srt_queue_close(q);
  pthread_join(tg, NULL);
  ok(g.result == SRT_BROKEN, "close wakes a blocked get with SRT_BROKEN");
  srt_queue_destroy(q, NULL);
}

static void *join_waiter(void *arg) {
  job *j = arg;
  atomic_store(&j->started, 1);
  j->result = srt_queue_join(j->q, srt_deadline(10));
  return NULL;
}

static void test_join(void) {
  srt_queue *q = srt_queue_new(0, SRT_QUEUE_FIFO);
  ok(srt_queue_join(q, 0) == SRT_OK, "join on a fresh queue returns at once");
  ok(srt_queue_task_done(q) == SRT_EPERM, "task_done with nothing unfinished is SRT_EPERM");
  put_u64(q, 1, 0, 0);
  put_u64(q, 2, 0, 0);
  ok(srt_queue_join(q, srt_deadline(0.02)) == SRT_TIMEDOUT, "join times out while tasks are unfinished");
  job j = {.q = q};
  pthread_t t;
  pthread_create(&t, NULL, join_waiter, &j);
  uint64_t v;
  get_u64(q, &v, 0);
  get_u64(q, &v, 0);
  srt_queue_task_done(q);
  ok(srt_queue_unfinished(q) == 1, "one task left after one task_done");
  srt_queue_task_done(q);
  pthread_join(t, NULL);
  ok(j.result == SRT_OK && srt_queue_unfinished(q) == 0, "the last task_done releases join");
  srt_queue_destroy(q, NULL);
}

/* Producers put from..from+n-1; consumers mark each value seen once in a
** shared table, until they get the sentinel UINT64_MAX. */
#define NPROD 4
#define NCONS 4
#define PER 25000
static _Atomic uint32_t *seen;

static void produce(srt_queue *q, uint64_t from, uint64_t n) {
  for (uint64_t i = from; i < from + n; i++) put_u64(q, i, 0, SRT_FOREVER);
}

static uint64_t consume(srt_queue *q) {
  uint64_t got = 0, v;
  for (;;) {
    if (get_u64(q, &v, SRT_FOREVER) != SRT_OK || v == UINT64_MAX) return got;
    atomic_fetch_add(&seen[v], 1);
    got++;
  }
}

static void *producer_thread(void *arg) {
  job *j = arg;
  produce(j->q, j->from, j->n);
  return NULL;
}

static void *consumer_thread(void *arg) {
  job *j = arg;
  j->result = (int)consume(j->q);
  return NULL;
}

static int exactly_once(uint64_t total) {
  for (uint64_t i = 0; i < total; i++)
    if (atomic_load(&seen[i]) != 1) return 0;
  return 1;
}

static void test_mpmc(size_t maxsize, const char *what) {
  uint64_t total = NPROD * PER;
  seen = srt_calloc(total * sizeof *seen);
  srt_queue *q = srt_queue_new(maxsize, SRT_QUEUE_FIFO);
  /* 2 producers and 2 consumers are threads, 2 and 2 are forked processes */
  pid_t kids[4];
  int nk = 0;
  for (int i = 0; i < 2; i++) {
    pid_t k = fork();
    if (k == 0) {
      produce(q, (uint64_t)(2 + i) * PER, PER);
      _exit(0);
    }
    kids[nk++] = k;
  }
  for (int i = 0; i < 2; i++) {
    pid_t k = fork();
    if (k == 0) {
      consume(q);
      _exit(0);
    }
    kids[nk++] = k;
  }
  job pj[2], cj[2];
  pthread_t pt[2], ct[2];
  for (int i = 0; i < 2; i++) {
    pj[i] = (job){.q = q, .from = (uint64_t)i * PER, .n = PER};
    cj[i] = (job){.q = q};
    pthread_create(&pt[i], NULL, producer_thread, &pj[i]);
    pthread_create(&ct[i], NULL, consumer_thread, &cj[i]);
  }
  for (int i = 0; i < 2; i++) pthread_join(pt[i], NULL);
  for (int i = 0; i < 2; i++) waitpid(kids[i], NULL, 0);
  for (int i = 0; i < NCONS; i++) put_u64(q, UINT64_MAX, 0, SRT_FOREVER);
  for (int i = 0; i < 2; i++) pthread_join(ct[i], NULL);
  int bad = 0;
  for (int i = 2; i < 4; i++) {
    int st;
    waitpid(kids[i], &st, 0);
    bad += !WIFEXITED(st);
  }
  ok(!bad && exactly_once(total) && srt_queue_size(q) == 0,
     "%s: 4 producers x 4 consumers (threads and processes), %d messages, each exactly once",
     what, (int)total);
  srt_queue_destroy(q, NULL);
  srt_free(seen);
}

/* ---- faults ------------------------------------------------------------------- */
static int crash_at;
static void crash_hook(int step) {
  if (step == crash_at) _exit(42);
}

/* A child takes the queue's lock and dies inside an operation at `step`;
** the parent must find every other message exactly once. */
static int survive_crash(int order, int step, int crash_in_get) {
  srt_queue *q = srt_queue_new(0, order);
  for (uint64_t i = 1; i <= 50; i++) put_u64(q, i, (double)((i * 37) % 50), 0);
  pid_t k = fork();
  if (k == 0) {
    crash_at = step;
    srt_queue_fault_hook = crash_hook;
    uint64_t v;
    if (crash_in_get) get_u64(q, &v, 0);
    else put_u64(q, 1000, -1, 0);
    _exit(0);
  }
  int st;
  waitpid(k, &st, 0);
  int crashed = WIFEXITED(st) && WEXITSTATUS(st) == 42;
  /* the queue still works: drain it, check order and uniqueness */
  put_u64(q, 2000, 1e9, 0);
  uint64_t v, prev_key = 0, n = 0, good = 1;
  char got[2001] = {0};
  while (get_u64(q, &v, 0) == SRT_OK) {
    if (v > 2000 || got[v]) good = 0;
    else got[v] = 1;
    uint64_t key = v == 1000 ? 0 : v == 2000 ? 1000000 : (v * 37) % 50 + 1;
    if (order == SRT_QUEUE_PRIORITY && key < prev_key) good = 0;
    prev_key = key;
    n++;
  }
  int missing = 0;
  for (uint64_t i = 1; i <= 50; i++) missing += !got[i];
  srt_queue_destroy(q, NULL);
  /* a crash in put may lose only the new message; in get, only the taken one */
  return crashed && good && got[2000] && missing <= (crash_in_get ? 1 : 0);
}

/* A FIFO producer dies between linking a new chunk and making it the tail
** chunk: the next locker finds the chunk and the queue goes on. */
static int survive_chunk_crash(void) {
  srt_queue *q = srt_queue_new(0, SRT_QUEUE_FIFO);
  uint64_t i, crashed = 0;
  for (i = 0; i < 5000 && !crashed; i++) {
    pid_t k = fork();
    if (k == 0) {
      crash_at = 4;
      srt_queue_fault_hook = crash_hook;
      put_u64(q, i, 0, 0);
      _exit(0);
    }
    int st;
    waitpid(k, &st, 0);
    crashed = WIFEXITED(st) && WEXITSTATUS(st) == 42;
  }
  uint64_t lost = i - 1; /* the item the dead child was putting */
  for (uint64_t j = 0; j < 3000; j++) put_u64(q, 10000 + j, 0, 0);
  uint64_t v, n = 0, good = crashed;
  while (get_u64(q, &v, 0) == SRT_OK) {
    uint64_t want = n < lost ? n : 10000 + (n - lost);
    good &= v == want;
    n++;
  }
  srt_queue_destroy(q, NULL);
  return good && n == lost + 3000;
}

static void test_crashes(void) {
  ok(survive_chunk_crash(), "FIFO: a process killed between linking a chunk and using it leaves the queue whole");
  ok(survive_crash(SRT_QUEUE_FIFO, 1, 0), "FIFO: a process killed inside put leaves the queue whole");
  ok(survive_crash(SRT_QUEUE_PRIORITY, 2, 0),
     "priority: a process killed in the middle of a heap insert: heap repaired, nothing duplicated or lost");
  ok(survive_crash(SRT_QUEUE_PRIORITY, 3, 1),
     "priority: a process killed in the middle of a heap removal: heap repaired, at most its own message lost");

  /* a consumer SIGKILLed while blocked in get */
  srt_queue *q = srt_queue_new(0, SRT_QUEUE_FIFO);
  srt_tctx **ctxp = srt_calloc(sizeof *ctxp);
  pid_t k = fork();
  if (k == 0) {
    *ctxp = srt_self();
    uint64_t v;
    get_u64(q, &v, srt_deadline(20));
    _exit(0);
  }
  for (int i = 0; i < 2000 && !(*ctxp && atomic_load(&(*ctxp)->waiting)); i++) usleep(1000);
  kill(k, SIGKILL);
  waitpid(k, NULL, 0);
  job g = {.q = q};
  pthread_t t;
  pthread_create(&t, NULL, blocked_get, &g);
  while (!atomic_load(&g.started)) usleep(100);
  wait_sleeping(g.ctx);
  put_u64(q, 7, 0, 0);
  pthread_join(t, NULL);
  uint64_t v;
  ok(g.result == SRT_OK && get_u64(q, &v, 0) == SRT_TIMEDOUT,
     "after a consumer is killed while blocked in get, the next consumer is woken and gets the item");
  srt_free(ctxp);
  srt_queue_destroy(q, NULL);
}

/* ---- watchers and destroy ------------------------------------------------------- */
static volatile sig_atomic_t got_wake;
static void on_wake(int s) {
  (void)s;
  got_wake = 1;
}

static void test_watch_and_destroy(void) {
  srt_queue *q = srt_queue_new(0, SRT_QUEUE_FIFO);
  struct sigaction sa = {0}, old;
  sa.sa_handler = on_wake;
  sigaction(srt_wake_signal, &sa, &old);
  sigset_t block, prev;
  sigemptyset(&block);
  sigaddset(&block, srt_wake_signal);
  pthread_sigmask(SIG_BLOCK, &block, &prev);
  ok(srt_queue_watch(q, srt_self()) == 0, "watching an empty queue: not ready");
  pid_t k = fork();
  if (k == 0) {
    put_u64(q, 1, 0, 0);
    _exit(0);
  }
  waitpid(k, NULL, 0);
  sigset_t pend;
  sigpending(&pend);
  ok(sigismember(&pend, srt_wake_signal), "a put from another process signals the watching thread");
  srt_queue_unwatch(q, srt_self());
  pthread_sigmask(SIG_SETMASK, &prev, NULL);
  sigaction(srt_wake_signal, &old, NULL);
  ok(got_wake && srt_queue_ready(q), "the queue is ready after the signal");
  srt_queue_destroy(q, NULL);
}

static int released;
static void count_release(const void *p, size_t len) {
  (void)p;
  (void)len;
  released++;
}

int main(void) {
  ok(srt_arena_init(512u << 20) == 0, "arena maps");
  srt_arena_stats st0, st;
  srt_arena_stats_get(&st0);
  test_orders();
  test_sizes();
  test_bounds();
  test_close_and_interrupt();
  test_join();
  test_mpmc(0, "unbounded");
  test_mpmc(64, "maxsize 64");
  test_crashes();
  test_watch_and_destroy();
  srt_queue *q = srt_queue_new(0, SRT_QUEUE_PRIORITY);
  char big[1000] = {0};
  for (int i = 0; i < 10; i++) srt_queue_put_bytes(q, big, i % 2 ? sizeof big : 8, &(srt_qkey){0, "k", 1}, 0);
  srt_queue_destroy(q, count_release);
  ok(released == 10, "destroy releases each message left");
  srt_arena_stats_get(&st);
  /* thread contexts made on demand are never freed: allow for them */
  ok(st.in_use - st0.in_use < 4096, "nothing leaks in the arena (%zu bytes in use)",
     (size_t)(st.in_use - st0.in_use));
  return 0;
}

/* Task queue: FIFO order, timeouts, close, many threads and forked
** processes taking every node exactly once, and a consumer killed with a
** node claimed. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "srt.h"
#include "tap.h"

typedef struct item {
  srt_tqnode node;
  int value;
} item;

#define PRODUCERS 3
#define CONSUMERS 3
#define PER_PRODUCER 20000

static srt_taskq *Q;
static _Atomic int *seen; /* arena: how often each value was taken */

static item *new_item(int v) {
  item *it = srt_alloc(sizeof *it);
  it->value = v;
  return it;
}

static void *producer(void *arg) {
  int base = (int)(intptr_t)arg * PER_PRODUCER;
  for (int i = 0; i < PER_PRODUCER; i++) srt_taskq_push(Q, &new_item(base + i)->node);
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  srt_tqnode *_Atomic claim = NULL;
  for (;;) {
    srt_tqnode *n;
    int r = srt_taskq_pop(Q, &n, &claim, srt_deadline(10));
    if (r != SRT_OK) return (void *)(intptr_t)r;
    atomic_fetch_add(&seen[((item *)n)->value], 1);
    srt_free(n);
  }
}

static int all_once(int total) {
  for (int i = 0; i < total; i++)
    if (atomic_load(&seen[i]) != 1) return 0;
  return 1;
}

int main(void) {
  ok(srt_arena_init(256 << 20) == 0, "arena maps");
  Q = srt_calloc(sizeof *Q);
  srt_taskq_init(Q);

  /* order and basic results */
  for (int i = 0; i < 5; i++) srt_taskq_push(Q, &new_item(i)->node);
  ok(srt_taskq_size(Q) == 5, "size counts queued nodes");
  int inorder = 1;
  srt_tqnode *_Atomic claim = NULL;
  for (int i = 0; i < 5; i++) {
    srt_tqnode *n;
    int r = srt_taskq_pop(Q, &n, &claim, 0);
    inorder = inorder && r == SRT_OK && ((item *)n)->value == i && claim == n;
    srt_free(n);
  }
  ok(inorder, "nodes come out in FIFO order and land in the claim word");
  srt_tqnode *n = NULL;
  ok(srt_taskq_pop(Q, &n, NULL, 0) == SRT_TIMEDOUT && !n, "an empty queue does not block with deadline 0");
  int64_t t0 = srt_now_ns();
  ok(srt_taskq_pop(Q, &n, NULL, srt_deadline(0.05)) == SRT_TIMEDOUT, "a timed pop on an empty queue times out");
  ok(srt_now_ns() - t0 >= 45000000, "after its timeout");

  /* drain */
  for (int i = 0; i < 3; i++) srt_taskq_push(Q, &new_item(i)->node);
  srt_tqnode *all = srt_taskq_drain(Q);
  int k = 0;
  while (all) {
    srt_tqnode *next = all->next;
    k++;
    srt_free(all);
    all = next;
  }
  ok(k == 3 && srt_taskq_size(Q) == 0, "drain takes every node");

  /* threads: every node taken exactly once */
  int total = PRODUCERS * PER_PRODUCER;
  seen = srt_calloc(sizeof(*seen) * (size_t)total);
  pthread_t p[PRODUCERS], c[CONSUMERS];
  for (int i = 0; i < CONSUMERS; i++) pthread_create(&c[i], NULL, consumer, NULL);
  for (int i = 0; i < PRODUCERS; i++) pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
  for (int i = 0; i < PRODUCERS; i++) pthread_join(p[i], NULL);
  srt_taskq_close(Q);
  int broken = 1;
  for (int i = 0; i < CONSUMERS; i++) {
    void *r;
    pthread_join(c[i], &r);
    broken = broken && (intptr_t)r == SRT_BROKEN;
  }
  ok(broken, "closing wakes every consumer with SRT_BROKEN once the queue is empty");
  ok(all_once(total), "3 producers x 3 consumer threads: %d nodes, each taken once", total);
  ok(srt_taskq_push(Q, &new_item(0)->node) == SRT_BROKEN, "a closed queue refuses pushes");

  /* forked consumers */
  srt_taskq_destroy(Q);
  srt_taskq_init(Q);
  memset(seen, 0, sizeof(*seen) * (size_t)total);
  pid_t kids[2];
  for (int i = 0; i < 2; i++) {
    kids[i] = fork();
    if (kids[i] == 0) _exit(consumer(NULL) == (void *)(intptr_t)SRT_BROKEN ? 0 : 1);
  }
  for (int i = 0; i < PRODUCERS; i++) producer((void *)(intptr_t)i);
  srt_taskq_close(Q);
  int exits_ok = 1;
  for (int i = 0; i < 2; i++) {
    int st;
    waitpid(kids[i], &st, 0);
    exits_ok = exits_ok && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  ok(exits_ok && all_once(total), "2 forked consumers take %d nodes, each once", total);

  /* a consumer killed with a claimed node */
  srt_taskq_destroy(Q);
  srt_taskq_init(Q);
  srt_tqnode *_Atomic *claim_word = srt_calloc(sizeof *claim_word);
  pid_t kid = fork();
  if (kid == 0) {
    srt_tqnode *got;
    if (srt_taskq_pop(Q, &got, claim_word, srt_deadline(10)) == SRT_OK) pause();
    _exit(1);
  }
  item *victim = new_item(42);
  srt_taskq_push(Q, &victim->node);
  while (atomic_load(claim_word) == NULL) usleep(1000);
  kill(kid, SIGKILL);
  waitpid(kid, NULL, 0);
  ok(atomic_load(claim_word) == &victim->node, "a dead consumer's claim word names its node");
  ok(srt_taskq_unclaim(Q, &victim->node) == 0 && srt_taskq_size(Q) == 0,
     "a finished pop is not undone");
  /* a pop that died between claiming and unlinking: simulate by claiming by hand */
  item *half = new_item(7);
  srt_taskq_push(Q, &half->node);
  ok(srt_taskq_unclaim(Q, &half->node) == 1 && srt_taskq_size(Q) == 0 && Q->head == NULL,
     "unclaim finishes a half-done pop");
  srt_free(victim);
  srt_free(half);
  printf("1..%d\n", tap_n);
  return 0;
}

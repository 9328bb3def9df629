/* Arena allocator: sizes, reuse, coalescing back to empty, exhaustion,
** races between threads and between forked processes, object refcounts. */
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "srt.h"
#include "tap.h"

#define THREADS 4
#define ROUNDS 20000

static void *churn(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  void *keep[64] = {0};
  for (int i = 0; i < ROUNDS; i++) {
    int k = (int)(rand_r(&seed) % 64);
    if (keep[k]) {
      unsigned char *p = keep[k];
      size_t n = srt_alloc_size(p);
      for (size_t j = 0; j < n && j < 64; j++)
        if (p[j] != (unsigned char)k) return (void *)1; /* someone else wrote here */
      srt_free(p);
      keep[k] = NULL;
    } else {
      size_t n = 1 + rand_r(&seed) % 5000;
      keep[k] = srt_alloc(n);
      if (!keep[k]) return (void *)1;
      n = srt_alloc_size(keep[k]);
      memset(keep[k], k, n < 64 ? n : 64);
    }
  }
  for (int k = 0; k < 64; k++) srt_free(keep[k]);
  return NULL;
}

static int destroyed;
static void on_destroy(srt_obj *o) { (void)o; destroyed++; }

int main(void) {
  ok(srt_arena_init(64 << 20) == 0, "arena maps");
  srt_arena_stats st0, st;
  srt_arena_stats_get(&st0);
  ok(st0.in_use == 0 && st0.capacity == (64u << 20), "empty at start, 64 MiB capacity");

  void *a = srt_alloc(1), *b = srt_alloc(100), *c = srt_alloc(100000);
  ok(a && b && c && srt_in_arena(a, 1) && srt_in_arena(c, 100000), "allocations land in the arena");
  ok(srt_alloc_size(b) >= 100 && srt_alloc_size(c) >= 100000, "usable sizes cover requests");
  memset(c, 7, 100000);
  srt_free(a); srt_free(b); srt_free(c);
  srt_arena_stats_get(&st);
  ok(st.in_use == 0 && st.blocks == 0, "freeing everything returns to empty");
  void *big = srt_alloc((64u << 20) - 64);
  ok(big != NULL, "after coalescing the whole arena is one block again");
  ok(srt_alloc(16) == NULL, "a full arena answers NULL, not a crash");
  srt_free(big);
  ok(srt_alloc((size_t)1 << 40) == NULL, "an impossible size answers NULL");

  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)(i + 1));
  int bad = 0;
  for (int i = 0; i < THREADS; i++) {
    void *r;
    pthread_join(th[i], &r);
    bad += r != NULL;
  }
  srt_arena_stats_get(&st);
  ok(bad == 0 && st.in_use == 0, "threads racing alloc/free: no overlap, nothing leaked");

  pid_t kids[3];
  for (int i = 0; i < 3; i++) {
    kids[i] = fork();
    if (kids[i] == 0) _exit(churn((void *)(uintptr_t)(100 + i)) != NULL);
  }
  void *r = churn((void *)99);
  int kid_bad = 0;
  for (int i = 0; i < 3; i++) {
    int status;
    waitpid(kids[i], &status, 0);
    kid_bad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  srt_arena_stats_get(&st);
  ok(r == NULL && kid_bad == 0 && st.in_use == 0, "forked processes racing alloc/free: consistent, nothing leaked");

  /* an object made in a child is visible to the parent */
  void *volatile *slot = srt_calloc(sizeof(void *));
  pid_t k = fork();
  if (k == 0) {
    char *s = srt_alloc(32);
    strcpy(s, "from the child");
    *slot = s;
    _exit(0);
  }
  waitpid(k, NULL, 0);
  ok(*slot && strcmp((char *)*slot, "from the child") == 0, "memory allocated in a child is seen by the parent");
  srt_free(*slot);
  srt_free((void *)slot);

  /* a big block gives its pages back when freed: a new one reads zeros */
  unsigned char *m = srt_alloc(1 << 20);
  memset(m, 0xab, 1 << 20);
  srt_free(m);
  unsigned char *m2 = srt_alloc(1 << 20);
  ok(m2 == m && m2[4096] == 0 && m2[(1 << 20) - 100] == 0, "a freed 1 MiB block's pages go back to the kernel");
  srt_free(m2);

  srt_type_register(7, on_destroy);
  srt_obj *o = srt_obj_new(7, 64);
  ok(srt_obj_valid(o, 7) && !srt_obj_valid(o, 8), "objects validate by type");
  srt_incref(o);
  srt_decref(o);
  ok(destroyed == 0, "an object with references left is kept");
  srt_decref(o);
  srt_arena_stats_get(&st);
  ok(destroyed == 1 && st.in_use == 0, "last decref destroys and frees");
  /* processes SIGKILLed at random points of alloc/free (some inside the
  ** heap's lock) leave a heap the others go on using */
  int survived = 1;
  for (int round = 0; round < 30 && survived; round++) {
    pid_t victim = fork();
    if (victim == 0) {
      for (;;) churn((void *)(uintptr_t)(500 + round));
    }
    struct timespec ts = {0, 200000 + (round % 7) * 150000};
    nanosleep(&ts, NULL);
    kill(victim, SIGKILL);
    waitpid(victim, NULL, 0);
    survived = churn((void *)(uintptr_t)(900 + round)) == NULL;
  }
  ok(survived, "a heap whose users were killed mid-operation keeps working");

  return 0;
}

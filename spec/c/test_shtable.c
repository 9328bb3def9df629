/* Shared containers' storage: blobs and their release hook, the dict (order,
** growth, deletes, snapshot, clear), the list (positions, insert/pop, range),
** the update guard, and races from threads and forked processes. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "srt.h"
#include "tap.h"

static _Atomic int released;
static void on_release(srt_blob *b) { (void)b; atomic_fetch_add(&released, 1); }

static srt_blob *val_of(long v) { return srt_blob_new(&v, sizeof v, SRT_BLOB_OWNS); }
static long num_of(srt_blob *b) {
  long v;
  memcpy(&v, b->data, sizeof v);
  return v;
}
static long get_num(srt_dict *d, const char *k) {
  srt_blob *b = srt_dict_get(d, k, strlen(k));
  long v = b ? num_of(b) : -1;
  srt_blob_decref(b);
  return v;
}
static int set_num(srt_dict *d, const char *k, long v) {
  return srt_dict_set(d, k, strlen(k), val_of(v), NULL, SRT_FOREVER);
}

#define THREADS 4
#define ROUNDS 20000
static srt_dict *shared_d;
static srt_list *shared_l;

/* Increment "count" under the guard, as d:update does, and write own keys. */
static void *racer(void *arg) {
  long id = (long)(intptr_t)arg;
  char key[32];
  for (int i = 0; i < ROUNDS; i++) {
    srt_lock_acquire(&shared_d->guard, SRT_FOREVER);
    long c = get_num(shared_d, "count");
    if (c < 0) c = 0; /* missing */
    set_num(shared_d, "count", c + 1);
    srt_lock_release(&shared_d->guard);
    snprintf(key, sizeof key, "k%ld-%d", id, i % 100);
    set_num(shared_d, key, i);
    if (i % 7 == 0) srt_dict_set(shared_d, key, strlen(key), NULL, NULL, SRT_FOREVER);
    srt_list_insert(shared_l, -1, val_of(id), SRT_FOREVER);
  }
  return NULL;
}

static _Atomic uint32_t holding, let_go;
static void *guard_holder(void *arg) {
  srt_dict *d = arg;
  srt_lock_acquire(&d->guard, SRT_FOREVER);
  atomic_store(&holding, 1);
  srt_futex_wake(&holding, 1);
  while (!atomic_load(&let_go)) srt_futex_wait(&let_go, 0, srt_deadline(1));
  srt_lock_release(&d->guard);
  return NULL;
}

int main(void) {
  ok(srt_arena_init(256 << 20) == 0, "arena maps");
  srt_blob_set_release(on_release);
  srt_arena_stats st0, st;
  srt_arena_stats_get(&st0);

  srt_dict *d = srt_calloc(sizeof *d);
  srt_dict_init(d);
  ok(srt_dict_len(d) == 0 && srt_dict_get(d, "a", 1) == NULL, "a new dict is empty");
  set_num(d, "a", 1);
  set_num(d, "b", 2);
  set_num(d, "c", 3);
  ok(srt_dict_len(d) == 3 && get_num(d, "a") == 1 && get_num(d, "c") == 3, "set and get");
  set_num(d, "a", 10);
  ok(srt_dict_len(d) == 3 && get_num(d, "a") == 10 && released == 1, "replacing drops the old value");
  srt_blob *old = NULL;
  srt_dict_set(d, "b", 1, NULL, &old, SRT_FOREVER);
  ok(old && num_of(old) == 2 && srt_dict_len(d) == 2 && get_num(d, "b") == -1,
     "deleting hands back the old value");
  srt_blob_decref(old);
  srt_dict_set(d, "zz", 2, NULL, NULL, SRT_FOREVER);
  ok(srt_dict_len(d) == 2, "deleting a missing key changes nothing");
  set_num(d, "b", 20);
  srt_blob **snap;
  size_t n;
  srt_dict_snapshot(d, &snap, &n);
  ok(n == 3 && memcmp(snap[0]->data, "a", 1) == 0 && memcmp(snap[2]->data, "c", 1) == 0 &&
         memcmp(snap[4]->data, "b", 1) == 0 && num_of(snap[5]) == 20,
     "snapshot in insertion order (a re-added key goes last)");
  set_num(d, "c", 30);
  ok(num_of(snap[3]) == 3, "a snapshot keeps the values it saw");
  srt_blobs_release(snap, 2 * n);

  char key[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "key%d", i);
    set_num(d, key, i);
  }
  for (int i = 0; i < 5000; i += 2) {
    snprintf(key, sizeof key, "key%d", i);
    srt_dict_set(d, key, strlen(key), NULL, NULL, SRT_FOREVER);
  }
  int good = srt_dict_len(d) == 3 + 2500;
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "key%d", i);
    good &= get_num(d, key) == (i % 2 ? i : -1);
  }
  ok(good, "5000 keys grow the table; deletes leave the others findable");
  for (int i = 0; i < 5000; i += 2) {
    snprintf(key, sizeof key, "key%d", i);
    set_num(d, key, -i);
  }
  good = srt_dict_len(d) == 5003;
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "key%d", i);
    good &= get_num(d, key) == (i % 2 ? i : -i);
  }
  ok(good, "re-inserting deleted keys (rebuilds over tombstones)");
  srt_dict_clear(d, SRT_FOREVER);
  ok(srt_dict_len(d) == 0 && get_num(d, "a") == -1, "clear empties it");
  srt_dict_destroy(d);

  /* the guard: other writers wait, readers and the holder do not */
  srt_dict_init(d);
  set_num(d, "x", 1);
  pthread_t th;
  pthread_create(&th, NULL, guard_holder, d);
  while (!atomic_load(&holding)) srt_futex_wait(&holding, 0, srt_deadline(1));
  ok(get_num(d, "x") == 1, "readers pass while another thread holds the guard");
  srt_blob *v2 = val_of(2);
  int r = srt_dict_set(d, "x", 1, v2, NULL, srt_deadline(0.05));
  ok(r == SRT_TIMEDOUT && get_num(d, "x") == 1, "writers wait for the guard (timeout)");
  srt_blob_decref(v2); /* not taken over on failure */
  atomic_store(&let_go, 1);
  srt_futex_wake(&let_go, 1);
  pthread_join(th, NULL);
  srt_lock_acquire(&d->guard, SRT_FOREVER);
  srt_lock_acquire(&d->guard, SRT_FOREVER);
  ok(set_num(d, "x", 3) == SRT_OK && get_num(d, "x") == 3, "the guard's holder writes");
  srt_lock_release(&d->guard);
  srt_lock_release(&d->guard);
  srt_dict_destroy(d);

  /* list */
  srt_list *l = srt_calloc(sizeof *l);
  srt_list_init(l);
  ok(srt_list_len(l) == 0 && srt_list_get(l, 0) == NULL, "a new list is empty");
  for (long i = 1; i <= 5; i++) srt_list_insert(l, -1, val_of(i), SRT_FOREVER);
  srt_blob *b0 = srt_list_get(l, 0), *bl = srt_list_get(l, -1);
  ok(srt_list_len(l) == 5 && num_of(b0) == 1 && num_of(bl) == 5, "append, first and last");
  srt_blob_decref(b0);
  srt_blob_decref(bl);
  srt_list_insert(l, 0, val_of(0), SRT_FOREVER);
  srt_list_insert(l, 3, val_of(99), SRT_FOREVER);
  srt_blob **items;
  srt_list_snapshot(l, &items, &n);
  long want[] = {0, 1, 2, 99, 3, 4, 5};
  good = n == 7;
  for (size_t i = 0; good && i < n; i++) good &= num_of(items[i]) == want[i];
  srt_blobs_release(items, n);
  ok(good, "insert at the front and in the middle");
  srt_blob *p;
  srt_list_pop(l, 3, &p, SRT_FOREVER);
  ok(p && num_of(p) == 99 && srt_list_len(l) == 6, "pop from the middle");
  srt_blob_decref(p);
  srt_list_pop(l, -1, &p, SRT_FOREVER);
  ok(p && num_of(p) == 5 && srt_list_len(l) == 5, "pop the last");
  srt_blob_decref(p);
  ok(srt_list_pop(l, 5, &p, SRT_FOREVER) == SRT_RANGE && p == NULL, "pop out of range");
  srt_blob *v = val_of(7);
  ok(srt_list_insert(l, 7, v, SRT_FOREVER) == SRT_RANGE && srt_list_len(l) == 5,
     "insert out of range leaves the list alone");
  ok(srt_list_set(l, 5, v, SRT_FOREVER) == SRT_RANGE, "set out of range");
  ok(srt_list_set(l, -5, v, SRT_FOREVER) == SRT_OK, "set with a negative position");
  b0 = srt_list_get(l, 0);
  ok(num_of(b0) == 7, "which is counted from the end");
  srt_blob_decref(b0);
  srt_list_clear(l, SRT_FOREVER);
  ok(srt_list_len(l) == 0, "clear");
  srt_list_destroy(l);

  /* races: threads */
  shared_d = d;
  shared_l = l;
  srt_dict_init(d);
  srt_list_init(l);
  pthread_t ths[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&ths[i], NULL, racer, (void *)(intptr_t)i);
  for (int i = 0; i < THREADS; i++) pthread_join(ths[i], NULL);
  ok(get_num(d, "count") == THREADS * ROUNDS, "threads: guarded read-modify-write counts exactly");
  ok(srt_list_len(l) == THREADS * ROUNDS, "threads: every append landed");

  /* races: processes */
  pid_t kids[3];
  for (int i = 0; i < 3; i++) {
    kids[i] = fork();
    if (kids[i] == 0) {
      racer((void *)(intptr_t)(10 + i));
      _exit(0);
    }
  }
  racer((void *)(intptr_t)9);
  int kid_bad = 0;
  for (int i = 0; i < 3; i++) {
    int status;
    waitpid(kids[i], &status, 0);
    kid_bad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  }
  ok(kid_bad == 0 && get_num(d, "count") == (THREADS + 4) * ROUNDS,
     "processes: guarded read-modify-write counts exactly");
  ok(srt_list_len(l) == (THREADS + 4) * ROUNDS, "processes: every append landed");

  /* a process killed while it holds the guard does not block writers */
  pid_t k = fork();
  if (k == 0) {
    srt_lock_acquire(&d->guard, SRT_FOREVER);
    _exit(0);
  }
  waitpid(k, NULL, 0);
  ok(srt_dict_set(d, "after", 5, val_of(1), NULL, srt_deadline(5)) == SRT_OK,
     "a guard left by a dead process is taken over");

  srt_dict_destroy(d);
  srt_list_destroy(l);
  srt_free(d);
  srt_free(l);
  srt_arena_stats_get(&st);
  ok(st.in_use == st0.in_use, "nothing leaked (%zu bytes in use, %zu at start)", st.in_use, st0.in_use);
  return 0;
}

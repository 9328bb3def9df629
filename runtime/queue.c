/*
** queue.c — a multi-producer multi-consumer queue of byte messages living in
** the arena, so one queue works between threads, between processes, and
** both at once.
**
** Storage: a small message is copied into the queue (no allocation on the
** hot path); a large one is an arena block the queue points to. A FIFO
** queue keeps its slots in a list of 64 KiB chunks (growing never copies, a
** used-up chunk is recycled); LIFO and priority queues keep fixed-size
** entries in one ring that doubles when full. Positions are two monotonic
** counters, head (taken) and tail (put): every put and get publishes with one
** store, so a process killed while holding the queue's lock leaves either the
** old or the new state, never a half one. A priority queue is a binary heap
** over the ring's entries; its sifts take several steps, so each one is
** bracketed by a `dirty` mark and a saved copy of the moving entry, and
** whoever takes the lock over from a dead holder rebuilds the heap from
** what is there.
**
** Waiting: a consumer that finds the queue empty spins briefly (only when
** it may run on more than one CPU), then takes a "ticket" and sleeps on a
** futex sequence. A producer wakes one sleeper only when a ticket is out,
** and consumes the ticket, so a burst of puts against one slow-waking
** consumer costs one wake-up, not one per put. A ticket left behind by a
** waiter that timed out or died costs at most one spare wake-up later.
*/
#include "srt.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <time.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INITIAL_CAP 64
#define SPIN_NS 30000 /* how long an idle side polls before it sleeps */

void (*srt_queue_fault_hook)(int step);
#define FAULT(step) \
  do { if (srt_queue_fault_hook) srt_queue_fault_hook(step); } while (0)

typedef struct qent {
  uint64_t seq;   /* put order: FIFO tie-break among equal priorities */
  double prio;    /* number key */
  char *key;      /* string key (arena block), or NULL for a number key */
  uint32_t klen;
  uint32_t ck;    /* priority entries: checksum, so repair can drop a torn copy */
  uint64_t len;   /* message length */
  void *block;    /* arena block holding a large message, or NULL */
  char bytes[SRT_QMSG_INLINE];
} qent;

/* The ring and its capacity in one block, so growing swaps one pointer. The
** slot after the last entry keeps the entry a heap sift is moving. */
typedef struct qring {
  uint64_t cap;
  uint64_t pad;
  qent e[];
} qring;

/* FIFO storage: a list of chunks of small slots. A chunk is one 64 KiB
** arena block (below the size whose pages the arena gives back, so a
** recycled chunk costs no page faults); growing never copies, and the chunk
** the consumer leaves is kept as a spare for the producer. Each chunk knows
** the position of its first slot, so one pointer store moves the head or
** the tail to another chunk. */
typedef struct fslot {
  uint32_t len;
  uint32_t isblock;
  union {
    void *block;
    char bytes[88];
  } u;
} fslot;

typedef struct fchunk {
  struct fchunk *_Atomic next;
  uint64_t base; /* position of s[0] */
  fslot s[];
} fchunk;

#define CHUNK_BYTES (65536 - 16) /* one order-16 buddy block with its header */
#define CHUNK_SLOTS ((CHUNK_BYTES - sizeof(fchunk)) / sizeof(fslot))

typedef struct qwatch {
  struct qwatch *next;
  srt_tctx *ctx;
  pid_t pid, tid;
  int fired;
} qwatch;

/* Layout: what a spinning consumer polls (tail, closed) and what a spinning
** producer polls (head) sit on cache lines of their own, away from the lock
** word and the fields written under it, so polling does not keep pulling the
** lock's line away from the thread that holds it. (Arena blocks are 16-byte
** aligned: 64 bytes of padding is what keeps two groups apart.) */
struct srt_queue {
  _Atomic uint32_t lk; /* the lock: holder's tid | QL_WAITERS */
  uint32_t order;
  uint64_t maxsize; /* 0: unbounded */
  qring *_Atomic ring; /* LIFO, priority; swapped with a release store: a kill never shows a half-copied ring */
  fchunk *_Atomic hchunk, *_Atomic tchunk, *_Atomic spare; /* FIFO */
  uint64_t seq;
  uint64_t unfinished;
  /* sleepers: a futex sequence and outstanding tickets for each kind */
  _Atomic uint32_t get_seq, put_seq, join_seq;
  uint32_t get_tickets, put_tickets, join_tickets;
  /* heap repair */
  _Atomic uint32_t dirty;
  uint64_t scan_hi;
  qwatch *watchers;
  char pad1[64];
  _Atomic uint64_t tail; /* priority: the count (head stays 0) */
  _Atomic uint32_t closed;
  char pad2[64];
  _Atomic uint64_t head;
  char pad3[64];
};
/* ---- small helpers ------------------------------------------------------------ */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Spinning only pays when the other side can run at the same time. */
static int may_spin(void) { return srt_usable_cpus() > 1; }

static inline uint64_t count_of(srt_queue *q) {
  return atomic_load_explicit(&q->tail, memory_order_acquire) -
         atomic_load_explicit(&q->head, memory_order_acquire);
}

static qent *slot(srt_queue *q, uint64_t i) { return &q->ring->e[i % q->ring->cap]; }

static qring *ring_new(uint64_t cap) {
  qring *r = srt_alloc(sizeof(qring) + (cap + 1) * sizeof(qent));
  if (r) r->cap = cap;
  return r;
}

/* Double the ring; the same logical indices stay valid, so the swap of the
** ring pointer is the only publishing store. Lock held. */
static int ring_grow(srt_queue *q) {
  qring *old = q->ring;
  qring *r = ring_new(old->cap * 2);
  if (!r) return SRT_NOMEM;
  uint64_t h = atomic_load(&q->head), t = atomic_load(&q->tail);
  for (uint64_t i = h; i < t; i++) r->e[i % r->cap] = old->e[i % old->cap];
  atomic_store_explicit(&q->ring, r, memory_order_release); /* after every copy */
  srt_free(old);
  return SRT_OK;
}

/* ---- FIFO chunks (lock held) ---------------------------------------------------- */
static fchunk *chunk_new(srt_queue *q, uint64_t base) {
  fchunk *c = atomic_load(&q->spare);
  if (c) atomic_store(&q->spare, NULL);
  else c = srt_alloc(CHUNK_BYTES);
  if (!c) return NULL;
  atomic_store(&c->next, NULL);
  c->base = base;
  return c;
}

/* The slot for position t, linking a new chunk when t is past the last. */
static fslot *tail_slot(srt_queue *q, uint64_t t) {
  fchunk *c = atomic_load(&q->tchunk);
  if (t >= c->base + CHUNK_SLOTS) {
    fchunk *n = chunk_new(q, c->base + CHUNK_SLOTS);
    if (!n) return NULL;
    atomic_store_explicit(&c->next, n, memory_order_release);
    FAULT(4);
    atomic_store_explicit(&q->tchunk, n, memory_order_release);
    c = n;
  }
  return &c->s[t - c->base];
}

/* The slot for position h (an item is there), leaving a used-up chunk. */
static fslot *head_slot(srt_queue *q, uint64_t h) {
  fchunk *c = atomic_load(&q->hchunk);
  if (h >= c->base + CHUNK_SLOTS) {
    fchunk *n = atomic_load(&c->next);
    atomic_store_explicit(&q->hchunk, n, memory_order_release);
    if (!atomic_load(&q->spare)) atomic_store(&q->spare, c);
    else srt_free(c);
    c = n;
  }
  return &c->s[h - c->base];
}

/* A holder died between linking a chunk and making it the tail one. */
static void chunk_repair(srt_queue *q) {
  fchunk *c = atomic_load(&q->tchunk), *n;
  while (c && (n = atomic_load(&c->next)) != NULL) c = n;
  if (c) atomic_store(&q->tchunk, c);
}

/* ---- priority order ------------------------------------------------------------- */
/* Numbers before strings; numbers by value, strings bytewise; then put order. */
static int key_cmp(const qent *a, const qent *b) {
  if (!a->key != !b->key) return a->key ? 1 : -1;
  if (!a->key) {
    if (a->prio != b->prio) return a->prio < b->prio ? -1 : 1;
  } else {
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    if (c) return c;
    if (a->klen != b->klen) return a->klen < b->klen ? -1 : 1;
  }
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int ent_cmp(const void *a, const void *b) { return key_cmp(a, b); }

/* A heap sift copies 128-byte entries; a process killed in the middle of one
** copy leaves a torn entry that shares its sequence number with the intact
** original. Each heap entry carries a checksum so the repair keeps the
** intact one. */
static uint32_t ent_sum(const qent *e) {
  uint32_t h = 2166136261u;
  const unsigned char *p = (const unsigned char *)e;
  size_t n = offsetof(qent, ck);
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  p = (const unsigned char *)e + offsetof(qent, len);
  n = offsetof(qent, bytes) - offsetof(qent, len) + (e->block ? 0 : (e->len <= SRT_QMSG_INLINE ? e->len : 0));
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h | 1; /* never 0 */
}

/* A kill is asynchronous: the compiler must not move a heap write across
** these marks (the fence also stops it moving later writes above the mark). */
static void mark_dirty(srt_queue *q) {
  atomic_store(&q->dirty, 1);
  atomic_thread_fence(memory_order_seq_cst);
}

static void mark_clean(srt_queue *q) {
  atomic_thread_fence(memory_order_seq_cst);
  atomic_store(&q->dirty, 0);
}

static void heap_push(srt_queue *q, qent *x) {
  qring *r = q->ring;
  x->ck = ent_sum(x);
  uint64_t n = atomic_load(&q->tail);
  r->e[r->cap] = *x; /* the saved copy, for repair */
  r->e[n].seq = 0;    /* the slot the heap grows into may hold an old entry */
  q->scan_hi = n + 1;
  mark_dirty(q);
  uint64_t hole = n;
  while (hole > 0) {
    uint64_t parent = (hole - 1) / 2;
    if (key_cmp(&r->e[parent], x) <= 0) break;
    r->e[hole] = r->e[parent];
    FAULT(2);
    hole = parent;
  }
  r->e[hole] = *x;
  atomic_store(&q->tail, n + 1);
  mark_clean(q);
}

static void heap_pop(srt_queue *q, qent *out) {
  qring *r = q->ring;
  uint64_t n = atomic_load(&q->tail);
  q->scan_hi = n;
  r->e[r->cap].seq = 0; /* no saved entry: the last one stays at e[n-1] */
  mark_dirty(q);
  *out = r->e[0];
  qent *last = &r->e[n - 1];
  n--;
  uint64_t hole = 0;
  for (;;) {
    uint64_t c = 2 * hole + 1;
    if (c >= n) break;
    if (c + 1 < n && key_cmp(&r->e[c + 1], &r->e[c]) < 0) c++;
    if (key_cmp(last, &r->e[c]) <= 0) break;
    r->e[hole] = r->e[c];
    FAULT(3);
    hole = c;
  }
  if (hole != n) r->e[hole] = *last;
  atomic_store(&q->tail, n);
  mark_clean(q);
}

/* The previous owner died inside a heap sift: keep each entry once (by its
** sequence number), add the saved one if it got lost, and re-sort. A sorted
** array is a heap. */
static void heap_repair(srt_queue *q) {
  qring *r = q->ring;
  uint64_t n = q->scan_hi, k = 0;
  if (n > r->cap) n = r->cap;
  if (r->e[r->cap].seq) r->e[n++] = r->e[r->cap];
  for (uint64_t i = 0; i < n; i++) /* drop torn copies */
    if (r->e[i].seq && r->e[i].ck == ent_sum(&r->e[i])) r->e[k++] = r->e[i];
  n = k;
  qsort(r->e, n, sizeof(qent), ent_cmp);
  uint64_t w = 0;
  for (uint64_t i = 0; i < n; i++)
    if (w == 0 || r->e[w - 1].seq != r->e[i].seq) r->e[w++] = r->e[i];
  atomic_store(&q->tail, w);
  r->e[r->cap].seq = 0;
  mark_clean(q);
}

/* ---- the queue's lock ---------------------------------------------------------- */
/* A futex word holding the holder's thread id (and QL_WAITERS when someone
** sleeps on it): taking it is one CAS and leaving it one exchange, a third of
** what a robust pthread mutex costs, and this is paid twice per message. The
** robustness a robust mutex gets from the kernel comes from the thread id: a
** waiter that sleeps a whole slice without the word changing checks whether
** the holder still exists, and if not takes the lock over (one CAS decides
** who) and repairs what the holder left half done. */
#define QL_WAITERS 0x80000000u
#define QL_SLICE_NS 50000000L
#define LOCK_SPINS 200

static __thread uint32_t tl_tid; /* this thread's id, cached; reset in a fork child */

static void forget_tid(void) { tl_tid = 0; }
static void install_forget(void) { pthread_atfork(NULL, NULL, forget_tid); }

static uint32_t my_tid(void) {
  if (!tl_tid) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_forget); /* before this value can cross a fork */
    tl_tid = (uint32_t)srt_gettid();
  }
  return tl_tid;
}

static int sleep_on(_Atomic uint32_t *w, uint32_t val) {
  struct timespec ts = {0, QL_SLICE_NS};
  long r = syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, val, &ts, NULL, 0);
  return r == 0 ? 0 : errno;
}

static void lock(srt_queue *q) {
  uint32_t me = my_tid(), c = 0;
  if (atomic_compare_exchange_strong(&q->lk, &c, me)) return;
  if (may_spin()) {
    for (int i = 0; i < LOCK_SPINS; i++) {
      cpu_relax();
      c = 0;
      if (atomic_load_explicit(&q->lk, memory_order_relaxed) == 0 &&
          atomic_compare_exchange_weak(&q->lk, &c, me))
        return;
    }
  }
  for (;;) {
    c = atomic_load(&q->lk);
    if (c == 0) {
      if (atomic_compare_exchange_strong(&q->lk, &c, me | QL_WAITERS)) return;
      continue;
    }
    if (!(c & QL_WAITERS)) {
      if (!atomic_compare_exchange_strong(&q->lk, &c, c | QL_WAITERS)) continue;
      c |= QL_WAITERS;
    }
    if (sleep_on(&q->lk, c) != ETIMEDOUT) continue;
    pid_t holder = (pid_t)(c & ~QL_WAITERS);
    if (!srt_pid_alive(holder) && atomic_compare_exchange_strong(&q->lk, &c, me | QL_WAITERS)) {
      if (q->dirty) heap_repair(q); /* it died inside a heap sift */
      if (q->order == SRT_QUEUE_FIFO) chunk_repair(q);
      return;
    }
  }
}

static void unlock(srt_queue *q) {
  if (atomic_exchange(&q->lk, 0) & QL_WAITERS) srt_futex_wake(&q->lk, 1);
}

/* ---- watchers (strand.wait): a signal to each, once ------------------------------ */
static void notify_watchers(srt_queue *q) {
  for (qwatch **pw = &q->watchers; *pw;) {
    qwatch *w = *pw;
    if (!w->fired) {
      w->fired = 1;
      if (syscall(SYS_tgkill, w->pid, w->tid, srt_wake_signal) != 0 && errno == ESRCH) {
        *pw = w->next; /* its thread is gone */
        srt_free(w);
        continue;
      }
    }
    pw = &w->next;
  }
}

/* ---- creation and destruction ----------------------------------------------------- */
srt_queue *srt_queue_new(size_t maxsize, int order) {
  srt_queue *q = srt_calloc(sizeof *q);
  if (!q) return NULL;
  q->order = (uint32_t)order;
  if (order == SRT_QUEUE_FIFO) {
    fchunk *c = chunk_new(q, 0);
    if (!c) {
      srt_free(q);
      return NULL;
    }
    atomic_store(&q->hchunk, c);
    atomic_store(&q->tchunk, c);
  } else {
    uint64_t cap = INITIAL_CAP;
    if (maxsize && maxsize < cap) cap = maxsize;
    q->ring = ring_new(cap);
    if (!q->ring) {
      srt_free(q);
      return NULL;
    }
  }
  q->maxsize = maxsize;
  q->seq = 1;
  return q;
}

static void ent_release(qent *e, void (*release)(const void *, size_t)) {
  const void *p = e->block ? e->block : e->bytes;
  if (release) release(p, e->len);
  srt_free(e->block);
  srt_free(e->key);
  e->block = NULL;
  e->key = NULL;
}

void srt_queue_destroy(srt_queue *q, void (*release)(const void *p, size_t len)) {
  if (!q) return;
  lock(q);
  uint64_t h = atomic_load(&q->head), t = atomic_load(&q->tail);
  if (q->order == SRT_QUEUE_FIFO) {
    for (uint64_t i = h; i < t; i++) {
      fslot *sl = head_slot(q, i);
      const void *p = sl->isblock ? sl->u.block : sl->u.bytes;
      if (release) release(p, sl->len);
      if (sl->isblock) srt_free(sl->u.block);
    }
    for (fchunk *c = atomic_load(&q->hchunk), *n; c; c = n) {
      n = atomic_load(&c->next);
      srt_free(c);
    }
    srt_free(atomic_load(&q->spare));
  } else {
    for (uint64_t i = h; i < t; i++) ent_release(slot(q, i), release);
  }
  while (q->watchers) {
    qwatch *w = q->watchers;
    q->watchers = w->next;
    srt_free(w);
  }
  srt_free(q->ring);
  q->ring = NULL;
  unlock(q);
  srt_free(q);
}

/* ---- waking ------------------------------------------------------------------------- */
/* Take a ticket for a sleeper of one kind; `seen` is the sequence it will
** sleep on. If the sequence has not moved since this waiter's last ticket,
** that ticket is still out and no new one is needed. Lock held. */
static uint32_t take_ticket(_Atomic uint32_t *seqw, uint32_t *tickets, int *have, uint32_t *last) {
  uint32_t s = atomic_load(seqw);
  if (!*have || s != *last) (*tickets)++;
  *have = 1;
  *last = s;
  return s;
}

/* Wake one sleeper of a kind if one holds a ticket. Lock held; returns
** whether the caller must call futex_wake after unlocking. */
static int signal_one(_Atomic uint32_t *seqw, uint32_t *tickets) {
  if (!*tickets) return 0;
  (*tickets)--;
  atomic_fetch_add(seqw, 1);
  return 1;
}

static int signal_all(_Atomic uint32_t *seqw, uint32_t *tickets) {
  if (!*tickets) return 0;
  *tickets = 0;
  atomic_fetch_add(seqw, 1);
  return 1;
}

/* Poll briefly, unlocked, for a condition the other side will make true. */
static int spin_until(srt_queue *q, int want_items) {
  if (!may_spin()) return 0;
  int64_t until = srt_now_ns() + SPIN_NS;
  int pause = 1;
  for (int i = 1;; i++) {
    uint64_t n = count_of(q);
    if (want_items ? n > 0 : (q->maxsize == 0 || n < q->maxsize)) return 1;
    if (atomic_load_explicit(&q->closed, memory_order_relaxed)) return 1;
    for (int k = 0; k < pause; k++) cpu_relax(); /* poll less and less often */
    if (pause < 32) pause *= 2;
    if ((i & 15) == 0 && srt_now_ns() > until) return 0;
  }
}

/* ---- put ------------------------------------------------------------------------------- */
typedef struct putreq {
  const void *bytes; /* copied inline when small */
  void *block;       /* or an arena block handed over */
  size_t len;
  const srt_qkey *key;
  double prio;
  char *keycopy;     /* the string key copied into the arena */
} putreq;

static int is_full(srt_queue *q) { return q->maxsize && count_of(q) >= q->maxsize; }

/* Insert with the lock held and room available. */
static int insert(srt_queue *q, putreq *r) {
  uint64_t h = atomic_load(&q->head), t = atomic_load(&q->tail);
  if (q->order == SRT_QUEUE_FIFO) {
    fslot *sl = tail_slot(q, t);
    if (!sl) return SRT_NOMEM;
    q->unfinished++;
    sl->len = (uint32_t)r->len;
    sl->isblock = r->block != NULL;
    if (r->block) sl->u.block = r->block;
    else memcpy(sl->u.bytes, r->bytes, r->len);
    FAULT(1);
    atomic_store_explicit(&q->tail, t + 1, memory_order_release); /* publish */
    return SRT_OK;
  }
  if (t - h >= q->ring->cap) {
    int g = ring_grow(q);
    if (g != SRT_OK) return g;
  }
  qent x;
  x.seq = q->seq++;
  x.prio = r->key ? r->key->num : r->prio;
  x.key = r->keycopy;
  x.klen = r->keycopy ? (uint32_t)r->key->slen : 0;
  x.len = r->len;
  x.block = r->block;
  q->unfinished++;
  if (q->order == SRT_QUEUE_PRIORITY) {
    if (!x.block) memcpy(x.bytes, r->bytes, r->len);
    heap_push(q, &x);
    return SRT_OK;
  }
  qent *e = slot(q, t);
  e->seq = x.seq;
  e->prio = x.prio;
  e->key = x.key;
  e->klen = x.klen;
  e->len = x.len;
  e->block = x.block;
  if (!x.block) memcpy(e->bytes, r->bytes, r->len);
  FAULT(1);
  atomic_store_explicit(&q->tail, t + 1, memory_order_release); /* publish */
  return SRT_OK;
}

static int do_put(srt_queue *q, putreq *r, int64_t deadline) {
  int have = 0;
  uint32_t last = 0;
  for (;;) {
    lock(q);
    if (q->closed) {
      unlock(q);
      return SRT_BROKEN;
    }
    if (!is_full(q)) {
      int rc = insert(q, r);
      int wake = rc == SRT_OK && signal_one(&q->get_seq, &q->get_tickets);
      if (rc == SRT_OK && q->watchers) notify_watchers(q);
      unlock(q);
      if (wake) srt_futex_wake(&q->get_seq, 1);
      return rc;
    }
    if (deadline == 0 || srt_now_ns() >= deadline) {
      unlock(q);
      return SRT_TIMEDOUT;
    }
    unlock(q);
    if (spin_until(q, 0)) continue;
    lock(q);
    if (!is_full(q) || q->closed) {
      unlock(q);
      continue;
    }
    uint32_t s = take_ticket(&q->put_seq, &q->put_tickets, &have, &last);
    unlock(q);
    int w = srt_futex_wait(&q->put_seq, s, deadline);
    if (w == SRT_INTERRUPTED) return w;
  }
}

/* The arena copies of a big message and of a string key are made before the
** lock is taken, and freed again when the put fails. */
static int prepare(putreq *r) {
  if (r->key && r->key->str) {
    r->keycopy = srt_alloc(r->key->slen ? r->key->slen : 1);
    if (!r->keycopy) return SRT_NOMEM;
    memcpy(r->keycopy, r->key->str, r->key->slen);
  }
  if (!r->block && r->len > SRT_QMSG_INLINE) {
    r->block = srt_alloc(r->len);
    if (!r->block) return SRT_NOMEM;
    memcpy(r->block, r->bytes, r->len);
  }
  return SRT_OK;
}

int srt_queue_put_bytes(srt_queue *q, const void *bytes, size_t len, const srt_qkey *key,
                        int64_t deadline) {
  putreq r = {bytes, NULL, len, key, 0, NULL};
  int rc = prepare(&r);
  if (rc == SRT_OK) rc = do_put(q, &r, deadline);
  if (rc != SRT_OK) {
    srt_free(r.block);
    srt_free(r.keycopy);
  }
  return rc;
}

int srt_queue_put(srt_queue *q, void *msg, size_t len, double prio, int64_t deadline) {
  putreq r = {msg, NULL, len, NULL, prio, NULL};
  if (len > SRT_QMSG_INLINE) r.block = msg;
  int rc = do_put(q, &r, deadline);
  if (rc == SRT_OK && !r.block) srt_free(msg); /* copied inline */
  return rc;
}

/* ---- get ------------------------------------------------------------------------------ */
/* Remove the next entry into out, lock held, queue not empty. */
static void take_out(srt_queue *q, qent *out) {
  if (q->order == SRT_QUEUE_PRIORITY) {
    heap_pop(q, out);
  } else if (q->order == SRT_QUEUE_LIFO) {
    uint64_t t = atomic_load(&q->tail) - 1;
    qent *e = slot(q, t);
    memcpy(out, e, offsetof(qent, bytes) + (e->block ? 0 : e->len));
    atomic_store_explicit(&q->tail, t, memory_order_release);
  } else {
    uint64_t h = atomic_load(&q->head);
    fslot *sl = head_slot(q, h);
    out->key = NULL;
    out->len = sl->len;
    out->block = sl->isblock ? sl->u.block : NULL;
    if (!out->block) memcpy(out->bytes, sl->u.bytes, sl->len);
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
  }
}

int srt_queue_take(srt_queue *q, srt_qmsg *m, int64_t deadline) {
  int have = 0;
  uint32_t last = 0;
  for (;;) {
    lock(q);
    if (count_of(q) > 0) {
      qent e;
      take_out(q, &e);
      int wake = signal_one(&q->put_seq, &q->put_tickets);
      unlock(q);
      if (wake) srt_futex_wake(&q->put_seq, 1);
      srt_free(e.key);
      m->len = e.len;
      m->block = e.block;
      if (!e.block) memcpy(m->small, e.bytes, e.len);
      return SRT_OK;
    }
    if (q->closed) {
      unlock(q);
      return SRT_BROKEN;
    }
    if (deadline == 0 || srt_now_ns() >= deadline) {
      unlock(q);
      return SRT_TIMEDOUT;
    }
    unlock(q);
    if (spin_until(q, 1)) continue;
    lock(q);
    if (count_of(q) > 0 || q->closed) {
      unlock(q);
      continue;
    }
    uint32_t s = take_ticket(&q->get_seq, &q->get_tickets, &have, &last);
    unlock(q);
    int w = srt_futex_wait(&q->get_seq, s, deadline);
    if (w == SRT_INTERRUPTED) return w;
  }
}

int srt_queue_get(srt_queue *q, void **msg, size_t *len, int64_t deadline) {
  srt_qmsg m;
  int rc = srt_queue_take(q, &m, deadline);
  if (rc != SRT_OK) return rc;
  if (!m.block) {
    m.block = srt_alloc(m.len ? m.len : 1);
    if (!m.block) return SRT_NOMEM;
    memcpy(m.block, m.small, m.len);
  }
  *msg = m.block;
  *len = m.len;
  return SRT_OK;
}

/* ---- the rest --------------------------------------------------------------------------- */
void srt_queue_close(srt_queue *q) {
  lock(q);
  q->closed = 1;
  int g = signal_all(&q->get_seq, &q->get_tickets);
  int p = signal_all(&q->put_seq, &q->put_tickets);
  int j = signal_all(&q->join_seq, &q->join_tickets);
  if (q->watchers) notify_watchers(q);
  unlock(q);
  if (g) srt_futex_wake(&q->get_seq, INT_MAX);
  if (p) srt_futex_wake(&q->put_seq, INT_MAX);
  if (j) srt_futex_wake(&q->join_seq, INT_MAX);
}

int srt_queue_closed(srt_queue *q) { return q->closed != 0; }
size_t srt_queue_size(srt_queue *q) { return (size_t)count_of(q); }
size_t srt_queue_maxsize(srt_queue *q) { return (size_t)q->maxsize; }
int srt_queue_order(srt_queue *q) { return (int)q->order; }

int srt_queue_task_done(srt_queue *q) {
  lock(q);
  if (q->unfinished == 0) {
    unlock(q);
    return SRT_EPERM;
  }
  int wake = --q->unfinished == 0 && signal_all(&q->join_seq, &q->join_tickets);
  unlock(q);
  if (wake) srt_futex_wake(&q->join_seq, INT_MAX);
  return SRT_OK;
}

uint64_t srt_queue_unfinished(srt_queue *q) { return q->unfinished; }

int srt_queue_join(srt_queue *q, int64_t deadline) {
  int have = 0;
  uint32_t last = 0;
  for (;;) {
    lock(q);
    if (q->unfinished == 0) {
      unlock(q);
      return SRT_OK;
    }
    if (q->closed) {
      unlock(q);
      return SRT_BROKEN;
    }
    if (deadline == 0 || srt_now_ns() >= deadline) {
      unlock(q);
      return SRT_TIMEDOUT;
    }
    uint32_t s = take_ticket(&q->join_seq, &q->join_tickets, &have, &last);
    unlock(q);
    int w = srt_futex_wait(&q->join_seq, s, deadline);
    if (w == SRT_INTERRUPTED) return w;
  }
}

int srt_queue_watch(srt_queue *q, srt_tctx *ctx) {
  qwatch *w = srt_calloc(sizeof *w);
  if (!w) return -1;
  w->ctx = ctx;
  w->pid = ctx->pid;
  w->tid = ctx->tid;
  lock(q);
  int ready = count_of(q) > 0 || q->closed;
  w->next = q->watchers;
  q->watchers = w;
  unlock(q);
  return ready;
}

void srt_queue_unwatch(srt_queue *q, srt_tctx *ctx) {
  lock(q);
  for (qwatch **pw = &q->watchers; *pw; pw = &(*pw)->next) {
    if ((*pw)->ctx == ctx) {
      qwatch *w = *pw;
      *pw = w->next;
      srt_free(w);
      break;
    }
  }
  unlock(q);
}

int srt_queue_ready(srt_queue *q) { return count_of(q) > 0 || q->closed; }

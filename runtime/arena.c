/*
** arena.c — the shared arena and its allocator.
**
** One MAP_SHARED|MAP_ANONYMOUS|MAP_NORESERVE region, mapped before any fork,
** so it has the same address in every process of the tree. A 64 KiB header
** page holds the allocator state; the rest is a binary buddy heap. Buddy
** blocks carry their order in a 16-byte header, so freeing needs no size and
** coalescing needs no side table. One robust process-shared mutex guards the
** heap: a process killed inside it does not hang the others.
*/
#include "srt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HDR_BYTES (64 * 1024)
#define MIN_ORDER 5 /* 32-byte blocks: 16 of header, 16 of payload */
#define MAX_ORDERS 48
#define RELEASE_ORDER 17 /* freed blocks from 128 KiB up give pages back */
#define TAG_USED 0xA110C8EDu
#define TAG_FREE 0xF4EEB10Cu
#define ARENA_MAGIC 0x53545241u /* 'STRA' */

typedef struct blk {
  uint32_t tag;
  uint32_t order;
  uint64_t pad;
} blk;

typedef struct fblk {
  blk h;
  struct fblk *next, *prev;
} fblk;

typedef struct arena {
  uint32_t magic;
  int max_order;
  char *space;
  size_t space_size;
  srt_mutex lock;
  fblk *heads[MAX_ORDERS];
  size_t in_use, blocks;
  _Atomic uint64_t counters[SRT_CNT_MAX];
} arena;

static arena *A;
static _Atomic srt_destroy_fn destroy_hooks[SRT_MAX_TYPES];

static size_t arena_size_from_env(void) {
  const char *e = getenv("STRAND_ARENA_MB");
  if (e && *e) {
    long mb = strtol(e, NULL, 10);
    if (mb > 0) return (size_t)mb << 20;
  }
  return (size_t)4 << 30;
}

static int floor_log2(size_t n) {
  int k = 0;
  while (((size_t)1 << (k + 1)) <= n) k++;
  return k;
}

int srt_arena_init(size_t size) {
  if (A) return 0;
  if (size == 0) size = arena_size_from_env();
  int order = floor_log2(size);
  if (order < 16) order = 16;
  if (order >= MAX_ORDERS) order = MAX_ORDERS - 1;
  size_t space = (size_t)1 << order;
  char *base = mmap(NULL, HDR_BYTES + space, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return errno;
  arena *a = (arena *)base;
  a->magic = ARENA_MAGIC;
  a->max_order = order;
  a->space = base + HDR_BYTES;
  a->space_size = space;
  srt_mutex_init(&a->lock);
  fblk *all = (fblk *)a->space;
  all->h.tag = TAG_FREE;
  all->h.order = (uint32_t)order;
  all->next = all->prev = NULL;
  a->heads[order] = all;
  srt_arena_lo = a->space;
  srt_arena_hi = a->space + space;
  A = a;
  srt_signals_init();
  return 0;
}

int srt_arena_ready(void) { return A != NULL; }

const char *srt_arena_lo, *srt_arena_hi;

/* ---- free lists (lock held) ---------------------------------------------- */
static void push_free(fblk *b, int order) {
  b->h.tag = TAG_FREE;
  b->h.order = (uint32_t)order;
  b->prev = NULL;
  b->next = A->heads[order];
  if (b->next) b->next->prev = b;
  A->heads[order] = b;
}

static void unlink_free(fblk *b) {
  int order = (int)b->h.order;
  if (b->prev) b->prev->next = b->next;
  else A->heads[order] = b->next;
  if (b->next) b->next->prev = b->prev;
  b->h.tag = 0;
}

static int order_for(size_t n) {
  size_t need = n + sizeof(blk);
  int k = MIN_ORDER;
  while (((size_t)1 << k) < need) {
    if (++k > A->max_order) return -1;
  }
  return k;
}

/* A process killed inside the heap's lock may have left a free list half
** linked. The block headers still tile the heap at every step of alloc and
** free (a split lowers the kept block's order only after its upper half has
** its own header; a block being taken or merged has tag 0), so walking them
** in address order rebuilds every list: tag 0 means the step never finished,
** and the block is free again. */
static void rebuild_free_lists(void) {
  memset(A->heads, 0, sizeof A->heads);
  A->in_use = A->blocks = 0;
  size_t off = 0;
  while (off < A->space_size) {
    blk *b = (blk *)(A->space + off);
    int order = (int)b->order;
    if (order < MIN_ORDER || order > A->max_order || (off & (((size_t)1 << order) - 1)))
      abort(); /* the headers themselves are gone: nothing safe to do */
    if (b->tag == TAG_USED) {
      A->in_use += (size_t)1 << order;
      A->blocks++;
    } else {
      push_free((fblk *)b, order);
    }
    off += (size_t)1 << order;
  }
}

static void lock_heap(void) {
  if (srt_mutex_lock(&A->lock)) rebuild_free_lists();
}

/* Give the pages of a big block being freed back to the kernel; the next
** user gets zero pages. The block header stays. Only the block's own pages:
** a small block that coalesces into a big free one must not cost a madvise
** of everything around it. */
static void release_pages(blk *b, int order) {
  if (order < RELEASE_ORDER) return;
  long pg = sysconf(_SC_PAGESIZE);
  char *from = (char *)b + pg;
  madvise(from, ((size_t)1 << order) - (size_t)pg, MADV_REMOVE);
}

void *srt_alloc(size_t n) {
  if (!A) return NULL;
  int order = order_for(n);
  if (order < 0) return NULL;
  lock_heap();
  int k = order;
  while (k <= A->max_order && !A->heads[k]) k++;
  if (k > A->max_order) {
    srt_mutex_unlock(&A->lock);
    return NULL;
  }
  fblk *b = A->heads[k];
  unlink_free(b);
  while (k > order) { /* split, keeping the lower half */
    k--;
    push_free((fblk *)((char *)b + ((size_t)1 << k)), k);
    b->h.order = (uint32_t)k; /* the headers tile the heap at every step */
  }
  b->h.tag = TAG_USED;
  b->h.order = (uint32_t)order;
  A->in_use += (size_t)1 << order;
  A->blocks++;
  srt_mutex_unlock(&A->lock);
  return (char *)b + sizeof(blk);
}

void *srt_calloc(size_t n) {
  void *p = srt_alloc(n);
  if (p) memset(p, 0, n);
  return p;
}

static blk *header_of(const void *p) {
  if (!p || !srt_in_arena((const char *)p - sizeof(blk), sizeof(blk))) return NULL;
  blk *b = (blk *)((char *)p - sizeof(blk));
  return b->tag == TAG_USED ? b : NULL;
}

size_t srt_alloc_size(const void *p) {
  blk *b = header_of(p);
  return b ? ((size_t)1 << b->order) - sizeof(blk) : 0;
}

void srt_free(void *p) {
  if (!p) return;
  blk *h = header_of(p);
  if (!h) abort(); /* a double free or a foreign pointer: memory is corrupt */
  release_pages(h, (int)h->order); /* still ours: no lock needed */
  lock_heap();
  fblk *b = (fblk *)h;
  int order = (int)h->order;
  A->in_use -= (size_t)1 << order;
  A->blocks--;
  b->h.tag = 0;
  while (order < A->max_order) {
    size_t off = (size_t)((char *)b - A->space);
    fblk *buddy = (fblk *)(A->space + (off ^ ((size_t)1 << order)));
    if (buddy->h.tag != TAG_FREE || (int)buddy->h.order != order) break;
    unlink_free(buddy);
    if (buddy < b) b = buddy;
    order++;
  }
  push_free(b, order);
  srt_mutex_unlock(&A->lock);
}

void srt_arena_stats_get(srt_arena_stats *st) {
  memset(st, 0, sizeof *st);
  if (!A) return;
  lock_heap();
  st->capacity = A->space_size;
  st->in_use = A->in_use;
  st->blocks = A->blocks;
  srt_mutex_unlock(&A->lock);
}

uint64_t srt_counter_next(int which) {
  return atomic_fetch_add(&A->counters[which], 1) + 1;
}

/* ---- shared objects ------------------------------------------------------- */
void srt_type_register(uint32_t type, srt_destroy_fn destroy) {
  if (type < SRT_MAX_TYPES) atomic_store(&destroy_hooks[type], destroy);
}

void *srt_obj_new(uint32_t type, size_t size) {
  srt_obj *o = srt_calloc(size);
  if (!o) return NULL;
  atomic_init(&o->refs, 1);
  o->magic = SRT_OBJ_MAGIC;
  o->type = type;
  return o;
}

void srt_incref(srt_obj *o) {
  atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
}

void srt_decref(srt_obj *o) {
  if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1) return;
  srt_destroy_fn fn = o->type < SRT_MAX_TYPES ? atomic_load(&destroy_hooks[o->type]) : NULL;
  if (fn) fn(o);
  o->magic = 0;
  srt_free(o);
}

int srt_obj_valid(const srt_obj *o, uint32_t type) {
  if (((uintptr_t)o & 15) != 0 || !header_of(o)) return 0;
  if (srt_alloc_size(o) < sizeof(srt_obj)) return 0;
  return o->magic == SRT_OBJ_MAGIC && o->type == type &&
         atomic_load_explicit(&o->refs, memory_order_relaxed) > 0;
}

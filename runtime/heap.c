/*
** heap.c — a private heap for one Lua state (the lua_Alloc of workers).
**
** A worker state lives for one thread and dies whole with lua_close. The C
** library's malloc is general and thread-aware: a new thread first builds
** its per-thread cache, then every one of the ~1,500 small blocks that
** luaL_openlibs makes takes the general path, and lua_close frees them one by
** one. That was a third of a thread's start cost. Here small blocks (up to
** SMALL_MAX bytes, nearly all of a state) come from a bump pointer in chunks
** owned by the heap, freed blocks go on a free list per 16-byte size class,
** and deleting the heap returns the chunks in a few calls. Lua passes the old
** size of every block it frees or resizes, so blocks carry no header.
**
** A heap serves one state, and a state is used by one thread at a time: no
** locks. Large blocks go to realloc/free. Built with AddressSanitizer every
** block goes to the C library, so it still sees each overflow and reuse.
*/
#include "srt.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_PASSTHROUGH 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_PASSTHROUGH 1
#endif
#endif

#define GRAIN 16u      /* alignment and class step: enough for any Lua value */
#define SMALL_MAX 512u /* larger blocks go to the C library */
#define NCLASS (SMALL_MAX / GRAIN)
#define CHUNK_FIRST (16u * 1024u) /* a fresh state with its libraries fits */
#define CHUNK_MAX (1024u * 1024u)

typedef struct chunk {
  struct chunk *next;
  size_t size;
  _Alignas(16) char mem[]; /* blocks start GRAIN-aligned */
} chunk;

typedef struct free_block {
  struct free_block *next;
} free_block;

struct srt_heap {
  free_block *free[NCLASS]; /* class c holds blocks of (c + 1) * GRAIN bytes */
  char *cur, *end;          /* the bump region of the newest chunk */
  chunk *chunks;
  size_t next_chunk;
};

srt_heap *srt_heap_new(void) {
  srt_heap *h = calloc(1, sizeof *h);
  if (h) h->next_chunk = CHUNK_FIRST;
  return h;
}

void srt_heap_delete(srt_heap *h) {
  if (!h) return;
  for (chunk *c = h->chunks, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  free(h);
}

static unsigned class_of(size_t n) { return (unsigned)((n + GRAIN - 1) / GRAIN) - 1; }

/* A new chunk for blocks of at least n bytes; the rest of the old bump
** region is dropped (less than one small block on average). */
static int grow(srt_heap *h, size_t n) {
  size_t size = h->next_chunk;
  while (size < n) size *= 2;
  chunk *c = malloc(sizeof *c + size);
  if (!c) return 0;
  c->next = h->chunks;
  c->size = size;
  h->chunks = c;
  h->cur = c->mem;
  h->end = c->mem + size;
  if (h->next_chunk < CHUNK_MAX) h->next_chunk *= 2;
  return 1;
}

static void *small_alloc(srt_heap *h, size_t n) {
  unsigned k = class_of(n);
  free_block *b = h->free[k];
  if (b) {
    h->free[k] = b->next;
    return b;
  }
  size_t size = (size_t)(k + 1) * GRAIN;
  if ((size_t)(h->end - h->cur) < size && !grow(h, size)) return NULL;
  void *p = h->cur;
  h->cur += size;
  return p;
}

static void small_free(srt_heap *h, void *p, size_t n) {
  free_block *b = p;
  unsigned k = class_of(n);
  b->next = h->free[k];
  h->free[k] = b;
}

static void *move_block(srt_heap *h, void *p, size_t osize, size_t nsize) {
  void *q = nsize <= SMALL_MAX ? small_alloc(h, nsize) : malloc(nsize);
  if (!q) return NULL;
  memcpy(q, p, osize < nsize ? osize : nsize);
  if (osize <= SMALL_MAX) small_free(h, p, osize);
  else free(p);
  return q;
}

void *srt_heap_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  srt_heap *h = ud;
#ifdef HEAP_PASSTHROUGH
  (void)h, (void)osize;
  if (nsize == 0) {
    free(p);
    return NULL;
  }
  return realloc(p, nsize);
#else
  if (nsize == 0) { /* free; Lua may free NULL */
    if (!p) return NULL;
    if (osize <= SMALL_MAX) small_free(h, p, osize);
    else free(p);
    return NULL;
  }
  if (!p) { /* osize is then a type tag, not a size */
    return nsize <= SMALL_MAX ? small_alloc(h, nsize) : malloc(nsize);
  }
  if (osize <= SMALL_MAX) {
    if (nsize <= SMALL_MAX && class_of(nsize) == class_of(osize)) return p;
    return move_block(h, p, osize, nsize);
  }
  if (nsize > SMALL_MAX) return realloc(p, nsize);
  return move_block(h, p, osize, nsize);
#endif
}

/* The private heap of a Lua state: random allocations, resizes and frees
** across the small/large border keep every block's bytes, blocks never
** overlap, and a heap deleted with small blocks still in it gives their
** chunks back (valgrind and ASan see a leak otherwise). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srt.h"
#include "tap.h"

#define SLOTS 512
#define STEPS 200000

typedef struct slot {
  unsigned char *p;
  size_t size;
  unsigned char fill;
} slot;

static int intact(const slot *s) {
  for (size_t i = 0; i < s->size; i++)
    if (s->p[i] != (unsigned char)(s->fill + i)) return 0;
  return 1;
}

static void paint(slot *s) {
  for (size_t i = 0; i < s->size; i++) s->p[i] = (unsigned char)(s->fill + i);
}

static size_t random_size(void) {
  int r = rand() % 100;
  if (r < 80) return 1 + (size_t)(rand() % 512); /* small, as most of a state */
  if (r < 95) return 513 + (size_t)(rand() % 4096);
  return 1 + (size_t)(rand() % 70000);
}

static int overlapping(const slot *slots) {
  for (int i = 0; i < SLOTS; i++)
    for (int j = i + 1; j < SLOTS; j++) {
      const slot *a = &slots[i], *b = &slots[j];
      if (a->p && b->p && a->p < b->p + b->size && b->p < a->p + a->size) return 1;
    }
  return 0;
}

int main(void) {
  srand(7);
  static slot slots[SLOTS];
  srt_heap *h = srt_heap_new();
  ok(h != NULL, "a new heap");
  int damaged = 0, failed = 0, aligned = 1;
  for (int step = 0; step < STEPS; step++) {
    slot *s = &slots[rand() % SLOTS];
    if (s->p && !intact(s)) damaged++;
    size_t n = rand() % 4 == 0 ? 0 : random_size();
    void *q = srt_heap_alloc(h, s->p, s->p ? s->size : 5 /* a type tag */, n);
    if (n == 0) {
      if (q) failed++;
      s->p = NULL;
      s->size = 0;
      continue;
    }
    if (!q) {
      failed++;
      continue;
    }
    size_t kept = s->p ? (s->size < n ? s->size : n) : 0;
    s->p = q;
    s->size = kept;
    if (s->p && !intact(s)) damaged++; /* the bytes that stayed */
    if ((uintptr_t)q % 16) aligned = 0;
    s->size = n;
    s->fill = (unsigned char)rand();
    paint(s);
  }
  ok(damaged == 0, "every block keeps its bytes through resizes and moves (%d damaged)", damaged);
  ok(failed == 0, "no allocation failed and freeing returns NULL");
  ok(aligned, "blocks are 16-byte aligned");
  ok(!overlapping(slots), "live blocks never overlap");
  ok(srt_heap_alloc(h, NULL, 0, 0) == NULL, "freeing NULL is allowed");
  for (int i = 0; i < SLOTS; i++) /* large blocks are the C library's */
    if (slots[i].size > 512) srt_heap_alloc(h, slots[i].p, slots[i].size, 0);
  srt_heap_delete(h); /* small blocks still live: their chunks go back */
  srt_heap_delete(NULL);
  ok(1, "deleting a heap with small blocks live, and deleting NULL");
  printf("1..%d\n", tap_n);
  return 0;
}

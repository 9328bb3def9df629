/*
** shtable.c — the storage of shared containers: reference-counted blobs, an
** insertion-ordered hash table (dict) and a vector (list), in the arena.
**
** Keys and values are opaque bytes here (the bindings put codec messages in
** them), held in immutable blobs: a reader takes a reference under the
** container's mutex and reads the bytes after releasing it, so no byte is
** copied while the lock is held and a writer replacing the value meanwhile
** does not disturb the reader.
**
** Each container has two locks. `mu`, a robust mutex, guards the structure
** for a few instructions at a time. `guard`, an RLock, is held across a
** read-modify-write whose middle runs outside (the Lua function of
** d:update): writers that find it held by someone else wait for it, readers
** do not. Checking it under `mu` costs writers one load when no update runs.
**
** A process killed inside a section must leave the structure usable: every
** change is written first and published last (a count bumped, a pointer
** swapped), and anything that moves many entries builds a new store and
** swaps it in. At worst a kill leaks a blob; it never leaves a pointer to
** freed memory behind.
*/
#include "srt.h"

#include <stdlib.h>
#include <string.h>

/* ---- blobs ------------------------------------------------------------------- */
static void (*_Atomic blob_release)(srt_blob *b);

void srt_blob_set_release(void (*fn)(srt_blob *b)) { atomic_store(&blob_release, fn); }

srt_blob *srt_blob_new(const void *p, size_t len, uint32_t flags) {
  srt_blob *b = srt_alloc(sizeof *b + len);
  if (!b) return NULL;
  atomic_init(&b->refs, 1);
  b->flags = flags;
  b->len = len;
  if (len) memcpy(b->data, p, len);
  return b;
}

void srt_blob_incref(srt_blob *b) { atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed); }

void srt_blob_decref(srt_blob *b) {
  if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
  void (*fn)(srt_blob *) = atomic_load(&blob_release);
  if (fn && (b->flags & SRT_BLOB_OWNS)) fn(b);
  srt_free(b);
}

/* ---- writers and the guard ----------------------------------------------------- */
/* Take mu for a write. When another thread holds the guard (an update is
** between its read and its write), wait for the guard first, so the update
** stays atomic. *took says whether the guard must be released after. */
static int writer_enter(srt_mutex *mu, srt_lock *guard, int64_t deadline, int *took) {
  *took = 0;
  srt_mutex_lock(mu);
  if (!srt_lock_locked(guard) || srt_lock_is_owner(guard)) return SRT_OK;
  srt_mutex_unlock(mu);
  int r = srt_lock_acquire(guard, deadline);
  if (r != SRT_OK && r != SRT_OWNERDEAD) return r;
  *took = 1;
  srt_mutex_lock(mu);
  return SRT_OK;
}

static void writer_leave(srt_mutex *mu, srt_lock *guard, int took) {
  srt_mutex_unlock(mu);
  if (took) srt_lock_release(guard);
}

/* ---- dict ----------------------------------------------------------------------- */
/* Entries in insertion order (deleted ones have key NULL until the next
** rebuild) and an open-addressing index of entry numbers; -1 is empty, and a
** number >= used is treated as empty too (a kill between writing the slot
** and publishing the entry). */
typedef struct srt_dent {
  uint64_t hash;
  srt_blob *key, *val;
} srt_dent;

struct srt_dstore {
  uint32_t cap, used, count, mask;
  srt_dent *ents;
  int32_t *index;
};

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  h ^= h >> 32;
  h *= 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 29);
}

static srt_dstore *dstore_new(uint32_t cap) {
  uint32_t slots = 8;
  while (slots < cap * 2) slots <<= 1;
  size_t ents = (size_t)cap * sizeof(srt_dent);
  srt_dstore *s = srt_alloc(sizeof *s + ents + (size_t)slots * sizeof(int32_t));
  if (!s) return NULL;
  s->cap = cap;
  s->used = s->count = 0;
  s->mask = slots - 1;
  s->ents = (srt_dent *)(s + 1);
  s->index = (int32_t *)((char *)s->ents + ents);
  memset(s->index, 0xff, (size_t)slots * sizeof(int32_t));
  return s;
}

static int key_eq(const srt_dent *e, uint64_t h, const void *key, size_t klen) {
  return e->key && e->hash == h && e->key->len == klen && memcmp(e->key->data, key, klen) == 0;
}

static int slot_empty(const srt_dstore *s, int32_t ix) { return ix < 0 || (uint32_t)ix >= s->used; }

/* The entry of key, or -1; *slot gets the first empty slot of its probe. */
static int32_t dfind(const srt_dstore *s, uint64_t h, const void *key, size_t klen, uint32_t *slot) {
  for (uint32_t i = (uint32_t)h & s->mask;; i = (i + 1) & s->mask) {
    int32_t ix = s->index[i];
    if (slot_empty(s, ix)) {
      if (slot) *slot = i;
      return -1;
    }
    if (key_eq(&s->ents[ix], h, key, klen)) return ix;
  }
}

/* A new store holding the live entries of s (may be NULL), room for `more`. */
static srt_dstore *drebuild(const srt_dstore *s, uint32_t more) {
  uint32_t live = s ? s->count : 0, cap = 8;
  while (cap < (live + more) * 2) cap <<= 1;
  srt_dstore *n = dstore_new(cap);
  if (!n) return NULL;
  for (uint32_t i = 0; s && i < s->used; i++) {
    const srt_dent *e = &s->ents[i];
    if (!e->key) continue;
    uint32_t slot;
    dfind(n, e->hash, e->key->data, e->key->len, &slot);
    n->ents[n->used] = *e;
    n->index[slot] = (int32_t)n->used;
    n->used++;
    n->count++;
  }
  return n;
}

void srt_dict_init(srt_dict *d) {
  srt_mutex_init(&d->mu);
  srt_lock_init(&d->guard, 1);
  d->s = NULL;
}

static void dstore_release(srt_dstore *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->used; i++) {
    if (!s->ents[i].key) continue;
    srt_blob_decref(s->ents[i].key);
    srt_blob_decref(s->ents[i].val);
  }
  srt_free(s);
}

void srt_dict_destroy(srt_dict *d) {
  dstore_release(d->s);
  d->s = NULL;
  srt_mutex_destroy(&d->mu);
}

size_t srt_dict_len(srt_dict *d) {
  srt_mutex_lock(&d->mu);
  size_t n = d->s ? d->s->count : 0;
  srt_mutex_unlock(&d->mu);
  return n;
}

srt_blob *srt_dict_get(srt_dict *d, const void *key, size_t klen) {
  uint64_t h = hash_bytes(key, klen);
  srt_blob *v = NULL;
  srt_mutex_lock(&d->mu);
  if (d->s) {
    int32_t ix = dfind(d->s, h, key, klen, NULL);
    if (ix >= 0) {
      v = d->s->ents[ix].val;
      srt_blob_incref(v);
    }
  }
  srt_mutex_unlock(&d->mu);
  return v;
}

/* With mu held: delete key; its blobs go to *drop. */
static void ddelete(srt_dstore *s, int32_t ix, srt_blob **drop) {
  srt_dent *e = &s->ents[ix];
  drop[0] = e->key;
  drop[1] = e->val;
  e->key = NULL;
  s->count--;
}

/* With mu held: store val under key (new entry or replacement). */
static int dstore(srt_dict *d, uint64_t h, const void *key, size_t klen, srt_blob *val,
                  srt_blob **drop) {
  uint32_t slot;
  int32_t ix = d->s ? dfind(d->s, h, key, klen, &slot) : -1;
  if (ix >= 0) {
    drop[1] = d->s->ents[ix].val;
    d->s->ents[ix].val = val;
    return SRT_OK;
  }
  srt_blob *kb = srt_blob_new(key, klen, 0);
  if (!kb) return SRT_NOMEM;
  if (!d->s || d->s->used == d->s->cap) {
    srt_dstore *n = drebuild(d->s, 1);
    if (!n) {
      srt_blob_decref(kb);
      return SRT_NOMEM;
    }
    srt_dstore *old = d->s;
    d->s = n; /* published in one store; the old one only had moved entries */
    srt_free(old);
    dfind(n, h, key, klen, &slot);
  }
  srt_dstore *s = d->s;
  s->ents[s->used] = (srt_dent){h, kb, val};
  s->index[slot] = (int32_t)s->used;
  s->used++;
  s->count++;
  return SRT_OK;
}

int srt_dict_set(srt_dict *d, const void *key, size_t klen, srt_blob *val, srt_blob **old,
                 int64_t deadline) {
  uint64_t h = hash_bytes(key, klen);
  srt_blob *drop[2] = {NULL, NULL};
  int took, r = writer_enter(&d->mu, &d->guard, deadline, &took);
  if (r != SRT_OK) return r;
  if (val) {
    r = dstore(d, h, key, klen, val, drop);
  } else if (d->s) {
    int32_t ix = dfind(d->s, h, key, klen, NULL);
    if (ix >= 0) ddelete(d->s, ix, drop);
  }
  writer_leave(&d->mu, &d->guard, took);
  srt_blob_decref(drop[0]);
  if (old) *old = drop[1];
  else srt_blob_decref(drop[1]);
  return r;
}

int srt_dict_snapshot(srt_dict *d, srt_blob ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  srt_mutex_lock(&d->mu);
  srt_dstore *s = d->s;
  size_t count = s ? s->count : 0;
  srt_blob **a = count ? malloc(count * 2 * sizeof *a) : NULL;
  if (count && !a) {
    srt_mutex_unlock(&d->mu);
    return SRT_NOMEM;
  }
  size_t k = 0;
  for (uint32_t i = 0; s && i < s->used && k < count * 2; i++) {
    if (!s->ents[i].key) continue;
    a[k++] = s->ents[i].key;
    a[k++] = s->ents[i].val;
    srt_blob_incref(s->ents[i].key);
    srt_blob_incref(s->ents[i].val);
  }
  srt_mutex_unlock(&d->mu);
  *out = a;
  *n = k / 2;
  return SRT_OK;
}

int srt_dict_clear(srt_dict *d, int64_t deadline) {
  int took, r = writer_enter(&d->mu, &d->guard, deadline, &took);
  if (r != SRT_OK) return r;
  srt_dstore *old = d->s;
  d->s = NULL;
  writer_leave(&d->mu, &d->guard, took);
  dstore_release(old);
  return SRT_OK;
}

/* ---- list ------------------------------------------------------------------------ */
struct srt_lstore {
  uint32_t cap, n;
  srt_blob *items[];
};

static srt_lstore *lstore_new(uint32_t cap) {
  srt_lstore *s = srt_alloc(sizeof *s + (size_t)cap * sizeof(srt_blob *));
  if (s) {
    s->cap = cap;
    s->n = 0;
  }
  return s;
}

void srt_list_init(srt_list *l) {
  srt_mutex_init(&l->mu);
  srt_lock_init(&l->guard, 1);
  l->s = NULL;
}

static void lstore_release(srt_lstore *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->n; i++) srt_blob_decref(s->items[i]);
  srt_free(s);
}

void srt_list_destroy(srt_list *l) {
  lstore_release(l->s);
  l->s = NULL;
  srt_mutex_destroy(&l->mu);
}

static size_t llen(const srt_list *l) { return l->s ? l->s->n : 0; }

size_t srt_list_len(srt_list *l) {
  srt_mutex_lock(&l->mu);
  size_t n = llen(l);
  srt_mutex_unlock(&l->mu);
  return n;
}

/* Position i (negative counts from the end, -1 the last) as 0..n-1 + extra,
** or -1 when out of range. extra = 1 admits n (an insert at the end). */
static int64_t resolve(int64_t i, size_t n, int extra) {
  if (i < 0) i += (int64_t)n + extra;
  return (i < 0 || i >= (int64_t)n + extra) ? -1 : i;
}

srt_blob *srt_list_get(srt_list *l, int64_t i) {
  srt_blob *v = NULL;
  srt_mutex_lock(&l->mu);
  int64_t k = resolve(i, llen(l), 0);
  if (k >= 0) {
    v = l->s->items[k];
    srt_blob_incref(v);
  }
  srt_mutex_unlock(&l->mu);
  return v;
}

int srt_list_set(srt_list *l, int64_t i, srt_blob *val, int64_t deadline) {
  int took, r = writer_enter(&l->mu, &l->guard, deadline, &took);
  if (r != SRT_OK) return r;
  srt_blob *old = NULL;
  int64_t k = resolve(i, llen(l), 0);
  if (k < 0) {
    r = SRT_RANGE;
  } else {
    old = l->s->items[k];
    l->s->items[k] = val;
  }
  writer_leave(&l->mu, &l->guard, took);
  srt_blob_decref(old);
  return r;
}

/* With mu held: a copy of s with a hole at k (insert) or without item k. */
static srt_lstore *lcopy(const srt_lstore *s, uint32_t k, int insert) {
  uint32_t n = s ? s->n : 0, cap = 8;
  while (cap < n + 1) cap <<= 1;
  srt_lstore *c = lstore_new(cap);
  if (!c) return NULL;
  for (uint32_t i = 0, j = 0; i < n; i++) {
    if (i == k && !insert) continue;
    if (i == k && insert) j++;
    c->items[j++] = s->items[i];
  }
  c->n = insert ? n + 1 : n - 1;
  return c;
}

int srt_list_insert(srt_list *l, int64_t i, srt_blob *val, int64_t deadline) {
  int took, r = writer_enter(&l->mu, &l->guard, deadline, &took);
  if (r != SRT_OK) return r;
  size_t n = llen(l);
  int64_t k = resolve(i, n, 1);
  srt_lstore *old = NULL;
  if (k < 0 || n >= UINT32_MAX - 1) {
    r = SRT_RANGE;
  } else if ((size_t)k == n && l->s && n < l->s->cap) { /* append in place */
    l->s->items[n] = val;
    l->s->n++;
  } else {
    srt_lstore *c = lcopy(l->s, (uint32_t)k, 1);
    if (!c) {
      r = SRT_NOMEM;
    } else {
      c->items[k] = val;
      old = l->s;
      l->s = c;
    }
  }
  writer_leave(&l->mu, &l->guard, took);
  srt_free(old);
  return r;
}

int srt_list_pop(srt_list *l, int64_t i, srt_blob **out, int64_t deadline) {
  *out = NULL;
  int took, r = writer_enter(&l->mu, &l->guard, deadline, &took);
  if (r != SRT_OK) return r;
  size_t n = llen(l);
  int64_t k = resolve(i, n, 0);
  srt_lstore *old = NULL;
  if (k < 0) {
    r = SRT_RANGE;
  } else if ((size_t)k == n - 1) { /* the last: in place */
    *out = l->s->items[k];
    l->s->n--;
  } else {
    srt_lstore *c = lcopy(l->s, (uint32_t)k, 0);
    if (!c) {
      r = SRT_NOMEM;
    } else {
      *out = l->s->items[k];
      old = l->s;
      l->s = c;
    }
  }
  writer_leave(&l->mu, &l->guard, took);
  srt_free(old);
  return r;
}

int srt_list_snapshot(srt_list *l, srt_blob ***out, size_t *n) {
  *out = NULL;
  srt_mutex_lock(&l->mu);
  size_t count = llen(l);
  srt_blob **a = count ? malloc(count * sizeof *a) : NULL;
  if (count && !a) {
    srt_mutex_unlock(&l->mu);
    *n = 0;
    return SRT_NOMEM;
  }
  for (size_t i = 0; i < count; i++) {
    a[i] = l->s->items[i];
    srt_blob_incref(a[i]);
  }
  srt_mutex_unlock(&l->mu);
  *out = a;
  *n = count;
  return SRT_OK;
}

int srt_list_clear(srt_list *l, int64_t deadline) {
  int took, r = writer_enter(&l->mu, &l->guard, deadline, &took);
  if (r != SRT_OK) return r;
  srt_lstore *old = l->s;
  l->s = NULL;
  writer_leave(&l->mu, &l->guard, took);
  lstore_release(old);
  return SRT_OK;
}

void srt_blobs_release(srt_blob **a, size_t n) {
  for (size_t i = 0; i < n; i++) srt_blob_decref(a[i]);
  free(a);
}

/*
** registry.c — a process-local list of shared objects this process must
** find again: the threads it runs, the children it started. The list holds
** one reference on each. After a fork the child drops its copy of the list
** without touching the references, which belong to the parent's list.
*/
#include "sb.h"

#include <stdlib.h>

void sb_registry_add(sb_registry *r, srt_obj *o) {
  pthread_mutex_lock(&r->mu);
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    srt_obj **items = realloc(r->items, cap * sizeof *items);
    if (!items) abort(); /* a few pointers: out of memory is fatal here */
    r->items = items;
    r->cap = cap;
  }
  srt_incref(o);
  r->items[r->n++] = o;
  pthread_mutex_unlock(&r->mu);
}

int sb_registry_remove(sb_registry *r, srt_obj *o) {
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < r->n; i++) {
    if (r->items[i] == o) {
      r->items[i] = r->items[--r->n];
      pthread_mutex_unlock(&r->mu);
      srt_decref(o);
      return 1;
    }
  }
  pthread_mutex_unlock(&r->mu);
  return 0;
}

srt_obj **sb_registry_snapshot(sb_registry *r, size_t *n, int (*keep)(const srt_obj *o)) {
  pthread_mutex_lock(&r->mu);
  srt_obj **copy = malloc((r->n ? r->n : 1) * sizeof *copy);
  size_t k = 0;
  for (size_t i = 0; copy && i < r->n; i++) {
    if (keep && !keep(r->items[i])) continue;
    srt_incref(r->items[i]);
    copy[k++] = r->items[i];
  }
  pthread_mutex_unlock(&r->mu);
  *n = k;
  return copy;
}

void sb_registry_release(srt_obj **items, size_t n) {
  for (size_t i = 0; i < n; i++) srt_decref(items[i]);
  free(items);
}

size_t sb_registry_count(sb_registry *r, int (*keep)(const srt_obj *o)) {
  pthread_mutex_lock(&r->mu);
  size_t k = 0;
  for (size_t i = 0; i < r->n; i++)
    if (!keep || keep(r->items[i])) k++;
  pthread_mutex_unlock(&r->mu);
  return k;
}

void sb_registry_forget(sb_registry *r) {
  pthread_mutex_init(&r->mu, NULL);
  free(r->items);
  r->items = NULL;
  r->n = r->cap = 0;
}

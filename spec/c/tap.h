/* tap.h — the smallest TAP producer, for the C tests of runtime/. */
#ifndef TAP_H
#define TAP_H
#include <stdio.h>
static int tap_n;
#define ok(cond, ...) do { tap_n++; printf("%s %d - ", (cond) ? "ok" : "not ok", tap_n); \
  printf(__VA_ARGS__); printf("\n"); fflush(stdout); } while (0)
#endif

/* Shared helpers for the C baselines: a monotonic clock and the output line
 * format `NAME value unit` that bench/run.sh parses. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Iteration count from argv[1] if given, else the default. */
static inline long bench_iters(int argc, char **argv, long dflt)
{
    return argc > 1 ? strtol(argv[1], NULL, 10) : dflt;
}

#define bench_emit(name, value, unit) \
    do { printf("%s %.3f %s\n", (name), (double)(value), (unit)); fflush(stdout); } while (0)

#endif

/* Baseline (c) for event_pingpong: a round trip between 2 threads.
 *   c_futex_pingpong   a shared word; each side stores its value and FUTEX_WAKEs,
 *                      then FUTEX_WAITs (on the value it last saw) until the other
 *                      side has stored its own; one check, no spinning.
 *   c_condvar_pingpong the same with a pthread mutex + condvar.
 *   c_spinfutex_pingpong (informational, not a target) the futex ping-pong but
 *                      each wait first spins up to SPIN polls (with a pause)
 *                      before sleeping: the adaptive handoff DESIGN.md asks for.
 *                      Fast on 2 CPUs; on 1 CPU the spin is wasted.
 * us per round trip. */
#include "bench_common.h"
#include <pthread.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static long N;

/* ---- futex ---- */
static _Atomic int word;   /* 1: pinged (player's turn), 2: ponged (main's turn) */

static void fwait(_Atomic int *w, int val)
{
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void fwake(_Atomic int *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

enum { SPIN = 2000 };
static int spin;   /* 0: futex_run waits at once; SPIN: spins first */

static void wait_until(int want)
{
    int v;
    for (int i = 0; i < spin; i++) {
        if (atomic_load_explicit(&word, memory_order_acquire) == want) return;
        cpu_relax();
    }
    while ((v = atomic_load(&word)) != want) fwait(&word, v);
}

static void *futex_player(void *arg)
{
    (void)arg;
    for (long i = 0; i < N; i++) {
        wait_until(1);
        atomic_store(&word, 2);
        fwake(&word);
    }
    return NULL;
}

static double futex_run(void)
{
    pthread_t t;
    atomic_store(&word, 0);
    pthread_create(&t, NULL, futex_player, NULL);
    double t0 = bench_now();
    for (long i = 0; i < N; i++) {
        atomic_store(&word, 1);
        fwake(&word);
        wait_until(2);
    }
    double dt = bench_now() - t0;
    pthread_join(t, NULL);
    return dt;
}

/* ---- condvar ---- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_ping = PTHREAD_COND_INITIALIZER, cv_pong = PTHREAD_COND_INITIALIZER;
static int ping, pong;

static void *cond_player(void *arg)
{
    (void)arg;
    for (long i = 0; i < N; i++) {
        pthread_mutex_lock(&mu);
        while (!ping) pthread_cond_wait(&cv_ping, &mu);
        ping = 0; pong = 1;
        pthread_cond_signal(&cv_pong);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static double cond_run(void)
{
    pthread_t t;
    pthread_create(&t, NULL, cond_player, NULL);
    double t0 = bench_now();
    for (long i = 0; i < N; i++) {
        pthread_mutex_lock(&mu);
        ping = 1;
        pthread_cond_signal(&cv_ping);
        while (!pong) pthread_cond_wait(&cv_pong, &mu);
        pong = 0;
        pthread_mutex_unlock(&mu);
    }
    double dt = bench_now() - t0;
    pthread_join(t, NULL);
    return dt;
}

int main(int argc, char **argv)
{
    N = bench_iters(argc, argv, 20000);
    bench_emit("c_futex_pingpong", futex_run() / N * 1e6, "us/rt");
    bench_emit("c_condvar_pingpong", cond_run() / N * 1e6, "us/rt");
    spin = SPIN;
    bench_emit("c_spinfutex_pingpong", futex_run() / N * 1e6, "us/rt");
    return 0;
}

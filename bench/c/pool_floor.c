/* The floors under the two Pool figures, in bare C on this machine.
 *
 * c_pool_e2e (ms): the pool_e2e job with nothing but the kernel's part of
 * it: fork two workers that share one page with the parent, let them take
 * the ten squares from an atomic counter (futex wake when all are done),
 * close (futex wake), and waitpid both. No Lua, no codec, no server: what
 * any fork-based Pool(2) pays for one life. pool_e2e's Python figure divided
 * by 20 against this value says how much room the 20x target leaves.
 *
 * c_lua_map (tasks/s): the work of pool_map's workers without a pool: one
 * lua_State running `for i = 1, n do t[i] = f(t[i]) end` over 100,000
 * integers (f = square, the table already grown). Two workers can at best
 * reach twice this rate; on one CPU, this rate is the ceiling of any
 * pool_map that calls a Lua function per item. */
#include "bench_common.h"

#include <lauxlib.h>
#include <linux/futex.h>
#include <lualib.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ITEMS 10

typedef struct shared {
    _Atomic unsigned next, done, closed;
    long item[ITEMS], result[ITEMS];
} shared;

static void futex_wait(_Atomic unsigned *w, unsigned v)
{
    syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void futex_wake(_Atomic unsigned *w)
{
    syscall(SYS_futex, w, FUTEX_WAKE, 2, NULL, NULL, 0);
}

static void worker(shared *s)
{
    for (;;) {
        unsigned i = atomic_fetch_add(&s->next, 1);
        if (i < ITEMS) {
            s->result[i] = s->item[i] * s->item[i];
            if (atomic_fetch_add(&s->done, 1) + 1 == ITEMS) futex_wake(&s->done);
            continue;
        }
        while (!atomic_load(&s->closed)) futex_wait(&s->closed, 0);
        _exit(0);
    }
}

static double pool_life(shared *s)
{
    double t0 = bench_now();
    atomic_store(&s->next, 0);
    atomic_store(&s->done, 0);
    atomic_store(&s->closed, 0);
    for (int i = 0; i < ITEMS; i++) s->item[i] = i + 1;
    pid_t pid[2];
    for (int w = 0; w < 2; w++)
        if ((pid[w] = fork()) == 0) worker(s);
    unsigned d;
    while ((d = atomic_load(&s->done)) < ITEMS) futex_wait(&s->done, d);
    atomic_store(&s->closed, 1);
    futex_wake(&s->closed);
    for (int w = 0; w < 2; w++) waitpid(pid[w], NULL, 0);
    return bench_now() - t0;
}

static void lua_map(void)
{
    const int n = 100000;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadstring(L, "local n = ...\n"
                       "local t = {}\n"
                       "for i = 1, n do t[i] = i - 1 end\n"
                       "local function square(x) return x * x end\n"
                       "local function map(f, t) for i = 1, #t do t[i] = f(t[i]) end end\n"
                       "map(square, t)\n"
                       "for i = 1, n do t[i] = i - 1 end\n"
                       "return function() map(square, t) end") != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        exit(1);
    }
    lua_pushinteger(L, n);
    lua_call(L, 1, 1);
    double t0 = bench_now();
    lua_call(L, 0, 0);
    bench_emit("c_lua_map", n / (bench_now() - t0), "tasks/s");
    lua_close(L);
}

int main(int argc, char **argv)
{
    long lives = bench_iters(argc, argv, 50);
    shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) return 1;
    pool_life(s); /* warm */
    double total = 0;
    for (long i = 0; i < lives; i++) total += pool_life(s);
    for (int i = 0; i < ITEMS; i++)
        if (s->result[i] != (long)(i + 1) * (i + 1)) return 1;
    bench_emit("c_pool_e2e", total / lives * 1e3, "ms");
    lua_map();
    return 0;
}

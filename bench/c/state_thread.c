/* Baseline (a) for thread_start: the bare cost of a Lua worker thread, i.e.
 * pthread_create + (in the new thread) luaL_newstate + luaL_openlibs + running
 * an empty Lua function + lua_close, then pthread_join. us per thread. */
#include "bench_common.h"
#include <pthread.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

static void *worker(void *arg)
{
    (void)arg;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_loadstring(L, "return") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK)
        abort();
    lua_close(L);
    return NULL;
}

static void one(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) abort();
    pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
    long n = bench_iters(argc, argv, 5000);
    for (int i = 0; i < 200; i++) one();
    double t0 = bench_now();
    for (long i = 0; i < n; i++) one();
    double dt = bench_now() - t0;
    bench_emit("c_state_thread", dt / n * 1e6, "us/thread");
    return 0;
}

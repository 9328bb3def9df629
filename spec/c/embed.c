/*
** embed.c — the public embedding API (strand.h) as a host uses it: init
** twice, the state hook in every worker, two hosts' states in one process
** sharing objects, states on a host's own pthreads, errors with tracebacks,
** shutdown that joins or cancels, and init+shutdown done twice. Built
** against libstrand.a and Lua only (see the Makefile), run under the
** sanitizers by `make sanitize`; TAP output like the runtime's C tests.
*/
#include <lauxlib.h>
#include <lualib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "strand.h"
#include "tap.h"

static atomic_int hook_calls, done_marks, cancel_marks, entered_marks;

static int host_twice(lua_State *L) {
  lua_pushinteger(L, 2 * luaL_checkinteger(L, 1));
  return 1;
}

/* hostlib.mark("done" | "cancelled" | "entered"): counted on the C side,
** where the test reads it after the Lua states are gone. */
static int host_mark(lua_State *L) {
  const char *what = luaL_checkstring(L, 1);
  if (strcmp(what, "done") == 0) atomic_fetch_add(&done_marks, 1);
  else if (strcmp(what, "cancelled") == 0) atomic_fetch_add(&cancel_marks, 1);
  else if (strcmp(what, "entered") == 0) atomic_fetch_add(&entered_marks, 1);
  else return luaL_error(L, "unknown mark '%s'", what);
  return 0;
}

static const luaL_Reg hostlib[] = {{"twice", host_twice}, {"mark", host_mark}, {NULL, NULL}};

static void open_hostlib(lua_State *L, void *ud) {
  luaL_newlib(L, hostlib);
  lua_pushstring(L, ud ? (const char *)ud : "main");
  lua_setfield(L, -2, "where");
  lua_setglobal(L, "hostlib");
}

static void hook(lua_State *L, void *ud) {
  atomic_fetch_add(&hook_calls, 1);
  open_hostlib(L, ud);
}

static lua_State *new_host_state(void) {
  lua_State *L = luaL_newstate();
  strand_openlibs(L);
  open_hostlib(L, NULL);
  return L;
}

/* Run chunk; on success leave its first result as a string in buf. */
static int run(lua_State *L, const char *chunk, char *buf, size_t n) {
  int top = lua_gettop(L);
  int r = strand_dostring(L, chunk, "=embed");
  if (buf) snprintf(buf, n, "%s", lua_gettop(L) > top ? luaL_tolstring(L, top + 1, NULL) : "(nothing)");
  lua_settop(L, top);
  return r;
}

static const char *worker_twice =
    "local t = strand.Thread{target = function(n) return hostlib.twice(n) .. ' in ' .. hostlib.where end,"
    "                        args = {21}}\n"
    "t:start(); assert(t:join(30), 'worker did not end')\n"
    "return t:result()";

static void test_hook_and_two_states(void) {
  char buf[256];
  lua_State *a = new_host_state(), *b = new_host_state();
  int calls = atomic_load(&hook_calls);
  ok(run(a, worker_twice, buf, sizeof buf) == LUA_OK && strcmp(buf, "42 in worker") == 0,
     "a worker of state A has the host's library through the hook (%s)", buf);
  ok(run(b, worker_twice, buf, sizeof buf) == LUA_OK && strcmp(buf, "42 in worker") == 0,
     "so does a worker of state B (%s)", buf);
  ok(atomic_load(&hook_calls) == calls + 2, "the hook ran once per worker state");

  /* an object made in A, handed to B as bytes, outlives A */
  ok(run(a, "shared = strand.Thread{target = function() return 'from A' end, name = 'made-in-A'}\n"
            "shared:start(); assert(shared:join(30))", NULL, 0) == LUA_OK,
     "A makes a thread");
  lua_getglobal(a, "strand");
  lua_getfield(a, -1, "encode");
  lua_getglobal(a, "shared");
  lua_call(a, 1, 1);
  size_t len;
  const char *bytes = lua_tolstring(a, -1, &len);
  lua_getglobal(b, "strand");
  lua_getfield(b, -1, "decode");
  lua_pushlstring(b, bytes, len);
  lua_call(b, 1, 1);
  lua_setglobal(b, "from_a");
  lua_pop(b, 1);
  lua_close(a);
  ok(run(b, "return from_a.name .. ' ' .. from_a:result()", buf, sizeof buf) == LUA_OK &&
         strcmp(buf, "made-in-A from A") == 0,
     "B still uses it after A is closed (%s)", buf);
  lua_close(b);
}

static void test_errors(void) {
  lua_State *L = new_host_state();
  int r = strand_dostring(L, "local function inner() error('boom') end inner()", "=errors");
  const char *msg = luaL_tolstring(L, -1, NULL);
  ok(r == LUA_ERRRUN && strstr(msg, "boom") && strstr(msg, "stack traceback"),
     "strand_dostring returns the error with a traceback");
  lua_settop(L, 0);
  r = strand_dostring(L, "return (", "=syntax");
  ok(r == LUA_ERRSYNTAX, "a syntax error is LUA_ERRSYNTAX");
  lua_settop(L, 0);
  luaL_loadstring(L, "local a, b = ... return a + b");
  lua_pushinteger(L, 2);
  lua_pushinteger(L, 3);
  r = strand_pcall(L, 2, 1);
  ok(r == LUA_OK && lua_tointeger(L, -1) == 5, "strand_pcall passes arguments and results");
  lua_settop(L, 0);
  r = strand_dofile(L, "/nonexistent/strand-embed-test.lua");
  ok(r == LUA_ERRFILE, "strand_dofile of a missing file is LUA_ERRFILE");
  lua_close(L);
}

/* A host's own pthread with its own state, running threads beside main. */
static void *host_thread(void *arg) {
  (void)arg;
  lua_State *L = new_host_state();
  char buf[256];
  int r = run(L, worker_twice, buf, sizeof buf);
  lua_close(L);
  return (void *)(intptr_t)(r == LUA_OK && strcmp(buf, "42 in worker") == 0);
}

static void test_host_threads(void) {
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, host_thread, NULL);
  lua_State *L = new_host_state();
  char buf[256];
  int mine = run(L, worker_twice, buf, sizeof buf) == LUA_OK && strcmp(buf, "42 in worker") == 0;
  int good = 1;
  for (int i = 0; i < 2; i++) {
    void *res;
    pthread_join(th[i], &res);
    good = good && res != NULL;
  }
  lua_close(L);
  ok(mine && good, "states on the host's own pthreads start and join workers at the same time");
}

static void test_shutdown_joins(void) {
  lua_State *L = new_host_state();
  int before = atomic_load(&done_marks);
  ok(run(L, "strand.Thread{target = function() strand.sleep(0.05) hostlib.mark('done') end}:start()",
         NULL, 0) == LUA_OK, "a script leaves a non-daemon thread running");
  strand_shutdown(0);
  ok(atomic_load(&done_marks) == before + 1, "strand_shutdown(0) joined it");
  lua_close(L);
}

/* Wait (bounded: 20 s) until *counter exceeds before; 1 if it did. */
static int wait_mark(atomic_int *counter, int before) {
  struct timespec ms = {0, 1000000};
  for (int i = 0; i < 20000 && atomic_load(counter) <= before; i++) nanosleep(&ms, NULL);
  return atomic_load(counter) > before;
}

static void test_shutdown_cancels(void) {
  lua_State *L = new_host_state();
  int before = atomic_load(&cancel_marks), entered = atomic_load(&entered_marks);
  ok(run(L, "strand.Thread{target = function()\n"
            "  local _ <close> = setmetatable({}, {__close = function() hostlib.mark('cancelled') end})\n"
            "  hostlib.mark('entered')\n"
            "  strand.sleep(1e6)\n"
            "end}:start()", NULL, 0) == LUA_OK,
     "a script leaves a thread blocked forever");
  /* cancel once its <close> is in place: a cancel landing before the
  ** thread got there would end it before it ran that line */
  ok(wait_mark(&entered_marks, entered), "the thread reached its <close>");
  strand_shutdown(1);
  ok(atomic_load(&cancel_marks) == before + 1, "strand_shutdown(1) cancelled it (its <close> ran)");
  lua_close(L);
}

int main(void) {
  strand_shutdown(0); /* before init: nothing to do, must not crash */
  ok(1, "strand_shutdown before strand_init is harmless");
  ok(strand_init() == 0 && strand_init() == 0, "strand_init twice");
  strand_set_state_hook(hook, "worker");

  test_hook_and_two_states();
  test_errors();
  test_host_threads();
  test_shutdown_joins();
  test_shutdown_cancels();

  /* the same again after a shutdown: init, states, workers, shutdown */
  ok(strand_init() == 0, "strand_init after strand_shutdown");
  test_hook_and_two_states();
  test_shutdown_joins();
  strand_shutdown(0);
  ok(1, "strand_shutdown twice in a row");

  strand_set_state_hook(NULL, NULL);
  lua_State *L = new_host_state();
  char buf[64];
  int calls = atomic_load(&hook_calls);
  run(L, "local t = strand.Thread{target = function() return tostring(hostlib and hostlib.twice) end}\n"
         "t:start(); t:join(30); return t:result()", buf, sizeof buf);
  ok(atomic_load(&hook_calls) == calls && strcmp(buf, "nil") == 0,
     "strand_set_state_hook(NULL, NULL) removes the hook (%s)", buf);
  lua_close(L);
  strand_shutdown(0);
  printf("1..%d\n", tap_n);
  return 0;
}

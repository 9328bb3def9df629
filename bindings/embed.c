/*
** embed.c — the public embedding API (strand.h): init, opening strand into
** a host's state, running code, Ctrl-C, shutdown.
*/
#include "strand.h"
#include "sb.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>

void sb_thread_atfork_install(void);

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result;

/* stdio is flushed before every fork so nothing buffered is printed twice;
** and what another thread wrote into stdout's buffer between that flush and
** the fork is the parent's to print: the child drops its copy. */
static void flush_before_fork(void) { fflush(NULL); }
static void purge_in_child(void) { __fpurge(stdout); }

/* strand.so is never unloaded: lua_close dlcloses C modules, while a
** detached worker thread may still be running the last instructions of
** strand's code after its join returned (that crashed lua5.4 at exit). */
static void pin_library(void) {
  Dl_info info;
  if (dladdr((void *)strand_init, &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static void init_once_fn(void) {
  pin_library();
  init_result = srt_arena_init(0);
  if (init_result == 0) {
    pthread_atfork(flush_before_fork, NULL, purge_in_child);
    sb_thread_atfork_install();
  }
}

int strand_init(void) {
  pthread_once(&init_once, init_once_fn);
  return init_result;
}

void strand_openlibs(lua_State *L) {
  luaL_openlibs(L);
  luaL_requiref(L, "strand", luaopen_strand, 1);
  lua_pop(L, 1);
}

int strand_dofile(lua_State *L, const char *path) {
  int r = luaL_loadfile(L, path);
  if (r == LUA_OK) r = sb_pcall_traceback(L, 0, LUA_MULTRET);
  return r;
}

int strand_dostring(lua_State *L, const char *chunk, const char *name) {
  int r = luaL_loadbuffer(L, chunk, strlen(chunk), name ? name : chunk);
  if (r == LUA_OK) r = sb_pcall_traceback(L, 0, LUA_MULTRET);
  return r;
}

int strand_pcall(lua_State *L, int nargs, int nresults) {
  return sb_pcall_traceback(L, nargs, nresults);
}

static srt_tctx *_Atomic sigint_ctx;

static void on_sigint(int sig) {
  (void)sig;
  srt_tctx *c = atomic_load(&sigint_ctx);
  if (c) atomic_store(&c->interrupt, SRT_INT_KEYBOARD);
  sb_arm_interrupt(); /* a busy Lua loop in the main thread notices too */
}

void strand_catch_sigint(lua_State *L) {
  strand_init();
  atomic_store(&sigint_ctx, srt_self());
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: a blocked wait must return */
  sigaction(SIGINT, &sa, NULL);
  sb_install_interrupt_hook(L);
}

/* In a forked child: Ctrl-C belongs to the child's own (only) thread. */
void sb_sigint_after_fork(void) {
  if (atomic_load(&sigint_ctx)) atomic_store(&sigint_ctx, srt_self());
}

void strand_shutdown(int cancel_all) {
  if (!srt_arena_ready()) return;
  sb_futures_shutdown(cancel_all); /* executors finish their queues, pools end */
  sb_threads_shutdown(cancel_all);
  sb_processes_shutdown(cancel_all);
  sb_shm_shutdown(); /* unlink the SharedMemory blocks the program made */
  fflush(NULL);
}

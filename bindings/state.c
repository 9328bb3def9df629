/*
** state.c — worker Lua states: creation, the interrupt hook, and running a
** function so that its error keeps the worker's traceback and name.
*/
#include "strand.h"
#include "sb.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void install_wake_hook(void);

static strand_state_hook init_hook;
static void *init_hook_ud;

void strand_set_state_hook(strand_state_hook fn, void *ud) {
  init_hook = fn;
  init_hook_ud = ud;
}

/* How Lua code that never waits notices a cancel or Ctrl-C. A permanent
** count hook would make the VM check every instruction (about 1.3-1.8x
** slower), so the hook is set only when an interrupt arrives: srt_interrupt
** raises the thread's flag and sends the wake signal, whose handler runs in
** that thread and sets a one-shot hook on the state the thread is running
** (lua_sethook may be called from a signal handler; lua.c does the same for
** Ctrl-C). The hook puts back any hook the script had, then raises.
** A coroutine has its own hook, so coroutine.resume and coroutine.wrap are
** replaced by copies of lcorolib's that note the coroutine the thread runs:
** the hook is armed where the busy loop is. ThreadSanitizer delays signals
** until the thread calls into libc, which a pure Lua loop never does, so
** under it the old count hook stays (a coroutine inherits it). */
#if defined(__SANITIZE_THREAD__)
#define SIGNALS_DEFERRED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SIGNALS_DEFERRED 1
#endif
#endif

static __thread lua_State *running_state;
static __thread lua_Hook saved_hook;
static __thread int saved_mask, saved_count;

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, saved_hook, saved_mask, saved_count);
  if (srt_interrupt_pending()) sb_raise_interrupt(L);
}

static void arm(lua_State *L, int mask, int count) {
  if (!L || lua_gethook(L) == interrupt_hook) return;
  saved_hook = lua_gethook(L);
  saved_mask = lua_gethookmask(L);
  saved_count = lua_gethookcount(L);
  lua_sethook(L, interrupt_hook, mask, count);
}

void sb_arm_interrupt(void) { arm(running_state, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1); }

#ifdef SIGNALS_DEFERRED
static void count_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (srt_interrupt_pending()) sb_raise_interrupt(L);
}
#endif

/* ---- coroutine.resume and coroutine.wrap, as lcorolib's --------------------- */
/* Resume co with narg values from L's top; its results (or its error, -1)
** are moved to L. While co runs, it is the state an interrupt arms; a signal
** that came just before a switch armed the state left, so the flag is
** looked at after each switch too. */
static int auxresume(lua_State *L, lua_State *co, int narg) {
  if (!lua_checkstack(co, narg)) {
    lua_pushliteral(L, "too many arguments to resume");
    return -1;
  }
  lua_xmove(L, co, narg);
  lua_State *prev = running_state;
  running_state = co;
  if (srt_interrupt_pending()) arm(co, LUA_MASKCOUNT, 1);
  int nres, status = lua_resume(co, L, narg, &nres);
  running_state = prev;
  if (srt_interrupt_pending()) arm(prev, LUA_MASKCOUNT, 1);
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_xmove(co, L, 1); /* the error */
    return -1;
  }
  if (!lua_checkstack(L, nres + 1)) {
    lua_pop(co, nres);
    lua_pushliteral(L, "too many results to resume");
    return -1;
  }
  lua_xmove(co, L, nres);
  return nres;
}

static int co_resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  int r = auxresume(L, co, lua_gettop(L) - 1);
  lua_pushboolean(L, r >= 0);
  lua_insert(L, r >= 0 ? -(r + 1) : -2);
  return r >= 0 ? r + 1 : 2;
}

static int co_auxwrap(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(1));
  int r = auxresume(L, co, lua_gettop(L));
  if (r >= 0) return r;
  int stat = lua_status(co);
  if (stat != LUA_OK && stat != LUA_YIELD) { /* an error in the coroutine: close it */
#if LUA_VERSION_RELEASE_NUM >= 50406
    stat = lua_closethread(co, L);
#else
    stat = lua_resetthread(co);
#endif
    lua_xmove(co, L, 1);
  }
  if (stat != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) { /* where it was called */
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

static int co_wrap(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_State *co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, co_auxwrap, 1);
  return 1;
}

static void patch_coroutines(lua_State *L) {
  if (lua_getglobal(L, "coroutine") == LUA_TTABLE) {
    lua_getfield(L, -1, "resume");
    int done = lua_tocfunction(L, -1) == co_resume;
    lua_pop(L, 1);
    if (!done) {
      lua_pushcfunction(L, co_resume);
      lua_setfield(L, -2, "resume");
      lua_pushcfunction(L, co_wrap);
      lua_setfield(L, -2, "wrap");
    }
  }
  lua_pop(L, 1);
}

void sb_install_interrupt_hook(lua_State *L) {
  patch_coroutines(L);
#ifdef SIGNALS_DEFERRED
  if (!lua_gethook(L)) lua_sethook(L, count_hook, LUA_MASKCOUNT, 1000);
#else
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install_wake_hook);
  running_state = L;
  /* An interrupt that came before this (a cancel landing while a new thread
  ** was still making its state): its signal found no state to arm, and a
  ** busy loop would never see the flag. Arm the hook now, to fire after
  ** 1000 instructions as the count hook under TSan does: code that waits
  ** first (a pool worker's loop, a target's first wait) still takes the
  ** interrupt there, as before; busy code is stopped soon after it starts. */
  if (srt_interrupt_pending()) arm(L, LUA_MASKCOUNT, 1000);
#endif
}

static void set_package_field(lua_State *L, const char *field, const char *value) {
  if (!value) return;
  lua_getglobal(L, "package");
  lua_pushstring(L, value);
  lua_setfield(L, -2, field);
  lua_pop(L, 1);
}

static int open_state(lua_State *L) {
  const char *path = lua_touserdata(L, 1), *cpath = lua_touserdata(L, 2);
  /* _G and package.loaded made at their final size: filling them from
  ** empty rehashed each a handful of times per state */
  lua_createtable(L, 0, 48);
  lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_createtable(L, 0, 16);
  lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  luaL_openlibs(L);
  set_package_field(L, "path", path);
  set_package_field(L, "cpath", cpath);
  luaL_requiref(L, "strand", luaopen_strand, 1);
  lua_pop(L, 1);
  if (init_hook) init_hook(L, init_hook_ud);
  return 0;
}

/* What luaL_newstate sets, for a state on its own heap: a panic message,
** and warnings off until a script sends "@on" (as the stand-alone lua). */
static int panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", msg ? msg : "?");
  fflush(stderr);
  return 0; /* then Lua aborts */
}

static void warn_on(void *ud, const char *msg, int tocont);
static void warn_off(void *ud, const char *msg, int tocont);

/* A control message ("@on", "@off") switches warnings; others are ignored. */
static int warn_control(lua_State *L, const char *msg, int tocont) {
  if (tocont || *msg != '@') return 0;
  if (strcmp(msg, "@off") == 0) lua_setwarnf(L, warn_off, L);
  else if (strcmp(msg, "@on") == 0) lua_setwarnf(L, warn_on, L);
  return 1;
}

static void warn_cont(void *ud, const char *msg, int tocont) {
  fputs(msg, stderr);
  if (tocont) return;
  fputs("\n", stderr);
  lua_setwarnf((lua_State *)ud, warn_on, ud);
}

static void warn_on(void *ud, const char *msg, int tocont) {
  if (warn_control(ud, msg, tocont)) return;
  fputs("Lua warning: ", stderr);
  warn_cont(ud, msg, tocont);
  if (tocont) lua_setwarnf((lua_State *)ud, warn_cont, ud);
}

static void warn_off(void *ud, const char *msg, int tocont) { warn_control(ud, msg, tocont); }

lua_State *sb_new_state(const char *path, const char *cpath) {
  srt_heap *heap = srt_heap_new();
  lua_State *L = heap ? lua_newstate(srt_heap_alloc, heap) : NULL;
  if (!L) {
    srt_heap_delete(heap);
    return NULL;
  }
  lua_atpanic(L, panic);
  lua_setwarnf(L, warn_off, L);
  lua_pushcfunction(L, open_state);
  lua_pushlightuserdata(L, (void *)path);
  lua_pushlightuserdata(L, (void *)cpath);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    sb_close_state(L);
    return NULL;
  }
  sb_install_interrupt_hook(L);
  return L;
}

void sb_close_state(lua_State *L) {
  void *heap;
#ifndef SIGNALS_DEFERRED
  /* a wake signal after this must not arm a hook in the freed state (a
  ** cancel landing while a thread ends, before it is marked done) */
  if (running_state == L) running_state = NULL;
#endif
  lua_getallocf(L, &heap);
  lua_close(L);
  srt_heap_delete(heap);
}

const char *sb_current_name(lua_State *L) {
  const char *name = "MainThread";
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.name") == LUA_TSTRING) name = lua_tostring(L, -1);
  lua_pop(L, 1);
  return name; /* the registry keeps the string alive */
}

/* Message handler: wrap whatever was raised into a strand.Error that
** carries the traceback and the worker's name, keeping the original value. */
static int traceback_handler(lua_State *L) {
  int orig_is_error = 0;
  if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, "strand.Error");
    orig_is_error = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  if (orig_is_error) {
    lua_getfield(L, 1, "traceback");
    int has = lua_isstring(L, -1);
    lua_pop(L, 1);
    if (!has) {
      luaL_traceback(L, L, NULL, 1);
      lua_setfield(L, 1, "traceback");
      lua_pushstring(L, sb_current_name(L));
      lua_setfield(L, 1, "worker");
    }
    lua_settop(L, 1);
    return 1;
  }
  const char *msg = luaL_tolstring(L, 1, NULL);
  sb_push_error(L, "Error", msg);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "value");
  luaL_traceback(L, L, NULL, 1);
  lua_setfield(L, -2, "traceback");
  lua_pushstring(L, sb_current_name(L));
  lua_setfield(L, -2, "worker");
  return 1;
}

int sb_pcall_traceback(lua_State *L, int nargs, int nresults) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback_handler);
  lua_insert(L, base);
  int r = lua_pcall(L, nargs, nresults, base);
  lua_remove(L, base);
  return r;
}

static void install_wake_hook(void) { srt_set_wake_hook(sb_arm_interrupt); }

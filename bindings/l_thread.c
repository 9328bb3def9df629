/*
** l_thread.c — strand.Thread: an OS thread running its own lua_State.
**
** start() encodes the target, its arguments, the script's globals and a
** replaced excepthook into one message; the new thread builds a fresh state,
** decodes the message into it and calls the target. Results or the error
** are encoded back into the thread object in the arena, where join() and
** result() read them. The object lives in the arena so its handle can be
** passed to other threads like any strand object.
*/
#include "sb.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TS_NEW, TS_RUNNING, TS_DONE };

typedef struct sb_thread {
  srt_obj h;
  srt_tctx ctx;
  _Atomic uint32_t state;
  _Atomic uint32_t started;
  int daemon, is_main;
  pid_t pid;
  uint64_t ident;
  _Atomic uint64_t owner_id; /* srt_self_owner_id() of the running thread */
  char name[96];
  void *result; /* encoded results, or the error when failed */
  size_t result_len;
  int failed;
} sb_thread;

/* ---- the live threads of this process -------------------------------------- */
/* Threads between waking their joiners and dropping their own reference: a
** child that exits right after a join waits for them (sb_threads_settle), or
** the reference would be lost with the process. */
static _Atomic uint32_t finishing;
static sb_registry live = SB_REGISTRY_INIT;
static sb_thread *main_thread;
static pid_t main_pid;

#define live_add(t) sb_registry_add(&live, &(t)->h)
#define live_remove(t) sb_registry_remove(&live, &(t)->h)

/* In a forked child only the forking thread exists; the parent's list
** belongs to the parent (its references too), so it is simply forgotten. */
static void atfork_child(void) {
  sb_registry_forget(&live);
  main_thread = NULL;
}

static void thread_destroy(srt_obj *o) {
  sb_thread *t = (sb_thread *)o;
  sb_msg_free(t->result, t->result_len);
  t->result = NULL;
}

/* The object for the thread running this code in this process. */
static sb_thread *get_main_thread(lua_State *L) {
  pid_t pid = srt_self_pid();
  if (main_thread && main_pid == pid) return main_thread;
  sb_thread *t = sb_new_obj(L, SB_T_THREAD, sizeof *t);
  strcpy(t->name, "MainThread");
  t->is_main = 1;
  t->pid = pid;
  t->ident = (uint64_t)pthread_self();
  t->ctx.pid = pid;
  t->ctx.tid = srt_gettid();
  atomic_store(&t->state, TS_RUNNING);
  atomic_store(&t->started, 1);
  main_thread = t;
  main_pid = pid;
  return t;
}

void sb_threads_release_main(void) {
  if (main_thread && main_pid == srt_self_pid()) {
    srt_obj *o = &main_thread->h;
    main_thread = NULL;
    srt_decref(o);
  }
}

/* A worker state records its thread as a plain pointer; the handle (and the
** Thread metatable) is made only if the script asks for it. */
static void push_current(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.current") == LUA_TUSERDATA) {
    sb_thread *t = sb_test(L, -1, SB_T_THREAD);
    if (t && t->pid == srt_self_pid()) return;
  }
  lua_pop(L, 1);
  sb_thread *t = NULL;
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.current_ptr") == LUA_TLIGHTUSERDATA) {
    t = lua_touserdata(L, -1);
    if (t->pid != srt_self_pid()) t = NULL;
  }
  lua_pop(L, 1);
  if (!t) t = get_main_thread(L);
  sb_push_ref(L, &t->h);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.current");
}

/* ---- the worker side ---------------------------------------------------------- */
typedef struct start_rec {
  sb_thread *t;
  void *msg;
  size_t len;
  char *path, *cpath;
} start_rec;

static int default_excepthook(lua_State *L);

static void report_error(lua_State *L, sb_thread *t, int err) {
  /* a cancelled thread ends as asked: nothing to report */
  lua_getfield(L, err, "kind");
  int cancelled = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "Cancelled") == 0;
  lua_pop(L, 1);
  if (cancelled) return;
  /* strand.threading.excepthook{thread_name=, error=, traceback=} */
  lua_getglobal(L, "strand");
  lua_getfield(L, -1, "threading");
  lua_getfield(L, -1, "excepthook");
  lua_createtable(L, 0, 4);
  lua_pushstring(L, t->name);
  lua_setfield(L, -2, "thread_name");
  lua_pushvalue(L, err);
  lua_setfield(L, -2, "error");
  lua_getfield(L, err, "traceback");
  lua_setfield(L, -2, "traceback");
  push_current(L);
  lua_setfield(L, -2, "thread");
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "Exception in excepthook of thread %s: %s\n", t->name,
            luaL_tolstring(L, -1, NULL));
  }
  lua_settop(L, err);
}

static void store_result(lua_State *L, sb_thread *t, int first, int n, int failed) {
  size_t len;
  const char *p = failed ? sb_encode_lenient(L, first, n, &len)
                         : sb_encode(L, first, n, &len, "result");
  void *a = srt_alloc(len);
  if (!a) {
    sb_codec_release(p, len);
    return;
  }
  memcpy(a, p, len);
  t->result = a;
  t->result_len = len;
  t->failed = failed;
}

/* Runs inside the worker state under pcall: decode, install, call, store. */
static int worker_body(lua_State *L) {
  start_rec *sr = lua_touserdata(L, 1);
  sb_thread *t = sr->t;
  lua_settop(L, 0);
  int n = sb_decode(L, sr->msg, sr->len); /* fn, args, globals, excepthook */
  (void)n;
  if (lua_istable(L, 3)) { /* globals the script had: add what is missing */
    lua_pushglobaltable(L); /* 5 */
    lua_pushnil(L);
    while (lua_next(L, 3)) {
      lua_pushvalue(L, -2);
      if (lua_rawget(L, 5) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 5);
      } else {
        lua_pop(L, 2);
      }
    }
  }
  if (lua_isfunction(L, 4)) {
    lua_getglobal(L, "strand");
    lua_getfield(L, -1, "threading");
    lua_pushvalue(L, 4);
    lua_setfield(L, -2, "excepthook");
    lua_pop(L, 2);
  }
  lua_settop(L, 2);
  int nargs = (int)luaL_len(L, 2);
  luaL_checkstack(L, nargs + 8, "too many arguments");
  for (int i = 1; i <= nargs; i++) lua_rawgeti(L, 2, i);
  lua_remove(L, 2);
  if (sb_pcall_traceback(L, nargs, LUA_MULTRET) != LUA_OK) {
    report_error(L, t, lua_gettop(L));
    store_result(L, t, lua_gettop(L), 1, 1);
    return 0;
  }
  store_result(L, t, 1, lua_gettop(L), 0);
  return 0;
}

static void *thread_main(void *arg) {
  start_rec *sr = arg;
  sb_thread *t = sr->t;
  srt_set_self(&t->ctx);
  atomic_store(&t->owner_id, srt_self_owner_id());
  srt_deadlock_name(t->name);
  lua_State *L = sb_new_state(sr->path, sr->cpath);
  if (L) {
    lua_pushstring(L, t->name);
    lua_setfield(L, LUA_REGISTRYINDEX, "strand.name");
    lua_pushlightuserdata(L, t);
    lua_setfield(L, LUA_REGISTRYINDEX, "strand.current_ptr");
    lua_pushcfunction(L, worker_body);
    lua_pushlightuserdata(L, sr);
    if (sb_pcall_traceback(L, 1, 0) != LUA_OK) { /* decoding or storing failed */
      report_error(L, t, lua_gettop(L));
      if (!t->result) store_result(L, t, lua_gettop(L), 1, 1);
    }
    sb_close_state(L);
  } else {
    fprintf(stderr, "Exception in thread %s: cannot create a Lua state\n", t->name);
    t->failed = 1;
  }
  sb_codec_release(sr->msg, sr->len);
  free(sr->msg);
  free(sr->path);
  free(sr->cpath);
  free(sr);
  atomic_fetch_add(&finishing, 1);
  live_remove(t); /* first: after join, enumerate() no longer lists it */
  atomic_store(&t->state, TS_DONE);
  srt_futex_wake(&t->state, INT32_MAX);
  srt_decref(&t->h);
  if (atomic_fetch_sub(&finishing, 1) == 1) srt_futex_wake(&finishing, INT32_MAX);
  return NULL;
}

void sb_threads_settle(void) {
  int64_t deadline = srt_deadline(1.0);
  uint32_t n;
  while ((n = atomic_load(&finishing)) != 0)
    if (srt_futex_wait(&finishing, n, deadline) != SRT_OK) break; /* timed out, or interrupted */
}

/* ---- Lua API ------------------------------------------------------------------- */
#define check_thread(L, i) ((sb_thread *)sb_check(L, i, SB_T_THREAD))

/* The name a function value goes by where Thread{} was called: a local or
** upvalue of the caller, else a global. Pushes it, or nothing (returns 0). */
static int push_function_name(lua_State *L, int fn) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar)) {
    const char *name;
    for (int i = 1; (name = lua_getlocal(L, &ar, i)) != NULL; i++) {
      int same = lua_rawequal(L, -1, fn) && name[0] != '(';
      lua_pop(L, 1);
      if (same) {
        lua_pushstring(L, name);
        return 1;
      }
    }
    lua_getinfo(L, "f", &ar);
    for (int i = 1; (name = lua_getupvalue(L, -1, i)) != NULL; i++) {
      int same = lua_rawequal(L, -1, fn);
      lua_pop(L, 1);
      if (same) {
        lua_pop(L, 1);
        lua_pushstring(L, name);
        return 1;
      }
    }
    lua_pop(L, 1);
  }
  lua_pushglobaltable(L);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_rawequal(L, -1, fn) && lua_type(L, -2) == LUA_TSTRING) {
      lua_pop(L, 1);
      lua_remove(L, -2);
      return 1;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

/* Python names an unnamed thread "Thread-N (target)". */
static void default_name(lua_State *L, sb_thread *t, int fn) {
  unsigned long long n = (unsigned long long)srt_counter_next(SRT_CNT_THREAD);
  if (!lua_isnil(L, fn) && push_function_name(L, fn)) {
    snprintf(t->name, sizeof t->name, "Thread-%llu (%s)", n, lua_tostring(L, -1));
    lua_pop(L, 1);
  } else {
    snprintf(t->name, sizeof t->name, "Thread-%llu", n);
  }
}

/* strand.Thread{target=, args=, name=, daemon=, run=} */
static int l_thread_new(lua_State *L) {
  sb_spawn_options(L, "Thread");
  sb_thread *t = sb_new_obj(L, SB_T_THREAD, sizeof *t);
  sb_push_handle(L, &t->h); /* 7 */
  if (lua_isnil(L, 6)) { /* inherit from the creating thread, as Python */
    push_current(L);
    t->daemon = ((sb_thread *)sb_test(L, -1, SB_T_THREAD))->daemon;
    lua_pop(L, 1);
  } else {
    t->daemon = lua_toboolean(L, 6);
  }
  if (lua_isstring(L, 5)) snprintf(t->name, sizeof t->name, "%s", lua_tostring(L, 5));
  else default_name(L, t, lua_isnil(L, 2) ? 3 : 2);
  sb_spawn_keep(L, 7);
  return 1;
}

/* A copy of package[field] when it is a string, else NULL. */
static char *dup_package(lua_State *L, const char *field) {
  char *s = NULL;
  if (lua_getglobal(L, "package") == LUA_TTABLE) {
    if (lua_getfield(L, -1, field) == LUA_TSTRING) s = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return s;
}

/* Add the raw entries of the table at src to the table at -1, without the
** standard libraries, strand, and C functions (the worker has its own). */
static void copy_user_entries(lua_State *L, int src, int dst) {
  static const char *const skip[] = {"_G", "string", "table", "math", "io", "os", "coroutine",
                                     "utf8", "debug", "package", "strand", NULL};
  lua_pushnil(L);
  while (lua_next(L, src)) {
    int keep = lua_type(L, -2) == LUA_TSTRING && !lua_iscfunction(L, -1);
    for (int i = 0; keep && skip[i]; i++)
      if (strcmp(lua_tostring(L, -2), skip[i]) == 0) keep = 0;
    if (keep) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, dst);
    } else {
      lua_pop(L, 1);
    }
  }
}

/* The script's globals: those of _G, and those of the target's own _ENV when
** that is another table (a sandbox, or busted's spec environment). */
static void push_user_globals(lua_State *L, int fn) {
  lua_newtable(L);
  int dst = lua_gettop(L);
  lua_pushglobaltable(L);
  copy_user_entries(L, dst + 1, dst);
  for (int u = 1; lua_isfunction(L, fn) && !lua_iscfunction(L, fn); u++) {
    const char *name = lua_getupvalue(L, fn, u);
    if (!name) break;
    /* walk the environment and its __index chain, up to _G */
    for (int depth = 0; depth < 16 && strcmp(name, "_ENV") == 0 && lua_istable(L, -1) &&
                        !lua_rawequal(L, -1, dst + 1);
         depth++) {
      copy_user_entries(L, lua_gettop(L), dst);
      if (!luaL_getmetafield(L, -1, "__index")) break;
      lua_replace(L, -2);
    }
    lua_pop(L, 1);
    if (strcmp(name, "_ENV") == 0) break;
  }
  lua_pop(L, 1);
}

static void push_user_excepthook(lua_State *L) {
  lua_getglobal(L, "strand");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "threading");
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "excepthook");
      if (lua_tocfunction(L, -1) == default_excepthook) {
        lua_pop(L, 1);
        lua_pushnil(L);
      }
      lua_replace(L, -3);
      lua_pop(L, 1);
      return;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
}

static int l_start(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  uint32_t zero = 0;
  if (t->is_main || !atomic_compare_exchange_strong(&t->started, &zero, 1))
    return luaL_error(L, "threads can only be started once");
  sb_spawn_callable(L);
  push_user_globals(L, 3);
  push_user_excepthook(L);
  size_t len;
  /* target and args strictly (an error names the bad value: target[2] is
  ** the args table), the globals and excepthook leniently, in one message */
  const char *p = sb_encode_partly(L, 3, 4, 2, &len, "target");
  start_rec *sr = calloc(1, sizeof *sr);
  if (sr) sr->msg = malloc(len);
  if (!sr || !sr->msg) {
    sb_codec_release(p, len);
    free(sr);
    return luaL_error(L, "not enough memory");
  }
  memcpy(sr->msg, p, len);
  sr->len = len;
  sr->t = t;
  sr->path = dup_package(L, "path");
  sr->cpath = dup_package(L, "cpath");
  t->pid = srt_self_pid();
  atomic_store(&t->state, TS_RUNNING);
  srt_incref(&t->h); /* the running thread's own reference */
  live_add(t);
  /* workers never take SIGINT: Ctrl-C belongs to the main thread. The mask
  ** is the new thread's from its first instruction (glibc sets it inside
  ** pthread_create: no window, and no mask change in this thread). */
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, NULL, &mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setsigmask_np(&attr, &mask);
  pthread_t pt;
  int rc = pthread_create(&pt, &attr, thread_main, sr);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    atomic_store(&t->state, TS_DONE);
    live_remove(t);
    srt_decref(&t->h);
    sb_codec_release(sr->msg, sr->len);
    free(sr->msg);
    free(sr->path);
    free(sr->cpath);
    free(sr);
    return sb_error(L, "RuntimeError", "can't start new thread (%s)", strerror(rc));
  }
  t->ident = (uint64_t)pt;
  return 0;
}

static int wait_done(lua_State *L, sb_thread *t, int64_t deadline, int watched) {
  for (;;) {
    uint32_t s = atomic_load(&t->state);
    if (s == TS_DONE) return 1;
    int r = srt_futex_wait(&t->state, s, deadline);
    if (r == SRT_TIMEDOUT) return atomic_load(&t->state) == TS_DONE;
    if (r == SRT_INTERRUPTED) {
      if (watched) srt_deadlock_leave();
      sb_raise_interrupt(L);
    }
  }
}

static int l_join(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  int64_t deadline = sb_opt_deadline(L, 2);
  if (!atomic_load(&t->started)) return luaL_error(L, "cannot join thread before it is started");
  if (t->is_main || &t->ctx == srt_self())
    return luaL_error(L, "cannot join current thread");
  /* a join that can only end if the joined thread gets a lock this thread
  ** holds (or joins it back) is reported as a Deadlock */
  int watched = deadline == SRT_FOREVER && atomic_load(&t->state) != TS_DONE;
  if (watched) {
    if (!srt_deadlock_named()) srt_deadlock_name(sb_current_name(L));
    if (srt_deadlock_enter_join(atomic_load(&t->owner_id)))
      return sb_error(L, "Deadlock", "%s", srt_deadlock_report());
  }
  int done = wait_done(L, t, deadline, watched);
  if (watched) srt_deadlock_leave();
  lua_pushboolean(L, done);
  return 1;
}

static int l_is_alive(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  lua_pushboolean(L, atomic_load(&t->state) == TS_RUNNING);
  return 1;
}

static int l_cancel(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  if (t->is_main) return luaL_error(L, "cannot cancel the main thread");
  if (atomic_load(&t->state) == TS_RUNNING) srt_interrupt(&t->ctx, SRT_INT_CANCEL);
  lua_pushboolean(L, atomic_load(&t->state) == TS_RUNNING);
  return 1;
}

/* t:result() -> the target's return values; raises the thread's error. */
static int l_result(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  if (atomic_load(&t->state) != TS_DONE) return luaL_error(L, "thread has not finished (join it first)");
  lua_settop(L, 1);
  if (!t->result) {
    if (t->failed) return sb_error(L, "Error", "thread %s failed", t->name);
    return 0;
  }
  int n = sb_decode(L, t->result, t->result_len);
  if (t->failed) return lua_error(L);
  return n;
}

static int g_error(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  if (atomic_load(&t->state) != TS_DONE || !t->failed || !t->result) return 0;
  lua_settop(L, 1);
  sb_decode(L, t->result, t->result_len);
  return 1;
}

static int g_name(lua_State *L) {
  lua_pushstring(L, check_thread(L, 1)->name);
  return 1;
}

static int s_name(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  snprintf(t->name, sizeof t->name, "%s", luaL_checkstring(L, 3));
  return 0;
}

static int g_daemon(lua_State *L) {
  lua_pushboolean(L, check_thread(L, 1)->daemon);
  return 1;
}

static int s_daemon(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  if (atomic_load(&t->started)) return luaL_error(L, "cannot set daemon status of active thread");
  t->daemon = lua_toboolean(L, 3);
  return 0;
}

static int g_ident(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  if (!atomic_load(&t->started)) return 0;
  lua_pushinteger(L, (lua_Integer)t->ident);
  return 1;
}

static int g_native_id(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  if (!atomic_load(&t->started) || t->ctx.tid == 0) return 0;
  lua_pushinteger(L, t->ctx.tid);
  return 1;
}

static int thread_tostring(lua_State *L) {
  sb_thread *t = check_thread(L, 1);
  uint32_t s = atomic_load(&t->state);
  lua_pushfstring(L, "<Thread(%s, %s%s)>", t->name,
                  s == TS_NEW ? "initial" : s == TS_RUNNING ? "started" : "stopped",
                  t->daemon ? " daemon" : "");
  return 1;
}

/* ---- strand.threading functions ------------------------------------------------ */
static int l_current_thread(lua_State *L) {
  push_current(L);
  return 1;
}

static int l_main_thread(lua_State *L) {
  sb_push_ref(L, &get_main_thread(L)->h);
  return 1;
}

/* A thread leaves the live list just after it wakes its joiners, so one that
** is done but still listed is not counted: after join() it is gone, as in Python. */
static int not_done(const srt_obj *o) {
  return atomic_load(&((const sb_thread *)o)->state) != TS_DONE;
}

static int l_active_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)sb_registry_count(&live, not_done) + 1);
  return 1;
}

static int l_enumerate(lua_State *L) {
  lua_newtable(L);
  sb_push_ref(L, &get_main_thread(L)->h);
  lua_rawseti(L, -2, 1);
  size_t n;
  srt_obj **copy = sb_registry_snapshot(&live, &n, not_done);
  if (!copy) return luaL_error(L, "not enough memory");
  for (size_t i = 0; i < n; i++) {
    sb_push_handle(L, copy[i]); /* takes over the snapshot's reference */
    lua_rawseti(L, -2, (lua_Integer)i + 2);
  }
  free(copy);
  return 1;
}

static int l_get_ident(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)pthread_self());
  return 1;
}

static int l_get_native_id(lua_State *L) {
  lua_pushinteger(L, srt_gettid());
  return 1;
}

static int default_excepthook(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "thread_name");
  lua_getfield(L, 1, "error");
  const char *msg = NULL;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "message");
    lua_getfield(L, 3, "traceback");
    msg = lua_pushfstring(L, "%s\n%s", luaL_optstring(L, -2, "?"), luaL_optstring(L, -1, ""));
  } else {
    msg = luaL_tolstring(L, 3, NULL);
  }
  /* one write, so reports from many threads do not interleave */
  const char *line = lua_pushfstring(L, "Exception in thread %s:\n%s\n", luaL_optstring(L, 2, "?"), msg);
  fputs(line, stderr);
  fflush(stderr);
  return 0;
}

/* strand.threading.Timer(interval, f [, args]): a thread that waits, then
** calls f unless cancelled. Its cancel() is the thread's cancel. */
static int l_timer(lua_State *L) {
  double interval = luaL_checknumber(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  if (luaL_loadstring(L, "local interval, f, args = ... "
                         "return function() strand.sleep(interval) "
                         "return f(table.unpack(args or {})) end") != LUA_OK)
    return lua_error(L);
  lua_pushnumber(L, interval);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_call(L, 3, 1); /* 4: the wrapper */
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, 4);
  lua_setfield(L, -2, "target");
  lua_pushcfunction(L, l_thread_new);
  lua_insert(L, -2);
  lua_call(L, 1, 1);
  return 1;
}

/* ---- shutdown ------------------------------------------------------------------- */
static void wait_quiet(sb_thread *t, int64_t deadline) {
  while (atomic_load(&t->state) != TS_DONE) {
    uint32_t s = atomic_load(&t->state);
    if (s == TS_DONE) break;
    int r = srt_futex_wait(&t->state, s, deadline);
    if (r == SRT_TIMEDOUT || r == SRT_INTERRUPTED) return;
  }
}

void sb_threads_shutdown(int cancel_all) {
  size_t n;
  sb_thread **all = (sb_thread **)sb_registry_snapshot(&live, &n, NULL);
  if (!all) return;
  for (size_t i = 0; i < n; i++)
    if (cancel_all || all[i]->daemon) srt_interrupt(&all[i]->ctx, SRT_INT_CANCEL);
  for (size_t i = 0; i < n && !cancel_all; i++) {
    if (all[i]->daemon) continue;
    wait_quiet(all[i], SRT_FOREVER);
    if (srt_interrupt_pending()) { /* Ctrl-C while joining: cancel the rest */
      for (size_t j = 0; j < n; j++) srt_interrupt(&all[j]->ctx, SRT_INT_CANCEL);
      cancel_all = 1;
    }
  }
  int64_t grace = srt_deadline(2.0);
  for (size_t i = 0; i < n; i++) wait_quiet(all[i], grace);
  sb_registry_release((srt_obj **)all, n);
}

int sb_threads_running(void) { return (int)sb_registry_count(&live, NULL); }

/* ---- registration ----------------------------------------------------------------- */
static const luaL_Reg thread_methods[] = {
    {"start", l_start}, {"join", l_join},     {"is_alive", l_is_alive},
    {"cancel", l_cancel}, {"result", l_result}, {NULL, NULL}};
static const luaL_Reg thread_getters[] = {
    {"name", g_name},   {"daemon", g_daemon}, {"ident", g_ident},
    {"native_id", g_native_id}, {"error", g_error}, {NULL, NULL}};
static const luaL_Reg thread_setters[] = {{"name", s_name}, {"daemon", s_daemon}, {NULL, NULL}};

static const sb_type thread_type = {
    SB_T_THREAD, "strand.Thread", thread_methods, thread_getters, thread_setters,
    NULL,        thread_tostring, NULL,           thread_destroy};

void sb_open_thread(lua_State *L) {
  sb_register_type(&thread_type);
  sb_setfn(L, "Thread", l_thread_new);
  sb_setfn(L, "current_thread", l_current_thread);
  sb_setfn(L, "main_thread", l_main_thread);
  sb_setfn(L, "active_count", l_active_count);
  sb_setfn(L, "enumerate", l_enumerate);
  sb_setfn(L, "get_ident", l_get_ident);
  sb_setfn(L, "get_native_id", l_get_native_id);
  sb_setfn(L, "excepthook", default_excepthook);
  sb_setfn(L, "Timer", l_timer);
}

void sb_thread_atfork_install(void) { pthread_atfork(NULL, NULL, atfork_child); }

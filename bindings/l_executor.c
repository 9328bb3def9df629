/*
** l_executor.c — strand.ThreadPoolExecutor and strand.ProcessPoolExecutor.
**
** Thread pool. Worker threads are strand Threads (so they have the script's
** globals, a name, and are known to the thread machinery) whose target is a
** C loop reached through the registry. Each keeps its Lua state across tasks
** and takes tasks from an arena task queue; a task function is decoded once
** per worker (task.c). Workers are started on demand, as Python's, up to
** max_workers. The queue and the workers' shared state live in a block with
** its own reference count, held by the executor object and by each worker,
** so a dropped executor lets its workers finish the queue and end.
**
** Process pool. The same tasks and futures, run by forked workers (the engine
** of l_pool.c). Workers are forked at the first submit, from the state that
** submits, as Python's fork executor does.
**
** Cancelling a future whose task is running (in either kind of pool)
** interrupts the worker at its next Lua instruction check or strand wait;
** the worker survives and takes the next task.
*/
#include "sb.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the shared state of a thread pool ------------------------------------------- */
typedef struct tpool {
  _Atomic uint32_t refs;
  uint32_t max_workers;
  srt_taskq q;
  _Atomic int nworkers;     /* started and not ended */
  _Atomic uint32_t ended;   /* futex word: bumped as each worker ends */
  _Atomic uint32_t sleepers;
  _Atomic uint32_t nstarted; /* for names */
  _Atomic uint32_t broken;
  void *init;               /* (initializer, initargs), packed */
  size_t init_len;
  char prefix[80];
} tpool;

static void tpool_unref(tpool *tp) {
  if (!tp || atomic_fetch_sub(&tp->refs, 1) != 1) return;
  sb_taskq_cancel_all(&tp->q);
  srt_taskq_destroy(&tp->q);
  sb_packed_free(tp->init, tp->init_len, NULL);
  srt_free(tp);
}

/* ---- the executor object ------------------------------------------------------------ */
enum { EX_STARTING = 1, EX_STARTED = 2, EX_START_FAILED = 3 };

typedef struct sb_executor {
  srt_obj h;
  int is_process;
  int max_workers, max_tasks;
  _Atomic uint32_t shutdown;
  tpool *tp;                 /* threads */
  sb_engine *_Atomic eng;    /* processes, once started */
  _Atomic uint32_t start_state; /* futex word: EX_* */
  void *init;                /* processes: (initializer, initargs), packed */
  size_t init_len;
  _Atomic uint32_t joined;
  pid_t owner;
  uint64_t serial;
} sb_executor;

/* Executors made by this process, for the end of the program. */
typedef struct live_ex {
  sb_executor *ex;
  uint64_t serial;
} live_ex;
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static live_ex *live;
static size_t nlive, live_cap;

static void live_add(sb_executor *ex) {
  pthread_mutex_lock(&live_mu);
  if (nlive == live_cap) {
    size_t cap = live_cap ? live_cap * 2 : 8;
    live_ex *p = realloc(live, cap * sizeof *p);
    if (!p) {
      pthread_mutex_unlock(&live_mu);
      return;
    }
    live = p;
    live_cap = cap;
  }
  live[nlive].ex = ex;
  live[nlive].serial = ex->serial;
  nlive++;
  pthread_mutex_unlock(&live_mu);
}

static void live_remove(sb_executor *ex) {
  pthread_mutex_lock(&live_mu);
  for (size_t i = 0; i < nlive; i++) {
    if (live[i].ex == ex) {
      live[i] = live[--nlive];
      break;
    }
  }
  pthread_mutex_unlock(&live_mu);
}

/* A forked child does not own its parent's executors. */
static void atfork_child(void) {
  pthread_mutex_init(&live_mu, NULL);
  free(live);
  live = NULL;
  nlive = live_cap = 0;
}

static void install_atfork(void) { pthread_atfork(NULL, NULL, atfork_child); }

/* Refuse new work and let the workers end once the queue is empty. */
static void close_executor(sb_executor *ex, int cancel_pending) {
  atomic_store(&ex->shutdown, 1);
  if (ex->tp) {
    if (cancel_pending) sb_taskq_cancel_all(&ex->tp->q);
    srt_taskq_close(&ex->tp->q);
  }
  sb_engine *e = atomic_load(&ex->eng);
  if (e) {
    if (cancel_pending) sb_engine_terminate_queue(e);
    sb_engine_close(e);
  }
}

/* Wait for the workers to end; 1 when they did. L may be NULL (no raise). */
static int join_executor(lua_State *L, sb_executor *ex, int64_t deadline) {
  if (ex->tp) {
    tpool *tp = ex->tp;
    for (;;) {
      uint32_t seq = atomic_load(&tp->ended);
      if (atomic_load(&tp->nworkers) <= 0) break;
      atomic_fetch_add(&tp->sleepers, 1);
      int r = srt_futex_wait(&tp->ended, seq, deadline);
      atomic_fetch_sub(&tp->sleepers, 1);
      if (r == SRT_TIMEDOUT && atomic_load(&tp->nworkers) > 0) return 0;
      if (r == SRT_INTERRUPTED) {
        if (L) sb_raise_interrupt(L);
        return 0;
      }
    }
    return 1;
  }
  sb_engine *e = atomic_load(&ex->eng);
  if (!e || atomic_load(&ex->joined)) return 1;
  int ok = sb_engine_join(L, e, deadline);
  if (ok) atomic_store(&ex->joined, 1);
  return ok;
}

static void executor_destroy(srt_obj *o) {
  sb_executor *ex = (sb_executor *)o;
  if (ex->owner == getpid()) live_remove(ex);
  close_executor(ex, 0);
  if (ex->tp) {
    tpool_unref(ex->tp);
    ex->tp = NULL;
  }
  sb_engine *e = atomic_load(&ex->eng);
  if (e) {
    /* the workers finish the queue; the engine is reaped by whoever can */
    sb_engine_orphan(e);
    atomic_store(&ex->eng, NULL);
  }
  sb_packed_free(ex->init, ex->init_len, NULL);
}

/* ---- the thread worker ---------------------------------------------------------------- */
static void break_pool(lua_State *L, tpool *tp) {
  /* the error is at the top: report it as Python logs it, then fail the rest */
  fprintf(stderr, "Exception in initializer:\n%s\n", luaL_tolstring(L, -1, NULL));
  fflush(stderr);
  lua_pop(L, 2);
  atomic_store(&tp->broken, 1);
  srt_tqnode *n = srt_taskq_drain(&tp->q);
  while (n) {
    srt_tqnode *next = n->next;
    sb_task *t = (sb_task *)n;
    sb_push_error(L, "BrokenThreadPool",
                  "A thread initializer failed, the thread pool is not usable anymore");
    void *msg;
    int one = t->fut->nparts == 1;
    size_t len = sb_pack_error(L, -1, one ? t->fut->buf : NULL, one ? SB_INLINE : 0, &msg);
    lua_pop(L, 1);
    sb_future_done_part(t->fut, t->part, msg, len, 1);
    sb_task_release(t);
    n = next;
  }
}

/* Target of every worker thread: strand.tpe_worker(pool address). */
static int tpe_worker(lua_State *L) {
  tpool *tp = (tpool *)(uintptr_t)luaL_checkinteger(L, 1);
  lua_settop(L, 0);
  if (tp->init && sb_run_initializer(L, tp->init, tp->init_len)) {
    break_pool(L, tp);
  } else {
    lua_settop(L, 0);
    for (;;) {
      srt_tqnode *n;
      int r = srt_taskq_pop(&tp->q, &n, NULL, SRT_FOREVER);
      if (r == SRT_BROKEN) break;
      if (r == SRT_INTERRUPTED) { /* the thread itself is being cancelled */
        if (srt_take_interrupt()) break;
        continue;
      }
      if (r != SRT_OK) continue;
      sb_task *t = (sb_task *)n;
      int stop = atomic_load(&tp->broken) ? 0 : sb_task_run(L, t);
      if (atomic_load(&tp->broken)) sb_future_cancel(t->fut, 1);
      sb_task_release(t);
      lua_settop(L, 0);
      sb_run_callbacks(L);
      if (stop) break;
    }
  }
  srt_taskq_consumers(&tp->q, -1);
  atomic_fetch_sub(&tp->nworkers, 1);
  atomic_fetch_add(&tp->ended, 1);
  if (atomic_load(&tp->sleepers)) srt_futex_wake(&tp->ended, INT_MAX);
  tpool_unref(tp);
  return 0;
}

/* Start one more worker thread, unless the pool is full. */
static void spawn_thread(lua_State *L, sb_executor *ex) {
  tpool *tp = ex->tp;
  int n = atomic_fetch_add(&tp->nworkers, 1);
  if (n >= (int)tp->max_workers) {
    atomic_fetch_sub(&tp->nworkers, 1);
    return;
  }
  atomic_fetch_add(&tp->refs, 1); /* the worker's */
  srt_taskq_consumers(&tp->q, 1);
  uint32_t num = atomic_fetch_add(&tp->nstarted, 1);
  int top = lua_gettop(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "strand");
  lua_getfield(L, -1, "Thread");
  lua_createtable(L, 0, 4);
  if (lua_getfield(L, LUA_REGISTRYINDEX, "strand.tpe_target") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    luaL_loadstring(L, "return debug.getregistry()['strand.tpe_worker'](...)");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, "strand.tpe_target");
  }
  lua_setfield(L, -2, "target");
  lua_createtable(L, 1, 0);
  lua_pushinteger(L, (lua_Integer)(uintptr_t)tp);
  lua_rawseti(L, -2, 1);
  lua_setfield(L, -2, "args");
  lua_pushfstring(L, "%s_%d", tp->prefix, (int)num);
  lua_setfield(L, -2, "name");
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "daemon");
  if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
    lua_getfield(L, -1, "start");
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK) {
      lua_settop(L, top);
      return;
    }
  }
  srt_taskq_consumers(&tp->q, -1);
  atomic_fetch_sub(&tp->nworkers, 1);
  atomic_fetch_sub(&tp->refs, 1);
  if (n == 0) lua_error(L); /* no worker at all: say why */
  lua_settop(L, top);
}

/* ---- starting the process engine --------------------------------------------------- */
static int start_engine_body(lua_State *L) {
  sb_executor *ex = lua_touserdata(L, 1);
  sb_engine *e = sb_engine_start(L, &ex->h, ex->max_workers, ex->max_tasks, &ex->init, ex->init_len,
                                 "ForkProcess");
  atomic_store(&ex->eng, e);
  return 0;
}

static sb_engine *get_engine(lua_State *L, sb_executor *ex) {
  sb_engine *e = atomic_load(&ex->eng);
  if (e) return e;
  uint32_t zero = 0;
  if (atomic_compare_exchange_strong(&ex->start_state, &zero, EX_STARTING)) {
    lua_pushcfunction(L, start_engine_body);
    lua_pushlightuserdata(L, ex);
    int r = lua_pcall(L, 1, 0, 0);
    atomic_store(&ex->start_state, r == LUA_OK ? EX_STARTED : EX_START_FAILED);
    srt_futex_wake(&ex->start_state, INT_MAX);
    if (r != LUA_OK) lua_error(L);
    return atomic_load(&ex->eng);
  }
  for (;;) { /* another thread is forking the workers */
    uint32_t s = atomic_load(&ex->start_state);
    if (s == EX_STARTED) return atomic_load(&ex->eng);
    if (s == EX_START_FAILED) sb_error(L, "BrokenProcessPool", "the worker processes could not be started");
    if (srt_futex_wait(&ex->start_state, s, SRT_FOREVER) == SRT_INTERRUPTED) sb_raise_interrupt(L);
  }
}

/* ---- Lua API -------------------------------------------------------------------------- */
#define check_executor(L, i) ((sb_executor *)sb_check(L, i, SB_T_EXECUTOR))

static void check_usable(lua_State *L, sb_executor *ex) {
  if (atomic_load(&ex->shutdown))
    sb_error(L, "RuntimeError", "cannot schedule new futures after shutdown");
  if (ex->tp && atomic_load(&ex->tp->broken))
    sb_error(L, "BrokenThreadPool", "A thread initializer failed, the thread pool is not usable anymore");
  sb_engine *e = atomic_load(&ex->eng);
  if (e && sb_engine_broken(L, e)) lua_error(L);
}

/* Queue a task; on a closed queue undo and raise. */
static void queue_task(lua_State *L, sb_executor *ex, sb_task *t) {
  srt_incref(&t->fut->h); /* the queue's */
  int r = ex->tp ? srt_taskq_push(&ex->tp->q, &t->node) : sb_engine_submit(get_engine(L, ex), t);
  if (r != SRT_OK) {
    sb_task_release(t);
    sb_error(L, "RuntimeError", "cannot schedule new futures after shutdown");
  }
  if (ex->tp && srt_taskq_waiting(&ex->tp->q) == 0 &&
      atomic_load(&ex->tp->nworkers) < (int)ex->tp->max_workers)
    spawn_thread(L, ex);
}

/* ex:submit(f, ...) -> Future */
static int l_submit(lua_State *L) {
  sb_executor *ex = check_executor(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  sb_run_callbacks(L);
  check_usable(L, ex);
  if (ex->is_process) get_engine(L, ex);
  int nargs = lua_gettop(L) - 2;
  sb_future *f = sb_future_new(L, SB_T_FUTURE, SB_FK_CALL, 1);
  sb_task *t = &f->task;
  t->fut = f;
  t->kind = SB_TASK_CALL;
  t->args_len = sb_pack_at(L, 3, nargs, f->buf, SB_INLINE, &t->args, "args", 1);
  t->fn = sb_fn_ref(L, 2);
  queue_task(L, ex, t);
  return 1;
}

/* The last argument of map is its options when it has keys and no items:
** an empty table is an empty list (map then yields nothing, as Python's). */
static int is_options(lua_State *L, int idx) {
  if (!lua_istable(L, idx) || lua_rawlen(L, idx) != 0) return 0;
  lua_pushnil(L);
  if (!lua_next(L, idx)) return 0;
  lua_pop(L, 2);
  return 1;
}

/* ex:map(f, list [, list2 ...] [, {timeout=, chunksize=}]) -> iterator of i, v */
static int l_map(lua_State *L) {
  sb_executor *ex = check_executor(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  int top = lua_gettop(L);
  int64_t deadline = SRT_FOREVER, chunksize = 1;
  if (top >= 4 && is_options(L, top)) {
    static const char *const keys[] = {"timeout", "chunksize", NULL};
    sb_check_options(L, top, "map", keys);
    lua_getfield(L, top, "timeout");
    if (!lua_isnil(L, -1)) deadline = sb_opt_deadline(L, -1);
    lua_getfield(L, top, "chunksize");
    sb_optsrc src = {"map", "chunksize", 0};
    chunksize = sb_opt_integer(L, -1, &src, 1);
    lua_pop(L, 2);
    top--;
  }
  if (top < 3) return luaL_error(L, "map: at least one list expected");
  if (chunksize < 1) return luaL_error(L, "map: chunksize must be >= 1");
  int64_t n = INT64_MAX;
  for (int i = 3; i <= top; i++) {
    luaL_checktype(L, i, LUA_TTABLE);
    int64_t len = (int64_t)luaL_len(L, i);
    if (len < n) n = len;
  }
  sb_run_callbacks(L);
  check_usable(L, ex);
  if (ex->is_process) get_engine(L, ex);
  else chunksize = 1; /* as Python: threads take items one by one */
  if (chunksize > 65536) chunksize = 65536;
  int64_t nparts = n > 0 ? (n + chunksize - 1) / chunksize : 1;
  if (nparts > UINT32_MAX / 2) return luaL_error(L, "map: too many items");
  sb_future *f = sb_future_new(L, SB_T_FUTURE, SB_FK_MAP, (uint32_t)nparts);
  int fi = lua_gettop(L);
  f->nitems = n;
  f->chunksize = chunksize;
  if (n == 0) { /* nothing to do: an empty iterator */
    sb_future_done_part(f, 0, NULL, 0, 0);
    return sb_push_map_iter(L, fi, 1, deadline);
  }
  int nlists = top - 2;
  sb_fn_unref(sb_fn_ref(L, 2)); /* sent once: each task's reference is a lookup */
  for (int64_t p = 0; p < nparts; p++) {
    int64_t first = p * chunksize + 1, count = n - first + 1 < chunksize ? n - first + 1 : chunksize;
    void *args;
    size_t len;
    int kind;
    if (chunksize == 1) { /* one call: its arguments are the i-th items */
      kind = SB_TASK_CALL;
      luaL_checkstack(L, nlists + 4, "too many lists");
      for (int i = 3; i <= top; i++) lua_rawgeti(L, i, (lua_Integer)first);
      len = sb_pack_at(L, -nlists, nlists, NULL, 0, &args, "args", 1);
      lua_pop(L, nlists);
    } else if (nlists == 1) {
      kind = SB_TASK_MAP;
      len = sb_pack_slice(L, 3, first, count, &args, "items");
    } else { /* a chunk of argument tables */
      kind = SB_TASK_STARMAP;
      lua_createtable(L, 0, (int)count); /* keyed as the lists are: errors name the item */
      for (int64_t j = 0; j < count; j++) {
        lua_createtable(L, nlists, 0);
        for (int i = 3; i <= top; i++) {
          lua_rawgeti(L, i, (lua_Integer)(first + j));
          lua_rawseti(L, -2, i - 2);
        }
        lua_rawseti(L, -2, (lua_Integer)(first + j));
      }
      len = sb_pack_slice(L, -1, first, count, &args, "items");
      lua_pop(L, 1);
    }
    sb_task *t = sb_new_part_task(L, f, (uint32_t)p, kind, args, len);
    t->count = count;
    t->fn = sb_fn_ref(L, 2);
    queue_task(L, ex, t);
  }
  return sb_push_map_iter(L, fi, 1, deadline);
}

/* ex:shutdown([wait=true [, cancel_futures=false]]) or shutdown{wait=, cancel_futures=} */
static int l_shutdown(lua_State *L) {
  sb_executor *ex = check_executor(L, 1);
  int wait = 1, cancel = 0;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "wait");
    if (!lua_isnil(L, -1)) wait = lua_toboolean(L, -1);
    lua_getfield(L, 2, "cancel_futures");
    cancel = lua_toboolean(L, -1);
  } else {
    if (!lua_isnoneornil(L, 2)) wait = lua_toboolean(L, 2);
    cancel = lua_toboolean(L, 3);
  }
  close_executor(ex, cancel);
  if (wait) join_executor(L, ex, SRT_FOREVER);
  sb_run_callbacks(L);
  return 0;
}

static int executor_close(lua_State *L) {
  sb_executor *ex = check_executor(L, 1);
  close_executor(ex, 0);
  join_executor(L, ex, SRT_FOREVER);
  sb_run_callbacks(L);
  return 0;
}

static int g_max_workers(lua_State *L) {
  lua_pushinteger(L, check_executor(L, 1)->max_workers);
  return 1;
}

static int executor_tostring(lua_State *L) {
  sb_executor *ex = check_executor(L, 1);
  lua_pushfstring(L, "<%s max_workers=%d%s>", ex->is_process ? "ProcessPoolExecutor" : "ThreadPoolExecutor",
                  ex->max_workers, atomic_load(&ex->shutdown) ? " shutdown" : "");
  return 1;
}

static void *pack_initializer(lua_State *L, int init, int initargs, size_t *len) {
  if (lua_isnil(L, init)) return NULL;
  lua_pushvalue(L, init);
  lua_pushvalue(L, initargs);
  void *msg;
  *len = sb_pack(L, -2, 2, NULL, 0, &msg, "initializer");
  lua_pop(L, 2);
  return msg;
}

/* Options: a table, or (max_workers, ...) positionally, in keys' order. */
static int new_executor(lua_State *L, int is_process) {
  static const char *const tkeys[] = {"max_workers", "thread_name_prefix", "initializer", "initargs", NULL};
  static const char *const pkeys[] = {"max_workers", "initializer", "initargs", "max_tasks_per_child", NULL};
  const char *const *keys = is_process ? pkeys : tkeys;
  const char *what = is_process ? "ProcessPoolExecutor" : "ThreadPoolExecutor";
  if (!lua_isnoneornil(L, 1) && !lua_istable(L, 1) && lua_type(L, 1) != LUA_TNUMBER)
    return luaL_argerror(L, 1, "options table or max_workers expected");
  lua_settop(L, 5);
  sb_optsrc src[4];
  sb_push_options(L, what, keys, src); /* at 6..9 */
  int init = is_process ? 7 : 8;
  sb_opt_type(L, init, &src[init - 6], LUA_TFUNCTION);
  sb_opt_type(L, init + 1, &src[init - 5], LUA_TTABLE);
  if (!is_process) sb_opt_type(L, 7, &src[1], LUA_TSTRING);
  lua_Integer max = sb_opt_integer(L, 6, &src[0], 0);
  if (lua_isnil(L, 6)) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1) ncpu = 1;
    max = is_process ? ncpu : (ncpu + 4 < 32 ? ncpu + 4 : 32); /* Python's defaults */
  }
  if (max < 1) return sb_error(L, "ValueError", "max_workers must be greater than 0");
  if (max > 4096) return sb_error(L, "ValueError", "max_workers must be at most 4096");
  lua_Integer maxtasks = is_process ? sb_opt_integer(L, 9, &src[3], 0) : 0;
  if (is_process && !lua_isnil(L, 9) && maxtasks < 1)
    return sb_error(L, "ValueError", "max_tasks_per_child must be >= 1");
  size_t init_len = 0;
  void *init_msg = pack_initializer(L, init, init + 1, &init_len);
  sb_executor *ex = srt_obj_new(SB_T_EXECUTOR, sizeof *ex);
  if (!ex) {
    sb_packed_free(init_msg, init_len, NULL);
    return sb_error(L, "MemoryError", "strand arena is full");
  }
  ex->is_process = is_process;
  ex->max_workers = (int)max;
  ex->max_tasks = (int)maxtasks;
  ex->owner = getpid();
  ex->serial = srt_counter_next(SRT_CNT_GENERIC);
  sb_push_handle(L, &ex->h);
  if (is_process) {
    ex->init = init_msg;
    ex->init_len = init_len;
  } else {
    tpool *tp = srt_calloc(sizeof *tp);
    if (!tp) {
      sb_packed_free(init_msg, init_len, NULL);
      return sb_error(L, "MemoryError", "strand arena is full");
    }
    atomic_init(&tp->refs, 1);
    tp->max_workers = (uint32_t)max;
    srt_taskq_init(&tp->q);
    tp->init = init_msg;
    tp->init_len = init_len;
    if (lua_isstring(L, 7)) snprintf(tp->prefix, sizeof tp->prefix, "%s", lua_tostring(L, 7));
    else snprintf(tp->prefix, sizeof tp->prefix, "ThreadPoolExecutor-%d",
                  (int)srt_counter_next(SRT_CNT_POOL) - 1);
    ex->tp = tp;
  }
  live_add(ex);
  return 1;
}

static int l_tpe_new(lua_State *L) { return new_executor(L, 0); }
static int l_ppe_new(lua_State *L) { return new_executor(L, 1); }

/* ---- end of program -------------------------------------------------------------------- */
void sb_executors_atexit(int cancel_all) {
  pid_t me = getpid();
  for (;;) {
    pthread_mutex_lock(&live_mu);
    sb_executor *ex = NULL;
    while (nlive) {
      live_ex le = live[--nlive];
      if (srt_obj_valid(&le.ex->h, SB_T_EXECUTOR) && le.ex->serial == le.serial &&
          le.ex->owner == me) {
        ex = le.ex;
        srt_incref(&ex->h);
        break;
      }
    }
    pthread_mutex_unlock(&live_mu);
    if (!ex) return;
    /* as Python at exit: the queued work is done, then the workers end */
    close_executor(ex, cancel_all);
    if (cancel_all) {
      sb_engine *e = atomic_load(&ex->eng);
      if (e) sb_engine_terminate(e);
    }
    join_executor(NULL, ex, cancel_all ? srt_deadline(2.0) : SRT_FOREVER);
    srt_decref(&ex->h);
  }
}

static const luaL_Reg executor_methods[] = {
    {"submit", l_submit}, {"map", l_map}, {"shutdown", l_shutdown}, {NULL, NULL}};
static const luaL_Reg executor_getters[] = {{"max_workers", g_max_workers}, {NULL, NULL}};

static const sb_type executor_type = {
    SB_T_EXECUTOR, "strand.Executor", executor_methods, executor_getters, NULL,
    executor_close, executor_tostring, NULL,            executor_destroy};

/* Every state, even one whose module is not filled yet, can be a worker. */
void sb_executor_state(lua_State *L) {
  lua_pushcfunction(L, tpe_worker);
  lua_setfield(L, LUA_REGISTRYINDEX, "strand.tpe_worker");
}

void sb_open_executor(lua_State *L) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install_atfork);
  sb_register_type(&executor_type);
  sb_executor_state(L);
  sb_setfn(L, "ThreadPoolExecutor", l_tpe_new);
  sb_setfn(L, "ProcessPoolExecutor", l_ppe_new);
}

/*
** l_strand.c — the module table: luaopen_strand, small functions (sleep,
** clocks, cpu_count), a print that writes whole lines, and the Python-shaped
** views (strand.threading, strand.multiprocessing, ...), built on first use.
*/
#include "strand.h"
#include "sb.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  if (s != s || s < 0) return luaL_argerror(L, 1, "sleep length must be a non-negative number");
  int64_t deadline = srt_deadline(s);
  _Atomic uint32_t never = 0;
  for (;;) {
    int r = srt_futex_wait(&never, 0, deadline);
    if (r == SRT_TIMEDOUT) return 0;
    if (r == SRT_INTERRUPTED) return sb_raise_interrupt(L);
  }
}

static int l_time(lua_State *L) {
  lua_pushnumber(L, srt_walltime());
  return 1;
}

static int l_monotonic(lua_State *L) {
  lua_pushnumber(L, srt_monotonic());
  return 1;
}

static int l_cpu_count(lua_State *L) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  lua_pushinteger(L, n > 0 ? n : 1);
  return 1;
}

static int l_getpid(lua_State *L) {
  lua_pushinteger(L, getpid());
  return 1;
}

/* strand.is_error(e [, kind]) */
static int l_is_error(lua_State *L) {
  int ok = 0;
  if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, "strand.Error");
    ok = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (ok && !lua_isnoneornil(L, 2)) {
      lua_getfield(L, 1, "kind");
      ok = lua_rawequal(L, -1, 2) || (lua_isstring(L, -1) && lua_isstring(L, 2) &&
                                      strcmp(lua_tostring(L, -1), lua_tostring(L, 2)) == 0);
    }
  }
  lua_pushboolean(L, ok);
  return 1;
}

/* strand.error(kind, message): raise a strand.Error, for scripts. */
static int l_error(lua_State *L) {
  const char *kind = luaL_checkstring(L, 1);
  const char *msg = luaL_optstring(L, 2, kind);
  sb_push_error(L, kind, msg);
  return lua_error(L);
}

/* print, writing each line with one call so lines from many threads (and,
** with a line-buffered stdout, many processes) never interleave. */
static int l_print(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    size_t len;
    const char *s = luaL_tolstring(L, i, &len);
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_addvalue(&b);
    (void)s;
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *line = lua_tolstring(L, -1, &len);
  fwrite(line, 1, len, stdout);
  return 0;
}

static int l_arena_stats(lua_State *L) {
  srt_arena_stats st;
  srt_arena_stats_get(&st);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)st.capacity);
  lua_setfield(L, -2, "capacity");
  lua_pushinteger(L, (lua_Integer)st.in_use);
  lua_setfield(L, -2, "in_use");
  lua_pushinteger(L, (lua_Integer)st.blocks);
  lua_setfield(L, -2, "blocks");
  return 1;
}

/* ---- views ------------------------------------------------------------------- */
typedef struct view {
  const char *name;
  const char *const *names; /* "name" or "name=source" */
} view;

static const char *const threading_names[] = {
    "Thread", "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event", "Condition",
    "Barrier", "Timer", "current_thread", "main_thread", "active_count", "enumerate",
    "get_ident", "get_native_id", "excepthook", NULL};
static const char *const mp_names[] = {
    "Process", "Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event", "Condition",
    "Barrier", "Queue", "JoinableQueue", "SimpleQueue", "Pipe", "Value", "Array",
    "RawValue", "RawArray", "Manager", "Pool", "current_process", "parent_process",
    "active_children", "cpu_count", "SharedMemory", "wait", NULL};
static const char *const queue_names[] = {"Queue", "LifoQueue", "PriorityQueue",
                                          "SimpleQueue", NULL};
static const char *const futures_names[] = {
    "ThreadPoolExecutor", "ProcessPoolExecutor", "Future", "as_completed",
    "wait=futures_wait", "FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED", NULL};
static const char *const shared_names[] = {"dict=shared_dict", "list=shared_list",
                                           "Namespace=shared_namespace", "Value", "Array",
                                           "SharedMemory", NULL};
static const view views[] = {{"threading", threading_names},
                             {"multiprocessing", mp_names},
                             {"queue", queue_names},
                             {"futures", futures_names},
                             {"shared", shared_names},
                             {NULL, NULL}};

/* A view the first time it is asked for (module at 1, key at 2). */
static int push_view(lua_State *L) {
  const char *key = lua_tostring(L, 2);
  for (int v = 0; key && views[v].name; v++) {
    if (strcmp(key, views[v].name) != 0) continue;
    lua_newtable(L);
    for (int i = 0; views[v].names[i]; i++) {
      const char *spec = views[v].names[i], *eq = strchr(spec, '=');
      if (eq) {
        lua_pushlstring(L, spec, (size_t)(eq - spec));
        lua_getfield(L, 1, eq + 1);
      } else {
        lua_pushstring(L, spec);
        lua_getfield(L, 1, spec);
      }
      lua_rawset(L, -3);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, 1, key);
    lua_pushnil(L); /* the codec's map of modules now misses this view */
    lua_setfield(L, LUA_REGISTRYINDEX, "strand.modmap");
    return 1;
  }
  return 0;
}

static const luaL_Reg strand_funcs[] = {
    {"sleep", l_sleep},         {"time", l_time},           {"monotonic", l_monotonic},
    {"cpu_count", l_cpu_count}, {"getpid", l_getpid},       {"is_error", l_is_error},
    {"error", l_error},         {"print", l_print},         {"arena_stats", l_arena_stats},
    {NULL, NULL}};

/* ---- filling the module ------------------------------------------------------- */
/* Opening all of strand (about 80 functions) was a fifth of a thread's start
** cost, and most threads touch a few names or none. The first state of a
** process opens it whole (that also registers every handle type, once per
** process, before any handle travels); later states, the workers, get a
** table that fills itself on its first lookup, pairs or codec walk. What
** each state needs at once (the codec's watch on package.loaded, its entry in
** debug_threads, the executor worker, print) is done at open either way. */
static void fill(lua_State *L) { /* the module at -1 */
  luaL_setfuncs(L, strand_funcs, 0);
  sb_open_thread(L);
  sb_open_process(L);
  sb_open_queue(L);
  sb_open_pipe(L);
  sb_open_wait(L);
  sb_open_sync(L);
  sb_open_value(L);
  sb_open_array(L);
  sb_open_shared(L);
  sb_open_shm(L);
  sb_open_debug(L);
  sb_open_pool(L);
  sb_open_futures(L);
}

static int lazy_index(lua_State *L);

static void set_filled_meta(lua_State *L) { /* the module at -1 */
  lua_createtable(L, 0, 1);
  sb_setfn(L, "__index", push_view);
  lua_setmetatable(L, -2);
}

void sb_module_complete(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return;
  lua_getfield(L, -1, "__index");
  int lazy = lua_tocfunction(L, -1) == lazy_index;
  lua_pop(L, 2);
  if (!lazy) return;
  lua_pushvalue(L, idx);
  set_filled_meta(L); /* first: the parts may read the module */
  fill(L);
  lua_pop(L, 1);
}

static int lazy_index(lua_State *L) {
  sb_module_complete(L, 1);
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, 1) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  return push_view(L);
}

static int raw_next(lua_State *L) {
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

static int lazy_pairs(lua_State *L) {
  sb_module_complete(L, 1);
  lua_pushcfunction(L, raw_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

int luaopen_strand(lua_State *L) {
  static _Atomic int opened_once;
  if (strand_init() != 0) return luaL_error(L, "strand: cannot map the shared arena");
  lua_createtable(L, 0, 96);
  lua_pushliteral(L, STRAND_VERSION);
  lua_setfield(L, -2, "_VERSION");
  sb_open_codec(L);
  sb_debug_register_state(L);
  sb_executor_state(L);
  if (atomic_exchange(&opened_once, 1)) {
    lua_createtable(L, 0, 2);
    sb_setfn(L, "__index", lazy_index);
    sb_setfn(L, "__pairs", lazy_pairs);
    lua_setmetatable(L, -2);
  } else {
    set_filled_meta(L);
    fill(L);
  }
  lua_pushcfunction(L, l_print);
  lua_setglobal(L, "print");
  return 1;
}

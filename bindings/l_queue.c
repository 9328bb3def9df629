/*
** l_queue.c — strand.Queue, JoinableQueue, SimpleQueue, LifoQueue and
** PriorityQueue: one arena queue (runtime/queue.c) behind each, so the same
** object works between threads, between processes, and both at once, made
** before or after a fork.
**
** An item is one codec message. nil is an item like any other: a consumer
** tells "got nil" from "nothing came" because a timeout raises (Empty, Full)
** instead of returning. Closing a queue makes every waiter raise Closed.
*/
#include "sb.h"

#include <string.h>

enum { K_QUEUE, K_JOINABLE, K_SIMPLE, K_LIFO, K_PRIORITY };
static const char *const kind_names[] = {"Queue", "JoinableQueue", "SimpleQueue", "LifoQueue",
                                         "PriorityQueue"};

typedef struct sb_queue {
  srt_obj h;
  srt_queue *q;
  int kind;
} sb_queue;

#define check_queue(L, i) ((sb_queue *)sb_check(L, i, SB_T_QUEUE))

srt_queue *sb_queue_of(srt_obj *o) {
  return o && o->type == SB_T_QUEUE ? ((sb_queue *)o)->q : NULL;
}

static void queue_destroy(srt_obj *o) {
  sb_queue *s = (sb_queue *)o;
  srt_queue_destroy(s->q, sb_codec_release);
  s->q = NULL;
}

static int new_queue(lua_State *L, int kind) {
  lua_Integer maxsize = 0;
  if (kind != K_SIMPLE) {
    if (lua_istable(L, 1)) {
      lua_getfield(L, 1, "maxsize");
      maxsize = luaL_optinteger(L, -1, 0);
      lua_pop(L, 1);
    } else {
      maxsize = luaL_optinteger(L, 1, 0);
    }
  }
  if (maxsize < 0) maxsize = 0; /* as Python: <= 0 means unbounded */
  sb_queue *s = sb_new_obj(L, SB_T_QUEUE, sizeof *s);
  s->kind = kind;
  int order = kind == K_LIFO ? SRT_QUEUE_LIFO : kind == K_PRIORITY ? SRT_QUEUE_PRIORITY : SRT_QUEUE_FIFO;
  s->q = srt_queue_new((size_t)maxsize, order);
  if (!s->q) {
    srt_decref(&s->h);
    return sb_error(L, "MemoryError", "strand arena is full (set STRAND_ARENA_MB)");
  }
  sb_push_handle(L, &s->h);
  return 1;
}

static int l_queue(lua_State *L) { return new_queue(L, K_QUEUE); }
static int l_joinable(lua_State *L) { return new_queue(L, K_JOINABLE); }
static int l_simple(lua_State *L) { return new_queue(L, K_SIMPLE); }
static int l_lifo(lua_State *L) { return new_queue(L, K_LIFO); }
static int l_priority(lua_State *L) { return new_queue(L, K_PRIORITY); }

/* block (default true) at b, timeout at b+1 -> deadline (0: don't block). */
static int64_t block_deadline(lua_State *L, int b) {
  if (lua_gettop(L) < b) return SRT_FOREVER; /* the common call: q:get(), q:put(v) */
  if (!lua_isnil(L, b) && !lua_toboolean(L, b)) return 0;
  if (lua_isnoneornil(L, b + 1)) return SRT_FOREVER;
  double t = luaL_checknumber(L, b + 1);
  luaL_argcheck(L, t >= 0 && t == t, b + 1, "'timeout' must be a non-negative number");
  return srt_deadline(t);
}

static int raise_result(lua_State *L, int r, const char *timeout_kind) {
  switch (r) {
    case SRT_TIMEDOUT:
      return sb_error(L, timeout_kind, strcmp(timeout_kind, "Empty") == 0 ? "queue is empty" : "queue is full");
    case SRT_BROKEN: return sb_error(L, "Closed", "queue is closed");
    case SRT_INTERRUPTED: return sb_raise_interrupt(L);
    case SRT_NOMEM: return sb_error(L, "MemoryError", "strand arena is full (set STRAND_ARENA_MB)");
    default: return sb_error(L, "Error", "queue operation failed (%d)", r);
  }
}

/* A PriorityQueue orders by the item, or by the first element of a table. */
static void priority_key(lua_State *L, int idx, srt_qkey *k) {
  int t = lua_type(L, idx);
  if (t == LUA_TTABLE) {
    lua_rawgeti(L, idx, 1);
    idx = lua_gettop(L);
    t = lua_type(L, idx);
  }
  memset(k, 0, sizeof *k);
  if (t == LUA_TNUMBER) {
    k->num = lua_tonumber(L, idx);
    if (k->num != k->num) luaL_error(L, "PriorityQueue: priority is NaN");
  } else if (t == LUA_TSTRING) {
    k->str = lua_tolstring(L, idx, &k->slen); /* the item keeps the string alive */
  } else {
    luaL_error(L, "PriorityQueue items are numbers, strings, or tables whose first element is one (got %s)",
               lua_typename(L, t));
  }
}

static int do_put(lua_State *L, int64_t deadline) {
  sb_queue *s = check_queue(L, 1);
  if (lua_gettop(L) < 2) return luaL_error(L, "put: missing item (nil is an item: pass it explicitly)");
  srt_qkey key, *kp = NULL;
  if (s->kind == K_PRIORITY) {
    priority_key(L, 2, &key);
    kp = &key;
  }
  char small[SB_SMALL_MSG];
  size_t len = sb_encode_small(L, 2, small, sizeof small);
  const char *p = len ? small : sb_encode(L, 2, 1, &len, "item");
  int r = srt_queue_put_bytes(s->q, p, len, kp, deadline);
  if (r != SRT_OK) {
    sb_codec_release(p, len);
    return raise_result(L, r, "Full");
  }
  return 0;
}

static int l_put(lua_State *L) {
  int64_t deadline = block_deadline(L, 3);
  lua_settop(L, lua_gettop(L) < 2 ? 1 : 2);
  return do_put(L, deadline);
}

static int l_put_nowait(lua_State *L) {
  lua_settop(L, lua_gettop(L) < 2 ? 1 : 2);
  return do_put(L, 0);
}

static int do_get(lua_State *L, int64_t deadline) {
  sb_queue *s = check_queue(L, 1);
  srt_qmsg m;
  int r = srt_queue_take(s->q, &m, deadline);
  if (r != SRT_OK) return raise_result(L, r, "Empty");
  const char *d = srt_qmsg_data(&m);
  lua_settop(L, 1);
  if (!m.block && sb_decode_small(L, d, m.len)) return 1; /* nothing to release */
  int n = sb_decode(L, d, m.len);
  sb_codec_release(d, m.len);
  srt_free(m.block);
  return n;
}

static int l_get(lua_State *L) { return do_get(L, block_deadline(L, 2)); }
static int l_get_nowait(lua_State *L) { return do_get(L, 0); }

static int l_qsize(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)srt_queue_size(check_queue(L, 1)->q));
  return 1;
}

static int l_empty(lua_State *L) {
  lua_pushboolean(L, srt_queue_size(check_queue(L, 1)->q) == 0);
  return 1;
}

static int l_full(lua_State *L) {
  srt_queue *q = check_queue(L, 1)->q;
  size_t max = srt_queue_maxsize(q);
  lua_pushboolean(L, max > 0 && srt_queue_size(q) >= max);
  return 1;
}

static int l_close(lua_State *L) {
  srt_queue_close(check_queue(L, 1)->q);
  return 0;
}

static int l_task_done(lua_State *L) {
  if (srt_queue_task_done(check_queue(L, 1)->q) != SRT_OK)
    return sb_error(L, "ValueError", "task_done() called too many times");
  return 0;
}

/* join([timeout]) -> true when every task is done, false on timeout. */
static int l_join(lua_State *L) {
  sb_queue *s = check_queue(L, 1);
  int r = srt_queue_join(s->q, sb_opt_deadline(L, 2));
  if (r == SRT_BROKEN) return sb_error(L, "Closed", "queue closed while tasks were unfinished");
  lua_pushboolean(L, sb_wait_result(L, r));
  return 1;
}

static int l_noop(lua_State *L) {
  check_queue(L, 1);
  return 0;
}

static int g_maxsize(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)srt_queue_maxsize(check_queue(L, 1)->q));
  return 1;
}

static int g_closed(lua_State *L) {
  lua_pushboolean(L, srt_queue_closed(check_queue(L, 1)->q));
  return 1;
}

static int g_unfinished(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)srt_queue_unfinished(check_queue(L, 1)->q));
  return 1;
}

static int queue_tostring(lua_State *L) {
  sb_queue *s = check_queue(L, 1);
  lua_pushfstring(L, "<%s maxsize=%d qsize=%d%s>", kind_names[s->kind],
                  (int)srt_queue_maxsize(s->q), (int)srt_queue_size(s->q),
                  srt_queue_closed(s->q) ? " closed" : "");
  return 1;
}

static const luaL_Reg queue_methods[] = {
    {"put", l_put},
    {"get", l_get},
    {"put_nowait", l_put_nowait},
    {"get_nowait", l_get_nowait},
    {"qsize", l_qsize},
    {"empty", l_empty},
    {"full", l_full},
    {"close", l_close},
    {"task_done", l_task_done},
    {"join", l_join},
    {"join_thread", l_noop},        /* multiprocessing.Queue: nothing to flush */
    {"cancel_join_thread", l_noop},
    {NULL, NULL}};
static const luaL_Reg queue_getters[] = {
    {"maxsize", g_maxsize}, {"closed", g_closed}, {"unfinished_tasks", g_unfinished}, {NULL, NULL}};

static const sb_type queue_type = {SB_T_QUEUE, "strand.Queue", queue_methods, queue_getters, NULL,
                                   NULL,       queue_tostring, NULL,          queue_destroy};

void sb_open_queue(lua_State *L) {
  sb_register_type(&queue_type);
  sb_setfn(L, "Queue", l_queue);
  sb_setfn(L, "JoinableQueue", l_joinable);
  sb_setfn(L, "SimpleQueue", l_simple);
  sb_setfn(L, "LifoQueue", l_lifo);
  sb_setfn(L, "PriorityQueue", l_priority);
}

/*
** l_pipe.c — strand.Pipe: two connected ends that carry whole messages
** (codec values with send/recv, raw strings with send_bytes/recv_bytes)
** between threads and between processes.
**
** Each direction is a runtime channel (runtime/pipe.c): an OS pipe plus its
** locks, read-ahead buffer and wake-up sequence in the arena. A duplex Pipe
** has two directions, a simplex one a single direction (first end reads,
** second end writes). Writing to a pipe nobody reads any more must fail
** with an error, not kill the process, so the first Pipe installs a no-op
** SIGPIPE handler when SIGPIPE still has its default action (a handler, unlike
** SIG_IGN, is reset by exec, so programs started with io.popen keep the
** default).
**
** The end objects live in the arena (a handle travels like any other) but
** file descriptors belong to processes: fork copies them. Each process keeps
** a table of the ends it has descriptors for and how many handles it holds;
** the descriptors close when the last handle in that process goes, or on
** close(). An end that reaches a process which never had its descriptors
** (sent through a Queue to an unrelated process) cannot be used there.
*/
#include "sb.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STACK_MSG 4096

typedef struct pipe_pair {
  _Atomic uint32_t refs; /* the two ends */
  uint32_t pad;
  srt_chan ch[2];
} pipe_pair;

typedef struct sb_conn {
  srt_obj h;
  uint64_t serial; /* tells apart ends that reuse one address */
  pipe_pair *pp;
  int in, out;     /* channel read from / written to, or -1 */
  int rfd, wfd;    /* descriptor numbers in the creator and its forks */
} sb_conn;

/* ---- the descriptors of this process ----------------------------------------------- */
typedef struct local_end {
  sb_conn *c;
  uint64_t serial;
  long handles;
  int rfd, wfd;
  int closed;
} local_end;

static pthread_mutex_t tab_mu = PTHREAD_MUTEX_INITIALIZER;
static local_end *tab;
static size_t ntab, tab_cap;

static local_end *find(sb_conn *c) {
  for (size_t i = 0; i < ntab; i++)
    if (tab[i].c == c && tab[i].serial == c->serial) return &tab[i];
  return NULL;
}

static int tab_add(sb_conn *c) {
  if (ntab == tab_cap) {
    size_t cap = tab_cap ? tab_cap * 2 : 16;
    local_end *n = realloc(tab, cap * sizeof *n);
    if (!n) return -1;
    tab = n;
    tab_cap = cap;
  }
  tab[ntab++] = (local_end){c, c->serial, 0, c->rfd, c->wfd, 0};
  return 0;
}

static void close_local(local_end *e) {
  if (e->rfd >= 0) close(e->rfd);
  if (e->wfd >= 0) close(e->wfd);
  e->rfd = e->wfd = -1;
  e->closed = 1;
}

static void tab_remove(local_end *e) {
  close_local(e);
  *e = tab[--ntab];
}

static void conn_adopt(srt_obj *o) {
  pthread_mutex_lock(&tab_mu);
  local_end *e = find((sb_conn *)o);
  if (e) e->handles++;
  pthread_mutex_unlock(&tab_mu);
}

static void conn_drop(srt_obj *o) {
  sb_conn *c = (sb_conn *)o;
  pthread_mutex_lock(&tab_mu);
  local_end *e = find(c);
  int gone = e && e->handles > 0 && --e->handles == 0;
  if (gone) tab_remove(e);
  pthread_mutex_unlock(&tab_mu);
}

/* The last reference in the whole tree went: nothing may use the end. */
static void conn_destroy(srt_obj *o) {
  sb_conn *c = (sb_conn *)o;
  pthread_mutex_lock(&tab_mu);
  local_end *e = find(c);
  if (e) tab_remove(e);
  pthread_mutex_unlock(&tab_mu);
  if (c->pp && atomic_fetch_sub(&c->pp->refs, 1) == 1) srt_free(c->pp);
  c->pp = NULL;
}

/* In a child the inherited handles are adopted again (sb_handles_fork_child);
** the descriptors stay open until then, or until the child exits. */
static void atfork_child(void) {
  pthread_mutex_init(&tab_mu, NULL);
  for (size_t i = 0; i < ntab; i++) tab[i].handles = 0;
}

/* ---- checks --------------------------------------------------------------------------- */
#define check_conn(L, i) ((sb_conn *)sb_check(L, i, SB_T_CONN))

/* This process's descriptor for reading (which=0) or writing, or an error. */
static int local_fd(lua_State *L, sb_conn *c, int which) {
  pthread_mutex_lock(&tab_mu);
  local_end *e = find(c);
  int fd = !e ? -2 : e->closed ? -1 : which ? e->wfd : e->rfd;
  pthread_mutex_unlock(&tab_mu);
  if (fd == -1) return sb_error(L, "Closed", "connection is closed");
  if (fd == -2)
    return sb_error(L, "OSError", "connection was made in another process: its file descriptors "
                                  "exist only there and in processes forked from it after");
  return fd;
}

static int check_readable(lua_State *L, sb_conn *c) {
  if (c->in < 0) {
    local_fd(L, c, 1);
    return sb_error(L, "OSError", "connection is write-only");
  }
  return local_fd(L, c, 0);
}

static int check_writable(lua_State *L, sb_conn *c) {
  if (c->out < 0) {
    local_fd(L, c, 0);
    return sb_error(L, "OSError", "connection is read-only");
  }
  return local_fd(L, c, 1);
}

/* For strand.wait: the fd to poll, or -1 when a message is buffered already. */
int sb_conn_wait_fd(lua_State *L, srt_obj *o) {
  sb_conn *c = (sb_conn *)o;
  int fd = check_readable(L, c);
  return srt_chan_buffered(&c->pp->ch[c->in]) ? -1 : fd;
}

/* ---- making a pair --------------------------------------------------------------------- */
static void on_sigpipe(int sig) { (void)sig; }

static void quiet_sigpipe(void) {
  struct sigaction cur;
  if (sigaction(SIGPIPE, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
  }
}

static sb_conn *new_end(lua_State *L, pipe_pair *pp, int in, int out, int rfd, int wfd) {
  sb_conn *c = srt_obj_new(SB_T_CONN, sizeof *c);
  if (!c) return NULL;
  c->serial = srt_counter_next(SRT_CNT_GENERIC);
  c->pp = pp;
  atomic_fetch_add(&pp->refs, 1);
  c->in = in;
  c->out = out;
  c->rfd = rfd;
  c->wfd = wfd;
  pthread_mutex_lock(&tab_mu);
  int bad = tab_add(c);
  pthread_mutex_unlock(&tab_mu);
  if (bad) {
    srt_decref(&c->h);
    sb_error(L, "MemoryError", "not enough memory");
  }
  return c;
}

/* strand.Pipe([duplex=true]) -> a, b (simplex: a receives, b sends) */
static int l_pipe(lua_State *L) {
  int duplex = lua_isnoneornil(L, 1) ? 1 : lua_toboolean(L, 1);
  if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "duplex");
    duplex = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, quiet_sigpipe);
  int p0[2], p1[2] = {-1, -1};
  if (pipe2(p0, O_CLOEXEC) != 0 || (duplex && pipe2(p1, O_CLOEXEC) != 0)) {
    int e = errno;
    if (p0[0] >= 0 && p1[0] < 0 && duplex) {
      close(p0[0]);
      close(p0[1]);
    }
    return sb_error(L, "OSError", "cannot make a pipe: %s", strerror(e));
  }
  pipe_pair *pp = srt_calloc(sizeof *pp);
  if (!pp) {
    close(p0[0]), close(p0[1]);
    if (duplex) close(p1[0]), close(p1[1]);
    return sb_error(L, "MemoryError", "strand arena is full (set STRAND_ARENA_MB)");
  }
  srt_chan_init(&pp->ch[0]);
  srt_chan_init(&pp->ch[1]);
  atomic_store(&pp->refs, 0);
  /* direction 0 goes b -> a in a simplex pipe and a -> b in a duplex one */
  sb_conn *a = duplex ? new_end(L, pp, 1, 0, p1[0], p0[1]) : new_end(L, pp, 0, -1, p0[0], -1);
  sb_conn *b = a ? (duplex ? new_end(L, pp, 0, 1, p0[0], p1[1]) : new_end(L, pp, -1, 0, -1, p0[1])) : NULL;
  if (!a || !b) {
    if (a) srt_decref(&a->h); /* closes its descriptors */
    for (int i = 0; i < 2; i++) {
      if (!a && p0[i] >= 0) close(p0[i]);
      if (!a && p1[i] >= 0) close(p1[i]);
    }
    if (!a) srt_free(pp);
    return sb_error(L, "MemoryError", "strand arena is full (set STRAND_ARENA_MB)");
  }
  sb_push_handle(L, &a->h);
  sb_push_handle(L, &b->h);
  return 2;
}

/* ---- moving bytes ------------------------------------------------------------------------ */
static int raise_io(lua_State *L, int r, const char *what) {
  if (r == SRT_INTERRUPTED) return sb_raise_interrupt(L);
  if (r == SRT_BROKEN) {
    if (strcmp(what, "send") == 0) return sb_error(L, "BrokenPipe", "the other end of the connection is closed");
    return sb_error(L, "EOF", "end of file: the other end of the connection is closed");
  }
  if (r == -EPROTO) return sb_error(L, "EOF", "connection closed in the middle of a message");
  if (r == SRT_TIMEDOUT) return sb_error(L, "Timeout", "timed out");
  if (r < 0) return sb_error(L, "OSError", "%s failed: %s", what, strerror(-r));
  return sb_error(L, "OSError", "%s failed (%d)", what, r);
}

/* Begin a read: the length of the next message; the read lock is held. */
static uint64_t begin_read(lua_State *L, sb_conn *c, int fd) {
  uint64_t n;
  int r = srt_chan_recv_begin(&c->pp->ch[c->in], fd, &n, SRT_FOREVER);
  if (r != SRT_OK) raise_io(L, r, "recv");
  return n;
}

static void end_read(lua_State *L, sb_conn *c, int fd, void *p, uint64_t n) {
  int r = srt_chan_recv_body(&c->pp->ch[c->in], fd, p, n);
  if (r != SRT_OK) raise_io(L, r, "recv");
}

/* A buffer for a message body: the C stack for small ones, else a userdata
** the collector frees even if decoding raises. Drops the lock on failure. */
static char *body_buffer(lua_State *L, sb_conn *c, int fd, char *small, uint64_t n) {
  if (n <= STACK_MSG) return small;
  if (n > (uint64_t)SIZE_MAX / 2) {
    srt_chan_recv_body(&c->pp->ch[c->in], fd, NULL, n);
    luaL_error(L, "message too large (%I bytes)", (lua_Integer)n);
  }
  return lua_newuserdatauv(L, (size_t)n, 0);
}

static int do_send(lua_State *L, sb_conn *c, int fd, const char *p, size_t len) {
  (void)L;
  return srt_chan_send(&c->pp->ch[c->out], fd, p, len, SRT_FOREVER);
}

/* ---- Lua API --------------------------------------------------------------------------------- */
static int l_send(lua_State *L) {
  sb_conn *c = check_conn(L, 1);
  int fd = check_writable(L, c);
  if (lua_gettop(L) < 2) return luaL_error(L, "send: missing value (nil is a value: pass it explicitly)");
  lua_settop(L, 2);
  char small[SB_SMALL_MSG];
  size_t len = sb_encode_small(L, 2, small, sizeof small);
  const char *p = len ? small : sb_encode(L, 2, 1, &len, "value");
  int r = do_send(L, c, fd, p, len);
  if (r != SRT_OK) {
    sb_codec_release(p, len); /* the references travel only with a sent message */
    return raise_io(L, r, "send");
  }
  return 0;
}

static int l_recv(lua_State *L) {
  sb_conn *c = check_conn(L, 1);
  int fd = check_readable(L, c);
  lua_settop(L, 1);
  uint64_t n = begin_read(L, c, fd);
  char small[STACK_MSG];
  char *p = body_buffer(L, c, fd, small, n);
  end_read(L, c, fd, p, n);
  if (p == small && sb_decode_small(L, p, (size_t)n)) return 1;
  int top = lua_gettop(L);
  int k = sb_decode(L, p, (size_t)n);
  sb_codec_release(p, (size_t)n);
  if (k != 1) return k;
  if (top > 1) lua_remove(L, top); /* the body buffer */
  return 1;
}

/* send_bytes(s [, offset [, size]]): offset is 0-based as in Python. */
static int l_send_bytes(lua_State *L) {
  sb_conn *c = check_conn(L, 1);
  int fd = check_writable(L, c);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  lua_Integer off = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, off >= 0 && (size_t)off <= len, 3, "offset out of range");
  lua_Integer size = luaL_optinteger(L, 4, (lua_Integer)(len - (size_t)off));
  luaL_argcheck(L, size >= 0 && (size_t)(off + size) <= len, 4, "size out of range");
  int r = do_send(L, c, fd, s + off, (size_t)size);
  if (r != SRT_OK) return raise_io(L, r, "send");
  return 0;
}

/* recv_bytes([maxlen]): a message longer than maxlen is read and dropped,
** then raises, so the connection stays usable. */
static int l_recv_bytes(lua_State *L) {
  sb_conn *c = check_conn(L, 1);
  int fd = check_readable(L, c);
  lua_Integer maxlen = luaL_optinteger(L, 2, -1);
  if (!lua_isnoneornil(L, 2)) luaL_argcheck(L, maxlen >= 0, 2, "negative maxlength");
  lua_settop(L, 1);
  uint64_t n = begin_read(L, c, fd);
  if (maxlen >= 0 && n > (uint64_t)maxlen) {
    end_read(L, c, fd, NULL, n);
    return sb_error(L, "OSError", "bad message length: %I bytes is more than maxlength %I",
                    (lua_Integer)n, maxlen);
  }
  if (n > (uint64_t)SIZE_MAX / 2) {
    end_read(L, c, fd, NULL, n);
    return luaL_error(L, "message too large (%I bytes)", (lua_Integer)n);
  }
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, (size_t)n); /* may raise: lock still held */
  end_read(L, c, fd, p, n);
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

/* poll([timeout]) -> whether there is something to receive (or EOF). */
static int l_poll(lua_State *L) {
  sb_conn *c = check_conn(L, 1);
  int fd = check_readable(L, c);
  int64_t deadline = lua_isnoneornil(L, 2) ? 0 : sb_opt_deadline(L, 2);
  int r = srt_chan_wait_readable(&c->pp->ch[c->in], fd, deadline);
  if (r == SRT_INTERRUPTED) return sb_raise_interrupt(L);
  lua_pushboolean(L, r == SRT_OK);
  return 1;
}

static int l_close(lua_State *L) {
  sb_conn *c = check_conn(L, 1);
  pthread_mutex_lock(&tab_mu);
  local_end *e = find(c);
  if (e) close_local(e);
  pthread_mutex_unlock(&tab_mu);
  return 0;
}

static int l_fileno(lua_State *L) {
  sb_conn *c = check_conn(L, 1);
  lua_pushinteger(L, local_fd(L, c, c->in < 0));
  return 1;
}

static int g_closed(lua_State *L) {
  sb_conn *c = check_conn(L, 1);
  pthread_mutex_lock(&tab_mu);
  local_end *e = find(c);
  int closed = !e || e->closed;
  pthread_mutex_unlock(&tab_mu);
  lua_pushboolean(L, closed);
  return 1;
}

static int g_readable(lua_State *L) {
  lua_pushboolean(L, check_conn(L, 1)->in >= 0);
  return 1;
}

static int g_writable(lua_State *L) {
  lua_pushboolean(L, check_conn(L, 1)->out >= 0);
  return 1;
}

static int conn_tostring(lua_State *L) {
  sb_conn *c = check_conn(L, 1);
  lua_pushfstring(L, "<Connection %s%s>", c->in >= 0 ? "r" : "", c->out >= 0 ? "w" : "");
  return 1;
}

static const luaL_Reg conn_methods[] = {
    {"send", l_send},   {"recv", l_recv},   {"send_bytes", l_send_bytes}, {"recv_bytes", l_recv_bytes},
    {"poll", l_poll},   {"close", l_close}, {"fileno", l_fileno},         {NULL, NULL}};
static const luaL_Reg conn_getters[] = {
    {"closed", g_closed}, {"readable", g_readable}, {"writable", g_writable}, {NULL, NULL}};

static const sb_type conn_type = {SB_T_CONN, "strand.Connection", conn_methods, conn_getters, NULL,
                                  l_close,   conn_tostring,       NULL,         conn_destroy};

static void install_once(void) { pthread_atfork(NULL, NULL, atfork_child); }

void sb_open_pipe(lua_State *L) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install_once);
  sb_register_type(&conn_type);
  sb_set_local_hooks(SB_T_CONN, conn_adopt, conn_drop);
  sb_setfn(L, "Pipe", l_pipe);
}

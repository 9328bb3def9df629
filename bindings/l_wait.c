/*
** l_wait.c — strand.wait(objects [, timeout]): which of some connections,
** queues and processes are ready, as multiprocessing.connection.wait.
**
** One sleep covers all three kinds: connections are polled by descriptor,
** processes through a pidfd (readable when the process ends), and queues,
** which have no descriptor and may be fed by another process, register the
** thread as a watcher: a put sends the thread the wake signal, which ends
** the ppoll. The wake signal and SIGINT stay blocked from registration until
** ppoll starts sleeping, so no put and no Ctrl-C can slip between the last
** check and the sleep.
*/
#include "sb.h"

#include <unistd.h>

enum { W_QUEUE, W_CONN, W_PROCESS };

typedef struct item {
  int kind;
  srt_obj *o;
  srt_queue *q;
  int fdi;  /* index in the pollfd array, or -1 */
  int ready;
} item;

static int is_ready(item *it, struct pollfd *fds) {
  switch (it->kind) {
    case W_QUEUE: return srt_queue_ready(it->q);
    case W_CONN: return (fds[it->fdi].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    default: { /* the pidfd became readable: it ended (reap it if ours) */
      if (!(fds[it->fdi].revents & (POLLIN | POLLHUP | POLLERR))) return 0;
      int fd;
      sb_process_ended(it->o, &fd);
      if (fd >= 0) close(fd);
      return 1;
    }
  }
}

static void watch_all(item *its, int n, srt_tctx *me, int on) {
  for (int i = 0; i < n; i++) {
    if (its[i].kind != W_QUEUE) continue;
    if (on) srt_queue_watch(its[i].q, me);
    else srt_queue_unwatch(its[i].q, me);
  }
}

static int l_wait(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int64_t deadline = sb_opt_deadline(L, 2);
  lua_settop(L, 1);
  int n = (int)luaL_len(L, 1);
  item *its = lua_newuserdatauv(L, sizeof(item) * (size_t)(n ? n : 1), 0);             /* 2 */
  struct pollfd *fds = lua_newuserdatauv(L, sizeof(struct pollfd) * (size_t)(n ? n : 1), 0); /* 3 */
  int nf = 0, nready = 0;
  /* everything that may raise happens before the signals are held */
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    srt_obj *o = sb_test_any(L, -1);
    lua_pop(L, 1);
    item *it = &its[i];
    it->o = o;
    it->fdi = -1;
    it->ready = 0;
    if (o && o->type == SB_T_QUEUE) {
      it->kind = W_QUEUE;
      it->q = sb_queue_of(o);
    } else if (o && o->type == SB_T_CONN) {
      lua_rawgeti(L, 1, i + 1);
      int fd = sb_conn_wait_fd(L, o);
      lua_pop(L, 1);
      it->kind = W_CONN;
      it->fdi = nf;
      fds[nf++] = (struct pollfd){fd, POLLIN, 0};
    } else if (o && o->type == SB_T_PROCESS) {
      it->kind = W_PROCESS;
      int pidfd;
      if (sb_process_ended(o, &pidfd)) {
        it->ready = 1;
        nready++;
      } else if (pidfd >= 0) {
        it->fdi = nf;
        fds[nf++] = (struct pollfd){pidfd, POLLIN, 0};
      }
    } else {
      return luaL_error(L, "wait: objects[%d] is not a Connection, Queue or Process", i + 1);
    }
  }
  srt_tctx *me = srt_self();
  sigset_t old;
  srt_signals_hold(&old);
  watch_all(its, n, me, 1);
  int result = SRT_OK;
  for (;;) {
    for (int i = 0; i < n; i++)
      if (!its[i].ready && its[i].kind == W_QUEUE && srt_queue_ready(its[i].q)) {
        its[i].ready = 1;
        nready++;
      }
    if (nready) break;
    int polled;
    result = srt_ppoll(fds, (unsigned)nf, deadline, &old, &polled);
    if (result != SRT_OK) break;
    for (int i = 0; i < n; i++)
      if (!its[i].ready && its[i].fdi >= 0 && is_ready(&its[i], fds)) {
        its[i].ready = 1;
        nready++;
      }
    if (!nready && polled == 0) { /* a queue signalled: arm the watchers again */
      watch_all(its, n, me, 0);
      watch_all(its, n, me, 1);
    }
  }
  watch_all(its, n, me, 0);
  srt_signals_release(&old);
  for (int i = 0; i < n; i++)
    if (its[i].kind == W_PROCESS && its[i].fdi >= 0) close(fds[its[i].fdi].fd);
  if (result == SRT_INTERRUPTED) return sb_raise_interrupt(L);
  lua_createtable(L, nready, 0);
  for (int i = 0, k = 0; i < n; i++) {
    if (!its[i].ready) continue;
    lua_rawgeti(L, 1, i + 1);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

void sb_open_wait(lua_State *L) { sb_setfn(L, "wait", l_wait); }

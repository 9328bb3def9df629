/* Message channels over pipes: framing (0 bytes, large, many small ones
** read ahead), end of file between and inside messages, a closed reader,
** interrupts, several writers and readers in threads and processes (no
** message split, merged or lost). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "srt.h"
#include "tap.h"

static int send_str(srt_chan *ch, int fd, const char *s, size_t n) {
  return srt_chan_send(ch, fd, s, n, SRT_FOREVER);
}

/* Receive into a malloc'd buffer; returns the result, *out and *n set. */
static int recv_msg(srt_chan *ch, int fd, char **out, uint64_t *n) {
  *out = NULL;
  int r = srt_chan_recv_begin(ch, fd, n, SRT_FOREVER);
  if (r != SRT_OK) return r;
  *out = malloc(*n ? *n : 1);
  return srt_chan_recv_body(ch, fd, *out, *n);
}

static srt_chan *new_chan(int fds[2]) {
  srt_chan *ch = srt_calloc(sizeof *ch);
  srt_chan_init(ch);
  if (pipe2(fds, O_CLOEXEC) != 0) return NULL;
  return ch;
}

typedef struct reader {
  srt_chan *ch;
  int fd;
  srt_tctx *ctx;
  _Atomic int ready;
  int result;
  long sum, count;
  _Atomic int done;
} reader;

static void *blocked_reader(void *arg) {
  reader *r = arg;
  srt_set_self(r->ctx = srt_tctx_new());
  atomic_store(&r->ready, 1);
  uint64_t n;
  r->result = srt_chan_recv_begin(r->ch, r->fd, &n, SRT_FOREVER);
  if (r->result == SRT_OK) srt_chan_recv_body(r->ch, r->fd, NULL, n);
  atomic_store(&r->done, 1);
  return NULL;
}

/* Sums 8-byte values until a 0-byte message. */
static void *summing_reader(void *arg) {
  reader *r = arg;
  for (;;) {
    uint64_t n;
    long v = 0;
    if (srt_chan_recv_begin(r->ch, r->fd, &n, SRT_FOREVER) != SRT_OK) break;
    if (n == 0) {
      srt_chan_recv_body(r->ch, r->fd, NULL, 0);
      break;
    }
    if (n != sizeof v) r->result = -1;
    srt_chan_recv_body(r->ch, r->fd, n == sizeof v ? &v : NULL, n);
    r->sum += v;
    r->count++;
  }
  return NULL;
}

int main(void) {
  ok(srt_arena_init(256u << 20) == 0, "arena maps");
  signal(SIGPIPE, SIG_IGN);
  int fds[2];
  srt_chan *ch = new_chan(fds);
  ok(ch != NULL, "a channel and its pipe");

  /* framing: many small messages, read ahead, come out one by one */
  int good = 1;
  for (int i = 0; i < 300; i++) {
    char b[16];
    memset(b, 'a' + i % 26, sizeof b);
    good &= send_str(ch, fds[1], b, (size_t)(i % 16)) == SRT_OK;
  }
  for (int i = 0; i < 300 && good; i++) {
    char *m = NULL;
    uint64_t n = 0;
    good &= recv_msg(ch, fds[0], &m, &n) == SRT_OK && n == (uint64_t)(i % 16);
    for (uint64_t k = 0; good && k < n; k++) good &= m[k] == 'a' + i % 26;
    free(m);
  }
  ok(good, "300 small messages (0 to 15 bytes) come out whole and in order");
  ok(srt_chan_buffered(ch) == 0, "nothing is left in the read-ahead buffer");
  ok(srt_chan_wait_readable(ch, fds[0], srt_deadline(0.02)) == SRT_TIMEDOUT, "an empty channel is not readable");
  send_str(ch, fds[1], "x", 1);
  ok(srt_chan_wait_readable(ch, fds[0], srt_deadline(1)) == SRT_OK, "a message makes it readable");
  char *m = NULL;
  uint64_t n;
  recv_msg(ch, fds[0], &m, &n);
  free(m);

  /* a large message, written by a child process while we read it */
  size_t big = 8u << 20;
  char *src = malloc(big);
  for (size_t i = 0; i < big; i++) src[i] = (char)(i * 7 + 3);
  pid_t k = fork();
  if (k == 0) _exit(send_str(ch, fds[1], src, big) == SRT_OK ? 0 : 1);
  int r = recv_msg(ch, fds[0], &m, &n);
  int st;
  waitpid(k, &st, 0);
  ok(r == SRT_OK && n == big && memcmp(m, src, big) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
     "an 8 MB message from another process comes whole");
  free(m);
  /* body dropped (dst NULL) keeps the stream framed */
  send_str(ch, fds[1], src, 20000); /* fits in the pipe: this thread reads it */
  send_str(ch, fds[1], "after", 5);
  srt_chan_recv_begin(ch, fds[0], &n, SRT_FOREVER);
  ok(srt_chan_recv_body(ch, fds[0], NULL, n) == SRT_OK && recv_msg(ch, fds[0], &m, &n) == SRT_OK && n == 5 &&
         memcmp(m, "after", 5) == 0,
     "a dropped message leaves the next one intact");
  free(m);

  /* interrupts reach a reader blocked before a message */
  reader rd = {.ch = ch, .fd = fds[0]};
  pthread_t t;
  pthread_create(&t, NULL, blocked_reader, &rd);
  while (!atomic_load(&rd.ready)) usleep(100);
  usleep(20000);
  /* a signal landing just before read() is entered is seen at the next one
  ** (see pipe.c), so keep interrupting until the reader is out */
  for (int i = 0; i < 100 && !atomic_load(&rd.done); i++) {
    srt_interrupt(rd.ctx, SRT_INT_CANCEL);
    usleep(50000);
  }
  pthread_join(t, NULL);
  ok(rd.result == SRT_INTERRUPTED, "an interrupt ends a receive that has not started");

  /* several writers (threads' view: processes) and several readers */
  enum { WRITERS = 4, PER = 5000, READERS = 3 };
  reader rs[READERS];
  pthread_t rt[READERS];
  for (int i = 0; i < READERS; i++) {
    rs[i] = (reader){.ch = ch, .fd = fds[0]};
    pthread_create(&rt[i], NULL, summing_reader, &rs[i]);
  }
  pid_t w[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    w[i] = fork();
    if (w[i] == 0) {
      for (long v = 1; v <= PER; v++) send_str(ch, fds[1], (char *)&v, sizeof v);
      _exit(0);
    }
  }
  for (int i = 0; i < WRITERS; i++) waitpid(w[i], NULL, 0);
  for (int i = 0; i < READERS; i++) send_str(ch, fds[1], "", 0);
  long sum = 0, count = 0;
  int bad = 0;
  for (int i = 0; i < READERS; i++) {
    pthread_join(rt[i], NULL);
    sum += rs[i].sum;
    count += rs[i].count;
    bad += rs[i].result != 0;
  }
  ok(!bad && count == WRITERS * PER && sum == (long)WRITERS * PER * (PER + 1) / 2,
     "4 writer processes x 5000 and 3 reader threads: every message once, none split or merged");

  /* end of file: between messages, and inside one */
  send_str(ch, fds[1], "last", 4);
  close(fds[1]);
  ok(recv_msg(ch, fds[0], &m, &n) == SRT_OK && n == 4, "what was sent before the close is read");
  free(m);
  ok(srt_chan_recv_begin(ch, fds[0], &n, SRT_FOREVER) == SRT_BROKEN, "then end of file: SRT_BROKEN");
  close(fds[0]);
  srt_chan *c2 = new_chan(fds);
  unsigned char half[8 + 3] = {10, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c'};
  ok(write(fds[1], half, sizeof half) == (ssize_t)sizeof half, "half a message written by hand");
  close(fds[1]);
  r = srt_chan_recv_begin(c2, fds[0], &n, SRT_FOREVER);
  char buf[10];
  ok(r == SRT_OK && n == 10 && srt_chan_recv_body(c2, fds[0], buf, n) == -EPROTO,
     "end of file inside a message: -EPROTO");
  close(fds[0]);
  /* nobody reads any more */
  srt_chan *c3 = new_chan(fds);
  close(fds[0]);
  ok(send_str(c3, fds[1], "x", 1) == SRT_BROKEN, "sending when nobody can read: SRT_BROKEN");
  close(fds[1]);
  free(src);
  srt_free(ch);
  srt_free(c2);
  srt_free(c3);
  return 0;
}

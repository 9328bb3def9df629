/*
** pipe.c — whole messages over a pipe shared by threads and processes.
**
** A channel is one direction of a Pipe: an OS pipe plus, in the arena, what
** every reader and writer of that direction shares: a read lock and a write
** lock, so messages are never split or merged, and a read-ahead buffer, so a
** small message costs one read syscall (the 8-byte length and the bytes come
** together, and whatever else is waiting is kept for the next reader,
** whichever process it is in).
**
** A reader sleeps inside read itself: a pipe write wakes it as a "sync"
** wake-up, on the writer's CPU, which is what makes a ping-pong cost about
** what a bare C one does (a poll before the read, or a futex, costs a
** wake-up on the other CPU: ten times more on this machine). An interrupt
** (cancel, Ctrl-C) is a signal that makes read fail with EINTR; a signal
** that lands in the few instructions between the last check and read is
** not seen until the next message or the next interrupt. Waits with a
** deadline (poll(timeout), strand.wait) use the race-free srt_poll instead.
**
** A message is an 8-byte little-endian length and the bytes. Interrupts are
** honoured only between messages: once a byte of a message has moved, the
** message is finished, so the stream never loses its framing.
*/
#include "srt.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define HDR 8

void srt_chan_init(srt_chan *ch) {
  srt_lock_init(&ch->rlock, 0);
  srt_lock_init(&ch->wlock, 0);
  atomic_init(&ch->wseq, 0);
  atomic_init(&ch->spin, 0);
  ch->rseq = 0;
  ch->rpos = ch->rlen = 0;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Before sleeping in read for the next message: when the writer runs on
** another CPU it often answers within a microsecond or two, far less than a
** wake-up across CPUs costs, so poll the count of messages written for a
** moment. The hint (spin.c) learns whether that pays: on one CPU, or when
** the answers come late, readers go straight to sleep. */
#define SPIN_MAX_POLLS 2000
static void spin_for_message(srt_chan *ch) {
  if (atomic_load_explicit(&ch->wseq, memory_order_acquire) != ch->rseq) return;
  int polls = srt_spin_polls(&ch->spin, SPIN_MAX_POLLS);
  for (int i = 0; i < polls; i++) {
    cpu_relax();
    if (atomic_load_explicit(&ch->wseq, memory_order_acquire) != ch->rseq) {
      srt_spin_learn(&ch->spin, 1, SPIN_MAX_POLLS);
      return;
    }
  }
  if (polls) srt_spin_learn(&ch->spin, 0, SPIN_MAX_POLLS);
}

size_t srt_chan_buffered(srt_chan *ch) { return ch->rlen - ch->rpos; }

/* For descriptors someone made non-blocking: wait until ready. */
static void wait_fd(int fd, short events) {
  struct pollfd pf = {fd, events, 0};
  poll(&pf, 1, -1);
}

/* ---- writing ----------------------------------------------------------------- */
int srt_chan_send(srt_chan *ch, int wfd, const void *p, size_t len, int64_t deadline) {
  int r = srt_lock_acquire(&ch->wlock, deadline);
  if (r != SRT_OK && r != SRT_OWNERDEAD) return r;
  unsigned char hdr[HDR];
  uint64_t n = len;
  for (int i = 0; i < HDR; i++) hdr[i] = (unsigned char)(n >> (8 * i));
  size_t total = HDR + len, sent = 0;
  int rc = SRT_OK;
  while (sent < total) {
    struct iovec v[2];
    int nv = 0;
    if (sent < HDR) {
      v[nv++] = (struct iovec){hdr + sent, HDR - sent};
      if (len) v[nv++] = (struct iovec){(void *)p, len};
    } else {
      v[nv++] = (struct iovec){(char *)p + (sent - HDR), total - sent};
    }
    ssize_t w = writev(wfd, v, nv);
    if (w > 0) {
      sent += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) {
      if (sent == 0 && srt_interrupt_pending()) {
        rc = SRT_INTERRUPTED;
        break;
      }
      continue;
    }
    if (w < 0 && errno == EAGAIN) {
      wait_fd(wfd, POLLOUT);
      continue;
    }
    rc = w < 0 && errno != EPIPE ? -errno : SRT_BROKEN;
    break;
  }
  if (sent == total) atomic_fetch_add_explicit(&ch->wseq, 1, memory_order_release);
  srt_lock_release(&ch->wlock);
  return rc;
}

/* ---- reading (read lock held) ------------------------------------------------------- */
/* Read what is available into the buffer (after moving what is left to the
** front). at_start: no byte of the current message has been taken, so an
** interrupt, a timeout or a clean end of file may stop here. */
static int fill(srt_chan *ch, int fd, int at_start) {
  if (ch->rpos > 0) {
    memmove(ch->rbuf, ch->rbuf + ch->rpos, ch->rlen - ch->rpos);
    ch->rlen -= ch->rpos;
    ch->rpos = 0;
  }
  for (;;) {
    if (at_start && srt_interrupt_pending()) return SRT_INTERRUPTED;
    ssize_t r = read(fd, ch->rbuf + ch->rlen, SRT_CHAN_BUF - ch->rlen);
    if (r > 0) {
      ch->rlen += (uint32_t)r;
      return SRT_OK;
    }
    if (r == 0) return at_start ? SRT_BROKEN : -EPROTO;
    if (errno == EAGAIN) wait_fd(fd, POLLIN);
    else if (errno != EINTR) return -errno;
  }
}

int srt_chan_recv_begin(srt_chan *ch, int rfd, uint64_t *len, int64_t deadline) {
  int r = srt_lock_acquire(&ch->rlock, deadline);
  if (r != SRT_OK && r != SRT_OWNERDEAD) return r;
  if (deadline != SRT_FOREVER && ch->rlen == ch->rpos) {
    r = srt_chan_wait_readable(ch, rfd, deadline);
    if (r != SRT_OK) {
      srt_lock_release(&ch->rlock);
      return r;
    }
  }
  if (ch->rlen == ch->rpos) spin_for_message(ch);
  while (ch->rlen - ch->rpos < HDR) {
    r = fill(ch, rfd, ch->rlen == ch->rpos);
    if (r != SRT_OK) {
      srt_lock_release(&ch->rlock);
      return r;
    }
  }
  const unsigned char *h = (const unsigned char *)ch->rbuf + ch->rpos;
  uint64_t n = 0;
  for (int i = HDR - 1; i >= 0; i--) n = n << 8 | h[i];
  ch->rpos += HDR;
  ch->rseq++;
  *len = n;
  return SRT_OK;
}

/* Read n bytes of body straight into dst (NULL: drop them). */
static int read_direct(int fd, char *dst, uint64_t n) {
  char sink[4096];
  while (n > 0) {
    size_t want = dst ? (size_t)n : (n < sizeof sink ? (size_t)n : sizeof sink);
    ssize_t r = read(fd, dst ? dst : sink, want);
    if (r > 0) {
      if (dst) dst += r;
      n -= (uint64_t)r;
    } else if (r == 0) {
      return -EPROTO;
    } else if (errno == EAGAIN) {
      wait_fd(fd, POLLIN);
    } else if (errno != EINTR) {
      return -errno;
    }
  }
  return SRT_OK;
}

int srt_chan_recv_body(srt_chan *ch, int rfd, void *dst, uint64_t n) {
  int r = SRT_OK;
  uint64_t have = ch->rlen - ch->rpos;
  if (n <= have) {
    if (dst) memcpy(dst, ch->rbuf + ch->rpos, (size_t)n);
    ch->rpos += (uint32_t)n;
  } else if (n <= SRT_CHAN_BUF) { /* small: gather it in the buffer */
    while (r == SRT_OK && ch->rlen - ch->rpos < n) r = fill(ch, rfd, 0);
    if (r == SRT_OK) {
      if (dst) memcpy(dst, ch->rbuf + ch->rpos, (size_t)n);
      ch->rpos += (uint32_t)n;
    }
  } else {
    if (dst) memcpy(dst, ch->rbuf + ch->rpos, (size_t)have);
    ch->rpos = ch->rlen = 0;
    r = read_direct(rfd, dst ? (char *)dst + have : NULL, n - have);
  }
  srt_lock_release(&ch->rlock);
  return r;
}

int srt_chan_wait_readable(srt_chan *ch, int rfd, int64_t deadline) {
  struct pollfd pf = {rfd, POLLIN, 0};
  for (;;) {
    if (srt_chan_buffered(ch)) return SRT_OK;
    if (deadline == 0) return poll(&pf, 1, 0) > 0 ? SRT_OK : SRT_TIMEDOUT;
    int r = srt_poll(&pf, 1, deadline);
    if (r != SRT_OK || (pf.revents & (POLLIN | POLLHUP | POLLERR))) return r;
  }
}

/*
** srt.h — the strand runtime: shared arena, process-shared synchronization,
** thread contexts. No Lua in here: every piece can be used and tested from C.
**
** Everything that more than one thread or process touches lives in one
** shared anonymous mapping (the arena) made before any fork, so it sits at the
** same address in every process of the tree and plain pointers into it are
** valid everywhere.
*/
#ifndef SRT_H
#define SRT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

/* Results of blocking operations (0 is success). */
enum {
  SRT_OK = 0,
  SRT_TIMEDOUT = 1,    /* the deadline passed */
  SRT_INTERRUPTED = 2, /* the waiting thread was cancelled or got Ctrl-C */
  SRT_OWNERDEAD = 3,   /* acquired, but the previous owner died holding it */
  SRT_NOMEM = 4,       /* the arena is full */
  SRT_EPERM = 5,       /* not owner / not held */
  SRT_BROKEN = 6,      /* barrier broken, queue closed ... */
};

/* ---- time ---------------------------------------------------------------- */
/* Deadlines are absolute CLOCK_MONOTONIC nanoseconds; SRT_FOREVER never comes. */
#define SRT_FOREVER INT64_MAX
int64_t srt_now_ns(void);
int64_t srt_deadline(double timeout_s); /* timeout < 0 means forever */
double srt_monotonic(void);
double srt_walltime(void);

/* ---- the arena ------------------------------------------------------------- */
/* Map the arena (size 0: $STRAND_ARENA_MB or 4 GiB of address space, touched
** lazily). Idempotent; must run before the first fork. Returns 0 or errno. */
int srt_arena_init(size_t size);
int srt_arena_ready(void);
void *srt_alloc(size_t n);  /* NULL when the arena is full */
void *srt_calloc(size_t n);
void srt_free(void *p);
size_t srt_alloc_size(const void *p); /* usable bytes of a block */
/* Whether [p, p+n) lies in the arena: inline, as every handle check of the
** bindings asks it. The bounds are set once, by srt_arena_init. */
extern const char *srt_arena_lo, *srt_arena_hi;
static inline int srt_in_arena(const void *p, size_t n) {
  const char *c = p;
  return srt_arena_lo && c >= srt_arena_lo && n <= (size_t)(srt_arena_hi - srt_arena_lo) &&
         c <= srt_arena_hi - n;
}
typedef struct srt_arena_stats {
  size_t capacity, in_use, blocks;
} srt_arena_stats;
void srt_arena_stats_get(srt_arena_stats *st);

/* ---- shared objects ------------------------------------------------------ */
/* Every strand object starts with this header. Objects are reference counted
** across the whole process tree; the last srt_decref runs the type's destroy
** hook (function addresses are equal in forked children) and frees it. */
#define SRT_OBJ_MAGIC 0x5374724fu /* 'StrO' */
typedef struct srt_obj {
  _Atomic uint32_t refs;
  uint32_t magic;
  uint32_t type;
  uint32_t pad;
} srt_obj;
typedef void (*srt_destroy_fn)(srt_obj *o);
#define SRT_MAX_TYPES 64
void srt_type_register(uint32_t type, srt_destroy_fn destroy);
void *srt_obj_new(uint32_t type, size_t size); /* zeroed, refs = 1 */
void srt_incref(srt_obj *o);
void srt_decref(srt_obj *o);
/* Validate a pointer that came from outside (decoded bytes): 1 if it is a live
** object of that type inside the arena. */
int srt_obj_valid(const srt_obj *o, uint32_t type);
/* A process-wide counter in the arena (names like Thread-N, Process-N). */
uint64_t srt_counter_next(int which);
enum { SRT_CNT_THREAD, SRT_CNT_PROCESS, SRT_CNT_POOL, SRT_CNT_GENERIC, SRT_CNT_MAX };

/* ---- thread contexts: who waits, and how to interrupt them --------------- */
/* One per thread that runs strand code, in the arena so another process can
** find and interrupt it. */
enum { SRT_INT_NONE = 0, SRT_INT_CANCEL = 1, SRT_INT_KEYBOARD = 2 };
typedef struct srt_tctx {
  _Atomic int interrupt;  /* SRT_INT_* pending */
  _Atomic int waiting;    /* inside a blocking wait */
  _Atomic pid_t pid;  /* set by the thread itself when it starts */
  _Atomic pid_t tid;
  const void *waiting_on; /* object being waited on, for deadlock reports */
  int waiting_kind;
} srt_tctx;
srt_tctx *srt_self(void);                  /* this thread's ctx (made on demand) */
void srt_set_self(srt_tctx *ctx);          /* adopt a ctx made by the spawner */
srt_tctx *srt_tctx_new(void);              /* a fresh ctx in the arena */
void srt_interrupt(srt_tctx *ctx, int why); /* set flag and wake its wait */
int srt_take_interrupt(void);              /* consume this thread's flag */
int srt_interrupt_pending(void);
/* Install the no-op wake signal (without SA_RESTART) so interrupted waits
** return; called by srt_arena_init. */
void srt_signals_init(void);
/* Called from the wake signal's handler, in the interrupted thread, when an
** interrupt is pending (async-signal context). */
void srt_set_wake_hook(void (*fn)(void));
extern int srt_wake_signal;

/* ---- futexes --------------------------------------------------------------- */
/* Sleep while *addr == val, until woken, the deadline, or an interrupt.
** Returns SRT_OK (woken or value changed: re-check), SRT_TIMEDOUT or
** SRT_INTERRUPTED. Spurious returns are possible. */
int srt_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline);
void srt_futex_wake(_Atomic uint32_t *addr, int n);
pid_t srt_gettid(void);
int srt_pid_alive(pid_t pid);
/* /proc/PID/stat into buf (NUL-terminated, at most cap - 1 bytes); the
** number of bytes read, 0 when the process is gone. */
size_t srt_proc_stat(pid_t pid, char *buf, size_t cap);

/* ---- internal mutex: robust, process-shared ------------------------------- */
/* For strand's own short critical sections. A process killed inside one does
** not hang the others: the next locker repairs and goes on. */
typedef struct srt_mutex { pthread_mutex_t m; } srt_mutex;
void srt_mutex_init(srt_mutex *m);
int srt_mutex_lock(srt_mutex *m);    /* returns 1 if the previous owner had died */
void srt_mutex_unlock(srt_mutex *m);
void srt_mutex_destroy(srt_mutex *m);

/* ---- condition: a futex sequence, so a dead waiter cannot break it ------- */
typedef struct srt_cond { _Atomic uint32_t seq; _Atomic uint32_t waiters; } srt_cond;
void srt_cond_init(srt_cond *c);
/* Wait with m held; m is held again on return. Same results as futex_wait. */
int srt_cond_wait(srt_cond *c, srt_mutex *m, int64_t deadline);
void srt_cond_signal(srt_cond *c);
void srt_cond_broadcast(srt_cond *c);

/* ---- Lock and RLock ------------------------------------------------------- */
/* A lock any thread of any process may take. Lock may be released by another
** thread (as Python's); RLock only by its owner, recursively. A waiter notices
** a holder whose process died and takes the lock with SRT_OWNERDEAD. */
typedef struct srt_lock {
  _Atomic uint32_t state;  /* 0 free, else holder pid | 0x80000000 if sleepers */
  uint32_t recursive;
  _Atomic uint64_t owner;  /* pid << 32 | tid of the holder, 0 when free */
  uint32_t depth;          /* RLock recursion depth */
  _Atomic uint32_t spin;   /* adaptive spinning hint (spin.c) */
} srt_lock;
void srt_lock_init(srt_lock *l, int recursive);
/* deadline 0 means "don't block" (a dead holder is still taken over).
** SRT_OK, SRT_OWNERDEAD, SRT_TIMEDOUT, SRT_INTERRUPTED. */
int srt_lock_acquire(srt_lock *l, int64_t deadline);
int srt_lock_release(srt_lock *l); /* SRT_OK or SRT_EPERM */
int srt_lock_locked(const srt_lock *l);
int srt_lock_is_owner(const srt_lock *l);
/* Condition support: drop an RLock entirely, remembering depth; restore it. */
uint32_t srt_lock_release_all(srt_lock *l);
int srt_lock_acquire_restore(srt_lock *l, uint32_t depth, int64_t deadline);
uint64_t srt_self_owner_id(void);

/* ---- shared containers: blobs, dict, list (shtable.c) ---------------------- */
/* A blob: immutable bytes with a reference count, in the arena. Keys and
** values of shared containers are blobs; a reader takes a reference and
** reads the bytes without holding any lock. When the last reference goes,
** the process's release hook runs first for blobs flagged SRT_BLOB_OWNS (the
** bindings drop the references their codec bytes hold). */
enum { SRT_BLOB_OWNS = 1 };
enum { SRT_RANGE = 32 }; /* result: index out of range */
typedef struct srt_blob {
  _Atomic uint32_t refs;
  uint32_t flags;
  size_t len;
  unsigned char data[];
} srt_blob;
srt_blob *srt_blob_new(const void *p, size_t len, uint32_t flags); /* NULL: arena full */
void srt_blob_incref(srt_blob *b);
void srt_blob_decref(srt_blob *b); /* NULL is fine */
void srt_blob_set_release(void (*fn)(srt_blob *b));
void srt_blobs_release(srt_blob **a, size_t n); /* decref n blobs, free(a) */

/* Both containers: `mu` guards the structure for a few instructions;
** `guard` (recursive) is held across a read-modify-write, and writers of
** other threads wait for it (readers do not). Writers take a deadline and
** return SRT_OK, SRT_NOMEM (nothing changed, val still the caller's),
** SRT_RANGE, SRT_TIMEDOUT or SRT_INTERRUPTED. A stored val is taken over. */
typedef struct srt_dstore srt_dstore;
typedef struct srt_dict {
  srt_mutex mu;
  srt_lock guard;
  srt_dstore *s; /* NULL while empty */
} srt_dict;
void srt_dict_init(srt_dict *d);
void srt_dict_destroy(srt_dict *d);
size_t srt_dict_len(srt_dict *d);
srt_blob *srt_dict_get(srt_dict *d, const void *key, size_t klen); /* new ref or NULL */
/* val NULL deletes. The previous value goes to *old (a reference the caller
** owns; NULL if none) or, with old NULL, is dropped. Keys keep their first
** insertion position. */
int srt_dict_set(srt_dict *d, const void *key, size_t klen, srt_blob *val, srt_blob **old,
                 int64_t deadline);
/* The entries now, in insertion order: malloc'd key, value, key, value ...
** each with a new reference (release with srt_blobs_release(a, 2 * n)). */
int srt_dict_snapshot(srt_dict *d, srt_blob ***out, size_t *n);
int srt_dict_clear(srt_dict *d, int64_t deadline);

typedef struct srt_lstore srt_lstore;
typedef struct srt_list {
  srt_mutex mu;
  srt_lock guard;
  srt_lstore *s;
} srt_list;
/* Positions are 0-based; negative ones count from the end (-1 the last). */
void srt_list_init(srt_list *l);
void srt_list_destroy(srt_list *l);
size_t srt_list_len(srt_list *l);
srt_blob *srt_list_get(srt_list *l, int64_t i); /* new ref, NULL out of range */
int srt_list_set(srt_list *l, int64_t i, srt_blob *val, int64_t deadline);
/* insert: i may be len (or -1) to append */
int srt_list_insert(srt_list *l, int64_t i, srt_blob *val, int64_t deadline);
int srt_list_pop(srt_list *l, int64_t i, srt_blob **out, int64_t deadline);
int srt_list_snapshot(srt_list *l, srt_blob ***out, size_t *n);
int srt_list_clear(srt_list *l, int64_t deadline);

/* ---- message queue (queue.c) --------------------------------------------- */
/* A multi-producer multi-consumer queue of byte messages in the arena: works
** between threads, processes, and both at once. Small messages (up to
** SRT_QMSG_INLINE bytes) are copied into the queue itself; larger ones live
** in arena blocks. A process killed inside any operation leaves the queue
** consistent for the others (at worst the message it was moving is lost).
** deadline: absolute (srt_deadline), SRT_FOREVER, or 0 for "don't block".
** Results: SRT_OK, SRT_TIMEDOUT (empty/full until the deadline),
** SRT_INTERRUPTED, SRT_BROKEN (closed), SRT_NOMEM, SRT_EPERM. */
enum { SRT_QUEUE_FIFO = 0, SRT_QUEUE_LIFO = 1, SRT_QUEUE_PRIORITY = 2 };
#define SRT_QMSG_INLINE 80
typedef struct srt_queue srt_queue;
/* A priority key: a number, or a string when str is not NULL. Numbers sort
** before strings, strings bytewise; equal keys keep put order. */
typedef struct srt_qkey { double num; const char *str; size_t slen; } srt_qkey;
/* A received message: its bytes are in `small`, or in `block`, an arena block
** the receiver now owns (srt_free it). */
typedef struct srt_qmsg {
  void *block;
  size_t len;
  char small[SRT_QMSG_INLINE];
} srt_qmsg;
#define srt_qmsg_data(m) ((m)->block ? (const char *)(m)->block : (m)->small)

srt_queue *srt_queue_new(size_t maxsize, int order); /* maxsize 0: unbounded */
/* Free the queue and what is left in it; release(bytes, len), if given, runs on
** each message first (to drop references it owns). Nobody may use q after. */
void srt_queue_destroy(srt_queue *q, void (*release)(const void *p, size_t len));
/* Put an arena block, handing it over on SRT_OK (the caller keeps it on any
** other result). prio orders a priority queue. */
int srt_queue_put(srt_queue *q, void *msg, size_t len, double prio, int64_t deadline);
/* Put a copy of process-local bytes; key NULL means priority 0. */
int srt_queue_put_bytes(srt_queue *q, const void *bytes, size_t len, const srt_qkey *key,
                        int64_t deadline);
/* Get the next message as an arena block the caller owns. */
int srt_queue_get(srt_queue *q, void **msg, size_t *len, int64_t deadline);
/* Get the next message into m (no allocation for small messages). */
int srt_queue_take(srt_queue *q, srt_qmsg *m, int64_t deadline);
/* Refuse further puts; waiters wake with SRT_BROKEN. Gets still drain what is
** left, then answer SRT_BROKEN. */
void srt_queue_close(srt_queue *q);
int srt_queue_closed(srt_queue *q);
size_t srt_queue_size(srt_queue *q);
size_t srt_queue_maxsize(srt_queue *q);
int srt_queue_order(srt_queue *q);
/* JoinableQueue: every put adds an unfinished task; task_done removes one
** (SRT_EPERM when none is left); join waits until none is left. */
int srt_queue_task_done(srt_queue *q);
int srt_queue_join(srt_queue *q, int64_t deadline);
uint64_t srt_queue_unfinished(srt_queue *q);
/* For waits over many objects: register the thread ctx to get the wake signal
** (srt_wake_signal, by tgkill) once when the queue becomes readable (an item
** or closed). Returns 1 if it is readable already, 0 if not, -1 on NOMEM. */
int srt_queue_watch(srt_queue *q, srt_tctx *ctx);
void srt_queue_unwatch(srt_queue *q, srt_tctx *ctx);
int srt_queue_ready(srt_queue *q);
/* Test hook: called at numbered steps inside critical sections (NULL). */
extern void (*srt_queue_fault_hook)(int step);

/* ---- synchronization beyond Lock (spin.c deadlock.c sema.c event.c
** condition.c barrier.c; Lock extras in lock.c) ---------------------------- */
#define SRT_DEADLOCK 7        /* a wait with no timeout would close a cycle */
#define SRT_BARRIER_ACTION 8  /* the last party must run the action now */
pid_t srt_self_pid(void);     /* getpid(), cached per thread, right after fork */
static inline void srt_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}
int srt_usable_cpus(void);          /* CPUs this thread may run on */
int srt_spin_budget(int polls);     /* polls, or 0 when only one CPU is usable */
/* Adaptive spinning: how many polls to try now (0 on one CPU), given an
** object's hint word (0 = new); then whether the spin got what it wanted. */
int srt_spin_polls(_Atomic uint32_t *hint, int max);
void srt_spin_learn(_Atomic uint32_t *hint, int ok, int max);
/* srt_lock_acquire, but a wait with no deadline first enters the wait-for
** graph and returns SRT_DEADLOCK, without sleeping, when it would close a
** cycle of threads each waiting for a lock another of them holds. */
int srt_lock_acquire_checked(srt_lock *l, int64_t deadline);
/* One attempt (or RLock recursion): SRT_OK or SRT_TIMEDOUT, never a wait,
** a system call, or a dead-holder check. */
int srt_lock_try(srt_lock *l);
/* Take the lock back for Condition: interrupts wait until it is held. */
int srt_lock_acquire_restore_nointr(srt_lock *l, uint32_t depth);

/* The deadlock detector's wait-for graph (this process's threads). */
void srt_deadlock_name(const char *name);    /* this thread's name in reports */
int srt_deadlock_named(void);                /* whether it has been given one */
int srt_deadlock_enter(const srt_lock *l);   /* 1: a cycle (not entered) */
/* A join with no timeout of the thread whose srt_self_owner_id() is given:
** the same, with that thread as the one that must act. */
int srt_deadlock_enter_join(uint64_t thread);
void srt_deadlock_leave(void);
const char *srt_deadlock_report(void);       /* text of this thread's last cycle */

/* Semaphore: the count is the futex word; bound 0 = unbounded. */
#define SRT_SEMA_MAX 0x7fffffffu
typedef struct srt_sema {
  _Atomic uint32_t value;
  _Atomic uint32_t sleepers;
  uint32_t bound;
  _Atomic uint32_t spin; /* adaptive spinning hint (spin.c) */
} srt_sema;
void srt_sema_init(srt_sema *s, uint32_t value, uint32_t bound);
int srt_sema_acquire(srt_sema *s, int64_t deadline); /* OK, TIMEDOUT, INTERRUPTED */
int srt_sema_release(srt_sema *s, uint32_t n);       /* OK, or EPERM past the bound */
uint32_t srt_sema_value(const srt_sema *s);

/* Event: word = generation << 1 | flag. */
typedef struct srt_event {
  _Atomic uint32_t word;
  _Atomic uint32_t sleepers;
  _Atomic uint32_t spin; /* adaptive spinning hint (spin.c) */
} srt_event;
void srt_event_init(srt_event *e);
void srt_event_set(srt_event *e);
void srt_event_clear(srt_event *e);
int srt_event_is_set(const srt_event *e);
int srt_event_wait(srt_event *e, int64_t deadline); /* OK, TIMEDOUT, INTERRUPTED */

/* Condition over a Lock or RLock (which guards its queue of waiters). */
typedef struct srt_cwaiter srt_cwaiter;
typedef struct srt_condition {
  srt_lock *lock;
  srt_cwaiter *_Atomic head;
} srt_condition;
void srt_condition_init(srt_condition *c, srt_lock *lock);
/* Holding the lock: OK (notified), TIMEDOUT, INTERRUPTED (the lock is held
** again in all three), EPERM (not held), NOMEM. */
int srt_condition_wait(srt_condition *c, int64_t deadline, int *owner_died);
int srt_condition_notify(srt_condition *c, int n); /* woken, or -1: not held */
int srt_condition_has_waiters(const srt_condition *c);

/* Barrier, as Python's. wait: OK (index set), SRT_BARRIER_ACTION (index
** set; run the action, then action_done), BROKEN, INTERRUPTED (broken). */
typedef struct srt_barrier {
  srt_mutex m;
  srt_cond c;
  uint32_t parties, count;
  int32_t state;
  pid_t action_pid;
} srt_barrier;
void srt_barrier_init(srt_barrier *b, uint32_t parties);
void srt_barrier_destroy(srt_barrier *b);
int srt_barrier_wait(srt_barrier *b, int64_t deadline, int has_action, uint32_t *index);
int srt_barrier_action_done(srt_barrier *b, int ok); /* OK or BROKEN */
void srt_barrier_reset(srt_barrier *b);
void srt_barrier_abort(srt_barrier *b);
uint32_t srt_barrier_n_waiting(srt_barrier *b);
int srt_barrier_broken(srt_barrier *b);

/* ---- task queue (taskq.c): what a pool's workers take work from ---------- */
/* An intrusive FIFO of arena nodes (a task record starts with its node), for
** pools of threads and of processes alike. A consumer killed while it pops
** leaves its claim word pointing at the node it took (see srt_taskq_unclaim).
** Consumers spin briefly before sleeping when more than one CPU is usable. */
typedef struct srt_tqnode { struct srt_tqnode *next; } srt_tqnode;
typedef struct srt_taskq {
  srt_lock mu;
  srt_tqnode *head, *tail;
  _Atomic uint32_t count;     /* queued nodes */
  _Atomic uint32_t seq;       /* futex word: bumped by push and close */
  _Atomic uint32_t sleepers;  /* consumers asleep on seq */
  _Atomic uint32_t spinners;  /* consumers polling (at most one) */
  _Atomic uint32_t closed;
  _Atomic uint32_t waiting;   /* consumers inside pop */
  _Atomic uint32_t consumers; /* attached consumers (srt_taskq_consumers) */
  _Atomic uint32_t wakes;     /* wake-ups sent to sleepers that have not run yet */
} srt_taskq;
void srt_taskq_init(srt_taskq *q);
void srt_taskq_destroy(srt_taskq *q);
int srt_taskq_push(srt_taskq *q, srt_tqnode *n); /* SRT_OK, or SRT_BROKEN when closed */
/* Take the oldest node; *claim (if given) is set to it before it is unlinked.
** deadline 0: don't block. SRT_OK, SRT_TIMEDOUT, SRT_INTERRUPTED, or
** SRT_BROKEN (closed and empty). */
int srt_taskq_pop(srt_taskq *q, srt_tqnode **out, srt_tqnode *_Atomic *claim, int64_t deadline);
int srt_taskq_unclaim(srt_taskq *q, srt_tqnode *n); /* 1: n was still queued */
void srt_taskq_close(srt_taskq *q);                 /* refuse pushes; wake all */
int srt_taskq_closed(srt_taskq *q);
srt_tqnode *srt_taskq_drain(srt_taskq *q);          /* take every queued node */
uint32_t srt_taskq_size(srt_taskq *q);
uint32_t srt_taskq_waiting(srt_taskq *q);
/* Consumers attach (+1) and leave (-1): pushes wake a sleeper only when the
** awake consumers are fewer than the queued tasks. */
void srt_taskq_consumers(srt_taskq *q, int delta);
int srt_taskq_spin_polls(void); /* polls before sleeping: 0 on one CPU */

/* ---- fd waits and child processes (proc.c) ------------------------------- */
/* Interrupt-safe poll: hold the wake signal and SIGINT, check conditions,
** then srt_ppoll, which sleeps with them deliverable. srt_ppoll returns
** SRT_OK (*nready > 0: see revents; 0: a signal came, e.g. from a watched
** queue: re-check), SRT_TIMEDOUT, SRT_INTERRUPTED or SRT_EPERM (poll failed).
** srt_poll does all of it and returns only when an fd is ready (SRT_OK),
** or on timeout, interrupt or failure. */
#include <poll.h>
#include <signal.h>
void srt_signals_hold(sigset_t *old);
void srt_signals_release(const sigset_t *old);
int srt_ppoll(struct pollfd *fds, unsigned n, int64_t deadline, const sigset_t *old, int *nready);
int srt_poll(struct pollfd *fds, unsigned n, int64_t deadline);
int srt_pidfd(pid_t pid); /* pollable fd, readable once pid has exited; -1 if gone */
/* Reap one child: 1 reaped (*status set), 0 still running, -1 not our child. */
int srt_reap(pid_t pid, int *status, int block);
int srt_exitcode(int status); /* exit code, or -signal when killed */
/* Wait for a child to end and reap it: SRT_OK, SRT_TIMEDOUT, SRT_INTERRUPTED,
** SRT_EPERM (not a child of this process, or already reaped). */
int srt_child_wait(pid_t pid, int64_t deadline, int *status);

/* ---- message channels over pipes (pipe.c) -------------------------------- */
/* One direction of a Pipe: an OS pipe plus this shared state in
** the arena, used by every thread and process that reads or writes that
** direction. Messages are an 8-byte length and the bytes; they are never
** split or merged. Results: SRT_OK, SRT_TIMEDOUT, SRT_INTERRUPTED (only
** before a message starts moving), SRT_BROKEN (end of file between
** messages / nobody reads any more), or -errno (-EPROTO: the stream ended
** inside a message). */
#define SRT_CHAN_BUF 4096
typedef struct srt_chan {
  srt_lock rlock, wlock;
  _Atomic uint32_t wseq; /* messages written whole */
  uint32_t rseq;         /* messages begun by readers, under rlock */
  _Atomic uint32_t spin; /* adaptive spinning hint (spin.c) */
  uint32_t rpos, rlen;   /* read-ahead bytes, under rlock */
  char rbuf[SRT_CHAN_BUF];
} srt_chan;
void srt_chan_init(srt_chan *ch);
int srt_chan_send(srt_chan *ch, int wfd, const void *p, size_t len, int64_t deadline);
/* Receive in two steps so the caller can size its buffer: begin takes the
** read lock and reads the length; body reads the bytes (dst NULL drops
** them) and releases the lock, whatever happens. */
int srt_chan_recv_begin(srt_chan *ch, int rfd, uint64_t *len, int64_t deadline);
int srt_chan_recv_body(srt_chan *ch, int rfd, void *dst, uint64_t n);
/* Wait until a message (or end of file) is there to read. */
int srt_chan_wait_readable(srt_chan *ch, int rfd, int64_t deadline);
size_t srt_chan_buffered(srt_chan *ch);

/* ---- a private heap for one Lua state (heap.c) --------------------------- */
/* Small blocks from chunks the heap owns, given back all at once by delete
** (blocks over 512 bytes are the C library's: free them first, as lua_close
** does). Used by one thread at a time. srt_heap_alloc has the shape of lua_Alloc (ud is
** the heap; osize is the block's old size, or anything when p is NULL). */
typedef struct srt_heap srt_heap;
srt_heap *srt_heap_new(void);
void *srt_heap_alloc(void *ud, void *p, size_t osize, size_t nsize);
void srt_heap_delete(srt_heap *h);

#endif

/*
** sb.h — internal header of the Lua bindings (prefix sb_). Every l_*.c file
** includes it. The public embedding API is strand.h.
*/
#ifndef SB_H
#define SB_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <string.h>

#include "../runtime/srt.h"

/* ---- shared object types: one id per kind of handle ----------------------- */
enum {
  SB_T_NONE = 0,
  SB_T_THREAD,
  SB_T_LOCK,
  SB_T_RLOCK,
  SB_T_SEMAPHORE,
  SB_T_EVENT,
  SB_T_CONDITION,
  SB_T_BARRIER,
  SB_T_QUEUE,
  SB_T_CONN,
  SB_T_PROCESS,
  SB_T_VALUE,
  SB_T_ARRAY,
  SB_T_DICT,
  SB_T_LIST,
  SB_T_NAMESPACE,
  SB_T_SHM,
  SB_T_POOL,
  SB_T_FUTURE,
  SB_T_EXECUTOR,
  SB_T_ASYNCRESULT,
  SB_T_GENERIC1, /* spare ids for later kinds */
  SB_T_GENERIC2,
  SB_T_GENERIC3,
  SB_T_GENERIC4,
  SB_T_COUNT
};

/* A kind of handle: its metatable is made lazily, the first time a state
** pushes one, so opening strand in a new worker state stays cheap. */
typedef struct sb_type {
  uint32_t id;
  const char *name;          /* metatable name, e.g. "strand.Lock" */
  const luaL_Reg *methods;   /* obj:method(...) */
  const luaL_Reg *getters;   /* obj.field; function(L) with the userdata at 1 */
  const luaL_Reg *setters;   /* obj.field = v; userdata at 1, value at 3 */
  lua_CFunction close;       /* __close, or NULL */
  lua_CFunction tostring;    /* __tostring, or NULL for "strand.X: 0x..." */
  lua_CFunction len;         /* __len, or NULL */
  srt_destroy_fn destroy;    /* runs when the last reference in the tree goes */
} sb_type;

void sb_register_type(const sb_type *t); /* at module open; idempotent */
const sb_type *sb_type_of(uint32_t id);

/* Push a handle for o, taking over one reference the caller owns. */
void sb_push_handle(lua_State *L, srt_obj *o);
/* Push a handle for o, adding a reference. */
void sb_push_ref(lua_State *L, srt_obj *o);
/* Process-local hooks of a type: adopt runs when a handle to o is made in
** this process, drop when one is collected, before its reference goes
** (e.g. a Pipe end closes its fds when the last handle in the process goes). */
void sb_set_local_hooks(uint32_t type, void (*adopt)(srt_obj *o), void (*drop)(srt_obj *o));
/* Fork: the child inherits exactly the handles of the forking state. Before
** fork, _prepare takes a reference for the child on each (_undo if fork
** failed); in the child, _child runs the adopt hooks for them again (after
** the types reset their per-process tables), and _release_all drops the
** child's references just before it exits. A pool's workers take none on
** the pool itself (skip), and _forget its handles: a pool that held itself
** through its workers would never be collected, nor its workers ended. */
void sb_handles_fork_prepare(lua_State *L, srt_obj *skip);
void sb_handles_fork_undo(lua_State *L, srt_obj *skip);
void sb_handles_forget(lua_State *L, srt_obj *o); /* its handles here name nothing now */
void sb_handles_fork_child(lua_State *L);
void sb_handles_release_all(lua_State *L);
/* The object behind the handle at idx, or a Lua error naming the type. */
void *sb_check(lua_State *L, int idx, uint32_t type);
void *sb_test(lua_State *L, int idx, uint32_t type); /* NULL if not that type */
srt_obj *sb_test_any(lua_State *L, int idx);          /* any strand handle */
/* Allocate a new object in the arena or raise a MemoryError. */
void *sb_new_obj(lua_State *L, uint32_t type, size_t size);
void *sb_alloc(lua_State *L, size_t n); /* arena bytes or MemoryError */

/* ---- spawn.c: what Thread{}, Process{}, Pool{} and executors share ---------- */
/* Every key of the options table at idx is one of keys (NULL-ended), or
** "<what>: unknown option 'k'". */
void sb_check_options(lua_State *L, int idx, const char *what, const char *const keys[]);
/* Where an option came from, for its error: key `key` of an options table
** (pos 0), or argument pos of a positional call. */
typedef struct sb_optsrc {
  const char *what, *key;
  int pos;
} sb_optsrc;
/* A constructor's options, from the table at 1 (its keys checked) or
** positionally from 1 on: pushes one value per key, in keys' order, and
** fills src (one entry per key) for their errors. */
void sb_push_options(lua_State *L, const char *what, const char *const keys[], sb_optsrc *src);
/* The integer at slot, dflt when nil; a float or string is an error. */
lua_Integer sb_opt_integer(lua_State *L, int slot, const sb_optsrc *src, lua_Integer dflt);
/* The value at slot is nil or of type (LUA_TFUNCTION, LUA_TTABLE, LUA_TSTRING). */
void sb_opt_type(lua_State *L, int slot, const sb_optsrc *src, int type);
/* Check the options table at 1; leaves target 2, run 3, args 4, name 5,
** daemon 6 on the stack. `what` names the constructor in errors. */
void sb_spawn_options(lua_State *L, const char *what);
/* Keep target/run/args (2..4) in the handle's own fields until start(). */
void sb_spawn_keep(lua_State *L, int handle);
/* For start(), handle at 1: leaves the fields at 2, the function to run at 3
** and its argument table at 4. */
void sb_spawn_callable(lua_State *L);

/* ---- registries: process-local lists of objects, one reference each ---- */
typedef struct sb_registry {
  pthread_mutex_t mu;
  srt_obj **items;
  size_t n, cap;
} sb_registry;
#define SB_REGISTRY_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0}
void sb_registry_add(sb_registry *r, srt_obj *o);   /* takes a reference */
int sb_registry_remove(sb_registry *r, srt_obj *o); /* drops it; 0 if absent */
/* The items for which keep (if given) is true, with a reference on each;
** NULL only when out of memory. Give back with sb_registry_release. */
srt_obj **sb_registry_snapshot(sb_registry *r, size_t *n, int (*keep)(const srt_obj *o));
void sb_registry_release(srt_obj **items, size_t n);
size_t sb_registry_count(sb_registry *r, int (*keep)(const srt_obj *o));
/* In a forked child: drop this copy of the list, not the parent's references. */
void sb_registry_forget(sb_registry *r);

/* ---- errors ------------------------------------------------------------------ */
/* strand errors are tables {kind=, message=, traceback=?, worker=?} with the
** metatable "strand.Error" (__tostring gives "kind: message"). */
int sb_error(lua_State *L, const char *kind, const char *fmt, ...);
void sb_push_error(lua_State *L, const char *kind, const char *msg);
/* Raise the error for a runtime result that is not SRT_OK (timeouts raise
** only where the caller asks: see sb_wait_result). */
int sb_raise_interrupt(lua_State *L);
/* Convert a wait result: returns 1 on success (OK/OWNERDEAD), 0 on timeout,
** raises on interrupt. */
int sb_wait_result(lua_State *L, int r);
/* Optional timeout argument in seconds -> deadline (nil/none: forever). */
int64_t sb_opt_deadline(lua_State *L, int idx);

/* ---- the codec ---------------------------------------------------------------- */
/* Encode the n values at first..first+n-1 into one message. The bytes live in
** a per-state scratch buffer valid until the next encode in this state;
** `what` names the values in error messages ("args", "item"). Raises a Lua
** error naming the path of a value it cannot carry. On success the message
** owns one reference to each strand handle inside it. */
const char *sb_encode(lua_State *L, int first, int n, size_t *len, const char *what);
/* The same, an error naming value i what[base + i] (the items of a list slice). */
const char *sb_encode_at(lua_State *L, int first, int n, size_t *len, const char *what,
                         lua_Integer base);
/* The same, copied into a fresh arena block (freed with srt_free). */
void *sb_encode_arena(lua_State *L, int first, int n, size_t *len, const char *what);
/* Encode leniently: values that cannot be sent become nil (globals copy). */
const char *sb_encode_lenient(lua_State *L, int first, int n, size_t *len);
/* The first nstrict values strictly (errors name them what[i]), the rest
** leniently. */
const char *sb_encode_partly(lua_State *L, int first, int n, int nstrict, size_t *len,
                             const char *what);
/* Decode a message: pushes its values and returns how many. Bytes that did
** not come from the codec raise a clean error. Handles get new references. */
int sb_decode(lua_State *L, const char *p, size_t len);
/* Drop the references a message owns (when its bytes are discarded). */
void sb_codec_release(const void *p, size_t len);
/* Free an arena message: release its references, then the block. */
void sb_msg_free(void *p, size_t len);
/* Fast paths for a message of one plain value (nil, boolean, number, string;
** what most queue items and pipe messages are): sb_encode_small writes the
** same bytes sb_encode would into buf and returns their length, or 0 when the
** value needs sb_encode (a table, a function, a string longer than fits);
** sb_decode_small pushes the value and returns 1, or returns 0 (nothing
** pushed) when the message needs sb_decode, which also reports bad bytes. */
#define SB_SMALL_MSG 256
size_t sb_encode_small(lua_State *L, int idx, char *buf, size_t cap);
int sb_decode_small(lua_State *L, const char *p, size_t len);

/* Push 8 bytes (any alignment) as a Lua integer or float: raw numbers in
** codec messages and packed map chunks. */
static inline void sb_push_raw_number(lua_State *L, const void *p, int is_int) {
  if (is_int) {
    lua_Integer v;
    memcpy(&v, p, 8);
    lua_pushinteger(L, v);
  } else {
    lua_Number v;
    memcpy(&v, p, 8);
    lua_pushnumber(L, v);
  }
}

/* ---- states and threads ---------------------------------------------------- */
/* A fresh worker state: standard libraries, strand as global and in
** package.loaded, the creator's package.path/cpath, and the host's init hook.
** Returns NULL when out of memory. */
lua_State *sb_new_state(const char *path, const char *cpath);
/* Close a state made by sb_new_state, and its heap. */
void sb_close_state(lua_State *L);
/* Run fn at -1 under pcall with a traceback handler; on failure leaves an
** error value (strand.Error with traceback) on the stack and returns != 0. */
int sb_pcall_traceback(lua_State *L, int nargs, int nresults);
/* Make the error at the top a strand.Error with traceback and worker name. */
void sb_install_interrupt_hook(lua_State *L);
/* From a signal handler in this thread: make its running state raise the
** pending interrupt at its next instruction. */
void sb_arm_interrupt(void);
/* Name of the running thread or process, for error reports. */
const char *sb_current_name(lua_State *L);

/* Opening pieces of the module: each adds its functions to the table at -1. */
void sb_open_codec(lua_State *L);
void sb_open_thread(lua_State *L);
void sb_open_sync(lua_State *L);
/* l_sync.c: push a new strand.Lock (recursive: RLock) handle, return its
** lock; the lock of a Lock or RLock object (NULL for any other object). */
srt_lock *sb_push_new_lock(lua_State *L, int recursive);
srt_lock *sb_lock_of(srt_obj *o);
void sb_open_process(lua_State *L);
void sb_process_name_self(lua_State *L, const char *name, pid_t owner); /* in a pool worker */
/* A child on its way out (a Process's, a pool worker) gives back its own
** process record and thread context. */
void sb_process_release_self(void);
/* In a forked child whose code may call os.exit (a Process's target, a pool
** worker's tasks): exit() gives back the references of L's handles and the
** child's own record, as the child's normal end does. */
void sb_child_exit_guard(lua_State *L);
void sb_open_queue(lua_State *L);
void sb_open_pipe(lua_State *L);
void sb_open_shared(lua_State *L);
void sb_open_pool(lua_State *L);
void sb_open_futures(lua_State *L);
void sb_open_debug(lua_State *L); /* debug_threads, debug_watchdog: l_debug.c */
void sb_debug_register_state(lua_State *L); /* list this state for debug_threads */
/* Worker states fill the strand module on first use (l_strand.c); code that
** walks the table raw (the codec's map of C functions) fills it first. */
void sb_module_complete(lua_State *L, int idx);

/* End-of-program work for the CLI and strand_shutdown: join non-daemon
** threads and processes, end daemon ones. */
void sb_threads_shutdown(int cancel_all);
/* A child on its way out drops its MainThread object (made if it asked). */
void sb_threads_release_main(void);
/* Wait (1 s at most) for threads that have woken their joiners to finish. */
void sb_threads_settle(void);
void sb_processes_shutdown(int kill_all);
/* In a forked child, make SIGINT interrupt the child's thread (embed.c). */
void sb_sigint_after_fork(void);
/* For strand.wait (l_wait.c): what each waitable kind exposes. */
srt_queue *sb_queue_of(srt_obj *o);            /* l_queue.c; NULL if not a Queue */
int sb_conn_wait_fd(lua_State *L, srt_obj *o);  /* l_pipe.c: fd to poll for reading */
int sb_process_ended(srt_obj *o, int *pidfd);   /* l_process.c: 1 ended; else *pidfd or -1 */
void sb_open_wait(lua_State *L);                /* strand.wait */

/* Set a field of the table at -1 to a function. */
#define sb_setfn(L, name, fn) (lua_pushcfunction(L, fn), lua_setfield(L, -2, name))

/* ---- shared memory: typecodes of Value/Array (typecode.c) -------------------- */
enum { SB_TC_INT, SB_TC_FLOAT, SB_TC_CHAR, SB_TC_BOOL };
typedef struct sb_tc {
  char code;        /* 'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd' 'c' '?' */
  unsigned char size; /* bytes: 1, 2, 4 or 8 */
  unsigned char kind; /* SB_TC_* */
  int64_t min, max;   /* integer range */
  const char *name;   /* C type, for messages */
} sb_tc;
const sb_tc *sb_tc_find(int code);
const sb_tc *sb_tc_check(lua_State *L, int idx); /* typecode argument or error */
uint64_t sb_tc_load(const sb_tc *t, const void *p);           /* atomic */
void sb_tc_store(const sb_tc *t, void *p, uint64_t bits);     /* atomic */
void sb_tc_push(lua_State *L, const sb_tc *t, uint64_t bits);
/* The Lua value at idx as bits, or an error "<what>: ..." (type, range). */
uint64_t sb_tc_tobits(lua_State *L, const sb_tc *t, int idx, const char *what);
/* The same with what = "name[]", written "name[at]" in the error. */
uint64_t sb_tc_tobits_at(lua_State *L, const sb_tc *t, int idx, const char *what, lua_Integer at);
uint64_t sb_tc_zero(const sb_tc *t);
/* Lock-free read-modify-writes; each pushes its result. */
int sb_tc_add(lua_State *L, const sb_tc *t, void *p, int idx, const char *what);
int sb_tc_cas(lua_State *L, const sb_tc *t, void *p, int iold, int inew, const char *what);
int sb_tc_exchange(lua_State *L, const sb_tc *t, void *p, int idx, const char *what);
/* The lock option at idx ({lock=...} or the value): nil/true a new RLock,
** false none, or the given Lock/RLock. Returns it with a new reference
** (NULL: none) and its srt_lock in *lk when known. */
srt_obj *sb_lock_option(lua_State *L, int idx, const char *fname, srt_lock **lk);
/* Take lk for a multi-element operation unless this thread holds it; returns
** whether it was taken (release it after). Raises on Ctrl-C/cancel. */
int sb_lock_bulk(lua_State *L, srt_lock *lk);
/* meta_patch.c: route a type's __index/__newindex through index/newindex
** (each gets the original as upvalue 1, the fallbacks call it, and a table
** of `methods` as upvalue 2) and add the extra metamethods; done once per
** state when the type's module part opens. */
void sb_meta_patch(lua_State *L, uint32_t type, size_t objsize, lua_CFunction index,
                   lua_CFunction newindex, const luaL_Reg *extra, const luaL_Reg *methods);
void sb_meta_apply(lua_State *L, uint32_t type); /* handle.c, on a new metatable */
int sb_meta_index_fallback(lua_State *L);    /* from a patched __index */
int sb_meta_newindex_fallback(lua_State *L); /* from a patched __newindex */
/* Push a handle for o cached in the handle at idx's per-state fields: the
** same userdata each call (get_lock). */
int sb_push_cached_ref(lua_State *L, int idx, srt_obj *o);
void sb_open_value(lua_State *L);  /* l_value.c: Value, RawValue */
void sb_open_array(lua_State *L);  /* l_array.c: Array, RawArray */
void sb_open_shm(lua_State *L);    /* l_shm.c: SharedMemory */
void sb_shm_shutdown(void);        /* unlink the blocks this program created */
/* sb_open_shared (l_shdict.c): shared dict/list/Namespace and Manager */

/* ---- futures, tasks, executors, pools (l_future.c task.c l_executor.c
** l_pool.c) ------------------------------------------------------------------- */
/* A Future (and a Pool's AsyncResult) lives in the arena: whoever runs the
** task, a thread or a forked worker, writes the result straight into it. A
** result of a map is split in parts (one per chunk); a plain call has one. */
enum { SB_F_PENDING, SB_F_RUNNING, SB_F_FINISHED, SB_F_CANCELLED };
enum { SB_FK_CALL, SB_FK_MAP };               /* what result() gives: values, or a list */
enum { SB_TASK_CALL, SB_TASK_MAP, SB_TASK_STARMAP };
#define SB_INLINE 36 /* arguments and results up to this size stay in the future */

typedef struct sb_fnblob sb_fnblob; /* a task function, encoded once (task.c) */
typedef struct sb_flink sb_flink;   /* a waiter or callback inbox watching a future */

typedef struct sb_part {
  void *msg;   /* the result (packed values or codec bytes), or the error */
  size_t len;
  uint32_t failed;
  _Atomic uint32_t done;
} sb_part;

typedef struct sb_task {
  srt_tqnode node;          /* first: the queue links tasks through it */
  struct sb_future *fut;    /* completed by the task; the task holds a reference */
  sb_fnblob *fn;            /* referenced */
  uint32_t part, kind;      /* which part of fut; SB_TASK_* */
  int64_t count;            /* items in a map chunk */
  void *args;               /* packed arguments (or items), in argbuf or an arena block */
  size_t args_len;
} sb_task;

typedef struct sb_future {
  srt_obj h;
  srt_lock mu;                /* guards the links and every state change */
  _Atomic uint32_t state;     /* SB_F_* */
  _Atomic uint32_t seq;       /* futex word: bumped at each completed part and at cancel */
  _Atomic uint32_t sleepers;
  _Atomic uint32_t ndone;     /* parts done = filled entries of order[] */
  uint32_t nparts, kind;      /* SB_FK_* */
  _Atomic int32_t failed_part; /* first part that failed, in completion order, or -1 */
  _Atomic uint32_t cancel_req; /* cancel() stopped it while running */
  srt_tctx *_Atomic runner;   /* the thread running a one-part task */
  sb_flink *links;
  sb_part *parts;             /* &one, or an arena array */
  _Atomic uint32_t *order;    /* part indices in completion order */
  int64_t nitems, chunksize;  /* a map: items in all, items per part */
  sb_task task;               /* the task of a one-part future */
  sb_part one;
  _Atomic uint32_t one_order;
  /* small arguments, then (once they are unpacked) the small result: the
  ** whole object fits a 256-byte arena block */
  char buf[SB_INLINE];
} sb_future;

/* l_future.c */
sb_future *sb_future_new(lua_State *L, uint32_t type, uint32_t kind, uint32_t nparts);
int sb_future_start(sb_future *f);      /* 0: cancelled, skip the task */
/* Store part i's result (an arena block, f->resbuf, or NULL) and wake waiters;
** takes the message over. A part already done or a cancelled future drops it. */
void sb_future_done_part(sb_future *f, uint32_t i, void *msg, size_t len, int failed);
int sb_future_cancel(sb_future *f, int running_too); /* 1: it is cancelled */
int sb_future_is_done(sb_future *f);
/* Wait until the future is done (1) or the deadline passed (0); raises on
** Ctrl-C/cancel. wait_parts waits until more than k parts are done. */
int sb_future_wait(lua_State *L, sb_future *f, int64_t deadline);
int sb_future_wait_parts(lua_State *L, sb_future *f, uint32_t k, int64_t deadline);
/* Push what result() returns (values, or the list of a map); raises the
** task's error, or Cancelled. */
int sb_future_push_result(lua_State *L, sb_future *f);
/* Call fn(handle) in this state when f is done (now, if it is). mode 0: the
** callback gets the future; mode 1 (AsyncResult): the callback at cb gets the
** result, the one at ecb (or nil) the error. */
void sb_future_on_done(lua_State *L, int handle, int cb, int ecb, int mode);
/* Run the callbacks of futures that finished since the last call. Every
** futures/executor/pool entry point calls it. */
void sb_run_callbacks(lua_State *L);
/* Push iterator, nil, nil, closing value for `for i, v in ...` over the
** items of the map future at fidx, in order or in completion order; closing
** the loop early cancels what has not run. */
int sb_push_map_iter(lua_State *L, int fidx, int ordered, int64_t deadline);
void sb_future_destroy(srt_obj *o); /* the destroy hook of Future and AsyncResult */
void sb_open_executor(lua_State *L); /* l_executor.c */
void sb_executor_state(lua_State *L); /* what every state needs of it */
void sb_executors_atexit(int cancel_all);
/* The end of the program: executors finish their queues, pools terminate. */
void sb_pools_atexit(int cancel_all);
void sb_futures_shutdown(int cancel_all); /* end executors and pools at exit */

/* task.c: functions sent once, packed values, running a task */
sb_fnblob *sb_fn_ref(lua_State *L, int idx); /* a new reference, for a task */
void sb_fn_unref(sb_fnblob *b);
/* Pack n stack values (scalars and arrays of numbers without the codec);
** into buf when they fit in cap bytes, else an arena block (*out). */
size_t sb_pack(lua_State *L, int first, int n, void *buf, size_t cap, void **out,
               const char *what);
/* The same, an error naming value i what[base + i]. */
size_t sb_pack_at(lua_State *L, int first, int n, void *buf, size_t cap, void **out,
                  const char *what, lua_Integer base);
size_t sb_pack_error(lua_State *L, int idx, void *buf, size_t cap, void **out);
/* Pack items first..first+count-1 of the table at t (a map chunk). */
size_t sb_pack_slice(lua_State *L, int t, int64_t first, int64_t count, void **out,
                     const char *what);
int sb_unpack(lua_State *L, const void *msg, size_t len);  /* pushes, returns count */
/* Store the values of msg in the table at t from index first on. */
int64_t sb_unpack_into(lua_State *L, const void *msg, size_t len, int t, int64_t first);
void sb_packed_free(void *msg, size_t len, const void *inline_buf);
/* tarray.c: copy count numbers (8 bytes each) out of t[first..] / into
** t[first..] straight through the array part; 0 when that is not possible
** (then use the API). read returns the kind, 'i' or 'd'. */
int sb_tarray_read(lua_State *L, int t, int64_t first, int64_t count, void *out);
int sb_tarray_write(lua_State *L, int t, int64_t first, int64_t count, int kind, const void *in);
void sb_tarray_prefault(lua_State *L, int t); /* map a big array part's pages at once */
void sb_prefault(void *p, size_t len);         /* the same for any large range */
/* Arena blocks for map chunks, kept for reuse by this process. */
void *sb_block_get(size_t n);
void sb_block_put(void *p);
void sb_packed_recycle(void *msg, size_t len); /* a message read for the last time */
void sb_block_cache_clear(void);
/* Run a task in this (worker) state and complete its part. Returns 1 when the
** worker itself was cancelled (not only its task) and should stop. */
int sb_task_run(lua_State *L, sb_task *t);
int sb_in_task(void); /* this thread is running a task now */
void sb_task_release(sb_task *t); /* drop what a finished or skipped task holds */
void sb_taskq_cancel_all(srt_taskq *q); /* drop every queued task, its future cancelled */
void sb_task_drop_args(sb_task *t); /* once unpacked: the buffer is the result's now */
/* A task block of its own for part `part` of a map future (takes args over;
** the caller sets fn and count). */
sb_task *sb_new_part_task(lua_State *L, sb_future *f, uint32_t part, int kind, void *args,
                          size_t len);
/* Run a worker's initializer message (initializer, initargs); 0 on success,
** else the error is at the top of the stack. */
int sb_run_initializer(lua_State *L, const void *msg, size_t len);

/* l_pool.c: a pool of forked worker processes, shared by Pool and
** ProcessPoolExecutor */
typedef struct sb_engine sb_engine;
/* Fork the server and its workers from this state. *init (packed
** initializer and initargs, or NULL) is taken over and set to NULL. */
sb_engine *sb_engine_start(lua_State *L, srt_obj *self, int nworkers, int maxtasks, void **init,
                           size_t init_len, const char *worker_name);
int sb_engine_submit(sb_engine *e, sb_task *t); /* SRT_OK or SRT_BROKEN (closed) */
void sb_engine_close(sb_engine *e);
void sb_engine_terminate(sb_engine *e);        /* cancel queued tasks, kill workers */
void sb_engine_terminate_queue(sb_engine *e);  /* cancel queued tasks only */
/* Closed and no longer owned: reaped (and freed) later by this process. */
void sb_engine_orphan(sb_engine *e);
int sb_engine_join(lua_State *L, sb_engine *e, int64_t deadline); /* 1: all ended */
void sb_engine_free(sb_engine *e);             /* after join (or from a destroy hook) */
int sb_engine_broken(lua_State *L, sb_engine *e); /* pushes the error if it is */

#endif

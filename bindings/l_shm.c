/*
** l_shm.c — strand.SharedMemory: a named POSIX shared memory block
** (shm_open + mmap), as Python's multiprocessing.shared_memory.SharedMemory,
** that an unrelated process (another `strand` command) can attach to by name.
**
**   local shm = strand.SharedMemory{name = "frames", create = true, size = 4096}
**   shm:write(0, "hello")            -- byte offsets start at 0
**   -- elsewhere: strand.SharedMemory{name = "frames"}:read(0, 5)
**
** Blocks are created with O_EXCL and mode 0600 (owner only). The handle is a
** strand object, so it can be passed to threads and processes; each process
** maps the block once (a forked child inherits its parent's mapping) and
** keeps the mapping in a process-local table keyed by the object's id.
** close() ends this process's mapping; unlink() removes the name.
**
** Nothing leaks: a block the program creates is recorded in a list in the
** arena shared by the whole process tree, and the process that started the
** program unlinks every recorded block it still finds when it ends —
** normally, after an uncaught error, after Ctrl-C (strand_shutdown) or
** os.exit (atexit). Python's resource tracker does this job. A block created
** with {track = false} is not recorded and outlives the program, for another
** program to attach to later; that program (or `unlink()`) removes it.
*/
#include "sb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHM_NAME_MAX 250

typedef struct sb_shm {
  srt_obj h;
  uint64_t id; /* unique in the tree: keys the per-process mappings */
  size_t size;
  char name[SHM_NAME_MAX + 2]; /* without the leading '/' */
} sb_shm;

#define check_shm(L, i) ((sb_shm *)sb_check(L, i, SB_T_SHM))

/* ---- the tree-wide list of blocks to unlink at exit ---------------------------------- */
typedef struct tracked {
  char name[SHM_NAME_MAX + 2];
} tracked;

typedef struct tracker {
  srt_mutex mu;
  pid_t root; /* the process that unlinks at exit */
  uint32_t n, cap;
  tracked *ents; /* arena block */
} tracker;

static tracker *T; /* made before any fork, inherited by children */

static void track_add(const char *name) {
  if (!T) return;
  srt_mutex_lock(&T->mu);
  if (T->n == T->cap) {
    uint32_t cap = T->cap ? T->cap * 2 : 16;
    tracked *e = srt_alloc(cap * sizeof *e);
    if (!e) { /* cannot record it: better to say so than to leak silently */
      srt_mutex_unlock(&T->mu);
      fprintf(stderr, "strand: cannot track SharedMemory '%s' for unlinking at exit\n", name);
      return;
    }
    if (T->n) memcpy(e, T->ents, T->n * sizeof *e);
    tracked *old = T->ents;
    T->ents = e;
    T->cap = cap;
    srt_free(old);
  }
  snprintf(T->ents[T->n].name, sizeof T->ents[T->n].name, "%s", name);
  T->n++;
  srt_mutex_unlock(&T->mu);
}

static void track_remove(const char *name) {
  if (!T) return;
  srt_mutex_lock(&T->mu);
  for (uint32_t i = 0; i < T->n; i++) {
    if (strcmp(T->ents[i].name, name) == 0) {
      T->ents[i] = T->ents[--T->n];
      break;
    }
  }
  srt_mutex_unlock(&T->mu);
}

static void unlink_name(const char *name) {
  char path[SHM_NAME_MAX + 3];
  snprintf(path, sizeof path, "/%s", name);
  shm_unlink(path);
}

void sb_shm_shutdown(void) {
  if (!T || T->root != getpid()) return;
  srt_mutex_lock(&T->mu);
  for (uint32_t i = 0; i < T->n; i++) unlink_name(T->ents[i].name);
  T->n = 0;
  srt_mutex_unlock(&T->mu);
}

static void tracker_init(void) {
  T = srt_calloc(sizeof *T);
  if (!T) return;
  srt_mutex_init(&T->mu);
  T->root = getpid();
  T->ents = srt_alloc(16 * sizeof *T->ents); /* now, so the first block allocates nothing */
  T->cap = T->ents ? 16 : 0;
  atexit(sb_shm_shutdown);
}

/* ---- this process's mappings ----------------------------------------------------------- */
typedef struct mapping {
  uint64_t id;
  unsigned char *addr;
  size_t size;
  int closed;
  struct mapping *next;
} mapping;

static pthread_rwlock_t maps_lock = PTHREAD_RWLOCK_INITIALIZER;
static mapping *maps;

static void maps_atfork_child(void) { pthread_rwlock_init(&maps_lock, NULL); }

static mapping *find_map(uint64_t id) {
  for (mapping *m = maps; m; m = m->next)
    if (m->id == id) return m;
  return NULL;
}

static void add_map(uint64_t id, void *addr, size_t size) {
  mapping *m = calloc(1, sizeof *m);
  if (!m) {
    munmap(addr, size);
    return;
  }
  m->id = id;
  m->addr = addr;
  m->size = size;
  pthread_rwlock_wrlock(&maps_lock);
  m->next = maps;
  maps = m;
  pthread_rwlock_unlock(&maps_lock);
}

/* ---- opening blocks ---------------------------------------------------------------------- */
static void check_name(lua_State *L, const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > SHM_NAME_MAX || strchr(name, '/'))
    luaL_error(L, "SharedMemory: bad name '%s' (1..%d characters, no '/' after the first)", name, SHM_NAME_MAX);
}

static int open_error(lua_State *L, int err, const char *name) {
  if (err == EEXIST) return sb_error(L, "FileExistsError", "SharedMemory '%s' already exists", name);
  if (err == ENOENT) return sb_error(L, "FileNotFoundError", "no SharedMemory named '%s'", name);
  if (err == EACCES) return sb_error(L, "PermissionError", "SharedMemory '%s': permission denied", name);
  return sb_error(L, "OSError", "SharedMemory '%s': %s", name, strerror(err));
}

/* Create name (or a fresh random name when NULL): fd or raises. */
static int create_block(lua_State *L, const char *name, char *out, size_t size) {
  char path[SHM_NAME_MAX + 3];
  for (int tries = 0; tries < 100; tries++) {
    if (name) {
      snprintf(out, SHM_NAME_MAX + 2, "%s", name);
    } else {
      uint64_t r = (uint64_t)srt_now_ns() * 0x9E3779B97F4A7C15ull ^ ((uint64_t)getpid() << 32) ^
                   srt_counter_next(SRT_CNT_GENERIC) * 0xff51afd7ed558ccdull;
      snprintf(out, SHM_NAME_MAX + 2, "strand_%012llx", (unsigned long long)(r & 0xffffffffffffull));
    }
    snprintf(path, sizeof path, "/%s", out);
    int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
      if (ftruncate(fd, (off_t)size) != 0) {
        int err = errno;
        close(fd);
        shm_unlink(path);
        return sb_error(L, "OSError", "SharedMemory '%s': cannot size it to %I bytes: %s", out,
                        (lua_Integer)size, strerror(err));
      }
      return fd;
    }
    if (name || errno != EEXIST) return open_error(L, errno, out);
  }
  return sb_error(L, "OSError", "SharedMemory: cannot find a free name");
}

/* Attach to an existing block: fd, and its size in *size. */
static int attach_block(lua_State *L, const char *name, size_t *size, lua_Integer want) {
  char path[SHM_NAME_MAX + 3];
  snprintf(path, sizeof path, "/%s", name);
  int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return open_error(L, errno, name);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return open_error(L, err, name);
  }
  if (want > 0 && (lua_Integer)st.st_size != want) {
    close(fd);
    return sb_error(L, "ValueError", "SharedMemory '%s' has %I bytes, not the %I asked for", name,
                    (lua_Integer)st.st_size, want);
  }
  if (st.st_size <= 0) {
    close(fd);
    return sb_error(L, "ValueError", "SharedMemory '%s' is empty", name);
  }
  *size = (size_t)st.st_size;
  return fd;
}

static void *map_fd(lua_State *L, int fd, size_t size, const char *name) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) sb_error(L, "OSError", "SharedMemory '%s': cannot map it: %s", name, strerror(err));
  return p;
}

/* strand.SharedMemory{name=, create=, size=, track=} or (name, create, size) */
static int l_shm_new(lua_State *L) {
  const char *name = NULL;
  int create = 0, track = 1;
  lua_Integer size = 0;
  if (lua_istable(L, 1)) {
    lua_getfield(L, 1, "name");
    lua_getfield(L, 1, "create");
    lua_getfield(L, 1, "size");
    lua_getfield(L, 1, "track");
    if (!lua_isnil(L, -1)) track = lua_toboolean(L, -1);
    lua_pop(L, 1);
  } else {
    lua_settop(L, 3);
  }
  int base = lua_gettop(L) - 2; /* name, create, size at base .. base + 2 */
  if (!lua_isnil(L, base)) name = luaL_checkstring(L, base);
  create = lua_toboolean(L, base + 1);
  if (!lua_isnil(L, base + 2)) {
    int isint = 0;
    size = lua_tointegerx(L, base + 2, &isint);
    if (!isint || size < 0) return luaL_error(L, "SharedMemory: size must be a non-negative integer");
  }
  if (name && name[0] == '/') name++;
  if (name) check_name(L, name);
  if (!create && !name) return luaL_error(L, "SharedMemory: name is required to attach (or pass create=true)");
  if (create && size <= 0) return luaL_error(L, "SharedMemory: size must be positive to create a block");
  sb_shm *s = sb_new_obj(L, SB_T_SHM, sizeof *s);
  sb_push_handle(L, &s->h); /* freed by the GC if anything below fails */
  s->id = srt_counter_next(SRT_CNT_GENERIC);
  size_t real = (size_t)size;
  int fd;
  if (create) {
    fd = create_block(L, name, s->name, real);
    if (track) track_add(s->name);
  } else {
    snprintf(s->name, sizeof s->name, "%s", name);
    fd = attach_block(L, name, &real, size);
  }
  void *p = mmap(NULL, real, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) {
    if (create) {
      unlink_name(s->name);
      track_remove(s->name);
    }
    return sb_error(L, "OSError", "SharedMemory '%s': cannot map it: %s", s->name, strerror(err));
  }
  s->size = real;
  add_map(s->id, p, real);
  return 1;
}

/* This process's mapping of s, made on demand for a handle that came from
** another process; raises once s was closed here. Returns with the read
** lock held: release with pthread_rwlock_unlock(&maps_lock). */
static unsigned char *mapped(lua_State *L, sb_shm *s) {
  for (;;) {
    pthread_rwlock_rdlock(&maps_lock);
    mapping *m = find_map(s->id);
    if (m && !m->closed) return m->addr;
    pthread_rwlock_unlock(&maps_lock);
    if (m) sb_error(L, "ValueError", "SharedMemory '%s' is closed", s->name);
    size_t real;
    int fd = attach_block(L, s->name, &real, (lua_Integer)s->size);
    void *p = map_fd(L, fd, real, s->name);
    pthread_rwlock_wrlock(&maps_lock);
    int raced = find_map(s->id) != NULL;
    pthread_rwlock_unlock(&maps_lock);
    if (raced) munmap(p, real);
    else add_map(s->id, p, real);
  }
}

static void check_range(lua_State *L, sb_shm *s, lua_Integer off, lua_Integer len, const char *what) {
  if (off < 0 || len < 0 || (lua_Unsigned)off > s->size || (lua_Unsigned)len > s->size - (lua_Unsigned)off)
    luaL_error(L, "SharedMemory:%s: %I bytes at offset %I are outside the block (size %I)", what, len, off,
               (lua_Integer)s->size);
}

/* read([offset [, len]]): bytes; offset from 0, len to the end by default. */
static int l_read(lua_State *L) {
  sb_shm *s = check_shm(L, 1);
  lua_Integer off = luaL_optinteger(L, 2, 0);
  lua_Integer len = luaL_optinteger(L, 3, off >= 0 && (lua_Unsigned)off <= s->size ? (lua_Integer)s->size - off : 0);
  check_range(L, s, off, len, "read");
  luaL_Buffer b;
  char *dst = luaL_buffinitsize(L, &b, (size_t)len);
  unsigned char *p = mapped(L, s);
  memcpy(dst, p + off, (size_t)len);
  pthread_rwlock_unlock(&maps_lock);
  luaL_pushresultsize(&b, (size_t)len);
  return 1;
}

/* write(offset, s): copy s into the block at offset. */
static int l_write(lua_State *L) {
  sb_shm *s = check_shm(L, 1);
  lua_Integer off = luaL_checkinteger(L, 2);
  size_t len;
  const char *src = luaL_checklstring(L, 3, &len);
  check_range(L, s, off, (lua_Integer)len, "write");
  unsigned char *p = mapped(L, s);
  memcpy(p + off, src, len);
  pthread_rwlock_unlock(&maps_lock);
  return 0;
}

static void unmap_here(uint64_t id, int forget) {
  pthread_rwlock_wrlock(&maps_lock);
  mapping **pp = &maps;
  while (*pp && (*pp)->id != id) pp = &(*pp)->next;
  mapping *m = *pp;
  if (m && !m->closed && m->addr) munmap(m->addr, m->size);
  if (m) m->closed = 1;
  if (m && forget) {
    *pp = m->next;
    free(m);
  }
  pthread_rwlock_unlock(&maps_lock);
}

/* close(): end this process's access (the block and other processes' stay). */
static int l_close(lua_State *L) {
  sb_shm *s = check_shm(L, 1);
  pthread_rwlock_rdlock(&maps_lock);
  mapping *m = find_map(s->id);
  int mine = m != NULL;
  pthread_rwlock_unlock(&maps_lock);
  if (mine) unmap_here(s->id, 0);
  else { /* never mapped here: remember it is closed here too */
    add_map(s->id, NULL, 0);
    unmap_here(s->id, 0);
  }
  return 0;
}

/* unlink(): remove the name; mappings stay valid until closed. */
static int l_unlink(lua_State *L) {
  sb_shm *s = check_shm(L, 1);
  char path[SHM_NAME_MAX + 3];
  snprintf(path, sizeof path, "/%s", s->name);
  if (shm_unlink(path) != 0) {
    if (errno == ENOENT)
      return sb_error(L, "FileNotFoundError", "SharedMemory '%s' is not there to unlink (unlinked already?)", s->name);
    return open_error(L, errno, s->name);
  }
  track_remove(s->name);
  return 0;
}

static int g_name(lua_State *L) {
  lua_pushstring(L, check_shm(L, 1)->name);
  return 1;
}

static int g_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_shm(L, 1)->size);
  return 1;
}

static int shm_tostring(lua_State *L) {
  sb_shm *s = check_shm(L, 1);
  lua_pushfstring(L, "SharedMemory('%s', size=%I)", s->name, (lua_Integer)s->size);
  return 1;
}

static void shm_destroy(srt_obj *o) { unmap_here(((sb_shm *)o)->id, 1); }

static const luaL_Reg shm_methods[] = {
    {"read", l_read}, {"write", l_write}, {"close", l_close}, {"unlink", l_unlink}, {NULL, NULL}};
static const luaL_Reg shm_getters[] = {{"name", g_name}, {"size", g_size}, {NULL, NULL}};

static const sb_type shm_type = {SB_T_SHM, "strand.SharedMemory", shm_methods, shm_getters, NULL,
                                 l_close,   shm_tostring,          NULL,        shm_destroy};

static void shm_once(void) {
  tracker_init();
  pthread_atfork(NULL, NULL, maps_atfork_child);
}

void sb_open_shm(lua_State *L) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, shm_once);
  sb_register_type(&shm_type);
  sb_setfn(L, "SharedMemory", l_shm_new);
}

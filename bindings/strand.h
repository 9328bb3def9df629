/*
** strand.h — the public embedding API of strand (prefix strand_).
**
** A host calls strand_init() once, early (before it forks or starts threads
** that use strand), opens strand into its own lua_State with strand_openlibs,
** runs code, and calls strand_shutdown() at the end. strand_set_state_hook
** registers a function that runs in every new worker state (threads, pool and
** executor workers), so the host's own C libraries are there too.
*/
#ifndef STRAND_H
#define STRAND_H

#include <lua.h>

#define STRAND_VERSION "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* Map the shared arena and install strand's signal handling. Idempotent.
** Returns 0, or an errno value when the arena cannot be mapped. */
int strand_init(void);

/* luaL_openlibs, then strand as the global `strand` and in package.loaded. */
void strand_openlibs(lua_State *L);

/* The module's opener, for luaL_requiref or package.preload. */
int luaopen_strand(lua_State *L);

/* Run a file (NULL: stdin) or a string. Returns LUA_OK, or an error code with
** the error message and traceback on the stack (as luaL_dofile does). */
int strand_dofile(lua_State *L, const char *path);
int strand_dostring(lua_State *L, const char *chunk, const char *name);

/* lua_pcall with a message handler that adds the traceback (and keeps a
** strand.Error's fields). */
int strand_pcall(lua_State *L, int nargs, int nresults);

/* Called with each new worker state after the standard libraries and strand
** are open; push nothing, return nothing. */
typedef void (*strand_state_hook)(lua_State *L, void *ud);
void strand_set_state_hook(strand_state_hook fn, void *ud);

/* End of program: join non-daemon threads and processes, end daemon ones.
** With cancel_all, every thread is cancelled and every child terminated
** (what Ctrl-C does). Safe to call more than once. */
void strand_shutdown(int cancel_all);

/* Route SIGINT to the calling (main) thread as a KeyboardInterrupt error in
** Lua, even while it is blocked in a strand wait. The CLI calls it. */
void strand_catch_sigint(lua_State *L);

#ifdef __cplusplus
}
#endif
#endif

/*
** main.c — the `strand` command: runs a Lua script as lua5.4 does, with
** strand loaded as the global `strand`, then joins what is still running.
** Written on the public embedding API only.
**
**   strand [-v] [-e stat] [-l name] [--] [script | -] [args]
*/
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strand.h"

static const char *progname = "strand";

static void usage(void) {
  fprintf(stderr,
          "usage: %s [options] [script [args]]\n"
          "  -e stat   execute string 'stat'\n"
          "  -l name   require library 'name' into global 'name'\n"
          "  -v        show version information\n"
          "  --        stop handling options\n"
          "  -         execute stdin and stop handling options\n",
          progname);
}

/* Print an error the way lua.c does; returns whether it was a Ctrl-C. */
static int report(lua_State *L, int status) {
  if (status == LUA_OK) return 0;
  int keyboard = 0;
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_getfield(L, -1, "kind");
    keyboard = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "KeyboardInterrupt") == 0;
    lua_pop(L, 1);
  }
  const char *msg = luaL_tolstring(L, -1, NULL);
  fprintf(stderr, "%s: %s\n", progname, keyboard ? "KeyboardInterrupt" : msg);
  fflush(stderr);
  lua_pop(L, 2);
  return keyboard ? 2 : 1;
}

static int dostring(lua_State *L, const char *s, const char *name) {
  return report(L, strand_dostring(L, s, name));
}

static int dolibrary(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushstring(L, name);
  int st = lua_pcall(L, 1, 1, 0);
  if (st == LUA_OK) lua_setglobal(L, name);
  return report(L, st);
}

/* arg table as lua.c builds it: script at 0, options below, args above. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int run_script(lua_State *L, char **argv, int argc, int script) {
  const char *fname = argv[script];
  if (strcmp(fname, "-") == 0 && strcmp(argv[script - 1], "--") != 0) fname = NULL;
  int st = luaL_loadfile(L, fname);
  if (st == LUA_OK) {
    int n = argc - script - 1;
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
    st = strand_pcall(L, n, 0);
  }
  return report(L, st);
}

int main(int argc, char **argv) {
  if (argv[0] && argv[0][0]) progname = argv[0];
  if (strand_init() != 0) {
    fprintf(stderr, "%s: cannot map the shared arena\n", progname);
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines, even into a pipe */
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", progname);
    return 1;
  }
  strand_openlibs(L);
  strand_catch_sigint(L);
  int script = 0, status = 0, has_e = 0;
  for (int i = 1; i < argc && !status; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0) {
      script = i;
      break;
    }
    if (strcmp(a, "--") == 0) {
      if (i + 1 < argc) script = i + 1;
      break;
    }
    if (strcmp(a, "-v") == 0) {
      printf("strand %s (%s)\n", STRAND_VERSION, LUA_RELEASE);
    } else if (a[1] == 'e' || a[1] == 'l') {
      const char *v = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v) {
        usage();
        status = 1;
        break;
      }
      if (a[1] == 'e') {
        has_e = 1;
        status = dostring(L, v, "=(command line)");
      } else {
        status = dolibrary(L, v);
      }
    } else {
      fprintf(stderr, "%s: unrecognized option '%s'\n", progname, a);
      usage();
      status = 1;
    }
  }
  if (!status) {
    if (script) {
      create_arg_table(L, argv, argc, script);
      status = run_script(L, argv, argc, script);
    } else if (!has_e && argc <= 1) {
      if (isatty(0)) {
        usage();
        status = 1;
      } else {
        char *dash[] = {argv[0], "-"};
        status = run_script(L, dash, 2, 1);
      }
    }
  }
  strand_shutdown(status == 2);
  lua_close(L);
  return status == 2 ? 130 : status;
}

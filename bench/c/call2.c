/* Baseline (b) for lock_uncontended: a Lua loop calling two empty C functions
 * per iteration. Two forms, both ns per pair (loop overhead included, as it is
 * in the strand bench):
 *   c_call2        local a, b = empty, empty; for i = 1, N do a() b() end
 *   c_call2_method o:acquire() o:release() on a full userdata whose metatable
 *                  __index table holds two empty C functions (the shape of a
 *                  strand Lock method call). */
#include "bench_common.h"
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>

static int empty(lua_State *L) { (void)L; return 0; }

static const char *script =
    "local n, obj = ...\n"
    "local a, b = empty, empty\n"
    "local clock = clock\n"
    "for i = 1, 100000 do a() b() end\n"
    "local t0 = clock()\n"
    "for i = 1, n do a() b() end\n"
    "local t1 = clock() - t0\n"
    "for i = 1, 100000 do obj:acquire() obj:release() end\n"
    "t0 = clock()\n"
    "for i = 1, n do obj:acquire() obj:release() end\n"
    "local t2 = clock() - t0\n"
    "return t1, t2\n";

static int l_clock(lua_State *L) { lua_pushnumber(L, bench_now()); return 1; }

int main(int argc, char **argv)
{
    long n = bench_iters(argc, argv, 20000000);
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_register(L, "empty", empty);
    lua_register(L, "clock", l_clock);
    if (luaL_loadstring(L, script) != LUA_OK) { fprintf(stderr, "%s\n", lua_tostring(L, -1)); return 1; }
    lua_pushinteger(L, n);
    lua_newuserdatauv(L, 16, 0);
    luaL_newmetatable(L, "bench.obj");
    lua_newtable(L);
    lua_pushcfunction(L, empty); lua_setfield(L, -2, "acquire");
    lua_pushcfunction(L, empty); lua_setfield(L, -2, "release");
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) { fprintf(stderr, "%s\n", lua_tostring(L, -1)); return 1; }
    bench_emit("c_call2", lua_tonumber(L, -2) / n * 1e9, "ns/op");
    bench_emit("c_call2_method", lua_tonumber(L, -1) / n * 1e9, "ns/op");
    lua_close(L);
    return 0;
}

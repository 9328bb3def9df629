-- Seed 004 ("What problem did the GIL solve"): Python prints sys.getrefcount
-- of a string (4, then 5 after a second name refers to it).
-- Lua has no reference counts to print: it frees memory with a tracing
-- collector, so there is no per-object counter for threads to race on and
-- nothing like the GIL to protect one -- which is what lets every strand thread
-- run its own lua_State in parallel. (strand's own handles -- Lock, Queue,
-- Value... -- are reference counted across the process tree, inside the runtime.)
-- What can be shown is the property refcounts give Python: an object lives while
-- some name refers to it, and is freed once none does. A weak table watches it.
local strand = strand or require "strand" -- unused: plain Lua

local watch = setmetatable({}, {__mode = "k"}) -- does not keep its keys alive
local function alive() return next(watch) ~= nil end

local geek_var = {"Geek"}
watch[geek_var] = true
local string_gfg = geek_var -- a second reference
print("referenced by geek_var and string_gfg:", alive())

geek_var = nil
collectgarbage()
print("referenced by string_gfg only:", alive())

string_gfg = nil
collectgarbage()
print("no reference left, after a collection:", alive())

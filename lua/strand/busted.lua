--[[
strand.busted — busted specs for concurrent code that cannot hang the suite.

    local sb = require "strand.busted"   -- in a spec file or a --helper

Once required, every `it` of the run is guarded:

  * a time limit (30 s unless configured): a test still running then is
    cancelled where it waits, and fails with a report of what every thread
    was doing (blocked in a strand wait or running, on which object, at
    which line) and what each child process was doing;
  * threads, processes (pools' workers included) and arena objects the test
    leaves behind fail the test, and are cancelled / terminated so the next
    test starts clean.

The checks run after the test body and its `finally`, before `after_each`:
clean up inside the test (`<close>` variables, `finally(fn)`, join/close
before returning).

  sb.defaults{timeout=, grace=, join_grace=, leaks=, arena=}  whole run
  sb.configure{...}          options for the spec file that calls it
  sb.timeout(seconds)        inside a test: new limit, counted from now
  sb.allow_leftovers()       inside a test: don't fail on what it leaves
                             (it is still cleaned up)
  sb.run(fn, opts, ...)      the same guard outside busted -> ok, message
  sb.report()                what every thread and child is doing now

The watchdog behind the time limit is strand.debug_watchdog (C, in
bindings/l_debug.c): a thread without a Lua state that interrupts the test's
thread as thread:cancel() would; if the test still does not stop `grace`
seconds later (stuck in a C call no interrupt reaches), it prints its report
and ends the process rather than hang.
]]

local strand = require "strand"

-- busted's insulation forgets modules loaded by a spec file when the file
-- ends; the registry keeps one instance per state, so its busted hooks are
-- installed once.
local REGISTRY_KEY = "strand.busted"
local registry = debug.getregistry()
if registry[REGISTRY_KEY] then return registry[REGISTRY_KEY] end

local M = {}
registry[REGISTRY_KEY] = M

local defaults = {
  timeout = tonumber(os.getenv("STRAND_BUSTED_TIMEOUT")) or 30,
  -- multiplies every time below (sanitizer builds run 5-20x slower)
  scale = tonumber(os.getenv("STRAND_BUSTED_SCALE")) or 1,
  grace = 10,       -- after the limit, before the whole run is abandoned
  join_grace = 1,   -- how long leftovers get to end on their own
  leaks = true,     -- threads and processes left running fail the test
  arena = true,     -- arena blocks left allocated (after a full GC) fail it,
                    -- in tests that did not fork (see arena_leak)
}
local file_options = {} -- spec file -> options given with sb.configure
local current           -- the guard of the running test

local MODULE_SOURCE = debug.getinfo(1, "S").source

-- ---- options ---------------------------------------------------------------

local function check_options(opts, level)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error("strand.busted: options must be a table", level + 1) end
  for k, v in pairs(opts) do
    local d = defaults[k]
    if d == nil then error("strand.busted: unknown option '" .. tostring(k) .. "'", level + 1) end
    if type(v) ~= type(d) then
      error(("strand.busted: option '%s' must be a %s"):format(k, type(d)), level + 1)
    end
    if type(v) == "number" and not (v >= 0) then
      error(("strand.busted: option '%s' must be >= 0"):format(k), level + 1)
    end
  end
  return opts
end

local function normalize(path)
  return (path:gsub("^@", ""):gsub("^%./", ""))
end

local function merged(...)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  for i = 1, select("#", ...) do
    for k, v in pairs(select(i, ...) or {}) do o[k] = v end
  end
  return o
end

function M.defaults(opts)
  for k, v in pairs(check_options(opts, 2)) do defaults[k] = v end
end

function M.configure(opts)
  check_options(opts, 2)
  local src = normalize(debug.getinfo(2, "S").source)
  file_options[src] = merged(file_options[src], opts)
end

-- ---- what is running -----------------------------------------------------------

local function active_children()
  local mp = strand.multiprocessing
  local f = mp and mp.active_children
  return f and f() or {}
end

local function thread_key(t)
  return t.ident or tostring(t)
end

local function gc()
  collectgarbage()
  collectgarbage()
end


-- A process's state letter and kernel wait channel, from /proc.
local function proc_state(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return "ended" end
  local stat = f:read("a") or ""
  f:close()
  local letter = stat:match("%) (%a)")
  local names = {R = "running", S = "sleeping", D = "in uninterruptible I/O",
                 T = "stopped", t = "traced", Z = "a zombie", X = "dead"}
  local s = names[letter] or ("state " .. tostring(letter))
  f = io.open("/proc/" .. pid .. "/wchan")
  local wchan = f and f:read("a")
  if f then f:close() end
  if wchan and wchan ~= "" and wchan ~= "0" then
    s = s .. (wchan:find("futex") and " in a futex wait (a strand wait)" or (" in " .. wchan))
  end
  return s
end

-- The frames of a traceback that say where code was, without the frames
-- of this module and of busted below it.
local function frames(traceback, max)
  local out = {}
  for line in (traceback or ""):gmatch("[^\n]+") do
    line = line:gsub("^%s+", "")
    if line:find(MODULE_SOURCE:sub(2), 1, true) or line:find("in function 'xpcall'", 1, true) then
      break
    end
    if line ~= "stack traceback:" and line ~= "[C]: in ?" and not line:find("^%(%.%.%.") then
      out[#out + 1] = line
      if #out >= (max or 4) then break end
    end
  end
  return out
end

local function thread_names()
  local names = {}
  for _, t in ipairs(strand.threading.enumerate()) do
    if t.native_id then names[t.native_id] = t.name end
  end
  return names
end

local function describe_record(r, names)
  local name = names[r.tid] or (r.current and "MainThread") or "strand state"
  local what = r.waiting and "blocked in a strand wait" or "running"
  if r.waiting_on then what = what .. " on " .. r.waiting_on end
  if r.interrupt then what = what .. " (" .. r.interrupt .. " pending)" end
  return ("%s (tid %d): %s"):format(name, r.tid, what)
end

function M.report()
  local names, lines = thread_names(), {"threads:"}
  for _, r in ipairs(strand.debug_threads()) do
    lines[#lines + 1] = "  " .. describe_record(r, names)
  end
  local children = active_children()
  if #children > 0 then lines[#lines + 1] = "processes:" end
  for _, p in ipairs(children) do
    lines[#lines + 1] = ("  %s (pid %d): %s"):format(p.name, p.pid, proc_state(p.pid))
  end
  return table.concat(lines, "\n")
end

-- ---- leftovers ----------------------------------------------------------------

-- Wait until `cond()` holds or `seconds` pass. Only for what has no handle
-- to wait on (a state of a thread that is not a strand.Thread, arena blocks
-- whose last reference a finishing thread is dropping): short sleeps on a
-- failure path, never in a passing test's way.
local function settle(cond, seconds)
  local deadline = strand.monotonic() + seconds
  while not cond() and strand.monotonic() < deadline do strand.sleep(0.005) end
  return cond()
end

-- A thread that has ended stays listed for a moment while it lets go of its
-- object; counting arena blocks then would count it.
local function ended_threads_gone()
  for _, t in ipairs(strand.threading.enumerate()) do
    if not t:is_alive() then return false end
  end
  return true
end

local function arena_blocks()
  settle(ended_threads_gone, 1)
  gc()
  return strand.arena_stats().blocks
end

local function snapshot(opts)
  local w = {threads = {}, tids = {}, children = {}, child_pids = {}}
  for _, t in ipairs(strand.threading.enumerate()) do
    if t:is_alive() then w.threads[thread_key(t)] = true end
  end
  for _, r in ipairs(strand.debug_threads()) do w.tids[r.tid] = true end
  for _, p in ipairs(active_children()) do w.children[p.pid] = true end
  for _, c in ipairs(strand.debug_children()) do w.child_pids[c.pid] = true end
  if opts.arena then w.blocks = arena_blocks() end
  w.forks = strand.debug_forks()
  return w
end

local function find_leftovers(g)
  local o, before, grace = g.opts, g.before, g.fired and 0 or g.opts.join_grace * g.opts.scale
  local left = {threads = {}, states = {}, children = {}, others = {}}
  for _, t in ipairs(strand.threading.enumerate()) do
    if not before.threads[thread_key(t)] and t:is_alive() and not t:join(grace) then
      left.threads[#left.threads + 1] = t
    end
  end
  -- states on threads that are not strand.Threads (executor workers...);
  -- the registry is read first: a thread registers after its tid is known
  local function extra_states()
    local records, known, extra = strand.debug_threads(), {}, {}
    for _, t in ipairs(strand.threading.enumerate()) do
      if t.native_id then known[t.native_id] = true end
    end
    for _, r in ipairs(records) do
      if not before.tids[r.tid] and not known[r.tid] then extra[#extra + 1] = r end
    end
    return extra
  end
  settle(function() return #extra_states() == 0 end, grace)
  left.states = extra_states()
  local handled = {}
  for _, p in ipairs(active_children()) do
    handled[p.pid] = true
    if not before.children[p.pid] and p:is_alive() and not p:join(grace) then
      left.children[#left.children + 1] = p
    end
  end
  -- children that are not strand.Processes: the servers of pools and
  -- process executors, anything else the test forked
  local function other_children()
    local out = {}
    for _, c in ipairs(strand.debug_children()) do
      if not before.child_pids[c.pid] and not handled[c.pid] then out[#out + 1] = c end
    end
    return out
  end
  settle(function() return #other_children() == 0 end, grace)
  left.others = other_children()
  left.any = #left.threads + #left.states + #left.children + #left.others > 0
  return left
end

-- Stop what was left: cancel threads (a Cancelled error where they wait),
-- terminate then kill processes. Notes where each one was.
local function clean_up(g, left)
  local wait = 2 * g.opts.scale
  local notes = {}
  local names = thread_names()
  for _, t in ipairs(left.threads) do
    local note = {name = t.name, tid = t.native_id}
    t:cancel()
    if t:join(wait) then
      local e = t.error
      note.where = frames(type(e) == "table" and e.traceback or nil, 3)
    else
      note.stuck = true
    end
    notes[#notes + 1] = note
  end
  for _, r in ipairs(left.states) do
    strand.debug_cancel(r.tid)
    notes[#notes + 1] = {name = names[r.tid] or "strand state", tid = r.tid}
  end
  if #left.states > 0 then
    settle(function()
      for _, r in ipairs(strand.debug_threads()) do
        for _, s in ipairs(left.states) do if s.tid == r.tid then return false end end
      end
      return true
    end, wait)
  end
  for _, p in ipairs(left.children) do
    local note = {name = p.name, pid = p.pid, state = proc_state(p.pid)}
    p:terminate()
    if not p:join(wait) then p:kill(); p:join(wait) end
    notes[#notes + 1] = note
  end
  if #left.others > 0 then
    local pending = {}
    for _, c in ipairs(left.others) do
      pending[c.pid] = true
      notes[#notes + 1] = {name = c.name, pid = c.pid, state = proc_state(c.pid), other = true}
    end
    local function gone()
      for _, c in ipairs(strand.debug_children()) do if pending[c.pid] then return false end end
      return true
    end
    -- a pool or executor nobody references ends its workers when collected
    gc()
    for _, how in ipairs{"none", "term", "kill"} do
      if how ~= "none" then for pid in pairs(pending) do strand.debug_kill(pid, how) end end
      if settle(gone, wait) then break end
    end
  end
  return notes
end

local function describe_leftovers(notes)
  local lines = {}
  for _, n in ipairs(notes) do
    if n.other then
      lines[#lines + 1] = ("  child process %s (pid %d), not a strand.Process (a Pool's or an executor's?): %s; ended")
                          :format(n.name, n.pid, n.state)
    elseif n.pid then
      lines[#lines + 1] = ("  process %s (pid %d): %s; terminated"):format(n.name, n.pid, n.state)
    else
      lines[#lines + 1] = ("  thread %s (tid %s)%s"):format(n.name, tostring(n.tid),
        n.stuck and ": did not stop when cancelled" or "; cancelled")
      for _, f in ipairs(n.where or {}) do lines[#lines + 1] = "      at " .. f end
    end
  end
  return table.concat(lines, "\n")
end

-- ---- the guard -------------------------------------------------------------------

local Guard = {}
Guard.__index = Guard

local function start_guard(opts, where)
  local g = setmetatable({opts = opts, where = where}, Guard)
  g.before = snapshot(opts)
  g.limit = opts.timeout * opts.scale
  g.wd = strand.debug_watchdog(g.limit, opts.grace * opts.scale)
  g.prev = current
  current = g
  return g
end

-- Call fn, keeping where an error was raised (busted would otherwise see
-- the line this module re-raises it from).
function Guard:call(fn, ...)
  local function handler(e)
    if self.err_where == nil then
      for level = 2, 50 do
        local info = debug.getinfo(level, "Sl")
        if not info then break end
        if info.what ~= "C" and info.source ~= MODULE_SOURCE
           and not info.short_src:find("luassert[/\\]") and not info.short_src:find("busted[/\\]") then
          self.err_where = info.short_src .. ":" .. info.currentline
          break
        end
      end
      self.err_traceback = debug.traceback("", 2)
    end
    return e
  end
  return xpcall(fn, handler, ...)
end

local function timeout_report(g, notes)
  local names = thread_names()
  for _, n in ipairs(notes) do if n.tid then names[n.tid] = names[n.tid] or n.name end end
  local lines = {("test timed out after %g s (strand.busted cancelled it). At the time limit:")
                 :format(g.limit)}
  local where_of = {}
  for _, n in ipairs(notes) do if n.tid then where_of[n.tid] = n end end
  for _, r in ipairs(g.wd:snapshot() or {}) do
    lines[#lines + 1] = "  " .. describe_record(r, names)
    local fr = r.current and frames(g.err_traceback, 3) or (where_of[r.tid] or {}).where or {}
    for _, f in ipairs(fr) do lines[#lines + 1] = "      at " .. f end
  end
  local procs = {}
  for _, n in ipairs(notes) do
    if n.pid then procs[#procs + 1] = ("  process %s (pid %d): %s"):format(n.name, n.pid, n.state) end
  end
  if #procs > 0 then lines[#lines + 1] = "Processes:"; table.move(procs, 1, #procs, #lines + 1, lines) end
  if #notes > 0 then
    lines[#lines + 1] = ("Cleaned up %d thread(s)/process(es) the test had started."):format(#notes)
  end
  return table.concat(lines, "\n")
end

local function arena_leak(g)
  if not g.opts.arena or g.before.blocks == nil then return nil end
  -- A forked child exits still holding the references it took (to what it
  -- received, made or decoded): after a fork the count is not the test's.
  if strand.debug_forks() ~= g.before.forks then return nil end
  local n
  settle(function() n = arena_blocks(); return n <= g.before.blocks end, g.opts.join_grace * g.opts.scale)
  if n <= g.before.blocks then return nil end
  return ("the test left %d arena block(s) allocated after a full garbage collection "
          .. "(strand objects or messages still referenced, or a reference leak); "
          .. "call strand.busted.allow_leftovers() in the test if that is intended")
         :format(n - g.before.blocks)
end

-- End the guard: returns ok, err where err is the test's own error, a
-- timeout report, or a leftovers report.
function Guard:finish(ok, err)
  self.fired = self.wd:cancel()
  current = self.prev
  local left = find_leftovers(self)
  local notes = left.any and clean_up(self, left) or {}
  local where = self.err_where or self.where or "?"
  if self.fired then
    return false, where .. ": " .. timeout_report(self, notes)
  end
  if not ok then
    return false, err, #notes > 0 and ("strand.busted: also cleaned up:\n" .. describe_leftovers(notes)) or nil
  end
  if left.any and self.opts.leaks and not self.allow then
    return false, ("%s: strand.busted: the test left %d thread(s)/process(es) running:\n%s\n"
                   .. "Join threads, and close pools and executors, inside the test "
                   .. "(<close> variables or finally)."):format(self.where or "?", #notes, describe_leftovers(notes))
  end
  local leak = not self.allow and arena_leak(self)
  if leak then return false, (self.where or "?") .. ": strand.busted: " .. leak end
  return true
end

local function location_of(fn)
  local info = debug.getinfo(fn, "S")
  return info.short_src .. ":" .. info.linedefined
end

function M.run(fn, opts, ...)
  if type(fn) ~= "function" then error("strand.busted.run: function expected", 2) end
  local g = start_guard(merged(check_options(opts, 2)), location_of(fn))
  local ok, err = g:call(fn, ...)
  local fok, ferr, extra = g:finish(ok, err)
  if not fok and extra and type(ferr) == "string" then ferr = ferr .. "\n" .. extra end
  return fok, ferr
end

function M.timeout(seconds)
  if not current then error("strand.busted.timeout: no guarded test is running", 2) end
  if type(seconds) ~= "number" or not (seconds >= 0) then
    error("strand.busted.timeout: seconds must be a non-negative number", 2)
  end
  current.limit = seconds * current.opts.scale
  current.wd:reset(current.limit)
end

function M.allow_leftovers()
  if not current then error("strand.busted.allow_leftovers: no guarded test is running", 2) end
  current.allow = true
end

-- ---- busted integration ---------------------------------------------------------

local function file_of(busted, element)
  local e = element
  while e do
    if e.descriptor == "file" then return normalize(e.name or "") end
    e = busted.parent(e)
  end
end

-- The error busted should see: the test's own error, unchanged where busted
-- needs it unchanged (assertion failures, pending), with a note about what
-- was cleaned up; otherwise a message carrying the line it came from.
local function rethrowable(g, err, extra)
  local mt = getmetatable(err)
  local kind = type(mt) == "table" and rawget(mt, "__type")
  if kind == "failure" or kind == "pending" then
    if extra and kind == "failure" and type(err.message) == "string" then
      err.message = err.message .. "\n" .. extra
    end
    return err
  end
  local s = (type(err) == "string" or (type(mt) == "table" and mt.__tostring)) and tostring(err)
  if not s then return err end
  if not s:match("^[^\n]-:%d+: ") then s = (g.err_where or g.where or "?") .. ": " .. s end
  return extra and (s .. "\n" .. extra) or s
end

local function install_busted()
  local ok, busted = pcall(require, "busted")
  if not ok or type(busted) ~= "table" or not busted.subscribe then return false end
  busted.subscribe({"test", "start"}, function(element)
    if element.descriptor ~= "it" then return nil, true end
    local body = element.strand_busted_body or element.run
    element.strand_busted_body = body
    local finally_fn
    if element.env then element.env.finally = function(fn) finally_fn = fn end end
    local trace = element.trace
    local where = trace and trace.short_src and (trace.short_src .. ":" .. trace.currentline)
    element.run = function(...)
      local file = file_of(busted, element)
      local g = start_guard(merged(file and file_options[file]), where)
      local ok, err = g:call(body, ...)
      if finally_fn then
        local fn = finally_fn
        finally_fn = nil -- or the closure would keep what it references alive
        local fok, ferr = g:call(fn)
        if ok and not fok then ok, err = fok, ferr end
      end
      local gok, gerr, extra = g:finish(ok, err)
      if not gok then error(rethrowable(g, gerr, extra), 0) end
    end
    return nil, true
  end)
  return true
end

M.installed = install_busted()
strand.threading.main_thread() -- made once, so no test sees it as a leak
return M

-- docs/api.md against the module as it really is, so the reference cannot
-- drift: every public name of strand, of its views and of strand.busted, and
-- every method and field of every kind of object strand makes, must appear
-- in a code span of docs/api.md; and what the reference writes as
-- `strand.X(...)` must, where X exists, be callable. Names the reference
-- plans but the module does not have yet are not checked.
--
-- New functions and views are found by walking the module. New kinds of
-- object are found through MAKERS below (one line each) and, for a
-- constructor MAKERS does not know, by calling it with no arguments.
local strand = require "strand"

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

local DOC = read("docs/api.md")

-- Every identifier inside a `code span` or a fenced block of the reference.
local documented = {}
do
  local text = DOC:gsub("```.-```", function(block) return "`" .. block:gsub("`", "") .. "`" end)
  for span in text:gmatch("`([^`]+)`") do
    for word in span:gmatch("[%a_][%w_]*") do documented[word] = true end
  end
end

local HOW = "undocumented: write these names in docs/api.md, inside `code spans`"

local function missing_from_doc(names)
  local out = {}
  for name in pairs(names) do
    if type(name) == "string" and not name:find("^_") and not documented[name] then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end

local function keys(t)
  local s = {}
  for k in pairs(t) do s[k] = true end
  return s
end

-- The methods and fields of an object: its metatable's __index, as a table
-- or as strand's handle __index closure (methods, getters in upvalues).
local function members(obj)
  local mt = getmetatable(obj)
  local index = type(mt) == "table" and rawget(mt, "__index")
  local names = {}
  if type(index) == "table" then
    for k in pairs(index) do names[k] = true end
  elseif type(index) == "function" then
    for i = 1, 8 do
      local name, t = debug.getupvalue(index, i)
      if name == nil then break end
      if type(t) == "table" then for k in pairs(t) do names[k] = true end end
    end
  end
  return names
end

-- How to make one of each kind of object, and how to let it go. Only the
-- ones whose constructor exists are made.
local function method(o, name)
  local ok, f = pcall(function() return o[name] end)
  return ok and type(f) == "function" and f or nil
end

local function close_all(...)
  for _, o in ipairs{...} do
    for _, m in ipairs{"terminate", "shutdown", "close", "unlink"} do
      local f = method(o, m)
      if f then pcall(f, o) end
    end
    if method(o, "terminate") and method(o, "join") then pcall(o.join, o, 10) end
  end
end

local MAKERS = {
  Thread = function() return strand.Thread{target = function() end} end,
  Timer = function() return strand.threading.Timer(1, function() end) end,
  Lock = function() return strand.Lock() end,
  RLock = function() return strand.RLock() end,
  Semaphore = function() return strand.Semaphore(1) end,
  BoundedSemaphore = function() return strand.BoundedSemaphore(1) end,
  Event = function() return strand.Event() end,
  Condition = function() return strand.Condition() end,
  Barrier = function() return strand.Barrier(2) end,
  Queue = function() return strand.Queue() end,
  JoinableQueue = function() return strand.JoinableQueue() end,
  SimpleQueue = function() return strand.SimpleQueue() end,
  LifoQueue = function() return strand.LifoQueue() end,
  PriorityQueue = function() return strand.PriorityQueue() end,
  Pipe = function() return strand.Pipe() end,
  Process = function() return strand.Process{target = function() end} end,
  Value = function() return strand.Value("i", 0) end,
  RawValue = function() return strand.RawValue("i", 0) end,
  Array = function() return strand.Array("i", 2) end,
  RawArray = function() return strand.RawArray("i", 2) end,
  shared_dict = function() return strand.shared.dict() end,
  shared_list = function() return strand.shared.list() end,
  shared_namespace = function() return strand.shared.Namespace() end,
  Manager = function() return strand.Manager() end,
  SharedMemory = function()
    return strand.SharedMemory{name = "strand-api-doc-" .. strand.getpid(), create = true, size = 64}
  end,
  Pool = function() return strand.Pool(1) end,
  ThreadPoolExecutor = function() return strand.ThreadPoolExecutor{max_workers = 1} end,
  ProcessPoolExecutor = function() return strand.ProcessPoolExecutor{max_workers = 1} end,
  Future = function()
    local ex = strand.ThreadPoolExecutor{max_workers = 1}
    local f = ex:submit(function() return 1 end)
    f:result(30)
    return f, ex
  end,
  AsyncResult = function()
    local pool = strand.Pool(1)
    local r = pool:apply_async(function() return 1 end, {})
    r:get(30)
    return r, pool
  end,
  debug_watchdog = function() return strand.debug_watchdog(60) end,
}
-- what a kind needs to exist before its maker can run
local NEEDS = {Future = "ThreadPoolExecutor", AsyncResult = "Pool", shared_namespace = "shared_namespace"}

describe("docs/api.md", function()
  it("documents every public function and constant of strand", function()
    assert.same({}, missing_from_doc(keys(strand)), HOW)
  end)

  it("documents every name of every view (threading, multiprocessing, queue, futures, shared)", function()
    for _, view in ipairs{"threading", "multiprocessing", "queue", "futures", "shared"} do
      local t = strand[view]
      if t then assert.same({}, missing_from_doc(keys(t)), "strand." .. view .. ": " .. HOW) end
    end
  end)

  it("documents the functions of strand.busted", function()
    assert.same({}, missing_from_doc(keys(require "strand.busted")), HOW)
  end)

  it("documents the methods and fields of every kind of object strand makes", function()
    local checked, missing = 0, {}
    local function check(kind, obj)
      local m = missing_from_doc(members(obj))
      if #m > 0 then missing[kind] = m end
      checked = checked + 1
    end
    for kind, make in pairs(MAKERS) do
      local needs = NEEDS[kind] or kind
      if strand[needs] ~= nil or strand.threading[needs] ~= nil or kind == "Thread" then
        local made = table.pack(pcall(make))
        assert(made[1], ("making a %s as the reference says failed: %s"):format(kind, tostring(made[2])))
        check(kind, made[2])
        close_all(table.unpack(made, 2, made.n))
      end
    end
    -- constructors added later, that MAKERS does not know yet
    for name, ctor in pairs(strand) do
      if type(name) == "string" and name:match("^%u") and MAKERS[name] == nil and type(ctor) == "function" then
        local ok, obj = pcall(ctor)
        if not ok then ok, obj = pcall(ctor, {}) end
        if ok and getmetatable(obj) then
          check(name, obj)
          close_all(obj)
        end
      end
    end
    assert.same({}, missing, HOW)
    assert.is_true(checked >= 2)
  end)

  it("writes as calls only what is callable, for the names that exist", function()
    local wrong = {}
    for path, call in DOC:gmatch("`strand%.([%a_][%w_%.]*)([%(%{]?)") do
      local v, ok = strand, true
      for part in path:gmatch("[^%.]+") do
        if type(v) ~= "table" then ok = false break end
        v = v[part]
      end
      if ok and v ~= nil and call ~= "" then
        local mt = getmetatable(v)
        if type(v) ~= "function" and not (mt and mt.__call) then wrong[#wrong + 1] = "strand." .. path end
      end
    end
    assert.same({}, wrong)
  end)
end)

-- Loaded by busted before every spec file (spec/run.sh passes --helper).
package.path = "lua/?.lua;spec/?.lua;" .. package.path
strand = strand or require "strand"

-- Every test runs guarded by strand.busted (lua/strand/busted.lua): a test
-- that blocks forever fails after its time limit with a report of what each
-- thread and process waits on, and threads, processes and arena objects a
-- test leaves behind fail it and are cleaned up. A spec file can change its
-- own limits with require("strand.busted").configure{timeout = ...}.
local guard = require "strand.busted"
-- sanitizer builds run everything several times slower
if os.getenv("SANITIZER") then guard.defaults{scale = 10} end

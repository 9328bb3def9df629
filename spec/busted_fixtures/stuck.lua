-- Run by spec/busted_helper_spec.lua: a test that swallows every cancel, so
-- only the watchdog's last resort (report, then exit 124) can end the run.
local strand = require "strand"
require("strand.busted").configure{timeout = 0.2, grace = 0.5, scale = 1}

describe("stuck", function()
  it("swallows every cancel", function()
    while true do pcall(strand.sleep, 10) end
  end)
end)

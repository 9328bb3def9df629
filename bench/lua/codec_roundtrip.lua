-- Codec round trip (strand.encode + strand.decode) of the 10,000-entry nested
-- table of bench/py/codec_roundtrip.py, repeated for 1 s.
local strand = strand or require "strand"
local t = {}
for i = 1, 10000 do
  t[i] = {id = i, name = "item-" .. i, value = i * 1.5, ok = i % 2 == 0,
          tags = {"a", "b", "c"}, pos = {x = i, y = -i}}
end
local size = #strand.encode(t)
for _ = 1, 3 do strand.decode(strand.encode(t)) end
local n, t0, dt, u = 0, strand.monotonic(), 0, nil
repeat
  u = strand.decode(strand.encode(t)); n = n + 1
  dt = strand.monotonic() - t0
until dt > 1.0
assert(u[10000].pos.y == -10000)
print(string.format("codec_roundtrip %.1f MB/s", size * n / dt / 1e6))
print(string.format("codec_roundtrip_rate %.1f rt/s", n / dt))

# Codec round trip (pickle dumps+loads, default protocol) of a 10,000-entry
# nested table; the exact shape is in bench/README.md and must be the same in
# bench/lua/codec_roundtrip.lua.
# codec_roundtrip: MB/s of encoded bytes (len(dumps) per round trip / time);
# codec_roundtrip_rate: round trips per second (format-independent comparison).
import pickle, time
def make():
    return [{"id": i, "name": "item-%d" % i, "value": i * 1.5, "ok": i % 2 == 0,
             "tags": ["a", "b", "c"], "pos": {"x": i, "y": -i}}
            for i in range(1, 10001)]
t = make()
size = len(pickle.dumps(t))
for _ in range(3): pickle.loads(pickle.dumps(t))
n = 0; t0 = time.perf_counter()
while True:
    s = pickle.dumps(t); u = pickle.loads(s); n += 1
    dt = time.perf_counter() - t0
    if dt > 1.0: break
assert u[9999]["pos"]["y"] == -10000
print(f"codec_roundtrip {size * n / dt / 1e6:.1f} MB/s")
print(f"codec_roundtrip_rate {n / dt:.1f} rt/s")

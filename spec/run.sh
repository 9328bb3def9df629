#!/bin/sh
# Runs the C tests of runtime/ and the busted specs, then prints one line:
# "N passed, N failed". busted runs inside the strand command itself, which
# is Lua 5.4 (the spec lua_version_spec checks it), so sanitizer builds cover
# the Lua side too. ONLY=c or ONLY=lua runs one half; SPECS=... picks files.
BUILD=${BUILD:-build}
export BUILD
# Let a deliberate segfault in a child kill it by the signal, as in a plain
# build, so exit codes are the same under the sanitizers.
export ASAN_OPTIONS="handle_segv=0:handle_abort=0:${ASAN_OPTIONS:-}"
export TSAN_OPTIONS="handle_segv=0:handle_abort=0:${TSAN_OPTIONS:-}"
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
count() { # count TAP lines of file $1
  p=$(grep -c '^ok ' "$1"); f=$(grep -c '^not ok ' "$1")
  pass=$((pass + p)); fail=$((fail + f))
}
if [ "$ONLY" != lua ]; then
  for t in "$BUILD"/ctest/test_*; do
    [ -x "$t" ] || continue
    if timeout 300 "$t" > "$tmp/c.out" 2>&1; then :; else
      echo "not ok - $t exited $?" >> "$tmp/c.out"; fi
    grep -E '^(not )?ok ' "$tmp/c.out" | grep '^not ok' | sed "s|^|$t: |"
    count "$tmp/c.out"
  done
fi
if [ "$ONLY" != c ]; then
  specs=${SPECS:-spec}
  STRAND_BIN="$BUILD/strand" LUA_CPATH="$BUILD/?.so;;" \
    timeout 1500 "$BUILD/strand" /usr/bin/busted --helper=spec/helper.lua -o TAP $specs > "$tmp/lua.out" 2>"$tmp/lua.err"
  rc=$?
  grep -A15 '^not ok' "$tmp/lua.out" | head -150
  count "$tmp/lua.out"
  if [ $rc -ne 0 ] && ! grep -q '^not ok' "$tmp/lua.out"; then
    echo "busted exited $rc without a failing test:"; tail -n 30 "$tmp/lua.err" "$tmp/lua.out"
    fail=$((fail + 1))
  fi
fi
echo "${SANITIZER:+$SANITIZER: }$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]

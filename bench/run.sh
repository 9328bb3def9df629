#!/usr/bin/env bash
# bench/run.sh: strand beside Python 3's stdlib and bare C, in one run.
#
#   bench/run.sh [JOB...]        (make bench calls it with no argument)
#
# For every job (bench/py/JOB.py, and bench/lua/JOB.lua when it exists) and
# every C baseline (bench/c/*.c, built into build/bench/), runs it REPEAT times
# and keeps the best value of each figure; blocking/handoff jobs run twice,
# pinned to one CPU (`taskset -c 0`) and unpinned (all CPUs). Prints a table:
# figure, CPUs, strand, python, unit, C baseline, strand-vs-python, strand-vs-C,
# target, and whether strand meets it. bench/README.md explains each figure.
#
# Environment: STRAND (default build/strand), PYTHON (python3), REPEAT (3),
# JOB_TIMEOUT (seconds per run, 180), CC (cc).
set -u
cd "$(dirname "$0")/.." || exit 1

STRAND=${STRAND:-build/strand}
PYTHON=${PYTHON:-python3}
REPEAT=${REPEAT:-3}
JOB_TIMEOUT=${JOB_TIMEOUT:-180}
CC=${CC:-cc}
OUT=build/bench
mkdir -p "$OUT"
RAW=$OUT/results.txt     # side mode figure value unit, one line per run
LOG=$OUT/log.txt         # everything the jobs printed
: >"$RAW"; : >"$LOG"
NCPU=$(nproc 2>/dev/null || echo 2)

# ---- jobs: NAME MODES REPS --------------------------------------------------
# MODES: "1 all" = pinned to one CPU and unpinned; "all" = unpinned only (CPU
# scaling needs both CPUs; single-threaded loops gain nothing from pinning).
# REPS: "r" = REPEAT runs, best kept; "1" = one run (it takes its own best-of).
JOBS="
thread_start      1,all r
countdown         all   1
codec_roundtrip   all   r
lock_uncontended  all   r
lock_contended    1,all r
event_pingpong    1,all r
process_start     1,all r
mpqueue           1,all r
queue_threads     1,all r
pipe_pingpong     1,all r
value_locked      1,all r
manager_dict      1,all r
pool_e2e          1,all r
pool_map          1,all r
tpe_submit        1,all r
ppe_submit        1,all r
pool_cpu          all   1
tpe_cpu           all   1
"

# ---- figures: FIGURE JOB PYREF CBASE TARGET ------------------------------------
# PYREF: the Python figure it is compared with (= means the same name).
# CBASE: C baseline figures (comma list; the ratio uses the first), - for none.
# TARGET (from the issues; ';' separated, all must hold, - for report only):
#   py>=N   strand is at least N times better than Python (rate, time or speedup)
#   C<=N    strand costs at most N times the C baseline
#   val>=N  strand's own value is at least N
FIGURES="
thread_start          thread_start     =  c_state_thread                     py>=1;C<=1.5
countdown_1t          countdown        =  -                                  -
countdown_2t          countdown        =  -                                  -
countdown_speedup     countdown        =  -                                  val>=1.8
codec_roundtrip       codec_roundtrip  =  -                                  -
codec_roundtrip_rate  codec_roundtrip  =  -                                  -
lock_uncontended      lock_uncontended =  c_call2                            py>1;C<=2
lock_uncontended_method lock_uncontended = c_call2_method                   py>1;C<=2
lock_contended        lock_contended   =  -                                  py>1
event_pingpong        event_pingpong   =  c_futex_pingpong,c_condvar_pingpong C<=2
process_start         process_start    =  c_fork_wait                        py>1
mpqueue               mpqueue          =  -                                  py>=10
queue_threads         queue_threads    =  -                                  py>=5
pipe_pingpong         pipe_pingpong    =  c_pipe_pingpong                    C<=1.5;py>1
value_locked          value_locked     =  -                                  py>1
value_atomic          value_locked     value_locked -                        -
manager_dict          manager_dict     =  -                                  py>=20
pool_e2e              pool_e2e         =  c_pool_e2e                         py>=20
pool_map              pool_map         =  c_lua_map                          py>=10
tpe_submit            tpe_submit       =  -                                  py>=5
ppe_submit            ppe_submit       =  -                                  py>=5
pool_cpu_1            pool_cpu         =  -                                  -
pool_cpu_2            pool_cpu         =  -                                  -
pool_cpu_speedup      pool_cpu         =  -                                  val>=1.8
tpe_cpu_1             tpe_cpu          =  -                                  -
tpe_cpu_2             tpe_cpu          =  -                                  -
tpe_cpu_speedup       tpe_cpu          =  -                                  val>=1.8
"
CBENCH="state_thread call2 pingpong pipe_pingpong pool_floor"

# ---- helpers ---------------------------------------------------------------------
say() { printf '%s\n' "$*" >&2; }

# run_one SIDE MODE CMD...: run once, append its figure lines to $RAW.
run_one() {
    local side=$1 mode=$2; shift 2
    local pin=() out rc
    [ "$mode" = 1 ] && pin=(taskset -c 0)
    out=$(timeout "$JOB_TIMEOUT" "${pin[@]}" "$@" 2>>"$LOG")
    rc=$?
    printf '## %s mode=%s rc=%s: %s\n%s\n' "$side" "$mode" "$rc" "$*" "$out" >>"$LOG"
    if [ $rc -ne 0 ]; then
        say "   FAILED ($side, cpus=$mode, rc=$rc): $* (see $LOG)"
        echo "$side $mode FAIL:$(basename "${@: -1}" | sed 's/\.[a-z]*$//') 1 -" >>"$RAW"
        return 1
    fi
    printf '%s\n' "$out" | awk -v s="$side" -v m="$mode" \
        'NF == 3 && $1 ~ /^[a-z0-9_]+$/ && $2 ~ /^[-+0-9.eE]+$/ { print s, m, $1, $2, $3 }' >>"$RAW"
}

# run_rep SIDE MODE REPS CMD...
run_rep() {
    local side=$1 mode=$2 reps=$3; shift 3
    local n=1 i
    [ "$reps" = r ] && n=$REPEAT
    for ((i = 0; i < n; i++)); do run_one "$side" "$mode" "$@" || break; done
}

# ---- build the C baselines ----------------------------------------------------
LUA_FLAGS=$(pkg-config --cflags --libs lua5.4 2>/dev/null || echo "-I/usr/include/lua5.4 -llua5.4")
if [ ! -f /usr/include/lua5.4/lua.h ] && ! pkg-config --exists lua5.4 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        say "installing lua5.4 liblua5.4-dev"
        apt-get install -y lua5.4 liblua5.4-dev >&2 || { apt-get update >&2 && apt-get install -y lua5.4 liblua5.4-dev >&2; }
    else
        say "missing Lua 5.4 headers: sudo apt-get install -y lua5.4 liblua5.4-dev"; exit 1
    fi
fi
for c in $CBENCH; do
    # shellcheck disable=SC2086
    $CC -O2 -Wall -Wextra -o "$OUT/$c" "bench/c/$c.c" $LUA_FLAGS -lpthread || { say "build of bench/c/$c.c failed"; exit 1; }
done

# ---- run -------------------------------------------------------------------------
WANT=" $* "
have_strand=0
[ -x "$STRAND" ] && have_strand=1
[ $have_strand = 1 ] || say "note: $STRAND not built; strand column will be '-'"

for mode in 1 all; do
    for c in $CBENCH; do
        say "C      $c (cpus=$mode)"
        run_rep c "$mode" r "$OUT/$c"
    done
done

while read -r job modes reps; do
    [ -n "$job" ] || continue
    [ "$WANT" = "  " ] || [[ $WANT == *" $job "* ]] || continue
    for mode in ${modes//,/ }; do
        say "python $job (cpus=$mode)"
        run_rep py "$mode" "$reps" "$PYTHON" "bench/py/$job.py"
        if [ $have_strand = 1 ] && [ -f "bench/lua/$job.lua" ]; then
            say "strand $job (cpus=$mode)"
            run_rep strand "$mode" "$reps" "$STRAND" "bench/lua/$job.lua"
        fi
    done
done <<<"$JOBS"

# ---- table -----------------------------------------------------------------------
TABLE=$OUT/table.txt
BJOBS=$JOBS BFIGS=$FIGURES BWANT=$WANT BNCPU=$NCPU awk '
function higher_better(u) { return u ~ /\/s$/ || u == "x" }
function better(a, b, u) { return higher_better(u) ? a > b : a < b }
function fmt(v) {
    if (v == "") return "-"
    v += 0
    if (v >= 1000) return sprintf("%.0f", v)
    if (v >= 100) return sprintf("%.1f", v)
    if (v >= 10) return sprintf("%.2f", v)
    return sprintf("%.3f", v)
}
# keep the best run of each (side, mode, figure)
FILENAME != "" {
    k = $1 SUBSEP $2 SUBSEP $3
    if (!(k in val) || better($4 + 0, val[k] + 0, $5)) val[k] = $4
    unit[$3] = $5
}
END {
    jobs = ENVIRON["BJOBS"]; figs = ENVIRON["BFIGS"]; want = ENVIRON["BWANT"]; ncpu = ENVIRON["BNCPU"]
    n = split(jobs, jl, "\n")
    for (i = 1; i <= n; i++) { split(jl[i], f, " "); if (f[1] != "") jobmodes[f[1]] = f[2] }
    printf "%-21s %-4s %10s %10s %-9s %-27s %8s %8s %-16s %s\n", \
        "figure", "cpus", "strand", "python", "unit", "C baseline", "vs py", "vs C", "target", "ok"
    n = split(figs, fl, "\n")
    for (i = 1; i <= n; i++) {
        if (split(fl[i], f, " ") < 5) continue
        fig = f[1]; job = f[2]; pyref = (f[3] == "=") ? fig : f[3]; cb = f[4]; tgt = f[5]
        if (want != "  " && index(want, " " job " ") == 0) continue
        nm = split(jobmodes[job], modes, ",")
        for (j = 1; j <= nm; j++) {
            m = modes[j]; cpus = (m == "1") ? "1" : ncpu
            s = val["strand", m, fig]; p = val["py", m, pyref]
            sd = s; pd = p
            if (s == "" && (("strand", m, "FAIL:" job) in val)) sd = "ERR"
            if (p == "" && (("py", m, "FAIL:" job) in val)) pd = "ERR"
            u = (fig in unit) ? unit[fig] : unit[pyref]
            hb = higher_better(u)
            # vs py: how many times better strand is (>1: strand better)
            vpy = "-"; gpy = ""
            if (s != "" && p != "" && s + 0 > 0 && p + 0 > 0) {
                gpy = hb ? s / p : p / s; vpy = sprintf("%.2fx", gpy)
            }
            # C baseline(s) and strand cost relative to the first
            cstr = "-"; vc = "-"; gc = ""
            if (cb != "-") {
                nc = split(cb, cl, ","); cstr = ""
                for (q = 1; q <= nc; q++) {
                    cv = val["c", m, cl[q]]
                    nmc = cl[q]; sub(/^c_/, "", nmc); sub(/_pingpong$/, "", nmc)
                    cstr = cstr (q > 1 ? " " : "") nmc "=" fmt(cv)
                }
                c1 = val["c", m, cl[1]]
                if (s != "" && c1 != "" && c1 + 0 > 0 && s + 0 > 0) {
                    gc = hb ? c1 / s : s / c1; vc = sprintf("%.2fx", gc)
                }
            }
            # target check
            ok = "-"
            if (tgt != "-" && s != "") {
                ok = "yes"; nt = split(tgt, tl, ";")
                for (q = 1; q <= nt; q++) {
                    t = tl[q]
                    if (match(t, /^py>=/)) { if (gpy == "" || gpy < substr(t, 5) + 0) ok = "NO" }
                    else if (match(t, /^py>/)) { if (gpy == "" || gpy <= substr(t, 4) + 0) ok = "NO" }
                    else if (match(t, /^C<=/)) { if (gc == "" || gc > substr(t, 4) + 0) ok = "NO" }
                    else if (match(t, /^val>=/)) { if (s + 0 < substr(t, 6) + 0) ok = "NO" }
                }
            }
            printf "%-21s %-4s %10s %10s %-9s %-27s %8s %8s %-16s %s\n", \
                fig, cpus, (sd == "ERR" ? sd : fmt(s)), (pd == "ERR" ? pd : fmt(p)), u, cstr, vpy, vc, tgt, ok
        }
    }
    # every C baseline, informational ones included (c_spinfutex_pingpong, c_call2_method ...)
    printf "\nC baselines (best of runs):\n"
    nc2 = 0
    for (k in val) {
        split(k, kk, SUBSEP)
        if (kk[1] == "c" && kk[3] !~ /^FAIL:/ && !(kk[3] in seen)) { seen[kk[3]] = 1; cl2[++nc2] = kk[3] }
    }
    for (a = 2; a <= nc2; a++)          # insertion sort (portable awk)
        for (b = a; b > 1 && cl2[b - 1] > cl2[b]; b--) { t = cl2[b]; cl2[b] = cl2[b - 1]; cl2[b - 1] = t }
    for (a = 1; a <= nc2; a++) {
        c = cl2[a]
        printf "  %-22s cpus=1: %9s   cpus=%s: %9s  %s\n", c, fmt(val["c", "1", c]), ncpu, fmt(val["c", "all", c]), unit[c]
    }
}' "$RAW" | tee "$TABLE"
say ""
say "vs py: times strand is better than Python (rate ratio, inverse time ratio, or speedup ratio)."
say "vs C: strand's cost as a multiple of the first C baseline. cpus=1: taskset -c 0."
say "raw runs: $RAW   log: $LOG   table: $TABLE"

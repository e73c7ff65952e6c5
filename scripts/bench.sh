#!/usr/bin/env bash
# End-to-end throughput of `apiwatch scan` against baseline tools, on one
# realistic nginx `combined` log (plain and gzip), in one run.
#
#   scripts/bench.sh                 # 10,000,000 lines (~2 GB), the README numbers
#   N=1000000 scripts/bench.sh       # quick run
#
# Environment:
#   N                 lines in the generated log (default 10000000)
#   USERS             simulated users per day (default 20000, ~320k lines/day)
#   REPEAT            runs per measurement, best one kept (default 3)
#   GOACCESS_REPEAT   runs of GoAccess, which is slow (default 1)
#   SKIP_GOACCESS=1   leave GoAccess out
#   GEN_ONLY=1        generate (and cache) the inputs, measure nothing
#   FMT_N             lines of the ALB and API Gateway JSON logs (default
#                     N, at most 2,000,000)
#
# The log is made of simulated days (examples/simulate.rs, one seed per day,
# each day dated one day after the previous so event time moves forward) and
# cached under target/bench-data/ with its gzip; delete that directory to
# regenerate. Every input is read once before timing, so all tools read from
# the page cache: this measures CPU, not the disk.
#
# lines/s and MB/s of apiwatch are the tool's own numbers (`lines_per_sec`,
# `mb_per_sec` from the `--stats -o json` summary line); for the other tools
# they are line count and plain-file size over wall time. MB is 10^6 bytes of
# *uncompressed* log, also for the gzip rows. "vs wc -l" is throughput
# relative to `wc -l` on the plain file. Peak RSS is /usr/bin/time's %M.

set -euo pipefail

cd "$(dirname "$0")/.."

N=${N:-10000000}
USERS=${USERS:-20000}
REPEAT=${REPEAT:-3}
GOACCESS_REPEAT=${GOACCESS_REPEAT:-1}
SKIP_GOACCESS=${SKIP_GOACCESS:-0}
FMT_N=${FMT_N:-$((N < 2000000 ? N : 2000000))}
. scripts/lib.sh
LOG=$DATA/combined-$N.log
GZ=$LOG.gz
SIM=target/release/examples/simulate


# ---- tools ----------------------------------------------------------------

have_apt() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }

# ensure CMD PACKAGE: install PACKAGE with apt-get when CMD is missing.
# Prints nothing; returns 1 when the command is still unavailable.
ensure() {
    local cmd=$1 pkg=$2
    if command -v "$cmd" >/dev/null 2>&1; then return 0; fi
    if have_apt; then
        say "installing $pkg with apt-get ..."
        if ! apt-get install -y "$pkg" >"$TMP/apt.log" 2>&1; then
            apt-get update >/dev/null 2>&1 || true
            apt-get install -y "$pkg" >"$TMP/apt.log" 2>&1 || true
        fi
    fi
    command -v "$cmd" >/dev/null 2>&1
}

if [ ! -x "$TIME" ]; then
    ensure /usr/bin/time time || { say "error: /usr/bin/time is needed (package 'time')"; exit 1; }
fi
MAWK_NOTE=""
if ! ensure mawk mawk; then
    if have_apt; then MAWK_NOTE="n/a (apt-get install mawk failed)"; else MAWK_NOTE="n/a (mawk missing, no apt-get)"; fi
fi
GOACCESS_NOTE=""
if [ "$SKIP_GOACCESS" = 1 ]; then
    GOACCESS_NOTE="n/a (skipped)"
elif ! ensure goaccess goaccess; then
    if have_apt; then GOACCESS_NOTE="n/a (apt-get install goaccess failed)"; else GOACCESS_NOTE="n/a (goaccess missing, no apt-get)"; fi
fi

# ---- build (once) -----------------------------------------------------------

mkdir -p "$DATA"
need_data=0
for f in "$LOG" "$GZ" "$DATA/alb-$FMT_N.log" "$DATA/apigw_json-$FMT_N.log"; do
    [ -s "$f" ] || need_data=1
done
say "building apiwatch (release) ..."
if [ "$need_data" = 1 ]; then
    cargo build --release --quiet --bin apiwatch --example simulate
else
    cargo build --release --quiet --bin apiwatch
fi

# ---- data (cached) ----------------------------------------------------------

# gen_log FORMAT LINES FILE: simulated days (one seed per day, each dated one
# day after the previous, so event time moves forward) until LINES lines.
gen_log() {
    local fmt=$1 want=$2 file=$3
    [ -s "$file" ] && return 0
    say "generating $want lines of simulated $fmt log into $file ..."
    local part=$file.part have=0 day=0
    : >"$part"
    while [ "$have" -lt "$want" ]; do
        SIM_DAY_OFFSET=$day "$SIM" "$fmt" $((1000 + day)) "$USERS" >"$TMP/day.log"
        cat "$TMP/day.log" >>"$part"
        have=$((have + $(wc -l <"$TMP/day.log")))
        day=$((day + 1))
        say "  day $day: $have lines"
    done
    head -n "$want" "$part" >"$file.tmp"
    rm -f "$part" "$TMP/day.log"
    mv "$file.tmp" "$file"
}

gen_log combined "$N" "$LOG"
if [ ! -s "$GZ" ]; then
    say "compressing $GZ ..."
    gzip -6 -c "$LOG" >"$GZ.tmp"
    mv "$GZ.tmp" "$GZ"
fi
ALB=$DATA/alb-$FMT_N.log
JSON=$DATA/apigw_json-$FMT_N.log
gen_log alb "$FMT_N" "$ALB"
gen_log apigw_json "$FMT_N" "$JSON"
[ "${GEN_ONLY:-0}" = 1 ] && exit 0

LINES=$(wc -l <"$LOG" | tr -d ' ')
BYTES=$(stat -c %s "$LOG")
GZBYTES=$(stat -c %s "$GZ")
[ "$LINES" = "$N" ] || say "warning: $LOG has $LINES lines, not $N"

# Warm the page cache.
cat "$LOG" "$GZ" "$ALB" "$JSON" >/dev/null

# ---- measuring ---------------------------------------------------------------

# Rows (tab-separated): tool, input, lines_per_sec, mb_per_sec, rss_kb, note
ROWS=$TMP/rows
: >"$ROWS"
WC_LPS=""

row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }

# run_best REPEATS CMD... : runs CMD, keeps the fastest wall time (ns) in
# BEST_NS, the largest peak RSS (KB) in PEAK_KB and the fastest run's stdout
# in $TMP/best.out. Returns 1 if any run fails.
run_best() {
    local reps=$1
    shift
    BEST_NS=""
    PEAK_KB=0
    local i t0 t1 ns kb
    for ((i = 0; i < reps; i++)); do
        t0=$(date +%s%N)
        if ! "$TIME" -f %M -o "$TMP/rss" "$@" >"$TMP/run.out" 2>"$TMP/run.err"; then
            say "  failed: $* (see below)"
            tail -n 5 "$TMP/run.err" >&2 || true
            return 1
        fi
        t1=$(date +%s%N)
        ns=$((t1 - t0))
        kb=$(tail -n 1 "$TMP/rss")
        [ "$kb" -gt "$PEAK_KB" ] && PEAK_KB=$kb
        if [ -z "$BEST_NS" ] || [ "$ns" -lt "$BEST_NS" ]; then
            BEST_NS=$ns
            cp "$TMP/run.out" "$TMP/best.out"
        fi
    done
}

# external TOOL INPUT REPEATS CMD... : a baseline tool, throughput from wall time.
external() {
    local tool=$1 input=$2 reps=$3
    shift 3
    say "measuring $tool on $input ..."
    if run_best "$reps" "$@"; then
        local lps mbps
        lps=$(awk -v n="$LINES" -v ns="$BEST_NS" 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
        mbps=$(awk -v b="$BYTES" -v ns="$BEST_NS" 'BEGIN { printf "%.1f", b / 1e6 / (ns / 1e9) }')
        row "$tool" "$input" "$lps" "$mbps" "$PEAK_KB" "$(head -c 200 "$TMP/best.out" | tr '\n\t' '  ')"
        [ "$tool" = "wc -l" ] && [ "$input" = plain ] && WC_LPS=$lps
    else
        row "$tool" "$input" n/a n/a n/a failed
    fi
    return 0
}

# apiwatch_run INPUT FILE THREADS : best of REPEAT by the tool's own
# lines_per_sec, with `--threads THREADS` (0: one per core).
AW_NOTES=""
apiwatch_run() {
    local input=$1 file=$2 threads=$3
    local tool="apiwatch scan, $threads thread"
    [ "$threads" = 1 ] || tool="${tool}s"
    [ "$threads" = 0 ] && tool="apiwatch scan, $(nproc) cores"
    say "measuring $tool on $input ..."
    local best_lps="" best_mbps="" peak=0 i out lps mbps kb rc t0 t1
    for ((i = 0; i < REPEAT; i++)); do
        rc=0
        t0=$(date +%s%N)
        "$TIME" -f %M -o "$TMP/rss" "$BIN" scan --threads "$threads" --stats -o json "$file" >"$TMP/aw.out" 2>"$TMP/aw.err" || rc=$?
        if [ "$rc" != 0 ]; then
            say "  apiwatch exited $rc"
            tail -n 5 "$TMP/aw.err" >&2 || true
            row "$tool" "$input" n/a n/a n/a "exit $rc"
            return 0
        fi
        t1=$(date +%s%N)
        out=$(grep '"type":"summary"' "$TMP/aw.out" | tail -n 1)
        lps=$(printf '%s' "$out" | sed -n 's/.*"lines_per_sec":\([0-9.eE+]*\).*/\1/p')
        mbps=$(printf '%s' "$out" | sed -n 's/.*"mb_per_sec":\([0-9.eE+]*\).*/\1/p')
        kb=$(tail -n 1 "$TMP/rss")
        [ "$kb" -gt "$peak" ] && peak=$kb
        if [ -z "$best_lps" ] || awk -v a="$lps" -v b="$best_lps" 'BEGIN { exit !(a > b) }'; then
            best_lps=$lps
            best_mbps=$mbps
            local parsed inc
            parsed=$(printf '%s' "$out" | sed -n 's/.*"parsed":\([0-9]*\).*/\1/p')
            inc=$(printf '%s' "$out" | sed -n 's/.*"incidents_opened":\([0-9]*\).*/\1/p')
            local wall ext
            wall=$(printf '%s' "$out" | sed -n 's/.*"wall_secs":\([0-9.eE+-]*\).*/\1/p')
            ext=$(awk -v ns="$((t1 - t0))" 'BEGIN { printf "%.2f", ns / 1e9 }')
            AW_NOTE_CUR="parsed $parsed lines, $inc incidents opened, wall $(awk -v w="$wall" 'BEGIN { printf "%.2f", w }') s by its own clock, $ext s from outside"
        fi
    done
    best_lps=$(awk -v x="$best_lps" 'BEGIN { printf "%.0f", x }')
    row "$tool" "$input" "$best_lps" "$best_mbps" "$peak" "$AW_NOTE_CUR"
    AW_NOTES="$AW_NOTES
- $tool on $input: $AW_NOTE_CUR"
}

external "wc -l" plain "$REPEAT" wc -l "$LOG"
external "zcat \\| wc -l" gzip "$REPEAT" sh -c 'zcat "$1" | wc -l' sh "$GZ"
if [ -z "$MAWK_NOTE" ]; then
    external "mawk (count by \$1)" plain "$REPEAT" mawk '{c[$1]++} END{print length(c)}' "$LOG"
else
    row "mawk (count by \$1)" plain n/a n/a n/a "$MAWK_NOTE"
fi
if [ -z "$GOACCESS_NOTE" ]; then
    external "GoAccess" plain "$GOACCESS_REPEAT" \
        goaccess "$LOG" --log-format=COMBINED --no-progress -o /dev/null
else
    row GoAccess plain n/a n/a n/a "$GOACCESS_NOTE"
fi
apiwatch_run plain "$LOG" 1
apiwatch_run plain "$LOG" 0
apiwatch_run gzip "$GZ" 1
apiwatch_run gzip "$GZ" 0
apiwatch_run "ALB" "$ALB" 1
apiwatch_run "ALB" "$ALB" 0
apiwatch_run "API Gateway JSON" "$JSON" 1
apiwatch_run "API Gateway JSON" "$JSON" 0
# mawk once more, last: this machine's speed drifts within a run, and the
# two mawk rows show by how much between the first and the last rows.
if [ -z "$MAWK_NOTE" ]; then
    external "mawk (count by \$1), again last" plain "$REPEAT" mawk '{c[$1]++} END{print length(c)}' "$LOG"
fi

# ---- report ------------------------------------------------------------------


echo
echo "## apiwatch throughput"
echo
echo "- machine: $(machine)"
echo "- input: $(commas "$LINES") lines of simulated nginx combined log, $(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB plain, $(awk -v b="$GZBYTES" 'BEGIN { printf "%.1f", b / 1e6 }') MB gzip (-6); the same traffic as $(commas "$FMT_N") lines of ALB ($(awk -v b="$(stat -c %s "$ALB")" 'BEGIN { printf "%.1f", b / 1e6 }') MB) and of API Gateway JSON ($(awk -v b="$(stat -c %s "$JSON")" 'BEGIN { printf "%.1f", b / 1e6 }') MB); page cache warm"
echo "- best of $REPEAT runs (GoAccess: $GOACCESS_REPEAT); apiwatch: \`apiwatch scan --threads T --stats -o json FILE\` with every detector on, its own lines_per_sec / mb_per_sec"
echo
echo "| tool | input | lines/s | MB/s | vs wc -l | peak RSS |"
echo "|---|---|---:|---:|---:|---:|"
while IFS=$'\t' read -r tool input lps mbps kb note; do
    if [ "$lps" = n/a ]; then
        echo "| $tool | $input | $note | n/a | n/a | n/a |"
        continue
    fi
    ratio=n/a
    if [ -n "$WC_LPS" ] && { [ "$input" = plain ] || [ "$input" = gzip ]; }; then
        ratio=$(awk -v a="$lps" -v b="$WC_LPS" 'BEGIN { r = a / b; if (r >= 0.1) printf "%.2f×", r; else printf "%.3f×", r }')
    fi
    rss=$(awk -v k="$kb" 'BEGIN { printf "%.1f MB", k / 1024 }')
    echo "| $tool | $input | $(commas "$lps") | $mbps | $ratio | $rss |"
done <"$ROWS"
echo
echo "Notes:"
echo "- MB/s counts uncompressed bytes for the gzip rows too; 'vs wc -l' is throughput relative to \`wc -l\` on the plain file."
echo "- mawk distinct \$1: $(grep -m1 '^mawk' "$ROWS" | cut -f6 | tr -d ' ' || true); GoAccess: \`goaccess FILE --log-format=COMBINED --no-progress -o /dev/null\` (default single parsing thread)."
printf '%s\n' "$AW_NOTES" | sed '/^$/d'
echo "- tool versions: $(mawk -W version 2>&1 | head -n 1 || true); $(goaccess --version 2>/dev/null | head -n 1 || echo 'goaccess n/a'); $(gzip --version | head -n 1)"

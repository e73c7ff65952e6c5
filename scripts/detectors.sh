#!/usr/bin/env bash
# What each detector adds to the cost of a line, end to end: `apiwatch scan`
# on one thread over the bench log with no detector, with each detector
# alone, and with all of them.
#
#   scripts/detectors.sh             # 1,000,000 lines of bench.sh's log
#   N=200000 REPEAT=3 scripts/detectors.sh
#
# Environment:
#   N        lines of the nginx combined bench log (default 1000000; made by
#            bench.sh with GEN_ONLY=1 when missing)
#   REPEAT   rounds (default 5)
#
# "none" is reading, parsing, routing and the shards' dispatch; each
# detector's "adds" is its cost over that. The sum of the adds is more than
# "all" adds: the detectors share the reading thread's caches and time.

set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib.sh

N=${N:-1000000}
REPEAT=${REPEAT:-5}
LOG=$DATA/combined-$N.log
DETECTORS="enumeration slow_sweep distributed_sweep bola pagination_harvest credential_stuffing"

if [ ! -f "$LOG" ]; then
    say "generating $LOG ..."
    N=$N GEN_ONLY=1 SKIP_GOACCESS=1 scripts/bench.sh
fi
say "building apiwatch (release) ..."
cargo build --release --quiet --bin apiwatch
need_measuring_tools

# A config with only the named detectors on ("none": all off).
config() {
    local on=" $* " d
    for d in $DETECTORS; do
        printf '[detectors.%s]\nenabled = %s\n' "$d" \
            "$([ "${on/ $d /}" != "$on" ] && echo true || echo false)"
    done
}

RUNS="none $DETECTORS all"
for r in $RUNS; do
    case $r in
        none) config > "$TMP/$r.toml" ;;
        all) config $DETECTORS > "$TMP/$r.toml" ;;
        *) config "$r" > "$TMP/$r.toml" ;;
    esac
done

# One run: the tool's own wall seconds.
run() {
    "$BIN" scan --config "$TMP/$1.toml" --threads 1 --stats -o json "$LOG" 2> /dev/null |
        tail -n 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["wall_secs"])'
}

# This machine's speed drifts by tens of percent within minutes, so each
# run is paired with a run of "none" just before it, and what is kept is
# the median over rounds of their ratio; "none" itself is its best run.
cat "$LOG" > /dev/null
for round in $(seq "$REPEAT"); do
    say "round $round of $REPEAT ..."
    for r in $RUNS; do
        [ "$r" = none ] && continue
        base=$(run none)
        echo "$base" >> "$TMP/none.times"
        echo "$(run "$r") $base" >> "$TMP/$r.pairs"
    done
done

echo "## What each detector costs (one thread)"
echo
echo "- $(machine)"
echo "- \`apiwatch scan --threads 1 --stats -o json\` on $(commas "$N") lines of \`$LOG\`, $REPEAT rounds; each run right after a run with no detector, and the median of their ratios kept (the machine's speed drifts); \"none\" is its best run"
echo
echo "| detectors on | µs per line | adds (µs per line) | lines/s |"
echo "|---|---:|---:|---:|"
python3 - "$TMP" "$N" $RUNS <<'EOF2'
import statistics, sys
tmp, n, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
base = min(float(x) for x in open(f"{tmp}/none.times"))
base_us = base * 1e6 / n
for r in runs:
    if r == "none":
        us, adds = base_us, ""
    else:
        ratios = [float(a) / float(b) for a, b in (l.split() for l in open(f"{tmp}/{r}.pairs"))]
        us = base_us * statistics.median(ratios)
        adds = f"{us - base_us:+.2f}"
    print(f"| {r} | {us:.2f} | {adds} | {1e6 / us:,.0f} |")
EOF2

#!/usr/bin/env bash
# Memory ceiling under adversarial input: peak RSS, speed, detection and the
# size of `check`'s state file for five hostile nginx `combined` logs.
#
#   scripts/memory.sh                # SCALE=10000000: ~20M-line flood, 10M ids, ...
#   SCALE=20000 scripts/memory.sh    # quick run
#
# Environment:
#   SCALE        size of the inputs (default 10000000)
#   MAX_MEMORY   --max-memory given to apiwatch (default 256M)
#   LONG_BYTES   length of each long line in input d (default 10000000, or
#                1000000 when SCALE is below 10M)
#
# Inputs (scripts/flood.py, cached under target/bench-data/mem-*; delete them
# to regenerate, e.g. after changing flood.py):
#   a. addresses  address-rotation flood: SCALE distinct addresses (10% IPv6,
#                 each in its own /64), 1-3 requests each to random customer
#                 ids, with a distributed sweep hidden in the middle third:
#                 500 addresses walking one contiguous id range, 1-5 lookups
#                 each (~2*SCALE lines)
#   b. ids        SCALE lines, SCALE distinct customer ids from SCALE/200
#                 addresses
#   c. paths      SCALE/10 lines, all distinct paths that do not template
#                 into a few routes (fills the route table to its cap)
#   d. longlines  SCALE/10 ordinary lines with 20 lines of LONG_BYTES (half a
#                 huge user agent, half a huge URL) among them
#   e. busy       SCALE/5 lookups from 4,500 addresses in turn, random ids:
#                 every per-actor tracker full (the largest state file)
#   f. routes     SCALE/10 lines of mixed traffic over 10,000 lookup routes
#                 (names in letters, so each templates) from SCALE/500
#                 addresses: the route table full, and every per-route
#                 baseline learning
#
# Each input runs through
#   apiwatch scan --max-memory $MAX_MEMORY --stats -o json FILE
# under /usr/bin/time (peak RSS %M, wall %e); lines, lines/s, malformed and
# detector state come from the summary line. For input a it counts the sweep
# addresses named in distributed_sweep alerts and the other addresses named
# by any alert. Then, with a fresh state file,
#   apiwatch check --state STATE --from-start --max-memory $MAX_MEMORY FILE
# (exit 0/1/2 = OK/WARNING/CRITICAL all count as success, 3 as failure) and
# the state file's size is reported. The binary is not built here: build
# target/release/apiwatch first (cargo build --release).

set -euo pipefail

cd "$(dirname "$0")/.."

SCALE=${SCALE:-10000000}
MAX_MEMORY=${MAX_MEMORY:-256M}
LONG_BYTES=${LONG_BYTES:-$((SCALE >= 10000000 ? 10000000 : 1000000))}
. scripts/lib.sh
need_measuring_tools

# ---- data (cached) ------------------------------------------------------------

mkdir -p "$DATA"
TENTH=$((SCALE / 10 > 0 ? SCALE / 10 : 1))
A_LOG=$DATA/mem-addresses-$SCALE.log
A_SWEEP=$DATA/mem-addresses-$SCALE.sweepers
B_LOG=$DATA/mem-ids-$SCALE.log
C_LOG=$DATA/mem-paths-$TENTH.log
D_LOG=$DATA/mem-longlines-$TENTH-$LONG_BYTES.log
E_LOG=$DATA/mem-busy-$((SCALE / 5)).log
F_LOG=$DATA/mem-routes-$TENTH.log

# gen FILE FLOOD-ARGS... : generate FILE once (written to FILE.tmp, then moved).
gen() {
    local file=$1
    shift
    [ -s "$file" ] && return 0
    say "generating $file ..."
    nice -n 10 python3 "$FLOOD" "$@" >"$file.tmp"
    mv "$file.tmp" "$file"
}

if [ ! -s "$A_LOG" ] || [ ! -s "$A_SWEEP" ]; then
    rm -f "$A_LOG"
    gen "$A_LOG" --kind addresses --requests 1-3 --ipv6 0.1 "$SCALE" "$A_SWEEP.tmp"
    mv "$A_SWEEP.tmp" "$A_SWEEP"
fi
gen "$B_LOG" --kind ids --ipv6 0.1 "$SCALE"
gen "$C_LOG" --kind paths --ipv6 0.1 "$TENTH"
gen "$D_LOG" --kind longlines --ipv6 0.1 --long 20 --long-bytes "$LONG_BYTES" "$TENTH"
gen "$E_LOG" --kind busy --clients 4500 "$((SCALE / 5 > 0 ? SCALE / 5 : 1))"
gen "$F_LOG" --kind mix --ipv6 0.1 --routes 10000 --route-words --addresses "$((TENTH / 50 > 0 ? TENTH / 50 : 1))" "$TENTH"

# ---- measuring ------------------------------------------------------------------

# Rows (tab-separated): input, lines, rss_kb, wall, lps, malformed, incidents,
# sweep_named, other_named, state_kb, check_rss_kb, check_exit, state json
ROWS=$TMP/rows
: >"$ROWS"

# measure NAME FILE [SWEEPERS]
measure() {
    local name=$1 file=$2 sweepers=${3:-}
    say "scanning $name ($file) ..."
    cat "$file" >/dev/null # page cache
    local rc=0
    nice -n 10 "$TIME" -f '%M %e' -o "$TMP/time" \
        "$BIN" scan --max-memory "$MAX_MEMORY" --stats -o json "$file" >"$TMP/scan.out" 2>"$TMP/scan.err" || rc=$?
    if [ "$rc" != 0 ]; then
        say "  apiwatch scan exited $rc"
        tail -n 5 "$TMP/scan.err" >&2 || true
        printf '%s\tscan exit %s\n' "$name" "$rc" >>"$ROWS"
        return 0
    fi
    local rss wall
    read -r rss wall < <(tail -n 1 "$TMP/time")
    # lines, lines/s, malformed, incidents, sweep named, others named, state
    local parsed
    parsed=$(python3 - "$TMP/scan.out" "$sweepers" <<'EOF'
import json, sys
out, sweep_file = sys.argv[1], sys.argv[2]
sweep = set(open(sweep_file).read().split()) if sweep_file else set()
summary, caught, named = None, set(), set()
for line in open(out):
    o = json.loads(line)
    if o.get("type") == "summary":
        summary = o
        continue
    if o.get("actor_kind") not in ("address", "addresses", "prefix"):
        continue
    actors = set(o.get("actor") or [])
    named |= actors
    if o.get("detector") == "distributed_sweep":
        caught |= actors & sweep
if summary is None:
    sys.exit("no summary line in scan output")
state = " ".join(f"{k} {v['entries']}/{v['evicted']}" for k, v in summary["state"].items())
print("\t".join(str(x) for x in [
    summary["lines"], round(summary["lines_per_sec"]), summary["malformed"],
    summary.get("incidents_opened", "?"),
    f"{len(caught)} / {len(sweep)}" if sweep else "-",
    len(named - sweep) if sweep else len(named),
    state,
]))
EOF
)
    local lines lps malformed inc caught others state
    IFS=$'\t' read -r lines lps malformed inc caught others state <<<"$parsed"

    say "  check --state (fresh) ..."
    rm -f "$TMP/state.gz"
    rc=0
    nice -n 10 "$TIME" -f '%M %e' -o "$TMP/ctime" \
        "$BIN" check --state "$TMP/state.gz" --from-start --max-memory "$MAX_MEMORY" "$file" >"$TMP/check.out" 2>"$TMP/check.err" || rc=$?
    local skb="n/a" crss="n/a"
    if [ "$rc" -le 2 ] && [ -s "$TMP/state.gz" ]; then
        skb=$(awk -v b="$(stat -c %s "$TMP/state.gz")" 'BEGIN { printf "%.0f", b / 1024 }')
        crss=$(tail -n 1 "$TMP/ctime" | cut -d' ' -f1)
    else
        say "  apiwatch check exited $rc"
        tail -n 5 "$TMP/check.err" >&2 || true
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$name" "$lines" "$rss" "$wall" "$lps" "$malformed" "$inc" "$caught" "$others" "$skb" "$crss" "$rc" "$state" >>"$ROWS"
}

measure "a. address flood (IPv4+IPv6, 1-3 req/address, sweep)" "$A_LOG" "$A_SWEEP"
measure "b. distinct ids" "$B_LOG"
measure "c. distinct paths" "$C_LOG"
measure "d. long lines ($((LONG_BYTES / 1000000)) MB × 20)" "$D_LOG"
measure "e. 4,500 busy clients (every tracker full)" "$E_LOG"
measure "f. 10,000 lookup routes (route table and baselines full)" "$F_LOG"

# ---- report ---------------------------------------------------------------------

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo
echo "## apiwatch memory ceiling"
echo
echo "- machine: $(machine)"
echo "- SCALE=$(commas "$SCALE"), \`apiwatch scan --max-memory $MAX_MEMORY --stats -o json FILE\`; state file: \`apiwatch check --state STATE --from-start --max-memory $MAX_MEMORY FILE\` from no state; page cache warm"
echo
echo "| input | lines | peak RSS (MB) | wall s | lines/s | malformed | incidents | sweep addresses named | other addresses named | check state (KB) | check peak RSS (MB) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
while IFS=$'\t' read -r name lines rss wall lps malformed inc caught others skb crss crc state; do
    if [ -z "${rss:-}" ]; then
        echo "| $name | $lines | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |"
        continue
    fi
    [ "$crss" = n/a ] || crss=$(mb "$crss")
    [ "$skb" = n/a ] && skb="n/a (check exit $crc)"
    echo "| $name | $(commas "$lines") | $(mb "$rss") | $wall | $(commas "$lps") | $(commas "$malformed") | $inc | $caught | $(commas "$others") | $(commas "$skb") | $crss |"
done <"$ROWS"
echo
echo "Notes:"
echo "- \"other addresses named\": distinct addresses (IPv6 as /64) in the actor list of any alert that are not sweep addresses (for b-d: all addresses named)."
echo "- detector state at the end of each scan (entries/evicted, from the summary line):"
while IFS=$'\t' read -r name _ rss _ _ _ _ _ _ _ _ crc state; do
    [ -n "${rss:-}" ] || continue
    echo "  - ${name%% *} $state; check exit $crc"
done <"$ROWS"
echo "- inputs: $(for f in "$A_LOG" "$B_LOG" "$C_LOG" "$D_LOG"; do printf '%s %s MB; ' "$(basename "$f")" "$(awk -v b="$(stat -c %s "$f")" 'BEGIN { printf "%.1f", b / 1e6 }')"; done)"

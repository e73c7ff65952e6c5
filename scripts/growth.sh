#!/usr/bin/env bash
# How the cost of `apiwatch scan` grows, one dimension at a time: lines,
# distinct actors (client addresses) and distinct route templates.
#
#   scripts/growth.sh                     # GROWTH_BASE=1000000 (inputs of 1M-4M lines)
#   GROWTH_BASE=20000 scripts/growth.sh   # quick run
#
# Environment:
#   GROWTH_BASE   B, the base number of lines (default 1000000)
#   MAX_MEMORY    --max-memory given to apiwatch (default 256M)
#   REPEAT        runs per input, fastest kept, largest RSS kept (default 1)
#
# Inputs are `scripts/flood.py --kind mix` traffic (70% lookups of random ids
# on /api/v1/r<k>/{id}, then search pages, a static asset, logins and
# /api/v1/me; 10% of addresses IPv6, 200 lines per second of event time),
# cached under target/bench-data/growth-*; delete them to regenerate.
#   lines    B, 2B, 4B lines; B/50 addresses (20k at B=1M), 20 lookup routes
#   actors   B lines; B/1000, B/100, B/10, B distinct addresses, 20 routes
#   routes   B lines; B/50 addresses; 10, 100, 1000, 10000 lookup routes
#            (+4 fixed ones; 10000 is past the 5,000-template cap)
# Each runs `apiwatch scan --max-memory $MAX_MEMORY --stats -o json FILE`
# under /usr/bin/time: wall seconds and peak RSS from time (%e, %M), lines/s
# from the tool's summary line. The binary is not built here: build
# target/release/apiwatch first (cargo build --release).

set -euo pipefail

cd "$(dirname "$0")/.."

B=${GROWTH_BASE:-1000000}
MAX_MEMORY=${MAX_MEMORY:-256M}
REPEAT=${REPEAT:-1}
. scripts/lib.sh
need_measuring_tools

mkdir -p "$DATA"
atleast1() { if [ "$1" -gt 0 ]; then echo "$1"; else echo 1; fi; }
POP=$(atleast1 $((B / 50)))

# input LINES ADDRESSES ROUTES : generates (once) and prints the file name.
input() {
    local lines=$1 addrs=$2 routes=$3
    local file=$DATA/growth-$lines-a$addrs-r$routes.log
    if [ ! -s "$file" ]; then
        say "generating $file ..."
        nice -n 10 python3 "$FLOOD" --kind mix --ipv6 0.1 --addresses "$addrs" --routes "$routes" "$lines" >"$file.tmp"
        mv "$file.tmp" "$file"
    fi
    printf '%s\n' "$file"
}

# Rows (tab-separated): dimension, value, lines, wall, lps, rss_kb, incidents
ROWS=$TMP/rows
: >"$ROWS"

# measure DIMENSION VALUE FILE
measure() {
    local dim=$1 value=$2 file=$3
    say "scanning $file ..."
    cat "$file" >/dev/null # page cache
    local i rc best_wall="" best_lps="" peak=0 rss wall lines lps inc summary
    for ((i = 0; i < REPEAT; i++)); do
        rc=0
        nice -n 10 "$TIME" -f '%M %e' -o "$TMP/time" \
            "$BIN" scan --max-memory "$MAX_MEMORY" --stats -o json "$file" >"$TMP/scan.out" 2>"$TMP/scan.err" || rc=$?
        if [ "$rc" != 0 ]; then
            say "  apiwatch scan exited $rc"
            tail -n 5 "$TMP/scan.err" >&2 || true
            printf '%s\t%s\tscan exit %s\n' "$dim" "$value" "$rc" >>"$ROWS"
            return 0
        fi
        read -r rss wall < <(tail -n 1 "$TMP/time")
        [ "$rss" -gt "$peak" ] && peak=$rss
        summary=$(grep '"type":"summary"' "$TMP/scan.out" | tail -n 1)
        lps=$(printf '%s' "$summary" | sed -n 's/.*"lines_per_sec":\([0-9.eE+]*\).*/\1/p')
        if [ -z "$best_wall" ] || awk -v a="$wall" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then
            best_wall=$wall
            best_lps=$(awk -v x="$lps" 'BEGIN { printf "%.0f", x }')
            lines=$(printf '%s' "$summary" | sed -n 's/.*"lines":\([0-9]*\).*/\1/p')
            inc=$(printf '%s' "$summary" | sed -n 's/.*"incidents_opened":\([0-9]*\).*/\1/p')
        fi
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dim" "$value" "$lines" "$best_wall" "$best_lps" "$peak" "$inc" >>"$ROWS"
}

for m in 1 2 4; do
    f=$(input $((m * B)) "$POP" 20)
    measure lines "$((m * B)) lines" "$f"
done
for d in 1000 100 10 1; do
    a=$(atleast1 $((B / d)))
    f=$(input "$B" "$a" 20)
    measure actors "$a addresses" "$f"
done
for r in 10 100 1000 10000; do
    f=$(input "$B" "$POP" "$r")
    measure routes "$r routes" "$f"
done

# ---- report ---------------------------------------------------------------------


echo
echo "## apiwatch cost growth"
echo
echo "- machine: $(machine)"
echo "- GROWTH_BASE=$(commas "$B"); \`apiwatch scan --max-memory $MAX_MEMORY --stats -o json FILE\`, best of $REPEAT; page cache warm"
echo "- fixed unless varied: $(commas "$B") lines, $(commas "$POP") addresses, 20 lookup routes (+4 fixed routes)"
echo
echo "| dimension | value | lines | wall s | lines/s | peak RSS (MB) | incidents |"
echo "|---|---|---:|---:|---:|---:|---:|"
while IFS=$'\t' read -r dim value lines wall lps kb inc; do
    if [ -z "${wall:-}" ]; then
        echo "| $dim | $value | $lines | n/a | n/a | n/a | n/a |"
        continue
    fi
    echo "| $dim | $(commas "${value%% *}") ${value#* } | $(commas "$lines") | $wall | $(commas "$lps") | $(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }') | $inc |"
done <"$ROWS"

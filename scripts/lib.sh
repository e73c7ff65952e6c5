# Shared by bench.sh, memory.sh and growth.sh (sourced, from the repository
# root): paths, a scratch directory, messages and report helpers.

export LC_ALL=C

DATA=target/bench-data
BIN=target/release/apiwatch
FLOOD=scripts/flood.py
TIME=/usr/bin/time
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

say() { printf '%s\n' "$*" >&2; }

# 1234567 -> 1,234,567
commas() { printf '%s' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

# The machine line of every report.
machine() {
    printf '%s cores, %s, %s, Linux %s' "$(nproc)" \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
        "$(awk '/MemTotal/ { printf "%.0f GB RAM", $2 / 1048576 }' /proc/meminfo)" \
        "$(uname -r)"
}

# What memory.sh and growth.sh need: a built binary, GNU time, python3.
need_measuring_tools() {
    [ -x "$BIN" ] || { say "error: $BIN missing; run cargo build --release first"; exit 1; }
    [ -x "$TIME" ] || { say "error: /usr/bin/time is needed (package 'time')"; exit 1; }
    command -v python3 >/dev/null 2>&1 || { say "error: python3 is needed"; exit 1; }
}

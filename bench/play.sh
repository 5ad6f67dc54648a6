#!/usr/bin/env bash
# Playback benchmark.
# 1. `play -g end` (instant dump) of a ~57 MB text log and a ~62 MB binary log,
#    made by Debian's tlog-rec from 50 MB of base64 text and 10 MB of random
#    bytes: tlog-rs (release) against Debian's tlog-play, medians of RUNS runs
#    (default 3) and the ratio, plus a byte-for-byte check.
# 2. Seek latency in a 100 MB, one-hour recording (synthetic, see
#    play/examples/seek_bench.rs): load + index time, then median / p95 / max
#    of 300 seeks (restore checkpoint, emulate, paint), measured in-process.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -p tlog-rs --quiet
cargo build --release -p tlog-rs-play --example seek-bench --quiet
TLOG_RS=$(realpath "$TARGET/release/tlog-rs")
SEEK=$(realpath "$TARGET/release/examples/seek-bench")
for p in tlog-rec tlog-play; do
    command -v "$p" >/dev/null || { echo "bench/play.sh: $p missing (apt-get install tlog)" >&2; exit 1; }
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
head -c 37500000 /dev/urandom | base64 > "$W/text"   # ~50 MB
head -c 10000000 /dev/urandom > "$W/bin"
tlog-rec -o "$W/text.log" cat "$W/text" </dev/null >/dev/null
tlog-rec -o "$W/bin.log" cat "$W/bin" </dev/null >/dev/null

# stdin for the players: a FIFO held open read-write here, so it never gets
# ready and never ends (tlog-play spins on /dev/null).
mkfifo "$W/stdin"
exec 3<>"$W/stdin"
# Wall seconds of one run, stdout to a file.
once() {
    local s e
    s=$(date +%s%N)
    "$@" <&3 > "$W/out" 2>/dev/null || true
    e=$(date +%s%N)
    awk -v d=$((e - s)) 'BEGIN { printf "%.3f\n", d / 1e9 }'
}
median() {
    local i
    for ((i = 0; i < RUNS; i++)); do once "$@"; done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

printf '%-26s %10s %10s %8s %s\n' "play -g end" "tlog-play" "tlog-rs" "ratio" "identical"
for f in text bin; do
    size=$(( $(stat -c %s "$W/$f.log") / 1000000 ))
    tp=$(median tlog-play -g end -i "$W/$f.log")
    head -c -1 "$W/out" > "$W/theirs"
    ours=$(median "$TLOG_RS" play -g end "$W/$f.log")
    same=no
    cmp -s "$W/theirs" "$W/out" && same=yes
    printf '%-26s %9ss %9ss %8s %s\n' "$f log (${size} MB)" "$tp" "$ours" "$(ratio "$ours" "$tp")" "$same"
done
echo "(ratio = tlog-rs / tlog-play wall time, median of $RUNS; below 1 = faster)"
echo
"$SEEK" make "$W/seek.log" 100 3600
"$SEEK" measure "$W/seek.log" 300

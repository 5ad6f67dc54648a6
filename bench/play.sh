#!/usr/bin/env bash
# Playback benchmark.
# 1. `play -g end` (instant dump) of a ~57 MB text log and a ~62 MB binary log,
#    made by Debian's tlog-rec from 50 MB of base64 text and 10 MB of random
#    bytes: tlog-rs (release) against Debian's tlog-play, medians of RUNS runs
#    (default 3) and the ratio, plus a byte-for-byte check.
# 2. Seek latency in a 100 MB, one-hour recording (synthetic, see
#    play/examples/seek_bench.rs): load + index time, then median / p95 / max
#    of 300 seeks (restore checkpoint, emulate, paint), measured in-process.
# 3. The same recording through the central index: indexed into a fresh
#    SQLite index (keyframes every ~1 MiB or 30 s), then whole
#    `tlog-rs play --db IDX REC --print-screen-at T` commands at SEEKS_DB
#    (default 30) random times: median / p95 / max wall ms, process start,
#    index open and reading from the stored keyframe included, against the
#    same command on the log file itself (no index: replay from the start).
#    Target: < 100 ms.
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

SEEKS_DB=${SEEKS_DB:-30}
mkdir -p "$W/store"
mv "$W/seek.log" "$W/store/seek.log"
s=$(date +%s%N)
"$TLOG_RS" index --db "$W/idx.db" --jsonl "$W/store" --quiet
e=$(date +%s%N)
dur=$("$TLOG_RS" search --db "$W/idx.db" --json | grep -o '"duration":[0-9.]*' | head -1 | cut -d: -f2)
echo
printf 'play --db: 100 MB indexed in %.1f s; %s seeks over %s s\n' "$(awk -v d=$((e - s)) 'BEGIN { print d / 1e9 }')" "$SEEKS_DB" "$dur"
# Wall ms of each seek, sorted: "median p95 max".
seeks() {
    local i t s e
    for ((i = 0; i < SEEKS_DB; i++)); do
        t=$(awk -v d="$dur" -v i="$i" 'BEGIN { srand(42 + i); printf "%.3f", rand() * d }')
        s=$(date +%s%N)
        "$@" --print-screen-at "$t" >/dev/null 2>&1 </dev/null || true
        e=$(date +%s%N)
        echo $(((e - s) / 1000000))
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%s %s %s", a[int((NR + 1) / 2)], a[int(NR * 0.95 + 0.999)], a[NR] }'
}
read -r dm dp dx <<<"$(seeks "$TLOG_RS" play --db "$W/idx.db" seek-bench)"
read -r fm fp fx <<<"$(SEEKS_DB=5 seeks "$TLOG_RS" play "$W/store/seek.log")"
printf '  play --db (stored keyframes): median %s ms, p95 %s ms, max %s ms (target < 100 ms)\n' "$dm" "$dp" "$dx"
printf '  play FILE (replay from the start, 5 seeks): median %s ms, p95 %s ms, max %s ms; ratio %s\n' \
    "$fm" "$fp" "$fx" "$(ratio "$dm" "$fm")"

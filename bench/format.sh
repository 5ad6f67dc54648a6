#!/usr/bin/env bash
# Format library benchmark. In-process: encoder and reader throughput (median
# CPU time of 5 runs). Against Debian's tlog on the same files in this run
# (median wall time of RUNS runs, whole processes):
#  - decode: our strict Reader vs `tlog-play -g end` on tlog-rec's own logs;
#  - encode: our encoder alone (file in, log out) vs the whole `tlog-rec`
#    pipe-mode recording of `cat FILE` (an upper bound for the encoder's share).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -p tlog-rs-format --example bench --quiet
B=$(realpath "$TARGET/release/examples/bench")
"$B" 50

for p in tlog-rec tlog-play; do
    command -v "$p" >/dev/null || { echo "bench/format.sh: $p missing (see .ci/packages); skipping tlog comparison"; exit 0; }
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
head -c 37500000 /dev/urandom | base64 > "$W/text"   # ~50 MB
head -c 10000000 /dev/urandom > "$W/bin"

once() {
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s%N)
    awk -v d=$((e - s)) 'BEGIN { printf "%.3f\n", d / 1e9 }'
}
median() {
    local i
    for ((i = 0; i < RUNS; i++)); do
        rm -f "$W/out.log"
        once "$@"
    done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# tlog-play needs a stdin that is never readable (/dev/null makes it spin):
# a FIFO held open for writing by this shell, never written to.
mkfifo "$W/never"
exec 3<>"$W/never"
play_end() { tlog-play -g end -i "$1" <&3; }

for f in text bin; do
    tlog-rec -o "$W/$f.tlog" cat "$W/$f" </dev/null >/dev/null 2>&1
    rec=$(median tlog-rec -o "$W/out.log" cat "$W/$f")
    enc=$(median "$B" encode "$W/$f" "$W/out.log")
    play=$(median play_end "$W/$f.tlog")
    dec=$(median "$B" decode "$W/$f.tlog")
    # Sanity: our reader gives back every byte of tlog-rec's log.
    [ "$("$B" decode "$W/$f.tlog")" = "$(stat -c %s "$W/$f")" ] || { echo "decode of $f.tlog lost bytes" >&2; exit 1; }
    size=$(stat -c %s "$W/$f.tlog")
    echo "$f: log $((size / 1000000)) MB"
    echo "  encode: ours ${enc}s vs tlog-rec ${rec}s -> tlog-rec/ours = $(ratio "$rec" "$enc")x"
    echo "  decode: ours ${dec}s vs tlog-play -g end ${play}s -> tlog-play/ours = $(ratio "$play" "$dec")x"
done

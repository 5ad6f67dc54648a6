#!/usr/bin/env bash
# Recorder benchmark: cat a 50 MB text file (base64 of random bytes) and a
# 10 MB random binary file through bare `script`, Debian's tlog-rec and
# tlog-rs-rec (release), in PTY mode (under script) and pipe mode. Prints the
# median wall time of RUNS runs (default 5), ratios vs script and vs tlog-rec,
# log bytes per output byte, and the recorder's peak RSS. Then the cost of
# converting a Latin-1 terminal (ONLY=charset runs just that part), and the
# recorder against a bare second pty hop, paired (ONLY=hop: just that).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -p tlog-rs-rec --quiet
REC=$(realpath "$TARGET/release/tlog-rs-rec")
for p in script tlog-rec /usr/bin/time; do
    command -v "$p" >/dev/null || { echo "bench/rec.sh: $p missing (see .ci/packages)" >&2; exit 1; }
done
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
head -c 37500000 /dev/urandom | base64 > "$W/text"   # ~50 MB, 76-column lines
head -c 10000000 /dev/urandom > "$W/bin"

# Wall seconds of one run of "$@" (all output discarded, stdin /dev/null).
once() {
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 </dev/null || true
    e=$(date +%s%N)
    awk -v d=$((e - s)) 'BEGIN { printf "%.3f\n", d / 1e9 }'
}
# Median of RUNS runs; removes the log between runs.
median() {
    local i
    for ((i = 0; i < RUNS; i++)); do
        rm -f "$W/l" "$W/l.events"
        once "$@"
    done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# Median over PAIRS of the ratio (time of B / time of A), A and B run back to
# back each time, so slow phases of a noisy machine hit both sides alike.
PAIRS=${PAIRS:-9}
paired_ratio() {
    local a=$1 b=$2 i ta tb
    for ((i = 0; i < PAIRS; i++)); do
        rm -f "$W/l" "$W/l.events"
        ta=$(once sh -c "$a")
        rm -f "$W/l" "$W/l.events"
        tb=$(once sh -c "$b")
        ratio "$tb" "$ta"
        echo
    done | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

# Terminal charsets (issue 13): the same text as Latin-1 bytes under an
# ISO-8859-1 locale (the recorder converts it to UTF-8) and as UTF-8 bytes
# under a UTF-8 locale (no conversion), pipe mode, paired runs. The locale
# need not be installed: the recorder takes the charset its name spells.
charset_bench() {
    tr 'aeiouAEIOU' '\341\351\355\363\372\301\311\315\323\332' <"$W/text" >"$W/latin1"
    iconv -f ISO-8859-1 -t UTF-8 <"$W/latin1" >"$W/utf8"
    echo "--- charset: $(stat -c %s "$W/latin1") Latin-1 bytes (~15% accented letters) vs the same text in UTF-8"
    printf '  pipe: Latin-1 converted / UTF-8 as is, paired (median of %s pairs): %sx\n' "$PAIRS" \
        "$(paired_ratio "LC_ALL=C.UTF-8 $REC -o $W/l cat $W/utf8" "LC_ALL=xx_XX.ISO-8859-1 $REC -o $W/l cat $W/latin1")"
    printf '  PTY : Latin-1 converted / UTF-8 as is, paired (median of %s pairs): %sx\n' "$PAIRS" \
        "$(paired_ratio "script -qec 'LC_ALL=C.UTF-8 $REC -o $W/l cat $W/utf8 </dev/null' /dev/null" \
            "script -qec 'LC_ALL=xx_XX.ISO-8859-1 $REC -o $W/l cat $W/latin1 </dev/null' /dev/null")"
    echo "target: Latin-1 conversion <= 1.10x"
}
# The recorder against a bare second pty hop (`script` inside `script`), the
# floor for any pty recorder (issue 15: <= 1.05x), paired runs.
hop_bench() {
    local f=$1 F="$W/$1"
    printf '  PTY : tlog-rs/hop paired (median of %s back-to-back pairs, %s): %sx\n' "$PAIRS" "$f" \
        "$(paired_ratio "script -qec \"script -qec 'cat $F' /dev/null </dev/null\" /dev/null" \
            "script -qec '$REC -o $W/l cat $F </dev/null' /dev/null")"
}
if [ "${ONLY:-}" = charset ]; then
    charset_bench
    exit 0
fi
if [ "${ONLY:-}" = hop ]; then
    hop_bench text
    echo "target: tlog-rs/hop <= 1.05x"
    exit 0
fi

declare -A T
for f in text bin; do
    F="$W/$f"
    T[pty_script_$f]=$(median script -qec "cat $F" /dev/null)
    # Any pty recorder adds a second pty hop; this is its cost alone.
    T[pty_hop_$f]=$(median script -qec "script -qec 'cat $F' /dev/null </dev/null" /dev/null)
    T[pty_tlog_$f]=$(median script -qec "tlog-rec -o $W/l cat $F </dev/null" /dev/null)
    T[pty_ours_$f]=$(median script -qec "$REC -o $W/l cat $F </dev/null" /dev/null)
    T[pipe_cat_$f]=$(median sh -c "cat $F | cat")
    T[pipe_tlog_$f]=$(median tlog-rec -o "$W/l" cat "$F")
    T[pipe_ours_$f]=$(median "$REC" -o "$W/l" cat "$F")
    rm -f "$W/l" "$W/l.events"
    "$REC" -o "$W/l" cat "$F" >/dev/null </dev/null
    S[0]=$(stat -c %s "$F")
    LOG_OURS=$(stat -c %s "$W/l")
    rm -f "$W/l"
    tlog-rec -o "$W/l" cat "$F" >/dev/null </dev/null
    LOG_TLOG=$(stat -c %s "$W/l")
    rm -f "$W/l" "$W/l.events"
    RSS_OURS=$(/usr/bin/time -f %M "$REC" -o "$W/l" cat "$F" 2>&1 >/dev/null </dev/null | tail -1)
    rm -f "$W/l" "$W/l.events"
    RSS_TLOG=$(/usr/bin/time -f %M tlog-rec -o "$W/l" cat "$F" 2>&1 >/dev/null </dev/null | tail -1)
    rm -f "$W/l"
    echo "--- $f ($(awk -v s="${S[0]}" 'BEGIN { printf "%.1f MB", s / 1e6 }'), median of $RUNS runs, seconds)"
    printf '  PTY : script %s  tlog-rec %s  tlog-rs-rec %s   tlog-rs/script %sx  tlog-rec/tlog-rs %sx\n' \
        "${T[pty_script_$f]}" "${T[pty_tlog_$f]}" "${T[pty_ours_$f]}" \
        "$(ratio "${T[pty_ours_$f]}" "${T[pty_script_$f]}")" "$(ratio "${T[pty_tlog_$f]}" "${T[pty_ours_$f]}")"
    printf '        paired (median of %s back-to-back pairs): tlog-rs/script %sx\n' "$PAIRS" \
        "$(paired_ratio "script -qec 'cat $F' /dev/null" "script -qec '$REC -o $W/l cat $F </dev/null' /dev/null")"
    printf '        script-in-script (bare extra pty hop) %s   tlog-rs/hop %sx\n' \
        "${T[pty_hop_$f]}" "$(ratio "${T[pty_ours_$f]}" "${T[pty_hop_$f]}")"
    hop_bench "$f"
    printf '  pipe: cat|cat %s  tlog-rec %s  tlog-rs-rec %s   tlog-rec/tlog-rs %sx\n' \
        "${T[pipe_cat_$f]}" "${T[pipe_tlog_$f]}" "${T[pipe_ours_$f]}" \
        "$(ratio "${T[pipe_tlog_$f]}" "${T[pipe_ours_$f]}")"
    printf '  log bytes per output byte: tlog-rs-rec %s  tlog-rec %s\n' \
        "$(ratio "$LOG_OURS" "${S[0]}")" "$(ratio "$LOG_TLOG" "${S[0]}")"
    printf '  peak RSS (pipe mode): tlog-rs-rec %s kB  tlog-rec %s kB\n' "$RSS_OURS" "$RSS_TLOG"
done
charset_bench
echo "targets: text PTY tlog-rs/script <= 1.3x (paired ratio); tlog-rec/tlog-rs >= 2x (text and bin); RSS < 10240 kB"

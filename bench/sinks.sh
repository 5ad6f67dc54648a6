#!/usr/bin/env bash
# Sink throughput: `cat` of a text file recorded in pipe mode by tlog-rs-rec
# with the file, journal and syslog writers, and by Debian's tlog-rec with the
# same writers, all into the same private daemons (a standalone journald and
# a private rsyslogd behind a private /dev/log, in one mount namespace).
# Prints the median of RUNS runs and ratios. Needs root (namespaces).
# Usage: bench/sinks.sh   (env: SIZE_MB=10 RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-10}
RUNS=${RUNS:-3}
BIN=${CARGO_TARGET_DIR:-target}/release
cargo build --release -p tlog-rs-rec --quiet
REC=$(realpath "$BIN/tlog-rs-rec")
command -v tlog-rec >/dev/null || { echo "tlog-rec missing: apt-get install tlog"; exit 1; }
command -v rsyslogd >/dev/null || { echo "rsyslogd missing: apt-get install rsyslog"; exit 1; }

T=$(mktemp -d)
HOLD=""; RS=""
cleanup() {
    [ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null && wait "$HOLD" 2>/dev/null || true
    [ -n "$RS" ] && kill "$RS" 2>/dev/null && wait "$RS" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
chmod 755 "$T"
head -c $((SIZE_MB * 750 * 1024)) /dev/urandom | base64 > "$T/text"
BYTES=$(stat -c %s "$T/text")

# Private rsyslogd: unix socket in $T, everything to a file (never /dev/log).
mkdir -p "$T/rs-work"
cat > "$T/rsyslog.conf" <<C
global(workDirectory="$T/rs-work" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$T/log.sock")
*.* action(type="omfile" file="$T/syslog.out")
C
rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslogd.pid" > "$T/rsyslogd.log" 2>&1 &
RS=$!

# One namespace: private /run with journald, /dev overlay whose /dev/log is
# the rsyslog socket. A holder process keeps it alive.
printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToWall=no\nRateLimitBurst=0\n' > "$T/journald.conf"
mkdir -p "$T/dev-up" "$T/dev-wk" "$T/keep-pts" "$T/keep-shm" "$T/var-log-journal"
cat > "$T/ns.sh" <<'S'
set -eu
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal /run/systemd/journald.conf.d
cp "$T/journald.conf" /run/systemd/journald.conf.d/zz-bench.conf
if [ -d /var/log/journal ]; then mount --bind "$T/var-log-journal" /var/log/journal; fi
mount --bind /dev/pts "$T/keep-pts"; mount --bind /dev/shm "$T/keep-shm"
mount -t overlay devovl -o lowerdir=/dev,upperdir="$T/dev-up",workdir="$T/dev-wk" /dev
mount --move "$T/keep-pts" /dev/pts; mount --move "$T/keep-shm" /dev/shm
ln -sfn "$T/log.sock" /dev/log
touch "$T/ns-ready"
exec sleep infinity
S
unshare -m --propagation private env T="$T" sh "$T/ns.sh" &
HOLD=$!
for _ in $(seq 100); do [ -e "$T/ns-ready" ] && [ -S "$T/log.sock" ] && break; sleep 0.1; done
nsenter -t "$HOLD" -m env SYSTEMD_LOG_TARGET=console /lib/systemd/systemd-journald > "$T/journald.log" 2>&1 &
for _ in $(seq 100); do nsenter -t "$HOLD" -m test -S /run/systemd/journal/socket && break; sleep 0.1; done

# median wall seconds of RUNS runs of "$@" inside the namespace
median() {
    local ts=()
    for _ in $(seq "$RUNS"); do
        rm -f "$T/out.log"
        local a b
        a=$(date +%s.%N)
        nsenter -t "$HOLD" -m "$@" < /dev/null > /dev/null 2> "$T/err" || { echo "FAILED: $* : $(cat "$T/err")" >&2; exit 1; }
        b=$(date +%s.%N)
        ts+=("$(echo "$b - $a" | bc)")
    done
    printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}

echo "sinks: ${BYTES} bytes of text, pipe mode, median of $RUNS runs (seconds, MB/s)"
declare -A M
for w in file journal syslog; do
    M[rs-$w]=$(median "$REC" -w "$w" --sink-failure=strict -o "$T/out.log" --notice= cat "$T/text")
    M[c-$w]=$(median tlog-rec -w "$w" -o "$T/out.log" cat "$T/text")
done
M[cat]=$(median cat "$T/text")
mbps() { echo "scale=1; $BYTES / 1048576 / $1" | bc; }
printf '%-28s %8s %8s\n' "recorder/writer" "seconds" "MB/s"
printf '%-28s %8.3f\n' "bare cat" "${M[cat]}"
for w in file journal syslog; do
    printf '%-28s %8.3f %8s\n' "tlog-rs-rec -w $w" "${M[rs-$w]}" "$(mbps "${M[rs-$w]}")"
    printf '%-28s %8.3f %8s\n' "tlog-rec (C) -w $w" "${M[c-$w]}" "$(mbps "${M[c-$w]}")"
done
echo "ratios (time of tlog-rec / time of tlog-rs-rec, >1 = tlog-rs faster):"
for w in file journal syslog; do
    printf '  %-8s %6.2fx\n' "$w" "$(echo "scale=3; ${M[c-$w]} / ${M[rs-$w]}" | bc)"
done
echo "time ratio vs tlog-rs-rec -w file (>1 = slower than file):"
for w in journal syslog; do
    printf '  %-8s %6.2fx\n' "$w" "$(echo "scale=3; ${M[rs-$w]} / ${M[rs-file]}" | bc)"
done

#!/usr/bin/env bash
# Audit log ingestion: events per second of `tlog-rs audit-export` (parse,
# group, decode, JSON out) against Debian's `ausearch` reading the same log
# in this run (`ausearch -if` groups and prints raw events; `ausearch -i -if`
# also interprets). The log is the real capture audit/tests/data/live.log
# (ENRICHED, node=) repeated with shifted ids up to ~EVENTS events; median
# wall time of RUNS runs, whole processes. Target: >= 50k events/s.
# Then the central side on the same log: `tlog-rs index --audit-log` into a
# fresh SQLite index (parse, store, join to a recording of the login, ses
# 280, spanning the whole log) in events/s, and the latency of
# `tlog-rs show REC --audit` for that recording (~100k joined events).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
EVENTS=${EVENTS:-200000}
TARGET=${CARGO_TARGET_DIR:-target}
# TLOG_RS=path: measure that binary instead of building one.
if [ -z "${TLOG_RS:-}" ]; then
    cargo build --release -p tlog-rs --quiet
fi
B=$(realpath "${TLOG_RS:-$TARGET/release/tlog-rs}")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

per=$("$B" audit-export audit/tests/data/live.log | wc -l)
copies=$(((EVENTS + per - 1) / per))
# Copy k: serials + k*100000, times + k*10 s, so events never merge.
awk -v n="$copies" '
    { lines[NR] = $0 }
    END {
        for (k = 0; k < n; k++)
            for (i = 1; i <= NR; i++) {
                l = lines[i]
                if (match(l, /msg=audit\([0-9]+\.[0-9]+:[0-9]+\)/)) {
                    id = substr(l, RSTART + 10, RLENGTH - 11)
                    split(id, p, /[.:]/)
                    new = sprintf("msg=audit(%d.%s:%d)", p[1] + 10 * k, p[2], p[3] + 100000 * k)
                    l = substr(l, 1, RSTART - 1) new substr(l, RSTART + RLENGTH)
                }
                print l
            }
    }' audit/tests/data/live.log > "$W/audit.log"

events=$("$B" audit-export "$W/audit.log" | wc -l)
lines=$(wc -l < "$W/audit.log")
size=$(stat -c %s "$W/audit.log")

# One run: "WALL CPU" seconds (CPU = user + sys: the machine may be shared).
once() {
    local TIMEFORMAT='%R %U %S'
    { time "$@" >/dev/null 2>&1; } 2>&1 | awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }'
}
# Medians of RUNS runs: "WALL CPU".
median() {
    local i
    for ((i = 0; i < RUNS; i++)); do once "$@"; done >"$W/times"
    w=$(awk '{ print $1 }' "$W/times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    c=$(awk '{ print $2 }' "$W/times" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    echo "$w $c"
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", n / t; else print "n/a" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

report() {
    local name=$1 w=$2 c=$3
    printf '  %-22s wall %ss (%s events/s), CPU %ss (%s events/s)\n' \
        "$name:" "$w" "$(rate "$events" "$w")" "$c" "$(rate "$events" "$c")"
}
echo "log: $lines lines, $events events, $((size / 1000000)) MB (live.log x $copies)"
read -r ow oc <<<"$(median "$B" audit-export "$W/audit.log")"
report "tlog-rs audit-export" "$ow" "$oc"
echo "  (target >= 50000 events/s)"
if command -v ausearch >/dev/null; then
    read -r rw rc <<<"$(median ausearch -if "$W/audit.log")"
    report "ausearch -if" "$rw" "$rc"
    read -r iw ic <<<"$(median ausearch -i -if "$W/audit.log")"
    report "ausearch -i -if" "$iw" "$ic"
    echo "  CPU ratios: ausearch -if/ours = $(ratio "$rc" "$oc")x, ausearch -i -if/ours = $(ratio "$ic" "$oc")x"
else
    echo "  ausearch missing (auditd, see .ci/packages): no baseline"
fi

# The central side: one recording of the logged-in session spans the log,
# so every ses-280 event of every copy joins it.
first=$(awk 'match($0, /msg=audit\([0-9]+/) { print substr($0, RSTART + 10, RLENGTH - 10); exit }' "$W/audit.log")
last=$((first + 10 * copies + 10))
mkdir -p "$W/jsonl"
printf '%s\n' \
    "{\"event\":\"start\",\"rec\":\"bench-audit\",\"user\":\"daemon\",\"host\":\"vm\",\"tty\":\"/dev/pts/3\",\"session\":280,\"start\":$first.000,\"end\":null,\"uid\":1}" \
    "{\"ver\":\"2.3\",\"host\":\"vm\",\"rec\":\"bench-audit\",\"user\":\"daemon\",\"term\":\"xterm\",\"session\":280,\"id\":1,\"pos\":0,\"time\":$first.000,\"timing\":\"=80x24<8>1\",\"in_txt\":\"touch f\\r\",\"in_bin\":[],\"out_txt\":\"$\",\"out_bin\":[]}" \
    "{\"event\":\"end\",\"rec\":\"bench-audit\",\"user\":\"daemon\",\"host\":\"vm\",\"tty\":\"/dev/pts/3\",\"session\":280,\"start\":$first.000,\"end\":$last.000,\"exit_status\":0,\"end_reason\":\"exit\",\"messages_written\":1,\"messages_dropped\":0}" \
    >"$W/jsonl/vm.jsonl"
index_once() {
    rm -f "$W"/idx.db*
    "$B" index --db "$W/idx.db" --jsonl "$W/jsonl" --audit-log "$W/audit.log" --quiet
}
read -r xw xc <<<"$(median index_once)"
index_once
joined=$("$B" show --db "$W/idx.db" --audit --json bench-audit | grep -c '"source":"audit"' || true)
echo "central: tlog-rs index --audit-log into a fresh SQLite index, $joined events joined to one recording"
report "tlog-rs index" "$xw" "$xc"
echo "  (target >= 50000 events/s)"
[ -n "${rc:-}" ] && echo "  CPU ratio: index/ausearch -if = $(ratio "$xc" "$rc")x"
read -r sw sc <<<"$(median "$B" show --db "$W/idx.db" --audit bench-audit)"
echo "  tlog-rs show --audit ($joined events): wall ${sw}s, CPU ${sc}s"
read -r jw jc <<<"$(median "$B" show --db "$W/idx.db" --audit --json bench-audit)"
echo "  tlog-rs show --audit --json: wall ${jw}s, CPU ${jc}s"

#!/usr/bin/env bash
# Central store: `tlog-rs index` throughput against `cat` of the same files,
# index size as a fraction of the recordings, and `tlog-rs search` latency
# (whole command, process start included) for a metadata filter and a text
# phrase, on SQLite and (when PostgreSQL's server programs are installed) on a
# throwaway PostgreSQL server on a unix socket. Recordings are made by tlog-rs-rec (pipe mode) on HOSTS fake hosts
# (UTS namespaces) and laid out like the central rsyslog:
# <dir>/<host>/<yyyy-mm-dd>.jsonl with start/end entries beside the messages.
# Output per recording: English text, `ls -l`-like listings and base64 (the
# worst case for a trigram index), SIZE_MB in all.
# Needs root (namespaces). Usage: bench/central.sh
# (env: SIZE_MB=200 RECS=1000 HOSTS=10 RUNS=3 QUERIES=20 REC=path TLOG_RS=path
#  CORPUS=dir: keep the recorded sessions in dir and reuse them on the next run;
#  DISTINCT=n: record only n sessions (RECS a multiple of n) and copy them
#  under other rec ids up to RECS, e.g. RECS=10000 SIZE_MB=2048 DISTINCT=1000)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-200}
RECS=${RECS:-1000}
HOSTS=${HOSTS:-10}
RUNS=${RUNS:-3}
QUERIES=${QUERIES:-20}
BIN=${CARGO_TARGET_DIR:-target}/release
# REC=path / TLOG_RS=path: binaries built elsewhere (then not rebuilt).
[ -n "${REC:-}" ] || { cargo build --release -p tlog-rs-rec --quiet; REC=$(realpath "$BIN/tlog-rs-rec"); }
[ -n "${TLOG_RS:-}" ] || { cargo build --release -p tlog-rs --quiet; TLOG_RS=$(realpath "$BIN/tlog-rs"); }

T=$(mktemp -d)
PGPID=
cleanup() {
    # Fast shutdown of our own PostgreSQL server, if one was started.
    [ -z "$PGPID" ] || { kill -INT "$PGPID" 2>/dev/null; wait "$PGPID" 2>/dev/null || true; }
    rm -rf "$T"
}
trap cleanup EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

# Output corpus: a third each of prose, listings and base64.
{
    cat /usr/share/common-licenses/* 2>/dev/null
    find /usr/share/doc -name copyright -exec cat {} + 2>/dev/null | head -c 4000000 || true
} > "$T/prose"
ls -lR /usr/lib /usr/share 2>/dev/null | head -c 4000000 > "$T/listing" || true
head -c 3000000 /dev/urandom | base64 > "$T/b64" || true
BYTES_PER_REC=$((SIZE_MB * 1024 * 1024 / 113 * 100 / RECS))

mkdir -p "$T/out" "$T/central"
if [ -n "${CORPUS:-}" ] && [ -f "$CORPUS/done" ]; then
    echo "reusing the recordings in $CORPUS"
    cp -r "$CORPUS/central/." "$T/central/"
    RECS_TO_MAKE=0
else
    RECS_TO_MAKE=${DISTINCT:-$RECS}
    echo "recording $RECS_TO_MAKE sessions on $HOSTS hosts, ~$((BYTES_PER_REC / 1024)) KiB of output each..."
fi
day=$(date -u +%F)
for i in $(seq 1 "$RECS_TO_MAKE"); do
    h=$((i % HOSTS))
    src=$T/prose; [ $((i % 3)) -eq 1 ] && src=$T/listing; [ $((i % 3)) -eq 2 ] && src=$T/b64
    size=$(stat -c %s "$src")
    skip=$(( (i * 7919) % (size > BYTES_PER_REC ? size - BYTES_PER_REC : 1) ))
    unshare -u sh -c "hostname host$h.bench.example.com
        tail -c +$((skip + 1)) '$src' | head -c $BYTES_PER_REC > '$T/out/piece'
        [ $i -eq 7 ] && echo 'needle phrase in the haystack' >> '$T/out/piece'
        '$REC' --notice= -o '$T/out/r.log' cat '$T/out/piece' >/dev/null 2>&1" </dev/null
    d=$T/central/host$h.bench.example.com
    mkdir -p "$d"
    { head -n 1 "$T/out/r.log.events"; cat "$T/out/r.log"; tail -n +2 "$T/out/r.log.events"; } >> "$d/$day.jsonl"
    rm -f "$T/out/r.log" "$T/out/r.log.events"
done
if [ -n "${CORPUS:-}" ] && [ ! -f "$CORPUS/done" ]; then
    mkdir -p "$CORPUS" && cp -r "$T/central" "$CORPUS/" && touch "$CORPUS/done"
fi
# Copies up to RECS: each recorded session again under another rec id, on
# the host its number gives, as if recorded there (recording is the slow
# part: a large corpus is made from DISTINCT sessions).
RECORDED=$(cat "$T"/central/*/*.jsonl | grep -c '"event":"start"' || true)
if [ "$RECS" -gt "$RECORDED" ]; then
    [ $((RECS % RECORDED)) -eq 0 ] || { echo "RECS must be a multiple of the $RECORDED recorded sessions" >&2; exit 1; }
    echo "copying the $RECORDED recorded sessions up to $RECS..."
    for j in $(seq 1 $((RECS / RECORDED - 1))); do
        for h in $(seq 0 $((HOSTS - 1))); do
            to=$(( (h + j * RECORDED) % HOSTS ))
            mkdir -p "$T/copies/host$to"
            for f in "$T/central/host$h.bench.example.com"/*.jsonl; do
                sed -e "s/\"host\":\"host$h\./\"host\":\"host$to./" \
                    -e "s/\"fqdn\":\"host$h\./\"fqdn\":\"host$to./" \
                    -e "s/\"rec\":\"[0-9a-f]\{32\}-/\"rec\":\"$(printf %032x "$j")-/" \
                    "$f" >> "$T/copies/host$to/${f##*/}"
            done
        done
    done
    for h in $(seq 0 $((HOSTS - 1))); do
        for f in "$T/copies/host$h"/*.jsonl; do
            cat "$f" >> "$T/central/host$h.bench.example.com/${f##*/}"
        done
    done
    rm -rf "$T/copies"
fi
DATA=$(du -cb "$T"/central/*/*.jsonl | tail -1 | cut -f1)
echo "recordings: $((DATA / 1024 / 1024)) MiB in $(ls "$T"/central/*/*.jsonl | wc -l) day files"

cat_t=(); idx_t=()
for _ in $(seq "$RUNS"); do
    s=$(now); cat "$T"/central/*/*.jsonl > /dev/null; e=$(now)
    cat_t+=("$(echo "$e - $s" | bc)")
    rm -f "$T"/index.db*
    s=$(now); "$TLOG_RS" index --db "$T/index.db" --jsonl "$T/central" --quiet; e=$(now)
    idx_t+=("$(echo "$e - $s" | bc)")
done
CAT=$(printf '%s\n' "${cat_t[@]}" | median)
IDX=$(printf '%s\n' "${idx_t[@]}" | median)
# Incremental run with nothing new.
s=$(now); "$TLOG_RS" index --db "$T/index.db" --jsonl "$T/central" --quiet; e=$(now)
AGAIN=$(echo "$e - $s" | bc)
sqlite3 "$T/index.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null 2>&1 || true
SIZE=$(du -cb "$T"/index.db* | tail -1 | cut -f1)

lat() { # name, args...: p50 and p95 in ms over QUERIES runs
    local name=$1; shift
    local t=()
    for _ in $(seq "$QUERIES"); do
        s=$(now); "$TLOG_RS" search --db "$DB" --json "$@" > "$T/hits" || true; e=$(now)
        t+=("$(echo "($e - $s) * 1000" | bc)")
    done
    local sorted p50 p95
    sorted=$(printf '%s\n' "${t[@]}" | sort -g)
    p50=$(echo "$sorted" | awk -v n="$QUERIES" 'NR==int((n+1)/2){print}')
    p95=$(echo "$sorted" | awk -v n="$QUERIES" 'NR==int(n*0.95+0.999){print}')
    printf '  %-34s p50 %7.1f ms  p95 %7.1f ms  (%d hits)\n' "$name" "$p50" "$p95" "$(wc -l < "$T/hits")"
}

echo
printf 'cat of the recordings     %8.3f s  (median of %d)\n' "$CAT" "$RUNS"
printf 'tlog-rs index (fresh db)  %8.3f s  = %.1f MB/s, %.1fx cat; 1 GB would take %.0f s (target <= 60 s)\n' \
    "$IDX" "$(echo "$DATA / $IDX / 1000000" | bc -l)" "$(echo "$IDX / $CAT" | bc -l)" "$(echo "$IDX * 1000000000 / $DATA" | bc -l)"
printf 'tlog-rs index (no change) %8.3f s\n' "$AGAIN"
printf 'index size                %8.1f MiB = %.1f%% of the recordings (target <= 25%%)\n' \
    "$(echo "$SIZE / 1048576" | bc -l)" "$(echo "$SIZE * 100 / $DATA" | bc -l)"
queries() {
    lat "metadata: --host, --since -1d" --host host3.bench.example.com --since -1d
    lat "metadata: --user root --admin" --user root --admin
    lat "text: rare phrase" --text "needle phrase"
    lat "text: common word" --text "license" --limit 50
    lat "command + metadata" --command "cat" --host host1.bench.example.com
}
echo "search latency over $RECS recordings ($((DATA / 1024 / 1024)) MiB), SQLite:"
DB=$T/index.db
queries

# The same on PostgreSQL (throwaway server, unix socket in $T, fsync off:
# the figures are for search, the server's durability is not measured).
pgbin() { command -v "$1" 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -1; }
INITDB=$(pgbin initdb); PGSERVER=$(pgbin postgres); PSQL=$(pgbin psql)
if [ -z "$INITDB" ] || [ -z "$PGSERVER" ] || [ -z "$PSQL" ]; then
    echo "PostgreSQL: not measured (apt-get install postgresql)"
    exit 0
fi
PGD=$T/pg
mkdir -p "$PGD"
as_pg=()
if [ "$(id -u)" = 0 ]; then
    # The server refuses to run as root.
    chmod 711 "$T"; chown postgres: "$PGD"
    as_pg=(setpriv --reuid=postgres --regid=postgres --clear-groups --)
fi
"${as_pg[@]}" "$INITDB" -N -A trust -U postgres -E UTF8 --no-locale -D "$PGD/data" >/dev/null
"${as_pg[@]}" "$PGSERVER" -D "$PGD/data" -k "$PGD" -c listen_addresses= -c fsync=off \
    -c shared_buffers=128MB >"$PGD/log" 2>&1 </dev/null &
PGPID=$!
for _ in $(seq 100); do
    "$PSQL" -X -q -h "$PGD" -U postgres -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
done
"$PSQL" -X -q -h "$PGD" -U postgres -d postgres -c 'CREATE DATABASE bench' >/dev/null
DB="postgres://postgres@${PGD//\//%2F}/bench"
s=$(now); "$TLOG_RS" index --db "$DB" --jsonl "$T/central" --quiet; e=$(now)
PGIDX=$(echo "$e - $s" | bc)
"$PSQL" -X -q -h "$PGD" -U postgres -d bench -c 'VACUUM ANALYZE' >/dev/null
PGSIZE=$("$PSQL" -X -q -A -t -h "$PGD" -U postgres -d bench -c "SELECT pg_database_size('bench') - pg_database_size('template1')")
echo
printf 'PostgreSQL: tlog-rs index (fresh db) %8.3f s = %.1f MB/s; index size %.1f MiB = %.1f%% of the recordings\n' \
    "$PGIDX" "$(echo "$DATA / $PGIDX / 1000000" | bc -l)" "$(echo "$PGSIZE / 1048576" | bc -l)" "$(echo "$PGSIZE * 100 / $DATA" | bc -l)"
# Where the space goes: each table with its TOAST and indexes, largest first.
"$PSQL" -X -q -A -t -F ' ' -h "$PGD" -U postgres -d bench -c "
    SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname = 'public'
    ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 6" |
    while read -r rel tbl idx; do
        printf '  %-14s table+TOAST %7.1f MiB  indexes %7.1f MiB\n' "$rel" \
            "$(echo "$tbl / 1048576" | bc -l)" "$(echo "$idx / 1048576" | bc -l)"
    done
echo "search latency over $RECS recordings ($((DATA / 1024 / 1024)) MiB), PostgreSQL:"
queries

#!/usr/bin/env bash
# Fuzzing smoke run: builds every cargo-fuzz target and runs each for
# FUZZ_SECONDS (default 20) seconds. Uses the stable toolchain with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags). Exits non-zero on a crash;
# the crashing input is left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
secs="${FUZZ_SECONDS:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# Seeds: real tlog messages and timing strings, a config, audit logs.
seed() {
    local target=$1
    mkdir -p "corpus/$target"
    case $target in
    message_reader | timing_parser)
        local n=0
        for log in ../format/tests/samples/*.log; do
            while IFS= read -r line; do
                n=$((n + 1))
                if [ "$target" = message_reader ]; then
                    printf '%s\n' "$line" >"corpus/$target/seed-$n"
                else
                    printf '%s' "$line" | sed -n 's/.*"timing":"\([^"]*\)".*/\1/p' >"corpus/$target/seed-$n"
                fi
            done <"$log"
        done
        ;;
    rec_config)
        printf '%s' '{"shell":"/bin/bash","notice":"\nREC\n","latency":10,"payload":2048,
// comment
"log":{"input":false,"output":true,"window":true},
"limit":{"rate":16384,"burst":32768,"action":"pass"},
"file":{"path":"/var/log/x"},"writer":"journal"}' >"corpus/$target/seed-1"
        ;;
    audit_parser)
        # Real and hand-written audit.log files (enriched, hex, node=, interleaved).
        for log in ../audit/tests/data/*.log ../audit/tests/data/audit-userspace/*.log; do
            cp "$log" "corpus/$target/seed-$(basename "$log")"
        done
        ;;
    esac
}

status=0
for target in $(cargo fuzz list); do
    seed "$target"
    echo "== fuzzing $target for ${secs}s"
    if ! cargo fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1; then
        echo "!! $target crashed: see fuzz/artifacts/$target/" >&2
        status=1
    fi
done
exit $status

#!/usr/bin/env bash
# Modules benchmark: getpwnam latency with `passwd: tlog files` vs `passwd: files`
# (selected / unselected / nonexistent user), PAM open_session time (pam_tlog vs
# pam_permit), ssh connect-to-first-output recorded vs unrecorded. Runs as root in a
# private mount namespace (tests/src/sshd.rs world); prints medians and ratios.
# Targets: unselected/nonexistent <= 1.5x files, selected <= 3x, open_session < 2 ms,
# login overhead < 20 ms, first lookup in a new process <= +150 us over files.
# --pam-only: only the PAM transaction part.
set -euo pipefail
[ "${1:-}" = --pam-only ] && export TLOG_BENCH_PAM_ONLY=1
cd "$(dirname "$0")/.."
cargo build --release -q -p nss_tlog -p pam_tlog -p tlog-rs-rec -p tlog-rs
cargo test --release -q -p tlog-rs-tests --test modules_bench -- --ignored --nocapture --test-threads=1 2>&1 \
    | grep -v -E '^(running [0-9]+ test|test result:|$)' | grep -v '^test modules_bench'

#!/usr/bin/env bash
# Modules benchmark: getpwnam latency with `passwd: tlog files` vs `passwd: files`
# (selected / unselected / nonexistent user), PAM open_session time (pam_tlog vs
# pam_permit), ssh connect-to-first-output recorded vs unrecorded. Runs as root in a
# private mount namespace (tests/src/sshd.rs world); prints medians and ratios.
# Targets: unselected/nonexistent <= 1.5x files, selected <= 3x, open_session < 2 ms,
# login overhead < 20 ms, first lookup in a new process <= +150 us over files.
# --pam-only: only the PAM transaction part.
# --ab REV: only the first lookup in a new process, this tree's NSS module
# against the one built from git revision REV (a regression check), in one world.
# REV must read this tree's snapshot format (v2 since commit 5b77006): an
# older module reads today's snapshot as corrupt (and fails secure), so its
# figures would not compare.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
--pam-only) export TLOG_BENCH_PAM_ONLY=1 ;;
--ab)
    rev=${2:?usage: bench/modules.sh --ab REV}
    base=$(mktemp -d)
    trap 'git worktree remove --force "$base/src" 2>/dev/null; rm -rf "$base"' EXIT
    git worktree add -q --detach "$base/src" "$rev"
    echo "building the baseline module ($(git -C "$base/src" log --oneline -1))..." >&2
    (cd "$base/src" && CARGO_TARGET_DIR="$base/target" cargo build --release -q -p nss_tlog)
    export TLOG_BENCH_NSS_BASELINE="$base/target/release/libnss_tlog.so"
    ;;
esac
cargo build --release -q -p nss_tlog -p nss_tlog_fallback -p pam_tlog -p tlog-rs-rec -p tlog-rs
cargo test --release -q -p tlog-rs-tests --test modules_bench -- --ignored --nocapture --test-threads=1 2>&1 \
    | grep -v -E '^(running [0-9]+ test|test result:|$)' | grep -v '^test modules_bench'

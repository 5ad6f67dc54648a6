#!/bin/sh
# Policy decision benchmark: time per decision (100 rules, 50 groups per
# user) and the cost of re-checking unchanged files, with same-run baselines
# (glibc getpwnam_r, stat). Builds and runs policy/examples/policy_bench.rs
# in release. Usage: bench/policy.sh  (from anywhere in the repo)
set -eu
cd "$(dirname "$0")/.."
cargo run --quiet --release -p tlog-rs-policy --example policy_bench

#!/usr/bin/env bash
# Web UI: latency of the recordings list's query over an index of
# WEB_RECS (10,000) small recordings, for page 0 and page 150 of 50, now
# sorted, paged and counted by the database, against the old way measured
# in the same run (every matching row fetched, sorted and paged in the
# server): p50/p95 and the ratio. SQLite, and PostgreSQL on a throwaway
# server when its programs are installed (needs root or a postgres
# account, as the tests). In-process (tests/tests/web_list_bench.rs,
# release build): the figures are the query, not HTTP or HTML.
# Usage: bench/web.sh   (env: WEB_RECS=10000 WEB_QUERIES=30)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -q -p tlog-rs-tests --test web_list_bench -- --ignored --nocapture 2>&1 \
    | grep -v -E '^(running [0-9]+ test|test result:|\.?$)' | grep -v '^test web_list'

#!/usr/bin/env bash
# Web UI.
# 1. Latency of the recordings list's query over an index of WEB_RECS
#    (10,000) small recordings, for page 0 and page 150 of 50, sorted,
#    paged and counted by the database, against the old way measured in
#    the same run (every matching row fetched, sorted and paged in the
#    server): p50/p95 and the ratio. SQLite, and PostgreSQL on a throwaway
#    server when its programs are installed (needs root or a postgres
#    account, as the tests). In-process (tests/tests/web_list_bench.rs):
#    the figures are the query, not HTTP or HTML.
# 2. In a real browser (tests/tests/web_bench.rs + tests/web/bench.mjs:
#    Debian's chromium through playwright-core, `tlog-rs web` over TLS,
#    login through PAM in a private namespace; needs root): the list page
#    over the same 10,000 recordings, navigation to DOM ready p50/p95
#    against a static asset; 20 seeks in a 100 MB, one-hour recording,
#    from seek() until the player's screen equals `tlog-rs play
#    --print-screen-at` (target < 100 ms); the server's max RSS while
#    seeking and streaming that whole recording.
# Usage: bench/web.sh   (env: WEB_RECS=10000 WEB_QUERIES=30 WEB_LIST_RUNS=30
#                        WEB_SEEK_MB=100 WEB_SEEK_SECS=3600 WEB_SEEKS=20)
set -euo pipefail
cd "$(dirname "$0")/.."
quiet() { grep -v -E '^(running [0-9]+ test|test result:|\.?$)' | grep -v -E '^test web_'; }
cargo test --release -q -p tlog-rs-tests --test web_list_bench -- --ignored --nocapture 2>&1 | quiet
echo
if ! command -v chromium >/dev/null || ! command -v node >/dev/null || [ ! -d tests/web/node_modules/playwright-core ]; then
    echo "browser benchmark: not run (needs chromium, nodejs and \`npm ci --prefix tests/web\`)"
    exit 0
fi
cargo build --release -q -p tlog-rs -p tlog-rs-web --bins
cargo test --release -q -p tlog-rs-tests --test web_bench -- --ignored --nocapture 2>&1 | quiet

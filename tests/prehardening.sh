#!/usr/bin/env bash
# Run the issue-9 attacker tests of this checkout (tests/tests/hardening_*.rs)
# against the binaries of the pre-hardening commit, to show that each test
# fails there (docs/hardening.md has the table). Not part of tests/run or
# .ci/run. Run as root like the system tests; the tests use their private
# mount namespaces and never edit the host's /etc.
#
#   OLD=<commit>   pre-hardening code (default 88de366, the parent of the
#                  hardening commit 093bc52)
#   WORK=<dir>     scratch dir: old sources, their target dir, logs
#                  (default /tmp/tlog-rs-prehardening; about 1 GB; removed
#                  at the end unless KEEP=1)
#   MODES="plain setuid"
#                  plain: the recorder installed as before the change (not
#                  set-id, recording dirs owned by the users);
#                  setuid: installed as `make install` does it now (set-uid
#                  to a tlog-rs account that owns the recording dirs)
#   TESTS="a b"    test targets of tests/tests to run (default: every
#                  hardening_*; the other issue-9 tests are e.g.
#                  modules_uid_alias config_bounds play_tamper)
#   TEST_THREADS=N parallel tests per binary (default 2)
#
# Output: one line per test and mode, `MODE TEST ok|FAILED [panic location:
# first line of the message]`, also in $WORK/summary.txt when KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=${OLD:-88de366}
WORK=${WORK:-/tmp/tlog-rs-prehardening}
MODES=${MODES:-plain setuid}
command -v jq >/dev/null || { echo "prehardening.sh: needs jq" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "prehardening.sh: run as root (system tests)" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK/src" "$WORK/logs"
git archive "$OLD" | tar -x -C "$WORK/src"
echo "== building $OLD in $WORK/src"
(cd "$WORK/src" && CARGO_TARGET_DIR="$WORK/target" cargo build -q \
    -p tlog-rs -p tlog-rs-rec -p pam_tlog -p nss_tlog)

# This checkout's tests, built as usual, then copied next to the old
# binaries: artifact() looks in the directory above the test executable.
tests=()
for t in ${TESTS:-$(cd tests/tests && ls hardening_*.rs | sed 's/\.rs$//')}; do tests+=(--test "$t"); done
mapfile -t exes < <(cargo test -q -p tlog-rs-tests "${tests[@]}" --no-run --message-format=json |
    jq -r 'select(.profile.test == true) | .executable // empty')
deps="$WORK/target/debug/deps"
for e in "${exes[@]}"; do cp "$e" "$deps/"; done

summary="$WORK/summary.txt"
: >"$summary"
for mode in $MODES; do
    case $mode in
    plain) export TLOG_RS_TESTS_RECORDER_NOT_SETUID=1 ;;
    setuid) unset TLOG_RS_TESTS_RECORDER_NOT_SETUID ;;
    *) echo "prehardening.sh: unknown mode $mode" >&2; exit 1 ;;
    esac
    for e in "${exes[@]}"; do
        bin="$deps/$(basename "$e")"
        name=$(basename "$e" | sed 's/-[0-9a-f]*$//')
        log="$WORK/logs/$mode-$name.log"
        echo "== $mode $name" >&2
        "$bin" --test-threads="${TEST_THREADS:-2}" >"$log" 2>&1 || true
        # Each test's result, and for a failure where and why it panicked.
        grep -a '^test .* \.\.\. ' "$log" | sed 's/^test \(.*\) \.\.\. \(.*\)$/\1 \2/' |
            sort | while read -r t res; do
                why=""
                if [ "$res" = FAILED ]; then
                    why=$(awk -v t="$t" '
                        $0 ~ "^---- " t " stdout ----" {on=1; next}
                        on && /panicked at/ {sub(/.*panicked at /, ""); loc=$0; getline; print loc " " $0; exit}' "$log")
                fi
                echo "$mode $name::$t $res ${why:0:300}" | tee -a "$summary"
            done
    done
done
if [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$WORK"
fi

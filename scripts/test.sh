#!/usr/bin/env bash
# The project's test command (README): formatting, lints, every crate's tests, and the notebooks.
# Closes with one line for the whole suite, `tests: N passed, N failed, N skipped`: a live test
# that cannot run on this machine is counted as skipped, never as passed (scripts/test-summary.sh,
# executor/src/skip.rs); with BURSTSIM_REQUIRE_LIVE=1 (CI) such a skip fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
log=$(mktemp)
BURSTSIM_SKIP_LOG=$(mktemp)
export BURSTSIM_SKIP_LOG
trap 'rm -f "$log" "$BURSTSIM_SKIP_LOG"' EXIT
tests=0
# Every test binary runs, even after a failure, so the closing line counts them all.
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || tests=$?
notebooks=0
if [ -x notebooks/run_all.sh ]; then
  notebooks/run_all.sh || notebooks=$?
  [ "$notebooks" -eq 0 ] || echo "notebooks failed (exit $notebooks)" >&2
fi
scripts/test-summary.sh "$log" "$BURSTSIM_SKIP_LOG" "$tests"
[ "$tests" -eq 0 ] && [ "$notebooks" -eq 0 ]

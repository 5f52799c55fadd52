#!/usr/bin/env bash
# The project's test command (README): formatting, lints, every crate's tests, and the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
if [ -x notebooks/run_all.sh ]; then
  notebooks/run_all.sh
fi
# One closing line for the whole suite: the sum of every cargo test binary's counts.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"

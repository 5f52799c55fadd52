#!/usr/bin/env bash
# The project's test command (README): formatting, lints, every crate's tests, and the notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
if [ -x notebooks/run_all.sh ]; then
  notebooks/run_all.sh
fi

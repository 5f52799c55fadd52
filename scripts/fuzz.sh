#!/usr/bin/env bash
# Fuzzes the config loader and the `--set` parser (fuzz/: cargo fuzz, libFuzzer) for SECONDS
# per target (default 60), starting from the stored corpus (fuzz/corpus/<target>, read-only:
# what the fuzzer finds goes to a scratch copy). A panic fails the run and leaves the input in
# fuzz/artifacts/<target>/: fix the bug and add the input to the corpus, which tests replay.
#
# cargo fuzz passes nightly-only flags to rustc; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# (the only one this project can rely on) accept them, and `--sanitizer none` needs no sanitizer
# runtime: the code under test is safe Rust, whose bugs here are panics. Needs cargo-fuzz
# (`cargo install cargo-fuzz --locked`; .ci/run installs it).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
export RUSTC_BOOTSTRAP=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in config set; do
  mkdir -p "$scratch/$target"
  cp corpus/"$target"/* "$scratch/$target/"
  echo "fuzzing $target for ${seconds} s"
  status=0
  cargo fuzz run --sanitizer none "$target" "$scratch/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    > "$scratch/$target.log" 2>&1 || status=$?
  grep -E '^(#[0-9]+[[:space:]]+DONE|Done |stat::(number_of_executed_units|new_units_added|peak_rss_mb))' \
    "$scratch/$target.log" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$scratch/$target.log" >&2
    echo "fuzz: $target failed (exit $status): the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done

#!/bin/sh
# Side-by-side reference: the anchor workload of configs/bench/anchor-*.toml in DSLab FaaS
# (github.com/osukhoroslov/dslab), run right after `burstsim bench` on the same machine.
# Usage: scripts/dslab-anchor/run.sh [N=1000000] [seed=1] [ordered|heap]
# Needs git access to GitHub (the dslab crates are not on crates.io) and /usr/bin/time.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
commit=a6c155e8db4b3704dbaa3f4b3e99d987ad0da2d2
if [ ! -d "$here/dslab" ]; then
    git clone -q https://github.com/osukhoroslov/dslab "$here/dslab"
fi
git -C "$here/dslab" checkout -q "$commit"
cargo build --quiet --release --manifest-path "$here/Cargo.toml"
target=${CARGO_TARGET_DIR:-$here/target}
cat /proc/loadavg
/usr/bin/time -f "wall %e s, CPU %U+%S s, peak RSS %M KB" "$target/release/dslab-anchor-bench" "$@"

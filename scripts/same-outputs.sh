#!/bin/sh
# Do two builds of burstsim write the same outputs? Runs the shipped run configs (the sweeps in
# configs/predictions and configs/sweeps are not single runs) and three benchmark configs with
# each binary (records.csv, steps.csv and summary.json; record files as CSV only) and compares
# the files' hashes: a speed change must leave them byte-identical.
# Usage (from the repository root): scripts/same-outputs.sh OLD_BINARY NEW_BINARY
# e.g. build the old commit in a worktree: git worktree add /tmp/old COMMIT && (cd /tmp/old &&
# cargo build --release), then scripts/same-outputs.sh /tmp/old/target/release/burstsim
# target/release/burstsim. Takes a few minutes (anchor-1m and faas-1m write 1 M records each).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 OLD_BINARY NEW_BINARY" >&2; exit 2; }
configs="configs/apps/collectives/all_to_all.toml configs/apps/collectives/broadcast.toml
configs/apps/collectives/gather.toml configs/apps/collectives/reduce.toml configs/apps/pagerank.toml
configs/apps/terasort.toml configs/arrivals.toml configs/faas.toml configs/hetero.toml
configs/homo.toml
configs/traces/azure-2019.toml configs/traces/azure-2021.toml configs/traces/bursts.toml
configs/bench/anchor-1m.toml configs/bench/faas-1m.toml configs/bench/alltoall-1000.toml"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for side in old new; do
    if [ $side = old ]; then binary=$1; else binary=$2; fi
    mkdir -p "$work/$side"
    for config in $configs; do
        out="$work/$side/$(echo "$config" | tr / _)"
        "$binary" --config "$config" --out "$out" --records csv > "$out.log" 2>&1 ||
            { echo "$binary failed on $config:" >&2; cat "$out.log" >&2; exit 1; }
        for f in records.csv steps.csv summary.json; do
            [ -f "$out/$f" ] && echo "$(md5sum < "$out/$f" | cut -c1-32) $(basename "$out")/$f"
        done
        rm -rf "$out"
    done > "$work/$side.txt"
done
if diff "$work/old.txt" "$work/new.txt"; then
    echo "same outputs: $(wc -l < "$work/new.txt") files"
else
    echo "outputs differ (lines above: < old, > new)" >&2
    exit 1
fi

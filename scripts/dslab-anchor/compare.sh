#!/bin/sh
# The anchor workload in burstsim and in DSLab FaaS, one right after the other on this machine,
# and the ratio of their wall times (the issue-10 speed target is >= 10x DSLab's invocations/s).
# Usage (from the repository root, after `cargo build --release`):
#   scripts/dslab-anchor/compare.sh [1m 10m ...]
# Each size runs burstsim (`burstsim bench`, record files off) then DSLab FaaS, each the best
# of 3 fresh processes at 1m and one run above. Needs what run.sh needs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
burstsim=${BURSTSIM:-${CARGO_TARGET_DIR:-target}/release/burstsim}
sizes=${*:-1m 10m}
printf '%-6s %14s %14s %12s %12s %8s\n' size "burstsim s" "DSLab s" "burstsim MB" "DSLab MB" ratio
for size in $sizes; do
    case $size in
        1m) n=1000000 ;;
        10m) n=10000000 ;;
        100m) n=100000000 ;;
        *) echo "unknown size $size (1m, 10m, 100m)" >&2; exit 2 ;;
    esac
    repeat=1
    [ "$n" -le 1000000 ] && repeat=3
    # Each run in a fresh process, as DSLab's (`bench` runs every case in a child process).
    b=""
    i=0
    while [ $i -lt $repeat ]; do
        run=$("$burstsim" bench --repeat 1 --config "configs/bench/anchor-$size.toml" \
            | awk -v c="anchor-$size" '$1 == c { print $4, $8 }')
        if [ -z "$b" ] || awk -v a="${run% *}" -v b="${b% *}" 'BEGIN { exit !(a < b) }'; then
            b=$run
        fi
        i=$((i + 1))
    done
    best=""
    best_mb=""
    i=0
    while [ $i -lt $repeat ]; do
        out=$("$here/run.sh" "$n" 2>&1)
        s=$(echo "$out" | sed -n 's/.*; total \([0-9.]*\) s$/\1/p')
        mb=$(echo "$out" | sed -n 's/.*peak RSS \([0-9]*\) KB.*/\1/p')
        if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$s
            best_mb=$((mb / 1024))
        fi
        i=$((i + 1))
    done
    echo "$b $best $best_mb" | awk -v size="$size" \
        '{ printf "%-6s %14.3f %14.3f %12.1f %12d %7.1fx\n", size, $1, $3, $2, $4, $3 / $1 }'
done
cat /proc/loadavg

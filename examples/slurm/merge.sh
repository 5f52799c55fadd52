#!/usr/bin/env bash
# Joins the shard folders written by sweep-array.sh into results/sweeps/<name>/ (runs.parquet,
# runs.csv, plots/). Submit after the array:  sbatch --dependency=afterok:<job id> examples/slurm/merge.sh SWEEP.toml
#SBATCH --job-name=burstsim-merge
#SBATCH --cpus-per-task=1
#SBATCH --time=00:15:00
#SBATCH --output=results/slurm/%x-%j.out
set -euo pipefail

SWEEP="${1:?usage: sbatch examples/slurm/merge.sh SWEEP.toml [OUT]}"
NAME="$(basename "$SWEEP" .toml)"
OUT="${2:-results/sweeps/$NAME}"
BIN="${BURSTSIM_BIN:-target/release/burstsim}"

"$BIN" merge "$OUT"/shard-*-of-* --out "$OUT"

#!/usr/bin/env bash
# Runs a burstsim sweep as a Slurm job array: array task I runs shard I of N, into its own folder;
# a dependent job merges the shards. Submit from the repository root:
#
#   sbatch --array=0-15 examples/slurm/sweep-array.sh configs/sweeps/granularity.toml
#   sbatch --dependency=afterok:<array job id> examples/slurm/merge.sh configs/sweeps/granularity.toml
#
# Shards are deterministic (run r belongs to shard r mod N) and every node numbers the runs the same
# way, so a failed or preempted task can simply be resubmitted (`sbatch --array=7 ...`): it skips the
# runs its folder already holds. Put the repository and results on a shared file system.
#SBATCH --job-name=burstsim-sweep
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --time=01:00:00
#SBATCH --output=results/slurm/%x-%A_%a.out
#SBATCH --requeue
set -euo pipefail

SWEEP="${1:?usage: sbatch --array=0-(N-1) examples/slurm/sweep-array.sh SWEEP.toml [OUT]}"
NAME="$(basename "$SWEEP" .toml)"
OUT="${2:-results/sweeps/$NAME}"
BIN="${BURSTSIM_BIN:-target/release/burstsim}"
: "${SLURM_ARRAY_TASK_ID:?run with sbatch --array}"
# Shard count = array size (0-based contiguous array: --array=0-(N-1)).
COUNT="${SLURM_ARRAY_TASK_COUNT:?run with sbatch --array}"

"$BIN" sweep --quiet \
  --config "$SWEEP" \
  --shard "$SLURM_ARRAY_TASK_ID/$COUNT" \
  --jobs "${SLURM_CPUS_PER_TASK:-1}" \
  --out "$OUT/shard-$SLURM_ARRAY_TASK_ID-of-$COUNT"

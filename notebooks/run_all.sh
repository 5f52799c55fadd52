#!/usr/bin/env bash
# Generates fresh outputs with the burstsim binary, then executes every notebook headless, so the
# notebooks cannot rot. Used by CI (.ci/run); also handy by hand.
#
#   notebooks/run_all.sh            # small, fast variants of the sweeps (CI)
#   FULL=1 notebooks/run_all.sh     # the whole studies (a few minutes)
#
# Environment: BURSTSIM_BIN (a built binary; default: build with cargo), BURSTSIM_RESULTS (output
# folder; default results/notebooks), PROFILE (cargo profile when building; default dev).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${BURSTSIM_RESULTS:-results/notebooks}"
if [ -z "${BURSTSIM_BIN:-}" ]; then
  PROFILE="${PROFILE:-dev}"
  cargo build --quiet --profile "$PROFILE" --bin burstsim
  dir="$PROFILE"; [ "$PROFILE" = dev ] && dir=debug
  BURSTSIM_BIN="${CARGO_TARGET_DIR:-target}/$dir/burstsim"
fi
if [ "${FULL:-0}" = 1 ]; then suffix=""; else suffix="-quick"; fi

# Fresh outputs: a sweep folder of an older binary would otherwise be resumed, not rerun.
rm -rf "$OUT/thesis" "$OUT/sweeps" "$OUT/executed"
mkdir -p "$OUT/executed"
"$BURSTSIM_BIN" --config configs/faas.toml --out "$OUT/thesis/faas" >/dev/null
"$BURSTSIM_BIN" --config configs/hetero.toml --out "$OUT/thesis/hetero" >/dev/null
"$BURSTSIM_BIN" sweep --quiet --config "configs/sweeps/granularity$suffix.toml" --out "$OUT/sweeps/granularity"
"$BURSTSIM_BIN" sweep --quiet --config "configs/sweeps/boundaries$suffix.toml" --out "$OUT/sweeps/boundaries"

BURSTSIM_RESULTS="$(cd "$OUT" && pwd)"
BURSTSIM_DATA="$(pwd)/data"
export BURSTSIM_RESULTS BURSTSIM_DATA
for notebook in notebooks/*.ipynb; do
  echo "executing $notebook"
  python3 -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=600 \
    --output-dir "$OUT/executed" "$notebook"
done
echo "executed notebooks in $OUT/executed"

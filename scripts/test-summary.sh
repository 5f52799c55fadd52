#!/usr/bin/env bash
# The test command's closing line, `tests: N passed, N failed, N skipped`, from
#   LOG    the output of `cargo test` (its `test result:` lines), and
#   SKIPS  the skip log: one `SKIPPED: <test>: <reason>` line per live test that could not run
#          on this machine (executor/src/skip.rs writes it where $BURSTSIM_SKIP_LOG says).
# A test that skipped returned normally, so the harness counted it as passed: it is moved to
# skipped. Tests the harness ignored (#[ignore]) are skipped too. Each skip is listed first.
# With STATUS (cargo's exit status) non-zero but no failed test counted, says so: a test binary
# that crashed or did not build has no `test result:` line.
#
#   scripts/test-summary.sh LOG SKIPS [STATUS]
set -euo pipefail
log=$1
skips=$2
status=${3:-0}

skipped=0
if [ -s "$skips" ]; then
  grep '^SKIPPED: ' "$skips" || true
  skipped=$(grep -c '^SKIPPED: ' "$skips" || true)
fi
awk -v skipped="$skipped" -v status="$status" '
  /^test result:/ {
    for (i = 1; i < NF; i++) {
      if ($(i+1) ~ /^passed/) p += $i
      if ($(i+1) ~ /^failed/) f += $i
      if ($(i+1) ~ /^ignored/) ig += $i
    }
  }
  END {
    line = sprintf("tests: %d passed, %d failed, %d skipped", p - skipped, f, skipped + ig)
    if (ig > 0) line = line sprintf(" (%d ignored)", ig)
    if (status != 0 && f == 0) line = line sprintf(" (cargo test exited with %d: a test binary did not run to its end, see above)", status)
    print line
  }' "$log"

#!/usr/bin/env python3
"""The README figure of the faults study (configs/sweeps/faults.toml).

Reads the sweep's runs.csv and draws two rows of panels, one column per granularity, one line
per recovery policy, each point the mean makespan over seeds with min-max bars:
  top:    makespan vs invoker MTBF, without stragglers;
  bottom: makespan vs straggler rate, without invoker crashes.
A dashed line marks the mean makespan of the same runs without faults.

    python3 scripts/plot_faults_sweep.py results/sweeps/faults/runs.csv docs/img/faults-sweep.png

Needs only matplotlib (notebooks/requirements.txt). Also writes the SVG next to the PNG.
"""

import csv
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def ordered(values):
    seen = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def main(runs_csv: str, out_png: str) -> None:
    rows = list(csv.DictReader(open(runs_csv, newline="")))
    if not rows:
        sys.exit(f"{runs_csv}: no rows")
    policies = ordered(r["recovery"] for r in rows)
    grans = ordered(r["granularity"] for r in rows)
    mtbfs = ordered(r["mtbf_s"] for r in rows)
    rates = ordered(r["straggler_rate"] for r in rows)
    no_crash, no_straggler = mtbfs[-1], rates[0]

    groups = defaultdict(list)
    fault_free = defaultdict(list)
    for r in rows:
        key = (r["recovery"], r["granularity"], r["mtbf_s"], r["straggler_rate"])
        groups[key].append(float(r["makespan_s"]))
        fault_free[r["granularity"]].append(float(r["faults.fault_free_makespan_s"]))

    fig, axes = plt.subplots(2, len(grans), figsize=(4.2 * len(grans), 7.5), sharey="row")
    for col, g in enumerate(grans):
        base = sum(fault_free[g]) / len(fault_free[g])
        for row, (xs, fixed, label) in enumerate(
            [
                (mtbfs, lambda x: (x, no_straggler), "invoker MTBF (s)"),
                (rates, lambda x: (no_crash, x), "straggler rate"),
            ]
        ):
            ax = axes[row][col]
            for p in policies:
                means, lo, hi = [], [], []
                for x in xs:
                    ys = groups[(p, g) + fixed(x)]
                    m = sum(ys) / len(ys)
                    means.append(m)
                    lo.append(m - min(ys))
                    hi.append(max(ys) - m)
                ax.errorbar(range(len(xs)), means, yerr=[lo, hi], marker="o", capsize=3, label=p)
            ax.axhline(base, color="grey", linestyle="--", linewidth=1, label="without faults")
            ax.set_xticks(range(len(xs)), xs)
            ax.set_xlabel(label)
            ax.set_title(f"granularity {g}" + (", no stragglers" if row == 0 else ", no crashes"))
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel("makespan (s)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Makespan of a 192-worker, 60 s burst under faults (mean, min-max over seeds)")
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    fig.savefig(out.with_suffix(".svg"))
    print(f"wrote {out} and {out.with_suffix('.svg')}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot_faults_sweep.py RUNS_CSV OUT_PNG")
    main(sys.argv[1], sys.argv[2])

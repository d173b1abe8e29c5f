"""Plots docs/performance-scaling.csv (written by `compare --csv`) as docs/performance-scaling.png.

One panel per workload: time per task against the number of tasks, both on log scales. Flat
means linear total time; the dotted guide rises like log n (n log n in total), the dashed one
like n (quadratic in total), both drawn through trio's first point. The vertical axis is scaled
to the measurements, so a steep guide leaves the panel through the top.

    python3 docs/plot_performance.py [CSV] [PNG]
"""

import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

here = Path(__file__).resolve().parent
source = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "performance-scaling.csv"
target = Path(sys.argv[2]) if len(sys.argv) > 2 else here / "performance-scaling.png"

curves = defaultdict(lambda: defaultdict(list))
with open(source, newline="") as f:
    for row in csv.DictReader(f):
        n = int(row["tasks"])
        ns_per_task = float(row["median_seconds"]) * 1e9 / n
        curves[row["workload"]][row["implementation"]].append((n, ns_per_task))

workloads = list(curves)
columns = 2
rows = math.ceil(len(workloads) / columns)
fig, axes = plt.subplots(rows, columns, figsize=(11, 4.2 * rows), squeeze=False)
for ax, workload in zip(axes.flat, workloads):
    impls = curves[workload]
    for name, points in impls.items():
        points.sort()
        xs, ys = zip(*points)
        style = dict(linewidth=2.5, color="black") if name == "trio" else dict(linewidth=1.5)
        ax.plot(xs, ys, marker="o", label=name, **style)
    measured = [y for points in impls.values() for _, y in points]
    if "trio" in impls:
        n0, y0 = sorted(impls["trio"])[0]
        xs = sorted({n for points in impls.values() for n, _ in points})
        ax.plot(xs, [y0 * math.log(n) / math.log(n0) for n in xs], ":", color="gray", label="n log n (from trio's first point)")
        ax.plot(xs, [y0 * n / n0 for n in xs], "--", color="lightgray", label="n² (from trio's first point)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    # Scale to the measurements, not to the n² guide, which leaves through the top.
    ax.set_ylim(min(measured) / 1.5, max(measured) * 4)
    ax.set_title(workload, fontsize=10)
    ax.set_xlabel("tasks")
    ax.set_ylabel("ns per task")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
for ax in list(axes.flat)[len(workloads):]:
    ax.axis("off")
fig.suptitle("Cost per task as the number of tasks grows (lower is better)")
fig.tight_layout()
fig.savefig(target, dpi=110)
print(f"wrote {target}")

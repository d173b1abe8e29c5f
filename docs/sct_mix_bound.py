#!/usr/bin/env python3
"""How close can any fixed mix of trio-testkit's policies come to the SCTBench goal?

Reads the table `sctbench` prints (run it with trio and shuttle columns) on standard input:

    cd bench && cargo run --release --bin sctbench -- --seeds 101 --cap 20000 2>/dev/null \
        | python3 ../docs/sct_mix_bound.py

The goal per program is shuttle's best median, halved on the deep programs. A median of m
schedules is turned into a chance per schedule p with (1 - p)^m = 1/2; a mix that runs policy
i with weight w_i fails a schedule with chance sum(w_i * p_i), whatever the order of its turns
(to within a schedule or two), so its median follows. The script prints, per program, the chance
the goal needs, the best single trio policy's chance, and the median of the mix whose worst
ratio to the goal is smallest (weights searched on a 5 % grid). Mixed itself is left out of the
search: it is one of the mixes searched.
"""

import itertools
import math
import re
import sys

DEEP = {"reorder_10", "order_3"}


def chance(median):
    """The per-schedule chance of failing that gives this median (a cap counts as never)."""
    if median is None:
        return 0.0
    return 1 - 0.5 ** (1 / max(median - 0.3, 0.7))


def median_of(p):
    return math.inf if p <= 0 else math.log(0.5) / math.log(1 - p)


def cell(text):
    text = text.strip()
    if text.startswith("≥"):
        return None
    return float(re.match(r"[\d.]+", text).group())


def main():
    header, rows = None, {}
    for line in sys.stdin:
        if not line.startswith("|") or "---" in line:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "program":
            header = cells[1:]
            continue
        rows[cells[0]] = [cell(c) for c in cells[1:]]
    trio = [i for i, h in enumerate(header) if h.startswith("trio ") and h != "trio mixed"]
    shuttle = [i for i, h in enumerate(header) if h.startswith("shuttle ")]
    if not trio or not shuttle:
        sys.exit("need trio and shuttle columns")
    goals = {}
    for program, values in rows.items():
        best = min(v for i, v in enumerate(values) if i in shuttle and v is not None)
        goals[program] = best / 2 if program in DEEP else best
    chances = {program: [chance(values[i]) for i in trio] for program, values in rows.items()}

    best_mix = None
    steps = 20
    for split in itertools.product(range(steps + 1), repeat=len(trio) - 1):
        if sum(split) > steps:
            continue
        weights = [s / steps for s in split] + [(steps - sum(split)) / steps]
        worst = max(
            median_of(sum(w * p for w, p in zip(weights, chances[program]))) / goals[program] for program in rows
        )
        if best_mix is None or worst < best_mix[0]:
            best_mix = (worst, weights)
    worst, weights = best_mix
    names = [header[i][len("trio ") :] for i in trio]
    print("best fixed mix: " + ", ".join(f"{n} {w:.0%}" for n, w in zip(names, weights) if w > 0))
    print(f"its worst median against the goal: {worst:.1f}x\n")
    print("| program | goal | chance needed | best trio policy's chance | best mix's median |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for program in rows:
        need = chance(goals[program])
        best = max(chances[program])
        mix = median_of(sum(w * p for w, p in zip(weights, chances[program])))
        flag = "" if best >= need else " (short)"
        print(f"| {program} | {goals[program]:g} | {need:.3f} | {best:.3f}{flag} | {mix:.1f} |")


if __name__ == "__main__":
    main()

"""Issue 13's acceptance split of a new day's cost, from two runs of infra/bench_new_day.py on the
same new day at two sizes (their printed output): per stage, a fixed part and a part that grows
with the city, against the allowance.

    .venv/bin/python infra/bench_new_day.py --scale 10 --gold-rounds 5 > newday-M.log
    .venv/bin/python infra/bench_new_day.py --scale 1 --gold-rounds 5 > newday-S.log
    .venv/bin/python infra/new_day_split.py newday-M.log newday-S.log

A stage's new day costs t = fixed + growing, and the smaller city's growing part is 1/k of the
larger's (k: the new day's records at the larger size over those at the smaller), so
fixed = (k x t_small - t_large) / (k - 1). The allowance is 3 x (the day's records / the
history's records) of the stage's full time at the larger size; a stage is over by what its
growing part exceeds it. Runs nothing; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench_new_day import STAGE_ROW  # infra/ is this script's folder, first on sys.path

LAYERS = ("ingest", "refine", "gold")


def read_run(path: Path) -> dict[str, dict[str, float]]:
    """Each stage's printed figures in a bench_new_day output (records as numbers, seconds)."""
    stages = {}
    for line in path.read_text().splitlines():
        if match := STAGE_ROW.match(line):
            stages[match["stage"]] = {k: float(v.replace(",", "")) for k, v in match.groupdict().items() if k != "stage"}
    if "ingest" not in stages:
        raise SystemExit(f"{path}: no stage table of infra/bench_new_day.py in it")
    return stages


def split(larger: dict, smaller: dict) -> list[tuple[str, float, float, float, float, float, float]]:
    """(stage, new day at the larger size, at the smaller, allowance, fixed, growing, over) per layer, then per stage."""
    k = larger["ingest"]["day_records"] / smaller["ingest"]["day_records"]
    share = 3 * larger["ingest"]["day_records"] / larger["ingest"]["records"]
    groups = {layer: [s for s in larger if s.split()[0] == layer] for layer in LAYERS}
    groups |= {stage: [stage] for stage in larger if stage != "ingest" and larger[stage]["day_seconds"] >= 0.01}
    rows = []
    for name, stages in groups.items():
        t_large = sum(larger[s]["day_seconds"] for s in stages)
        t_small = sum(smaller[s]["day_seconds"] for s in stages if s in smaller)
        fixed = (k * t_small - t_large) / (k - 1)
        allowance = share * sum(larger[s]["seconds"] for s in stages)
        growing = t_large - fixed
        rows.append((name, t_large, t_small, allowance, fixed, growing, max(0.0, growing - allowance)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("larger", type=Path, help="bench_new_day output at the larger size (e.g. --scale 10)")
    parser.add_argument("smaller", type=Path, help="its output at the smaller size (e.g. --scale 1)")
    args = parser.parse_args()
    larger, smaller = read_run(args.larger), read_run(args.smaller)
    k = larger["ingest"]["day_records"] / smaller["ingest"]["day_records"]
    if k <= 1:
        parser.error(f"the first run must be the larger one: its new day has {k:.2f} x the records of the second's")
    share = 3 * larger["ingest"]["day_records"] / larger["ingest"]["records"]
    print(f"k = {k:.2f} (the new day's records, larger over smaller); allowance = {100 * share:.2f} % of the full time at the larger size")
    print(f"{'stage':<30} {'larger s':>9} {'smaller s':>10} {'allowance':>10} {'fixed':>7} {'growing':>8} {'over':>6}")
    for name, t_large, t_small, allowance, fixed, growing, over in split(larger, smaller):
        print(f"{name:<30} {t_large:>9.2f} {t_small:>10.2f} {allowance:>10.2f} {fixed:>7.2f} {growing:>8.2f} {over:>6.2f}")


if __name__ == "__main__":
    sys.exit(main())

"""infra/new_day_split.py reads two outputs of infra/bench_new_day.py and splits each stage's new day
into a fixed part and a part that grows with the city; the figures below are computed by hand."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEADER = (
    "seconds: wall time; cpu: CPU seconds of the engine and this client together\n"
    "stage                            history  seconds     cpu  new day  seconds     cpu  rows %  time %  cpu %\n"
)
LARGER = HEADER + (
    "ingest                         1,000,000   100.00  110.00   10,000     5.00    5.00     1.0     5.0    4.5\n"
    "refine hotline                   800,000    50.00   60.00    8,000     2.00    2.50     1.0     4.0    4.2\n"
    "gold ride_hailing_demand             500    10.00   12.00       50     3.00    3.50    10.0    30.0   29.2\n"
    "gold demand_forecast                   0     0.01    0.08        0     0.00    0.01       -       -   12.5\n"
    "gold: history 10.0 s (12.1 cpu), new day 3.0 s (3.5 cpu): 30.0 % of the time, 28.9 % of the cpu\n"
)
SMALLER = HEADER + (
    "ingest                           100,000    10.00   11.00    1,000     1.00    1.00     1.0    10.0    9.1\n"
    "refine hotline                    80,000     5.00    6.00      800     1.10    1.20     1.0    22.0   20.0\n"
    "gold ride_hailing_demand             500     5.00    6.00       50     1.20    1.30    10.0    24.0   21.7\n"
    "gold demand_forecast                   0     0.01    0.07        0     0.00    0.01       -       -   14.3\n"
)


def split(tmp_path, larger: str, smaller: str) -> subprocess.CompletedProcess:
    (tmp_path / "larger.log").write_text(larger)
    (tmp_path / "smaller.log").write_text(smaller)
    return subprocess.run(
        [sys.executable, str(ROOT / "infra" / "new_day_split.py"), str(tmp_path / "larger.log"), str(tmp_path / "smaller.log")],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_each_stage_is_split_into_a_fixed_and_a_growing_part_against_its_allowance(tmp_path):
    done = split(tmp_path, LARGER, SMALLER)
    assert done.returncode == 0, done.stderr
    assert "k = 10.00" in done.stdout and "allowance = 3.00 %" in done.stdout  # 3 x 10,000 / 1,000,000
    rows = {line[:30].strip(): [float(x) for x in line[30:].split()] for line in done.stdout.splitlines()[2:]}
    # ingest: fixed = (10 x 1.00 - 5.00) / 9 = 0.56, growing 4.44, allowance 3 % of 100 s, over by 1.44
    assert rows["ingest"] == [5.00, 1.00, 3.00, 0.56, 4.44, 1.44]
    # refine hotline: fixed = (11.0 - 2.0) / 9 = 1.00, growing 1.00 within 1.50: not over
    assert rows["refine"] == rows["refine hotline"] == [2.00, 1.10, 1.50, 1.00, 1.00, 0.00]
    # gold: fixed = (12.0 - 3.0) / 9 = 1.00, growing 2.00, allowance 3 % of 10.01 s (0.30)
    assert rows["gold ride_hailing_demand"] == [3.00, 1.20, 0.30, 1.00, 2.00, 1.70]
    assert rows["gold"] == [3.00, 1.20, 0.30, 1.00, 2.00, 1.70]
    assert "gold demand_forecast" not in rows  # no time on the new day: nothing to split


def test_the_runs_given_the_wrong_way_round_are_refused_with_a_message(tmp_path):
    done = split(tmp_path, SMALLER, LARGER)
    assert done.returncode == 2
    assert "the first run must be the larger one" in done.stderr and "Traceback" not in done.stderr


def test_a_file_that_is_not_a_bench_new_day_output_is_named(tmp_path):
    done = split(tmp_path, "nothing here\n", SMALLER)
    assert done.returncode == 1
    assert "larger.log: no stage table of infra/bench_new_day.py in it" in done.stderr and "Traceback" not in done.stderr

"""infra/new_day_split.py reads two outputs of infra/bench_new_day.py and splits each stage's new day
into a fixed part and a part that grows with the city; the figures below are computed by hand."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench_new_day():
    """infra/bench_new_day.py as a module (infra/ is not a package): its rows are the ones the split reads."""
    spec = importlib.util.spec_from_file_location("bench_new_day", ROOT / "infra" / "bench_new_day.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def output(stages: dict[str, tuple[tuple, tuple]]) -> str:
    """A bench_new_day output with these stages: {stage: ((records, seconds, cpu) of the history, of the new day)}."""
    rows = "\n".join(_bench_new_day().stage_row(stage, history, day) for stage, (history, day) in stages.items())
    return f"seconds: wall time; cpu: CPU seconds of the engine and this client together\n{rows}\ngold: history 10.0 s, new day 3.0 s\n"


LARGER = {
    "ingest": ((1_000_000, 100.0, 110.0), (10_000, 5.0, 5.0)),
    "refine hotline": ((800_000, 50.0, 60.0), (8_000, 2.0, 2.5)),
    "gold ride_hailing_demand": ((500, 10.0, 12.0), (50, 3.0, 3.5)),
    "gold demand_forecast": ((0, 0.01, 0.08), (0, 0.0, 0.01)),
}
SMALLER = {
    "ingest": ((100_000, 10.0, 11.0), (1_000, 1.0, 1.0)),
    "refine hotline": ((80_000, 5.0, 6.0), (800, 1.1, 1.2)),
    "gold ride_hailing_demand": ((500, 5.0, 6.0), (50, 1.2, 1.3)),
    "gold demand_forecast": ((0, 0.01, 0.07), (0, 0.0, 0.01)),
}


def split(tmp_path, larger: str, smaller: str) -> subprocess.CompletedProcess:
    """The split's run on two outputs."""
    (tmp_path / "larger.log").write_text(larger)
    (tmp_path / "smaller.log").write_text(smaller)
    return subprocess.run(
        [sys.executable, str(ROOT / "infra" / "new_day_split.py"), str(tmp_path / "larger.log"), str(tmp_path / "smaller.log")],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_each_stage_is_split_into_a_fixed_and_a_growing_part_against_its_allowance(tmp_path):
    done = split(tmp_path, output(LARGER), output(SMALLER))
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
    done = split(tmp_path, output(SMALLER), output(LARGER))
    assert done.returncode == 2
    assert "the first run must be the larger one" in done.stderr and "Traceback" not in done.stderr


def test_a_file_that_is_not_a_bench_new_day_output_is_named(tmp_path):
    done = split(tmp_path, "nothing here\n", output(SMALLER))
    assert done.returncode == 1
    assert "larger.log: no stage table of infra/bench_new_day.py in it" in done.stderr and "Traceback" not in done.stderr

"""Same arguments -> byte-identical files; another seed -> other files; the small city is
the one recorded in data/small_city_sha256.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conftest import SMALL

from citybrain.democity import generate

RECORDED = Path(__file__).parent / "data" / "small_city_sha256.json"


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(small, tmp_path):
    messages: list[str] = []
    generate(tmp_path, **SMALL, progress=messages.append)
    first, second = _hashes(small), _hashes(tmp_path)
    assert len(first) > 80
    assert first == second
    assert any(m.startswith("hotline: ") and "rows in 14 files" in m for m in messages)


def test_manifest_hashes_match_the_files(small_drops):
    m = small_drops.manifest
    assert (m["seed"], m["days"], m["scale"], m["start"]) == (20260831, 14, 0.05, "2026-08-31")
    for _source, info in m["sources"].items():
        assert info["rows"] == sum(f["rows"] for f in info["files"])
        for f in info["files"]:
            data = (small_drops.root / f["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
    assert set(m["sources"]) == {"registry", "calendar", "hotline", "urban_cases", "ridehailing", "police", "petitions"}


def test_other_seed_gives_other_files(small, tmp_path):
    generate(tmp_path, seed=7, **SMALL)
    first, second = _hashes(small), _hashes(tmp_path)
    assert first.keys() == second.keys()
    differ = [k for k in first if first[k] != second[k]]
    assert any(k.startswith("drops/hotline/") for k in differ)
    assert any(k.startswith("drops/ridehailing/") for k in differ)
    assert "drops/registry/grid_registry_20260831.geojson" in differ


def test_small_city_is_the_recorded_one(small):
    """The small city hashes as recorded (with the generator of 2026-12-06, before it
    formatted rows per drop file). Same-seed reruns agree with each other even when a
    change shifts a random draw or a row; this catches that. If a change is meant to
    alter the city, re-record: write ``_hashes(out)`` of ``generate(out, **SMALL)`` to
    the file (sorted keys, indent 1) and say why in the commit."""
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    now = _hashes(small)
    differ = sorted(p for p in recorded.keys() | now.keys() if recorded.get(p) != now.get(p))
    missing = [p for p in differ if p not in now]
    extra = [p for p in differ if p not in recorded]
    changed = [p for p in differ if p in now and p in recorded]
    assert not differ, (
        f"{len(differ)} of {len(recorded)} recorded files differ from {RECORDED.name}: "
        f"changed {changed[:12]}{' ...' if len(changed) > 12 else ''}, missing {missing[:5]}, not recorded {extra[:5]}"
    )

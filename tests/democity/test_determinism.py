"""Same arguments -> byte-identical files; another seed -> other files."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conftest import SMALL

from citybrain.democity import generate


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

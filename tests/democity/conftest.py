"""Demo-city fixtures: a small city (14 days, 5% volume) and a mid-size one for rates."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from citybrain.democity import generate

SMALL = {"days": 14, "scale": 0.05}
MID = {"days": 84, "scale": 0.2}


@pytest.fixture(scope="session")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("democity_small")
    generate(out, **SMALL)
    return out


@pytest.fixture(scope="session")
def mid(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("democity_mid")
    generate(out, **MID)
    return out


class Drops:
    """Reads drop files the way a careful consumer would (for tests only)."""

    def __init__(self, root: Path):
        self.root = root
        self.manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))

    def files(self, source: str) -> list[str]:
        return [f["path"] for f in self.manifest["sources"][source]["files"]]

    def text(self, rel: str) -> str:
        raw = (self.root / rel).read_bytes()
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return raw.decode("gbk")

    def csv(self, rel: str) -> pd.DataFrame:
        return pd.read_csv(io.StringIO(self.text(rel)), dtype=str, keep_default_na=False)

    def records(self, rel: str) -> list[dict]:
        if rel.endswith(".jsonl"):
            return [json.loads(line) for line in self.text(rel).splitlines() if line]
        if rel.endswith(".json"):
            return json.loads(self.text(rel))["records"]
        return self.csv(rel).to_dict("records")

    def frame(self, source: str) -> pd.DataFrame:
        parts = []
        for rel in self.files(source):
            df = self.csv(rel) if rel.endswith(".csv") else pd.DataFrame(self.records(rel))
            parts.append(df.assign(_file=rel))
        return pd.concat(parts, ignore_index=True)

    def truth_csv(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.root / "truth" / name, dtype={"h3_8": str, "community_code": str})

    def dirt(self) -> list[dict]:
        return json.loads((self.root / "truth" / "dirt.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def small_drops(small) -> Drops:
    return Drops(small)


@pytest.fixture(scope="session")
def mid_drops(mid) -> Drops:
    return Drops(mid)

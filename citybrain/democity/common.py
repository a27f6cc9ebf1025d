"""Small shared helpers: time formatting, fake people, deterministic writers.

All times inside the generator are int64 seconds since 1970-01-01 00:00:00 *local*
(Asia/Shanghai wall-clock, no zone arithmetic), so day index arithmetic is exact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

DAY = 86_400
HOUR = 3_600
MINUTE = 60

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红文斌玉萍鹏辉宇浩凯婷欣怡雪梅琳晨阳帆佳俊峰亮林海波宁倩颖蕾瑶晶鑫磊东坤荣健飞璐"
)


def day_seconds(start: dt.date) -> int:
    """Seconds (local) of 00:00 on ``start``."""
    return (start - dt.date(1970, 1, 1)).days * DAY


_HMS: list[str] = []


def _hms() -> list[str]:
    if not _HMS:
        _HMS.extend(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))
    return _HMS


def fmt_times(sec: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """int64 local seconds -> 'YYYY-MM-DD HH:MM:SS' (object array); ``missing`` -> ''."""
    sec = np.asarray(sec, dtype=np.int64)
    day = sec // DAY
    d0 = int(day.min()) if day.size else 0
    epoch = dt.date(1970, 1, 1)
    dates = [(epoch + dt.timedelta(days=d0 + k)).isoformat() + " " for k in range(int(day.max()) - d0 + 1 if day.size else 0)]
    hms = _hms()
    out = np.array([dates[d] + hms[s] for d, s in zip((day - d0).tolist(), (sec - day * DAY).tolist(), strict=False)], dtype=object)
    if missing is not None:
        out[np.asarray(missing, dtype=bool)] = ""
    return out


def fmt_fixed(values: np.ndarray, decimals: int, missing: np.ndarray | None = None) -> np.ndarray:
    """Floats -> fixed-decimal strings (object array)."""
    fmt = f"{{:.{decimals}f}}"
    out = np.array([fmt.format(v) for v in np.asarray(values, dtype=float).tolist()], dtype=object)
    if missing is not None:
        out[np.asarray(missing, dtype=bool)] = ""
    return out


def fmt_int(values: np.ndarray, width: int = 0) -> np.ndarray:
    fmt = f"{{:0{width}d}}" if width else "{:d}"
    return np.array([fmt.format(v) for v in np.asarray(values, dtype=np.int64).tolist()], dtype=object)


def draw_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """The draws of ``names``: (n, 3) surname and given-name indices, formatted by ``fmt_names``."""
    s = rng.integers(0, len(SURNAMES), n)
    g1 = rng.integers(0, len(GIVEN), n)
    g2 = rng.integers(0, len(GIVEN) * 3 // 2, n)
    return np.stack([s, g1, g2], axis=1).astype(np.int16)


_SURNAMES = np.array(SURNAMES, dtype=object)
_GIVEN1 = np.array(GIVEN, dtype=object)
_GIVEN2 = np.array(GIVEN + [""] * (len(GIVEN) // 2), dtype=object)


def fmt_names(codes: np.ndarray) -> np.ndarray:
    return _SURNAMES[codes[:, 0]] + _GIVEN1[codes[:, 1]] + _GIVEN2[codes[:, 2]]


def names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Chinese personal names (2 or 3 characters)."""
    return fmt_names(draw_names(rng, n))


def draw_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """The draws of ``mobiles`` as the 11-digit numbers (int64); ``str`` formats one."""
    second = rng.integers(13, 20, n)
    rest = rng.integers(0, 1_000_000_000, n)
    return second * 1_000_000_000 + rest


def fmt_ints(values: np.ndarray) -> np.ndarray:
    return np.array([str(v) for v in np.asarray(values, dtype=np.int64).tolist()], dtype=object)


def mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """11-digit mainland mobile numbers 1[3-9]xxxxxxxxx."""
    return fmt_ints(draw_mobiles(rng, n))


_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a resident ID number."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=False))
    return _ID_CHECK[total % 11]


def draw_id_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """The draws of ``id_numbers``: (n, 3) region index, birth day offset, sequence."""
    reg = rng.integers(0, 4, n)
    birth = rng.integers(0, 60 * 365, n)
    seq = rng.integers(0, 1000, n)
    return np.stack([reg, birth, seq], axis=1).astype(np.int32)


def fmt_id_numbers(codes: np.ndarray, region: str = "329901") -> np.ndarray:
    """18-character resident ID numbers with a valid check digit (fictional 3299xx region)."""
    n = len(codes)
    regions = np.array([region[:4] + f"{k:02d}" for k in (1, 2, 3, 4)], dtype=object)
    reg = regions[codes[:, 0]]
    birth = pd.Timestamp("1945-01-01") + pd.to_timedelta(codes[:, 1].astype(np.int64), unit="D")
    bstr = birth.strftime("%Y%m%d").to_numpy(dtype=object)
    digits = np.zeros((n, 17), dtype=np.int64)
    first = np.array([f"{r}{b}{s:03d}" for r, b, s in zip(reg, bstr, codes[:, 2].tolist(), strict=False)], dtype=object)
    for j in range(17):
        digits[:, j] = [ord(x[j]) - 48 for x in first]
    check = (digits @ _ID_WEIGHTS) % 11
    chk = np.array(list(_ID_CHECK), dtype=object)[check]
    return first + chk


def id_numbers(rng: np.random.Generator, n: int, region: str = "329901") -> np.ndarray:
    return fmt_id_numbers(draw_id_numbers(rng, n), region)


def pick_index(rng: np.random.Generator, probs: list[float], n: int) -> np.ndarray:
    """The draw of ``pick``: indices into its labels."""
    p = np.asarray(probs, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def pick(rng: np.random.Generator, labels: list[str], probs: list[float], n: int) -> np.ndarray:
    return np.array(labels, dtype=object)[pick_index(rng, probs, n)]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def csv_bytes(df: pd.DataFrame, *, bom: bool, encoding: str = "utf-8") -> bytes:
    text = df.to_csv(index=False, lineterminator="\n")
    if encoding.lower() in ("utf-8", "utf8"):
        return (("\ufeff" if bom else "") + text).encode("utf-8")
    return text.encode(encoding)


def json_dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def write_bytes(path: Path, data: bytes) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"bytes": len(data), "sha256": sha256(data)}


def write_json(path: Path, obj) -> dict:
    """Write ``json.dumps(obj, ensure_ascii=False, indent=1) + "\\n"`` a batch of pieces at a
    time: dirt.json at scale 30 lists ~700,000 defects, and its text and the encoder's
    pieces held at once outweigh the entries themselves."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pieces = itertools.chain(json.JSONEncoder(ensure_ascii=False, indent=1).iterencode(obj), ["\n"])
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as f:
        while batch := list(itertools.islice(pieces, 1 << 16)):
            data = "".join(batch).encode("utf-8")
            f.write(data)
            digest.update(data)
            size += len(data)
    return {"bytes": size, "sha256": digest.hexdigest()}

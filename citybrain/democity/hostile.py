"""Hostile drops: files broken the ways real department exports break, each with what must happen to it.

Every case is one file (or one thing in a drop folder) built from six clean records of a
generated demo city, with keys of its own so that its outcome can be counted apart from the
others. The expected outcome is stated by hand here, not measured: how many records the file
brings into bronze, how many reach silver, how many are quarantined, how many collapse into
another version of the same key, and whether the file is rejected unread. The test over this
suite (tests/jobs/test_hostile_drops.py) runs the real ingest and refine and compares.

    python -m citybrain.democity.hostile OUT_DIR    # writes OUT_DIR/demo_city with the hostile drops

The drops cover the three file layouts the departments send: CSV (hotline), one JSON document
(police) and JSON lines (urban cases).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SOURCES = ("hotline", "police", "urban_cases")
#: clean records each case starts from
BASE_RECORDS = 6
#: the day every hostile file is named after (within the tiny city's week)
DROP_DAY = "20260901"
FIELD_LIMIT_BREAKER = 140_000  # characters: over the readers' FIELD_LIMIT


@dataclass(frozen=True)
class Outcome:
    records: int  # records the file brings into bronze
    accepted: int  # silver rows whose version came from this file
    quarantined: int  # records of the file in quarantine
    collapsed: int = 0  # records superseded by another version of the same key
    rejected: bool = False  # the file is refused unread (ops.ingest_ledger.rejected_reason)


@dataclass(frozen=True)
class HostileCase:
    kind: str
    source: str
    what: str
    expected: Outcome

    @property
    def file(self) -> str:
        """The drop file, relative to the drops folder (as bronze and the ledger name it)."""
        return f"{self.source}/{FILE_NAMES.get(self.kind, f'{self.source}_{DROP_DAY}_{self.kind}{EXTENSIONS[self.source]}')}"


EXTENSIONS = {"hotline": ".csv", "police": ".json", "urban_cases": ".jsonl"}
FILE_NAMES = {
    "name_without_date": "hotline_latest.csv",
    "name_with_impossible_date": "hotline_20261399.csv",
}
KEY_FIELDS = {"hotline": "工单编号", "police": "incident_no", "urban_cases": "case_no"}


def _ok(n: int = BASE_RECORDS) -> Outcome:
    return Outcome(n, n, 0)


def _one_bad(extra: int = 0) -> Outcome:
    return Outcome(BASE_RECORDS + extra, BASE_RECORDS - 1 + extra, 1)


# kind -> (source, what, expected). One line each, so that the table reads as the suite's spec.
CASES: dict[str, tuple[str, str, Outcome]] = {
    # --- CSV: the hotline's export ---
    "clean_csv": ("hotline", "a clean export, the control", _ok()),
    "bom_and_crlf": ("hotline", "UTF-8 with a byte-order mark and CRLF line ends", _ok()),
    "gbk_file": ("hotline", "the whole file in GBK", _ok()),
    "gbk_row_in_utf8": ("hotline", "one row in GBK inside a UTF-8 file: read line by line", _ok()),
    "utf16_file": ("hotline", "the whole file in UTF-16 with a byte-order mark", _ok()),
    "cut_mid_character": ("hotline", "the file cut inside a character of its last row", _one_bad()),
    "duplicated_header": ("hotline", "诉求内容 twice in the header: both values kept", _ok()),
    "reordered_columns": ("hotline", "the columns in another order", _ok()),
    "unknown_column": ("hotline", "a column the mapping does not know (kept in _extra)", _ok()),
    "key_column_renamed": ("hotline", "工单编号 renamed to 编号: no record has a key", Outcome(6, 0, 6)),
    "unclosed_quote": ("hotline", "a quote opened on row 3 and never closed", _one_bad()),
    "oversized_field": ("hotline", "one field of 140,000 characters", _one_bad()),
    "short_row": ("hotline", "one row with three fields missing", _one_bad()),
    "long_row": ("hotline", "one row with a field too many", _one_bad()),
    "blank_lines": ("hotline", "blank lines between the rows", _ok()),
    "nul_byte": ("hotline", "a NUL byte inside a complaint's text", _ok()),
    "header_repeated_inside": ("hotline", "two exports pasted together: the header again mid-file", _one_bad(extra=1)),
    "repeated_rows": ("hotline", "three rows sent twice in the same file", Outcome(9, 6, 0, collapsed=3)),
    "future_version": ("hotline", "更新时间 in 2062: would freeze the ticket forever", _one_bad()),
    "before_2000": ("hotline", "受理时间 in 1970", _one_bad()),
    "unreadable_time": ("hotline", "受理时间 written in words", _one_bad()),
    "point_outside_city": ("hotline", "a point in Boston: placed by its community instead", _ok()),
    "formula_text": ("hotline", "complaint text that a spreadsheet would evaluate", _ok()),
    "header_only": ("hotline", "a header and no rows", Outcome(0, 0, 0)),
    "empty_file": ("hotline", "zero bytes", Outcome(0, 0, 0)),
    "binary_garbage": ("hotline", "three lines of random bytes named .csv", Outcome(2, 0, 2)),
    "name_without_date": ("hotline", "a file name with no drop date", Outcome(0, 0, 0, rejected=True)),
    "name_with_impossible_date": ("hotline", "a file name dated the 99th of the 13th month", Outcome(0, 0, 0, rejected=True)),
    "directory": ("hotline", "a directory named like a drop", Outcome(0, 0, 0, rejected=True)),
    "symbolic_link": ("hotline", "a link to a good drop", Outcome(0, 0, 0, rejected=True)),
    # --- one JSON document: the police export ---
    "clean_json": ("police", "a clean export, the control", _ok()),
    "json_bom": ("police", "a JSON document with a UTF-8 byte-order mark", _ok()),
    "json_bad_bytes": ("police", "\\xff\\xfe inside one record's address", _one_bad()),
    "json_trailing_junk": ("police", "text after the end of the document", _one_bad(extra=1)),
    "json_cut_short": ("police", "the document cut inside its fifth record", Outcome(5, 4, 1)),
    "json_deep_nesting": ("police", "one record nested 50,000 levels deep", _one_bad()),
    "json_broken_record": ("police", "one record with a bare word in it", _one_bad()),
    "json_oversized_field": ("police", "one address of 140,000 characters", _one_bad()),
    "json_duplicate_key": ("police", "one record with address twice: both kept", _ok()),
    "json_bare_list": ("police", "the records as a bare list, without the envelope", _ok()),
    "json_non_objects": ("police", "a string and a null among the records", Outcome(8, 6, 2)),
    "json_wrong_types": ("police", "severity in words, coordinates as strings", _one_bad()),
    "json_empty_list": ("police", "an envelope with no records", Outcome(0, 0, 0)),
    "json_not_json": ("police", "an HTML error page saved as .json", Outcome(1, 0, 1)),
    # --- JSON lines: the urban-management cases ---
    "clean_jsonl": ("urban_cases", "a clean export, the control", _ok()),
    "jsonl_gbk_line": ("urban_cases", "one line in GBK; the mapping says UTF-8, so that line alone is refused", _one_bad()),
    "jsonl_u2028": ("urban_cases", "a U+2028 line separator inside a description", _ok()),
    "jsonl_crlf_and_blanks": ("urban_cases", "CRLF line ends and blank lines", _ok()),
    "jsonl_array_line": ("urban_cases", "one line holding a JSON array", _one_bad(extra=1)),
    "jsonl_garbage_line": ("urban_cases", "one line of plain text", _one_bad(extra=1)),
    "jsonl_cut_last_line": ("urban_cases", "the last line cut short", _one_bad()),
    "jsonl_unreadable_seq": ("urban_cases", "event_seq written in words", _one_bad()),
}


def hostile_cases() -> list[HostileCase]:
    return [HostileCase(kind, source, what, expected) for kind, (source, what, expected) in CASES.items()]


# --- the clean records every case starts from ---------------------------------------------


@dataclass
class Base:
    header: list[str]  # the hotline CSV header
    hotline: list[list[str]]
    police: list[dict]
    police_envelope: dict
    urban_cases: list[dict]


def _clean_keys(demo_dir: Path) -> set[str]:
    dirt = json.loads((demo_dir / "truth" / "dirt.json").read_text())
    return {str(d.get("key")).split("#")[0] for d in dirt}


def _drops(demo_dir: Path, source: str) -> list[Path]:
    return sorted((demo_dir / "drops" / source).glob(f"{source}_*"))


def load_base(demo_dir: Path) -> Base:
    """Six records of each source that the generator did not dirty, from its earliest drops."""
    dirty = _clean_keys(demo_dir)
    header, hotline = [], []
    for path in _drops(demo_dir, "hotline"):
        try:
            rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
        except UnicodeDecodeError:
            continue  # the generator's GBK drop: the cases pick their own encodings
        if header and rows[0] != header:
            continue  # a drop with the generator's schema change
        header = rows[0]
        hotline += [r for r in rows[1:] if r[header.index("工单编号")] not in dirty and r[header.index("经度")]]
    envelope, police = {}, []
    for path in _drops(demo_dir, "police"):
        envelope = json.loads(path.read_text())
        police += [r for r in envelope.pop("records") if r["incident_no"] not in dirty and r.get("lon")]
    urban = []
    for path in _drops(demo_dir, "urban_cases"):
        urban += [r for r in map(json.loads, path.read_text().splitlines()) if r["case_no"] not in dirty and r.get("lon")]
    if min(len(hotline), len(police), len(urban)) < BASE_RECORDS:
        raise ValueError(f"{demo_dir} has too few clean records for the hostile suite")
    return Base(header, hotline[:BASE_RECORDS], police[:BASE_RECORDS], envelope, urban[:BASE_RECORDS])


def _keyed(records, source: str, index: int, header: list[str] | None = None):
    """Copies of the base records with keys of this case's own: H07-001, J07002, CG07003 ..."""
    prefix = {"hotline": "H", "police": "J", "urban_cases": "CG"}[source]
    out = []
    for i, record in enumerate(records, 1):
        record = list(record) if header else dict(record)
        new_key = f"{prefix}{index:02d}-{i:03d}" if source == "hotline" else f"{prefix}{index:02d}{i:03d}"
        record[header.index(KEY_FIELDS[source]) if header else KEY_FIELDS[source]] = new_key
        out.append(record)
    return out


# --- writers ------------------------------------------------------------------------------


def _csv_text(header: list[str], rows: list[list[str]], line_end: str = "\n") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=line_end).writerows([header, *rows])
    return buffer.getvalue()


def _set(header, row, column, value):
    row = list(row)
    row[header.index(column)] = value
    return row


def _hotline(kind: str, header: list[str], rows: list[list[str]]) -> bytes | None:
    text = lambda rs=rows, h=header: _csv_text(h, rs)  # noqa: E731 - the common case, inline
    if kind in ("clean_csv", "name_without_date", "name_with_impossible_date"):
        return text().encode()
    if kind == "bom_and_crlf":
        return "\ufeff".encode() + _csv_text(header, rows, "\r\n").encode()
    if kind == "gbk_file":
        return text().encode("gbk")
    if kind == "utf16_file":
        return text().encode("utf-16")
    if kind == "gbk_row_in_utf8":
        lines = text().split("\n")
        return "\n".join(lines[:3]).encode() + b"\n" + lines[3].encode("gbk") + b"\n" + "\n".join(lines[4:]).encode()
    if kind == "cut_mid_character":
        data = text().encode()
        last = data.rstrip(b"\n").rfind(b"\n") + 1
        content = data.find(rows[-1][header.index("诉求内容")][:4].encode(), last)
        return data[: content + 4]  # the second of the content's first two characters, cut after one byte
    if kind == "duplicated_header":
        column = header.index("诉求内容")
        return text(rs=[r + [f"补充说明{i}"] for i, r in enumerate(rows)], h=[*header, header[column]]).encode()
    if kind == "reordered_columns":
        order = list(reversed(range(len(header))))
        return text(rs=[[r[i] for i in order] for r in rows], h=[header[i] for i in order]).encode()
    if kind == "unknown_column":
        return text(rs=[[*r, "A"] for r in rows], h=[*header, "处置等级"]).encode()
    if kind == "key_column_renamed":
        return text(h=["编号" if c == "工单编号" else c for c in header]).encode()
    if kind == "unclosed_quote":
        lines = text().split("\n")
        lines[3] = lines[3].replace(",", ',"', 1)  # row 3 opens a quote in its second field
        return "\n".join(lines).encode()
    if kind == "oversized_field":
        return text(rs=[_set(header, r, "诉求内容", "噪" * FIELD_LIMIT_BREAKER) if i == 1 else r for i, r in enumerate(rows)]).encode()
    if kind == "short_row":
        return text(rs=[r[:-3] if i == 3 else r for i, r in enumerate(rows)]).encode()
    if kind == "long_row":
        return text(rs=[[*r, "多余"] if i == 3 else r for i, r in enumerate(rows)]).encode()
    if kind == "blank_lines":
        return text().replace("\n", "\n\n", 3).encode()
    if kind == "nul_byte":
        return text(rs=[_set(header, r, "诉求内容", "噪声\x00扰民") if i == 1 else r for i, r in enumerate(rows)]).encode()
    if kind == "header_repeated_inside":
        return text(rs=[*rows[:3], header, *rows[3:]]).encode()
    if kind == "repeated_rows":
        return text(rs=[*rows, *rows[:3]]).encode()
    if kind == "future_version":
        return text(rs=[_set(header, r, "更新时间", "2062-01-01 08:00:00") if i == 1 else r for i, r in enumerate(rows)]).encode()
    if kind == "before_2000":
        return text(rs=[_set(header, r, "受理时间", "1970-01-01 08:00:00") if i == 1 else r for i, r in enumerate(rows)]).encode()
    if kind == "unreadable_time":
        return text(rs=[_set(header, r, "受理时间", "昨天下午三点") if i == 1 else r for i, r in enumerate(rows)]).encode()
    if kind == "point_outside_city":
        return text(
            rs=[_set(header, _set(header, r, "经度", "-71.0589"), "纬度", "42.3601") if i == 2 else r for i, r in enumerate(rows)]
        ).encode()
    if kind == "formula_text":
        return text(
            rs=[_set(header, r, "诉求内容", '=HYPERLINK("http://x.invalid","噪声")') if i == 0 else r for i, r in enumerate(rows)]
        ).encode()
    if kind == "header_only":
        return text(rs=[]).encode()
    if kind == "empty_file":
        return b""
    if kind == "binary_garbage":
        rng = random.Random(7)  # high bytes only: no comma, quote or newline inside a line
        return b"\n".join(bytes(rng.randrange(0x80, 0x100) for _ in range(200)) for _ in range(3))
    return None


def _police(kind: str, envelope: dict, records: list[dict]) -> bytes | None:
    doc = lambda rs=records: json.dumps({**envelope, "records": rs}, ensure_ascii=False)  # noqa: E731
    if kind == "clean_json":
        return doc().encode()
    if kind == "json_bom":
        return ("\ufeff" + doc()).encode()
    if kind == "json_bad_bytes":
        address = records[2]["address"]
        return doc().encode().replace(address.encode(), address.encode() + b"\xff\xfe", 1)
    if kind == "json_trailing_junk":
        return (doc() + "\n<!-- exported by 110 -->\n").encode()
    if kind == "json_cut_short":
        text = doc()
        return text[: text.index(records[4]["incident_no"]) + 3].encode()
    if kind == "json_deep_nesting":
        deep = "[" * 50_000 + "]" * 50_000
        text = doc()
        first = f'"incident_no": "{records[1]["incident_no"]}"'
        return text.replace(first, f'{first}, "attachments": {deep}', 1).encode()
    if kind == "json_broken_record":
        text = doc()
        first = f'"incident_no": "{records[3]["incident_no"]}"'
        return text.replace(first, f'{first}, "verified": tru', 1).encode()
    if kind == "json_oversized_field":
        return doc(rs=[dict(r, address="路" * FIELD_LIMIT_BREAKER) if i == 2 else r for i, r in enumerate(records)]).encode()
    if kind == "json_duplicate_key":
        text = doc()
        first = f'"incident_no": "{records[0]["incident_no"]}"'
        return text.replace(first, f'{first}, "address": "旧地址"', 1).encode()
    if kind == "json_bare_list":
        return json.dumps(records, ensure_ascii=False).encode()
    if kind == "json_non_objects":
        return doc(rs=[*records[:3], "J-deleted", None, *records[3:]]).encode()
    if kind == "json_wrong_types":
        changed = [dict(r) for r in records]
        changed[1]["severity"] = "较重"
        for r in changed:
            r["lon"], r["lat"] = str(r["lon"]), str(r["lat"])
        return doc(rs=changed).encode()
    if kind == "json_empty_list":
        return doc(rs=[]).encode()
    if kind == "json_not_json":
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"
    return None


def _urban_cases(kind: str, records: list[dict]) -> bytes | None:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    joined = lambda ls=lines: ("\n".join(ls) + "\n").encode()  # noqa: E731
    if kind == "clean_jsonl":
        return joined()
    if kind == "jsonl_gbk_line":
        return "\n".join(lines[:2]).encode() + b"\n" + lines[2].encode("gbk") + b"\n" + joined(lines[3:])
    if kind == "jsonl_u2028":
        changed = dict(records[1], description=records[1]["description"] + "\u2028（补充）")
        return joined([*lines[:1], json.dumps(changed, ensure_ascii=False), *lines[2:]])
    if kind == "jsonl_crlf_and_blanks":
        return ("\r\n\r\n".join(lines) + "\r\n").encode()
    if kind == "jsonl_array_line":
        return joined([*lines[:3], json.dumps([records[0]["case_no"], 1]), *lines[3:]])
    if kind == "jsonl_garbage_line":
        return joined([*lines[:3], "-- page 2 --", *lines[3:]])
    if kind == "jsonl_cut_last_line":
        return joined()[:-20]
    if kind == "jsonl_unreadable_seq":
        changed = dict(records[4], event_seq="三")
        return joined([*lines[:4], json.dumps(changed, ensure_ascii=False), *lines[5:]])
    return None


# --- the suite ----------------------------------------------------------------------------


def write_hostile_drops(base: Base, drops_dir: Path) -> list[HostileCase]:
    """Write every case's file into ``drops_dir/<source>/``, built from the clean ``base`` records."""
    cases = hostile_cases()
    for index, case in enumerate(cases, 1):
        (drops_dir / case.source).mkdir(parents=True, exist_ok=True)
        path = drops_dir / case.file
        if case.kind == "directory":
            path.mkdir()
            (path / "inside.csv").write_text(_csv_text(base.header, _keyed(base.hotline, "hotline", index, base.header)))
        elif case.kind == "symbolic_link":
            os.symlink(drops_dir / cases[0].file, path)
        else:
            data = _write_one(case.kind, case.source, base, index)
            if data is None:
                raise ValueError(f"no writer for hostile case {case.kind!r}")
            path.write_bytes(data)
    return cases


def _write_one(kind: str, source: str, base: Base, index: int) -> bytes | None:
    if source == "hotline":
        return _hotline(kind, base.header, _keyed(base.hotline, source, index, base.header))
    if source == "police":
        return _police(kind, base.police_envelope, _keyed(base.police, source, index))
    return _urban_cases(kind, _keyed(base.urban_cases, source, index))


def build_city(out_dir: Path, *, progress: Callable[[str], None] = print) -> tuple[Path, list[HostileCase]]:
    """A tiny demo city (the registry the records are placed on) whose hotline, police and
    urban-case drops are replaced by the hostile suite. Returns (demo_dir, cases)."""
    from citybrain.democity import generate

    demo_dir = out_dir / "demo_city"
    generate(demo_dir, days=7, scale=0.05, sources=SOURCES, progress=progress)
    base = load_base(demo_dir)
    for source in SOURCES:
        shutil.rmtree(demo_dir / "drops" / source)
    return demo_dir, write_hostile_drops(base, demo_dir / "drops")


def format_table(cases: list[HostileCase], outcomes: dict[str, Outcome]) -> str:
    """kind -> outcome -> records in / accepted / quarantined / collapsed, one line per case."""
    lines = [f"{'kind':26} {'source':11} {'in':>3} {'accepted':>8} {'quarantined':>11} {'collapsed':>9}  file rejected", "-" * 84]
    for c in cases:
        o = outcomes[c.kind]
        lines.append(
            f"{c.kind:26} {c.source:11} {o.records:3} {o.accepted:8} {o.quarantined:11} {o.collapsed:9}  {'yes' if o.rejected else ''}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m citybrain.democity.hostile",
        description="Write a tiny demo city whose hotline, police and urban-case drops are the hostile suite: "
        "files broken the ways real exports break, one per kind, each with its expected outcome.",
    )
    parser.add_argument("out_dir", type=Path, help="an empty folder; the city is written to OUT_DIR/demo_city")
    args = parser.parse_args(argv)
    demo_dir, cases = build_city(args.out_dir)
    print(f"{len(cases)} hostile drops in {demo_dir / 'drops'}; ingest them with CITYBRAIN_DEMO_DIR={demo_dir}")
    print(format_table(cases, {c.kind: c.expected for c in cases}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

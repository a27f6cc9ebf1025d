"""Turn one department drop file into records of text fields, losing nothing.

Pure functions on bytes: no Spark, no paths. A record that cannot be split into fields
(a CSV row with the wrong number of fields, a line that is not JSON) is still returned,
with its raw text and the reason, so the caller can keep it in bronze.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from citybrain.schemas.sources import SourceSpec


@dataclass
class Record:
    fields: dict[str, str | None]
    error: str | None = None


@dataclass
class DecodedDrop:
    encoding: str
    records: list[Record]
    field_names: list[str] = field(default_factory=list)  # every field name seen, in first-seen order
    decode_warning: str | None = None


def decode(data: bytes, encodings: tuple[str, ...]) -> tuple[str, str, str | None]:
    """(text, encoding used, warning). Tries each encoding in turn; never fails."""
    for encoding in encodings:
        try:
            return data.decode(encoding), encoding, None
        except UnicodeDecodeError:
            continue
    first = encodings[0]
    warning = f"not valid {' or '.join(encodings)} text: undecodable bytes replaced with U+FFFD"
    return data.decode(first, errors="replace"), first, warning


def as_text(value) -> str | None:
    """JSON value -> the text bronze stores (None stays None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _csv_records(text: str, delimiter: str = ",") -> tuple[list[str], Iterator[Record]]:
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(rows, [])
    header = [h.strip() for h in header]

    def records() -> Iterator[Record]:
        for row in rows:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line is not a record
            if len(row) != len(header):
                yield Record({"_raw": as_text(row)}, f"row has {len(row)} fields, the header has {len(header)}")
            else:
                yield Record(dict(zip(header, row, strict=True)))

    return header, records()


def _json_line_records(text: str) -> Iterator[Record]:
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record({"_raw": line}, f"line is not JSON: {exc.msg} at column {exc.colno}")
            continue
        if isinstance(value, dict):
            yield Record({k: as_text(v) for k, v in value.items()})
        else:
            yield Record({"_raw": line}, f"line is JSON {type(value).__name__}, not an object")


def _document_records(text: str, spec: SourceSpec, fmt: str) -> Iterator[Record]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Record({"_raw": text}, f"file is not JSON: {exc.msg} at line {exc.lineno}")
        return
    if fmt == "geojson":
        items = doc.get("features") if isinstance(doc, dict) else None
        where = "features"
    else:
        items = doc.get(spec.records_path) if isinstance(doc, dict) else doc
        where = spec.records_path or "the top level"
    if not isinstance(items, list):
        yield Record({"_raw": text}, f"no list of records at {where}")
        return
    for item in items:
        if not isinstance(item, dict):
            yield Record({"_raw": as_text(item)}, f"record is JSON {type(item).__name__}, not an object")
        elif fmt == "geojson":
            props = item.get("properties") or {}
            yield Record({**{k: as_text(v) for k, v in props.items()}, "geometry": as_text(item.get("geometry"))})
        else:
            yield Record({k: as_text(v) for k, v in item.items()})


EXTENSION_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".json": "json_records", ".geojson": "geojson"}


def sniff_delimiter(text: str) -> str:
    """The delimiter of a delimited text's header line: the most frequent of , tab ; |."""
    header = text.split("\n", 1)[0]
    return max((",", "\t", ";", "|"), key=header.count)


def read_drop(data: bytes, spec: SourceSpec, *, file_name: str = "") -> DecodedDrop:
    """Decode and split one drop file. ``format = "auto"`` mappings pick the reader by file extension."""
    text, encoding, warning = decode(data, spec.encodings)
    fmt = spec.format
    if fmt == "auto":
        suffix = file_name[file_name.rfind(".") :].lower() if "." in file_name else ""
        fmt = EXTENSION_FORMATS.get(suffix, "csv")
    if fmt == "csv":
        delimiter = sniff_delimiter(text) if spec.delimiter == "auto" else spec.delimiter
        header, records = _csv_records(text, delimiter)
        out = DecodedDrop(encoding, list(records), header, warning)
    else:
        source = _json_line_records(text) if fmt == "jsonl" else _document_records(text, spec, fmt)
        out = DecodedDrop(encoding, list(source), [], warning)
        seen: dict[str, None] = {}
        for rec in out.records:
            if rec.error is None:
                seen.update(dict.fromkeys(rec.fields))
        out.field_names = list(seen)
    if warning:
        for rec in out.records:
            rec.error = f"{rec.error}; {warning}" if rec.error else warning
    return out

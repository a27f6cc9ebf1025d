"""Turn one department drop file into records of text fields, losing nothing.

Pure functions on bytes: no Spark, no paths. A record that cannot be split into fields
(a CSV row with the wrong number of fields, a line that is not JSON) is still returned,
with its raw text and the reason, so the caller can keep it in bronze. What one bad record
costs is that record:

- line formats (CSV, JSON lines) are decoded line by line when the whole file is not
  valid in one encoding, so one GBK line in a UTF-8 file costs that line, not the file;
- a repeated header or JSON key keeps every value (the repeats are suffixed ``__2``,
  ``__3`` and, being unknown to the mapping, land in ``_extra`` and the ledger);
- JSON lines are split on ``\n`` only (U+2028 is valid inside a JSON string);
- a field longer than ``FIELD_LIMIT`` characters, or JSON nested deeper than Python's
  parser goes, makes its record an error, not the file;
- a CSV quote left open swallows no good rows: the row it opens is an error, and the
  rows after it are read again without it;
- a UTF-16 or UTF-32 file (a byte-order mark, or the NUL bytes of UTF-16 text) is decoded as
  such, whatever encodings the mapping lists;
- a JSON document that does not parse whole (cut short, text after its end, one record nested
  too deep) is read record by record: every complete record is kept, and what cannot be read
  becomes one error record.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from citybrain.schemas.sources import SourceSpec

#: the longest field a record may hold, in characters; a longer one makes the record an error
FIELD_LIMIT = 131_072
csv.field_size_limit(64 * 1024 * 1024)  # read past FIELD_LIMIT, then judge the record, not the file


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


#: byte-order marks of the wide Unicode encodings (UTF-32 first: its LE mark starts like UTF-16's)
WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def wide_encoding(data: bytes) -> str | None:
    """The UTF-16/32 codec a file is written in, by its byte-order mark or, without one, by the
    NUL byte that every ASCII character of UTF-16 text carries; None for byte-wide text."""
    for bom, codec in WIDE_BOMS:
        if data.startswith(bom):
            return codec
    head = data[:4096]
    odd, even = head[1::2].count(0), head[0::2].count(0)
    # byte-wide text has no NULs to speak of; UTF-16 has one beside every ASCII character, all on one side
    if len(head) >= 8 and (odd + even) * 10 >= len(head) and max(odd, even) >= 9 * min(odd, even):
        return "utf-16-le" if odd > even else "utf-16-be"
    return None


def decode(data: bytes, encodings: tuple[str, ...], *, by_line: bool = False) -> tuple[str, str, str | None]:
    """(text, encoding used, warning). Tries each encoding on the whole file; with ``by_line``
    it then decodes each line with the first encoding that fits it. Never fails: bytes no
    encoding fits become U+FFFD, and the warning says so. UTF-16 and UTF-32 are recognised
    first: read as any byte-wide encoding they would be garbage on every line."""
    wide = wide_encoding(data)
    if wide:
        text = data.decode(wide, errors="replace")
        return text, wide, f"not valid {wide} text: undecodable bytes replaced with U+FFFD" if "\ufffd" in text else None
    # line by line, only the first encoding is tried on the whole file: a permissive one such as
    # gb18030 would decode a UTF-8 file with one GBK line, wrongly, as a whole
    for encoding in encodings[:1] if by_line else encodings:
        try:
            return data.decode(encoding), encoding, None
        except UnicodeDecodeError:
            continue
    warning = f"not valid {' or '.join(encodings)} text: undecodable bytes replaced with U+FFFD"
    if not by_line:
        return data.decode(encodings[0], errors="replace"), encodings[0], warning
    lines, used, replaced = [], {}, False
    for i, raw in enumerate(data.split(b"\n")):
        for encoding in encodings:
            try:
                # a BOM only means something at the very start
                lines.append(raw.decode(encoding if i == 0 or encoding != "utf-8-sig" else "utf-8"))
                if any(byte >= 0x80 for byte in raw):  # an ASCII line says nothing about the encoding
                    used[encoding] = None
                break
            except UnicodeDecodeError:
                continue
        else:
            lines.append(raw.decode(encodings[0], errors="replace"))
            replaced = True
    return "\n".join(lines), "+".join(used) or encodings[0], warning if replaced else None


def _unique_names(names: list[str]) -> list[str]:
    """Repeated names suffixed __2, __3 ... so that no value is lost."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}__{seen[name]}")
    return out


def _object_keeping_repeats(pairs: list[tuple[str, object]]) -> dict:
    return dict(zip(_unique_names([k for k, _ in pairs]), (v for _, v in pairs), strict=True))


def _loads(text: str):
    """json.loads that keeps repeated keys (suffixed) and turns nesting too deep for the parser into a ValueError."""
    try:
        return json.loads(text, object_pairs_hook=_object_keeping_repeats)
    except RecursionError:
        raise ValueError("JSON nested deeper than the parser goes") from None


def _too_long(values) -> str | None:
    longest = max((len(v) for v in values if isinstance(v, str)), default=0)
    return f"a field of {longest:,} characters, over the limit of {FIELD_LIMIT:,}" if longest > FIELD_LIMIT else None


def as_text(value) -> str | None:
    """JSON value -> the text bronze stores (None stays None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _csv_rows(lines: list[str], start: int, delimiter: str) -> Iterator[tuple[int, int, list[str] | None, str | None]]:
    """(first line, line after the last, fields, csv error) of each row from line ``start`` on."""
    position = [start]

    def feed() -> Iterator[str]:
        while position[0] < len(lines):
            position[0] += 1
            yield lines[position[0] - 1] + "\n"

    reader = csv.reader(feed(), delimiter=delimiter)
    while True:
        first = position[0]
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield first, position[0], None, str(exc)
            return
        yield first, position[0], row, None


def _csv_records(text: str, delimiter: str = ",") -> tuple[list[str], Iterator[Record]]:
    lines = text.split("\n")  # a line keeps its "\r": inside a quoted field it is data
    try:
        names = next(csv.reader(lines[:1], delimiter=delimiter), [])
    except csv.Error:  # a header csv cannot split: split it plainly, the rows will say what is wrong
        names = lines[0].split(delimiter)
    header = _unique_names([h.strip() for h in names])

    def records() -> Iterator[Record]:
        start = 1
        while start < len(lines):
            for first, end, row, error in _csv_rows(lines, start, delimiter):
                # a quote opened on the row's first line that is never closed (or closes into a row of the
                # wrong shape) has swallowed the lines after it
                opened = row is not None and end - first > 1 and lines[first].count('"') % 2 == 1
                never_closed = sum(line.count('"') for line in lines[first:end]) % 2 == 1
                swallowed = opened and (never_closed or len(row) != len(header))
                if error or swallowed:
                    # only the row that broke is bad: read the lines after it again
                    yield Record({"_raw": lines[first].removesuffix("\r")}, error or "a quote opened on this row is never closed")
                    start = first + 1
                    break
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line is not a record
                if len(row) != len(header):
                    yield Record({"_raw": as_text(row)}, f"row has {len(row)} fields, the header has {len(header)}")
                else:
                    yield Record(dict(zip(header, row, strict=True)), _too_long(row))
            else:
                return

    return header, records()


def _json_line_records(text: str) -> Iterator[Record]:
    for line in text.split("\n"):  # not splitlines(): U+2028 and friends may sit inside a JSON string
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except json.JSONDecodeError as exc:
            yield Record({"_raw": line}, f"line is not JSON: {exc.msg} at column {exc.colno}")
            continue
        except ValueError as exc:
            yield Record({"_raw": line[:FIELD_LIMIT]}, f"line is not usable JSON: {exc}")
            continue
        if isinstance(value, dict):
            fields = {k: as_text(v) for k, v in value.items()}
            yield Record(fields, _too_long(fields.values()))
        else:
            yield Record({"_raw": line}, f"line is JSON {type(value).__name__}, not an object")


def _item_record(item, fmt: str) -> Record:
    if not isinstance(item, dict):
        return Record({"_raw": as_text(item)}, f"record is JSON {type(item).__name__}, not an object")
    if fmt == "geojson":
        props = item.get("properties") or {}
        return Record({**{k: as_text(v) for k, v in props.items()}, "geometry": as_text(item.get("geometry"))})
    fields = {k: as_text(v) for k, v in item.items()}
    return Record(fields, _too_long(fields.values()))


def _list_key(spec: SourceSpec, fmt: str) -> str:
    return "features" if fmt == "geojson" else spec.records_path


def _document_records(text: str, spec: SourceSpec, fmt: str) -> Iterator[Record]:
    key = _list_key(spec, fmt)
    try:
        doc = _loads(text)
        rest = ""
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            yield from _salvaged_records(text, key, f"file is not JSON: {exc.msg} at line {exc.lineno}", fmt)
            return
        stripped = text.lstrip()  # a complete document followed by something else: keep both
        doc, end = json.JSONDecoder(object_pairs_hook=_object_keeping_repeats).raw_decode(stripped)
        rest = stripped[end:]
    except ValueError as exc:  # nested too deep for the parser: read the records one by one
        yield from _salvaged_records(text, key, f"file is not usable JSON: {exc}", fmt)
        return
    items = doc.get(key) if isinstance(doc, dict) and key else doc
    if not isinstance(items, list):
        yield Record({"_raw": text[:FIELD_LIMIT]}, f"no list of records at {key or 'the top level'}")
        return
    for item in items:
        yield _item_record(item, fmt)
    if rest.strip():
        yield Record({"_raw": rest[:FIELD_LIMIT]}, f"text after the end of the JSON document ({len(rest.strip()):,} characters)")


def _value_end(text: str, start: int) -> int | None:
    """Where the JSON value starting at ``start`` ends, or None when the text ends first.

    A scan, not a parse: it tracks strings and bracket depth only, so it finds the end of a
    value nested too deep for ``json`` (the standard parser recurses) and of one that is not
    valid JSON at all. Nothing on the package index splits a damaged JSON array into its
    elements, which is why this is written here.
    """
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
                if depth == 0:
                    return i + 1
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            if depth == 0:
                return i  # the end of a scalar, at the enclosing list's close
            depth -= 1
            if depth == 0:
                return i + 1
        elif depth == 0 and (c == "," or c.isspace()):
            return i
    return None


def _salvaged_records(text: str, key: str, reason: str, fmt: str) -> Iterator[Record]:
    """The complete records of a document that does not parse whole, then one error record for
    the part that cannot be read (from the first unreadable record to the end)."""
    found = re.search(rf'"{re.escape(key)}"\s*:\s*\[' if key else r"^\s*\[", text)
    if not found:
        yield Record({"_raw": text[:FIELD_LIMIT]}, reason)
        return
    pos = found.end()
    while True:
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            if pos >= len(text):
                yield Record({"_raw": ""}, f"{reason}: the file ends inside the list of records (cut short?)")
            return
        end = _value_end(text, pos)
        if end is None or end == pos:
            yield Record({"_raw": text[pos : pos + FIELD_LIMIT]}, f"{reason}: the file ends inside a record (cut short?)")
            return
        try:
            yield _item_record(_loads(text[pos:end]), fmt)
        except ValueError as exc:  # JSONDecodeError is one too
            yield Record({"_raw": text[pos:end][:FIELD_LIMIT]}, f"record is not usable JSON: {exc}")
        pos = end


EXTENSION_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".json": "json_records", ".geojson": "geojson"}


def sniff_delimiter(text: str) -> str:
    """The delimiter of a delimited text's header line: the most frequent of , tab ; |."""
    header = text.split("\n", 1)[0]
    return max((",", "\t", ";", "|"), key=header.count)


def read_drop(data: bytes, spec: SourceSpec, *, file_name: str = "") -> DecodedDrop:
    """Decode and split one drop file. ``format = "auto"`` mappings pick the reader by file extension."""
    fmt = spec.format
    if fmt == "auto":
        suffix = file_name[file_name.rfind(".") :].lower() if "." in file_name else ""
        fmt = EXTENSION_FORMATS.get(suffix, "csv")
    text, encoding, warning = decode(data, spec.encodings, by_line=fmt in ("csv", "jsonl"))
    text = text.removeprefix("\ufeff")  # a byte-order mark is not data, whatever the encoding said
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
    if warning:  # only the records that hold replaced bytes
        for rec in out.records:
            if any("\ufffd" in v for v in rec.fields.values() if isinstance(v, str)):
                rec.error = f"{rec.error}; {warning}" if rec.error else warning
    return out

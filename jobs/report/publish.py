"""Build the weekly report, archive it under <reports_dir>/<ISO week>/ and list it in gold.report_index.

``build`` needs no Spark: it pins the tables (``LakeSnapshot``), gathers the numbers, writes
``numbers.json``, draws, renders the HTML and prints the PDF. ``run`` adds the index row,
written through the table's contract with ``lake.write`` like every other table (so the
caller needs a Spark session; the DAG checks the engine first).

A rebuild (``rebuild=True``) reads the table versions a past build recorded in
gold.report_index instead of the latest ones, and checks that its numbers have the digest
that build recorded: the same lake versions must give the same numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from citybrain.jobs.report import charts, interpret, render, weekly
from citybrain.jobs.report.i18n import STRINGS, rule_label, text
from citybrain.jobs.report.sections import sections, tables_read
from citybrain.jobs.report.snapshot import LakeSnapshot
from citybrain.schemas.gold.report_index import GOLD_REPORT_INDEX, LANGUAGES, ReportParams
from citybrain.settings import Settings

INDEX = GOLD_REPORT_INDEX.name


class RebuildMismatch(RuntimeError):
    """A rebuild from recorded table versions gave numbers other than the recorded build's."""


@dataclass
class ReportBuild:
    """One build of the report: where its files are and what it read."""

    build_id: str
    iso_week: str
    language: str
    source_system: str | None
    html_path: Path
    pdf_path: Path | None
    numbers_path: Path
    numbers_sha256: str
    table_versions: dict[str, int]
    sections: list[str]
    renderer: str | None = None
    is_rebuild: bool = False
    rebuilt_from: str | None = None
    built_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    pdf_error: str | None = None

    def index_row(self) -> dict:
        return {
            "build_id": self.build_id,
            "iso_week": self.iso_week,
            "language": self.language,
            "source_system": self.source_system,
            "built_at": self.built_at,
            "is_rebuild": self.is_rebuild,
            "rebuilt_from": self.rebuilt_from,
            "table_versions": json.dumps(self.table_versions, sort_keys=True),
            "numbers_sha256": self.numbers_sha256,
            "sections": ",".join(self.sections),
            "html_path": str(self.html_path),
            "pdf_path": None if self.pdf_path is None else str(self.pdf_path),
            "numbers_path": str(self.numbers_path),
            "renderer": self.renderer,
            "code_version": _code_version(),
        }

    def summary(self) -> str:
        what = f"rebuilt from {self.rebuilt_from}" if self.is_rebuild else "built"
        pdf = f", PDF {self.pdf_path}" if self.pdf_path else f" (no PDF: {self.pdf_error})"
        return f"weekly report {self.iso_week} ({self.language}) {what}: HTML {self.html_path}{pdf}; numbers {self.numbers_sha256[:12]}"


def file_names(lang: str) -> tuple[str, str, str]:
    """(html, pdf, numbers) file names of a language: report.html for the default, report.en.html for English."""
    suffix = "" if lang == LANGUAGES[0] else f".{lang}"
    return f"report{suffix}.html", f"report{suffix}.pdf", f"numbers{suffix}.json"


def numbers_document(
    snapshot: LakeSnapshot, *, week: str | None, source_system: str | None, params: ReportParams
) -> tuple[dict, list[str]]:
    """The report's numbers for a pinned lake: ({iso_week, ..., sections: {key: numbers}}, section keys in print order)."""
    _, received = weekly.weeks_in_data(snapshot)
    source = weekly.choose_source(received, source_system)
    weeks, _ = weekly.weeks_in_data(snapshot, source)
    chosen = weekly.choose_week(weeks, week)
    scope = weekly.Scope(snapshot, chosen, source, params)
    numbers, keys = {}, []
    for section in sections():
        value = section.numbers(scope)
        if value is not None:
            numbers[section.key] = value
            keys.append(section.key)
    document = {
        "iso_week": chosen.label,
        "week_start": chosen.start.isoformat(),
        "week_end": chosen.end.isoformat(),
        "week_complete": weeks[chosen.label],
        "source_system": source,
        "sections": numbers,
    }
    return document, keys


def numbers_json(document: dict) -> str:
    """numbers.json: keys sorted, so equal numbers give equal bytes (and equal digests)."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1) + "\n"


def recorded_build(settings: Settings, week: str | None = None, build_id: str | None = None) -> dict:
    """The fresh (not rebuilt) build to rebuild: ``build_id``, else the latest of ``week``, else the latest of all."""
    from deltalake import DeltaTable

    from citybrain.lake import table_location

    location = table_location(settings, INDEX)
    if not DeltaTable.is_deltatable(location):
        raise weekly.NothingToReport(f"{INDEX} does not exist yet: nothing has been built to rebuild")
    index = DeltaTable(location).to_pyarrow_dataset().to_table().to_pandas()
    if build_id is not None:
        rows = index[index["build_id"] == build_id]
        what = f"build {build_id}"
    else:
        rows = index[~index["is_rebuild"]]
        if week is not None:
            rows = rows[rows["iso_week"] == weekly.Week.parse(week).label]
        what = f"report of {week}" if week else "report"
    if rows.empty:
        raise weekly.NothingToReport(f"no {what} in {INDEX} to rebuild; build it first (citybrain report --week W)")
    return rows.sort_values(["built_at", "build_id"]).iloc[-1].to_dict()


def build(
    settings: Settings,
    *,
    week: str | None = None,
    lang: str = LANGUAGES[0],
    rebuild: bool = False,
    build_id: str | None = None,
    source_system: str | None = None,
    params: ReportParams | None = None,
) -> ReportBuild:
    """Build one report (files only; ``run`` also records it in gold.report_index)."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: the report speaks {', '.join(LANGUAGES)}")
    params = params or ReportParams()
    charts.cjk_font()  # fail before reading anything when the font is missing
    recorded = None
    if rebuild:
        recorded = recorded_build(settings, week, build_id)
        snapshot = LakeSnapshot.from_json(settings, recorded["table_versions"])
        week, source_system = recorded["iso_week"], recorded["source_system"]
    else:
        snapshot = LakeSnapshot.latest(settings, tables_read())
    document, keys = numbers_document(snapshot, week=week, source_system=source_system, params=params)
    text_numbers = numbers_json(document)
    digest = hashlib.sha256(text_numbers.encode("utf-8")).hexdigest()

    built_at = datetime.now(UTC)
    report = ReportBuild(
        build_id=f"{document['iso_week']}-{lang}-{built_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        iso_week=document["iso_week"],
        language=lang,
        source_system=document["source_system"],
        html_path=Path(),
        pdf_path=None,
        numbers_path=Path(),
        numbers_sha256=digest,
        table_versions=dict(sorted(snapshot.versions.items())),
        sections=keys,
        is_rebuild=rebuild,
        rebuilt_from=None if recorded is None else recorded["build_id"],
        built_at=built_at,
    )
    folder = Path(settings.reports_dir) / document["iso_week"]
    folder.mkdir(parents=True, exist_ok=True)
    _, _, numbers_name = file_names(lang)
    report.numbers_path = folder / numbers_name
    report.numbers_path.write_text(text_numbers, encoding="utf-8")
    if recorded is not None and digest != recorded["numbers_sha256"]:
        raise RebuildMismatch(
            f"rebuild of {recorded['build_id']} from its recorded table versions gave other numbers "
            f"(sha256 {digest[:12]}, recorded {recorded['numbers_sha256'][:12]}); see {report.numbers_path}"
        )

    write_report(report, document, folder, params)
    return report


def write_report(report: ReportBuild, document: dict, folder: Path, params: ReportParams) -> None:
    """Write the HTML (and, when Chromium is there, the PDF) of ``document`` into ``folder``; sets the paths on ``report``."""
    html_name, pdf_name, _ = file_names(report.language)
    report.html_path = folder / html_name
    report.html_path.write_text(render.render_html(_context(document, report.sections, report, report.language, params)), encoding="utf-8")
    try:
        report.renderer = render.html_to_pdf(report.html_path, folder / pdf_name)
        report.pdf_path = folder / pdf_name
    except render.PdfRendererMissing as exc:
        report.pdf_error = str(exc)


def run(spark, settings: Settings, **options) -> ReportBuild:
    """Build the report and append its row to gold.report_index; raise PdfRendererMissing after that if no PDF could be printed."""
    from citybrain import lake

    report = build(settings, **options)
    rows = spark.createDataFrame([report.index_row()], GOLD_REPORT_INDEX.ddl().replace(" NOT NULL", ""))
    lake.write(spark, settings, INDEX, rows)
    if report.pdf_error:
        raise render.PdfRendererMissing(report.pdf_error)
    return report


# --- presentation -------------------------------------------------------------------


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _context(document: dict, keys: list[str], report: ReportBuild, lang: str, params: ReportParams) -> dict:
    by_key = {s.key: s for s in sections()}
    shown = []
    for key in keys:
        section, numbers = by_key[key], document["sections"][key]
        shown.append(
            {
                "key": key,
                "title": text(lang, f"section.{key}"),
                "numbers": numbers,
                "sentences": section.sentences(numbers, lang, params),
                "chart": _data_uri(section.chart(numbers, lang)),
            }
        )
    return {
        "lang": lang,
        "html_lang": "zh-CN" if lang == "zh" else lang,
        "t": lambda key, **values: text(lang, key, **values),
        "strings": STRINGS[lang],
        "fmt_count": interpret.fmt_count,
        "fmt_rate": interpret.fmt_rate,
        "metric_change": lambda metric: interpret.metric_change(lang, metric, params)[1],
        "rule_label": lambda rule, reason: rule_label(lang, rule, reason),
        "place": lambda alert: interpret.place(lang, alert),
        "reasons": lambda row: interpret.stability_reasons(row, lang),
        "document": document,
        "sections": shown,
        "build": {**asdict(report), "built_at": report.built_at.strftime("%Y-%m-%d %H:%M")},
        "versions": ", ".join(f"{name} v{version}" for name, version in sorted(report.table_versions.items())),
    }


def _code_version() -> str:
    try:
        return metadata.version("citybrain")
    except metadata.PackageNotFoundError:
        return "unknown"

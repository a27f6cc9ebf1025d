"""The rendered report: self-contained HTML, Chinese text and an embedded CJK font in the PDF, clear errors without font or renderer.

Page 1 of the PDF is also written as a PNG (``pdftoppm -png -r 60 -f 1 -l 1``) into the
test's folder, for a person to look at: the characters must render, not as boxes.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from report_samples import sample_build, sample_document

from citybrain.jobs.report import charts, publish, render
from citybrain.jobs.report.sections import sections
from citybrain.schemas.gold.report_index import ReportParams

POPPLER = all(shutil.which(tool) for tool in ("pdftotext", "pdffonts", "pdftoppm"))
needs_pdf_tools = pytest.mark.skipif(
    render.find_chromium() is None or not POPPLER,
    reason="needs Debian chromium (the PDF renderer) and poppler-utils (pdftotext, pdffonts, pdftoppm)",
)


def _write(tmp_path, lang="zh", monkeypatch=None):
    report = sample_build(lang)
    publish.write_report(report, sample_document(), tmp_path, ReportParams())
    return report


def test_html_is_self_contained_and_in_the_language_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "find_chromium", lambda: None)  # HTML only: fast, and works without a browser
    zh = _write(tmp_path, "zh")
    html = zh.html_path.read_text(encoding="utf-8")
    assert zh.html_path.name == "report.html" and zh.pdf_path is None
    assert "本周共受理12345诉求4,040件" in html and "松涛街道" in html
    assert "http://" not in html and "https://" not in html and "//cdn" not in html  # nothing fetched, ever
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert len(sources) == len(sections())  # one chart or map per section
    assert "五、社会稳定风险" in html and "华坊社区" in html and "集体访（每万人）（16.2分）" in html and "41%" in html
    assert "六、网约车需求" in html and "本周网约车订单56,000单" in html and "8830915653fffff" in html
    en = _write(tmp_path, "en")
    english = en.html_path.read_text(encoding="utf-8")
    assert en.html_path.name == "report.en.html"
    assert "The 12345 hotline received 4,040 complaints this week" in english
    assert "本周共受理" not in english
    assert "6. Ride-hailing demand" in english and "Ride-hailing orders this week: 56,000" in english


def test_missing_renderer_writes_the_html_and_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "find_chromium", lambda: None)
    report = _write(tmp_path)
    assert report.html_path.exists() and report.pdf_path is None
    assert "install the Debian package chromium" in report.pdf_error
    assert "\n" not in report.pdf_error


def test_missing_cjk_font_fails_clearly(monkeypatch):
    monkeypatch.setattr(charts, "CJK_FONT", "No Such Font CJK")
    with pytest.raises(charts.FontMissing, match="fonts-noto-cjk"):
        charts.cjk_font()
    with pytest.raises(charts.FontMissing):
        charts.headline_chart(sample_document()["sections"]["headline"], "zh")


def test_charts_draw_cjk_with_the_noto_font():
    assert "NotoSansCJK" in charts.cjk_font()
    svg = charts.hotspot_map(sample_document()["sections"]["hotspots"], "zh")
    assert svg.lstrip().startswith("<?xml") and "<text" not in svg  # glyphs as paths: no font needed to view it
    assert svg == charts.hotspot_map(sample_document()["sections"]["hotspots"], "zh")  # same numbers, same bytes


@needs_pdf_tools
def test_pdf_has_chinese_text_and_an_embedded_cjk_font(tmp_path):
    report = _write(tmp_path)
    assert report.pdf_path == tmp_path / "report.pdf" and report.renderer.startswith(("Chromium", "Google"))
    pdf_text = subprocess.run(["pdftotext", "-layout", str(report.pdf_path), "-"], capture_output=True, text=True, check=True).stdout
    assert "城市大脑" in pdf_text and "本周共受理12345诉求4,040件" in pdf_text and "噪声扰民" in pdf_text
    fonts = subprocess.run(["pdffonts", str(report.pdf_path)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # every font embedded ("emb" column)
    # Chromium embeds the OpenType CJK font as Type 3 glyph procedures (pdffonts shows no name);
    # the font descriptors still carry its PostScript name.
    names = set(re.findall(rb"/FontName\s*/[A-Z]{6}\+([A-Za-z0-9-]+)", report.pdf_path.read_bytes()))
    assert any(n.startswith(b"NotoSansCJKsc") for n in names), names
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(report.pdf_path), str(tmp_path / "page")], check=True)
    page = next(tmp_path.glob("page*.png"))
    assert page.stat().st_size > 20_000, "page 1 looks empty"


def test_text_from_the_data_is_escaped_in_the_html(tmp_path, monkeypatch):
    """A department's text reaches the report only as text: markup is escaped, never run."""
    monkeypatch.setattr(render, "find_chromium", lambda: None)
    document = sample_document()
    alert = document["sections"]["hotspots"]["top"][0]
    alert["example_text"] = "<script>alert('x')</script>=cmd|' /C calc'!A0"
    alert["category"] = "<img src=x onerror=alert(1)>"
    document["sections"]["performance"]["best"][0]["unit_name"] = "<b>锦绣街道</b>"
    report = sample_build("zh")
    publish.write_report(report, document, tmp_path, ReportParams())
    html = report.html_path.read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>锦绣街道</b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b&gt;锦绣街道&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html

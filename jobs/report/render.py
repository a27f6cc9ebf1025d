"""HTML from the Jinja2 template, and PDF from the HTML by a headless Chromium print.

Chromium is the PDF renderer because the project already needs it (its browser tests use
the Debian ``chromium`` package); it prints the same HTML a reader opens, with the same
fonts (fontconfig finds Noto Sans CJK SC from ``fonts-noto-cjk``). It runs with a fresh
profile, no background networking and every host name unresolvable: the report is
self-contained and nothing may be fetched while printing it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent / "templates"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_PACKAGE = "chromium"


class PdfRendererMissing(RuntimeError):
    """No headless Chromium to print the PDF with (the HTML is written all the same)."""


class PdfRenderFailed(RuntimeError):
    """Chromium ran but wrote no PDF."""


def render_html(context: dict) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template("report.html.j2").render(**context)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    words = done.stdout.split()
    return " ".join(words[:2]) if len(words) >= 2 else Path(binary).name


def html_to_pdf(html_path: Path, pdf_path: Path, *, timeout: float = 180) -> str:
    """Print ``html_path`` to ``pdf_path`` (A4, no header or footer); returns the renderer's name and version."""
    binary = find_chromium()
    if binary is None:
        raise PdfRendererMissing(
            f"no PDF renderer: install the Debian package {CHROMIUM_PACKAGE} (apt-get install {CHROMIUM_PACKAGE}); "
            f"the HTML report is at {html_path}"
        )
    pdf_path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="citybrain-chromium-") as profile:
        command = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            Path(html_path).resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PdfRenderFailed(f"{binary} wrote no PDF (exit {done.returncode}): {' | '.join(tail)}")
    return chromium_version(binary)

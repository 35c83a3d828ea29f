"""Reports of an audit: a self-contained HTML page, the same in Markdown, versioned JSON.

``write_reports`` writes all three into a folder; ``report_json`` gives the machine
document (schema ``SCHEMA_VERSION``) without writing anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any

from embaudit.errors import ConfigError
from embaudit.reports.figures import ReportPlots, png_bytes, report_plots
from embaudit.reports.html import render_html
from embaudit.reports.json_report import SCHEMA_VERSION, generated_now, report_json
from embaudit.reports.markdown import FIGURES_FOLDER, md_escape, render_markdown
from embaudit.results import AuditResult
from embaudit.store.files import atomic_path

__all__ = [
    "REPORT_FORMATS",
    "SCHEMA_VERSION",
    "generated_now",
    "md_escape",
    "render_html",
    "render_markdown",
    "report_json",
    "report_schema",
    "write_reports",
]


#: the report formats, by the names ``--format`` takes
REPORT_FORMATS = ("html", "md", "json")


def report_schema() -> dict[str, Any]:
    """The JSON Schema every ``report.json`` of this version follows (shipped with the
    package; fields documented in ``docs/report-schema.md``)."""
    text = resources.files("embaudit.reports").joinpath("report.schema.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def write_reports(result: AuditResult, out_dir: Path, generated_at: str | None = None,
                  formats: Collection[str] = REPORT_FORMATS) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and ``report.json`` (those of ``formats``)
    into ``out_dir``, stamped ``generated_at`` (default: now).

    Each file is written atomically (temporary file in the same folder, then
    ``os.replace``), so a reader never sees half a report. Returns their paths.
    """
    unknown = sorted(set(formats) - set(REPORT_FORMATS))
    if unknown:
        raise ConfigError(f"Unknown report format {unknown[0]!r}: choose among "
                          f"{', '.join(REPORT_FORMATS)}.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated_at = generated_at or generated_now()
    plots = report_plots(result) if {"html", "md"} & set(formats) else None
    render = {
        "html": lambda: render_html(result, generated_at, plots),
        "md": lambda: render_markdown(result, generated_at, plots),
        "json": lambda: json.dumps(report_json(result, generated_at=generated_at), indent=2,
                                   allow_nan=False, ensure_ascii=False) + "\n",
    }
    if "md" in formats and plots is not None:
        _write_figures(plots, out_dir / FIGURES_FOLDER)
    return {key: _write_atomic(out_dir / f"report.{key}", render[key]())
            for key in REPORT_FORMATS if key in formats}


def _write_figures(plots: ReportPlots, folder: Path) -> None:
    """The Markdown report's figures as PNG files; files of an earlier report that this
    one does not draw are removed."""
    folder.mkdir(exist_ok=True)
    named = dict(plots.named())
    for stale in folder.glob("*.png"):
        if stale.name not in named:
            stale.unlink()
    for name, plot in named.items():
        with atomic_path(folder / name) as temporary:
            temporary.write_bytes(png_bytes(plot))
            os.chmod(temporary, 0o644)


def _write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and ``os.replace``."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8", newline="\n")
        os.chmod(temporary, 0o644)  # temporary files are 0600; reports are meant to be shared
    return path

"""Reports of an audit: a self-contained HTML page, the same in Markdown, versioned JSON.

``write_reports`` writes all three into a folder; ``report_json`` gives the machine
document (schema ``SCHEMA_VERSION``) without writing anything.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from embaudit.reports.html import render_html
from embaudit.reports.json_report import SCHEMA_VERSION, report_json
from embaudit.reports.markdown import md_escape, render_markdown
from embaudit.results import AuditResult
from embaudit.store.store import atomic_path

__all__ = [
    "SCHEMA_VERSION",
    "md_escape",
    "render_html",
    "render_markdown",
    "report_json",
    "write_reports",
]


def write_reports(result: AuditResult, out_dir: Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and ``report.json`` into ``out_dir``.

    Each file is written atomically (temporary file in the same folder, then
    ``os.replace``), so a reader never sees half a report. Returns their paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    document = report_json(result, generated_at=generated_at)
    contents = {
        "html": ("report.html", render_html(result, generated_at)),
        "markdown": ("report.md", render_markdown(result, generated_at)),
        "json": ("report.json", json.dumps(document, indent=2, allow_nan=False,
                                           ensure_ascii=False) + "\n"),
    }
    return {key: _write_atomic(out_dir / name, text) for key, (name, text) in contents.items()}


def _write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and ``os.replace``."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8", newline="\n")
        os.chmod(temporary, 0o644)  # temporary files are 0600; reports are meant to be shared
    return path

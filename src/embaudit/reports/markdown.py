"""The Markdown report: the HTML report's content as text, pipe tables and figures (PNG
files in ``report_files/`` beside it).

Every string that comes from the data is escaped with :func:`md_escape`, so a hostile
attribute name can neither break a table nor inject HTML or links.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from embaudit.reports.figures import ReportPlots, report_plots
from embaudit.reports.json_report import (
    HYPOTHESIS_DISPLAY,
    REGIME_DISPLAY,
    display_table,
    hypotheses_view,
    member_summary,
    panel_note,
    position_meaning,
)
from embaudit.reports.landscape_view import (
    LANDSCAPE_NOTE,
    association_table,
    basin_table,
    optimizer_table,
    status_table,
)
from embaudit.reports.ledger_view import ledger_table, seal_sentence
from embaudit.reports.methods import methods_paragraphs
from embaudit.reports.plots import Plot
from embaudit.reports.tables import manifest_view
from embaudit.results import AuditResult

#: Markdown punctuation that could start emphasis, code, links, maths or table cells
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")


def md_escape(text: Any) -> str:
    """``text`` safe inside a Markdown paragraph or table cell (one line, no markup)."""
    escaped = html.escape(str(text), quote=False)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)
    return " ".join(escaped.splitlines())


def pipe_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured pipe table with every cell escaped."""
    lines = ["| " + " | ".join(md_escape(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


#: the folder beside report.md that holds its figures
FIGURES_FOLDER = "report_files"


def render_markdown(result: AuditResult, generated_at: str = "",
                    plots: ReportPlots | None = None) -> str:
    """The whole report as Markdown: verdict first, then tables, figures (links to the
    files :meth:`ReportPlots.named` names, in ``report_files/``), methods, manifest."""
    position = result.position
    info = manifest_view(result)
    plots = plots or report_plots(result)
    split = result.split
    out = [
        "# embaudit audit report",
        "",
        f"{result.table.n_rows} rows (discovery {len(split.discovery)}, holdout "
        f"{len(split.holdout)}"
        + ("" if result.table.events is None
           else f"; {int((result.table.events == 0).sum())} lifespans censored")
        + f"), {len(result.table.features)} features, "
        f"{len(result.table.attribute_columns)} attribute columns."
        + (f" Generated {md_escape(generated_at)}." if generated_at else ""),
        "",
        f"## Verdict: {md_escape(position.position)}",
        "",
        f"> **{md_escape(position_meaning(result))}**",
        *[line for paragraph in position.paragraphs()
          for line in (">", f"> {md_escape(paragraph)}")],
        "",
        "## Person A vs Person B, by regime",
        "",
        md_escape(panel_note(result)),
        "",
        pipe_table(*display_table(result.regimes, REGIME_DISPLAY)),
        "",
        "## Hypotheses",
        "",
        pipe_table(*display_table(hypotheses_view(result), HYPOTHESIS_DISPLAY)),
        "",
        *_ledger_section(result),
        *_skipped_section(result),
        *_crossfit_section(result),
        *_landscape_section(result, plots),
        *_figures_section(plots),
        "## Training diagnostics",
        "",
    ]
    summary = member_summary(result.members)
    if summary.empty:
        out.append("No trained members (raw screening only).")
    else:
        out.append(pipe_table(*display_table(summary, list(summary.columns))))
    out += ["", "## Methods", ""]
    for title, paragraph in methods_paragraphs(
            result.config, result.lead_regime, len(result.table.features),
            result.table.covariates, result.table.group,
            result.table.event):
        out += [f"### {md_escape(title)}", "", md_escape(paragraph), ""]
    features = info["features"]
    out += [
        "## Reproducibility",
        "",
        f"- Command: `{md_escape(info['command'] or 'not recorded')}`",
        f"- Data SHA-256: `{md_escape(info['data_sha256'])}`",
        f"- Seed: {md_escape(info['seed'])}",
        f"- Rows: {md_escape(info['n_rows'])}",
        f"- Features: {features['count']}, chosen by {md_escape(features['chosen_by'])} "
        f"({md_escape(features['first'])})",
        "",
        pipe_table(["package", "version"], [[k, str(v)] for k, v in info["versions"].items()]),
        "",
        "Column roles (features summarized above) and the full configuration:",
        "",
        _code_block(_safe_json({"roles": info["roles"], "config": info["config"]})),
        "",
    ]
    return "\n".join(out)


def _figures_section(plots: ReportPlots) -> list[str]:
    """Every figure but the landscape's, as an image link with its caption."""
    lines = ["## Figures", ""]
    for name, plot in plots.named():
        if not name.startswith("landscape_"):
            lines += [_image(name, plot), ""]
    return lines


def _image(name: str, plot: Plot) -> str:
    return f"![{md_escape(plot.title)}]({FIGURES_FOLDER}/{name})"


def _safe_json(value: Any) -> str:
    """Indented JSON with ``<``, ``>`` and ``&`` as unicode escapes (same value, no markup)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _code_block(text: str) -> str:
    """A fenced block whose fence is longer than any backtick run inside ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}json\n{text}\n{fence}"


def _crossfit_section(result: AuditResult) -> list[str]:
    """Cross-fit replication per regime and attribute (nothing without cross-fit)."""
    if result.crossfit.empty:
        return []
    summary, agreement = result.crossfit_rates, result.crossfit_agreement
    return ["### Cross-fit replication", "",
            pipe_table(*display_table(summary, list(summary.columns))), "",
            pipe_table(*display_table(agreement, list(agreement.columns))), ""]


def _landscape_section(result: AuditResult, plots: ReportPlots) -> list[str]:
    """The loss landscape's sentence and tables (nothing when not run)."""
    landscape = result.landscape
    if landscape is None:
        return []
    return ["## Loss landscape of the minima", "", f"**{md_escape(landscape.headline())}**",
            "", *[line for text in landscape.paragraphs() for line in (md_escape(text), "")],
            md_escape(LANDSCAPE_NOTE), "",
            pipe_table(*status_table(landscape)), "",
            pipe_table(*optimizer_table(landscape)), "",
            pipe_table(*association_table(landscape)), "",
            pipe_table(*basin_table(landscape)), "",
            *[line for name, plot in plots.named() if name.startswith("landscape_")
              for line in (_image(name, plot), "")]]


def _ledger_section(result: AuditResult) -> list[str]:
    """The holdout's seal and the claims checked against it."""
    header, rows = ledger_table(result)
    return ["## Holdout seal and claims ledger", "", md_escape(seal_sentence(result)), "",
            pipe_table(header, rows) if rows else
            "No claim has been checked against this holdout yet.", ""]


def _skipped_section(result: AuditResult) -> list[str]:
    """Attributes with no trend to test, if any."""
    if result.skipped.empty:
        return []
    return ["### Skipped attributes", "",
            pipe_table(*display_table(result.skipped, list(result.skipped.columns))), ""]

"""The Markdown report: the HTML report's content as text, pipe tables and figures (PNG
files in ``report_files/`` beside it).

Every string that comes from the data is escaped with :func:`md_escape`, so a hostile
attribute name can neither break a table nor inject HTML or links.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from embaudit.reports.figures import ReportPlots, report_plots
from embaudit.reports.json_report import position_meaning
from embaudit.reports.labels import Header
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
from embaudit.reports.tables import (
    REGIME_TITLES,
    Table,
    compute_table,
    frame_table,
    hypothesis_table,
    manifest_view,
    member_table,
    position_headline,
    position_p,
    regime_notes,
    regime_tables,
    versions_table,
)
from embaudit.results import AuditResult

#: Markdown punctuation that could start emphasis, code, links, maths or table cells
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")


def md_escape(text: Any) -> str:
    """``text`` safe inside a Markdown paragraph or table cell (one line, no markup)."""
    escaped = html.escape(str(text), quote=False)
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)
    return " ".join(escaped.splitlines())


def pipe_table(table: Table) -> str:
    """A GitHub-flavoured pipe table with every cell escaped (all its columns)."""
    lines = ["| " + " | ".join(md_escape(h.label) for h in table.header) + " |",
             "|" + "|".join("---" for _ in table.header) + "|"]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _keys_section(tables: Sequence[Table]) -> list[str]:
    """Each column label of the report's tables with its report.json key (what the HTML
    report gives as the header's tooltip), once per label and key."""
    shown: dict[tuple[str, str], Header] = {}
    for table in tables:
        for header in table.header:
            shown.setdefault((header.label, header.key), header)
    rows = [[h.label, h.key] for h in shown.values()]
    return ["## Column keys", "", "Each table column's key in report.json:", "",
            pipe_table(Table([Header("column", ()), Header("report.json key", ())], rows,
                             ["", ""])), ""]


#: a table's Markdown, noting the table for the list of column keys at the end
Shown = Callable[[Table], str]
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
    tables: list[Table] = []

    def shown(table: Table) -> str:
        tables.append(table)
        return pipe_table(table)

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
        f"> **{md_escape(position_headline(result, position_meaning(result)))}**",
        *[line for paragraph in position.paragraphs()
          for line in (">", f"> {md_escape(paragraph)}")],
        ">",
        f"> Decided on the {md_escape(position.regime)} regime; "
        f"{md_escape(position_p(result))}.",
        "",
        "## Person A vs B, by regime",
        "",
        *[line for title, note, table in zip(REGIME_TITLES, regime_notes(result),
                                             regime_tables(result), strict=True)
          for line in (f"### {title}", "", md_escape(note), "", shown(table), "")],
        "## Hypotheses",
        "",
        shown(hypothesis_table(result)),
        "",
        *_ledger_section(result, shown),
        *_skipped_section(result, shown),
        *_crossfit_section(result, shown),
        *_landscape_section(result, plots, shown),
        *_figures_section(plots),
        "## Training diagnostics",
        "",
    ]
    members = member_table(result)
    if not members.rows:
        out.append("No trained members (raw screening only).")
    else:
        out += ["Per regime and kind of member: counts, then medians over the members.", "",
                shown(members)]
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
        shown(versions_table(info["versions"])),
        "",
        "How the members were computed:",
        "",
        *([f"**{md_escape(info['compute']['note'])}**", ""] if info["compute"]["note"]
          else []),
        shown(compute_table(info["compute"]["paths"])) if info["compute"]["paths"]
        else "Not recorded (a store from before embaudit recorded it).",
        "",
        "Column roles (features summarized above) and the full configuration:",
        "",
        _code_block(_safe_json({"roles": info["roles"], "config": info["config"]})),
        "",
        *_keys_section(tables),
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


def _crossfit_section(result: AuditResult, shown: Shown) -> list[str]:
    """Cross-fit replication per regime and attribute (nothing without cross-fit)."""
    if result.crossfit.empty:
        return []
    return ["### Cross-fit replication", "", shown(frame_table(result.crossfit_rates)), "",
            shown(frame_table(result.crossfit_agreement)), ""]


def _landscape_section(result: AuditResult, plots: ReportPlots, shown: Shown) -> list[str]:
    """The loss landscape's sentence and tables (nothing when not run)."""
    landscape = result.landscape
    if landscape is None:
        return []
    return ["## Loss landscape of the minima", "", f"**{md_escape(landscape.headline())}**",
            "", *[line for text in landscape.paragraphs() for line in (md_escape(text), "")],
            md_escape(LANDSCAPE_NOTE), "",
            shown(status_table(landscape)), "",
            shown(optimizer_table(landscape)), "",
            shown(association_table(landscape)), "",
            shown(basin_table(landscape)), "",
            *[line for name, plot in plots.named() if name.startswith("landscape_")
              for line in (_image(name, plot), "")]]


def _ledger_section(result: AuditResult, shown: Shown) -> list[str]:
    """The holdout's seal and the claims checked against it."""
    ledger = ledger_table(result)
    return ["## Holdout seal and claims ledger", "", md_escape(seal_sentence(result)), "",
            shown(ledger) if ledger.rows else
            "No claim has been checked against this holdout yet.", ""]


def _skipped_section(result: AuditResult, shown: Shown) -> list[str]:
    """Attributes with no trend to test, if any."""
    if result.skipped.empty:
        return []
    return ["### Skipped attributes", "", shown(frame_table(result.skipped)), ""]

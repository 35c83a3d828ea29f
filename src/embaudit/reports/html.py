"""The HTML report: one self-contained page (inline CSS, plots as PNG data URIs).

Rendered with jinja2 with autoescaping on, so every string from the data (attribute
names, levels, column names, the position summary) is escaped.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2
import pandas as pd

from embaudit.hypotheses.censored import interval_level
from embaudit.plots.trends import MAX_DOTS
from embaudit.reports.figures import MAX_TRENDS, ReportPlots, report_plots
from embaudit.reports.json_report import hypotheses_view, position_meaning
from embaudit.reports.landscape_view import (
    LANDSCAPE_NOTE,
    association_table,
    basin_table,
    optimizer_table,
    status_table,
)
from embaudit.reports.ledger_view import ledger_table, seal_sentence
from embaudit.reports.methods import methods_paragraphs
from embaudit.reports.tables import (
    REGIME_TITLES,
    compute_table,
    frame_table,
    hypothesis_table,
    manifest_view,
    member_table,
    position_headline,
    position_p,
    regime_notes,
    regime_order,
    regime_tables,
    versions_table,
)
from embaudit.results import AuditResult


@cache
def environment() -> jinja2.Environment:
    """The reports' templates: autoescaping on, undefined names refused."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("embaudit.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(result: AuditResult, generated_at: str = "",
                plots: ReportPlots | None = None) -> str:
    """The whole report as one HTML page: verdict first, then tables, plots, methods.
    ``plots`` (default: drawn here) lets the Markdown report share the same figures."""
    position = result.position
    info = manifest_view(result)
    hypotheses = hypothesis_table(result)
    plots = plots or report_plots(result)
    context: dict[str, Any] = {
        "generated_at": generated_at,
        "n_rows": result.table.n_rows,
        "n_discovery": len(result.split.discovery),
        "n_holdout": len(result.split.holdout),
        "n_features": len(result.table.features),
        "n_attributes": len(result.table.attribute_columns),
        "n_censored": None if result.table.events is None
        else int((result.table.events == 0).sum()),
        "interval_note": _interval_note(result),
        "effect_name": _effect_name(result),
        "position": {
            "headline": position_headline(result, position_meaning(result)),
            "paragraphs": position.paragraphs(),
            "regime": position.regime,
            "p_value": position_p(result),
            "css": {"A": "pos-a", "B": "pos-b"}.get(position.position, "pos-undecided"),
        },
        "regimes": dict(zip(("readings", "procedures"), regime_tables(result), strict=True)),
        "regime_notes": dict(zip(("readings", "procedures"), regime_notes(result),
                                 strict=True)),
        "regime_titles": dict(zip(("readings", "procedures"), REGIME_TITLES, strict=True)),
        "hypotheses": {
            "table": hypotheses,
            "row_classes": _row_classes(hypotheses_view(result)),
            "has_truth": any(h.keys == ("truth",) for h in hypotheses.header),
            "sealed": result.config.sealed,
            "regimes": regime_order(result.hypotheses),
            "lead": result.lead_regime,
        },
        "members": member_table(result),
        "ledger": {"seal": seal_sentence(result), "table": ledger_table(result)},
        "skipped": frame_table(result.skipped, words=("reason",)),
        "crossfit": _crossfit_tables(result),
        "landscape": _landscape_context(result, plots),
        "plots": plots,
        "max_trends": MAX_TRENDS,
        "max_dots": MAX_DOTS,
        "methods": methods_paragraphs(
            result.config, result.lead_regime, len(result.table.features),
            result.table.covariates, result.table.group,
            result.table.event),
        "manifest": {
            **{k: info[k] for k in ("data_sha256", "seed", "n_rows", "versions", "command",
                                    "features")},
            "versions": versions_table(info["versions"]),
            "compute": compute_table(info["compute"]["paths"]),
            "compute_note": info["compute"]["note"],
            "roles": json.dumps(info["roles"], indent=2, ensure_ascii=False),
            "config": json.dumps(info["config"], indent=2, ensure_ascii=False),
        },
    }
    return environment().get_template("report.html.j2").render(context)


def _row_classes(hypotheses: pd.DataFrame) -> list[str]:
    """CSS class per hypothesis row: its verdict, and true/false discovery when truth is known.

    Only fixed class names come out of here, never text from the data.
    """
    classes = []
    has_truth = "truth" in hypotheses.columns
    for row in hypotheses.to_dict(orient="records"):
        verdict = {"survives": "v-survives", "fails": "v-fails",
                   "not found": "v-not-found"}.get(str(row.get("verdict")), "v-inconclusive")
        if has_truth and row.get("verdict") == "survives" and isinstance(row["truth"], str):
            verdict += " true-discovery" if row["truth"] == row["direction"] else \
                " false-discovery"
        classes.append(verdict)
    return classes


def _landscape_context(result: AuditResult, plots: ReportPlots) -> dict[str, Any]:
    """The landscape section's sentences, tables and figures (empty when not run)."""
    landscape = result.landscape
    if landscape is None:
        return {}
    return {
        "headline": landscape.headline(),
        "paragraphs": landscape.paragraphs(),
        "note": LANDSCAPE_NOTE,
        "optimizers": optimizer_table(landscape),
        "points": status_table(landscape),
        "association": association_table(landscape),
        "basins": basin_table(landscape),
        "plots": plots.landscape,
    }


def _crossfit_tables(result: AuditResult) -> dict[str, Any]:
    """Header and rows of the cross-fit summary and per-attribute tables (empty without)."""
    if result.crossfit.empty:
        return {}
    return {"summary": frame_table(result.crossfit_rates),
            "attributes": frame_table(result.crossfit_agreement)}


def _interval_note(result: AuditResult) -> str:
    """The level of the hypotheses' holdout intervals, in words."""
    stat = result.config.statistics
    if result.table.events is None:
        return f"its {stat.confidence:.0%} bootstrap interval"
    return (f"its {interval_level(stat.alpha):.0%} interval (the one-sided test's at α = "
            f"{stat.alpha:g}: it excludes 0 exactly when p < α)")


def _effect_name(result: AuditResult) -> str:
    """What the hypotheses' holdout effect measures, in words."""
    partial = bool(result.table.covariates)
    if result.table.events is None:
        return "partial Spearman given the covariates" if partial else "Spearman"
    return ("minus the Cox log hazard ratio per SD given the covariates (censored "
            "lifespans)" if partial else "Somers' D of the censored lifespans")

"""Every figure of a report, drawn once and shared by the HTML page (inline) and the
Markdown report (PNG files beside it)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, fields

from embaudit.reports.bootstrap_plots import alignment_quality, axis_forest, stability_heatmap
from embaudit.reports.landscape_plots import LandscapePlots, landscape_plots
from embaudit.reports.plots import (
    Plot,
    ab_panel,
    holdout_forest,
    null_distributions,
    trained_loss,
    training_curves,
    trend_plot,
)
from embaudit.reports.survival_plots import survival_plot
from embaudit.results import AuditResult

#: trend plots drawn at most (the found hypotheses with the smallest holdout q first),
#: so that an audit of hundreds of attributes keeps a page of a few megabytes
MAX_TRENDS = 40


@dataclass(frozen=True)
class ReportPlots:
    """Every figure of the report; ``None`` where the result holds nothing to draw."""

    ab_panel: Plot | None
    trends: list[Plot] = field(default_factory=list)
    n_found: int = 0  # found hypotheses, of which ``trends`` draws at most MAX_TRENDS
    #: Kaplan–Meier curves by attribute group (censored audits only)
    survival: Plot | None = None
    nulls: Plot | None = None
    forest: Plot | None = None
    axis_forest: Plot | None = None
    stability: Plot | None = None
    alignment: Plot | None = None
    curves: Plot | None = None
    landscape: LandscapePlots | None = None

    def named(self) -> list[tuple[str, Plot]]:
        """Every figure with a file name of its own (``trends_03.png``,
        ``landscape_sharpness.png``, …), in the report's order."""
        named: list[tuple[str, Plot]] = []
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, list):
                named += [(f"{item.name}_{i + 1:02d}.png", p) for i, p in enumerate(value)]
            elif isinstance(value, LandscapePlots):
                named += [(f"{item.name}_{f.name}.png", getattr(value, f.name))
                          for f in fields(value) if getattr(value, f.name) is not None]
            elif isinstance(value, Plot):
                named.append((f"{item.name}.png", value))
        return named


def png_bytes(plot: Plot) -> bytes:
    """The PNG behind a plot's data URI."""
    return base64.b64decode(plot.uri.split(",", 1)[1])


def report_plots(result: AuditResult) -> ReportPlots:
    """Draw all figures of ``result``."""
    h = result.hypotheses
    # smallest q first; ties keep the table's order (the lead regime first)
    found = h[h["found"].astype(bool)].sort_values("q_holdout", kind="stable")
    lead = result.lead_regime
    return ReportPlots(
        ab_panel=ab_panel(result.regimes, result.config.statistics.confidence),
        trends=[trend_plot(result, row)
                for row in found.head(MAX_TRENDS).to_dict(orient="records")],
        n_found=len(found),
        survival=survival_plot(result),
        nulls=null_distributions(result),
        forest=holdout_forest(h),
        axis_forest=axis_forest(h, lead),
        stability=stability_heatmap(result.stability, lead),
        alignment=alignment_quality(result.members),
        curves=training_curves(result.curves, result.members, trained_loss(
            result.config.training.loss, result.table.events is not None)),
        landscape=landscape_plots(result.landscape) if result.landscape is not None
        else None,
    )

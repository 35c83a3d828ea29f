"""Every figure of a report, drawn once by :mod:`embaudit.plots` and shared by the HTML
page (inline) and the Markdown report (PNG files beside it)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

from embaudit.plots import FigureData, NoFigureError, draw
from embaudit.plots.curves import LOSS_LABELS, trained_loss
from embaudit.plots.survival import MAX_TICKS, chosen_attributes
from embaudit.reports.plots import Plot, png_uri
from embaudit.results import AuditResult

#: trend plots drawn at most (the found hypotheses with the smallest holdout q first),
#: so that an audit of hundreds of attributes keeps a page of a few megabytes
MAX_TRENDS = 40


@dataclass(frozen=True)
class LandscapePlots:
    """Every landscape figure of the report."""

    sharpness: Plot
    dendrograms: Plot | None
    minima_map: Plot
    paths: Plot | None
    relevance: Plot | None


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


def _plot(data: FigureData, kind: str, title: str, css: str, **options: Any) -> Plot | None:
    """Figure ``kind`` of ``data`` as a report plot; ``None`` where it has nothing to
    draw."""
    try:
        figure = draw(kind, data, **options)
    except NoFigureError:
        return None
    return Plot(title, png_uri(figure), css)


def report_plots(result: AuditResult) -> ReportPlots:
    """Draw all figures of ``result``."""
    data = result.figure_data()
    h = result.hypotheses
    # smallest q first; ties keep the table's order (the lead regime first)
    found = h[h["found"].astype(bool)].sort_values("q_holdout", kind="stable")
    lead = result.lead_regime
    loss = trained_loss(result.config.training.loss, result.table.events is not None)
    trends = [_plot(data, "trend", _trend_title(result, row), "trend",
                    attribute=str(row["attribute"]), regime=str(row["regime"]))
              for row in found.head(MAX_TRENDS).to_dict(orient="records")]
    return ReportPlots(
        ab_panel=_plot(data, "ab_panel", "Mean holdout effect of the readings per regime "
                       "(replicated/read beside it) against chance readings off networks "
                       "fitted to permuted lifespans", "ab"),
        trends=[p for p in trends if p is not None],
        n_found=len(found),
        survival=_plot(data, "survival", _survival_title(result), "survival"),
        nulls=_plot(data, "nulls", f"Permutation null distributions of the {lead} regime",
                    "null"),
        forest=_plot(data, "forest", "Holdout effects with 95% intervals (green: survives, "
                     "red: fails, amber: inconclusive) and discovered strengths (x)",
                     "forest"),
        axis_forest=_plot(data, "axis_forest", "Bootstrap forest plot of r(axis, "
                          f"attribute) and r(axis, lifespan), {lead} regime", "forest"),
        stability=_plot(data, "stability", "Attribute × aligned-axis stability heat map, "
                        f"{lead} regime", "heatmap"),
        alignment=_plot(data, "alignment", "Alignment quality per bootstrap network: "
                        "disparity, PROTEST p, CKA", "alignment"),
        curves=_plot(data, "curves", "Training curves of a few members per regime "
                     f"({LOSS_LABELS[loss][1]})", "curves"),
        landscape=_landscape_plots(data) if result.landscape is not None else None,
    )


def _trend_title(result: AuditResult, row: dict[str, Any]) -> str:
    """A trend plot's alt text: its hypothesis, and whether it is drawn along the axis
    (where the regime's embedding is stored) or against the attribute (raw)."""
    axis = None if pd.isna(row["axis"]) else int(row["axis"])
    embedding = result.embeddings.get(str(row["regime"]))
    along = axis is not None and embedding is not None and axis < embedding.shape[1]
    return (f"Trend plot: {row['attribute']} in regime {row['regime']}, "
            + (f"axis {axis}" if along else "raw"))


def _survival_title(result: AuditResult) -> str:
    chosen, eligible = chosen_attributes(result.hypotheses, result.config.sealed)
    columns = {c.name for c in result.table.attribute_columns}
    n = len([name for name in chosen if name in columns])
    shown = f"the {n} attributes" if n == eligible else f"the first {n} of {eligible} attributes"
    return ("Kaplan–Meier survival: the share of items still in service against lifespan, "
            "by attribute tertile (cut at the discovery rows' thirds) or level; discovery "
            "rows left, holdout rows right; ticks mark censored lifespans (at most "
            f"{MAX_TICKS} per curve). Drawn for {shown} whose holdout numbers the report "
            "shows: surviving hypotheses first, then those found or read off an axis, then "
            "by holdout q.")


def _landscape_plots(data: FigureData) -> LandscapePlots:
    """Every landscape figure of ``data`` (an audit that studied its landscape)."""
    sharpness = _plot(data, "landscape_sharpness", "Canonical sharpness against holdout "
                      "loss per minimum", "landscape")
    minima_map = _plot(data, "landscape_minima_map", "Kernel-PCA map of the aligned "
                       "points, by regime and optimizer and by seed", "landscape")
    assert sharpness is not None and minima_map is not None  # drawn for every study
    return LandscapePlots(
        sharpness=sharpness,
        dendrograms=_plot(data, "landscape_dendrograms", "Disconnectivity graphs: minima "
                          "merge at the height of the lowest path between them",
                          "landscape"),
        minima_map=minima_map,
        paths=_plot(data, "landscape_paths", "Loss along the straight line and along the "
                    "fitted Fourier path", "landscape"),
        relevance=_plot(data, "landscape_relevance", "Input features whose first-layer "
                        "weights the minima conserve", "landscape"),
    )

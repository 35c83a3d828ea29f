"""The report's figures drawn one by one (``embaudit.plots.draw``): each kind on an Axes
of the caller's or a Figure of its own, the errors that name a wrong kind or a figure
without data, and the A-vs-B legend off every interval."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from embaudit.errors import ConfigError
from embaudit.landscape import Landscape
from embaudit.plots import FIGURES, FigureData, NoFigureError, draw
from embaudit.reports.figures import report_plots
from embaudit.reports.plots import png_uri
from embaudit.results import AuditResult
from test_reports import _build

GROUPS = [("overfit", "adam"), ("overfit", "sgd")]


def _landscape(rng: np.random.Generator) -> Landscape:
    """Landscape tables of two groups of three minima each (the columns the figures read)."""
    members, linkage, paths, features = [], [], [], []
    for regime, optimizer in GROUPS:
        group = {"regime": regime, "optimizer": optimizer}
        members += [{**group, "member_id": f"{regime}/{i}@{optimizer}",
                     "kind": "reference" if i == 0 else "replicate", "sample_seed": i,
                     "lambda_max_canonical": float(rng.uniform(1, 100)),
                     "holdout_loss": float(rng.uniform(0.3, 0.8)), "basin": float(i > 1),
                     "train_loss": float(rng.uniform(0.01, 0.05)),
                     "map_1": float(rng.normal()), "map_2": float(rng.normal())}
                    for i in range(3)]
        linkage += [{**group, "step": 0, "left": 0, "right": 1, "height": 0.1, "size": 2},
                    {**group, "step": 1, "left": 3, "right": 2, "height": 0.2, "size": 3}]
        t = np.linspace(0, 1, 11)
        paths += [{**group, "path": name, "t": float(x), "loss": float(x * (1 - x) * h)}
                  for name, h in (("straight", 1.0), ("fourier", 0.3)) for x in t]
        features += [{**group, "minima": "all", "feature": f"f{j}",
                      "relevance": float(rng.uniform()), "agreement": 0.5}
                     for j in range(20)]
    empty = pd.DataFrame()
    return Landscape(members=pd.DataFrame(members), pairs=empty, basins=empty,
                     features=pd.DataFrame(features), paths=pd.DataFrame(paths),
                     linkage=pd.DataFrame(linkage), optimizers=empty, association=empty,
                     map_separation=empty)


@pytest.fixture(scope="module")
def plain() -> AuditResult:
    """The fake audit result of test_reports (uncensored; no alignment, no landscape)."""
    return _build(with_truth=False)


@pytest.fixture(scope="module")
def full(plain: AuditResult) -> AuditResult:
    """The same with every optional part: censored lifespans, the bootstraps' alignment
    and axis stability, and a loss landscape."""
    rng = np.random.default_rng(7)
    table = plain.table
    frame = table.frame.copy()
    time = frame[table.target].to_numpy(dtype=float)
    limit = np.quantile(time, rng.uniform(0.3, 1.0, len(time)))
    frame[table.target] = np.minimum(time, limit)
    frame["failed"] = (time <= limit).astype(int)
    bootstrap = plain.members["kind"] == "bootstrap"
    members = plain.members.assign(
        disparity=np.where(bootstrap, rng.uniform(0, 0.5, len(bootstrap)), np.nan),
        protest_p=np.where(bootstrap, rng.uniform(0, 0.05, len(bootstrap)), np.nan),
        cka=np.where(bootstrap, rng.uniform(0.5, 1, len(bootstrap)), np.nan))
    stability = pd.DataFrame([
        {"regime": plain.lead_regime, "attribute": c.name, "axis": axis,
         "share": float(rng.uniform())}
        for c in table.attribute_columns for axis in range(6)])
    return dataclasses.replace(
        plain, table=dataclasses.replace(table, frame=frame, event="failed"),
        members=members, stability=stability, landscape=_landscape(rng))


def _drawn_on(ax: Axes) -> bool:
    return bool(ax.lines or ax.collections or ax.patches or ax.images or ax.texts)


@pytest.mark.parametrize("kind", list(FIGURES))
def test_every_kind_draws_on_the_callers_axes(full: AuditResult, kind: str) -> None:
    figure = Figure(figsize=(5, 4))
    ax = figure.add_subplot()
    assert draw(kind, full.figure_data(), ax=ax) is ax
    assert _drawn_on(ax), kind
    assert all(other is ax or other.get_label() == "<colorbar>" for other in figure.axes)
    FigureCanvasAgg(figure).draw()  # renders without error


@pytest.mark.parametrize("kind", list(FIGURES))
def test_without_axes_every_kind_draws_the_reports_figure(full: AuditResult,
                                                          kind: str) -> None:
    figure = draw(kind, full.figure_data())
    assert isinstance(figure, Figure) and figure.axes
    assert any(_drawn_on(ax) for ax in figure.axes)


def test_the_report_draws_its_figures_through_draw(full: AuditResult) -> None:
    plots = report_plots(full)
    data = full.figure_data()
    assert plots.forest is not None and plots.survival is not None
    assert plots.forest.uri == png_uri(draw("forest", data))
    assert plots.survival.uri == png_uri(draw("survival", data))
    assert plots.landscape is not None and plots.landscape.paths is not None
    names = {name.removesuffix(".png") for name, _ in plots.named()}
    assert {kind for kind in FIGURES if kind != "trend"} <= names


def test_options_pick_one_panel_of_a_multi_panel_figure(full: AuditResult) -> None:
    data = full.figure_data()
    forest = draw("forest", data)
    assert len(forest.axes) == full.hypotheses["regime"].nunique()
    ax = Figure().add_subplot()
    draw("forest", data, ax=ax, regime="raw")
    assert ax.get_title() == "raw"
    draw("landscape_paths", data, ax=Figure().add_subplot(), optimizer="sgd")
    single = draw("survival", data, attribute="size", part="discovery")
    assert len(single.axes) == 1 and "discovery rows" in single.axes[0].get_title()


def test_an_unknown_kind_names_the_kinds(full: AuditResult) -> None:
    data = full.figure_data()
    with pytest.raises(ConfigError, match=r"Unknown figure kind 'null' \(did you mean "
                                          r"'nulls'\?\); the kinds are: ab_panel, trend"):
        draw("null", data)
    with pytest.raises(ConfigError, match="takes no option 'colour'; its options: regime"):
        draw("forest", data, colour="red")
    with pytest.raises(ConfigError, match="No regime 'deep' to draw here; choose among"):
        draw("forest", data, ax=Figure().add_subplot(), regime="deep")


def test_a_figure_without_its_data_says_why(plain: AuditResult) -> None:
    data = plain.figure_data()
    with pytest.raises(NoFigureError, match="no event column"):
        draw("survival", data)
    with pytest.raises(NoFigureError, match="did not study the loss landscape"):
        draw("landscape_sharpness", data, ax=Figure().add_subplot())
    with pytest.raises(NoFigureError, match="no bootstrap network was aligned"):
        draw("alignment", data)
    assert issubclass(NoFigureError, ConfigError)


def test_a_sealed_audit_draws_no_trend_of_an_untested_hypothesis(
        plain: AuditResult) -> None:
    data = plain.figure_data()
    h = plain.hypotheses
    untested = h[(h["regime"] == plain.lead_regime) & ~h["found"].astype(bool)
                 & ~h["read"].fillna(False).astype(bool)]
    assert data.sealed and not untested.empty
    attribute = str(untested["attribute"].iloc[0])
    with pytest.raises(ConfigError, match="the audit is sealed"):
        draw("trend", data, attribute=attribute)
    unsealed = dataclasses.replace(data, sealed=False)
    assert isinstance(draw("trend", unsealed, attribute=attribute), Figure)


def _extent(artist: Artist, renderer: RendererBase) -> Bbox:
    """Where ``artist`` is drawn, in display units (a line collection's from its paths:
    its own extent is empty)."""
    if isinstance(artist, LineCollection):
        points = np.vstack([artist.get_transform().transform(path.vertices)
                            for path in artist.get_paths()])
        return Bbox([points.min(axis=0), points.max(axis=0)])
    return artist.get_window_extent(renderer)


def _overlaps(legend: Bbox, artists: list[Artist], renderer: RendererBase) -> list[Artist]:
    """The artists whose drawn extent overlaps ``legend``."""
    return [a for a in artists if a.get_visible() and _extent(a, renderer).overlaps(legend)]


@pytest.mark.parametrize("raw_read", [False, True])
def test_the_ab_legend_covers_no_interval(plain: AuditResult, raw_read: bool) -> None:
    regimes = plain.regimes.copy()
    if raw_read:  # every regime read, the last one's interval reaching the top right
        last = regimes.index[-1]
        regimes.loc[last, ["reading_networks", "read_effect", "read_effect_low",
                           "read_effect_high", "null_effect"]] = [4, 0.3, 0.1, 0.5, 0.0]
    data = dataclasses.replace(plain.figure_data(), regimes=regimes)
    for ax in (None, Figure(figsize=(6, 3)).add_subplot()):
        drawn = draw("ab_panel", data, ax=ax)
        figure = drawn if isinstance(drawn, Figure) else drawn.figure
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        renderer = canvas.get_renderer()
        axes = figure.axes[0]
        legend = axes.get_legend().get_window_extent(renderer)
        bars = [a for c in axes.containers if isinstance(c, ErrorbarContainer)
                for a in c.get_children()]
        assert len(bars) >= 2 * (len(regimes) - (not raw_read))
        assert not _overlaps(legend, [*bars, *axes.lines], renderer)
        if ax is None:  # the report's own figure leaves room for it
            assert figure.bbox.x0 <= legend.x0 and legend.x1 <= figure.bbox.x1


def test_the_figures_import_no_pyplot() -> None:
    code = ("import sys, embaudit.plots, embaudit.reports.figures; "
            "assert 'matplotlib.pyplot' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_figure_data_defaults_are_an_audit_without_those_parts(plain: AuditResult) -> None:
    data = FigureData(plain.hypotheses, plain.regimes, plain.lead_regime, plain.table,
                      plain.split)
    with pytest.raises(NoFigureError, match="no network was retrained"):
        draw("nulls", data)
    with pytest.raises(NoFigureError, match="no loss per epoch"):
        draw("curves", data, ax=Figure().add_subplot())
    assert isinstance(draw("trend", data), Figure)  # along the raw attribute

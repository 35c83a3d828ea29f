"""Report figures of censored audits: Kaplan–Meier curves by attribute group, censored
rows marked in the trend plots, and the training curves labelled with the loss used."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from embaudit.config import AuditConfig
from embaudit.plots import NoFigureError
from embaudit.plots.curves import LOSS_LABELS, trained_loss, training_curves
from embaudit.plots.survival import (
    MAX_SURVIVAL,
    attribute_groups,
    chosen_attributes,
    kaplan_meier,
    survival_at,
    survival_plot,
)
from embaudit.plots.trends import trend_plot
from embaudit.reports.figures import report_plots
from embaudit.reports.html import render_html
from embaudit.results import AuditResult
from test_reports import _build


@pytest.fixture(scope="module")
def plain() -> AuditResult:
    """A fake audit result of uncensored lifespans (no networks trained)."""
    return _build(with_truth=False)


@pytest.fixture(scope="module")
def censored(plain: AuditResult) -> AuditResult:
    """The same rows with random censoring times: about a third of lifespans censored."""
    table = plain.table
    frame = table.frame.copy()
    time = frame[table.target].to_numpy(dtype=float)
    limit = np.quantile(time, np.random.default_rng(1).uniform(0.3, 1.0, len(time)))
    failed = time <= limit
    frame[table.target] = np.where(failed, time, limit)
    frame["failed"] = failed.astype(int)
    return dataclasses.replace(plain, table=dataclasses.replace(table, frame=frame,
                                                                event="failed"))


def test_kaplan_meier_gives_the_textbook_values() -> None:
    # times 1, 2+, 3, 3, 3+, 5, 6+ (+ = censored); failures at 1, 3 (twice), 5
    time = np.array([1, 2, 3, 3, 3, 5, 6])
    event = np.array([1, 0, 1, 1, 0, 1, 0])
    times, survival = kaplan_meier(time, event)
    # at 1: 7 at risk, 1 fails; at 3: 5 at risk (the censored 3 too), 2 fail; at 5: 1 of 2
    expected = [6 / 7, 6 / 7 * 3 / 5, 6 / 7 * 3 / 5 * 1 / 2]
    np.testing.assert_allclose(times, [1, 3, 5])
    np.testing.assert_allclose(survival, expected)
    np.testing.assert_allclose(survival_at(times, survival, [0.5, 1, 2, 4, 7]),
                               [1, expected[0], expected[0], expected[1], expected[2]])


def test_kaplan_meier_of_no_failure_is_empty() -> None:
    times, survival = kaplan_meier(np.array([1.0, 2.0]), np.array([0, 0]))
    assert times.size == survival.size == 0
    assert survival_at(times, survival, [0.5, 3]).tolist() == [1.0, 1.0]


def test_numeric_attributes_split_at_the_discovery_rows_thirds(censored) -> None:
    table, discovery = censored.table, censored.split.discovery
    size = next(c for c in table.attribute_columns if c.name == "size")
    groups, labels = attribute_groups(table, size, discovery)
    assert [label.split(" ")[0] for label in labels] == ["low", "middle", "high"]
    shares = np.bincount(groups[discovery], minlength=3) / len(discovery)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.02)
    colour = next(c for c in table.attribute_columns if c.name == "colour=red")
    groups, labels = attribute_groups(table, colour, discovery)
    assert labels == ["other levels", "red"]
    np.testing.assert_array_equal(groups, colour.values.astype(int))


def test_the_survival_figure_is_drawn_for_censored_audits_only(
        censored: AuditResult, plain: AuditResult) -> None:
    chosen, eligible = chosen_attributes(censored.hypotheses, censored.config.sealed)
    with pytest.raises(NoFigureError, match="no event column"):
        survival_plot(plain.table, plain.split, chosen)
    figure = survival_plot(censored.table, censored.split, chosen)
    assert len(figure.axes) == 2 * len(chosen)
    plot = report_plots(censored).survival
    assert plot is not None and plot.kind == "survival"
    assert plot.uri.startswith("data:image/png;base64,")
    assert report_plots(plain).survival is None
    assert len(chosen) == min(MAX_SURVIVAL, eligible)
    h = censored.hypotheses
    surviving = set(h.loc[h["verdict"] == "survives", "attribute"])
    first = list(chosen)[:min(len(surviving), len(chosen))]
    assert set(first) <= surviving  # surviving hypotheses' attributes come first
    assert (f"the first {len(chosen)} of {eligible} attributes" if eligible > len(chosen)
            else f"the {eligible} attributes") in plot.title
    html = render_html(censored)
    assert "Survival by attribute group" in html and 'class="plot survival"' in html
    assert "Survival by attribute group" not in render_html(plain)


def test_a_sealed_report_draws_no_curves_of_untested_attributes(
        censored: AuditResult) -> None:
    h = censored.hypotheses.assign(found=False, read=pd.array([pd.NA] * len(
        censored.hypotheses), dtype="boolean"), verdict="not found")
    untested = dataclasses.replace(censored, hypotheses=h)
    assert untested.config.sealed and chosen_attributes(h, sealed=True) == ({}, 0)
    with pytest.raises(NoFigureError, match="sealed"):
        survival_plot(untested.table, untested.split, {})
    assert report_plots(untested).survival is None
    unsealed = dataclasses.replace(untested, config=AuditConfig(sealed=False))
    assert len(chosen_attributes(h, unsealed.config.sealed)[0]) == MAX_SURVIVAL
    assert report_plots(unsealed).survival is not None


def _trend_figure(result: AuditResult) -> Figure:
    """The figure behind the first found hypothesis's trend plot."""
    h = result.hypotheses
    row = h[h["found"].astype(bool)].iloc[0].to_dict()
    ax = trend_plot(result.table, result.split, row, result.embeddings.get(row["regime"]))
    assert isinstance(ax.figure, Figure)
    return ax.figure


def test_trend_plots_draw_censored_rows_open_and_failed_rows_filled(
        censored: AuditResult, plain: AuditResult) -> None:
    figure = _trend_figure(censored)
    ax = figure.axes[0]
    dots = {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}
    failed, open_ = dots["failed"], dots["censored (still in service)"]
    events = censored.table.events
    assert len(failed.get_offsets()) == int((events > 0).sum())
    assert len(open_.get_offsets()) == int((events == 0).sum())
    assert failed.get_facecolor()[0][3] > 0  # filled
    assert open_.get_facecolor().size == 0 or open_.get_facecolor()[0][3] == 0  # open
    assert open_.get_edgecolor()[0][3] > 0
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert {"failed", "censored (still in service)"} <= set(legend)
    plain_ax = _trend_figure(plain).axes[0]
    assert not [c for c in plain_ax.collections if isinstance(c, PathCollection)]


@pytest.mark.parametrize(("loss", "censored_rows", "key"), [
    ("auto", False, "mse"), ("auto", True, "aft"), ("aft", True, "aft"),
    ("aft", False, "mse"), ("mse", True, "mse_censored"), ("cox", True, "cox"),
    ("cox", False, "cox")])
def test_the_loss_used_is_resolved_from_the_config(loss: str, censored_rows: bool,
                                                   key: str) -> None:
    assert trained_loss(loss, censored_rows) == key


def test_the_training_curve_axis_names_the_loss(censored: AuditResult) -> None:
    for key in ("cox", "aft", "mse"):
        figure = training_curves(censored.curves, censored.members, key)
        assert {ax.get_ylabel() for ax in figure.axes} == {LOSS_LABELS[key][0]}
    plot = report_plots(censored).curves  # auto with an event column: AFT
    assert plot is not None and LOSS_LABELS["aft"][1] in plot.title
    assert LOSS_LABELS["cox"][0] == "Cox loss per failure" and LOSS_LABELS["mse"][0] == "MSE"

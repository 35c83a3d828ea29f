"""Every figure of an audit's report, drawn on a matplotlib Axes of the caller's or on a
new Figure: ``draw(kind, data, ax=None, **options)`` with ``kind`` one of
:data:`FIGURES` and ``data`` the pieces of a result (:class:`FigureData`).

Without ``ax`` a kind draws the report's figure (one or several panels) on a new
:class:`matplotlib.figure.Figure` and returns it. With ``ax`` it draws one panel on that
Axes and returns it; a multi-panel figure's options pick the panel (``regime=``,
``attribute=``, …; each has a default). A kind whose data this audit lacks raises
:class:`NoFigureError` saying why; an unknown kind or option raises
:class:`~embaudit.errors.ConfigError`.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase

from embaudit.core.members import Split
from embaudit.data.table import Table
from embaudit.errors import ConfigError
from embaudit.landscape import Landscape
from embaudit.plots import bootstrap, curves, landscape, survival, trends
from embaudit.plots.common import NoFigureError

__all__ = ["FIGURES", "FigureData", "NoFigureError", "draw"]

Drawn = Axes | FigureBase


@dataclass(frozen=True, eq=False)
class FigureData:
    """The pieces of an audit result the figures draw (``AuditResult.plot`` fills it in;
    the defaults are an audit without that part)."""

    hypotheses: pd.DataFrame
    regimes: pd.DataFrame
    lead_regime: str
    table: Table
    split: Split
    embeddings: Mapping[str, np.ndarray] = field(default_factory=dict)
    null_strengths: pd.DataFrame = field(default_factory=pd.DataFrame)
    members: pd.DataFrame = field(default_factory=pd.DataFrame)
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    stability: pd.DataFrame = field(default_factory=pd.DataFrame)
    landscape: Landscape | None = None
    #: level of the readings' intervals (``statistics.confidence``)
    confidence: float = 0.95
    #: ``training.loss`` as configured (``auto`` resolved here)
    training_loss: str = "auto"
    #: whether the reports are sealed (survival curves only of tested hypotheses)
    sealed: bool = False


@dataclass(frozen=True)
class _Kind:
    description: str
    draw: Callable[..., Drawn]


_KINDS: dict[str, _Kind] = {}


def _kind(name: str, description: str) -> Callable[[Callable[..., Drawn]], Callable[..., Drawn]]:
    def register(function: Callable[..., Drawn]) -> Callable[..., Drawn]:
        _KINDS[name] = _Kind(description, function)
        return function
    return register


def draw(kind: str, data: FigureData, ax: Axes | None = None, **options: Any) -> Axes | Figure:
    """Draw figure ``kind`` (a key of :data:`FIGURES`) of ``data``: on ``ax``, returned,
    or without it on a new Figure, returned (the report's figure)."""
    if kind not in _KINDS:
        close = difflib.get_close_matches(kind, _KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"Unknown figure kind {kind!r}{hint}; the kinds are: "
                          f"{', '.join(_KINDS)}.")
    function = _KINDS[kind].draw
    accepted = list(inspect.signature(function).parameters)[2:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"Figure {kind!r} takes no option {unknown[0]!r}; its options: "
                          f"{', '.join(accepted) or 'none'}.")
    drawn = function(data, ax, **options)
    if ax is not None:
        return ax
    figure = drawn.figure if isinstance(drawn, Axes) else drawn
    assert isinstance(figure, Figure)  # made here, never a caller's SubFigure
    return figure


def _choose(what: str, value: Any, valid: Sequence[Any], note: str = "") -> Any:
    """``value`` if among ``valid`` (default: the first), else a ConfigError listing them
    (and ``note``, why some are missing)."""
    if not valid:
        raise NoFigureError(f"No {what} of this audit has this figure to draw{note}.")
    if value is None:
        return valid[0]
    if value not in valid:
        raise ConfigError(f"No {what} {value!r} to draw here; choose among "
                          f"{', '.join(map(str, valid))}{note}.")
    return value


_SEALED = (" (the audit is sealed: holdout rows are drawn only for hypotheses it found "
           "or read)")


def _shown(hypotheses: pd.DataFrame, sealed: bool) -> pd.DataFrame:
    """The hypotheses whose holdout rows a figure may show: all, or where the audit is
    sealed only those it found or read (as in the reports)."""
    if not sealed:
        return hypotheses
    tested = (hypotheses["found"].fillna(False).astype(bool)
              | hypotheses["read"].fillna(False).astype(bool))
    return hypotheses[tested.to_numpy()]


def _regimes(frame: pd.DataFrame, data: FigureData) -> list[str]:
    """The regimes of ``frame``, the lead regime first."""
    regimes = [str(r) for r in dict.fromkeys(frame["regime"])] if "regime" in frame else []
    return sorted(regimes, key=lambda r: r != data.lead_regime)


@_kind("ab_panel", "Person A vs Person B: per regime, the readings' mean holdout effect "
       "with its interval against chance readings")
def _ab(data: FigureData, ax: Axes | None) -> Drawn:
    return trends.ab_panel(data.regimes, data.confidence, ax)


@_kind("trend", "one hypothesis's trend along its axis (or attribute), discovery rows "
       "solid, holdout dashed (attribute=, default: the regime's first found by holdout "
       "q; regime=, default: the lead)")
def _trend(data: FigureData, ax: Axes | None, attribute: str | None = None,
           regime: str | None = None) -> Drawn:
    h = _shown(data.hypotheses, data.sealed)
    regime = _choose("regime", regime, _regimes(data.hypotheses, data))
    part = h[h["regime"] == regime]
    if attribute is None:
        found = part[part["found"].astype(bool)].sort_values("q_holdout", kind="stable")
        if found.empty:
            raise NoFigureError(f"No trend to draw by default: the {regime!r} regime found "
                                "no hypothesis; name one with attribute=.")
        attribute = str(found["attribute"].iloc[0])
    attribute = _choose("attribute", attribute, [str(a) for a in part["attribute"]],
                        _SEALED if data.sealed else "")
    row = part[part["attribute"].astype(str) == attribute].iloc[0].to_dict()
    return trends.trend_plot(data.table, data.split, row, data.embeddings.get(regime), ax)


@_kind("nulls", "per hypothesis of a regime, its strengths on networks retrained on "
       "permuted lifespans and the observed one (regime=; attribute= for one panel)")
def _nulls(data: FigureData, ax: Axes | None, regime: str | None = None,
           attribute: str | None = None) -> Drawn:
    regime = _choose("regime", regime, _regimes(data.hypotheses, data))
    if ax is None and attribute is None:
        return trends.null_distributions(data.hypotheses, data.null_strengths, regime)
    h = data.hypotheses
    part = h[h["regime"] == regime]
    if part.empty or data.null_strengths.empty:
        raise NoFigureError(f"No null distribution in the {regime!r} regime: no network "
                            "was retrained on permuted lifespans.")
    attribute = _choose("attribute", attribute, [str(a) for a in part["attribute"]])
    row = part[part["attribute"].astype(str) == attribute].iloc[0].to_dict()
    strengths = trends.null_strengths_of(data.null_strengths, regime).get(attribute)
    return trends.null_panel(row, np.zeros(0) if strengths is None else strengths, ax)


@_kind("forest", "holdout effect with its interval per hypothesis beside its discovered "
       "strength, one panel per regime (regime= for one panel)")
def _forest(data: FigureData, ax: Axes | None, regime: str | None = None) -> Drawn:
    if ax is None and regime is None:
        return trends.holdout_forest(data.hypotheses)
    regime = _choose("regime", regime, _regimes(data.hypotheses, data))
    return trends.forest_panel(data.hypotheses[data.hypotheses["regime"] == regime], ax)


@_kind("axis_forest", "found trends of a regime: r(axis, attribute) and r(axis, "
       "lifespan) with their intervals across bootstrap networks (regime=; correlation= "
       "'attribute' or 'lifespan' for one panel)")
def _axis_forest(data: FigureData, ax: Axes | None, regime: str | None = None,
                 correlation: str | None = None) -> Drawn:
    regime = regime or data.lead_regime
    if ax is None and correlation is None:
        return bootstrap.axis_forest(data.hypotheses, regime)
    correlation = _choose("correlation", correlation, list(bootstrap.AXIS_CORRELATIONS))
    return bootstrap.axis_forest_panel(bootstrap.axis_forest_rows(data.hypotheses, regime),
                                       correlation, ax)


@_kind("stability", "attribute × aligned axis: the share of bootstrap networks whose best "
       "axis for the attribute it is (regime=)")
def _stability(data: FigureData, ax: Axes | None, regime: str | None = None) -> Drawn:
    return bootstrap.stability_heatmap(data.stability, regime or data.lead_regime, ax)


@_kind("alignment", "each bootstrap network's alignment to its reference: disparity, "
       "PROTEST p, linear CKA (measure= for one panel)")
def _alignment(data: FigureData, ax: Axes | None, measure: str | None = None) -> Drawn:
    if ax is None and measure is None:
        return bootstrap.alignment_quality(data.members)
    measure = _choose("measure", measure, list(bootstrap.QUALITY))
    return bootstrap.alignment_panel(bootstrap.aligned_members(data.members), measure, ax)


@_kind("curves", "training and validation loss per epoch of a few members per regime "
       "(regime= for one panel)")
def _curves(data: FigureData, ax: Axes | None, regime: str | None = None) -> Drawn:
    loss = curves.trained_loss(data.training_loss, data.table.events is not None)
    if ax is None and regime is None:
        return curves.training_curves(data.curves, data.members, loss)
    drawn = curves.drawn_curves(data.curves, data.members)
    if drawn.empty:
        raise NoFigureError("No training curves: the audit recorded no loss per epoch of "
                            "its members.")
    regime = _choose("regime", regime, _regimes(drawn, data))
    return curves.curves_panel(drawn, regime, loss, ax)


@_kind("survival", "Kaplan–Meier curves of censored lifespans by attribute group, "
       "discovery and holdout rows (censored audits; attribute= and part= 'discovery' or "
       "'holdout' for one panel)")
def _survival(data: FigureData, ax: Axes | None, attribute: str | None = None,
              part: str | None = None) -> Drawn:
    chosen, _ = survival.chosen_attributes(data.hypotheses, data.sealed)
    if ax is None and attribute is None and part is None:
        return survival.survival_plot(data.table, data.split, chosen)
    if data.table.events is None:
        raise NoFigureError(survival.UNCENSORED)
    columns = {c.name for c in data.table.attribute_columns}
    shown = _shown(data.hypotheses, data.sealed)["attribute"].astype(str)
    attribute = _choose("attribute", attribute,
                        [a for a in dict.fromkeys([*chosen, *shown]) if a in columns],
                        _SEALED if data.sealed else "")
    part = _choose("part", part, ["holdout", "discovery"])
    return survival.survival_panel(data.table, data.split, attribute,
                                   chosen.get(attribute, ""), part, ax)


def _landscape(data: FigureData) -> Landscape:
    if data.landscape is None:
        raise NoFigureError("No landscape figures: the audit did not study the loss "
                            "landscape (landscape.enabled).")
    return data.landscape


def _group(frame: pd.DataFrame, regime: str | None,
           optimizer: str | None) -> landscape.Group:
    """The first (regime, optimizer) group of ``frame`` that matches those given."""
    groups = landscape.groups_of(frame)
    matching = [g for g in groups if regime in (None, g[0]) and optimizer in (None, g[1])]
    if not matching:
        raise ConfigError(f"No landscape group of regime {regime!r} and optimizer "
                          f"{optimizer!r}; the groups are "
                          f"{', '.join(f'{r}/{o}' for r, o in groups) or 'none'}.")
    return matching[0]


@_kind("landscape_sharpness", "canonical sharpness against holdout loss, one point per "
       "minimum (landscape audits)")
def _sharpness(data: FigureData, ax: Axes | None) -> Drawn:
    return landscape.sharpness_plot(_landscape(data).members, ax)


@_kind("landscape_dendrograms", "disconnectivity graph of each group's minima "
       "(landscape audits; regime= and optimizer= for one panel)")
def _dendrograms(data: FigureData, ax: Axes | None, regime: str | None = None,
                 optimizer: str | None = None) -> Drawn:
    study = _landscape(data)
    if ax is None and regime is None and optimizer is None:
        return landscape.dendrogram_plot(study.linkage, study.members)
    if study.linkage.empty:
        raise NoFigureError("No disconnectivity graph: no group has minima joined by "
                            "measured paths.")
    return landscape.dendrogram_panel(study.linkage, study.members,
                                      _group(study.linkage, regime, optimizer), ax)


@_kind("landscape_minima_map", "kernel-PCA map of the minima, by group and by seed "
       "(landscape audits; colour_by= 'group' or 'seed' for one panel)")
def _minima_map(data: FigureData, ax: Axes | None, colour_by: str | None = None) -> Drawn:
    members = _landscape(data).members
    if ax is None and colour_by is None:
        return landscape.minima_map(members)
    colour_by = _choose("colour_by", colour_by, list(landscape.MAP_COLOURINGS))
    return landscape.minima_panel(members, colour_by, ax)


@_kind("landscape_paths", "loss along the straight line and the Fourier path of one pair "
       "per group (landscape audits; regime= and optimizer= for one panel)")
def _paths(data: FigureData, ax: Axes | None, regime: str | None = None,
           optimizer: str | None = None) -> Drawn:
    paths = _landscape(data).paths
    if ax is None and regime is None and optimizer is None:
        return landscape.path_plot(paths)
    if paths.empty:
        raise NoFigureError("No loss path: no pair of minima was joined by a path.")
    return landscape.path_panel(paths, _group(paths, regime, optimizer), ax)


@_kind("landscape_relevance", "input features each group's minima conserve (landscape "
       "audits; regime= and optimizer= for one panel)")
def _relevance(data: FigureData, ax: Axes | None, regime: str | None = None,
               optimizer: str | None = None) -> Drawn:
    features = _landscape(data).features
    if ax is None and regime is None and optimizer is None:
        return landscape.relevance_plot(features)
    sets = landscape.conserved_features(features)
    return landscape.relevance_panel(sets, _group(sets, regime, optimizer), ax)


#: every figure kind ``draw`` takes, with what it shows (and its options)
FIGURES: dict[str, str] = {name: kind.description for name, kind in _KINDS.items()}

"""The report's tables as the HTML and Markdown reports show them: headers a reader can
read (:mod:`embaudit.reports.labels`), estimates with their interval in one cell, and
words saying why wherever a number is missing (never a dash), so both formats show
the same cells. Also the reproducibility manifest in the form a reader scans."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from embaudit.core.regimes import REGIMES
from embaudit.hypotheses.censored import interval_level
from embaudit.reports.json_report import (
    HYPOTHESIS_DISPLAY,
    REGIME_DISPLAY,
    format_cell,
    hypotheses_view,
    jsonable,
    manifest,
    member_summary,
)
from embaudit.reports.labels import Header, header, interval_header, label
from embaudit.results import AuditResult
from embaudit.store.compute import COMPUTE_KEYS

#: what ``format_cell`` writes for a missing value: the tables say why instead
MISSING = "–"
#: a missing value's reason, from its key and its row
Why = Callable[[str, dict[str, Any]], str]


class Reason(str):
    """A cell that says why its number is missing: the HTML report sets it apart (and
    lets it wrap); everywhere else it is the text it holds."""

    __slots__ = ()
    #: what the template asks a cell to tell a reason from a value
    why = True


@dataclass(frozen=True)
class Interval:
    """A column that shows an estimate with its interval: ``key [low, high]``."""

    key: str
    low: str
    high: str
    interval: str  # e.g. "95% CI", in the header


Column = str | Interval


@dataclass(frozen=True)
class Table:
    """Header, rows of cells, and each column's CSS classes ("extra": behind the "All
    columns" toggle; "words": prose that wraps; "verdict"). ``regimes``: each row's
    regime, for the hypotheses table's filter."""

    header: list[Header]
    rows: list[list[str]]
    classes: list[str]
    regimes: list[str] | None = None


def is_number(value: Any) -> bool:
    """A finite number (not a flag): what a table cell formats as digits."""
    value = jsonable(value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def build_table(records: Iterable[dict[str, Any]], columns: Sequence[Column], why: Why,
                extra: Iterable[str] = (), words: Iterable[str] = ()) -> Table:
    """A table of ``columns`` over ``records``; a missing value's cell is ``why``'s
    reason. Columns named in ``extra`` go behind the toggle; in ``words``, they wrap."""
    extra, words = set(extra), set(words)
    keys = [c.key if isinstance(c, Interval) else c for c in columns]
    headers = [interval_header(c.key, c.low, c.high, c.interval) if isinstance(c, Interval)
               else header(c) for c in columns]
    rows = [[_interval_cell(row, c, why) if isinstance(c, Interval) else cell(row, c, why)
             for c in columns] for row in records]
    classes = [" ".join(name for name, on in (("extra", k in extra), ("words", k in words),
                                               ("verdict", k == "verdict")) if on)
               for k in keys]
    return Table(headers, rows, classes)


def cell(row: dict[str, Any], key: str, why: Why) -> str:
    """``row[key]`` as text, or why it is missing."""
    text = format_cell(row.get(key), key)
    return Reason(why(key, row)) if text == MISSING else text


def _interval_cell(row: dict[str, Any], column: Interval, why: Why) -> str:
    value = cell(row, column.key, why)
    if not is_number(row.get(column.key)):
        return value  # its reason, or a word such as "sealed"
    low, high = row.get(column.low), row.get(column.high)
    if not (is_number(low) and is_number(high)):
        return f"{value} (no interval)"
    return f"{value} [{format_cell(low, column.key)}, {format_cell(high, column.key)}]"


def not_computed(key: str, row: dict[str, Any]) -> str:
    """The reason of last resort."""
    return "not computed"


# ------------------------------------------------------------------------- hypotheses
#: what a reader needs first: the claim, whether it was found, the holdout, the verdict
COMPACT = ("attribute", "regime", "axis", "direction", "read", "found", "effect_holdout",
           "q_holdout", "verdict", "replicates", "axis_generalizes", "explained_by", "truth")
#: hypothesis columns that exist only where an embedding was read (not raw screening)
_EMBEDDING = frozenset({"axis", "r_axis_attribute", "r_axis_lifespan", "p_carried", "read",
                        "selection_frequency", "p_embedding", "axis_generalizes",
                        "q_reading", "replicates"})
_READING = frozenset({"p_embedding", "axis_generalizes", "q_reading", "replicates"})
_HOLDOUT_TEST = frozenset({"effect_holdout", "ci_low", "ci_high", "p_holdout"})


def effect_interval(result: AuditResult) -> str:
    """The level of the hypotheses' holdout intervals, as a header gives it."""
    stat = result.config.statistics
    level = stat.confidence if result.table.events is None else interval_level(stat.alpha)
    return f"{level:.0%} CI"


def hypothesis_table(result: AuditResult) -> Table:
    """The compact columns first (the holdout effect with its interval in one cell),
    then every other column of the display, marked extra (the Markdown report shows
    them all)."""
    view = hypotheses_view(result)
    effect = Interval("effect_holdout", "ci_low", "ci_high", effect_interval(result))
    compact = [effect if c == "effect_holdout" else c for c in COMPACT
               if c in view.columns]
    rest = [c for c in HYPOTHESIS_DISPLAY if c in view.columns and c not in COMPACT
            and c not in ("ci_low", "ci_high")]
    censored = result.table.events is not None

    def why(key: str, row: dict[str, Any]) -> str:
        return _hypothesis_why(key, row, censored)

    table = build_table(view.to_dict(orient="records"), [*compact, *rest], why, extra=rest,
                        words=("holdout_note",))
    return Table(table.header, table.rows, table.classes, [str(r) for r in view["regime"]])


def _hypothesis_why(key: str, row: dict[str, Any], censored: bool) -> str:
    """Why a hypothesis has no value in column ``key``."""
    regime = REGIMES.get(str(row.get("regime")))
    if key in _EMBEDDING and regime is not None and not regime.has_embedding:
        return "no axis"
    if key in _HOLDOUT_TEST:
        note = jsonable(row.get("holdout_note"))
        return f"not tested: {note}" if isinstance(note, str) and note else "not tested"
    if key == "q_holdout":
        return "not tested" if jsonable(row.get("found")) else "not found"
    if key in _READING and jsonable(row.get("read")) is False:
        return "not read"
    if key == "events_required" and not censored:
        return "uncensored"
    if key in ("n_required", "events_required"):
        verdict = str(row.get("verdict"))
        return {"survives": "decided", "fails": "decided",
                "not found": "not found"}.get(verdict, "not estimated")
    if key in ("holdout_note", "explained_by"):
        return ""  # no note; no other survivor explains it
    return not_computed(key, row)


# ------------------------------------------------------------------------ regime panel
#: the regime panel's columns that belong to the readings of an embedding
_READINGS = frozenset({"read_effect", "null_effect", "advantage", "p_advantage",
                       "axes_generalized", "effect_vs_lead", "axes_vs_lead"})


#: the regime panel in two tables that each fit a page: the readings against chance
#: readings (what decides the position), then the screen, the direct screen and the
#: reference networks; together every column of ``REGIME_DISPLAY``
READINGS_PANEL = ("regime", "position", "n_read", "n_read_replicated", "n_axes_generalized",
                  "read_effect", "null_effect", "advantage", "p_advantage",
                  "axes_generalized", "comparable")
PROCEDURES_PANEL = ("regime", "n_found", "n_survives", "n_distinct", "n_direct_leads",
                    "n_only_axis", "n_axis_lost", "holdout_loss", "no_better_than_linear",
                    "effect_vs_lead", "axes_vs_lead")


#: the two tables' headings
REGIME_TITLES = ("Readings and their chance baseline",
                 "Screen, direct leads and reference networks")


def regime_tables(result: AuditResult) -> tuple[Table, Table]:
    """The regime panel (Person A vs B) as :data:`READINGS_PANEL` (the advantage with its
    interval in one cell) and :data:`PROCEDURES_PANEL`."""
    stat = result.config.statistics
    advantage = Interval("advantage", "advantage_low", "advantage_high",
                         f"{1 - 2 * stat.position_alpha:.0%} CI")
    records = result.regimes.to_dict(orient="records")
    present = set(result.regimes.columns)
    lead = result.lead_regime

    def why(key: str, row: dict[str, Any]) -> str:
        return _regime_why(key, row, lead)

    def table(columns: Sequence[str]) -> Table:
        return build_table(records, [advantage if c == "advantage" else c for c in columns
                                     if c in present], why)

    return table(READINGS_PANEL), table(PROCEDURES_PANEL)


def reading_gap(row: dict[str, Any]) -> str | None:
    """Why a regime's readings give no advantage to test (None when nothing is
    missing): no readings at all, none off the permutation networks, or too few
    networks to tell how networks vary."""
    reading, null = (int(jsonable(row.get(k)) or 0) for k in ("reading_networks",
                                                              "null_networks"))
    if reading == 0:
        return "no readings"
    if null == 0:
        return "no chance readings"
    if reading < 2 or null < 2:
        return "too few networks"
    return None


def _regime_why(key: str, row: dict[str, Any], lead: str) -> str:
    """Why a regime has no value in column ``key``."""
    regime = REGIMES.get(str(row.get("regime")))
    embedded = regime is None or regime.has_embedding
    if key in ("holdout_loss", "no_better_than_linear") and regime is not None \
            and regime.kind == "raw":
        return "no network"
    if key in _READINGS and not embedded:
        return "no embedding"
    if key in ("effect_vs_lead", "axes_vs_lead") and row.get("regime") == lead:
        return "lead regime"
    if key in _READINGS:
        return reading_gap(row) or ("not compared" if key.endswith("_vs_lead")
                                    else not_computed(key, row))
    if key == "no_better_than_linear":
        return "no ridge fit"
    return not_computed(key, row)


def regime_notes(result: AuditResult) -> tuple[str, str]:
    """What the columns of the regime panel's two tables mean, by their labels, with
    the audit's levels."""
    stat = result.config.statistics
    level = 1 - 2 * stat.position_alpha
    n = {key: f"“{label(key)}”" for key in REGIME_DISPLAY}
    readings = (
        "Per regime, what analysts do: read each attribute off the reference network's "
        f"best axis for it. {n['n_read']}: attributes whose axis carries them beyond "
        f"chance; {n['n_read_replicated']}: of those, holdout q ≤ {stat.alpha:g} over the "
        f"readings; {n['n_axes_generalized']}: of those, the axis still orders attribute "
        f"and lifespan on the holdout. {n['read_effect']}: the readings' mean holdout effect "
        "in their claimed direction, over every network fitted to the real lifespans; "
        f"{n['null_effect']}: the same off the permutation networks (chance readings); "
        f"{n['advantage']}: the difference, with the one-sided bounds at "
        f"{stat.position_alpha:g} that decide the position ({level:.0%} interval; "
        f"{n['p_advantage']}: its one-sided p; {stat.useful_advantage:g} counts as useful). "
        f"{n['axes_generalized']}: of the readings, mean over networks. {n['comparable']}: "
        "the permutation networks ended their training as the reference did.")
    procedures = (
        f"The screen: {n['n_found']}: readings that pass the discovery screen; "
        f"{n['n_survives']}: found, and holdout q ≤ {stat.alpha:g}; {n['n_distinct']}: "
        "survivors no other survivor explains. Direct (no network): "
        f"{n['n_direct_leads']}: survivors of screening the attributes themselves; "
        f"{n['n_only_axis']}: replicated readings the direct screen missed; "
        f"{n['n_axis_lost']}: direct leads without a reading. {n['holdout_loss']}: the "
        f"reference network's; {n['no_better_than_linear']}: it loses to a ridge fit on "
        f"the same rows. {n['effect_vs_lead']}, {n['axes_vs_lead']}: the readings' effect "
        "and share of axes generalizing, less the lead regime's (their intervals are in "
        "report.json).")
    return readings, procedures


def position_p(result: AuditResult) -> str:
    """The position's p, or why it has none (words from the regime it was decided on)."""
    position = result.position
    text = format_cell(position.p_value, "p_value")
    if text != MISSING:
        return f"one-sided p of the advantage {text if text.startswith('<') else '= ' + text}"
    regime = REGIMES.get(position.regime)
    rows = result.regimes[result.regimes["regime"] == position.regime] \
        if "regime" in result.regimes.columns else pd.DataFrame()
    row = rows.iloc[0].to_dict() if len(rows) else {}
    if regime is not None and not regime.has_embedding:
        why = "no embedding was audited, so there are no readings to test"
    elif row and jsonable(row.get("comparable")) is False:
        why = ("the permutation networks did not end their training as the reference did, "
               "so there are no chance readings to test against")
    elif row and (gap := reading_gap(row)) is not None:
        why = {"no readings": "no axis carries any attribute beyond chance, so there are no "
                              "readings to test",
               "no chance readings": "no axis of the permutation networks carries any "
                                     "attribute beyond chance, so there are no chance "
                                     "readings to test against",
               }.get(gap, "too few networks gave readings (at least two fitted to the real "
                          "lifespans and two to permuted ones)")
    else:
        why = "the advantage has no interval in this regime"
    return f"p not computed: {why}"


# ----------------------------------------------------------------- the other tables
def member_table(result: AuditResult) -> Table:
    """Training diagnostics: counts and medians per regime and kind of member."""
    summary = member_summary(result.members)
    return build_table(summary.to_dict(orient="records"), list(summary.columns), _member_why)


def _member_why(key: str, row: dict[str, Any]) -> str:
    """Why a regime's members of a kind have no value in column ``key``."""
    regime, kind = REGIMES.get(str(row.get("regime"))), str(row.get("kind"))
    if key == "n_reached_target":
        return "no loss target" if regime is None or not regime.stops_on_training_loss \
            else "not recorded"
    if key in ("n_no_better_than_linear", "median_ridge_holdout_loss"):
        return "permuted lifespans" if kind == "permutation" else "no ridge fit"
    if key == "median_validation_loss":
        return "no validation rows"
    if key in ("median_disparity", "median_protest_p", "median_cka"):
        return "the reference" if kind == "reference" else "not aligned"
    return not_computed(key, row)


def frame_table(frame: pd.DataFrame, words: Iterable[str] = ()) -> Table:
    """Every column of ``frame``, labelled, in its order (skipped attributes, cross-fit)."""
    return build_table(frame.to_dict(orient="records"), list(frame.columns), not_computed,
                       words=words)


def position_headline(result: AuditResult, meaning: str) -> str:
    """The verdict's headline: the position, then what it means, without the label
    that ``meaning`` starts with ("Person A: …", "Undecided: …") said twice."""
    first, colon, rest = meaning.partition(": ")
    return f"Position {result.position.position} — {rest if colon else first}"


#: features listed by name in the manifest's summary line before "…"
_FEATURES_SHOWN = 12


def manifest_view(result: AuditResult) -> dict[str, Any]:
    """The manifest with the feature list summarized: its count, the names or patterns
    that chose the features, and the first few names (all of them kept for the page's
    expandable list)."""
    info = manifest(result)
    roles = dict(info["roles"])
    features = list(roles.pop("features"))
    chosen_by = result.config.data.features
    shown = ", ".join(features[:_FEATURES_SHOWN]) + (" …" if len(features) > _FEATURES_SHOWN
                                                      else "")
    return {
        **info,
        "roles": roles,
        "command": result.command,
        "features": {
            "count": len(features),
            "chosen_by": ", ".join(chosen_by) if chosen_by else
            "every numeric column without another role",
            "first": shown,
            "all": ", ".join(features),
        },
    }


def compute_table(paths: list[dict[str, Any]]) -> Table:
    """The manifest's ways of computing the members, one row each."""
    keys = [*COMPUTE_KEYS, "regimes", "members", "chunks"]
    return build_table(paths, keys, lambda key, row: "not recorded", words=["path", "device"])


def versions_table(versions: dict[str, str]) -> Table:
    """The manifest's package versions."""
    return Table([Header("package", ("versions",)), Header("version", ("versions",))],
                 [[str(k), str(v)] for k, v in versions.items()], ["", ""])


def regime_order(frame: pd.DataFrame) -> list[str]:
    """The regimes of ``frame`` in the order they appear."""
    return list(dict.fromkeys(str(r) for r in frame["regime"]))

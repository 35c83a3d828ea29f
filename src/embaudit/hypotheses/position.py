"""Person A vs Person B, decided on what the analysts actually do: their readings.

Per regime, the readings of every network fitted to the real lifespans (the reference
and each bootstrap member, each read along its own axes) are summarized by their mean
holdout effect in the claimed direction (:mod:`embaudit.hypotheses.readings`) and
compared with the same procedure's readings off the regime's permutation networks,
fitted to permuted lifespans: networks that learned nothing, whose readings are chance
readings. The advantage gets two one-sided normal bounds at ``position_alpha`` (its
variance from the holdout rows and both sets of networks:
:mod:`embaudit.hypotheses.readings`). Those bounds are the interval the
position prints, so a position never stands beside an interval that contradicts it:

* A: the lower bound is above 0 (the readings replicate significantly better than
  chance readings) and a useful advantage (``useful_advantage``) is not ruled out;
* B: the upper bound is below ``useful_advantage``: a useful advantage is ruled out
  (with the lower bound above 0 too, the readings beat chance by less than that);
* undecided otherwise, and when the permutation networks did not end their training
  as the reference did, or fewer than two networks of a kind gave a reading. "More rows
  would decide" only where more rows than the holdout has, the rows' share of the
  variance shrinking as 1/rows, decide with the set power whether the advantage is 0 or
  useful.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from embaudit.config import StatisticsConfig
from embaudit.core.regimes import REGIMES
from embaudit.core.schema import REGIME_COLUMNS, Position
from embaudit.hypotheses.evidence import RegimeEvidence
from embaudit.hypotheses.inference import HoldoutAssociation
from embaudit.hypotheses.readings import (
    Estimate,
    Readings,
    mean_effect,
    rows_to_decide,
    signed,
)
from embaudit.hypotheses.verdicts import DirectScreen, RegimeAssessment


def comparable(members: pd.DataFrame, regime: str, max_epochs: int) -> bool:
    """Did the regime's training rule end for its permutation networks as it did for its
    reference?

    Decided from the rule, never from a loss (or a number of epochs) that learning itself
    changes: a regime that trains to the overfit tolerance either reached it or ran out
    of epochs (``max_epochs``); one that stops early either stopped on its own
    validation rows or ran out of epochs. All but 5% of the permutation networks (all of
    them, below 20) must have ended as the reference did. A linear baseline is one
    closed-form fit, the same rule whatever the lifespans, and raw screening trains
    nothing: always comparable.
    """
    if not REGIMES[regime].trains_network:
        return True
    ended = _rule_ended(members, regime, max_epochs)
    if ended is None:
        return False
    first, null = ended
    return bool((null == first).mean() >= 0.95)


def _rule_ended(members: pd.DataFrame, regime: str, max_epochs: int
                ) -> tuple[bool, pd.Series] | None:
    """Whether the training rule itself ended the reference's training (reached the
    tolerance, or stopped early), and each permutation network's; None without both."""
    rows = members[members["regime"] == regime]
    reference = rows[rows["kind"] == "reference"]
    null = rows[rows["kind"] == "permutation"]
    if reference.empty or null.empty:
        return None
    if REGIMES[regime].stops_on_training_loss:
        reached = rows["reached_target"].eq(True)  # missing: not reached
        return bool(reached[reference.index].iloc[0]), reached[null.index]
    stopped = rows["epochs"] < max_epochs
    return bool(stopped[reference.index].iloc[0]), stopped[null.index]


@dataclass(frozen=True, eq=False)
class ReadingSummary:
    """One embedding regime's readings on the holdout: of the networks fitted to the
    real lifespans and of the permutation networks, their mean effects, the advantage,
    and per network the share of readings whose axis generalizes."""

    readings: Readings
    null: Readings
    weights: np.ndarray  # (networks with a reading, q)
    null_weights: np.ndarray
    effect: Estimate  # at the confidence level
    null_effect: Estimate
    advantage: Estimate  # one-sided bounds at position_alpha
    axes: np.ndarray  # per network with a reading
    rows_to_decide: int | None


def summarize_readings(evidence: RegimeEvidence, holdout: HoldoutAssociation,
                       covariance: np.ndarray, config: StatisticsConfig
                       ) -> ReadingSummary | None:
    """The readings of an embedding regime on the holdout (None for raw screening).
    ``covariance``: of the holdout effects over resampled holdout rows."""
    if not REGIMES[evidence.regime].has_embedding:
        return None
    testable = np.isfinite(holdout.rho)
    observed = np.nan_to_num(holdout.rho)
    readings = Readings.screened(evidence.reading_direction, evidence.reading_p_carried,
                                 config.alpha_discovery)
    null = Readings.screened(evidence.null_direction, evidence.null_p_carried,
                             config.alpha_discovery)
    weights, null_weights = readings.weights(testable), null.weights(testable)
    tail = (1 - config.confidence) / 2
    advantage = mean_effect(weights, null_weights, observed, covariance,
                            config.position_alpha)
    generalizes = np.nan_to_num(evidence.reading_p_embedding, nan=1.0) <= config.alpha
    return ReadingSummary(
        readings, null, weights, null_weights,
        effect=mean_effect(weights, None, observed, covariance, tail),
        null_effect=mean_effect(null_weights, None, observed, covariance, tail),
        advantage=advantage, axes=readings.share(generalizes, testable),
        rows_to_decide=rows_to_decide(advantage, holdout.n, config.useful_advantage,
                                      config.position_alpha, config.power))


def regime_row(
    evidence: RegimeEvidence,
    assessment: RegimeAssessment,
    summary: ReadingSummary | None,
    direct: DirectScreen,
    members: pd.DataFrame,
    max_epochs: int,
    n_explained: int = 0,
) -> dict[str, object]:
    """One row of the regime panel (``n_explained``: survivors another survivor
    explains); the comparison with the lead regime is filled in by
    :func:`embaudit.hypotheses.comparison.compare_with_lead`."""
    regime = evidence.regime
    a = assessment
    verdicts = a.frame["verdict"]
    reference = members[(members["regime"] == regime) & (members["kind"] == "reference")]
    flag = reference["no_better_than_linear"].iloc[0] if len(reference) else None
    embedded = summary is not None
    only_axis, lost = direct.gains(a)
    nan = float("nan")
    effect = summary.effect if embedded else Estimate.missing()
    null_effect = summary.null_effect if embedded else Estimate.missing()
    advantage = summary.advantage if embedded else Estimate.missing()
    row = {
        "regime": regime, "n_candidates": int((a.direction != 0).sum()),
        "n_read": int(a.read.sum()), "n_read_replicated": int(a.replicates.sum()),
        "n_axes_generalized": int((a.read & a.generalizes).sum()),
        "n_found": int(a.found.sum()), "n_survives": int((verdicts == "survives").sum()),
        "n_fails": int((verdicts == "fails").sum()),
        "n_distinct": int(a.survives.sum()) - n_explained,
        "n_direct_leads": int(direct.survives.sum()),
        "n_only_axis": int(only_axis.sum()), "n_axis_lost": int(lost.sum()),
        "reading_networks": len(summary.weights) if embedded else 0,
        "read_effect": effect.estimate, "read_effect_low": effect.low,
        "read_effect_high": effect.high,
        "null_networks": len(summary.null_weights) if embedded else 0,
        "null_effect": null_effect.estimate,
        "advantage": advantage.estimate, "advantage_low": advantage.low,
        "advantage_high": advantage.high, "p_advantage": advantage.p,
        "rows_to_decide": summary.rows_to_decide if embedded else None,
        "axes_generalized": float(summary.axes.mean()) if embedded and len(summary.axes)
        else nan,
        "comparable": comparable(members, regime, max_epochs), "position": "",
        "holdout_loss": float(reference["holdout_loss"].iloc[0]) if len(reference) else nan,
        "no_better_than_linear": None if flag is None or pd.isna(flag) else bool(flag),
        "effect_vs_lead": nan, "effect_vs_lead_low": nan, "effect_vs_lead_high": nan,
        "axes_vs_lead": nan, "axes_vs_lead_low": nan, "axes_vs_lead_high": nan,
    }
    return {key: row[key] for key in REGIME_COLUMNS}


def decide_position(row: dict[str, object], members: pd.DataFrame, n_permutations: int,
                    n_holdout: int, config: StatisticsConfig, max_epochs: int) -> Position:
    """Which camp the regime's readings support, in words that quote the numbers and the
    interval that decided (rules in the module docstring). ``Position.p_value`` is the
    one-sided p of the advantage, NaN when nothing was decided on it."""
    regime = str(row["regime"])
    margin = config.useful_advantage

    def position(label: str, text: str, p: float = float("nan")) -> Position:
        return Position(label, text, regime=regime, p_value=p)

    if not REGIMES[regime].has_embedding:
        return position("undecided", (
            "The data cannot settle it: no embedding was audited, so there are no readings "
            "to judge."))
    if not row["comparable"]:
        return position("undecided", (
            f"The data cannot settle it on the {regime} embedding: its {n_permutations} "
            f"permutation networks did not end their training as its reference did "
            f"({_training(members, regime, max_epochs)}), so their readings are no chance "
            "baseline for the reference's."))
    if not row["reading_networks"] or not row["null_networks"]:
        return position("undecided", (
            f"The data cannot settle it: no axis of the {regime} "
            f"{'networks' if row['reading_networks'] == 0 else 'permutation networks'} "
            "carries any attribute beyond chance, so there are no readings to compare; more "
            "rows would not change that unless the attributes are encoded in the features."))
    low, high, p = (float(row[k]) for k in ("advantage_low", "advantage_high", "p_advantage"))
    if not (np.isfinite(low) and np.isfinite(high)):
        return position("undecided", (
            f"The data cannot settle it: too few {regime} networks gave readings to tell how "
            f"networks vary ({row['reading_networks']} fitted to the real lifespans, "
            f"{row['null_networks']} to permuted ones; at least two of each are needed)."))
    level = 1 - 2 * config.position_alpha
    advantage = float(row["advantage"])  # type: ignore[arg-type]
    numbers = (
        f"Read as analysts read them (each attribute along a network's best axis, kept when "
        f"the axis carries it beyond chance), {row['n_read']} of {row['n_candidates']} "
        f"attributes gave readings off the {regime} reference. Over "
        f"{row['reading_networks']} networks fitted to the real lifespans, their mean effect "
        f"on the {n_holdout} held-out rows, in the claimed direction, is "
        f"{signed(row['read_effect'])}; the same readings off {row['null_networks']} "
        f"networks fitted to permuted lifespans give {signed(row['null_effect'])}: an "
        f"advantage of {signed(advantage)} ({level:.0%} interval {signed(low)} to "
        f"{signed(high)}, one-sided bounds at {config.position_alpha:g}; p = {p:.3g}; "
        f"{margin:g} counts as useful).")
    if low > 0 and high >= margin:
        useful = ("by a useful margin" if advantage >= margin else
                  "by a margin that may be useful (it is not ruled out)")
        return position("A", f"The data support A: attributes read off the {regime} embedding "
                        f"are leads that replicate better than chance readings, {useful}. "
                        f"{numbers}", p)
    if high < margin:
        claim = ("replicate better than chance readings, but by less than a useful margin"
                 if low > 0 else "replicate no better than readings off networks that "
                 "learned nothing")
        return position("B", f"The data support B: attributes read off the {regime} "
                        f"embedding {claim}. {numbers} An advantage of {margin:g} is ruled "
                        "out.", p)
    rows = row["rows_to_decide"]
    if rows is None or pd.isna(rows):
        more = (" More held-out rows alone would not decide: the networks' spread is too "
                "wide; more bootstrap and permutation networks would narrow it.")
    elif int(rows) > n_holdout:
        more = (f" About {int(rows):,} held-out rows (now {n_holdout}) would decide with "
                f"{config.power:.0%} power whether the advantage is 0 or {margin:g}.")
    else:
        more = (f" {n_holdout} held-out rows decide with {config.power:.0%} power whether "
                f"the advantage is 0 or {margin:g}; here they did not: it probably lies "
                "between.")
    return position("undecided", (
        "The data cannot settle it yet: the readings neither beat chance readings "
        f"significantly nor fall short of a useful advantage. {numbers}{more}"), p)


def _training(members: pd.DataFrame, regime: str, max_epochs: int) -> str:
    ended = _rule_ended(members, regime, max_epochs)
    if ended is None:
        return "no permutation networks were trained"
    first, null = ended
    if REGIMES[regime].stops_on_training_loss:
        reached = "reached" if first else "did not reach"
        return (f"the reference {reached} the overfit tolerance; {int(null.sum())} of "
                f"{len(null)} permutation networks did")
    stopped = "stopped early" if first else f"ran all {max_epochs} epochs"
    return (f"the reference {stopped}; {int(null.sum())} of {len(null)} permutation "
            "networks stopped early")

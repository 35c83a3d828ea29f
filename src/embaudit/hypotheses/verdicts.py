"""Verdicts per hypothesis: screen the candidates on the discovery rows, test the found
ones on the holdout.

* ``not found``: the candidate did not pass the discovery screen (``p_discovery >
  alpha_discovery``, :mod:`embaudit.hypotheses.screen`); its holdout numbers are shown
  but it is in no multiplicity family and makes no claim;
* ``survives``: found, and the holdout confirms the claimed direction (q ≤ α);
* ``fails``: found, not confirmed, and the holdout shows the opposite direction
  (q ≤ α) or an effect whose interval lies wholly below the smallest effect of
  interest (``min_effect``);
* ``inconclusive`` otherwise (also when the holdout cannot test the attribute), with
  the holdout size that would detect ``min_effect`` with the requested power at the
  threshold the correction applies to it.

Survival is about the claim "a is associated with lifespan in direction s": whether
the axis still orders attribute and lifespan on the holdout is reported beside it
(``p_embedding``; ``axis_generalizes``) and does not decide it.

Beside the verdict, each row says how the other two procedures of the design treat the
attribute: ``read`` (the analysts' reading: the axis carries it beyond chance, no
association screen) and ``replicates`` (a reading confirmed on the holdout, q over the
regime's readings), and :func:`direct_screen` gives the leads of screening the
attributes against lifespan with no network at all. The q-values treat each attribute as one
family (Benjamini and Bogomolov, 2014): families are selected by BH (or BY) on one p
each (a categorical attribute's omnibus test, :func:`~embaudit.hypotheses.inference.
family_omnibus`), and a selected family's levels are tested within it at the level
α·R/m that selection leaves (R of m families selected). Holm and max-T control the
family-wise error over all found columns directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from embaudit.config import StatisticsConfig
from embaudit.core.regimes import REGIMES
from embaudit.core.schema import HYPOTHESIS_COLUMNS
from embaudit.data.table import AttributeColumn
from embaudit.hypotheses.evidence import RegimeEvidence
from embaudit.hypotheses.inference import HoldoutAssociation, sign_consistency
from embaudit.hypotheses.multiplicity import holdout_q, threshold_used
from embaudit.hypotheses.resampled import containing, max_t_p_values, permutation_p_values


def verdict_rule(found: np.ndarray, q: np.ndarray, q_opposite: np.ndarray,
                 ci_high: np.ndarray, alpha: float, min_effect: float,
                 axis_holds: np.ndarray | None = None) -> np.ndarray:
    """The verdict of every column, vectorized (NaN q: untestable, hence inconclusive);
    audits and claim checks both decide with it.

    ``axis_holds`` (claim checks against a saved member): whether the claim's axis still
    orders attribute and lifespan as claimed; a claim whose axis does not cannot
    survive. Claims are never screened: they pass ``found`` all true.
    """
    confirmed = q <= alpha
    if axis_holds is not None:
        confirmed &= axis_holds
    survives = found & confirmed
    fails = found & ~survives & ((q_opposite <= alpha) | (ci_high < min_effect))
    return np.where(~found, "not found", np.where(
        survives, "survives", np.where(fails, "fails", "inconclusive")))


def rows_required(verdict: np.ndarray, q: np.ndarray, included: np.ndarray, method: str,
                  alpha: float, min_effect: float, power: float, holdout: HoldoutAssociation
                  ) -> tuple[pd.arrays.IntegerArray, pd.arrays.IntegerArray]:
    """Per inconclusive column, the holdout rows (and, for censored lifespans, the
    failures) that detect ``min_effect`` with ``power`` at the threshold the correction
    applies to one more confirmation (:func:`~embaudit.hypotheses.multiplicity.
    threshold_used`; :meth:`~embaudit.hypotheses.inference.HoldoutAssociation.
    required`); <NA> for the others, and where the holdout already has as many: such a
    trend is inconclusive because its effect looks smaller than ``min_effect``, not for
    want of rows."""
    rows, events = holdout.required(min_effect, threshold_used(q, included, method, alpha),
                                    power)
    events = np.full(len(verdict), -1) if events is None else events
    more = rows > holdout.n

    def where_inconclusive(needed: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.array([int(v) if w == "inconclusive" and v > 0 and m else pd.NA
                         for v, w, m in zip(needed, verdict, more, strict=True)],
                        dtype="Int64")

    return where_inconclusive(rows), where_inconclusive(events)


@dataclass(frozen=True, eq=False)
class RegimeAssessment:
    """A regime's hypotheses table (one row per claimed column), the attributes it
    skipped (no trend to test), and per attribute column (all of them) read, replicated,
    found and survives (the first two all false for raw screening), and the direction."""

    frame: pd.DataFrame
    skipped: pd.DataFrame
    found: np.ndarray
    survives: np.ndarray
    read: np.ndarray
    replicates: np.ndarray
    generalizes: np.ndarray  # the axis still orders attribute and lifespan (holdout)
    direction: np.ndarray
    embedded: bool  # the regime has axes to read (not raw screening)


@dataclass(frozen=True, eq=False)
class DirectScreen:
    """Screening the attributes against lifespan with no network (raw screening's
    verdicts, computed from any regime's screen): per attribute column the direction of
    its discovery-row association, whether the screen found it, whether it survives."""

    direction: np.ndarray
    found: np.ndarray
    survives: np.ndarray

    def gains(self, assessment: RegimeAssessment) -> tuple[np.ndarray, np.ndarray]:
        """What reading ``assessment``'s network gives that this screen does not, per
        column: replicated readings it did not find in their direction (leads found only
        through an axis), and its leads without a reading in their direction (leads the
        axis lost; none where nothing can be read)."""
        a = assessment
        only_axis = a.replicates & ~(self.found & (self.direction == a.direction))
        lost = self.survives & ~(a.read & (a.direction == self.direction))
        return only_axis, (lost if a.embedded else np.zeros_like(lost))


def direct_screen(evidence: RegimeEvidence, holdout: HoldoutAssociation,
                  families: np.ndarray, config: StatisticsConfig) -> DirectScreen:
    """The direct procedure from ``evidence``'s screen: its association half alone
    (Bonferroni over a categorical attribute's levels), then the holdout."""
    association = evidence.screen.association[0]
    direction = np.sign(association).astype(int)
    size = np.ones(len(direction)) if evidence.family_size is None else evidence.family_size
    p = np.minimum(1.0, evidence.screen.p_association[0] * size)
    found = (direction != 0) & (p <= config.alpha_discovery)
    q, _ = holdout_q(holdout, direction, found, families, config.correction, config.alpha)
    return DirectScreen(direction, found, found & (q <= config.alpha))


def assess_regime(
    evidence: RegimeEvidence,
    holdout: HoldoutAssociation,
    columns: Sequence[AttributeColumn],
    config: StatisticsConfig,
) -> RegimeAssessment:
    """Screen, test and judge every candidate of one regime."""
    c = evidence.candidates
    claimed = c.direction != 0
    families = attribute_families(columns)
    p_discovery = evidence.p_discovery
    found = claimed & (p_discovery <= config.alpha_discovery)
    embedding = c.axis >= 0
    read = embedding & claimed & (evidence.reading_p_carried[0] <= config.alpha_discovery) \
        if len(evidence.reading_direction) else np.zeros(len(claimed), bool)
    q_reading = holdout_q(holdout, c.direction, read, families, config.correction,
                          config.alpha)[0]
    replicates = read & (q_reading <= config.alpha)
    p_holdout = holdout.p_value(c.direction)
    q_holdout, q_opposite = holdout_q(holdout, c.direction, found, families,
                                      config.correction, config.alpha)
    ci_low, ci_high = holdout.interval(c.direction)
    verdict = verdict_rule(found, q_holdout, q_opposite, ci_high, config.alpha,
                           config.min_effect)
    n_required, events_required = rows_required(
        verdict, q_holdout, found, config.correction, config.alpha, config.min_effect,
        config.power, holdout)
    p_embedding = _or_nan(evidence.p_embedding, len(columns))
    generalizes = embedding & (np.nan_to_num(p_embedding, nan=1.0) <= config.alpha)
    frame = pd.DataFrame({
        "regime": evidence.regime,
        "attribute": [col.name for col in columns],
        "source_attribute": [col.attribute for col in columns],
        "kind": [col.kind for col in columns],
        "axis": pd.array([int(a) if e else pd.NA for a, e in zip(c.axis, embedding,
                                                                 strict=True)], dtype="Int64"),
        "direction": np.where(c.direction > 0, "+", "-"),
        "strength": c.strength,
        "r_axis_attribute": c.r_axis_attribute,
        "r_axis_lifespan": c.r_axis_lifespan,
        **_axis_intervals(evidence, holdout.confidence),
        "p_carried": np.where(embedding, evidence.screen.p_carried[0], np.nan),
        "read": _where(embedding, read),
        "p_association": evidence.screen.p_association[0],
        "p_discovery": p_discovery,
        "found": found,
        "p_retrained": permutation_p_values(c.strength, evidence.null_strength),
        "p_retrained_maxt": max_t_p_values(c.strength, evidence.null_strength),
        "effect_holdout": holdout.effect(c.direction),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p_holdout": p_holdout,
        "q_holdout": q_holdout,
        "r_axis_attribute_holdout": _or_nan(evidence.holdout_axis_attribute, len(columns)),
        "r_axis_lifespan_holdout": _or_nan(evidence.holdout_axis_lifespan, len(columns)),
        "p_embedding": p_embedding,
        "axis_generalizes": _where(embedding, generalizes),
        "q_reading": q_reading,
        "replicates": _where(embedding, replicates),
        "sign_consistency": sign_consistency(evidence.bootstrap_direction, c.direction),
        "selection_frequency": np.where(
            embedding, (evidence.bootstrap_axis == c.axis[None, :]).mean(axis=0), np.nan),
        "oob_replication": (evidence.bootstrap_oob_p <= config.alpha).mean(axis=0)
        if evidence.bootstrap_oob_p is not None and len(evidence.bootstrap_oob_p)
        else np.full(len(c.strength), np.nan),
        "n_holdout": holdout.n,
        "n_required": n_required,
        "events_required": events_required,
        "holdout_note": pd.array([_holdout_note(holdout, i) for i in range(len(columns))],
                                 dtype="string"),
        "verdict": verdict,
    })
    skipped = pd.DataFrame({
        "regime": evidence.regime,
        "attribute": [col.name for col, ok in zip(columns, claimed, strict=True) if not ok],
        "reason": "no live axis carries a trend (every axis dead, or the attribute is "
                  "constant on the discovery rows)" if REGIMES[evidence.regime].has_embedding
                  else "the attribute is constant on the discovery rows",
    }, index=pd.RangeIndex(int((~claimed).sum()))).astype("string")
    frame["explained_by"] = pd.array([pd.NA] * len(frame), dtype="string")
    return RegimeAssessment(frame.loc[claimed, list(HYPOTHESIS_COLUMNS)].reset_index(drop=True),
                            skipped, found, verdict == "survives", read, replicates,
                            generalizes, c.direction,
                            REGIMES[evidence.regime].has_embedding)


def attribute_families(columns: Sequence[AttributeColumn]) -> np.ndarray:
    """Each attribute column's family code: the levels of a categorical attribute share
    theirs."""
    return np.unique([col.attribute for col in columns], return_inverse=True)[1]


def _or_nan(values: np.ndarray | None, size: int) -> np.ndarray:
    return np.full(size, np.nan) if values is None else values


def _where(applies: np.ndarray, values: np.ndarray) -> pd.arrays.BooleanArray:
    """``values`` as a nullable boolean column, missing where it does not ``applies``
    (raw screening has no axes to read)."""
    return pd.array([bool(v) if a else pd.NA for a, v in zip(applies, values, strict=True)],
                    dtype="boolean")


def _axis_intervals(evidence: RegimeEvidence, confidence: float) -> dict[str, np.ndarray]:
    """Intervals of r(axis, attribute) and r(axis, lifespan) across the aligned bootstrap
    networks: their percentile interval, shifted by the networks' mean bias (their mean
    reading minus the reference's), so it is centred as the reference's reading is, and
    widened where a skewed distribution would still miss that reading. Networks trained
    on resampled rows read their in-bag rows with duplicates, which inflates their
    correlations: unshifted, the interval excluded its own estimate in about a quarter
    of the rows."""
    c = evidence.candidates
    out = {}
    for name, draws, estimate in (
            ("r_axis_attribute", evidence.bootstrap_r_attribute, c.r_axis_attribute),
            ("r_axis_lifespan", evidence.bootstrap_r_lifespan, c.r_axis_lifespan)):
        if draws is None or len(draws) == 0:
            out[f"{name}_ci_low"] = out[f"{name}_ci_high"] = np.full(len(estimate), np.nan)
            continue
        tail = (1 - confidence) / 2 * 100
        low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
        bias = draws.mean(axis=0) - estimate
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = containing(
            np.clip(low - bias, -1.0, 1.0), np.clip(high - bias, -1.0, 1.0), estimate)
    return out


def _holdout_note(holdout: HoldoutAssociation, column: int) -> str | None:
    """Why the holdout could not test ``column``, or how it did where that needs
    saying (a penalized Cox fit), in words; None when there is nothing to say."""
    note = holdout.reason(column) or (holdout.notes[column] if holdout.notes else "")
    return note or None

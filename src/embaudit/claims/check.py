"""Claim checks for reviewers: "attribute a relates to lifespan in direction s".

A claim is tested on the rows given with the audit's machinery: one-sided (partial)
Spearman test, percentile bootstrap interval, power at the smallest effect of interest.
With a saved audit's member (:func:`load_member`), the member also projects the rows and
the claim's axis must still order attribute and lifespan with the claimed signs. When
the rows are the audit's own (the member reproduces its stored predictions on them),
only the audit's holdout rows are used: the member trained on the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from embaudit.claims.claim import (
    Claim,
    attribute_column,
    parse_direction,
)
from embaudit.core.schema import Verdict
from embaudit.core.summary import Block, Summarized, Summary, counted, joined, short_repr
from embaudit.data.table import Table, covariate_matrix
from embaudit.errors import ConfigError, DataError, numerical_warnings
from embaudit.hypotheses.censored import lifespan_association, lifespan_scores
from embaudit.hypotheses.inference import (
    HoldoutAssociation,
    spearman_p_positive,
)
from embaudit.hypotheses.multiplicity import CORRECTIONS, holdout_q
from embaudit.hypotheses.ranks import outcome_correlations, spearman_matrix
from embaudit.hypotheses.verdicts import rows_required, verdict_rule
from embaudit.model import MemberModel, load_member

__all__ = ["Claim", "ClaimReport", "ClaimVerdict", "check_claim", "check_claims",
           "load_member"]

#: exit codes of ``embaudit check --strict``
EXIT_CODES = {"survives": 0, "fails": 1, "inconclusive": 3}


#: what a verdict outside an audit's ledger cannot say, by the rows it was tested on
_CAVEAT = {
    "all rows": "rows used to come up with the claim cannot confirm it; to confirm, check "
                "it against an audit's sealed holdout (--audit)",
    "audit holdout": "checked outside the audit's claims ledger, so not corrected for the "
                     "claims checked before it on these rows; check with --audit",
    "new rows": "rows used to come up with the claim cannot confirm it: these must be rows "
                "no one looked at before the claim was made",
}
_CAVEAT["audit holdout and new rows"] = _CAVEAT["audit holdout"]


@dataclass(frozen=True)
class ClaimVerdict(Summarized):
    """The verdict on one claim and the numbers behind it."""

    claim: str
    attribute: str
    direction: str
    verdict: Verdict  # survives | fails | inconclusive (a claim is never screened)
    effect: float  # (partial) Spearman(a, y) or Somers' D, signed: positive = as claimed
    ci_low: float
    ci_high: float
    p: float  # one-sided, in the claimed direction
    q: float  # adjusted across the claims checked together
    power: float  # of this test at min_effect
    n: int
    n_required: int | None  # rows ``target_power`` would need (inconclusive only)
    rows: str  # "all rows"; with a model: "audit holdout", "new rows" or both
    covariates: tuple[str, ...] = ()
    axis: int | None = None
    p_embedding: float = float("nan")
    r_axis_attribute: float = float("nan")
    r_axis_lifespan: float = float("nan")
    confidence: float = 0.95  # of the interval
    target_power: float = 0.8  # that n_required reaches
    #: what ``effect`` measures: Spearman, or Somers' D of censored lifespans
    effect_name: str = "Spearman"
    #: censored lifespans: failures on the rows tested, and those ``target_power`` needs
    events: int | None = None
    events_required: int | None = None
    #: why the claim could not be tested ('' when it was), and how it was when that
    #: needs saying (a penalized Cox fit)
    reason: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        # plain Python values, whatever numpy computed them as (a repr reads as words)
        for name in ("claim", "attribute", "direction", "verdict", "rows"):
            object.__setattr__(self, name, str(getattr(self, name)))
        for name in ("effect", "ci_low", "ci_high", "p", "q", "power"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "n", int(self.n))

    def __repr__(self) -> str:
        return short_repr("ClaimVerdict", claim=self.claim, verdict=self.verdict,
                          effect=round(self.effect, 3), p=float(f"{self.p:.3g}"), n=self.n)

    def summary(self) -> Summary:
        """The verdict in words, then its numbers (``str()`` is this text)."""
        return Summary((Block(tuple(self._lines()), preformatted=True),))

    def _lines(self) -> list[str]:
        if self.reason:
            return [f"Claim {self.claim}: {self.verdict.upper()} on {self.rows} "
                    f"(n = {self.n}): no test could be computed: {self.reason}."]
        lines = [
            f"Claim {self.claim}: {self.verdict.upper()} on {self.rows} (n = {self.n}); "
            f"{_CAVEAT.get(self.rows, _CAVEAT['all rows'])}",
            f"  effect ({self.effect_name}{', partial' if self.covariates else ''}) = "
            f"{self.effect:+.3f}, {self.confidence:.0%} CI "
            f"[{self.ci_low:+.3f}, {self.ci_high:+.3f}]",
            f"  p = {self.p:.3g}, q = {self.q:.3g}, power at the smallest effect of interest "
            f"= {self.power:.2f}, n = {self.n} ({self.rows})",
        ]
        if self.axis is not None:
            lines.append(f"  axis {self.axis}: r(axis, attribute) = {self.r_axis_attribute:+.3f},"
                         f" r(axis, lifespan) = {self.r_axis_lifespan:+.3f}, "
                         f"p = {self.p_embedding:.3g}")
        if self.note:
            lines.append(f"  {self.note}")
        if self.events_required is not None:
            lines.append(f"  about {self.events_required} failures (here {self.events}; about "
                         f"{self.n_required} rows at this share of failures) would give "
                         f"{self.target_power:.0%} power")
        elif self.n_required is not None:
            lines.append(f"  about {self.n_required} rows would give {self.target_power:.0%} power")
        return lines


@dataclass(frozen=True)
class ClaimReport(Summarized):
    """Verdicts on several claims checked together (q-values across them)."""

    verdicts: tuple[ClaimVerdict, ...]
    correction: str

    def to_frame(self) -> pd.DataFrame:
        """One row per claim: its verdict and every number behind it."""
        return pd.DataFrame([asdict(v) for v in self.verdicts])

    def summary(self) -> Summary:
        """Each claim's verdict and numbers, one after another."""
        return joined([v.summary() for v in self.verdicts])

    def __repr__(self) -> str:
        return short_repr("ClaimReport", claims=len(self.verdicts),
                          **counted([v.verdict for v in self.verdicts]))

    @property
    def exit_code(self) -> int:
        """0 when every claim survives, 1 when one fails, else 3 (one inconclusive)."""
        found = {v.verdict for v in self.verdicts}
        return max((EXIT_CODES[v] for v in found), key=lambda c: (c == 1, c))


def check_claim(
    table: Table,
    attribute: str,
    direction: str | int,
    covariates: Sequence[str] | None = None,
    model: MemberModel | str | Path | None = None,
    *,
    axis: int | None = None,
    alpha: float = 0.10,
    min_effect: float = 0.1,
    n_resamples: int = 2000,
    seed: int = 0,
) -> ClaimVerdict:
    """Test one claim on ``table``'s rows; see :func:`check_claims`."""
    sign = parse_direction(direction)
    report = check_claims(table, [Claim(attribute, sign, axis)], covariates, model,
                          alpha=alpha, min_effect=min_effect, n_resamples=n_resamples,
                          seed=seed)
    return report.verdicts[0]


def check_claims(
    table: Table,
    claims: Sequence[Claim | str],
    covariates: Sequence[str] | None = None,
    model: MemberModel | str | Path | None = None,
    *,
    alpha: float = 0.10,
    correction: str = "fdr_bh",
    min_effect: float = 0.1,
    power: float = 0.8,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    n_permutations: int = 999,
    seed: int = 0,
) -> ClaimReport:
    """Verdicts on ``claims`` (``"size:+"`` or :class:`Claim`), q-values across them.

    The verdict rule and the correction are the audit's
    (:func:`~embaudit.hypotheses.verdicts.verdict_rule`,
    :func:`~embaudit.hypotheses.multiplicity.holdout_q`), a claim counting as found:

    * survives: q ≤ ``alpha`` in the claimed direction (and, with a model, its axis
      orders attribute and lifespan as claimed at p ≤ ``alpha``);
    * fails: significant in the opposite direction, or the interval lies wholly below
      ``min_effect``;
    * inconclusive otherwise, with the rows that ``power`` would need.

    The claims' attributes are one family each, as in an audit (a categorical
    attribute's omnibus test over all its levels). ``covariates`` (column names;
    default: the table's covariates) make the association partial. With a group column
    in ``table`` the test is cluster-robust (wild cluster bootstrap, ``n_permutations``
    draws) and the interval resamples whole groups. ``model`` is a member of a saved
    audit or the audit's folder (its lead regime's reference member).
    """
    parsed, columns = _parse(table, claims, correction)
    if isinstance(model, str | Path):
        model = load_member(model)
    names = tuple(table.covariates if covariates is None else covariates)
    C = covariate_matrix(table.frame, names, None if table.id is None else table.frame[table.id])
    rows, row_label, predictions, embedding = _rows_to_test(table, model)
    tested, families, claimed = _families(table, parsed, columns)
    direction = np.zeros(len(tested), dtype=int)
    direction[claimed] = [c.direction for c in parsed]
    A = table.attribute_matrix[:, tested][rows]
    with numerical_warnings("the claims' holdout tests"):
        test = lifespan_association(
            table, rows, A, None if C is None else C[rows], families,
            n_resamples=n_resamples, n_permutations=n_permutations,
            max_t=correction == "maxt", confidence=confidence, seed=seed, alpha=alpha)
    resolved = [table.attribute_columns[i].name for i in columns]
    lifespan = table.y[rows] if table.events is None else \
        lifespan_scores(table.lifespan[rows], table.events[rows])  # censoring-aware
    axes = _axis_checks(parsed, resolved, model, embedding, predictions, rows,
                        A[:, claimed], lifespan, C, ranked_lifespan=table.events is None)
    axis_holds = np.ones(len(tested), dtype=bool)
    axis_holds[claimed] = [a[0] is None or a[1] <= alpha for a in axes]
    rule = _Rule(alpha, correction, min_effect, power)
    verdict, q, needed, events_needed = rule.judge(test, direction, families, axis_holds)
    p, effect = test.p_value(direction), test.effect(direction)
    low, high = test.interval(direction)
    achieved = test.power(min_effect, alpha)
    return ClaimReport(tuple(
        ClaimVerdict(
            claim=str(claim), attribute=resolved[i],
            direction="+" if claim.direction > 0 else "-", verdict=verdict[j],
            effect=float(effect[j]), ci_low=float(low[j]), ci_high=float(high[j]),
            p=float(p[j]), q=float(q[j]), power=float(achieved[j]), n=len(rows),
            n_required=None if pd.isna(needed[j]) else int(needed[j]), rows=row_label,
            covariates=names, axis=axes[i][0], p_embedding=axes[i][1],
            r_axis_attribute=axes[i][2], r_axis_lifespan=axes[i][3],
            confidence=test.confidence, target_power=power,
            effect_name=test.effect_name + ("" if table.events is None else ", censored"),
            events=test.events, reason=test.reason(j),
            events_required=None if pd.isna(events_needed[j]) else int(events_needed[j]),
            note=test.notes[j] if test.notes else "",
        ) for i, (claim, j) in enumerate(zip(parsed, claimed, strict=True))), correction)


@dataclass(frozen=True)
class _Rule:
    """The audit's verdict rule and correction, applied to claims (all of them found)."""

    alpha: float
    correction: str
    min_effect: float
    power: float

    def judge(self, test: HoldoutAssociation, direction: np.ndarray, families: np.ndarray,
              axis_holds: np.ndarray) -> tuple[np.ndarray, np.ndarray, pd.arrays.IntegerArray,
                                               pd.arrays.IntegerArray]:
        """Per tested column: verdict, q, and the rows and (censored) failures ``power``
        needs (inconclusive)."""
        included = direction != 0
        q, q_opposite = holdout_q(test, direction, included, families, self.correction,
                                  self.alpha)
        _, high = test.interval(direction)
        verdict = verdict_rule(included, q, q_opposite, high, self.alpha, self.min_effect,
                               axis_holds)
        needed, events = rows_required(verdict, q, included, self.correction, self.alpha,
                                       self.min_effect, self.power, test)
        return verdict, q, needed, events


def _parse(table: Table, claims: Sequence[Claim | str], correction: str
           ) -> tuple[list[Claim], list[int]]:
    """The claims, parsed, and the attribute column each names."""
    parsed = [c if isinstance(c, Claim) else Claim.parse(c) for c in claims]
    if not parsed:
        raise ConfigError("No claims given: pass at least one, e.g. --claim size:+")
    if correction not in CORRECTIONS:
        raise ConfigError(f"correction={correction!r}: use one of {', '.join(CORRECTIONS)}.")
    columns = [attribute_column(table, c.attribute) for c in parsed]
    return parsed, columns


def _rows_to_test(table: Table, model: MemberModel | None
                  ) -> tuple[np.ndarray, str, np.ndarray | None, np.ndarray | None]:
    """The rows a claim is tested on, how they were chosen, and (with a model) the
    member's predictions and embedding of every row: without a model all rows; with one
    only rows the member never trained on."""
    if model is None:
        return np.arange(table.n_rows), "all rows", None, None
    predictions, embedding = model.embed(table)
    rows, label = model.untouched_rows(predictions, embedding)
    if len(rows) < 3:
        raise DataError(f"Only {len(rows)} rows of the data are not rows member "
                        f"{model.member_id} trained on; test the claim on other rows.")
    return rows, label, predictions, embedding


def _families(table: Table, claims: Sequence[Claim], columns: Sequence[int]
              ) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The columns a claim check tests, each one's family code, and each claim's
    position among them.

    A family is an attribute, as in an audit: the claimed columns and every other level
    of a claimed categorical attribute (its omnibus test reads them all). Claims of
    opposite directions on one attribute are separate hypotheses: each direction is a
    family of its own.
    """
    attributes = table.attribute_columns
    keys = list(dict.fromkeys((attributes[c].attribute, claim.direction)
                              for claim, c in zip(claims, columns, strict=True)))
    tested: list[int] = []
    families: list[int] = []
    for code, (attribute, _) in enumerate(keys):
        levels = [i for i, column in enumerate(attributes) if column.attribute == attribute]
        tested += levels
        families += [code] * len(levels)
    claimed = []
    for claim, column in zip(claims, columns, strict=True):
        start = families.index(keys.index((attributes[column].attribute, claim.direction)))
        claimed.append(start + tested[start:].index(column))
    return tested, np.array(families), np.array(claimed)


def _axis_checks(
    claims: Sequence[Claim], names: Sequence[str], model: MemberModel | None,
    embedding: np.ndarray | None,
    predictions: np.ndarray | None, rows: np.ndarray, A: np.ndarray, y: np.ndarray,
    C: np.ndarray | None, ranked_lifespan: bool = True,
) -> list[tuple[int | None, float, float, float]]:
    """Per claim: (axis, p, r(axis, attribute), r(axis, lifespan)) of the model's check.

    The axis is the claim's, else the one the audit discovered for the attribute. The
    sign of r(axis, lifespan) is the audit's for that pairing, else the sign of the axis
    against the member's own predictions (no peek at lifespans); the claim's direction
    then fixes the sign r(axis, attribute) must have.
    """
    nan = float("nan")
    if model is None or embedding is None or predictions is None:
        return [(None, nan, nan, nan)] * len(claims)
    E, predicted = embedding[rows], predictions[rows]
    n_cov = 0 if C is None else C.shape[1]
    out = []
    for i, claim in enumerate(claims):
        discovered = model.discovered(names[i])
        axis = claim.axis if claim.axis is not None else (
            None if discovered is None else discovered[0])
        if axis is None:
            raise ConfigError(f"The audit discovered no axis for {claim.attribute!r} in the "
                              f"{model.regime} regime; name one in the claim, e.g. "
                              f"{claim.attribute}:{'+' if claim.direction > 0 else '-'}@0.")
        if not 0 <= axis < E.shape[1]:
            raise ConfigError(f"Claim {claim}: axis {axis} does not exist; the member's "
                              f"embedding has axes 0–{E.shape[1] - 1}.")
        if discovered is not None and discovered[0] == axis:
            sign_y = discovered[2]
        else:
            sign_y = np.sign(spearman_matrix(E[:, axis], predicted)[0, 0]) or 1.0
        sign_a = claim.direction * sign_y
        covariates = None if C is None else C[rows]
        r = [spearman_matrix(E[:, axis], A[:, i], covariates)[0, 0],
             outcome_correlations(E[:, axis:axis + 1], y, covariates, ranked_lifespan)[0]]
        p = max(spearman_p_positive(sign_a * r[0], len(rows), n_cov),
                spearman_p_positive(sign_y * r[1], len(rows), n_cov))
        out.append((int(axis), float(p), float(r[0]), float(r[1])))
    return out

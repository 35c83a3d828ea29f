"""The regime panel and the Person A vs Person B position.

Per regime: the found hypotheses, how many replicate on the holdout (one-sided p ≤ α
in the claimed direction), and the same rate for the trends that its permutation
networks, fitted to permuted lifespans, found with the same screen (the *null rate*:
how often chance leads replicate). The advantage (rate minus null rate) gets a
bootstrap interval that carries every source of its uncertainty: holdout rows are
resampled (both rates read the same resample: paired), and so are the found trends and
the permutation networks. The comparison is only made where the permutation networks
trained as the reference did (:func:`comparable`); where they did not, as when early
stopping halts them after a few epochs while the reference learns, their trends are no
null for the reference's.

Person A vs B is decided on the lead regime (overfit when audited):

* A: the advantage is significant (one-sided bootstrap p ≤ ``position_alpha``), an
  advantage of ``min_advantage`` is not ruled out, and at least one trend survives;
* B: no trend survives and an advantage of ``min_advantage`` is ruled out (the upper
  end of its interval lies below it);
* undecided otherwise: nothing found (no power to tell), permutation networks not
  comparable, or the evidence in between.

Regimes are compared with the lead on what matters to an analyst: how many of their
trends survive, attribute by attribute (an exact McNemar test of the paired outcomes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from embaudit.config import StatisticsConfig
from embaudit.core.regimes import REGIMES
from embaudit.core.schema import REGIME_COLUMNS, Position
from embaudit.hypotheses.evidence import RegimeEvidence
from embaudit.hypotheses.inference import (
    HoldoutAssociation,
    spearman_p_negative,
    spearman_p_positive,
)
from embaudit.hypotheses.verdicts import RegimeAssessment

#: bootstrap draws of the advantage when the holdout has no resamples of its own
_TREND_RESAMPLES = 2_000


def comparable(members: pd.DataFrame, regime: str) -> bool:
    """Did the regime's permutation networks train as its reference did?

    What counts is the outcome of the regime's own training rule: where it trains to
    the overfit tolerance, the reference and (all but 5% of) its permutation networks
    reached it, or failed it, alike; where it stops early, the reference stopped within
    the range of its permutation networks' epochs (networks fitted to noise stop after
    ``patience`` epochs, while a reference that learns trains on); a linear baseline's
    training loss lies within theirs. Raw screening trains nothing: always comparable.
    """
    spec = REGIMES[regime]
    if not spec.has_embedding:
        return True
    rows = members[members["regime"] == regime]
    reference = rows[rows["kind"] == "reference"]
    null = rows[rows["kind"] == "permutation"]
    if reference.empty or null.empty:
        return False
    if spec.stops_on_training_loss:
        reached = null["reached_target"].astype(bool)
        share = reached.mean() if bool(reference["reached_target"].iloc[0]) else 1 - reached.mean()
        return bool(share >= 0.95)
    column = "epochs" if spec.early_stopping else "train_loss"
    value = reference[column].iloc[0]
    return bool(null[column].min() - 1e-9 <= value <= null[column].max() + 1e-9)


def regime_row(
    evidence: RegimeEvidence,
    assessment: RegimeAssessment,
    holdout: HoldoutAssociation,
    config: StatisticsConfig,
    members: pd.DataFrame,
    seed: int = 0,
) -> dict[str, object]:
    """One row of the regime panel; the comparison with the lead regime is filled in by
    :func:`compare_with_lead`."""
    regime, direction = evidence.regime, evidence.candidates.direction
    found = assessment.found
    null_found = (evidence.null_p_discovery <= config.alpha_discovery) \
        & (evidence.null_direction != 0)
    trends = _Trends(found, direction, null_found, evidence.null_direction, holdout,
                     config.alpha)
    n, k = int(found.sum()), int(trends.replicated[found].sum())
    low, high = proportion_confint(k, n, method="wilson") if n else (np.nan, np.nan)
    advantage, (advantage_low, advantage_high), p = trends.advantage(config.confidence, seed)
    reference = members[(members["regime"] == regime) & (members["kind"] == "reference")]
    flag = reference["no_better_than_linear"].iloc[0] if len(reference) else None
    verdicts = assessment.frame["verdict"]
    row = {
        "regime": regime, "n_candidates": int((direction != 0).sum()), "n_found": n,
        "n_replicated": k, "replication_rate": k / n if n else np.nan,
        "replication_ci_low": float(low), "replication_ci_high": float(high),
        "null_n": int(null_found.sum()), "null_rate": trends.null_rate(),
        "advantage": advantage, "advantage_ci_low": advantage_low,
        "advantage_ci_high": advantage_high, "p_vs_null": p,
        "comparable": comparable(members, regime), "position": "",
        "n_survives": int((verdicts == "survives").sum()),
        "n_fails": int((verdicts == "fails").sum()),
        "holdout_loss": float(reference["holdout_loss"].iloc[0]) if len(reference) else np.nan,
        "no_better_than_linear": None if flag is None or pd.isna(flag) else bool(flag),
        "survives_vs_lead": 0, "p_vs_lead": np.nan,
    }
    return {key: row[key] for key in REGIME_COLUMNS}


class _Trends:
    """The reference's found trends and the permutation networks' (M × q), and whether
    each replicates on the holdout, observed and per holdout resample."""

    def __init__(self, found: np.ndarray, direction: np.ndarray, null_found: np.ndarray,
                 null_direction: np.ndarray, holdout: HoldoutAssociation, alpha: float
                 ) -> None:
        self.replicated = holdout.p_value(direction) <= alpha
        self.null_replicated = holdout.p_value(null_direction) <= alpha
        self.columns = np.flatnonzero(found)
        self.signs = direction[self.columns]
        self.null_found, self.null_direction = null_found, null_direction
        self.draws = _replication_draws(holdout, alpha)

    def null_rate(self) -> float:
        n = self.null_found.sum()
        return float((self.null_found & self.null_replicated).sum() / n) if n else np.nan

    def advantage(self, confidence: float, seed: int) -> tuple[float, tuple[float, float],
                                                                 float]:
        """Observed advantage, its bootstrap interval, and the one-sided p of ≤ 0."""
        if not len(self.columns) or not self.null_found.any():
            return np.nan, (np.nan, np.nan), np.nan
        observed = self.replicated[self.columns].mean() - self.null_rate()
        rng = np.random.default_rng(seed)
        n_draws = _TREND_RESAMPLES if self.draws is None else len(self.draws)
        # rows: holdout resamples; the reference's trends and the null networks drawn too
        trend = rng.integers(len(self.columns), size=(n_draws, len(self.columns)))
        network = rng.integers(len(self.null_found), size=(n_draws, len(self.null_found)))
        reference, null = self._replicates()
        reference = np.take_along_axis(reference, trend, axis=1).mean(axis=1)
        found = self.null_found[network]  # (draws, M, q)
        hits = (np.take_along_axis(null, network[:, :, None], axis=1) & found).sum((1, 2))
        rates = np.divide(hits, found.sum((1, 2)), out=np.full(n_draws, np.nan),
                          where=found.sum((1, 2)) > 0)
        differences = reference - rates
        differences = differences[np.isfinite(differences)]
        tail = (1 - confidence) / 2 * 100
        low, high = np.percentile(differences, [tail, 100 - tail])
        p = (1 + (differences <= 0).sum()) / (len(differences) + 1)
        return float(observed), (float(low), float(high)), float(p)

    def _replicates(self) -> tuple[np.ndarray, np.ndarray]:
        """Replication per draw: the reference's found trends (draws × n) and every null
        network's column in its own direction (draws × M × q)."""
        if self.draws is None:  # no holdout resamples: the observed replication
            return (np.broadcast_to(self.replicated[self.columns], (_TREND_RESAMPLES,
                                                                    len(self.columns))),
                    np.broadcast_to(self.null_replicated, (_TREND_RESAMPLES,
                                                           *self.null_replicated.shape)))
        reference = self.draws[:, self.columns, (self.signs < 0).astype(int)]
        null = np.where(self.null_direction[None] > 0, self.draws[:, None, :, 0],
                        self.draws[:, None, :, 1])
        return reference, null


def _replication_draws(holdout: HoldoutAssociation, alpha: float) -> np.ndarray | None:
    """Per holdout resample and column, whether a trend claimed positive / negative
    replicates there: (B, q, 2) booleans, or None without resamples."""
    if holdout.resampled is None:
        return None
    rho = np.nan_to_num(holdout.resampled)
    return np.stack([spearman_p_positive(rho, holdout.n, holdout.n_covariates) <= alpha,
                     spearman_p_negative(rho, holdout.n, holdout.n_covariates) <= alpha],
                    axis=-1)


def mcnemar_p(first: np.ndarray, second: np.ndarray) -> float:
    """Exact two-sided McNemar p of paired binary outcomes (e.g. survives per attribute
    in two regimes): a binomial test of the discordant pairs."""
    only_first = int((first & ~second).sum())
    only_second = int((~first & second).sum())
    if only_first + only_second == 0:
        return 1.0
    return float(stats.binomtest(only_first, only_first + only_second, 0.5).pvalue)


def compare_with_lead(rows: list[dict[str, object]], survives: dict[str, np.ndarray],
                      lead: str) -> None:
    """Fill each row's comparison with the lead regime in place."""
    for row in rows:
        regime = str(row["regime"])
        row["survives_vs_lead"] = int(survives[regime].sum() - survives[lead].sum())
        row["p_vs_lead"] = mcnemar_p(survives[lead], survives[regime]) \
            if regime != lead else np.nan


def decide_position(row: dict[str, object], members: pd.DataFrame, n_permutations: int,
                    n_holdout: int, config: StatisticsConfig) -> Position:
    """Which camp the lead regime's evidence supports, in words that quote the numbers
    (rules in the module docstring). ``Position.p_value`` is the p of the test that
    decided (the bootstrap p of the advantage), NaN when nothing did."""
    regime = str(row["regime"])
    n, k = int(row["n_found"]), int(row["n_replicated"])
    survivors = int(row["n_survives"])
    source = f"the {regime} embedding" if REGIMES[regime].has_embedding \
        else "raw screening (no embedding)"
    margin = config.min_advantage
    level = f"{config.confidence:.0%}"

    def position(label: str, text: str, p: float = float("nan")) -> Position:
        return Position(label, text, regime=regime, p_value=p)

    if not row["comparable"]:
        return position("undecided", (
            f"The data cannot settle it on {source}: its {n_permutations} permutation "
            f"networks did not train as its reference did ({_training(members, regime)}), "
            "so the trends they find are no null for the reference's."))
    if n == 0:
        return position("undecided", (
            f"The data cannot settle it: no attribute trend read off {source} passed the "
            f"discovery screen (of {row['n_candidates']} candidates), so nothing was left to "
            "test on the holdout (no power). More rows would decide."))
    low, high = float(row["advantage_ci_low"]), float(row["advantage_ci_high"])
    p = float(row["p_vs_null"])
    numbers = (
        f"{n} of {row['n_candidates']} attribute trends read off {source} passed the "
        f"discovery screen; {k} of {n} replicated on the {n_holdout} held-out rows "
        f"({_percent(k / n)}) against {_percent(float(row['null_rate']))} of the "
        f"{row['null_n']} trends that {n_permutations} networks fitted to permuted lifespans "
        f"found (advantage {_points(float(row['advantage']))}, {level} CI "
        f"{_points(low)} to {_points(high)}, bootstrap p = {p:.3g}); {survivors} "
        f"survive{'s' if survivors == 1 else ''} the holdout's multiplicity control")
    if p <= config.position_alpha and high >= margin and survivors:
        return position("A", f"The data support A: trends read off {source} are useful "
                        f"leads. {numbers}.", p)
    if not survivors and high < margin:
        return position("B", f"The data support B: trends read off {source} describe the "
                        f"training set. {numbers}; an advantage of {_points(margin)} over "
                        "chance leads is ruled out.", p)
    if p <= config.position_alpha and high < margin:
        reason = (f"the found trends beat chance leads, but an advantage of "
                  f"{_points(margin)} is ruled out")
    else:
        reason = ("the found trends neither replicate significantly more often than chance "
                  "leads nor are shown to fall short of a useful margin; more held-out rows "
                  "would decide")
    return position("undecided", f"The data cannot settle it yet: {reason}. {numbers}.", p)


def best_leads(rows: Sequence[dict[str, object]], lead: str, significance: float = 0.05
               ) -> str:
    """The sentence that says which regime gives the best leads, and by how much:
    surviving trends compared attribute by attribute with the lead regime (a regime
    with more is called the best only when its McNemar p ≤ ``significance``)."""
    by_name = {str(r["regime"]): r for r in rows}
    if lead not in by_name or len(rows) < 2:
        return ""
    first = by_name[lead]
    best = max(rows, key=lambda r: (int(r["n_survives"]), _rate(r), r["regime"] == lead))
    others = "; ".join(
        f"{r['regime']} {r['n_survives']} (McNemar p = {float(r['p_vs_lead']):.2g})"
        for r in rows if r["regime"] != lead)
    if best["regime"] == lead or int(best["n_survives"]) == int(first["n_survives"]):
        return (f"No regime gives more surviving trends than {lead} ({first['n_survives']}, "
                f"{_percent(_rate(first))} of its found trends replicated); surviving trends "
                f"in the others: {others}.")
    difference = int(best["n_survives"]) - int(first["n_survives"])
    p = float(best["p_vs_lead"])
    counts = (f"{best['n_survives']} surviving trends against {first['n_survives']} for "
              f"{lead} ({difference:+d}, exact McNemar p = {p:.2g})")
    rates = (f"{_percent(_rate(best))} of its found trends replicated against "
             f"{_percent(_rate(first))}. Surviving trends per regime: {lead} "
             f"{first['n_survives']}; {others}.")
    if p <= significance:
        return f"{_name(str(best['regime']))} gives the best leads on this data set: " \
            f"{counts}; {rates}"
    return (f"{_name(str(best['regime']))} gives the most surviving trends on this data "
            f"set, {counts}, but the difference is not significant: no regime is shown to "
            f"give better leads than {lead}. {rates}")


def _rate(row: dict[str, object]) -> float:
    rate = float(row["replication_rate"])
    return rate if np.isfinite(rate) else -1.0


def _name(regime: str) -> str:
    return f"The {regime} regime" if REGIMES[regime].has_embedding \
        else "Raw screening (no embedding)"


def _training(members: pd.DataFrame, regime: str) -> str:
    rows = members[members["regime"] == regime]
    reference = rows[rows["kind"] == "reference"]
    null = rows[rows["kind"] == "permutation"]
    if reference.empty or null.empty:
        return "no permutation networks were trained"
    if REGIMES[regime].stops_on_training_loss:
        reached = "reached" if bool(reference["reached_target"].iloc[0]) else "did not reach"
        return (f"the reference {reached} the overfit tolerance; "
                f"{int(null['reached_target'].astype(bool).sum())} of {len(null)} "
                "permutation networks did")
    return (f"reference {int(reference['epochs'].iloc[0])} epochs, training loss "
            f"{reference['train_loss'].iloc[0]:.2f}; permutation networks "
            f"{int(null['epochs'].min())}–{int(null['epochs'].max())} epochs, "
            f"{null['train_loss'].min():.2f}–{null['train_loss'].max():.2f}")


def _percent(value: float) -> str:
    return "n/a" if not np.isfinite(value) or value < 0 else f"{100 * value:.0f}%"


def _points(value: float) -> str:
    """A difference of rates in percentage points."""
    return "n/a" if not np.isfinite(value) else f"{100 * value:+.0f} points"

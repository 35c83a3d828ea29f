"""Result objects: tidy DataFrames with a statsmodels-style ``summary()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from embaudit.config import AuditConfig
from embaudit.data.table import Table
from embaudit.resampling.plans import Split

PositionLabel = Literal["A", "B", "undecided"]

#: columns of ``AuditResult.hypotheses``, one row per (regime, attribute column)
HYPOTHESIS_COLUMNS = (
    "regime",  # overfit | regularized | raw
    "attribute",  # encoded name: "size", "colour=red"
    "source_attribute",  # the table column: "colour"
    "kind",  # numeric | binary | categorical
    "axis",  # embedding axis carrying the trend (<NA> for raw screening)
    "direction",  # "+" | "-": claimed sign of the attribute-lifespan association
    "strength",  # T = |r_axis_attribute * r_axis_lifespan| (raw: |Spearman(a, y)|)
    "r_axis_attribute",  # discovery rows
    "r_axis_lifespan",  # discovery rows
    "r_axis_attribute_ci_low",  # percentile interval across aligned bootstrap members
    "r_axis_attribute_ci_high",
    "r_axis_lifespan_ci_low",
    "r_axis_lifespan_ci_high",
    "p_discovery",  # permutation null with retraining
    "p_discovery_maxt",  # Westfall-Young max-T adjusted
    "found",  # p_discovery <= alpha_discovery
    "effect_holdout",  # Spearman(a, y) on the holdout, signed in the claimed direction
    "ci_low",  # bootstrap percentile interval of effect_holdout
    "ci_high",
    "p_holdout",  # one-sided, claimed direction
    "q_holdout",  # multiplicity-adjusted within the regime (BH, BY, Holm or max-T)
    "r_axis_attribute_holdout",  # embedding-level check on the holdout
    "r_axis_lifespan_holdout",
    "p_embedding",
    "sign_consistency",  # across aligned bootstrap members
    "selection_frequency",  # bootstrap members where this axis is the attribute's best
    "oob_replication",  # bootstrap members whose out-of-bag rows show the trend (p ≤ α)
    "n_holdout",
    "n_required",  # holdout rows 80% power would need (inconclusive only)
    "verdict",  # survives | fails | inconclusive
)
#: columns audit() adds after these: "truth" ("+", "-", "0") for worlds with planted truth

#: columns of ``AuditResult.regimes``: the Person A vs Person B comparison
REGIME_COLUMNS = (
    "regime",
    "n_candidates",
    "n_hypotheses",  # found: beat the permutation null
    "n_replicated",
    "replication_rate",
    "replication_ci_low",
    "replication_ci_high",
    "null_rate",  # replication rate of the trends permutation networks found
    "null_n",  # how many trends the permutation networks found
    "p_vs_null",  # Monte Carlo rank test of the found-and-replicated count
    "n_survives",
)


@dataclass(frozen=True)
class Position:
    """Which camp the data support, with the numbers behind it."""

    position: PositionLabel
    summary: str
    regime: str = "overfit"
    p_value: float = float("nan")


@dataclass(frozen=True, eq=False)
class AuditResult:
    """Everything an audit found. DataFrames are tidy; see the column tuples above."""

    config: AuditConfig
    table: Table = field(repr=False)
    split: Split = field(repr=False)
    hypotheses: pd.DataFrame = field(repr=False)
    regimes: pd.DataFrame = field(repr=False)
    position: Position
    null_strengths: pd.DataFrame = field(repr=False)  # regime, attribute, member_id, strength
    members: pd.DataFrame = field(repr=False)  # training diagnostics + alignment per member
    curves: pd.DataFrame = field(repr=False)  # member_id, epoch, train_loss, validation_loss
    embeddings: dict[str, np.ndarray] = field(repr=False)  # regime -> reference (n × h)
    truth: dict[str, str] | None = None
    #: attributes without any trend to test, per regime: regime, attribute, reason
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["regime", "attribute", "reason"], dtype="string"), repr=False)
    versions: dict[str, str] = field(default_factory=dict)
    #: K-fold cross-fit, one row per (regime, fold, attribute): see ``CROSSFIT_COLUMNS``
    crossfit: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def crossfit_summary(self) -> pd.DataFrame:
        """Per regime: the mean replication rate across folds, its spread, and per
        attribute how many folds replicated it (empty without cross-fit)."""
        from embaudit.hypotheses.crossfit import attribute_agreement, crossfit_summary

        if self.crossfit.empty:
            return pd.DataFrame()
        agreement = attribute_agreement(self.crossfit)
        stable = agreement.groupby("regime", sort=False)["folds_replicated"].agg(
            attributes_replicated_in_every_fold=lambda s: int(
                (s == self.config.split.crossfit_folds).sum()))
        return crossfit_summary(self.crossfit).merge(stable.reset_index(), on="regime")

    def to_frame(self) -> pd.DataFrame:
        """The hypotheses table (a copy)."""
        return self.hypotheses.copy()

    def surviving(self, regime: str = "overfit") -> pd.DataFrame:
        """Hypotheses of ``regime`` whose verdict is ``survives``."""
        h = self.hypotheses
        return h[(h["regime"] == regime) & (h["verdict"] == "survives")].copy()

    def summary(self) -> str:
        """Plain-text summary: the verdict first, then the regimes, then the hypotheses."""
        width = 78
        lines = ["=" * width, "embaudit audit".center(width), "=" * width]
        lines += [
            f"Rows: {self.table.n_rows} (discovery {len(self.split.discovery)}, "
            f"holdout {len(self.split.holdout)})   Features: {len(self.table.features)}   "
            f"Attributes: {len(self.table.attributes)}",
            f"Position: {self.position.position}",
            *_wrap(self.position.summary, width),
            "-" * width,
        ]
        regimes = self.regimes[["regime", "n_hypotheses", "n_replicated", "replication_rate",
                                "null_rate", "p_vs_null", "n_survives"]]
        lines += [regimes.to_string(index=False, float_format=lambda v: f"{v:.3f}"), "-" * width]
        cols = ["regime", "attribute", "axis", "direction", "strength", "p_discovery",
                "effect_holdout", "q_holdout", "sign_consistency", "verdict"]
        lines += [self.hypotheses[cols].to_string(index=False,
                                                  float_format=lambda v: f"{v:.3f}")]
        if not self.crossfit.empty:
            lines += ["-" * width, "Cross-fit replication (rate per fold: mean, sd)",
                      self.crossfit_summary().to_string(index=False,
                                                        float_format=lambda v: f"{v:.3f}")]
        lines.append("=" * width)
        return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)

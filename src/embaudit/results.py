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
    "regime",  # see embaudit.core.regimes
    "attribute",  # encoded name: "size", "colour=red"
    "source_attribute",  # the table column: "colour"
    "kind",  # numeric | binary | categorical
    "axis",  # embedding axis carrying the trend (<NA> for raw screening)
    "direction",  # "+" | "-": claimed sign of the attribute-lifespan association
    "strength",  # T = |r_axis_attribute * r_axis_lifespan| (raw: |Spearman(a, y)|)
    "r_axis_attribute",  # discovery rows
    "r_axis_lifespan",  # discovery rows
    "r_axis_attribute_ci_low",  # across aligned bootstrap networks, centred on the estimate
    "r_axis_attribute_ci_high",
    "r_axis_lifespan_ci_low",
    "r_axis_lifespan_ci_high",
    "p_carried",  # screen: T against the attribute permuted on the discovery rows
    "p_association",  # screen: Spearman(a, y) on the discovery rows, two-sided
    "p_discovery",  # screen: max of the two (Bonferroni over a categorical's levels)
    "found",  # p_discovery <= alpha_discovery and the association has the claimed sign
    "p_retrained",  # T against networks retrained on permuted lifespans (overfitting)
    "p_retrained_maxt",  # its Westfall-Young max-T adjustment across attributes
    "effect_holdout",  # Spearman(a, y) on the holdout, signed in the claimed direction
    "ci_low",  # bootstrap percentile interval of effect_holdout
    "ci_high",
    "p_holdout",  # one-sided, claimed direction
    "q_holdout",  # over the found hypotheses of the regime, one family per attribute
    "r_axis_attribute_holdout",  # embedding-level check on the holdout
    "r_axis_lifespan_holdout",
    "p_embedding",
    "sign_consistency",  # aligned bootstrap networks, out-of-bag rows (descriptive)
    "selection_frequency",  # bootstrap networks where this axis is the attribute's best
    "oob_replication",  # bootstrap networks whose out-of-bag rows show the trend (p ≤ α)
    "n_holdout",
    "n_required",  # holdout rows that detect min_effect with the set power (inconclusive)
    "verdict",  # survives | fails | inconclusive | not found
)
#: columns audit() adds after these: "truth" ("+", "-", "0") for worlds with planted truth

#: columns of ``AuditResult.regimes``: the regime panel and the Person A vs B comparison
REGIME_COLUMNS = (
    "regime",
    "n_candidates",  # attribute columns with a trend to test
    "n_found",  # passed the discovery screen
    "n_replicated",  # found, and one-sided holdout p ≤ α
    "replication_rate",
    "replication_ci_low",  # Wilson interval
    "replication_ci_high",
    "null_n",  # trends the permutation networks found (the same screen, their lifespans)
    "null_rate",  # their replication rate on the holdout: chance leads
    "advantage",  # replication_rate - null_rate
    "advantage_ci_low",  # bootstrap over holdout rows, found trends and null networks
    "advantage_ci_high",
    "p_vs_null",  # one-sided bootstrap p of advantage ≤ 0
    "comparable",  # the permutation networks trained like the reference (exchangeable)
    "position",  # A | B | undecided, as if this regime were the lead
    "n_survives",
    "n_fails",
    "holdout_loss",  # of the reference, in units of the target variance
    "no_better_than_linear",  # the reference loses to a ridge fit on the same rows
    "survives_vs_lead",  # n_survives minus the lead regime's
    "p_vs_lead",  # exact McNemar test of survives per attribute against the lead regime
)


@dataclass(frozen=True)
class Position:
    """Which camp the data support, with the numbers behind it."""

    position: PositionLabel
    summary: str
    regime: str = "overfit"
    p_value: float = float("nan")
    #: which regime gives the best leads on the data, and by how much
    comparison: str = ""


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
        lines += _wrap(self.position.comparison, width)
        lines.append("-" * width)
        regimes = self.regimes[["regime", "n_found", "n_replicated", "replication_rate",
                                "null_rate", "p_vs_null", "comparable", "n_survives",
                                "p_vs_lead"]]
        lines += [regimes.to_string(index=False, float_format=lambda v: f"{v:.3f}"), "-" * width]
        cols = ["regime", "attribute", "axis", "direction", "strength", "p_discovery",
                "found", "effect_holdout", "q_holdout", "verdict"]
        lines += [self.hypotheses[cols].to_string(index=False,
                                                  float_format=lambda v: f"{v:.3g}")]
        if not self.crossfit.empty:
            lines += ["-" * width, "Cross-fit replication (rate per fold: mean, sd)",
                      self.crossfit_summary().to_string(index=False,
                                                        float_format=lambda v: f"{v:.3f}")]
        lines.append("=" * width)
        return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)

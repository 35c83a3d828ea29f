"""What an audit's results hold: the column schemas of its tables, the verdicts a
hypothesis can get, and the position it takes. Every layer that writes or reads these
tables names their columns from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: a hypothesis's verdict (claim checks give the first three: a claim is never screened)
Verdict = Literal["survives", "fails", "inconclusive", "not found"]
VERDICTS: tuple[Verdict, ...] = ("survives", "fails", "inconclusive", "not found")

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
    regime: str
    p_value: float = float("nan")
    #: which regime gives the best leads on the data, and by how much
    comparison: str = ""

#: columns of ``AuditResult.crossfit``, one row per (regime, fold, attribute)
CROSSFIT_COLUMNS = ("regime", "fold", "attribute", "axis", "direction", "strength",
                    "effect_holdout", "p_holdout", "replicated", "n_holdout")
#: columns of ``AuditResult.crossfit_agreement``, one row per (regime, attribute)
AGREEMENT_COLUMNS = ("regime", "attribute", "direction", "folds_claimed", "folds_same_direction",
                     "folds_replicated")

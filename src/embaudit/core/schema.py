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
    "read",  # the analysts' reading: p_carried (Bonferroni over a categorical's levels)
    # <= alpha_discovery (<NA> for raw screening)
    "p_association",  # screen: Spearman(a, y) on the discovery rows, two-sided
    "p_discovery",  # screen: max of the two (Bonferroni over a categorical's levels)
    "found",  # p_discovery <= alpha_discovery and the association has the claimed sign
    "p_retrained",  # T against networks retrained on permuted lifespans (overfitting)
    "p_retrained_maxt",  # its Westfall-Young max-T adjustment across attributes
    "effect_holdout",  # Spearman(a, y) on the holdout, signed in the claimed direction;
    # censored lifespans: Somers' D (log hazard ratio per SD, negated, given covariates)
    "ci_low",  # its interval: bootstrap percentile; censored: from the test's own error
    "ci_high",
    "p_holdout",  # one-sided, claimed direction
    "q_holdout",  # over the found hypotheses of the regime, one family per attribute
    "r_axis_attribute_holdout",  # embedding-level check on the holdout
    "r_axis_lifespan_holdout",
    "p_embedding",
    "axis_generalizes",  # p_embedding <= alpha: the axis still orders both on the holdout
    "q_reading",  # holdout q over the regime's readings, one family per attribute
    "replicates",  # read, and q_reading <= alpha (<NA> for raw screening)
    "sign_consistency",  # aligned bootstrap networks, out-of-bag rows (descriptive)
    "selection_frequency",  # bootstrap networks where this axis is the attribute's best
    "oob_replication",  # bootstrap networks whose out-of-bag rows show the trend (p ≤ α)
    "n_holdout",
    "n_required",  # holdout rows that detect min_effect with the set power (inconclusive)
    "events_required",  # censored lifespans: the failures that needs (what power rests on)
    "holdout_note",  # why the holdout could not test it, or how (a penalized Cox fit)
    "verdict",  # survives | fails | inconclusive | not found
    "explained_by",  # a survivor explained by another survivor (a proxy): its name
)
#: columns audit() adds after these: "truth" ("+", "-", "0") for worlds with planted truth

#: columns of ``AuditResult.regimes``: the three procedures per regime and Person A vs B
REGIME_COLUMNS = (
    "regime",
    "n_candidates",  # attribute columns with a trend to read off the reference
    # reading (the analysts' method), on the reference network
    "n_read",  # readings kept: the axis carries the attribute beyond chance
    "n_read_replicated",  # of them, holdout q <= alpha over the readings
    "n_axes_generalized",  # of them, the axis still orders attribute and lifespan (holdout)
    # screened (embaudit's screen) and direct (no network)
    "n_found",  # readings that also pass the discovery-row association test
    "n_survives",  # found, and holdout q <= alpha: the verdict
    "n_fails",
    "n_distinct",  # survivors not explained by another survivor
    "n_direct_leads",  # screening the attributes directly (no network): its survivors
    "n_only_axis",  # replicated readings the direct screen did not find
    "n_axis_lost",  # direct leads without a reading in their direction
    # Person A vs B: the readings of every network, on the holdout
    "reading_networks",  # networks fitted to the real lifespans with a reading
    "read_effect",  # their readings' mean holdout effect in the claimed direction
    "read_effect_low",  # interval at `confidence` (holdout rows and networks)
    "read_effect_high",
    "null_networks",  # permutation networks (fitted to permuted lifespans) with a reading
    "null_effect",  # the same for their readings: chance readings
    "advantage",  # read_effect - null_effect
    "advantage_low",  # one-sided bounds at position_alpha: the ones the position uses
    "advantage_high",
    "p_advantage",  # one-sided p of advantage <= 0
    "rows_to_decide",  # holdout rows at which the position decides with the set power
    "axes_generalized",  # share of readings whose axis generalizes, mean over networks
    "comparable",  # the permutation networks trained like the reference (exchangeable)
    "position",  # A | B | undecided, as if this regime were the lead
    "holdout_loss",  # of the reference, in units of the target variance
    "no_better_than_linear",  # the reference loses to a ridge fit on the same rows
    # against the lead regime (intervals at `confidence`)
    "effect_vs_lead",  # read_effect minus the lead's
    "effect_vs_lead_low",
    "effect_vs_lead_high",
    "axes_vs_lead",  # axes_generalized minus the lead's
    "axes_vs_lead_low",
    "axes_vs_lead_high",
)


@dataclass(frozen=True)
class Position:
    """Which camp the data support, with the numbers behind it."""

    position: PositionLabel
    summary: str
    regime: str
    p_value: float = float("nan")
    #: the regimes compared on their readings, holdout loss and the linear flag
    comparison: str = ""
    #: the three procedures (reading, screened, direct) with their numbers
    procedures: str = ""
    #: what the network added over screening the attributes directly
    network: str = ""
    #: whether rows were taken as independent, and any evidence that they are not
    independence: str = ""

    def paragraphs(self) -> list[str]:
        """The verdict in reading order: the decision, the three procedures, what the
        network added, the rows' independence, the regimes compared."""
        return [text for text in (self.summary, self.procedures, self.network,
                                  self.independence, self.comparison) if text]

    def __str__(self) -> str:
        return "\n\n".join(self.paragraphs())

    def __repr__(self) -> str:
        p = None if self.p_value != self.p_value else float(f"{self.p_value:.3g}")
        return f"<Position {self.position!r} regime={self.regime!r} p={p}>"

    def _repr_html_(self) -> str:
        import html

        return "".join(f"<p>{html.escape(text)}</p>" for text in self.paragraphs())

#: columns of ``AuditResult.crossfit``, one row per (regime, fold, attribute)
CROSSFIT_COLUMNS = ("regime", "fold", "attribute", "axis", "direction", "strength",
                    "effect_holdout", "p_holdout", "replicated", "n_holdout")
#: columns of ``AuditResult.crossfit_agreement``, one row per (regime, attribute)
AGREEMENT_COLUMNS = ("regime", "attribute", "direction", "folds_claimed", "folds_same_direction",
                     "folds_replicated")

"""Column labels: what a reader sees in each table header of the HTML and Markdown
reports, for the report.json key (or keys) the column shows.

One map for every table, so a key reads the same wherever it appears; the key itself
stays one hover away (the HTML header's tooltip) and in the Markdown report's list of
keys. A key without a label shows as itself, and the report tests fail on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: report.json key → the column's header, written for a reader
LABELS: dict[str, str] = {
    # shared
    "regime": "regime",
    "attribute": "attribute",
    "kind": "kind",
    "axis": "axis",
    "direction": "direction",
    "reason": "reason",
    "optimizer": "optimizer",
    # hypotheses
    "strength": "discovery strength",
    "r_axis_attribute": "r(axis, attribute)",
    "r_axis_lifespan": "r(axis, lifespan)",
    "p_carried": "p (axis carries it)",
    "read": "read",
    "p_association": "p (association)",
    "p_discovery": "p (discovery)",
    "found": "found",
    "p_retrained": "p (retrained null)",
    "effect_holdout": "holdout effect",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "p_holdout": "p (holdout)",
    "q_holdout": "q (holdout)",
    "q_reading": "q (reading)",
    "replicates": "replicates",
    "p_embedding": "p (axis on holdout)",
    "axis_generalizes": "axis generalizes",
    "sign_consistency": "sign consistency",
    "selection_frequency": "selection frequency",
    "oob_replication": "out-of-bag replication",
    "n_holdout": "holdout rows",
    "n_required": "rows needed",
    "events_required": "failures needed",
    "holdout_note": "holdout note",
    "verdict": "verdict",
    "explained_by": "explained by",
    "truth": "truth",
    # regime panel
    "n_read": "readings",
    "n_read_replicated": "replicated",
    "n_axes_generalized": "axes generalize",
    "n_found": "found",
    "n_survives": "survive",
    "n_distinct": "distinct",
    "n_direct_leads": "direct leads",
    "n_only_axis": "only by axis",
    "n_axis_lost": "lost by axis",
    "read_effect": "readings' effect",
    "null_effect": "chance effect",
    "advantage": "advantage",
    "p_advantage": "p (advantage)",
    "axes_generalized": "share of axes generalizing",
    "comparable": "nulls trained alike",
    "position": "position",
    "holdout_loss": "holdout loss",
    "no_better_than_linear": "no better than linear",
    "effect_vs_lead": "effect vs lead",
    "axes_vs_lead": "axes vs lead",
    # training diagnostics (medians over the members of a regime and kind)
    "n_members": "members",
    "n_reached_target": "reached target",
    "n_no_better_than_linear": "no better than linear",
    "median_train_loss": "training loss",
    "median_validation_loss": "validation loss",
    "median_holdout_loss": "holdout loss",
    "median_ridge_holdout_loss": "ridge holdout loss",
    "median_epochs": "epochs",
    "median_dead_units": "dead units",
    "median_effective_rank": "effective rank",
    "median_disparity": "disparity",
    "median_protest_p": "PROTEST p",
    "median_cka": "CKA",
    # claims ledger
    "number": "#",
    "checked_at": "checked at",
    "claim": "claim",
    "n": "rows",
    "effect": "effect",
    "p": "p",
    "level": "level",
    "wealth": "error budget left",
    "decision": "decision",
    "seen_in_report": "seen in a report",
    # cross-fit
    "crossfit_rate": "replication rate",
    "crossfit_rate_sd": "rate SD",
    "crossfit_folds": "folds",
    "attributes_replicated_in_every_fold": "replicated in every fold",
    "folds_claimed": "folds claiming it",
    "folds_same_direction": "folds agreeing on direction",
    "folds_replicated": "folds replicating it",
    # loss landscape
    "n_points": "points",
    "n_minima": "minima",
    "train_loss": "training loss",
    "lambda_max_canonical": "λ_max (canonical)",
    "trace_canonical": "trace (canonical)",
    "gradient_norm": "gradient norm",
    "barrier_to_reference": "barrier to reference",
    "replication_rate": "replication",
    "basin_sizes": "basin sizes",
    "n_sequence_basins": "monotonic basins",
    "share_p": "p (share)",
    "gate_gain": "gate gain",
    "gate_p": "p (gate)",
    "gain": "ensemble gain",
    "random_p": "p (vs random)",
    "predictor": "measure",
    "transform": "transform",
    "n_hypotheses": "hypotheses",
    "clustered_by": "clustered by",
    "n_clusters": "clusters",
    "coefficient": "coefficient",
    "p_value": "p",
    "p_holm": "p (Holm)",
    # how the members were computed (the manifest)
    "path": "training path",
    "device": "device",
    "blas": "BLAS",
    "threads": "threads",
    "mkl_cbwr": "MKL_CBWR",
    "deterministic": "deterministic algorithms",
    "torch": "torch",
    "regimes": "regimes",
    "members": "members",
    "chunks": "chunks",
}

#: a header that is a key as written in report.json, not words
SNAKE_CASE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")


@dataclass(frozen=True)
class Header:
    """A column's header: its label, and the report.json keys it shows (the tooltip)."""

    label: str
    keys: tuple[str, ...]

    @property
    def key(self) -> str:
        """The keys as the tooltip and the Markdown key list give them: one key, or an
        estimate with its interval as ``key [low, high]``."""
        if len(self.keys) == 3:
            return f"{self.keys[0]} [{self.keys[1]}, {self.keys[2]}]"
        return ", ".join(self.keys)


def label(key: str) -> str:
    """The header of ``key`` (the key itself when it has no label: a test fails then)."""
    return LABELS.get(key, key)


def header(key: str) -> Header:
    """The header of a column that shows one key."""
    return Header(label(key), (key,))


def interval_header(key: str, low: str, high: str, interval: str) -> Header:
    """The header of an estimate with its interval in one cell, e.g. "advantage [90% CI]"."""
    return Header(f"{label(key)} [{interval}]", (key, low, high))


def unlabeled(keys: Iterable[str]) -> list[str]:
    """The keys of ``keys`` without a label."""
    return [k for k in keys if k not in LABELS]

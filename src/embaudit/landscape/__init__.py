"""Loss-landscape diagnostics of an audit's minima, and the optimizer study.

Reads trained members (their weights and embeddings) and writes tables; training and
statistics never import it. :func:`analyze_landscape` runs everything: per minimum its
depth, sharpness (λ_max, λ_min at the trained and at the canonical, rescaling-proof
point; the Hutch++ trace at the canonical point), per pair the barriers along the
straight line (before and after matching hidden units) and along a fitted Fourier path,
basins and the weights they conserve, specialisation, a kernel-PCA map of the minima,
the comparison of optimizers, and whether the geometry of a minimum predicts that the
hypotheses read off it replicate on the holdout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from embaudit.config import LandscapeConfig
from embaudit.core.members import Split
from embaudit.landscape.comparison import optimizer_comparison, replication_association
from embaudit.landscape.study import LandscapeResult, MinimaGroup, study_landscape

__all__ = ["LANDSCAPE_TABLES", "Landscape", "MinimaGroup", "analyze_landscape"]


@dataclass(frozen=True, eq=False)
class Landscape:
    """Every table of the landscape (columns in ``docs/store.md``)."""

    members: pd.DataFrame = field(repr=False)  # per minimum
    pairs: pd.DataFrame = field(repr=False)  # per pair of minima of one group
    basins: pd.DataFrame = field(repr=False)  # per group: basins and specialisation
    features: pd.DataFrame = field(repr=False)  # per group (or basin) and input feature
    paths: pd.DataFrame = field(repr=False)  # loss along one shown pair's two paths
    linkage: pd.DataFrame = field(repr=False)  # single-linkage merges per group
    optimizers: pd.DataFrame = field(repr=False)  # per regime and optimizer, with intervals
    association: pd.DataFrame = field(repr=False)  # geometry vs replication

    def headline(self) -> str:
        """One sentence: does the sharpness of a minimum predict that the hypotheses
        read off it replicate?"""
        row = self.association.set_index("predictor").loc["lambda_max_canonical"]
        if not np.isfinite(row["coefficient"]):
            return ("Landscape: whether sharper minima give hypotheses that replicate less "
                    f"often cannot be tested here ({row['reason']}; "
                    f"{int(row['n_minima'])} minima).")
        said = ("less" if row["coefficient"] < 0 else "more") if \
            row["ci_low"] > 0 or row["ci_high"] < 0 else None
        numbers = (f"log-odds {row['coefficient']:+.2f} per within-group sd of log "
                   "canonical λ_max, "
                   f"interval {row['ci_low']:+.2f} to {row['ci_high']:+.2f}, "
                   f"p = {row['p_value']:.2g}; {int(row['n_minima'])} minima, "
                   f"{int(row['n_hypotheses'])} hypotheses")
        if said is None:
            return f"Landscape: no evidence that, within a regime and optimizer, sharper " \
                   f"minima give hypotheses that replicate less or more often ({numbers})."
        return f"Landscape: within a regime and optimizer, hypotheses read off sharper " \
               f"minima replicate {said} often ({numbers})."

    def summary(self) -> str:
        """Plain text: the headline, the comparison per regime and optimizer, the tests."""
        columns = ["regime", "optimizer", "n_minima", "train_loss", "holdout_loss",
                   "lambda_max_canonical", "trace_canonical", "barrier_to_reference",
                   "replication_rate"]
        return "\n".join([
            self.headline(), "",
            self.optimizers[columns].to_string(index=False, float_format=lambda v: f"{v:.3g}"),
            "", self.association.to_string(index=False, float_format=lambda v: f"{v:.3g}"),
        ])

    def tables(self) -> dict[str, pd.DataFrame]:
        """The store's ``landscape_*`` tables."""
        return {f"landscape_{name}": getattr(self, name) for name in LANDSCAPE_TABLES}


#: the landscape's tables, in the order :class:`Landscape` holds them
LANDSCAPE_TABLES = tuple(f.name for f in fields(Landscape))


def analyze_landscape(groups: list[MinimaGroup], X: np.ndarray, y: np.ndarray, split: Split,
                      replication: pd.DataFrame, config: LandscapeConfig,
                      confidence: float = 0.95, seed: int = 0,
                      progress: Callable[[int, int], None] | None = None,
                      feature_names: Sequence[str] | None = None,
                      memory_budget_mb: float = 1024,
                      executor: Executor | None = None) -> Landscape:
    """The landscape of ``groups`` (one per regime and optimizer) on the audit's rows;
    ``executor`` (worker processes) measures the groups' geometry side by side.

    ``replication``: per (member_id, attribute) whether the hypothesis read off that
    member replicated on the holdout (``embaudit.hypotheses.evidence.member_replication``).
    """
    study: LandscapeResult = study_landscape(groups, X, y, split, config, seed, progress,
                                             feature_names, confidence, memory_budget_mb,
                                             executor)
    members = study.members.merge(
        replication.groupby("member_id", as_index=False)["replicated"].mean()
        .rename(columns={"replicated": "replication_rate"}), on="member_id", how="left")
    return Landscape(
        members=members, pairs=study.pairs, basins=study.basins, features=study.features,
        paths=study.paths, linkage=study.linkage,
        optimizers=optimizer_comparison(members, confidence, seed=seed),
        association=replication_association(members, replication, confidence),
    )

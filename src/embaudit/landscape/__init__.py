"""Loss-landscape diagnostics of an audit's minima, and the optimizer study.

Reads trained members (their weights and embeddings) and writes tables; training and
statistics never import it. :func:`analyze_landscape` runs everything on one loss per
regime and optimizer (the reference and its seed replicates, polished to stationary
points): per point what it is (minimum, saddle, not stationary, stopped early), depth,
gradient norm and sharpness; per pair of minima the absolute heights of the straight
(before and after matching hidden units) and Fourier paths; the disconnectivity graph,
basins and monotonic sequence basins; specialisation, basin ensembles and relevance,
each against its null; a kernel-PCA map; the comparison of optimizers; and whether the
geometry of a minimum predicts that the hypotheses read off it replicate on the holdout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from embaudit.config import LandscapeConfig
from embaudit.core.members import Split
from embaudit.core.summary import Block, Summarized, Summary, short_repr
from embaudit.landscape import words
from embaudit.landscape.groups import MinimaGroup

__all__ = ["LANDSCAPE_TABLES", "Landscape", "MinimaGroup", "analyze_landscape"]


@dataclass(frozen=True, eq=False)
class Landscape(Summarized):
    """Every table of the landscape (columns in ``docs/store.md``)."""

    members: pd.DataFrame = field(repr=False)  # per minimum
    pairs: pd.DataFrame = field(repr=False)  # per pair of minima of one group
    basins: pd.DataFrame = field(repr=False)  # per group: basins and specialisation
    features: pd.DataFrame = field(repr=False)  # per group (or basin) and input feature
    paths: pd.DataFrame = field(repr=False)  # loss along one shown pair's two paths
    linkage: pd.DataFrame = field(repr=False)  # single-linkage merges per group
    optimizers: pd.DataFrame = field(repr=False)  # per regime and optimizer, with intervals
    association: pd.DataFrame = field(repr=False)  # geometry vs replication
    map_separation: pd.DataFrame = field(repr=False)  # which label separates the map

    def headline(self) -> str:
        """One sentence: does any geometric measure of a trained point (a minimum, or
        where a regime stops early the stopped point) predict that the hypotheses read
        off it replicate? Every predictor, Holm-corrected."""
        tested = self.association.dropna(subset=["p_value"])
        if tested.empty:
            reasons = "; ".join(sorted(set(self.association["reason"]))) or "no minima"
            return ("Landscape: whether the geometry of a trained point predicts that the "
                    f"hypotheses read off it replicate cannot be tested here ({reasons}).")
        parts = [f"{_PREDICTOR_WORDS.get(r.predictor, r.predictor)} {r.coefficient:+.2f} "
                 f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}], p = {r.p_value:.2g} "
                 f"(Holm {r.p_holm:.2g})" for r in tested.itertuples()]
        significant = tested[tested["p_holm"] < 0.05]
        said = ("no measure of a trained point's geometry predicts, within a regime and "
                "optimizer, that its hypotheses replicate" if significant.empty else
                "within a regime and optimizer, hypotheses replicate "
                + " and ".join(f"{'less' if r.coefficient < 0 else 'more'} often off "
                               f"points with higher {_PREDICTOR_WORDS.get(r.predictor)}"
                               for r in significant.itertuples()))
        first = tested.iloc[0]
        return (f"Landscape: {said} (log-odds per within-group sd: " + "; ".join(parts)
                + f"; {int(first['n_minima'])} points, {int(first['n_clusters'])} clusters "
                f"of {first['clustered_by']}).")

    def paragraphs(self) -> list[str]:
        """The landscape in words, one paragraph per question (the headline, geometry
        vs replication, apart), for the reports to print before any table."""
        return [words.minima_paragraph(self.members),
                words.optimizer_paragraph(self.optimizers),
                words.basin_paragraph(self.basins),
                words.relevance_paragraph(self.features),
                words.map_paragraph(self.map_separation)]

    def summary(self) -> Summary:
        """The headline, the landscape in words, the comparison per regime and
        optimizer, the tests of geometry against replication (``str()`` is the text)."""
        columns = ["regime", "optimizer", "n_minima", "train_loss", "holdout_loss",
                   "gradient_norm", "lambda_max_canonical", "trace_canonical",
                   "barrier_to_reference", "replication_rate"]
        number = lambda v: f"{v:.3g}"  # noqa: E731 - one format for both tables
        return Summary((Block((self.headline(), *self.paragraphs())),
                        Block(frame=self.optimizers[columns], float_format=number),
                        Block(frame=self.association, float_format=number)),
                       "embaudit loss landscape")

    def __repr__(self) -> str:
        return short_repr("Landscape", minima=len(self.members),
                          groups=len(self.optimizers))

    def tables(self) -> dict[str, pd.DataFrame]:
        """The store's ``landscape_*`` tables."""
        return {f"landscape_{name}": getattr(self, name) for name in LANDSCAPE_TABLES}


_PREDICTOR_WORDS = {"lambda_max_canonical": "canonical λ_max (log)",
                    "trace_canonical": "canonical trace (log)",
                    "barrier_to_reference": "barrier to the reference",
                    "train_loss": "training loss (log)"}

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
    # the study (torch, scikit-learn's kernels) loads only when a landscape is measured
    from embaudit.landscape.comparison import optimizer_comparison, replication_association
    from embaudit.landscape.study import study_landscape

    study = study_landscape(groups, X, y, split, config, seed, progress,
                            feature_names, confidence, memory_budget_mb, executor)
    members = study.members.merge(
        replication.groupby("member_id", as_index=False)["replicated"].mean()
        .rename(columns={"replicated": "replication_rate"}), on="member_id", how="left")
    return Landscape(
        members=members, pairs=study.pairs, basins=study.basins, features=study.features,
        paths=study.paths, linkage=study.linkage,
        optimizers=optimizer_comparison(members, confidence, seed=seed),
        association=replication_association(members, replication, confidence),
        map_separation=study.map_separation,
    )

"""The landscape of an audit's minima: per minimum, per pair, per basin, and a map.

A *group* is K minima of one regime trained with one optimizer from different seeds on
the same rows (seed replicates of the reference): one loss, the group's
(:class:`~embaudit.landscape.geometry.GroupLoss`), which every point is polished on
to a stationary point (L-BFGS to a gradient-norm tolerance) unless the regime stops
early by design. Per point: depth (the group's loss), holdout loss, the gradient norm
as trained and as polished, λ_max / λ_min (Lanczos to a residual tolerance) at the
polished and at the canonical point, the Hutch++ trace, and what the point is
(minimum, saddle, not stationary, stopped early, curvature not converged). A point
whose weights or loss are not finite (a diverged run) is listed as ``diverged``.

Only minima enter the geometry (:mod:`embaudit.landscape.geometry`): paths, the
disconnectivity graph at absolute heights, basins and monotonic sequence basins. Per
group then: specialisation and basin ensembles against their nulls
(:mod:`embaudit.landscape.specialisation`), conserved-weight relevance against repeated
grouped permutation importance. Across groups: a kernel-PCA map of the aligned minima
and which label (regime, optimizer, seed) separates them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from scipy.spatial.distance import pdist
from sklearn.decomposition import KernelPCA
from sklearn.metrics import silhouette_score
from torch import Tensor

from embaudit.config import LandscapeConfig
from embaudit.core.members import Split
from embaudit.landscape.curvature import hutchpp_trace, lanczos_extremes, stream_seeds
from embaudit.landscape.features import feature_groups, relevance_table
from embaudit.landscape.functional import (
    CommonScale,
    Layout,
    canonicalize,
    fold_members,
    member_losses,
    predict,
)
from embaudit.landscape.geometry import PAIR_COLUMNS, Geometry, GroupLoss, group_geometry
from embaudit.landscape.groups import MinimaGroup
from embaudit.landscape.matching import align_units
from embaudit.landscape.specialisation import (
    ambiguity_decomposition,
    basin_ensemble_test,
    best_member_share,
    gate_test,
    selection_rows,
    share_test,
)
from embaudit.landscape.stationary import (
    MINIMUM,
    STOPPED_EARLY,
    classify,
    gradient_norms,
    polish,
)

#: at most this many members share one batch of Hessian-vector products
_CURVATURE_BATCH = 64


@dataclass(frozen=True, eq=False)
class LandscapeResult:
    """Tidy tables of the landscape (columns in ``docs/store.md``)."""

    members: pd.DataFrame
    pairs: pd.DataFrame
    basins: pd.DataFrame
    features: pd.DataFrame
    paths: pd.DataFrame
    linkage: pd.DataFrame
    map_separation: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass(frozen=True, eq=False)
class _Data:
    x: Tensor  # all rows, common coordinates
    y: Tensor
    split: Split
    feature_names: list[str]
    feature_groups: np.ndarray  # (p,) group of correlated features of each input


def study_landscape(groups: list[MinimaGroup], X: np.ndarray, y: np.ndarray, split: Split,
                    config: LandscapeConfig, seed: int = 0,
                    progress: Callable[[int, int], None] | None = None,
                    feature_names: Sequence[str] | None = None, confidence: float = 0.95,
                    memory_budget_mb: float = 1024,
                    executor: Executor | None = None) -> LandscapeResult:
    """Every measurement of the module docstring for ``groups`` of one audit;
    ``progress(done, total)`` hears of each finished group. Features are named by
    ``feature_names`` (default: their column index); curvature batches stay within
    ``memory_budget_mb``. With an ``executor`` (worker processes) groups are measured
    side by side: the same numbers, sooner."""
    total = len(groups) + 1

    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    scale = CommonScale.from_rows(X, y, split.discovery)
    names = list(feature_names) if feature_names is not None else \
        [str(j) for j in range(X.shape[1])]
    data = _Data(scale.inputs(X), scale.target(y), split, names,
                 feature_groups(scale.inputs(X)[split.discovery].double().numpy()))
    folded = [fold_members(g.state, scale) for g in groups]
    layout = folded[0][0]
    groups, flats, diverged = _finite_members(groups, [f for _, f in folded], layout, data)
    batch = _batch_size(layout, len(split.discovery), config, memory_budget_mb)
    pending = [executor.submit(_measure_group, group, layout, flat, data, config, seed, batch,
                               confidence) if executor is not None else None
               for group, flat in zip(groups, flats, strict=True)]
    parts = []
    for done, (group, flat, future) in enumerate(zip(groups, flats, pending, strict=True),
                                                 start=1):
        parts.append(future.result() if future is not None else
                     _measure_group(group, layout, flat, data, config, seed, batch,
                                    confidence))
        report(done)
    members = pd.concat([p.members for p in parts], ignore_index=True)
    points = torch.cat([p.points for p in parts])
    members[["map_1", "map_2"]] = _minima_map(layout, points)
    separation = _map_separation(members)
    members = pd.concat([members, diverged], ignore_index=True) if len(diverged) else members
    report(total)
    frames = {name: pd.concat([getattr(p, name) for p in parts], ignore_index=True)
              for name in ("pairs", "basins", "features", "paths", "linkage")}
    members["barrier_to_reference"] = members["member_id"].map(_to_reference(
        members, frames["pairs"]))
    return LandscapeResult(members, **frames, map_separation=separation)


def _finite_members(groups: list[MinimaGroup], flats: list[Tensor], layout: Layout,
                    data: _Data) -> tuple[list[MinimaGroup], list[Tensor], pd.DataFrame]:
    """The groups without their diverged members (weights or loss not finite), and a
    table listing those."""
    kept_groups, kept_flats, dropped = [], [], []
    for group, flat in zip(groups, flats, strict=True):
        _check_one_loss(group)
        with torch.no_grad():
            loss = _group_loss(group, layout, data).members(torch.nan_to_num(flat))
        finite = (torch.isfinite(flat).all(1) & torch.isfinite(loss)).numpy()
        index = np.flatnonzero(finite)
        kept_groups.append(replace(
            group, member_ids=[group.member_ids[i] for i in index],
            kinds=[group.kinds[i] for i in index], state={},
            train_weights=group.train_weights[index],
            seeds=[group.seeds[i] for i in index] if group.seeds else []))
        kept_flats.append(flat[torch.as_tensor(index, dtype=torch.long)])
        dropped += [{"member_id": group.member_ids[i], "regime": group.regime,
                     "optimizer": group.optimizer, "kind": group.kinds[i]}
                    for i in np.flatnonzero(~finite)]
    diverged = pd.DataFrame(dropped, columns=["member_id", "regime", "optimizer", "kind"])
    return kept_groups, kept_flats, diverged.assign(diverged=True, status="diverged")


def _check_one_loss(group: MinimaGroup) -> None:
    weights = group.train_weights
    if len(weights) and not (weights == weights[:1]).all():
        raise ValueError(f"the {group.regime}/{group.optimizer} minima were trained on "
                         "different rows: a landscape group needs one loss, so give it "
                         "seed replicates on the same rows (not bootstrap members)")


def _group_loss(group: MinimaGroup, layout: Layout, data: _Data,
                dtype: torch.dtype = torch.float32) -> GroupLoss:
    """The group's loss on its training rows (the discovery rows it was trained on)."""
    rows = data.split.discovery
    if len(group.train_weights):
        rows = rows[group.train_weights[0][rows] > 0]
    return GroupLoss(layout, data.x[rows].to(dtype), data.y[rows].to(dtype),
                     group.weight_decay)


def _batch_size(layout: Layout, n_rows: int, config: LandscapeConfig,
                memory_budget_mb: float) -> int:
    """Members per batch of Hessian-vector products within the memory budget.

    Per member, as measured (peak resident memory of the curvature of 8 and 40 members):
    38–42 numbers per row and hidden unit (the linearized gradient's constants and a
    product's tangents; counted as 48, a margin), per parameter 55 numbers and one per
    Lanczos step (its basis; Hutch++'s sketch and its QR, working copies), and 2 MB
    besides; 8 bytes each (the landscape measures in float64).
    """
    per_member = 8 * (48 * n_rows * sum(layout.widths[1:])
                      + (config.lanczos_steps + 55) * layout.n_parameters) \
        + 2 * 2**20
    return int(np.clip(memory_budget_mb * 2**20 // per_member, 1, _CURVATURE_BATCH))


@dataclass(frozen=True, eq=False)
class _GroupPart:
    members: pd.DataFrame
    points: Tensor  # (M, P) as measured (polished)
    pairs: pd.DataFrame
    basins: pd.DataFrame
    features: pd.DataFrame
    paths: pd.DataFrame
    linkage: pd.DataFrame


def _measure_group(group: MinimaGroup, layout: Layout, flat: Tensor, data: _Data,
                   config: LandscapeConfig, seed: int, batch: int, confidence: float
                   ) -> _GroupPart:
    """Polish, classify and measure one group (float64: the point certified stationary
    is the one measured); its geometry among its minima."""
    loss = _group_loss(group, layout, data, torch.float64)
    tags = {"regime": group.regime, "optimizer": group.optimizer}
    members, points = _member_table(group, layout, flat, loss, data, config, seed, batch)
    ends = (MINIMUM, STOPPED_EARLY) if config.measure_stopped else (MINIMUM,)
    minima = np.flatnonzero(members["status"].isin(ends).to_numpy())
    if len(minima) < 2:  # no geometry: empty tables with their columns
        return _GroupPart(members, points,
                          pd.DataFrame(columns=[*PAIR_COLUMNS, "ends", *tags]),
                          pd.DataFrame([{**tags, "n_minima": len(minima)}]),
                          pd.DataFrame(columns=["minima", "feature", *tags]),
                          pd.DataFrame(columns=["member_a", "member_b", "path", "t", "loss",
                                                *tags]),
                          pd.DataFrame(columns=["left", "right", "height", "size", "step",
                                                *tags]))
    # paths between canonical points where the loss is scale-free (an unpenalized ReLU
    # network's canonical point is a minimum of the same loss); weight decay pins it
    ends_at = points[minima] if group.weight_decay else canonicalize(layout, points[minima])
    ids = [group.member_ids[i] for i in minima]
    geometry = group_geometry(layout, ends_at, ids, loss, config.basin_threshold,
                              config.fourier_terms, config.path_steps, config.path_rows, seed)
    index = members.index[minima]
    members.loc[index, "basin"] = geometry.basins
    members.loc[index, "sequence_basin"] = geometry.sequence_basins
    x_holdout, y_holdout = _holdout(data)
    predictions = predict(layout, points[minima], x_holdout).detach().numpy()
    members.loc[index, "best_share"] = best_member_share(predictions, y_holdout.numpy())
    depth = members.loc[index, "train_loss"].to_numpy()
    basins = _basin_table(predictions, y_holdout.numpy(), x_holdout.numpy(), geometry, depth,
                          confidence, seed)
    linkage = pd.DataFrame(geometry.graph.merges, columns=["left", "right", "height", "size"]
                           ).astype({"left": int, "right": int, "size": int})
    return _GroupPart(
        members, points, geometry.pairs.assign(
            ends="minima" if _all_minima(members, minima) else "stopped early", **tags),
        basins.assign(**tags),
        relevance_table(layout, ends_at, geometry.basins, x_holdout, y_holdout,
                        data.feature_names, data.feature_groups, seed, confidence
                        ).assign(**tags),
        geometry.paths.assign(**tags), linkage.assign(step=np.arange(len(linkage)), **tags))


def _all_minima(members: pd.DataFrame, index: np.ndarray) -> bool:
    """Whether every point at ``index`` is a minimum (paths between anything else are
    measured only on request, ``landscape.measure_stopped``)."""
    return bool((members["status"].to_numpy()[index] == MINIMUM).all())


def _member_table(group: MinimaGroup, layout: Layout, flat: Tensor, loss: GroupLoss,
                  data: _Data, config: LandscapeConfig, seed: int, batch: int
                  ) -> tuple[pd.DataFrame, Tensor]:
    """Each point polished and measured (in ``loss``'s float64), at most ``batch`` at a
    time, in batches of equal size (no small last batch paying a whole linearization)."""
    flat = flat.to(loss.x.dtype)
    if group.stops_early:
        before = gradient_norms(loss.members, flat)
        polished_points, after, iterations = flat, before, np.zeros(len(flat), dtype=int)
    else:
        polished = polish(loss.members, flat, config.gradient_tolerance,
                          config.polish_iterations)
        before, after, iterations = polished.gradient_before, polished.gradient_after, \
            polished.iterations
        polished_points = polished.theta
    n_batches = -(-len(flat) // batch)  # as few as the budget allows, of equal size
    batch = -(-len(flat) // n_batches) if n_batches else batch
    x_holdout, y_holdout = _holdout(data)
    columns: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(flat), batch):
        theta = polished_points[start:start + batch]
        canonical_theta = canonicalize(layout, theta)
        streams = stream_seeds(seed, range(start, start + len(theta)))
        spectrum = lanczos_extremes(loss.members, theta, config.lanczos_steps, streams,
                                    config.lanczos_tolerance)
        canonical = lanczos_extremes(loss.members, canonical_theta, config.lanczos_steps,
                                     streams, config.lanczos_tolerance)
        part = slice(start, start + len(theta))
        values = {
            "train_loss": loss.members(theta).detach().numpy(),
            "holdout_loss": member_losses(layout, theta, x_holdout, y_holdout)
            .detach().numpy(),
            "lambda_max": spectrum.largest, "lambda_min": spectrum.smallest,
            "lanczos_steps": np.full(len(theta), spectrum.steps),
            "lanczos_converged": spectrum.converged,
            "lambda_max_canonical": canonical.largest,
            "lambda_min_canonical": canonical.smallest,
            "trace_canonical": hutchpp_trace(loss.members, canonical_theta,
                                             config.trace_products, streams),
            "status": classify(after[part], spectrum, config.gradient_tolerance,
                               config.curvature_tolerance, group.stops_early),
        }
        for name, value in values.items():
            columns.setdefault(name, []).append(value)
    frame = pd.DataFrame({
        "member_id": group.member_ids, "regime": group.regime,
        "optimizer": group.optimizer, "kind": group.kinds,
        "sample_rows": "discovery", "sample_seed": group.seeds or group.member_ids,
        "train_loss_trained": loss.members(flat).detach().numpy(),
        "gradient_norm_trained": before, "gradient_norm": after,
        "polish_iterations": iterations,
        **{name: np.concatenate(parts) for name, parts in columns.items()},
    })
    frame["diverged"] = False
    frame["basin"] = np.nan
    frame["sequence_basin"] = np.nan
    frame["best_share"] = np.nan
    return frame, polished_points


def _holdout(data: _Data) -> tuple[Tensor, Tensor]:
    """The holdout rows' inputs and lifespans in float64, the landscape's precision."""
    holdout = data.split.holdout
    return data.x[holdout].double(), data.y[holdout].double()


def _basin_table(predictions: np.ndarray, y: np.ndarray, x: np.ndarray, geometry: Geometry,
                 depth: np.ndarray, confidence: float, seed: int) -> pd.DataFrame:
    """Basins, the ambiguity decomposition of the minima's ensemble, specialisation and
    one minimum per basin, each against its null, on the holdout."""
    ensemble, member_error, ambiguity = ambiguity_decomposition(predictions, y)
    selection = selection_rows(len(y), seed)
    labels = geometry.basins
    return pd.DataFrame([{
        "n_minima": len(labels), "level": geometry.level,
        "basin_sizes": " ".join(str(int(s)) for s in np.bincount(labels)[1:]),
        "n_sequence_basins": int(geometry.sequence_basins.max()),
        "ensemble_holdout_loss": ensemble, "mean_member_holdout_loss": member_error,
        "ambiguity": ambiguity, **share_test(predictions, y, seed=seed),
        **gate_test(predictions, y, x, selection, confidence=confidence, seed=seed),
        **basin_ensemble_test(predictions, y, labels, depth, selection,
                              confidence=confidence, seed=seed)}])


def _to_reference(members: pd.DataFrame, pairs: pd.DataFrame) -> dict[str, float]:
    """Each minimum's barrier to its group's reference: from its own end, along the
    lowest path measured (the reference itself has none: not a 0 by construction)."""
    references = set(members.loc[members["kind"] == "reference", "member_id"])
    barriers: dict[str, float] = {}
    for row in pairs.itertuples() if len(pairs) else ():
        if row.member_a in references:
            barriers[row.member_b] = float(row.barrier_b)
        elif row.member_b in references:
            barriers[row.member_a] = float(row.barrier_a)
    return barriers


def _minima_map(layout: Layout, points: Tensor) -> np.ndarray:
    """Kernel PCA (RBF, bandwidth the median distance) of every point, canonicalized
    and matched to a common template (the first point): two coordinates per point."""
    canonical = canonicalize(layout, points)
    if len(canonical) < 3:
        return np.zeros((len(canonical), 2))
    anchor = canonical[0]
    aligned = torch.stack([anchor] + [align_units(layout, anchor, m) for m in canonical[1:]])
    vectors = aligned.detach().double().numpy()
    median = np.median(pdist(vectors, "sqeuclidean"))
    kernel = KernelPCA(n_components=2, kernel="rbf", gamma=1.0 / median if median > 0 else 1.0)
    return kernel.fit_transform(vectors)


def _map_separation(members: pd.DataFrame) -> pd.DataFrame:
    """How well each label (regime, optimizer, seed) separates the points on the map:
    the silhouette of the map coordinates under that labelling (-1..1; near 0: the
    label does not separate them)."""
    rows = []
    coordinates = members[["map_1", "map_2"]].to_numpy()
    for label in ("regime", "optimizer", "sample_seed"):
        codes = pd.factorize(members[label])[0]
        usable = 2 <= codes.max() + 1 < len(codes)
        rows.append({"label": label, "n_labels": int(codes.max() + 1),
                     "silhouette": float(silhouette_score(coordinates, codes))
                     if usable else np.nan})
    return pd.DataFrame(rows)

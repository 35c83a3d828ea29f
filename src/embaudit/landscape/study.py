"""The landscape of an audit's minima: per member, per pair, per basin, and a map.

A *group* is the sampled minima of one regime trained with one optimizer (the
reference and the first bootstrap members). Per member: depth (training loss on its
own rows), holdout loss, λ_max / λ_min at the trained point and at its canonical point
(unit-norm incoming weights per hidden unit: ReLU rescaling cannot game it), the
Hessian trace at the canonical point, and the gradient norm. A member whose weights or
loss are not finite (a diverged run) is listed as ``diverged`` and measured no
further. Per pair of a group: the straight-line barrier
before and after matching hidden units, and, on the edges of the barrier graph's
minimum spanning tree, the barrier of a fitted Fourier path. Per group: basins,
conserved-weight relevance of each input against permutation importance, which rows
each minimum predicts best, and whether an ensemble of basins beats the best member.
Across groups: a kernel-PCA map of the aligned minima.

Losses are in common units (:mod:`embaudit.landscape.functional`): paths and barriers
on the discovery rows, all weighted alike, so every group's minima share one landscape.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr
from sklearn.decomposition import KernelPCA
from torch import Tensor

from embaudit.config import LandscapeConfig
from embaudit.core.members import Split
from embaudit.landscape.basins import find_basins, spanning_edges
from embaudit.landscape.curvature import (
    gradient_norm,
    hutchpp_trace,
    lanczos_extremes,
    stream_seeds,
)
from embaudit.landscape.features import conserved_relevance, permutation_importance
from embaudit.landscape.functional import (
    CommonScale,
    Layout,
    canonicalize,
    fold_members,
    member_losses,
    mixture_losses,
    predict,
)
from embaudit.landscape.matching import align_units
from embaudit.landscape.paths import fourier_path, judge_points, straight_path
from embaudit.landscape.specialisation import (
    ambiguity_decomposition,
    basin_ensemble_gain,
    best_member_share,
)

#: at most this many members share one batch of Hessian-vector products
_CURVATURE_BATCH = 64
#: a basin needs this many minima before its conserved weights are summarized
MIN_BASIN_SIZE = 3


@dataclass(frozen=True, eq=False)
class MinimaGroup:
    """The sampled minima of one regime and optimizer, as training left them."""

    regime: str
    optimizer: str
    member_ids: list[str]
    kinds: list[str]
    state: dict[str, np.ndarray] = field(repr=False)  # per-member tensors, member dim first
    train_weights: np.ndarray = field(repr=False)  # (M, n) row weights of each member's loss


@dataclass(frozen=True, eq=False)
class LandscapeResult:
    """Tidy tables of the landscape (columns in ``docs/store.md``)."""

    members: pd.DataFrame
    pairs: pd.DataFrame
    basins: pd.DataFrame
    features: pd.DataFrame
    paths: pd.DataFrame
    linkage: pd.DataFrame


@dataclass(frozen=True, eq=False)
class _Data:
    x: Tensor  # all rows, common coordinates
    y: Tensor
    split: Split
    feature_names: list[str]


def study_landscape(groups: list[MinimaGroup], X: np.ndarray, y: np.ndarray, split: Split,
                    config: LandscapeConfig, seed: int = 0,
                    progress: Callable[[int, int], None] | None = None,
                    feature_names: Sequence[str] | None = None, confidence: float = 0.95,
                    memory_budget_mb: float = 1024,
                    executor: Executor | None = None) -> LandscapeResult:
    """Every measurement of the module docstring for ``groups`` of one audit;
    ``progress(done, total)`` hears of each finished step. Features are named by
    ``feature_names`` (default: their column index); curvature batches stay within
    ``memory_budget_mb``. With an ``executor`` (worker processes) each group's geometry
    is measured there while this process measures the members' curvature: the same
    numbers, sooner."""
    total = len(groups) + 2

    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    scale = CommonScale.from_rows(X, y, split.discovery)
    names = list(feature_names) if feature_names is not None else \
        [str(j) for j in range(X.shape[1])]
    data = _Data(scale.inputs(X), scale.target(y), split, names)
    folded = [fold_members(g.state, scale) for g in groups]
    layout = folded[0][0]
    groups, flats, diverged = _finite_members(groups, [f for _, f in folded], layout, data)
    pending = [executor.submit(_group_geometry, group, layout, flat, data, config, seed)
               if executor is not None and len(flat) >= 2 else None
               for group, flat in zip(groups, flats, strict=True)]
    members = _member_table(groups, layout, flats, data, config, seed,
                            _batch_size(layout, len(split.discovery), config,
                                        memory_budget_mb))
    report(1)
    pair_frames, basin_frames, feature_frames, path_frames, link_frames = [], [], [], [], []
    for done, (group, flat, future) in enumerate(zip(groups, flats, pending, strict=True),
                                                 start=2):
        report(done)
        if len(flat) < 2:
            continue
        geometry = future.result() if future is not None else \
            _group_geometry(group, layout, flat, data, config, seed)
        pair_frames.append(geometry.pairs)
        path_frames.append(geometry.paths)
        link_frames.append(geometry.linkage)
        labels = geometry.labels
        mine = members["member_id"].isin(group.member_ids)
        members.loc[mine, "basin"] = labels
        holdout = predict(layout, flat, data.x[split.holdout]).detach().double().numpy()
        y_holdout = data.y[split.holdout].double().numpy()
        members.loc[mine, "best_share"] = best_member_share(holdout, y_holdout)
        depth = members.set_index("member_id").loc[group.member_ids, "train_loss"].to_numpy()
        basin_frames.append(_basin_table(group, holdout, y_holdout, labels, depth, confidence,
                                         seed))
        feature_frames.append(_feature_table(group, layout, geometry.canonical, labels, data,
                                             seed))
    members["barrier_to_reference"] = members["member_id"].map(_to_reference(groups,
                                                                             pair_frames))
    coordinates = _minima_map(layout, flats)
    members["map_1"], members["map_2"] = coordinates[:, 0], coordinates[:, 1]
    members = pd.concat([members, diverged], ignore_index=True) if len(diverged) else members
    report(total)
    return LandscapeResult(members, *(pd.concat(frames, ignore_index=True) if frames
                                      else pd.DataFrame() for frames in
                                      (pair_frames, basin_frames, feature_frames,
                                       path_frames, link_frames)))


def _finite_members(groups: list[MinimaGroup], flats: list[Tensor], layout: Layout,
                    data: _Data) -> tuple[list[MinimaGroup], list[Tensor], pd.DataFrame]:
    """The groups without their diverged members (weights or loss not finite), and a
    table listing those."""
    kept_groups, kept_flats, dropped = [], [], []
    for group, flat in zip(groups, flats, strict=True):
        weights = torch.as_tensor(group.train_weights[:, data.split.discovery],
                                  dtype=flat.dtype)
        with torch.no_grad():
            loss = _own_loss(layout, data, weights)(torch.nan_to_num(flat))
        finite = (torch.isfinite(flat).all(1) & torch.isfinite(loss)).numpy()
        index = np.flatnonzero(finite)
        kept_groups.append(replace(
            group, member_ids=[group.member_ids[i] for i in index],
            kinds=[group.kinds[i] for i in index], state={},
            train_weights=group.train_weights[index]))
        kept_flats.append(flat[torch.as_tensor(index, dtype=torch.long)])
        dropped += [{"member_id": group.member_ids[i], "regime": group.regime,
                     "optimizer": group.optimizer, "kind": group.kinds[i]}
                    for i in np.flatnonzero(~finite)]
    diverged = pd.DataFrame(dropped, columns=["member_id", "regime", "optimizer", "kind"])
    return kept_groups, kept_flats, diverged.assign(diverged=True)


def _batch_size(layout: Layout, n_rows: int, config: LandscapeConfig,
                memory_budget_mb: float) -> int:
    """Members per batch of Hessian-vector products within the memory budget.

    Per member, as measured (peak resident memory of the curvature of 8 and 40 members,
    float32): 38–42 floats per row and hidden unit (the linearized gradient's constants
    and a product's tangents; counted as 48, a margin), per parameter 55 floats and one
    per Lanczos step (its basis; Hutch++'s sketch and its QR, working copies), and 2 MB
    besides.
    """
    per_member = 4 * (48 * n_rows * sum(layout.widths[1:])
                      + (config.lanczos_steps + 55) * layout.n_parameters) \
        + 2 * 2**20
    return int(np.clip(memory_budget_mb * 2**20 // per_member, 1, _CURVATURE_BATCH))


def _own_loss(layout: Layout, data: _Data, weights: Tensor):
    rows = data.split.discovery
    x, y = data.x[rows], data.y[rows]
    return lambda theta: member_losses(layout, theta, x, y, weights)


def _member_table(groups: list[MinimaGroup], layout: Layout, flats: list[Tensor],
                  data: _Data, config: LandscapeConfig, seed: int, batch: int
                  ) -> pd.DataFrame:
    """Depth, holdout loss and curvature of every member, at most ``batch`` members at a
    time, in batches of equal size (no small last batch paying a whole linearization)."""
    flat = torch.cat(flats)
    n_batches = -(-len(flat) // batch)  # as few as the budget allows, of equal size
    batch = -(-len(flat) // n_batches) if n_batches else batch
    weights = torch.as_tensor(np.concatenate([g.train_weights for g in groups])
                              [:, data.split.discovery], dtype=flat.dtype)
    columns: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(flat), batch):
        part = slice(start, start + batch)
        theta, loss = flat[part], _own_loss(layout, data, weights[part])
        canonical = canonicalize(layout, theta)
        # each member's random vectors from its own stream: the batch size is not a result
        streams = stream_seeds(seed, range(start, start + len(theta)))
        raw_spectrum = lanczos_extremes(loss, theta, config.lanczos_steps, streams)
        spectrum = lanczos_extremes(loss, canonical, config.lanczos_steps, streams)
        holdout = data.split.holdout
        values = {
            "train_loss": loss(theta).detach().double().numpy(),
            "holdout_loss": member_losses(layout, theta, data.x[holdout], data.y[holdout])
            .detach().double().numpy(),
            "lambda_max": raw_spectrum.largest,
            "lambda_min": raw_spectrum.smallest,
            "lambda_max_canonical": spectrum.largest,
            "lambda_min_canonical": spectrum.smallest,
            "trace_canonical": hutchpp_trace(loss, canonical, config.trace_products,
                                             streams),
            "gradient_norm": gradient_norm(loss, theta).detach().double().numpy(),
        }
        for name, value in values.items():
            columns.setdefault(name, []).append(value)
    frame = pd.DataFrame({
        "member_id": [m for g in groups for m in g.member_ids],
        "regime": [g.regime for g in groups for _ in g.member_ids],
        "optimizer": [g.optimizer for g in groups for _ in g.member_ids],
        "kind": [k for g in groups for k in g.kinds],
        **{name: np.concatenate(parts) for name, parts in columns.items()},
    })
    frame["diverged"] = False
    frame["basin"] = 1
    frame["best_share"] = np.nan
    return frame


@dataclass(frozen=True, eq=False)
class _Geometry:
    pairs: pd.DataFrame
    paths: pd.DataFrame
    linkage: pd.DataFrame
    labels: np.ndarray
    canonical: Tensor  # (M, P) the group's minima at their canonical points


def _group_geometry(group: MinimaGroup, layout: Layout, flat: Tensor, data: _Data,
                    config: LandscapeConfig, seed: int) -> _Geometry:
    """Barriers of every pair (straight, before and after matching), Fourier paths on
    the spanning tree, and the basins they give."""
    rows = data.split.discovery
    x, y = data.x[rows], data.y[rows]
    canonical = canonicalize(layout, flat)
    M = len(flat)

    def path_loss(basis: Tensor, mixing: Tensor) -> Tensor:
        return mixture_losses(layout, basis, mixing, x, y)

    generator = torch.Generator().manual_seed(seed)

    def batch_loss(basis: Tensor, mixing: Tensor) -> Tensor:
        pick = torch.randperm(len(rows), generator=generator)[:config.path_rows]
        return mixture_losses(layout, basis, mixing, x[pick], y[pick])

    grid = judge_points(config.fourier_terms)  # straight lines on the Fourier paths' grid
    records, matched = [], np.zeros((M, M))
    for a, b in itertools.combinations(range(M), 2):
        before = straight_path(path_loss, canonical[a], canonical[b], grid)
        after = straight_path(path_loss, canonical[a],
                              align_units(layout, canonical[a], canonical[b]), grid)
        matched[a, b] = matched[b, a] = after.barrier
        records.append({"member_a": group.member_ids[a], "member_b": group.member_ids[b],
                        "barrier_unmatched": before.barrier, "barrier": after.barrier,
                        "excess_barrier": after.excess_barrier, "fourier_barrier": np.nan})
    pairs = pd.DataFrame(records, columns=["member_a", "member_b", "barrier_unmatched",
                                           "barrier", "excess_barrier", "fourier_barrier"])
    combined, shown, path_rows = matched.copy(), None, []
    for a, b in spanning_edges(matched):
        fitted = fourier_path(path_loss, canonical[a],
                              align_units(layout, canonical[a], canonical[b]),
                              n_terms=config.fourier_terms, steps=config.path_steps,
                              training_loss=batch_loss, seed=seed)
        index = pairs.index[(pairs["member_a"] == group.member_ids[a])
                            & (pairs["member_b"] == group.member_ids[b])][0]
        pairs.loc[index, "fourier_barrier"] = fitted.barrier
        combined[a, b] = combined[b, a] = min(matched[a, b], fitted.barrier)
        if shown is None or matched[a, b] > shown[0]:
            shown = (matched[a, b], a, b, fitted)
    if shown is not None:  # the spanning-tree edge with the highest straight barrier
        _, a, b, fitted = shown
        straight = straight_path(path_loss, canonical[a],
                                 align_units(layout, canonical[a], canonical[b]), grid)
        for name, path in (("straight", straight), ("fourier", fitted)):
            path_rows.append(pd.DataFrame({
                "member_a": group.member_ids[a], "member_b": group.member_ids[b],
                "path": name, "t": path.t, "loss": path.losses}))
    basins = find_basins(combined, config.basin_threshold)
    tags = {"regime": group.regime, "optimizer": group.optimizer}
    linkage = pd.DataFrame(basins.linkage, columns=["left", "right", "height", "size"]).astype(
        {"left": int, "right": int, "size": int})
    return _Geometry(pairs.assign(**tags), _tagged(path_rows, tags),
                     linkage.assign(step=np.arange(len(linkage)), **tags), basins.labels,
                     canonical)


def _tagged(frames: list[pd.DataFrame], tags: dict[str, str]) -> pd.DataFrame:
    columns = ["member_a", "member_b", "path", "t", "loss"]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return frame.assign(**tags)


def _basin_table(group: MinimaGroup, holdout: np.ndarray, y: np.ndarray, labels: np.ndarray,
                 depth: np.ndarray, confidence: float, seed: int) -> pd.DataFrame:
    """Per group: basin sizes, the ambiguity decomposition of the group's ensemble, and
    whether one minimum per basin beats the best single minimum on the holdout."""
    ensemble, member_error, ambiguity = ambiguity_decomposition(holdout, y)
    gain = basin_ensemble_gain(holdout, y, labels, depth, confidence=confidence,
                               seed=seed)
    sizes = np.bincount(labels)[1:]
    return pd.DataFrame([{
        "regime": group.regime, "optimizer": group.optimizer, "n_minima": len(labels),
        "basin_sizes": " ".join(str(int(s)) for s in sizes),
        "ensemble_holdout_loss": ensemble, "mean_member_holdout_loss": member_error,
        "ambiguity": ambiguity, **gain}])


def _feature_table(group: MinimaGroup, layout: Layout, canonical: Tensor,
                   labels: np.ndarray, data: _Data, seed: int) -> pd.DataFrame:
    """Conserved-weight relevance of each input and its permutation importance on the
    holdout, for all the group's minima and for each basin of at least 3."""
    holdout = data.split.holdout
    sets = [("all", np.arange(len(labels)))]
    sets += [(f"basin {b}", np.flatnonzero(labels == b)) for b in np.unique(labels)
             if (labels == b).sum() >= MIN_BASIN_SIZE]
    frames = []
    for name, index in sets:
        first = canonical[int(index[0])]
        minima = torch.stack([first] + [align_units(layout, first, canonical[int(i)])
                                        for i in index[1:]])
        first_layers = layout.unflatten(minima)[0][0].detach().double().numpy()
        relevance = conserved_relevance(first_layers)
        importance = permutation_importance(layout, minima, data.x[holdout],
                                            data.y[holdout], seed)
        agreement = spearmanr(relevance, importance).statistic \
            if np.ptp(relevance) > 0 and np.ptp(importance) > 0 else np.nan
        frames.append(pd.DataFrame({
            "regime": group.regime, "optimizer": group.optimizer, "minima": name,
            "n_minima": len(index), "feature": data.feature_names,
            "relevance": relevance, "permutation_importance": importance,
            "agreement": agreement}))
    return pd.concat(frames, ignore_index=True)


def _to_reference(groups: list[MinimaGroup], pair_frames: list[pd.DataFrame]
                  ) -> dict[str, float]:
    """Each member's lowest barrier to its group's reference (straight or Fourier)."""
    references = {g.member_ids[g.kinds.index("reference")] for g in groups
                  if "reference" in g.kinds}
    barriers = {reference: 0.0 for reference in references}
    for pairs in pair_frames:
        for row in pairs.itertuples():
            for reference, other in ((row.member_a, row.member_b),
                                     (row.member_b, row.member_a)):
                if reference in references:
                    barriers[other] = float(np.nanmin([row.barrier, row.fourier_barrier]))
    return barriers


def _minima_map(layout: Layout, flats: list[Tensor]) -> np.ndarray:
    """Kernel PCA (RBF, bandwidth the median distance) of every minimum, canonicalized
    and matched to the first group's first minimum: two coordinates per minimum."""
    canonical = canonicalize(layout, torch.cat(flats))
    if len(canonical) < 3:
        return np.zeros((len(canonical), 2))
    anchor = canonical[0]
    points = torch.stack([anchor] + [align_units(layout, anchor, m) for m in canonical[1:]])
    vectors = points.detach().double().numpy()
    median = np.median(pdist(vectors, "sqeuclidean"))
    kernel = KernelPCA(n_components=2, kernel="rbf", gamma=1.0 / median if median > 0 else 1.0)
    return kernel.fit_transform(vectors)

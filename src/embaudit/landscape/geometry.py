"""One group's geometry: paths between its minima on the group's own loss, the
disconnectivity graph at their absolute saddle heights, and the basins it gives.

Every path's end points are minima of the loss the path is measured on (the caller
passes only points classified ``minimum``); matching hidden units (an exact symmetry of
the loss) keeps them minima.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from embaudit.landscape.basins import (
    DisconnectivityGraph,
    disconnectivity_graph,
    monotonic_sequence_basins,
    spanning_edges,
)
from embaudit.landscape.functional import Layout, member_losses, mixture_losses
from embaudit.landscape.matching import align_units
from embaudit.landscape.paths import PathResult, fourier_path, judge_points, straight_path

#: the pairs table's columns
PAIR_COLUMNS = ["member_a", "member_b", "loss_a", "loss_b", "distance", "height_unmatched",
                "height_straight", "height_fourier", "height", "excess_barrier",
                "barrier_a", "barrier_b"]


@dataclass(frozen=True, eq=False)
class GroupLoss:
    """The loss every minimum of a group minimised: mean squared error on the group's
    training rows (common units) plus ``½ · weight_decay · |θ|²`` where training
    penalized the weights."""

    layout: Layout
    x: Tensor
    y: Tensor
    weight_decay: float = 0.0

    def members(self, theta: Tensor) -> Tensor:
        """Loss of each network ``theta (B, P)``."""
        value = member_losses(self.layout, theta, self.x.to(theta.dtype),
                              self.y.to(theta.dtype))
        if self.weight_decay:
            value = value + 0.5 * self.weight_decay * (theta**2).sum(-1)
        return value

    def path(self, basis: Tensor, mixing: Tensor) -> Tensor:
        """Loss of each point ``mixing (T, J) @ basis (J, P)`` (a ``PathLoss``)."""
        value = mixture_losses(self.layout, basis, mixing, self.x.to(basis.dtype),
                               self.y.to(basis.dtype))
        if self.weight_decay:
            value = value + 0.5 * self.weight_decay * ((mixing @ basis) ** 2).sum(-1)
        return value

    def rows(self, pick: Tensor) -> GroupLoss:
        """The same loss on the rows ``pick`` only."""
        return GroupLoss(self.layout, self.x[pick], self.y[pick], self.weight_decay)


@dataclass(frozen=True, eq=False)
class Geometry:
    pairs: pd.DataFrame
    paths: pd.DataFrame  # the shown pair's two paths
    graph: DisconnectivityGraph
    basins: np.ndarray  # (M,) at ``level``
    sequence_basins: np.ndarray  # (M,) monotonic sequence basins
    level: float


def group_geometry(layout: Layout, points: Tensor, member_ids: list[str], loss: GroupLoss,
                   threshold: float, n_terms: int, steps: int, path_rows: int, seed: int
                   ) -> Geometry:
    """Straight paths between every pair (before and after matching hidden units),
    Fourier paths on the spanning tree of the straight heights, the disconnectivity
    graph of the lowest path heights, basins at ``threshold`` above the lowest minimum
    and monotonic sequence basins."""
    M = len(points)
    energies = loss.members(points).detach().double().numpy()
    generator = torch.Generator().manual_seed(seed)

    def batch_loss(basis: Tensor, mixing: Tensor) -> Tensor:
        pick = torch.randperm(len(loss.y), generator=generator)[:path_rows]
        return loss.rows(pick).path(basis, mixing)

    grid = judge_points(n_terms)  # straight lines on the Fourier paths' grid
    straight, unmatched = np.full((M, M), np.nan), np.full((M, M), np.nan)
    aligned: dict[tuple[int, int], Tensor] = {}
    lines: dict[tuple[int, int], PathResult] = {}
    for a, b in itertools.combinations(range(M), 2):
        unmatched[a, b] = straight_path(loss.path, points[a], points[b], grid).height
        aligned[a, b] = align_units(layout, points[a], points[b])
        lines[a, b] = straight_path(loss.path, points[a], aligned[a, b], grid)
        straight[a, b] = straight[b, a] = lines[a, b].height
    np.fill_diagonal(straight, energies)
    fourier: dict[tuple[int, int], PathResult] = {}
    for a, b in spanning_edges(straight):
        fourier[a, b] = fourier_path(loss.path, points[a], aligned[a, b], n_terms=n_terms,
                                     steps=steps, training_loss=batch_loss, seed=seed)
    records, saddles = [], straight.copy()
    for (a, b), line in lines.items():
        curve = fourier.get((a, b))
        lowest = curve if curve is not None and curve.height < line.height else line
        saddles[a, b] = saddles[b, a] = lowest.height
        records.append({
            "member_a": member_ids[a], "member_b": member_ids[b], "loss_a": energies[a],
            "loss_b": energies[b],
            "distance": float((aligned[a, b] - points[a]).norm() / np.sqrt(points.shape[1])),
            "height_unmatched": unmatched[a, b],
            "height_straight": line.height,
            "height_fourier": np.nan if curve is None else curve.height,
            "height": lowest.height, "excess_barrier": lowest.excess_barrier,
            "barrier_a": lowest.height - energies[a], "barrier_b": lowest.height - energies[b]})
    graph = disconnectivity_graph(energies, saddles)
    level = float(energies.min() + threshold) if M else float("nan")
    return Geometry(pd.DataFrame(records, columns=PAIR_COLUMNS),
                    _shown_paths(lines, fourier, member_ids), graph, graph.basins(level),
                    monotonic_sequence_basins(energies, saddles), level)


def _shown_paths(lines: dict[tuple[int, int], PathResult],
                 fourier: dict[tuple[int, int], PathResult], member_ids: list[str]
                 ) -> pd.DataFrame:
    """Both paths of the spanning-tree edge with the highest straight path."""
    columns = ["member_a", "member_b", "path", "t", "loss"]
    if not fourier:
        return pd.DataFrame(columns=columns)
    a, b = max(fourier, key=lambda edge: lines[edge].height)
    return pd.concat([pd.DataFrame({"member_a": member_ids[a], "member_b": member_ids[b],
                                    "path": name, "t": path.t, "loss": path.losses})
                      for name, path in (("straight", lines[a, b]),
                                         ("fourier", fourier[a, b]))], ignore_index=True)

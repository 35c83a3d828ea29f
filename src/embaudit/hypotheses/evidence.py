"""Gather, per regime, what the statistics need from the trained members.

For an embedding regime: the reference's candidates and their discovery screen
(:mod:`embaudit.hypotheses.screen`); each permutation member's own candidates, read
with its own permuted lifespans, screened the same way (the trends networks fitted to
noise find) and, as the retrained null, their strengths; every bootstrap member after
Procrustes alignment to the reference (fitted on the member's in-bag rows). A
bootstrap member's direction for a candidate is read on its out-of-bag rows, the rows
it never trained on; its selection frequency (is the candidate's axis the attribute's
best?) is read on its in-bag rows. Raw screening does the same without any embedding.

The *readings* (what an analyst looking along a network's own axes would note) are
taken off every network fitted to the real lifespans, the reference and each bootstrap
member, each on its own unaligned axes and screened like the reference: the position
averages them over networks (:mod:`embaudit.hypotheses.readings`). A bootstrap member is
read on the same discovery rows as the reference (about 63% of them its training rows):
its in-bag rows alone repeat rows, which inflates the correlations read on them (see
``_axis_intervals`` in :mod:`embaudit.hypotheses.verdicts`), and one set of rows keeps
every network in the screen's one product per permutation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from embaudit.config import ResamplingConfig
from embaudit.core.members import MemberSpec
from embaudit.core.regimes import RAW, REGIMES
from embaudit.hypotheses.discovery import (
    AxisCorrelations,
    Candidates,
    DiscoveryMode,
    axis_correlations,
    best_candidates,
    live_axes,
    raw_candidates,
)
from embaudit.hypotheses.inference import spearman_p_positive
from embaudit.hypotheses.screen import ScreenResult, screen
from embaudit.resampling.alignment import make_aligner
from embaudit.resampling.quality import AlignmentQuality, alignment_quality

QUALITY_COLUMNS = tuple(f.name for f in fields(AlignmentQuality))


@dataclass(frozen=True, eq=False)
class RegimeEvidence:
    """Discovery on the reference, its permutation null and its bootstrap replicates."""

    regime: str
    candidates: Candidates
    #: the discovery screen of the reference, of each permutation member (M) and of each
    #: bootstrap member on its own axes (B): (1 + M + B, q)
    screen: ScreenResult = field(repr=False)
    null_strength: np.ndarray = field(repr=False)  # (M, q)
    null_direction: np.ndarray = field(repr=False)  # (M, q)
    null_member_ids: list[str] = field(repr=False)
    bootstrap_direction: np.ndarray = field(repr=False)  # (B, q): out-of-bag, candidate's axis
    bootstrap_axis: np.ndarray = field(repr=False)  # (B, q): in-bag, each member's best axis
    #: (B, q): in-bag r(axis, attribute) and r(axis, lifespan) on the candidate's axis
    bootstrap_r_attribute: np.ndarray | None = field(default=None, repr=False)
    bootstrap_r_lifespan: np.ndarray | None = field(default=None, repr=False)
    #: (B, q): one-sided p of the claimed trend on each member's out-of-bag rows
    bootstrap_oob_p: np.ndarray | None = field(default=None, repr=False)
    dead_axes: list[int] = field(default_factory=list)
    #: columns per attribute (a categorical attribute's levels share theirs), (q,)
    family_size: np.ndarray | None = field(default=None, repr=False)
    #: per bootstrap member: disparity, PROTEST statistic and p, linear CKA of its fit
    alignment: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    holdout_axis_attribute: np.ndarray | None = None  # (q,) embedding-level check
    holdout_axis_lifespan: np.ndarray | None = None
    p_embedding: np.ndarray | None = None
    #: (B, q): each bootstrap member's own reading (its best axis and sign, on the
    #: discovery rows with the real lifespans, unaligned) and that axis's holdout check
    bootstrap_reading: np.ndarray | None = field(default=None, repr=False)
    bootstrap_p_embedding: np.ndarray | None = field(default=None, repr=False)

    @property
    def p_discovery(self) -> np.ndarray:
        """The reference's screen p per column (q,); see :meth:`null_p_discovery`."""
        return self._adjusted(self.screen.p_discovery(self._directions())[:1])[0]

    @property
    def null_p_discovery(self) -> np.ndarray:
        """The permutation members' screen p (M, q), each in its own claimed direction.

        The levels of a categorical attribute are screened as one attribute: each
        level's p is multiplied by their number (Bonferroni), so a null attribute is
        found at a rate ≤ alpha_discovery however many levels it has.
        """
        m = len(self.null_direction)
        return self._adjusted(self.screen.p_discovery(self._directions())[1:1 + m])

    @property
    def reading_direction(self) -> np.ndarray:
        """The readings of the networks fitted to the real lifespans (R, q): the
        reference's first, then each bootstrap member's on its own axes (none for raw
        screening: no axes to read)."""
        if not REGIMES[self.regime].has_embedding:
            return np.zeros((0, len(self.candidates.direction)), dtype=int)
        boot = self._bootstrap_readings()
        return np.vstack([self.candidates.direction[None], boot]).astype(int)

    @property
    def reading_p_carried(self) -> np.ndarray:
        """``p_carried`` of each reading (R, q), Bonferroni over a categorical attribute's
        levels as in :meth:`null_p_discovery`."""
        if not REGIMES[self.regime].has_embedding:
            return np.ones((0, len(self.candidates.direction)))
        m = len(self.null_direction)
        return self._adjusted(np.vstack([self.screen.p_carried[:1],
                                         self.screen.p_carried[1 + m:]]))

    @property
    def null_p_carried(self) -> np.ndarray:
        """``p_carried`` of each permutation member's own reading (M, q)."""
        m = len(self.null_direction)
        return self._adjusted(self.screen.p_carried[1:1 + m])

    @property
    def reading_p_embedding(self) -> np.ndarray:
        """Each reading's holdout axis check (R, q), the reference's first."""
        q = len(self.candidates.direction)
        reference = np.full(q, np.nan) if self.p_embedding is None else self.p_embedding
        boot = np.zeros((0, q)) if self.bootstrap_p_embedding is None \
            else self.bootstrap_p_embedding
        return np.vstack([reference[None], boot])

    def _bootstrap_readings(self) -> np.ndarray:
        q = len(self.candidates.direction)
        return np.zeros((0, q), dtype=int) if self.bootstrap_reading is None \
            else self.bootstrap_reading

    def _directions(self) -> np.ndarray:
        """The claimed direction of every screened network, in the screen's order."""
        return np.vstack([self.candidates.direction[None], self.null_direction,
                          self._bootstrap_readings()])

    def _adjusted(self, p: np.ndarray) -> np.ndarray:
        size = np.ones(p.shape[1]) if self.family_size is None else self.family_size
        return np.minimum(1.0, p * size[None, :])


@dataclass(frozen=True)
class DiscoveryData:
    """What discovery reads: attributes (n × q), lifespan, the split's rows, and the
    covariates (n × c) that associations are partial to, if any."""

    attributes: np.ndarray
    lifespan: np.ndarray
    discovery: np.ndarray
    holdout: np.ndarray
    mode: DiscoveryMode
    slice_fraction: float
    covariates: np.ndarray | None = None
    #: per discovery row, the block its attribute permutations stay in (groups or
    #: strata), or None
    blocks: np.ndarray | None = None
    family_size: np.ndarray | None = None  # (q,) columns of each column's attribute
    n_screen_permutations: int = 999
    seed: int = 0
    #: False for censored lifespans: ``lifespan`` holds log-rank scores, correlated as
    #: they are rather than ranked (:mod:`embaudit.hypotheses.censored`)
    ranked_lifespan: bool = True

    def correlations(self, embedding: np.ndarray, lifespan: np.ndarray, rows: np.ndarray,
                     live: np.ndarray | None) -> AxisCorrelations:
        """Discovery's correlations on ``rows`` of a full (n × k) embedding."""
        covariates = None if self.covariates is None else self.covariates[rows]
        return axis_correlations(embedding[rows], self.attributes[rows], lifespan[rows],
                                 self.mode, self.slice_fraction, live, covariates,
                                 self.ranked_lifespan)

    def rows_read(self, n: int) -> int:
        """How many of ``n`` rows discovery's correlations use (slice mode: a fraction)."""
        return n if self.mode == "axis" else min(n, max(3, round(self.slice_fraction * n)))

    @property
    def n_covariates(self) -> int:
        return 0 if self.covariates is None else self.covariates.shape[1]

    def screen(self, embeddings: Sequence[np.ndarray | None], lifespans: Sequence[np.ndarray]
               ) -> ScreenResult:
        """The discovery screen of networks (full n × k embeddings, None: raw) fitted to
        ``lifespans`` (full n), on the discovery rows."""
        S = self.discovery
        C = None if self.covariates is None else self.covariates[S]
        return screen([None if E is None else E[S] for E in embeddings],
                      [y[S] for y in lifespans], self.attributes[S], covariates=C,
                      mode=self.mode, slice_fraction=self.slice_fraction, blocks=self.blocks,
                      n_permutations=self.n_screen_permutations, seed=self.seed,
                      ranked_lifespan=self.ranked_lifespan)


def embedding_evidence(
    regime: str,
    members: Sequence[MemberSpec],
    embeddings: np.ndarray,
    data: DiscoveryData,
    alignment: ResamplingConfig | None = None,
) -> RegimeEvidence:
    """Evidence of one embedding regime; ``embeddings`` is (B, n, h) in member order.

    ``alignment`` chooses how bootstrap members are aligned (default: orthogonal
    Procrustes) and how many permutations their PROTEST p-value uses.
    """
    alignment = alignment or ResamplingConfig()
    S, A, y = data.discovery, data.attributes, data.lifespan
    reference = next(i for i, m in enumerate(members) if m.kind == "reference")
    E_ref = embeddings[reference].astype(np.float64)
    live = live_axes(E_ref[S])
    candidates = best_candidates(data.correlations(E_ref, y, S, live))
    signs = (np.sign(candidates.r_axis_attribute), np.sign(candidates.r_axis_lifespan))

    null_ids, null_strength, null_direction, null_embeddings, null_targets = [], [], [], [], []
    boot_direction, boot_axis, quality = [], [], []
    boot_r_attribute, boot_r_lifespan, boot_oob_p = [], [], []
    boot_embeddings, boot_reading, boot_p_embedding = [], [], []
    columns = np.arange(A.shape[1])
    for index, member in enumerate(members):
        E = embeddings[index].astype(np.float64)
        if member.kind == "permutation":
            target = member.targets(y)
            found = best_candidates(data.correlations(E, target, S, None))
            null_ids.append(member.member_id)
            null_strength.append(found.strength)
            null_direction.append(found.direction)
            null_embeddings.append(E)
            null_targets.append(target)
        elif member.kind == "bootstrap":
            own_live = live_axes(E[S])
            own = best_candidates(data.correlations(E, y, S, own_live))
            boot_embeddings.append(E)
            boot_reading.append(own.direction)
            boot_p_embedding.append(_holdout_axis_check(E, own, data, own_live)[2])
            aligned, fit = align_to_reference(E, E_ref, member, alignment)
            quality.append({"member_id": member.member_id, **asdict(fit)})
            in_bag = np.repeat(np.arange(len(y)), member.weights)
            r = data.correlations(aligned, y, in_bag, live)
            boot_axis.append(np.abs(r.products).argmax(axis=0))
            boot_r_attribute.append(r.attribute[candidates.axis, columns])
            boot_r_lifespan.append(r.lifespan[candidates.axis])
            oob = _out_of_bag(member, S)
            r = data.correlations(aligned, y, oob, live)
            boot_direction.append(np.sign(r.products[candidates.axis, columns]).astype(int))
            boot_oob_p.append(_trend_p(r.attribute[candidates.axis, columns],
                                       r.lifespan[candidates.axis], signs, data.rows_read(len(oob)),
                                       data.n_covariates))
    holdout = _holdout_axis_check(E_ref, candidates, data, live)
    return RegimeEvidence(
        regime=regime,
        candidates=candidates,
        screen=data.screen([E_ref, *null_embeddings, *boot_embeddings],
                           [y, *null_targets, *[y] * len(boot_embeddings)]),
        family_size=data.family_size,
        null_strength=np.array(null_strength).reshape(-1, A.shape[1]),
        null_direction=np.array(null_direction).reshape(-1, A.shape[1]),
        null_member_ids=null_ids,
        bootstrap_direction=np.array(boot_direction).reshape(-1, A.shape[1]),
        bootstrap_axis=np.array(boot_axis).reshape(-1, A.shape[1]),
        bootstrap_r_attribute=np.array(boot_r_attribute).reshape(-1, A.shape[1]),
        bootstrap_r_lifespan=np.array(boot_r_lifespan).reshape(-1, A.shape[1]),
        bootstrap_oob_p=np.array(boot_oob_p).reshape(-1, A.shape[1]),
        dead_axes=[int(j) for j in np.flatnonzero(~live)],
        holdout_axis_attribute=holdout[0],
        holdout_axis_lifespan=holdout[1],
        p_embedding=holdout[2],
        alignment=pd.DataFrame(quality, columns=["member_id", *QUALITY_COLUMNS]),
        bootstrap_reading=np.array(boot_reading, dtype=int).reshape(-1, A.shape[1]),
        bootstrap_p_embedding=np.array(boot_p_embedding).reshape(-1, A.shape[1]),
    )


def align_to_reference(
    embedding: np.ndarray, reference: np.ndarray, member: MemberSpec,
    options: ResamplingConfig | None = None,
) -> tuple[np.ndarray, AlignmentQuality]:
    """A bootstrap member's embedding of every row in the reference's basis, and the
    quality of the fit (disparity, PROTEST, linear CKA).

    The alignment is fitted on the member's in-bag rows only: the reference memorised
    lifespan on the member's out-of-bag rows too, and an alignment fitted there would
    carry that memory into the out-of-bag reading of the member's trends.
    """
    options = options or ResamplingConfig()
    in_bag = np.flatnonzero(member.weights > 0)
    aligner = make_aligner(options.alignment, scale=options.alignment_scale,
                           allow_reflection=options.allow_reflection)
    aligner.fit(embedding[in_bag], reference[in_bag])
    fit = alignment_quality(embedding[in_bag], reference[in_bag], method=options.alignment,
                            n_permutations=options.protest_permutations,
                            seed=member.seed, scale=options.alignment_scale,
                            allow_reflection=options.allow_reflection)
    return aligner.transform(embedding), fit


def raw_evidence(members: Sequence[MemberSpec], data: DiscoveryData) -> RegimeEvidence:
    """Raw screening (no embedding) with the same permutations and bootstrap rows."""
    S, A, y = data.discovery, data.attributes, data.lifespan
    C = data.covariates

    def screen_rows(rows: np.ndarray, target: np.ndarray) -> Candidates:
        return raw_candidates(A[rows], target[rows], None if C is None else C[rows],
                              data.ranked_lifespan)

    candidates = screen_rows(S, y)
    permutations = [m for m in members if m.kind == "permutation"]
    null = [screen_rows(S, m.targets(y)) for m in permutations]
    boot = [(screen_rows(oob, y), len(oob)) for m in members if m.kind == "bootstrap"
            for oob in [_out_of_bag(m, S)]]
    oob_p = [spearman_p_positive(found.strength * found.direction * candidates.direction, n,
                                 data.n_covariates) for found, n in boot]
    q = A.shape[1]
    return RegimeEvidence(
        regime=RAW,
        candidates=candidates,
        screen=data.screen([None] * (1 + len(permutations)),
                           [y, *(m.targets(y) for m in permutations)]),
        family_size=data.family_size,
        null_strength=np.array([c.strength for c in null]).reshape(-1, q),
        null_direction=np.array([c.direction for c in null]).reshape(-1, q),
        null_member_ids=[m.member_id for m in permutations],
        bootstrap_direction=np.array([c.direction for c, _ in boot]).reshape(-1, q),
        bootstrap_axis=np.full((len(boot), q), -1),
        bootstrap_oob_p=np.array(oob_p).reshape(-1, q),
    )


def _out_of_bag(member: MemberSpec, discovery: np.ndarray) -> np.ndarray:
    """Discovery rows a bootstrap member did not train on: its own held-out view."""
    return discovery[member.weights[discovery] == 0]


def _trend_p(r_attribute: np.ndarray, r_lifespan: np.ndarray,
             signs: tuple[np.ndarray, np.ndarray], n: np.ndarray | int, n_covariates: int
             ) -> np.ndarray:
    """One-sided p that an axis orders attribute and lifespan with the discovered signs:
    the larger of the two Spearman p-values (intersection–union test)."""
    return np.maximum(spearman_p_positive(r_attribute * signs[0], n, n_covariates),
                      spearman_p_positive(r_lifespan * signs[1], n, n_covariates))


def _holdout_axis_check(
    E_ref: np.ndarray, candidates: Candidates, data: DiscoveryData, live: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Does the candidate's axis still order attribute and lifespan on the holdout?

    The reference projects the holdout rows; the same discovery mode reads them.
    """
    H = data.holdout
    columns = np.arange(data.attributes.shape[1])
    r = data.correlations(E_ref, data.lifespan, H, live)
    n_used = data.rows_read(len(H))
    r_attribute, r_lifespan = r.attribute[candidates.axis, columns], r.lifespan[candidates.axis]
    signs = (np.sign(candidates.r_axis_attribute), np.sign(candidates.r_axis_lifespan))
    return r_attribute, r_lifespan, _trend_p(r_attribute, r_lifespan, signs, n_used,
                                             data.n_covariates)


def member_replication(member_ids: Sequence[str], embeddings: np.ndarray, data: DiscoveryData,
                       names: Sequence[str], alpha: float) -> pd.DataFrame:
    """Each member's own reading of every attribute, and whether it replicates.

    A member (``embeddings``: M × n × k) reads each attribute off its own embedding as
    the reference does (best axis on the discovery rows); the hypothesis replicates when
    that axis still orders attribute and lifespan with the discovered signs on the
    holdout (one-sided p ≤ ``alpha``, the embedding-level check).
    """
    frames = []
    for member_id, embedding in zip(member_ids, embeddings, strict=True):
        live = live_axes(embedding[data.discovery])
        candidates = best_candidates(data.correlations(embedding, data.lifespan,
                                                       data.discovery, live))
        _, _, p = _holdout_axis_check(embedding, candidates, data, live)
        frames.append(pd.DataFrame({
            "member_id": member_id, "attribute": list(names), "axis": candidates.axis,
            "direction": candidates.direction, "strength": candidates.strength,
            "p_embedding": p,
            "replicated": (candidates.direction != 0) & (np.nan_to_num(p, nan=1.0) <= alpha),
        }))
    return pd.concat(frames, ignore_index=True)


def axis_stability(evidence: Sequence[RegimeEvidence], names: Sequence[str]) -> pd.DataFrame:
    """Per embedding regime, attribute and aligned axis: the share of bootstrap networks
    whose best axis for the attribute (in-bag, after alignment) is that axis, the
    stability heat map of the reports. Raw screening has no axes and no rows."""
    frames = []
    for e in evidence:
        chosen = e.bootstrap_axis
        if e.regime == RAW or chosen.size == 0 or (chosen < 0).all():
            continue
        k = max(int(chosen.max()) + 1, int(e.candidates.axis.max()) + 1)
        share = np.stack([(chosen == j).mean(axis=0) for j in range(k)], axis=1)  # (q, k)
        frames.append(pd.DataFrame({
            "regime": e.regime, "attribute": np.repeat(list(names), k),
            "axis": np.tile(np.arange(k), len(names)), "share": share.ravel()}))
    columns = ["regime", "attribute", "axis", "share"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

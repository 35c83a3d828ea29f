"""``audit(config) -> AuditResult``: the pipeline, one direction, no back-edges.

data → split and members (:mod:`embaudit.resampling.options`) → training → evidence →
verdicts and position (:mod:`embaudit.hypotheses.panel`) → store and reports. This
module only orchestrates: each step's decisions live in the layer that owns them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from embaudit.config import AuditConfig, TrainingConfig, build_config
from embaudit.core.members import Split
from embaudit.core.progress import Progress, note, progress_display, stage_progress
from embaudit.core.regimes import RAW, REGIMES
from embaudit.data.independence import clustering_evidence, independence_sentence
from embaudit.data.table import Table, load_table
from embaudit.errors import (
    ConfigError,
    EmbauditWarning,
    library_warnings_logged,
    numerical_warnings,
)
from embaudit.hypotheses.censored import lifespan_association, split_scores
from embaudit.hypotheses.crossfit import crossfit_replication, crossfit_tables
from embaudit.hypotheses.evidence import (
    DiscoveryData,
    RegimeEvidence,
    axis_stability,
    embedding_evidence,
    member_replication,
    raw_evidence,
)
from embaudit.hypotheses.inference import HoldoutAssociation
from embaudit.hypotheses.panel import HoldoutRows, decide_panel
from embaudit.landscape import Landscape, MinimaGroup, analyze_landscape
from embaudit.outputs import save, with_seal
from embaudit.reports import generated_now
from embaudit.resampling.options import (
    best_validation_loss,
    crossfit_folds,
    landscape_minima,
    matched_stopping,
    plan_folds,
    plan_regime,
    screen_blocks,
    split_rows,
    study_optimizers,
    study_training,
)
from embaudit.results import AuditResult
from embaudit.store import AuditStore, audit_identity, open_audit, versions
from embaudit.store.compute import audit_compute
from embaudit.training.execution import cluster_client, train_members
from embaudit.training.fit import EnsembleFit, training_device
from embaudit.training.job import TrainingJob

#: columns of the members table when no network was trained
_NO_MEMBERS = ["member_id", "regime", "kind", "epochs", "train_loss", "holdout_loss",
               "no_better_than_linear"]


def audit(
    config: AuditConfig | dict[str, Any] | None = None,
    table: Table | None = None,
    *,
    truth: dict[str, str] | None = None,
    progress: bool | Progress | None = True,
    overwrite: bool = False,
    command: str = "embaudit.audit() from Python",
) -> AuditResult:
    """Run an audit and, when ``config.out`` is set, write its store and reports.

    ``table`` (e.g. ``embaudit.worlds.product_lifespan().table``) replaces the table
    that ``config.data`` names; ``truth`` (attribute → "+", "-" or "0") is reported
    beside the verdicts of a world with planted truth. An output folder that already
    holds this audit (same config and data) resumes it: only unfinished members train.
    One that holds a different audit is refused unless ``overwrite``. ``command`` is
    recorded in the reproducibility manifest. ``progress``: True shows the chosen
    features and a bar per stage (in a terminal, or a table in a notebook), False none,
    or a callable ``progress(stage, completed, total)`` hears each step.
    """
    config = build_config(config)
    if table is None:
        table = table_from_config(config)
    with progress_display(progress) as report, library_warnings_logged():
        for line in feature_lines(table):
            note(report, line)
        pipeline = _Pipeline(config, table, truth, report, command)  # options checked first
        if config.out is None:
            return pipeline.run(None)
        store = AuditStore(config.out)
        with store.locked():
            open_audit(store, audit_identity(config, table.fingerprint()), overwrite)
            result = with_seal(pipeline.run(store), store, generated_now())
            save(result, store.folder)
            return result


def feature_lines(table: Table) -> list[str]:
    """What an audit says first: its features, by which rule, and what was left out."""
    if table.feature_choice is not None:
        return table.feature_choice.lines()
    return [f"Features: {len(table.features)} columns, as the table gives them."]


def table_from_config(config: AuditConfig) -> Table:
    """Load the table that ``config.data`` describes."""
    data = config.data
    if data.path is None:
        raise ConfigError("No data: pass --data FILE (data.path in the config), or give a "
                          "table to audit().")
    if data.target is None:
        raise ConfigError(f"No target: name the lifespan column of {data.path!r} with "
                          "--target COLUMN (data.target in the config).")
    return load_table(
        data.path, target=data.target, attributes=data.attributes, features=data.features,
        covariates=data.covariates, id=data.id, group=data.group, event=data.event,
        target_transform=data.target_transform, images=data.images,
    )


@dataclass
class _RegimeRun:
    """What training one regime gave the statistics."""

    evidence: RegimeEvidence
    diagnostics: list[pd.DataFrame] = field(default_factory=list)
    curves: list[pd.DataFrame] = field(default_factory=list)
    #: how each chunk was computed (``training.compute``), without a store
    compute: list[pd.DataFrame] = field(default_factory=list)
    embedding: np.ndarray | None = None  # the reference's, n × h
    fold_embeddings: list[np.ndarray] | None = None  # per cross-fit fold, n × h
    #: the landscape's minima, one group per optimizer, with their embeddings (M × n × h)
    minima: list[tuple[MinimaGroup, np.ndarray]] = field(default_factory=list)


class _Pipeline:
    """One audit's steps, planned up front so bad options fail before any training."""

    def __init__(self, config: AuditConfig, table: Table, truth: dict[str, str] | None,
                 progress: Progress | None, command: str = "") -> None:
        self.config, self.table, self.truth, self.progress = config, table, truth, progress
        self.command = command
        training_device(config.training)  # a missing GPU is refused before the store opens
        self.split = split_rows(table, config)
        regimes = [*config.training.regimes, *([RAW] if config.discovery.raw_screening
                                               else [])]
        self.plans = {regime: plan_regime(regime, self.split, table, config)
                      for regime in regimes}
        self.folds = crossfit_folds(table, config)
        self.data = self._discovery_data()
        clustered = clustering_evidence(table, config.seed)
        self.independence = independence_sentence(table, clustered)
        if clustered:
            warnings.warn(self.independence, EmbauditWarning, stacklevel=3)

    def run(self, store: AuditStore | None) -> AuditResult:
        """Train, read the evidence, test, decide."""
        resumed = self._resumed(store)
        with self._workers(resumed) as client:
            return self._run(store, client, resumed)

    def _run(self, store: AuditStore | None, client: Any,
             resumed: dict[str, set[str]]) -> AuditResult:
        config, table = self.config, self.table
        runs = self._train(store, client, resumed)
        diagnostics = [d for run in runs for d in run.diagnostics]
        members = pd.concat(diagnostics, ignore_index=True) if diagnostics \
            else pd.DataFrame(columns=_NO_MEMBERS)
        with numerical_warnings("the screens, the holdout tests and the verdicts"):
            if config.discovery.raw_screening:
                runs.append(_RegimeRun(raw_evidence(self.plans[RAW], self.data)))
            holdout = self._holdout_tests()
            evidence = [run.evidence for run in runs]
            decision = decide_panel(
                evidence, holdout, table.attribute_columns, members, config, self.truth,
                HoldoutRows(self.data.attributes[self.split.holdout], self._partial_p),
                self.independence)
            crossfit = self._crossfit(runs)
            rates, agreement = crossfit_tables(crossfit, config.split.crossfit_folds or 0)
        curves = [c for run in runs for c in run.curves]
        compute = audit_compute(store, [c for run in runs for c in run.compute])
        landscape = self._landscape([m for run in runs for m in run.minima],
                                    client if isinstance(client, Executor) else None) \
            if config.landscape.enabled else None
        return AuditResult(
            config=config, table=table, split=self.split,
            hypotheses=decision.hypotheses, regimes=decision.regimes,
            position=decision.position, lead_regime=decision.lead_regime,
            null_strengths=_null_strengths(evidence, table), members=members,
            stability=axis_stability(evidence, [c.name for c in table.attribute_columns]),
            curves=pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
            embeddings={run.evidence.regime: run.embedding for run in runs
                        if run.embedding is not None},
            truth=self.truth, versions=versions(), skipped=decision.skipped,
            crossfit=crossfit, crossfit_rates=rates, crossfit_agreement=agreement,
            landscape=landscape, data_sha256=table.fingerprint(), command=self.command,
            compute=compute,
        )

    def _discovery_data(self) -> DiscoveryData:
        config, table, split = self.config, self.table, self.split
        columns = table.attribute_columns
        lifespan = table.y if table.events is None else split_scores(
            table.lifespan, table.events, [split.discovery, split.holdout])
        return DiscoveryData(
            attributes=table.attribute_matrix, lifespan=lifespan,
            discovery=split.discovery, holdout=split.holdout,
            mode=config.discovery.mode, slice_fraction=config.discovery.slice_fraction,
            covariates=table.covariate_matrix, blocks=screen_blocks(table, split, config),
            family_size=np.array([sum(o.attribute == c.attribute for o in columns)
                                  for c in columns]),
            n_screen_permutations=config.statistics.n_screen_permutations,
            seed=config.seed, ranked_lifespan=table.events is None,
        )

    def _holdout_tests(self) -> HoldoutAssociation:
        """Attribute vs lifespan on the holdout with the configured intervals and null
        (with a group column: cluster-robust tests, intervals resampling whole groups;
        with an event column: the censored tests of :mod:`embaudit.hypotheses.censored`)."""
        stat, table, rows, data = self.config.statistics, self.table, self.split.holdout, \
            self.data
        return lifespan_association(
            table, rows, data.attributes[rows],
            None if data.covariates is None else data.covariates[rows],
            np.unique([c.attribute for c in table.attribute_columns], return_inverse=True)[1],
            n_resamples=stat.n_resamples, n_permutations=stat.n_holdout_permutations,
            max_t=stat.correction == "maxt", confidence=stat.confidence,
            seed=self.config.seed, alpha=stat.alpha)

    def _partial_p(self, column: int, given: Sequence[int], direction: int) -> float:
        """One-sided holdout p of attribute ``column`` in ``direction``, partial on the
        ``given`` attribute columns (and the table's covariates), as the holdout tests."""
        rows, data = self.split.holdout, self.data
        extra = data.attributes[rows][:, list(given)]
        covariates = extra if data.covariates is None else np.column_stack(
            [data.covariates[rows], extra])
        test = lifespan_association(
            self.table, rows, data.attributes[rows][:, [column]], covariates,
            np.zeros(1, dtype=int), n_resamples=0, n_permutations=999, max_t=False,
            confidence=self.config.statistics.confidence, seed=self.config.seed)
        return float(test.p_value(np.array([direction]))[0])

    def _resumed(self, store: AuditStore | None) -> dict[str, set[str]]:
        """Per trained regime, the members the store already holds."""
        return {regime: (store.finished_members(regime) if store is not None else set())
                & {m.member_id for m in self.plans[regime]}
                for regime in self.config.training.regimes}

    def _workers(self, resumed: dict[str, set[str]]) -> AbstractContextManager[Any]:
        """Where members train (and the landscape's groups are measured): the local
        worker pool (it forks on first use), a Dask cluster, or None."""
        execution = self.config.execution
        if not any(len(done) < len(self.plans[r]) for r, done in resumed.items()):
            execution = execution.model_copy(update={"executor": "local"})  # no cluster
        return cluster_client(execution)

    def _train(self, store: AuditStore | None, client: Any,
               resumed: dict[str, set[str]]) -> list[_RegimeRun]:
        """Train (or resume) every network regime's members and read their evidence
        (``resumed``: the members the store held when the audit started)."""
        return [self._train_regime(regime, len(resumed[regime]), store, client)
                for regime in self.config.training.regimes]

    def _train_regime(self, regime: str, n_resumed: int, store: AuditStore | None,
                      client: Any) -> _RegimeRun:
        """One regime's members and, with cross-fit folds, each fold's network."""
        members = self.plans[regime]
        stage = f"Training {regime} members" + (
            f" (resuming: {n_resumed} already trained)" if n_resumed else "")
        report = None if self.progress is None else stage_progress(self.progress, stage)
        study = self.config.landscape.enabled and REGIMES[regime].trains_network
        # without a store, weights exist only if training keeps them (the landscape's
        # minima are read back from a store)
        fit = train_members(self._job(regime, self.split, store), members, store=store,
                            client=client, progress=report,
                            keep_state=study and store is None)
        with numerical_warnings(f"the {regime} regime's discovery screen"):
            evidence = embedding_evidence(regime, members, fit.embeddings, self.data,
                                          self.config.resampling)
        frame = fit.diagnostics.merge(evidence.alignment, on="member_id", how="left")
        frame["dead_axes_reference"] = len(evidence.dead_axes)
        run = _RegimeRun(evidence, [frame], [fit.curves], [fit.compute],
                         fit.embeddings[[m.kind for m in members].index("reference")])
        if self.folds:
            fold_members = plan_folds(regime, self.folds, self.table, self.config)
            fits = [train_members(self._job(regime, fold, store, all_rows=True), [member],
                                  store=store, client=client)
                    for member, fold in zip(fold_members, self.folds, strict=True)]
            run.fold_embeddings = [f.embeddings[0] for f in fits]
            run.diagnostics += [f.diagnostics for f in fits]
            run.curves += [f.curves for f in fits]
            run.compute += [f.compute for f in fits]
        if study:
            run.minima = self._minima(regime, fit, store, client)
        return run

    def _minima(self, regime: str, fit: EnsembleFit, store: AuditStore | None, client: Any
                ) -> list[tuple[MinimaGroup, np.ndarray]]:
        """The landscape's minima of ``regime``: the reference and its seed replicates,
        trained with the audit's optimizer and with each other optimizer of the study."""
        sampled = landscape_minima(self.plans[regime], self.config)
        spec = REGIMES[regime]
        groups = []
        for optimizer in study_optimizers(self.config):
            main = optimizer == self.config.training.optimizer
            copies = sampled if main else [m.with_optimizer(optimizer) for m in sampled]
            stage = f"Training {regime} seed replicates" + ("" if main else
                                                             f" with {optimizer}")
            training = study_training(self.config, optimizer)
            if spec.early_stopping and not main:  # matched on validation loss, not epochs
                training = matched_stopping(training, best_validation_loss(fit.curves, sampled[0]))
            part = train_members(
                self._job(regime, self.split, store, training=training),
                copies[1:] if main else copies, store=store, client=client, keep_state=True,
                progress=None if self.progress is None else stage_progress(self.progress, stage))
            ids, state, embeddings = part.member_ids, part.state, part.embeddings
            if main:  # the reference is the audit's own, trained already
                reference = fit.member_ids.index(sampled[0].member_id)
                reference_state = {k: v[[reference]] for k, v in fit.state.items()} \
                    if store is None else \
                    store.read_members(regime, [sampled[0].member_id], with_state=True).state
                ids = [sampled[0].member_id, *ids]
                state = {k: np.concatenate([reference_state[k], v]) for k, v in state.items()}
                embeddings = np.concatenate([fit.embeddings[[reference]], embeddings])
            groups.append((MinimaGroup(
                regime, optimizer, ids, [m.kind for m in sampled], state,
                np.stack([m.train_weights for m in sampled]), [m.seed for m in sampled],
                training.weight_decay if spec.weight_decay else 0.0, spec.early_stopping),
                embeddings))
        return groups

    def _landscape(self, minima: list[tuple[MinimaGroup, np.ndarray]],
                   executor: Executor | None) -> Landscape:
        """The loss landscape of the sampled minima, and whether the hypotheses read off
        each minimum replicate on the holdout."""
        names = [c.name for c in self.table.attribute_columns]
        replication = pd.concat([
            member_replication(group.member_ids, embeddings, self.data, names,
                               self.config.statistics.alpha)
            for group, embeddings in minima], ignore_index=True)
        return analyze_landscape([group for group, _ in minima], self.table.X, self.table.y,
                                 self.split, replication, self.config.landscape,
                                 self.config.statistics.confidence, self.config.seed,
                                 None if self.progress is None else
                                 stage_progress(self.progress, "Loss landscape of the minima"),
                                 self.table.features, self.config.training.memory_budget_mb,
                                 executor)

    def _job(self, regime: str, split: Split, store: AuditStore | None, *,
             all_rows: bool = False, training: TrainingConfig | None = None) -> TrainingJob:
        """What ``regime``'s members train with on ``split`` (``training``: the config's
        unless given). Cross-fit members draw their mini-batches from every row
        (``all_rows``), so the main members' batches stay as they are. Local training
        with a store logs its curves into the store's folder."""
        config, table = self.config, self.table
        log_dir = None if store is None or config.execution.executor != "local" \
            else store.folder / "training_logs"
        return TrainingJob(
            table.X, table.y,
            rows=np.arange(table.n_rows) if all_rows else split.discovery, regime=regime,
            training=training or config.training, network=config.network,
            holdout=split.holdout, shuffle_seed=config.seed, events=table.events,
            log_dir=log_dir)

    def _crossfit(self, runs: list[_RegimeRun]) -> pd.DataFrame:
        """Cross-fit replication per regime, fold and attribute (empty when off)."""
        if not self.folds:
            return pd.DataFrame()
        embeddings = {run.evidence.regime: run.fold_embeddings for run in runs}
        names = [c.name for c in self.table.attribute_columns]
        data, stat = self.data, self.config.statistics

        def fold_test(rows: np.ndarray) -> HoldoutAssociation:
            return lifespan_association(
                self.table, rows, data.attributes[rows],
                None if data.covariates is None else data.covariates[rows], None,
                n_resamples=0, n_permutations=0, max_t=False, confidence=stat.confidence,
                seed=self.config.seed)

        return crossfit_replication(self.folds, embeddings, data, names, stat.alpha,
                                    fold_test)


def _null_strengths(evidence: list[RegimeEvidence], table: Table) -> pd.DataFrame:
    names = [c.name for c in table.attribute_columns]
    frames = [
        pd.DataFrame({
            "regime": e.regime,
            "attribute": np.tile(names, len(e.null_member_ids)),
            "member_id": np.repeat(e.null_member_ids, len(names)),
            "strength": e.null_strength.ravel(),
        })
        for e in evidence
    ]
    return pd.concat(frames, ignore_index=True)

"""``audit(config) -> AuditResult``: the whole pipeline, one direction, no back-edges.

data → split and members → training → embeddings → alignment and discovery →
statistics → verdicts → store and reports.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embaudit.config import AuditConfig, build_config
from embaudit.core.regimes import REGIMES, lead_regime
from embaudit.data.table import Table, load_table
from embaudit.errors import ConfigError, DataError
from embaudit.hypotheses.crossfit import crossfit_replication
from embaudit.hypotheses.evidence import (
    QUALITY_COLUMNS,
    DiscoveryData,
    RegimeEvidence,
    embedding_evidence,
    raw_evidence,
)
from embaudit.hypotheses.inference import HoldoutAssociation, holdout_association
from embaudit.hypotheses.position import (
    best_leads,
    compare_with_lead,
    decide_position,
    regime_row,
)
from embaudit.hypotheses.verdicts import assess_regime
from embaudit.resampling.crossfit import crossfit_splits, plan_crossfit
from embaudit.resampling.execution import cluster_client, train_members
from embaudit.resampling.plans import MemberSpec, Split, discovery_holdout_split, plan_members
from embaudit.results import AuditResult
from embaudit.store import AuditStore, metadata_frame

#: progress(stage description, completed, total)
Progress = Callable[[str, float, float], None]
#: views over the hypotheses table, named as the design names the store's contents
STORE_VIEWS = {
    "tests": "SELECT regime, attribute, strength, p_carried, p_association, p_discovery, "
             "found, p_retrained, p_retrained_maxt, effect_holdout, ci_low, ci_high, "
             "p_holdout, q_holdout, p_embedding, sign_consistency, selection_frequency, "
             "n_holdout FROM hypotheses",
    "verdicts": "SELECT regime, attribute, direction, verdict, n_required FROM hypotheses",
}
_PACKAGES = ("embaudit", "torch", "pytorch-lightning", "numpy", "pandas", "scipy",
             "scikit-learn", "statsmodels", "duckdb", "pyarrow")


def audit(
    config: AuditConfig | dict[str, Any] | None = None,
    table: Table | None = None,
    *,
    truth: dict[str, str] | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
) -> AuditResult:
    """Run an audit and, when ``config.out`` is set, write its store and reports.

    ``table`` (e.g. ``embaudit.worlds.product_lifespan().table``) replaces the table
    that ``config.data`` names; ``truth`` (attribute → "+", "-" or "0") is reported
    beside the verdicts of a world with planted truth. An output folder that already
    holds this audit (same config and data) resumes it: only unfinished members train.
    One that holds a different audit is refused unless ``overwrite``.
    """
    config = build_config(config)
    if table is None:
        table = table_from_config(config)
    split = _split(table, config)
    plans = {regime: _plan(regime, split, table, config)  # every option checked first
             for regime in [*config.training.regimes,
                            *(["raw"] if config.discovery.raw_screening else [])]}
    folds = _crossfit_folds(table, config)
    if config.out is None:
        return _audit(config, table, split, plans, folds, None, truth, progress)
    store = AuditStore(config.out)
    with store.locked():
        open_store(store, config, table, overwrite)
        return _audit(config, table, split, plans, folds, store, truth, progress)


def _audit(
    config: AuditConfig, table: Table, split: Split, plans: dict[str, list[MemberSpec]],
    folds: list[Split], store: AuditStore | None, truth: dict[str, str] | None,
    progress: Progress | None,
) -> AuditResult:
    """The audit after its checks: train, read the evidence, test, decide, save."""
    columns = table.attribute_columns
    data = DiscoveryData(
        attributes=table.attribute_matrix,
        lifespan=table.y,
        discovery=split.discovery,
        holdout=split.holdout,
        mode=config.discovery.mode,
        slice_fraction=config.discovery.slice_fraction,
        covariates=table.covariate_matrix,
        blocks=_permutation_blocks(table, split, config),
        family_size=np.array([sum(o.attribute == c.attribute for o in columns)
                              for c in columns]),
        n_screen_permutations=config.statistics.n_screen_permutations,
        seed=config.seed,
    )
    holdout = _holdout_tests(data, table, split.holdout, config)
    evidence, diagnostics, curves, embeddings, fold_embeddings = _train_regimes(
        config, table, split, data, plans, folds, store, progress)
    if config.discovery.raw_screening:
        evidence.append(raw_evidence(plans["raw"], data))
        if folds:
            fold_embeddings["raw"] = None
    names = [c.name for c in table.attribute_columns]
    crossfit = crossfit_replication(folds, fold_embeddings, data, names,
                                    config.statistics.alpha, table.groups) \
        if folds else pd.DataFrame()

    members = pd.concat(diagnostics, ignore_index=True) if diagnostics else pd.DataFrame(
        columns=["member_id", "regime", "kind", "epochs", "train_loss", "holdout_loss",
                 "no_better_than_linear"])
    assessed = {e.regime: assess_regime(e, holdout, columns, config.statistics)
                for e in evidence}
    regimes = [regime_row(e, assessed[e.regime], holdout, config.statistics, members,
                          config.seed) for e in evidence]
    lead = lead_regime([e.regime for e in evidence])
    compare_with_lead(regimes, {r: a.survives for r, a in assessed.items()}, lead)
    positions = {r["regime"]: decide_position(r, members, config.resampling.n_permutations,
                                              len(split.holdout), config.statistics)
                 for r in regimes}
    for row in regimes:
        row["position"] = positions[row["regime"]].position
    position = positions[lead]
    position = replace(position, comparison=best_leads(regimes, lead,
                                                       config.statistics.position_alpha))
    hypotheses = []
    for assessment in assessed.values():
        frame = assessment.frame
        if truth is not None:
            frame = frame.assign(truth=frame["source_attribute"].map(truth))
        hypotheses.append(frame)
    result = AuditResult(
        config=config,
        table=table,
        split=split,
        hypotheses=pd.concat(hypotheses, ignore_index=True),
        regimes=pd.DataFrame(regimes),
        position=position,
        null_strengths=_null_strengths(evidence, table),
        members=members,
        curves=pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
        embeddings=embeddings,
        truth=truth,
        versions=versions(),
        skipped=pd.concat([a.skipped for a in assessed.values()], ignore_index=True),
        crossfit=crossfit,
    )
    if store is not None:
        save(result, store.folder)
    return result


def _holdout_tests(data: DiscoveryData, table: Table, rows: np.ndarray, config: AuditConfig
                   ) -> HoldoutAssociation:
    """Attribute vs lifespan on ``rows`` with the configured intervals and null (with a
    group column: cluster-robust tests and intervals that resample whole groups)."""
    stat = config.statistics
    groups = table.groups
    return holdout_association(
        data.attributes[rows], data.lifespan[rows],
        None if data.covariates is None else data.covariates[rows],
        groups=None if groups is None else groups[rows],
        families=np.unique([c.attribute for c in table.attribute_columns],
                           return_inverse=True)[1],
        n_resamples=stat.n_resamples,
        n_permutations=stat.n_holdout_permutations
        if stat.correction == "maxt" or groups is not None else 0,
        confidence=stat.confidence, seed=config.seed,
    )


def _train_regimes(
    config: AuditConfig, table: Table, split: Split, data: DiscoveryData,
    plans: dict[str, list[MemberSpec]], folds: list[Split], store: AuditStore | None,
    progress: Progress | None,
) -> tuple[list[RegimeEvidence], list[pd.DataFrame], list[pd.DataFrame],
           dict[str, np.ndarray], dict[str, list[np.ndarray] | None]]:
    """Train (or resume) every network regime's members and read their evidence; with
    cross-fit folds, also each fold's network (its embeddings of all rows)."""
    evidence: list[RegimeEvidence] = []
    diagnostics, curves, embeddings = [], [], {}
    fold_embeddings: dict[str, list[np.ndarray] | None] = {}
    log_dir = None if store is None or config.execution.executor != "local" \
        else store.folder / "training_logs"
    resumed = {regime: (store.finished_members(regime) if store is not None else set())
               & {m.member_id for m in plans[regime]} for regime in config.training.regimes}
    remaining = any(len(resumed[r]) < len(plans[r]) for r in config.training.regimes)
    execution = config.execution if remaining else config.execution.model_copy(
        update={"executor": "local"})  # nothing to train: no cluster to start
    with cluster_client(execution) as client:
        for regime in config.training.regimes:
            members = plans[regime]
            stage = f"Training {regime} members" + (
                f" (resuming: {len(resumed[regime])} already trained)"
                if resumed[regime] else "")
            fit = train_members(
                table.X, table.y, members,
                rows=split.discovery, regime=regime, training=config.training,
                network=config.network, holdout=split.holdout, shuffle_seed=config.seed,
                store=store, client=client, log_dir=log_dir,
                progress=None if progress is None else _stage(progress, stage),
            )
            found = embedding_evidence(regime, members, fit.embeddings, data,
                                       config.resampling)
            evidence.append(found)
            frame = fit.diagnostics.merge(found.alignment, on="member_id", how="left")
            frame["dead_axes_reference"] = len(found.dead_axes)
            diagnostics.append(frame)
            curves.append(fit.curves)
            embeddings[regime] = fit.embeddings[[m.kind for m in members].index("reference")]
            if folds:
                fits = _train_folds(config, table, regime, folds, store, client, log_dir)
                fold_embeddings[regime] = [f.embeddings[0] for f in fits]
                diagnostics += [f.diagnostics for f in fits]
                curves += [f.curves for f in fits]
    return evidence, diagnostics, curves, embeddings, fold_embeddings


def _train_folds(config: AuditConfig, table: Table, regime: str, folds: list[Split],
                 store: AuditStore | None, client: Any, log_dir: Path | None
                 ) -> list[Any]:
    """One cross-fit network per fold, trained on the other folds (mini-batches drawn
    from every row, so the main members' batches stay as they are)."""
    members = plan_crossfit(
        folds, table.n_rows, regime, root_seed=config.seed, groups=table.groups,
        validation_fraction=(config.training.validation_fraction
                             if REGIMES[regime].early_stopping else None))
    return [
        train_members(table.X, table.y, [member], rows=np.arange(table.n_rows),
                      regime=regime, training=config.training, network=config.network,
                      holdout=fold.holdout, shuffle_seed=config.seed, store=store,
                      client=client, log_dir=log_dir)
        for member, fold in zip(members, folds, strict=True)
    ]


def _crossfit_folds(table: Table, config: AuditConfig) -> list[Split]:
    """The K cross-fit splits the config asks for (none when off)."""
    k = config.split.crossfit_folds
    if not k:
        return []
    try:
        return crossfit_splits(table.y, k, config.seed, table.groups, config.split.n_strata)
    except ValueError as error:
        raise ConfigError(f"Cannot cross-fit: {error}.") from None


def _resampling_choices(table: Table, config: AuditConfig
                        ) -> tuple[str, str, np.ndarray | None]:
    """The bootstrap kind, what permutations stay within, and the strata column's values.

    ``auto`` respects the data's structure: with a group column, bootstrap members
    resample whole groups and permutations stay within groups.
    """
    options = config.resampling
    groups = table.groups
    bootstrap = options.bootstrap if options.bootstrap != "auto" else (
        "plain" if groups is None else "cluster")
    within = options.permute_within if options.permute_within != "auto" else (
        "none" if groups is None else "groups")
    strata = None
    if options.strata is not None:
        if options.strata not in table.frame.columns:
            raise ConfigError(f"resampling.strata names column {options.strata!r}, which is "
                              "not in the table; name a column of the data or leave it unset.")
        strata = table.frame[options.strata].to_numpy()
    return bootstrap, within, strata


def _permutation_blocks(table: Table, split: Split, config: AuditConfig) -> np.ndarray | None:
    """Per discovery row, the block the discovery screen's permutations stay in: the same
    groups or strata as the permutation members' lifespans (None: no blocks)."""
    _, within, strata = _resampling_choices(table, config)
    labels = {"none": None, "groups": table.groups, "strata": strata}[within]
    if labels is None:
        return None
    return pd.factorize(np.asarray(labels)[split.discovery], sort=True)[0]


def _plan(regime: str, split: Split, table: Table, config: AuditConfig) -> list[MemberSpec]:
    """The members of ``regime`` as the config asks (rows, targets, seeds)."""
    options = config.resampling
    groups = table.groups
    bootstrap, within, strata = _resampling_choices(table, config)
    try:
        return plan_members(
            split, table.n_rows, regime,
            n_bootstrap=options.n_bootstrap,
            n_permutations=options.n_permutations,
            root_seed=config.seed,
            validation_fraction=(config.training.validation_fraction
                                 if REGIMES[regime].early_stopping else None),
            groups=groups, strata=strata, bootstrap=bootstrap,
            subsample_fraction=options.subsample_fraction, permute_within=within,
        )
    except ValueError as error:
        raise ConfigError(f"Cannot plan the {regime} members: {error}") from None


def audit_identity(config: AuditConfig, table: Table) -> dict[str, Any]:
    """What makes two audits the same audit: the config, less what cannot change a
    result (where files go, which machines compute, how members are chunked, where the
    data file lies: its content is hashed), the data, and the packages that compute."""
    excluded = {"out": True, "execution": True, "data": {"path"},
                "training": {"chunk_size", "memory_budget_mb"}}
    found = versions()
    return {"config": config.model_dump(mode="json", exclude=excluded),
            "data_sha256": table.fingerprint(),
            "versions": {k: found[k] for k in ("embaudit", "torch", "numpy", "scipy",
                                               "scikit-learn")}}


def open_store(store: AuditStore, config: AuditConfig, table: Table, overwrite: bool) -> None:
    """Make ``store`` this audit's: new, resumed (same audit), or refused (another)."""
    identity = audit_identity(config, table)
    differences = store.identity_differences(identity)
    if differences and not overwrite:
        shown = "; ".join(differences[:5]) + (" …" if len(differences) > 5 else "")
        raise ConfigError(
            f"Output folder {str(store.folder)!r} holds a different audit ({shown}). Use a "
            "new folder, or pass --overwrite (overwrite=True) to replace it."
        )
    if differences:
        store.clear()
    store.sweep()
    if differences is None or differences:
        store.write_metadata({"identity": identity})


def table_from_config(config: AuditConfig) -> Table:
    """Load the table that ``config.data`` describes."""
    data = config.data
    if data.path is None or data.target is None:
        raise ConfigError("No data: set data.path and data.target in the config (or pass "
                          "--data and --target), or give a table to audit().")
    return load_table(
        data.path, target=data.target, attributes=data.attributes, features=data.features,
        covariates=data.covariates, id=data.id, group=data.group,
        target_transform=data.target_transform,
    )


def save(result: AuditResult, folder: str | Path) -> dict[str, Path]:
    """Write the results (DuckDB tables) and the three reports to ``folder``.

    Members were stored as they finished; this adds what the statistics found.
    """
    from embaudit.reports import write_reports

    store = AuditStore(folder)
    metadata = store.read_metadata()
    metadata.update({
        "identity": metadata.get("identity", audit_identity(result.config, result.table)),
        "config": result.config.model_dump(mode="json"),
        "versions": result.versions,
        "data_sha256": result.table.fingerprint(),
        "roles": result.table.roles(),
        "truth": result.truth,
    })
    columns = ["member_id", "regime", "kind", *QUALITY_COLUMNS]
    members = result.members
    alignment = members[columns].dropna(subset=["disparity"]) if not members.empty \
        else pd.DataFrame(columns=columns)
    store.write_tables({  # one transaction: metadata and results always match
        "metadata": metadata_frame(metadata),
        "hypotheses": result.hypotheses,
        "regimes": result.regimes,
        "null_strengths": result.null_strengths,
        "skipped": result.skipped,
        **({"crossfit": result.crossfit} if not result.crossfit.empty else {}),
        "alignment": alignment,
        "split": pd.DataFrame({
            "row": np.concatenate([result.split.discovery, result.split.holdout]),
            "part": ["discovery"] * len(result.split.discovery)
            + ["holdout"] * len(result.split.holdout),
        }),
    }, views=STORE_VIEWS)
    return write_reports(result, Path(folder))


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the results."""
    found = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _split(table: Table, config: AuditConfig) -> Split:
    try:
        return discovery_holdout_split(table.y, config.split.holdout_fraction,
                                       config.split.n_strata, config.seed, table.groups)
    except ValueError as error:
        if table.group is None:
            raise
        raise DataError(f"Cannot split the rows by group column {table.group!r}: {error}. "
                        "Use a finer group column or none.") from None


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


def _stage(progress: Progress, description: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        progress(description, done, total)

    return report

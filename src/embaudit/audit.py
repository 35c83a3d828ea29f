"""``audit(config) -> AuditResult``: the whole pipeline, one direction, no back-edges.

data → split and members → training → embeddings → alignment and discovery →
statistics → verdicts → store and reports.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from embaudit.config import AuditConfig, build_config
from embaudit.data.table import Table, load_table
from embaudit.errors import ConfigError, DataError
from embaudit.hypotheses.evidence import (
    DiscoveryData,
    RegimeEvidence,
    embedding_evidence,
    raw_evidence,
)
from embaudit.hypotheses.inference import holdout_association
from embaudit.hypotheses.verdicts import assess_regime, decide_position
from embaudit.resampling.plans import Split, discovery_holdout_split, plan_members
from embaudit.results import AuditResult
from embaudit.store import AuditStore, metadata_frame
from embaudit.training.fit import fit_ensemble

#: progress(stage description, completed, total)
Progress = Callable[[str, float, float], None]
_PACKAGES = ("embaudit", "torch", "pytorch-lightning", "numpy", "pandas", "scipy",
             "scikit-learn", "statsmodels", "duckdb", "pyarrow")


def audit(
    config: AuditConfig | dict[str, Any] | None = None,
    table: Table | None = None,
    *,
    truth: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> AuditResult:
    """Run an audit and, when ``config.out`` is set, write its store and reports.

    ``table`` (e.g. ``embaudit.worlds.product_lifespan().table``) replaces the table
    that ``config.data`` names; ``truth`` (attribute → "+", "-" or "0") is reported
    beside the verdicts of a world with planted truth.
    """
    config = build_config(config)
    if table is None:
        table = table_from_config(config)
    split = _split(table, config)
    data = DiscoveryData(
        attributes=table.attribute_matrix,
        lifespan=table.y,
        discovery=split.discovery,
        holdout=split.holdout,
        mode=config.discovery.mode,
        slice_fraction=config.discovery.slice_fraction,
    )
    covariates = table.covariate_matrix
    holdout = holdout_association(
        data.attributes[split.holdout],
        table.y[split.holdout],
        None if covariates is None else covariates[split.holdout],
    )

    evidence: list[RegimeEvidence] = []
    diagnostics, curves, embeddings = [], [], {}
    for regime in config.training.regimes:
        members = plan_members(
            split, table.n_rows, regime,
            n_bootstrap=config.resampling.n_bootstrap,
            n_permutations=config.resampling.n_permutations,
            root_seed=config.seed,
            validation_fraction=(config.training.validation_fraction
                                 if regime == "regularized" else None),
        )
        report = None if progress is None else _stage(progress, f"Training {regime} members")
        fit = fit_ensemble(
            table.X, table.y, members,
            rows=split.discovery, regime=regime, training=config.training,
            network=config.network, holdout=split.holdout, shuffle_seed=config.seed,
            progress=report,
            log_dir=None if config.out is None else Path(config.out) / "training_logs",
        )
        found = embedding_evidence(regime, members, fit.embeddings, data)
        evidence.append(found)
        frame = fit.diagnostics.copy()
        frame["disparity"] = frame["member_id"].map(found.disparity)
        frame["dead_axes_reference"] = len(found.dead_axes)
        diagnostics.append(frame)
        curves.append(fit.curves)
        embeddings[regime] = fit.embeddings[[m.kind for m in members].index("reference")]
    if config.discovery.raw_screening:
        members = plan_members(split, table.n_rows, "raw",
                               n_bootstrap=config.resampling.n_bootstrap,
                               n_permutations=config.resampling.n_permutations,
                               root_seed=config.seed)
        evidence.append(raw_evidence(members, data))

    hypotheses, regimes, min_max_t, skipped = [], [], {}, []
    for found in evidence:
        frame, row, smallest, untested = assess_regime(found, holdout, table.attribute_columns,
                                                       config.statistics)
        if truth is not None:
            frame["truth"] = frame["source_attribute"].map(truth)
        hypotheses.append(frame)
        regimes.append(row)
        skipped.append(untested)
        min_max_t[found.regime] = smallest
    lead = "overfit" if "overfit" in min_max_t else regimes[0]["regime"]
    lead_row = next(r for r in regimes if r["regime"] == lead)
    position = decide_position(
        lead_row, min_max_t[lead], config.resampling.n_permutations, len(split.holdout),
        config.statistics, others=[r for r in regimes if r["regime"] != lead],
    )
    result = AuditResult(
        config=config,
        table=table,
        split=split,
        hypotheses=pd.concat(hypotheses, ignore_index=True),
        regimes=pd.DataFrame(regimes),
        position=position,
        null_strengths=_null_strengths(evidence, table),
        members=pd.concat(diagnostics, ignore_index=True) if diagnostics else pd.DataFrame(),
        curves=pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
        embeddings=embeddings,
        truth=truth,
        versions=versions(),
        skipped=pd.concat(skipped, ignore_index=True),
    )
    if config.out is not None:
        save(result, config.out)
    return result


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
    """Write the store (``audit.duckdb`` + Parquet) and the three reports to ``folder``."""
    from embaudit.reports import write_reports

    store = AuditStore(folder)
    for stale in store.folder.glob("embedding_*.parquet"):  # from an earlier audit here
        stale.unlink()
    store.write_tables({  # one atomic write: metadata and results always match
        "metadata": metadata_frame({
            "config": result.config.model_dump(mode="json"),
            "versions": result.versions,
            "data_sha256": result.table.fingerprint(),
            "roles": result.table.roles(),
            "truth": result.truth,
        }),
        "members": result.members,
        "hypotheses": result.hypotheses,
        "regimes": result.regimes,
        "null_strengths": result.null_strengths,
        "skipped": result.skipped,
        "curves": result.curves,
        "split": pd.DataFrame({
            "row": np.concatenate([result.split.discovery, result.split.holdout]),
            "part": ["discovery"] * len(result.split.discovery)
            + ["holdout"] * len(result.split.holdout),
        }),
    })
    for regime, embedding in result.embeddings.items():
        store.write_array(f"embedding_{regime}_reference", [f"{regime}/reference"],
                          embedding[None])
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

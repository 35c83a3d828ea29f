"""The config's resampling options, resolved against a table into splits and plans.

``auto`` respects the data's structure: with a group column, bootstrap members resample
whole groups and permutations stay within groups. Every error names the option at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from embaudit.config import AuditConfig, TrainingConfig
from embaudit.core.members import MemberSpec, Split
from embaudit.core.regimes import REGIMES
from embaudit.data.table import Table
from embaudit.errors import ConfigError, DataError
from embaudit.resampling.crossfit import crossfit_splits, plan_crossfit
from embaudit.resampling.plans import (
    BootstrapKind,
    PermuteWithin,
    discovery_holdout_split,
    member_seed,
    plan_members,
)


@dataclass(frozen=True, eq=False)
class ResamplingChoices:
    """The bootstrap kind, what permutations stay within, and the strata column's values
    (``auto`` resolved)."""

    bootstrap: BootstrapKind
    permute_within: PermuteWithin
    strata: np.ndarray | None

    @classmethod
    def resolve(cls, table: Table, config: AuditConfig) -> ResamplingChoices:
        options = config.resampling
        grouped = table.groups is not None
        bootstrap = options.bootstrap if options.bootstrap != "auto" else (
            "cluster" if grouped else "plain")
        within = options.permute_within if options.permute_within != "auto" else (
            "groups" if grouped else "none")
        strata = None
        if options.strata is not None:
            if options.strata not in table.frame.columns:
                raise ConfigError(f"resampling.strata names column {options.strata!r}, which "
                                  "is not in the table; name a column of the data or leave it "
                                  "unset.")
            strata = table.frame[options.strata].to_numpy()
        return cls(bootstrap, within, strata)


def split_rows(table: Table, config: AuditConfig) -> Split:
    """The discovery/holdout split the config asks for."""
    try:
        return discovery_holdout_split(table.y, config.split.holdout_fraction,
                                       config.split.n_strata, config.seed, table.groups)
    except ValueError as error:
        if table.group is None:
            raise
        raise DataError(f"Cannot split the rows by group column {table.group!r}: {error}. "
                        "Use a finer group column or none.") from None


def plan_regime(regime: str, split: Split, table: Table, config: AuditConfig
                ) -> list[MemberSpec]:
    """The members of ``regime`` as the config asks (rows, targets, seeds)."""
    options = config.resampling
    choices = ResamplingChoices.resolve(table, config)
    try:
        return plan_members(
            split, table.n_rows, regime,
            n_bootstrap=options.n_bootstrap,
            n_permutations=options.n_permutations,
            root_seed=config.seed,
            validation_fraction=_validation_fraction(regime, config),
            groups=table.groups, strata=choices.strata, bootstrap=choices.bootstrap,
            subsample_fraction=options.subsample_fraction,
            permute_within=choices.permute_within,
        )
    except ValueError as error:
        raise ConfigError(f"Cannot plan the {regime} members: {error}") from None


def screen_blocks(table: Table, split: Split, config: AuditConfig) -> np.ndarray | None:
    """Per discovery row, the block the discovery screen's permutations stay in: the same
    groups or strata as the permutation members' lifespans (None: no blocks)."""
    choices = ResamplingChoices.resolve(table, config)
    labels = {"none": None, "groups": table.groups,
              "strata": choices.strata}[choices.permute_within]
    if labels is None:
        return None
    return pd.factorize(np.asarray(labels)[split.discovery], sort=True)[0]


def crossfit_folds(table: Table, config: AuditConfig) -> list[Split]:
    """The K cross-fit splits the config asks for (none when off)."""
    k = config.split.crossfit_folds
    if not k:
        return []
    try:
        return crossfit_splits(table.y, k, config.seed, table.groups, config.split.n_strata)
    except ValueError as error:
        raise ConfigError(f"Cannot cross-fit: {error}.") from None


def plan_folds(regime: str, folds: list[Split], table: Table, config: AuditConfig
               ) -> list[MemberSpec]:
    """One cross-fit member of ``regime`` per fold."""
    return plan_crossfit(folds, table.n_rows, regime, root_seed=config.seed,
                         groups=table.groups,
                         validation_fraction=_validation_fraction(regime, config))


def _validation_fraction(regime: str, config: AuditConfig) -> float | None:
    """Early-stopping regimes hold out this fraction of each member's training rows."""
    return config.training.validation_fraction if REGIMES[regime].early_stopping else None


#: learning rates of the optimizer study for optimizers other than the training one
#: (the training optimizer keeps ``training.learning_rate``; Adam otherwise takes the
#: default); L-BFGS: its step length
STUDY_LEARNING_RATES = {"adam": TrainingConfig.model_fields["learning_rate"].default,
                        "sgd": 1e-2, "lbfgs": 1.0}


def landscape_minima(members: list[MemberSpec], config: AuditConfig) -> list[MemberSpec]:
    """The minima the landscape studies in a regime: the reference and seed replicates
    of it (its rows, targets and validation rows; another initialization each),
    ``landscape.members`` in all, so every minimum minimised one loss."""
    reference = next(m for m in members if m.kind == "reference")
    return [reference] + [
        replace(reference, kind="replicate", index=i,
                seed=member_seed(config.seed, "replicate", i))
        for i in range(1, config.landscape.members)]


def study_optimizers(config: AuditConfig) -> list[str]:
    """The optimizers the study compares: the training one first, then the others."""
    main = config.training.optimizer
    return [main, *(o for o in config.landscape.optimizers if o != main)]


def study_training(config: AuditConfig, optimizer: str) -> TrainingConfig:
    """Training options for the study's copies trained with ``optimizer``. L-BFGS is
    quasi-Newton on the full objective (full batch, strong-Wolfe line search), as in the
    loss-landscape literature; Adam and SGD copies of an L-BFGS audit take the default
    mini-batches."""
    training = config.training
    if optimizer == training.optimizer:
        return training
    update: dict[str, object] = {"optimizer": optimizer,
                                 "learning_rate": STUDY_LEARNING_RATES[optimizer]}
    if optimizer == "lbfgs":
        update["batch_size"] = None
    elif training.optimizer == "lbfgs" and training.batch_size is None:
        update["batch_size"] = TrainingConfig.model_fields["batch_size"].default
    return training.model_copy(update=update)


def matched_stopping(training: TrainingConfig, target: float | None) -> TrainingConfig:
    """``training`` stopping at the validation loss ``target``; L-BFGS checked after
    every iteration (one per epoch, as many epochs as it had iterations), so a
    full-batch quasi-Newton epoch cannot cross the level unseen."""
    update: dict[str, object] = {"stop_at_validation_loss": target}
    if training.optimizer == "lbfgs":
        update.update(lbfgs_iterations=1,
                      max_epochs=training.max_epochs * training.lbfgs_iterations,
                      patience=training.patience * training.lbfgs_iterations)
    return training.model_copy(update=update)


def best_validation_loss(curves: pd.DataFrame, member: MemberSpec) -> float | None:
    """The lowest validation loss ``member`` reached in a fit's ``curves`` (its stopping
    rule's units): the level other optimizers' copies stop at (None without its curve)."""
    if curves.empty or "validation_loss" not in curves:
        return None
    best = float(curves.loc[curves["member_id"] == member.member_id, "validation_loss"].min())
    return best if np.isfinite(best) and best > 0 else None

"""The training engine (#28): results read back through the one registry of result
tables; a member whose loss turns NaN stops and is reported as diverged without touching
the others, with the stopping callback's state; and training that leaves the user's
logger levels and warning filters as they were."""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import embaudit
from embaudit.config import NetworkConfig, TrainingConfig
from embaudit.core.members import MemberSpec
from embaudit.resampling.plans import plan_members
from embaudit.results import RESULT_TABLES, load_result
from embaudit.training import fit as fit_module
from embaudit.training.callbacks import MemberStopping
from embaudit.training.fit import fit_ensemble
from embaudit.training.job import TrainingJob

_AUDIT = {"seed": 1, "execution": {"n_workers": 1},  # trains in this process
          "split": {"crossfit_folds": 2},
          "resampling": {"n_bootstrap": 2, "n_permutations": 19},
          "training": {"regimes": ["overfit", "linear"], "max_epochs": 3}}


@pytest.fixture(scope="module")
def audited(world, tmp_path_factory) -> tuple[embaudit.AuditResult, Path]:
    folder = tmp_path_factory.mktemp("audited")
    return embaudit.audit({**_AUDIT, "out": str(folder)}, table=world.table,
                          progress=False), folder


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values as None, whatever marker a DuckDB round trip gives them."""
    return frame.reset_index(drop=True).astype(object).where(frame.reset_index(drop=True)
                                                             .notna(), None)


def test_load_result_reads_back_every_table_save_writes(audited):
    result, folder = audited
    back = load_result(folder)
    written, read = result.tables(), back.tables()
    assert list(read) == list(written) and "crossfit" in written
    for name, frame in written.items():
        pd.testing.assert_frame_equal(_plain(read[name]), _plain(frame), obj=name)
    pd.testing.assert_frame_equal(_plain(back.curves), _plain(result.curves))
    assert {part.field for part in RESULT_TABLES if part.read is not None} <= \
        {f.name for f in fields(embaudit.AuditResult)}


NETWORK = NetworkConfig(hidden=(16, 8))
MAX_EPOCHS = 25


@dataclass(frozen=True, eq=False)
class _NaNTarget(MemberSpec):
    """A member whose target is NaN on one of its training rows: its loss is NaN from
    its first mini-batch on, as a member's that blew up would be."""

    def targets(self, y: np.ndarray) -> np.ndarray:
        targets = np.array(super().targets(y), dtype=np.float64)
        targets[np.flatnonzero(self.train_weights > 0)[0]] = np.nan
        return targets


def _members(split, n_rows: int, regime: str) -> list[MemberSpec]:
    return plan_members(split, n_rows, regime, n_bootstrap=2, n_permutations=1, root_seed=4,
                        validation_fraction=0.2 if regime == "early_stopping" else 0.0)


def _poisoned(member: MemberSpec) -> _NaNTarget:
    return _NaNTarget(**{name: getattr(member, name) for name in member.__dataclass_fields__})


@pytest.mark.parametrize("regime", ["overfit", "early_stopping"])
def test_a_member_whose_loss_turns_nan_stops_diverged_and_the_others_train_as_without_it(
        world, split, regime):
    members = _members(split, world.table.n_rows, regime)
    job = TrainingJob(world.table.X, world.table.y, rows=split.discovery, regime=regime,
                      training=TrainingConfig(max_epochs=MAX_EPOCHS, patience=MAX_EPOCHS),
                      network=NETWORK)
    bad = 1
    clean = fit_ensemble(job, members)
    poisoned = fit_ensemble(job, [_poisoned(m) if b == bad else m
                                  for b, m in enumerate(members)])

    stats = poisoned.diagnostics.set_index("member_id")
    row = stats.loc[members[bad].member_id]
    assert bool(row["diverged"]) and row["epochs"] == 1 < MAX_EPOCHS  # stopped at once
    curve = poisoned.curves[poisoned.curves["member_id"] == members[bad].member_id]
    assert len(curve) == 1 and not np.isfinite(curve["train_loss"]).any()
    # it keeps the weights it had before it diverged (its initial ones): finite embeddings
    assert np.isfinite(poisoned.embeddings[bad]).all()

    others = [b for b in range(len(members)) if b != bad]
    assert not stats["diverged"].iloc[others].any()
    assert (stats["epochs"].iloc[others] > 1).all()
    # members are independent: bit for bit what they are beside a member that trains
    # normally (the same ensemble size, so the same matrix shapes on any BLAS)
    np.testing.assert_array_equal(poisoned.embeddings[others], clean.embeddings[others])
    np.testing.assert_array_equal(poisoned.predictions[others], clean.predictions[others])
    for name, values in clean.state.items():
        if name not in ("target_mean", "target_sd"):  # the poisoned member's are NaN
            np.testing.assert_array_equal(poisoned.state[name][others], values[others], name)
    pd.testing.assert_frame_equal(poisoned.diagnostics.iloc[others].reset_index(drop=True),
                                  clean.diagnostics.iloc[others].reset_index(drop=True))
    kept = clean.curves["member_id"] != members[bad].member_id
    pd.testing.assert_frame_equal(
        poisoned.curves[poisoned.curves["member_id"] != members[bad].member_id]
        .reset_index(drop=True), clean.curves[kept].reset_index(drop=True))
    assert not clean.diagnostics["diverged"].any()


def test_the_stopping_callback_saves_and_restores_its_per_member_state(world, split,
                                                                        monkeypatch):
    made: list[MemberStopping] = []

    class Recorded(MemberStopping):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(fit_module, "MemberStopping", Recorded)
    members = _members(split, world.table.n_rows, "overfit")
    job = TrainingJob(world.table.X, world.table.y, rows=split.discovery, regime="overfit",
                      training=TrainingConfig(max_epochs=6), network=NETWORK)
    fit = fit_ensemble(job, [_poisoned(members[0]), *members[1:]])
    [stopping] = made
    buffer = io.BytesIO()
    torch.save(stopping.state_dict(), buffer)  # plain tensors: loads with weights_only
    buffer.seek(0)
    restored = MemberStopping("train", member_ids=list(fit.member_ids))
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for name in ("best", "wait", "stop_epoch", "reached", "diverged"):
        assert torch.equal(getattr(restored, name), getattr(stopping, name)), name
    assert restored.diverged.tolist() == fit.diagnostics["diverged"].tolist() \
        == [True, False, False, False]
    assert restored.stop_epoch.tolist() == fit.diagnostics["epochs"].tolist()
    np.testing.assert_array_equal(np.stack(restored.history), np.stack(stopping.history))
    assert restored.kept.keys() == stopping.kept.keys()
    assert all(torch.equal(restored.kept[k], stopping.kept[k]) for k in stopping.kept)
    # a restored callback resumes: the start of training does not reset its state
    module = SimpleNamespace(network=SimpleNamespace(n_members=len(members)))
    restored.on_train_start(None, module)
    assert restored.diverged.tolist() == [True, False, False, False]


def test_an_audit_leaves_logger_levels_and_warning_filters_as_they_were(world, audited,
                                                                         tmp_path):
    # libraries add their own filters when first imported (statsmodels, torch, numpy):
    # the first audit (``audited``) imported them all
    names = ("pytorch_lightning", "lightning.pytorch")
    logging.getLogger("lightning.pytorch").setLevel(logging.INFO)  # the user's choice
    try:
        levels = [logging.getLogger(name).level for name in names]
        filters = list(warnings.filters)
        embaudit.audit({**_AUDIT, "out": str(tmp_path)}, table=world.table, progress=False)
        assert [logging.getLogger(name).level for name in names] == levels
        assert warnings.filters == filters
    finally:
        logging.getLogger("lightning.pytorch").setLevel(logging.NOTSET)


def test_training_raises_no_lightning_warnings(world, split):
    members = _members(split, world.table.n_rows, "overfit")[:2]
    job = TrainingJob(world.table.X, world.table.y, rows=split.discovery, regime="overfit",
                      training=TrainingConfig(max_epochs=2), network=NETWORK)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit_ensemble(job, members)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("optimizer, regime", [("adam", "overfit"), ("adam", "batch_norm"),
                                               ("lbfgs", "overfit")])
def test_training_sets_no_logger_level_and_no_warning_filter(world, split, monkeypatch,
                                                             optimizer, regime):
    """Not even for the time of the training loop (the Fabric loop needs none): every
    way of training, through a recorder of every such call while it runs (pandas sets
    filters of its own inside ``catch_warnings`` when the diagnostics are built)."""
    calls: list[tuple] = []
    inside = []

    original_set_level = logging.Logger.setLevel
    monkeypatch.setattr(logging.Logger, "setLevel", lambda self, level: (
        calls.append(("setLevel", self.name, level)) if inside
        else original_set_level(self, level)))
    for name in ("filterwarnings", "simplefilter", "resetwarnings"):
        original = getattr(warnings, name)
        monkeypatch.setattr(warnings, name, lambda *args, _o=original, _n=name, **kwargs: (
            calls.append((_n, args)) if inside else _o(*args, **kwargs)))
    loop = fit_module.train_module

    def recorded_loop(*args, **kwargs):
        inside.append(True)
        try:
            return loop(*args, **kwargs)
        finally:
            inside.clear()

    monkeypatch.setattr(fit_module, "train_module", recorded_loop)
    members = _members(split, world.table.n_rows, regime)[:1 if optimizer == "lbfgs" else 2]
    job = TrainingJob(world.table.X, world.table.y, rows=split.discovery, regime=regime,
                      training=TrainingConfig(max_epochs=2, optimizer=optimizer,
                                              lr_schedule="cosine"), network=NETWORK)
    fit = fit_ensemble(job, members)
    assert calls == []
    assert np.isfinite(fit.embeddings).all() and (fit.diagnostics["epochs"] == 2).all()


def test_training_under_a_callers_no_grad_still_trains(world, split):
    """The loop turns gradients on for itself (autograd paths: batch norm, L-BFGS)."""
    members = _members(split, world.table.n_rows, "batch_norm")[:2]
    job = TrainingJob(world.table.X, world.table.y, rows=split.discovery,
                      regime="batch_norm", training=TrainingConfig(max_epochs=2),
                      network=NETWORK)
    trained = fit_ensemble(job, members)
    with torch.no_grad():
        under_no_grad = fit_ensemble(job, members)
    np.testing.assert_array_equal(under_no_grad.embeddings, trained.embeddings)


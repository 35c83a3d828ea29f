"""Resumable audits, refused foreign folders, group-aware plans, Dask execution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import embaudit
from embaudit.cli import app
from embaudit.config import NetworkConfig, TrainingConfig
from embaudit.reports.explorer import explore
from embaudit.resampling.options import plan_regime
from embaudit.resampling.plans import discovery_holdout_split, plan_members
from embaudit.store import AuditStore
from embaudit.training import execution
from embaudit.training.execution import train_members
from embaudit.training.fit import fit_ensemble
from embaudit.training.job import TrainingJob
from exactness import assert_same_member


def test_a_folder_holding_another_audit_is_refused_unless_overwritten(tmp_path):
    world = embaudit.worlds.product_lifespan(n=300, p=20, seed=3)
    config = {"out": str(tmp_path), "seed": 3, "resampling": {"n_bootstrap": 3,
                                                                "n_permutations": 19},
              "training": {"regimes": ["overfit"], "max_epochs": 5}}
    first = embaudit.audit(config, table=world.table)
    explore(tmp_path)  # the first audit's discovery rows: some are the next one's holdout
    changed = {**config, "training": {"regimes": ["overfit"], "max_epochs": 6}}
    with pytest.raises(embaudit.ConfigError, match=r"training\.max_epochs: 5 → 6.*overwrite"):
        embaudit.audit(changed, table=world.table)
    other = embaudit.worlds.product_lifespan(n=300, p=20, seed=4)
    with pytest.raises(embaudit.ConfigError, match="data_sha256"):
        embaudit.audit(config, table=other.table)
    assert (tmp_path / "explorer.html").exists()
    replaced = embaudit.audit(changed, table=world.table, overwrite=True)
    assert replaced.members["epochs"].max() <= 6
    assert not any((tmp_path / f"explorer.{suffix}").exists()
                   for suffix in ("html", "csv", "parquet"))
    # the same audit again resumes: nothing is retrained, the results are equal
    again = embaudit.audit(changed, table=world.table)
    pd.testing.assert_frame_equal(again.hypotheses, replaced.hypotheses)
    assert not first.hypotheses.empty


def test_resuming_from_any_finished_chunks_gives_the_uninterrupted_members(
        world, split, tmp_path, monkeypatch):
    members = plan_members(split, world.table.n_rows, "overfit", n_bootstrap=5,
                           n_permutations=3, root_seed=7)
    job = TrainingJob(world.table.X, world.table.y, rows=split.discovery, regime="overfit",
                      training=TrainingConfig(max_epochs=8, chunk_size=3),
                      network=NetworkConfig(), holdout=split.holdout, shuffle_seed=0)
    whole = train_members(job, members)
    store = AuditStore(tmp_path)
    middle = fit_ensemble(job, members[3:6])
    store.write_chunk("overfit", middle)
    seen = []
    resumed = train_members(job, members, store=store,
                            progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(members), len(members)) and seen[0][0] >= 3
    assert resumed.member_ids == whole.member_ids
    assert np.array_equal(resumed.embeddings, whole.embeddings)
    assert np.array_equal(resumed.predictions, whole.predictions)
    pd.testing.assert_frame_equal(resumed.diagnostics, whole.diagnostics, check_dtype=False)
    pd.testing.assert_frame_equal(resumed.curves, whole.curves, check_dtype=False)

    def refuse(*args, **kwargs):
        raise AssertionError("a finished member trained again")

    monkeypatch.setattr(execution, "fit_ensemble", refuse)
    again = train_members(job, members, store=store)
    assert np.array_equal(again.embeddings, whole.embeddings)


def test_options_that_cannot_change_results_do_not_block_a_resume(tmp_path):
    world = embaudit.worlds.product_lifespan(n=300, p=20, seed=8)
    config = {"out": str(tmp_path), "seed": 8, "resampling": {"n_bootstrap": 3,
                                                                "n_permutations": 19},
              "training": {"regimes": ["overfit"], "max_epochs": 5, "chunk_size": 4}}
    with pytest.raises(embaudit.ConfigError, match="strata"):  # refused before any store
        embaudit.audit({**config, "resampling": {**config["resampling"], "strata": "nope"}},
                       table=world.table)
    first = embaudit.audit(config, table=world.table)  # no --overwrite needed
    rechunked = embaudit.audit({**config, "training": {**config["training"],
                                                       "chunk_size": 2}}, table=world.table)
    pd.testing.assert_frame_equal(first.hypotheses, rechunked.hypotheses)


def test_cli_refuses_another_audit_with_exit_code_2(tmp_path):
    runner = CliRunner()
    world = embaudit.worlds.product_lifespan(n=200, p=10, seed=0)
    csv = tmp_path / "w.csv"
    world.frame.to_csv(csv, index=False)
    common = ["audit", "--data", str(csv), "--target", "lifespan_days", "--attributes",
              "size", "--out", str(tmp_path / "o")]
    config = tmp_path / "a.toml"
    config.write_text("[training]\nregimes = []\n")
    assert runner.invoke(app, [*common, "--config", str(config)]).exit_code == 0
    outcome = runner.invoke(app, [*common, "--config", str(config), "--seed", "5"])
    assert outcome.exit_code == 2
    assert "--overwrite" in " ".join(outcome.output.split())
    again = runner.invoke(app, [*common, "--config", str(config), "--seed", "5",
                                "--overwrite"])
    assert again.exit_code == 0, again.output


def test_auto_plans_respect_the_group_column():
    world = embaudit.worlds.product_lifespan(n=300, p=10, seed=5)
    frame = world.frame.assign(batch=np.arange(300) // 6)
    table = embaudit.load_table(frame, target="lifespan_days", attributes=["size"],
                                features=["f*"], group="batch")
    config = embaudit.AuditConfig(resampling={"n_bootstrap": 3, "n_permutations": 19})
    split = discovery_holdout_split(table.y, 0.3, 5, 0, table.groups)
    members = plan_regime("overfit", split, table, config)
    groups = table.groups
    for member in members:
        if member.kind == "bootstrap":  # whole groups resampled
            for g in np.unique(groups):
                assert len(set(member.weights[groups == g])) == 1
        if member.kind == "permutation":  # lifespans permuted within groups
            assert (groups[member.permutation] == groups).all()


@pytest.mark.slow
def test_dask_local_cluster_gives_the_local_results(tmp_path):
    pytest.importorskip("distributed")
    world = embaudit.worlds.product_lifespan(n=400, p=40, seed=6)
    config = {"seed": 6, "resampling": {"n_bootstrap": 4, "n_permutations": 19},
              "training": {"max_epochs": 40, "chunk_size": 6}}
    local = embaudit.audit(config, table=world.table)
    dask = embaudit.audit({**config, "out": str(tmp_path),
                           "execution": {"executor": "dask", "n_workers": 2}},
                          table=world.table)
    pd.testing.assert_frame_equal(local.hypotheses, dask.hypotheses)
    pd.testing.assert_frame_equal(local.members, dask.members, check_dtype=False)
    for regime, embedding in local.embeddings.items():
        # Dask's workers run one thread each, the local audit two
        assert_same_member(embedding, dask.embeddings[regime], atol=1e-5)
    assert len(AuditStore(tmp_path).finished_members("overfit")) == 1 + 4 + 19

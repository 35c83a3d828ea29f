"""Dask execution: chunks on every worker, progress as they finish, a clean shutdown."""

from __future__ import annotations

import logging

import pytest

import embaudit
from embaudit.config import ExecutionConfig, NetworkConfig, TrainingConfig
from embaudit.resampling.plans import plan_members
from embaudit.training.execution import cluster_client
from embaudit.training.fit import chunk_members

distributed = pytest.importorskip("distributed")


class _Records(logging.Handler):
    """The messages a logger emits (distributed's loggers do not propagate to caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_cluster_gets_a_chunk_per_worker_where_one_chunk_would_hold_all(world, split):
    members = plan_members(split, world.table.n_rows, "overfit", n_bootstrap=5,
                           n_permutations=3, root_seed=7)
    shape, network, training = world.table.X.shape, NetworkConfig(), TrainingConfig()

    def sizes(some, workers, spread=True, config=training):
        return [len(c) for c in chunk_members(some, shape, network, config, workers,
                                              spread=spread)]

    assert sizes(members, 2, spread=False) == [9]  # locally one chunk, in this process
    assert sizes(members, 2) == [5, 4]
    assert sizes(members, 3) == [3, 3, 3]
    assert sizes(members[:2], 3) == [1, 1]  # no empty chunk
    assert sizes(members, 2, config=TrainingConfig(chunk_size=9)) == [9]  # as configured


@pytest.mark.slow
def test_a_dask_audit_trains_on_both_workers_shows_progress_and_closes_cleanly(tmp_path):
    world = embaudit.worlds.product_lifespan(n=300, p=20, seed=3)
    config = {"out": str(tmp_path), "seed": 3,
              "resampling": {"n_bootstrap": 3, "n_permutations": 19},
              "training": {"regimes": ["overfit"], "max_epochs": 5}}
    calls: list[tuple[str, float, float]] = []
    nanny = logging.getLogger("distributed.nanny")
    records = _Records()
    nanny.addHandler(records)
    try:
        # the audit's own two-worker LocalCluster, opened here so that the scheduler's
        # task stream can be read while the audit trains on it
        with cluster_client(ExecutionConfig(executor="dask", n_workers=2)) as client, \
                distributed.get_task_stream(client) as stream:
            embaudit.audit({**config, "execution": {
                "executor": "dask", "scheduler": client.scheduler.address}},
                table=world.table, progress=lambda *call: calls.append(call))
    finally:
        nanny.removeHandler(records)
    training = [(done, total) for stage, done, total in calls
                if stage.startswith("Training overfit members")]
    members = 1 + 3 + 19
    assert training[0] == (0, members)  # shown before any chunk finishes
    assert any(0 < done < total for done, total in training)  # and as chunks finish
    assert training[-1] == (members, members)
    fits = [task for task in stream.data if "fit_ensemble" in str(task["key"])]
    assert len(fits) >= 2
    assert len({task["worker"] for task in fits}) == 2
    assert not [m for m in records.messages if "still alive" in m], records.messages

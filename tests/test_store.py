"""The results store: round trips, out-of-order chunks, atomic writes, identity, lock."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from embaudit.errors import ConfigError
from embaudit.store import AuditStore
from embaudit.store.ensemble import EnsembleFit
from embaudit.training.diagnostics import loss_curves


def test_tables_and_metadata_round_trip(tmp_path):
    store = AuditStore(tmp_path / "audit")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None], "c": pd.array([1, pd.NA], "Int64")})
    store.write_tables({"hypotheses": frame}, views={"first": "SELECT a FROM hypotheses"})
    store.write_metadata({"config": {"seed": 3}, "versions": {"torch": "2.13.0"}})
    back = store.read_table("hypotheses")
    assert back["a"].tolist() == [1, 2] and back["b"].isna().tolist() == [False, True]
    assert store.read_metadata() == {"config": {"seed": 3}, "versions": {"torch": "2.13.0"}}
    assert store.tables() == ["first", "hypotheses", "metadata"]


def _chunk(ids: list[str], rng: np.random.Generator) -> dict:
    B = len(ids)
    diagnostics = pd.DataFrame({"member_id": ids, "kind": "bootstrap", "regime": "overfit",
                                "epochs": np.arange(B, dtype=np.int64)})
    return {"member_ids": ids, "embeddings": rng.normal(size=(B, 5, 3)).astype(np.float32),
            "predictions": rng.normal(size=(B, 5)),
            "diagnostics": diagnostics,
            "curves": loss_curves(ids, [np.ones((2, B))], np.ones(B, dtype=np.int64)),
            "state": {"first_weight": rng.normal(size=(B, 4, 2)).astype(np.float32)}}


def test_members_come_back_by_id_whatever_chunks_they_were_stored_in(tmp_path):
    rng = np.random.default_rng(0)
    store = AuditStore(tmp_path)
    late, early = _chunk(["m1", "m2"], rng), _chunk(["m0", "m3"], rng)
    for chunk in (late, early):  # chunks holding members that are not neighbours
        store.write_chunk("overfit", EnsembleFit(**chunk))
    back = store.read_members("overfit", ["m0", "m1", "m2", "m3"])
    embeddings, predictions, state = back.embeddings, back.predictions, back.state
    assert back.member_ids == ["m0", "m1", "m2", "m3"]
    expected = {m: (c["embeddings"][i], c["predictions"][i], c["state"]["first_weight"][i])
                for c in (late, early) for i, m in enumerate(c["member_ids"])}
    for index, member in enumerate(["m0", "m1", "m2", "m3"]):
        assert np.array_equal(embeddings[index], expected[member][0]), member
        assert np.array_equal(predictions[index], expected[member][1]), member
        assert np.array_equal(state["first_weight"][index], expected[member][2]), member
    assert back.diagnostics["member_id"].tolist() == ["m0", "m1", "m2", "m3"]
    assert back.curves["member_id"].tolist() == ["m0", "m1", "m2", "m3"]
    assert store.finished_members("overfit") == {"m0", "m1", "m2", "m3"}
    assert store.read_members("overfit", ["m2"], with_state=False).state == {}
    with pytest.raises(KeyError, match="m9"):
        store.read_members("overfit", ["m0", "m9"])


def test_a_member_whose_chunk_file_is_gone_counts_as_unfinished(tmp_path):
    store = AuditStore(tmp_path)
    store.write_chunk("overfit", EnsembleFit(**_chunk(["m0", "m1"], np.random.default_rng(1))))
    next((tmp_path / "members" / "overfit").glob("*.parquet")).unlink()
    assert store.finished_members("overfit") == set()


def test_column_types_do_not_depend_on_which_chunk_comes_first(tmp_path):
    store = AuditStore(tmp_path)
    empty = _chunk(["linear/0"], np.random.default_rng(2))
    empty["curves"] = loss_curves([], [], np.zeros(0, dtype=np.int64))  # linear regime
    store.write_chunk("linear", EnsembleFit(**{**empty, "state": {}}))
    store.write_chunk("overfit", EnsembleFit(**_chunk(["m0"], np.random.default_rng(3))))
    with duckdb.connect(str(store.database), read_only=True) as connection:
        types = dict(connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'curves'").fetchall())
    assert types["epoch"] == "BIGINT" and types["train_loss"] == "DOUBLE"


def test_a_failed_transaction_leaves_the_store_as_it_was(tmp_path):
    store = AuditStore(tmp_path)
    store.write_tables({"members": pd.DataFrame({"member_id": ["a"]})})
    with pytest.raises(duckdb.Error):
        store.write_tables({"members": pd.DataFrame({"member_id": ["b"]})},
                           views={"broken": "SELECT no_such_column FROM members"})
    assert store.read_table("members")["member_id"].tolist() == ["a"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_database_without_identity_is_never_resumed(tmp_path):
    store = AuditStore(tmp_path)
    assert store.identity_differences({"config": {}}) is None  # an empty folder
    store.write_tables({"members": pd.DataFrame({"member_id": ["overfit/reference"]})})
    assert store.identity_differences({"config": {}}) == [
        "identity: missing (written by an older embaudit or another tool)"]


def test_one_audit_at_a_time_per_folder(tmp_path):
    store = AuditStore(tmp_path)
    with (store.locked(), pytest.raises(ConfigError, match="in use by another"),
          AuditStore(tmp_path).locked()):
        pass
    with AuditStore(tmp_path).locked():  # released
        pass


def test_a_store_begun_without_a_column_takes_chunks_that_have_it(tmp_path):
    """A store an older version began (no ``diverged`` column) resumes: the column is
    added, empty for the members finished before, and nothing finished is lost."""
    store = AuditStore(tmp_path)
    store.write_chunk("overfit", EnsembleFit(**_chunk(["m0"], np.random.default_rng(4))))
    newer = _chunk(["m1"], np.random.default_rng(5))
    newer["diagnostics"] = newer["diagnostics"].assign(diverged=True)
    store.write_chunk("overfit", EnsembleFit(**newer))
    members = store.read_members("overfit", ["m0", "m1"]).diagnostics
    assert members["diverged"].isna().tolist() == [True, False]
    assert store.finished_members("overfit") == {"m0", "m1"}


def test_the_same_weights_are_stored_as_the_same_bytes(tmp_path):
    chunk = _chunk(["m0", "m1"], np.random.default_rng(6))
    checksums = []
    for folder in ("a", "b"):
        AuditStore(tmp_path / folder).write_chunk("overfit", EnsembleFit(**chunk))
        checksums.append([p.read_bytes() for p in (tmp_path / folder).rglob("*.pt")])
    assert checksums[0] == checksums[1] and len(checksums[0]) == 1

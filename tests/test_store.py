"""The results store: round trips and atomic writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embaudit.store import AuditStore


def test_tables_metadata_and_arrays_round_trip(tmp_path):
    store = AuditStore(tmp_path / "audit")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None], "c": pd.array([1, pd.NA], "Int64")})
    store.write_tables({"hypotheses": frame})
    store.write_metadata({"config": {"seed": 3}, "versions": {"torch": "2.13.0"}})
    back = store.read_table("hypotheses")
    assert back["a"].tolist() == [1, 2] and back["b"].isna().tolist() == [False, True]
    assert store.read_metadata() == {"config": {"seed": 3}, "versions": {"torch": "2.13.0"}}
    assert store.tables() == ["hypotheses", "metadata"]
    embedding = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    store.write_array("embedding_overfit", ["m0", "m1"], embedding)
    ids, values = store.read_array("embedding_overfit")
    assert ids == ["m0", "m1"] and np.array_equal(values, embedding)
    predictions = np.arange(10.0).reshape(2, 5)
    store.write_array("predictions", ["m0", "m1"], predictions)
    assert np.array_equal(store.read_array("predictions")[1], predictions)


def test_a_failed_write_leaves_the_store_as_it_was(tmp_path):
    store = AuditStore(tmp_path)
    store.write_tables({"members": pd.DataFrame({"member_id": ["a"]})})

    with pytest.raises(ValueError, match="letters, digits"):
        store.write_tables({"members": pd.DataFrame({"member_id": ["b"]}),
                            "bad name!": pd.DataFrame({"x": [1]})})
    assert store.read_table("members")["member_id"].tolist() == ["a"]
    assert not list(tmp_path.glob(".*.tmp"))

"""The training engine (#28): results read back through the one registry of result
tables."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest

import embaudit
from embaudit.results import RESULT_TABLES, load_result

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

"""The compute path in every report: each chunk records how it was computed, and an
audit resumed on another setting says so in its manifest."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import pytest
import torch

import embaudit
from embaudit.outputs import rebuild_reports

CONFIG = {"seed": 0, "training": {"regimes": ["overfit", "linear"], "max_epochs": 5,
                                  "chunk_size": 5},
          "resampling": {"n_bootstrap": 4, "n_permutations": 9},
          "statistics": {"n_resamples": 200}, "execution": {"n_workers": 1}}


@pytest.fixture(scope="module")
def world() -> embaudit.worlds.World:
    return embaudit.worlds.product_lifespan(n=300, p=12, seed=2)


def _audit(world: embaudit.worlds.World, out: Path, threads: int) -> dict:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        embaudit.audit({**CONFIG, "out": str(out)}, table=world.table, progress=False)
    finally:
        torch.set_num_threads(before)
    return json.loads((out / "report.json").read_text())["compute"]


def test_every_chunk_records_how_it_was_computed(world, tmp_path) -> None:
    compute = _audit(world, tmp_path, threads=1)
    assert compute["note"] == ""
    by_regime = {p["regimes"]: p for p in compute["paths"]}
    assert by_regime["overfit"]["path"] == "raw-feature pass (batched torch operations), adam"
    assert by_regime["linear"]["path"].startswith("closed form")
    assert by_regime["overfit"]["members"] == 14 and by_regime["overfit"]["chunks"] == 3
    assert all(p["threads"] == 1 and p["torch"] == torch.__version__
               and p["device"].startswith("cpu: ") for p in compute["paths"])
    stored = embaudit.load_result(tmp_path).compute
    assert len(stored) == 4 and set(stored["regime"]) == {"overfit", "linear"}


def test_a_resume_on_another_setting_says_so_in_its_manifest(world, tmp_path) -> None:
    _audit(world, tmp_path, threads=1)
    chunks = sorted((tmp_path / "members" / "overfit").glob("*.parquet"))
    chunks[0].unlink()  # one chunk lost: its members train again on resuming
    compute = _audit(world, tmp_path, threads=2)
    overfit = [p for p in compute["paths"] if p["regimes"] == "overfit"]
    assert sorted(p["threads"] for p in overfit) == [1, 2]
    assert sum(p["chunks"] for p in overfit) == 3  # the lost chunk's record replaced
    assert "computed in 3 ways that differ in threads" in compute["note"]
    assert compute["note"] in unescape((tmp_path / "report.html").read_text())
    assert compute["note"] in (tmp_path / "report.md").read_text()
    json_before = (tmp_path / "report.json").read_text()
    rebuild_reports(tmp_path)
    assert (tmp_path / "report.json").read_text() == json_before

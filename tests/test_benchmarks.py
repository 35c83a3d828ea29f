"""The benchmark scripts keep running and keep their JSON contract (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def quick_json(script: str, timeout: int = 300) -> dict:
    """Run ``benchmarks/<script> --quick``; the JSON object its last line prints."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True, text=True, check=True, timeout=timeout,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_training_throughput_quick_prints_its_json_last():
    result = quick_json("training_throughput.py")
    for key in ("ensemble_s_per_member", "lightning_loop_s_per_member", "sklearn_s_per_member",
                "speedup_vs_lightning", "speedup_vs_sklearn", "fraction_of_matmul_peak"):
        assert result[key] > 0, key
    assert result["speedup_vs_lightning"] == pytest.approx(
        result["lightning_loop_s_per_member"] / result["ensemble_s_per_member"], rel=0.01)
    assert result["one_process_s_per_member"] > 0 and result["workers"] >= 1
    steps = result["step_ms"]  # the parts of a step add up to it
    assert steps["forward_gemm"] + steps["gradient_gemm"] + steps["optimizer_pass"] \
        + steps["everything_else"] == pytest.approx(steps["step"], rel=1e-3)


@pytest.mark.slow
def test_alignment_quick_prints_its_json_last():
    result = quick_json("alignment.py")
    assert result["seconds_1000_members"] > 0
    assert result["median_disparity"] < 0.2  # the aligned copies match their reference


@pytest.mark.slow
def test_statistics_quick_prints_its_json_last():
    result = quick_json("statistics.py")
    assert result["seconds_10k_perm"] > 0
    assert result["speedup_vs_scipy"] > 1  # same statistics (checked inside), faster


@pytest.mark.slow
def test_calibration_quick_reports_every_regime_both_designs_and_naive_inflation():
    result = quick_json("calibration.py", timeout=900)
    records = result["records"]
    scenarios = {r["scenario"] for r in records}
    assert len(scenarios) == 12
    # every regime of every world has a position, and the JSON counts them
    positions = {(p["scenario"], p["regime"]) for p in result["positions"]}
    assert ("features_only", "overfit") in positions and ("leads", "overfit") in positions
    for record in result["positions"]:
        assert record["A"] + record["B"] + record["undecided"] == pytest.approx(1.0)
    regimes = {r["regime"] for r in records}
    audited = {"overfit", "regularized", "weight_decay", "early_stopping", "dropout",
               "batch_norm", "linear", "pls", "raw"}
    naive_censoring = {f"{r} ({way})" for r in audited
                       for way in ("drop censored", "times as lifespans")}
    assert regimes == audited | {"naive"} | naive_censoring
    # the naive ways of auditing censored lifespans appear only in censored worlds
    assert {r["scenario"] for r in records if r["regime"] in naive_censoring} == \
        {"censored_30", "censored_70", "censored_informative"}
    designs = {(r["regime"], r["design"]) for r in records}
    assert ("overfit", "screen_and_clean") in designs
    assert ("overfit", "test_every_candidate") in designs
    for record in records:
        assert 0 <= record["fdr"] <= record["fdr_upper"] <= 1, record
    assert 0 <= result["ks_p_null"] <= 1
    # naive screening on the training rows of an overfit embedding "finds" the null
    # attributes that the holdout rejects
    naive = {r["scenario"]: r for r in records if r["regime"] == "naive"}
    screened = {r["scenario"]: r for r in records
                if r["regime"] == "overfit" and r["design"] == "screen_and_clean"}
    assert naive["global_null"]["null_found_rate"] > 0.5
    assert screened["global_null"]["null_found_rate"] < naive["global_null"]["null_found_rate"]


@pytest.mark.slow
def test_landscape_quick_prints_its_json_last():
    result = quick_json("landscape.py")
    sharpness = result["sharpness"]
    assert sharpness["lambda_seconds"] > 0 and sharpness["trace_seconds"] > 0
    assert sharpness["speedup_vs_one_by_one"] == pytest.approx(
        sharpness["one_by_one_seconds"] / sharpness["lambda_seconds"], rel=0.01)
    (study,) = result["optimizer_studies"]
    groups = {(row["regime"], row["optimizer"]) for row in study["groups"]}
    assert groups == {(r, o) for r in ("overfit", "early_stopping") for o in ("sgd", "lbfgs")}
    # every comparison of the paper is stated, whatever it found
    measures = {(row["regime"], row["measure"]) for row in study["comparisons"]}
    assert len(measures) == 7 and all(row["agrees"] in (
        "yes", "no (opposite)", "undecided", "not measured") for row in study["comparisons"])
    stopped = [row for row in study["comparisons"]
               if row["regime"] == "early_stopping" and row["measure"] == "barrier"]
    assert stopped[0]["agrees"] != "not measured"  # paths between the stopped points


@pytest.mark.slow
def test_report_load_quick_prints_its_json_last():
    result = quick_json("report_load.py")
    assert result["attributes"] == 20
    assert 0 < result["html_mb"] < 10 and result["chromium_load_ms"] > 0


@pytest.mark.slow
def test_claims_ledger_quick_prints_every_workflow():
    result = quick_json("claims_ledger.py")
    names = [w["workflow"] for w in result["workflows"]]
    assert result["runs"] == 1 and len(names) == len(set(names)) >= 10
    for workflow in result["workflows"]:
        assert 0 <= workflow["any_false"] <= 1 and 0 <= workflow["fdr"] <= 1
    powered = [w for w in result["workflows"] if "power" in w]
    assert len(powered) == 4  # three orders through the ledger, one BH family


def test_startup_quick_prints_its_json_last():
    result = quick_json("startup.py")
    for name in ("import embaudit", "embaudit --help", "option error",
                 "check without a network", "eager import (before)"):
        assert result[name]["wall_s"] > 0 and result[name]["cpu_s"] > 0, name


"""End to end: the demo, the global null, the CLI on a CSV, the store."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from typer.testing import CliRunner

import embaudit
from embaudit.cli import app
from embaudit.config import DEFAULT_REGIMES
from embaudit.core.regimes import REGIMES
from embaudit.reports import report_schema
from embaudit.store import AuditStore

SMALL = {
    "resampling": {"n_bootstrap": 10, "n_permutations": 19},
    "training": {"max_epochs": 200},
}
runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run ``embaudit demo`` once with its defaults; return its report.json."""
    out = tmp_path_factory.mktemp("demo")
    outcome = runner.invoke(app, ["demo", "--out", str(out)])
    assert outcome.exit_code == 0, outcome.output
    return {"out": out, "report": json.loads((out / "report.json").read_text())}


@pytest.mark.slow
def test_demo_recovers_every_planted_attribute_and_nothing_else(demo):
    report = demo["report"]
    truth = report["truth"]
    overfit = [h for h in report["hypotheses"] if h["regime"] == "overfit"]
    survivors = {h["attribute"]: h["direction"] for h in overfit if h["verdict"] == "survives"}
    planted = {name: sign for name, sign in truth.items() if sign != "0"}
    assert planted, "the demo world must plant true attributes"
    for attribute, sign in planted.items():
        assert survivors.get(attribute) == sign, f"{attribute} should survive with {sign}"
    wrong = [h["attribute"] for h in overfit
             if h["verdict"] == "survives" and truth[h["attribute"].split("=")[0]] == "0"]
    assert wrong == []
    # the discovery side too: the planted trends beat the permutation null on the
    # overfit embedding, and still order attribute and lifespan on the holdout
    by_name = {h["attribute"]: h for h in overfit}
    for attribute in planted:
        assert by_name[attribute]["found"], attribute
        assert by_name[attribute]["p_embedding"] < 1e-3, attribute
    # a world whose overfit embedding carries its true trends supports Person A
    assert report["verdict"]["position"] == "A"
    assert report["verdict"]["regime"] == "overfit"


@pytest.mark.slow
def test_demo_finds_no_trend_without_effect_in_any_regime(demo):
    # as first reported: the 9 columns whose truth is 0 were all "found" in the
    # regularized and linear regimes, whose permutation networks learn nothing
    report = demo["report"]
    truth = report["truth"]
    null_found: dict[str, int] = {}
    for h in report["hypotheses"]:
        if truth[h["source_attribute"]] == "0":
            null_found[h["regime"]] = null_found.get(h["regime"], 0) + h["found"]
        # no verdict contradicts the found column: what was not found is labelled so
        assert (h["verdict"] == "not found") == (not h["found"]), h
        if h["r_axis_lifespan_ci_low"] is not None:  # intervals contain their reading
            for name in ("r_axis_attribute", "r_axis_lifespan"):
                assert h[f"{name}_ci_low"] - 1e-9 <= h[name] <= h[f"{name}_ci_high"] + 1e-9
    assert set(null_found) == {*DEFAULT_REGIMES, "raw"}
    assert max(null_found.values()) <= 2, null_found  # of 9, at alpha_discovery = 0.05


@pytest.mark.slow
def test_demo_verdict_names_the_three_procedures_and_what_the_network_added(demo):
    verdict = demo["report"]["verdict"]
    overfit = next(r for r in demo["report"]["regimes"] if r["regime"] == "overfit")
    procedures = verdict["procedures"]
    assert procedures.startswith("Three procedures on the same discovery rows (overfit): "
                                 f"reading kept {overfit['n_read']} attributes, of which "
                                 f"{overfit['n_read_replicated']} replicate")
    assert f"the screen kept {overfit['n_found']} of the {overfit['n_read']}" in procedures
    assert f"of the {overfit['n_read'] - overfit['n_found']} it dropped" in procedures
    assert (f"screening the attributes directly, with no network, gives "
            f"{overfit['n_direct_leads']} leads") in procedures
    network = verdict["network"]
    first = network.split(". ")[0]
    assert first.startswith(("The overfit network added nothing over screening the measured "
                             "attributes directly", "The overfit network added "))
    for name in ("report.md", "report.html"):
        text = (demo["out"] / name).read_text(encoding="utf-8")
        assert first in text and procedures.split(":")[0] in text, name
    # the regimes are compared on their readings, never on counts of survivors
    assert "Regimes compared on their readings" in verdict["comparison"]
    assert "surviving trends" not in verdict["comparison"]


@pytest.mark.slow
def test_demo_intervals_and_out_of_bag_replication_back_the_planted_trends(demo):
    overfit = {h["attribute"]: h for h in demo["report"]["hypotheses"]
               if h["regime"] == "overfit"}
    for attribute, sign in demo["report"]["truth"].items():
        if sign == "0":
            continue
        h = overfit[attribute]
        assert h["ci_low"] > 0, attribute  # bootstrap interval of the signed effect
        assert h["oob_replication"] >= 0.5, attribute
        for name in ("r_axis_attribute", "r_axis_lifespan"):
            low, high = h[f"{name}_ci_low"], h[f"{name}_ci_high"]
            assert low <= high and np.sign(low) == np.sign(high) == np.sign(h[name]), name


def test_max_t_correction_controls_the_holdout_family_wise():
    world = embaudit.worlds.product_lifespan(n=400, p=10, seed=8)
    options = {"training": {"regimes": []}, "resampling": {"n_bootstrap": 10,
                                                           "n_permutations": 19}}
    bh = embaudit.audit(options, table=world.table).hypotheses
    maxt = embaudit.audit({**options, "statistics": {"correction": "maxt"}},
                          table=world.table).hypotheses
    found = maxt["found"]
    assert found.sum() >= 3 and maxt.loc[~found, "q_holdout"].isna().all()
    assert (maxt.loc[found, "q_holdout"] >= maxt.loc[found, "p_holdout"] - 1e-12).all()
    # FWER ≥ FDR adjustment
    assert (maxt.loc[found, "q_holdout"] >= bh.loc[found, "q_holdout"] - 0.02).all()
    strongest = maxt.loc[maxt["p_holdout"].idxmin()]
    assert strongest["q_holdout"] <= 0.01 and world.truth[strongest["attribute"]] != "0"


@pytest.mark.slow
def test_demo_writes_reports_and_store(demo):
    out: Path = demo["out"]
    for name in ("report.html", "report.md", "report.json", "audit.duckdb"):
        assert (out / name).stat().st_size > 0, name
    report = demo["report"]
    assert report["verdict"]["position"] in {"A", "B", "undecided"}
    assert [r["regime"] for r in report["regimes"]] == [*DEFAULT_REGIMES, "raw"]
    # the manifest names how the members were computed, one way per regime
    paths = report["compute"]["paths"]
    assert report["compute"]["note"] == ""
    assert {p["path"] for p in paths} >= {"raw-feature pass (batched torch operations), adam",
                                          "closed form (pca, scikit-learn), no network"}
    assert "training path" in (out / "report.html").read_text()
    assert "raw-feature pass (batched torch operations), adam" in (out / "report.md").read_text()
    store = AuditStore(out)
    assert {"members", "hypotheses", "regimes", "metadata"} <= set(store.tables())
    members = store.read_table("members")
    networks = sum(REGIMES[r].trains_network for r in DEFAULT_REGIMES)
    # and the landscape's seed replicates of each network regime's reference
    assert len(members) == len(DEFAULT_REGIMES) * (1 + 30 + 99) + networks * 9
    assert members.query("regime == 'overfit'")["reached_target"].all()
    metadata = store.read_metadata()
    assert len(metadata["data_sha256"]) == 64
    assert metadata["config"]["seed"] == 0
    stored = store.read_members("overfit", ["overfit/reference", "overfit/bootstrap/0000"])
    assert stored.embeddings.shape == (2, 2000, 16) and stored.predictions.shape == (2, 2000)
    assert stored.diagnostics["member_id"].tolist() == ["overfit/reference",
                                                        "overfit/bootstrap/0000"]
    assert stored.state["first_weight"].shape == (2, 64, 500)
    assert set(store.tables()) >= {"alignment", "tests", "verdicts", "curves"}
    # overfit members reach near-zero training loss and the report says so; regularized
    # members stop early, each on its own
    summary = {(m["regime"], m["kind"]): m for m in report["members"]}
    for kind in ("reference", "bootstrap", "permutation"):
        row = summary[("overfit", kind)]
        assert row["n_reached_target"] == row["n_members"]
        assert row["median_train_loss"] < 0.01
    regularized = members.query("regime == 'regularized'")
    assert regularized["epochs"].max() < 300 and regularized["epochs"].nunique() > 3
    chunks = store.read_table("members").query("regime == 'overfit'")["chunk"].unique()
    logs = {p.parent.name for p in (out / "training_logs" / "overfit").glob("chunk_*/*.csv")}
    assert len(chunks) > 1 and logs == {f"chunk_{c}" for c in chunks}
    html = (out / "report.html").read_text()
    assert "n_reached_target" in html and "n_no_better_than_linear" in html


@pytest.mark.slow
def test_the_demo_runs_the_landscape(demo):
    jsonschema.Draft202012Validator(report_schema()).validate(demo["report"])
    landscape = demo["report"]["landscape"]
    networks = [r for r in DEFAULT_REGIMES if r not in ("linear", "pls")]
    assert [m["regime"] for m in landscape["members"]] == [r for r in networks
                                                           for _ in range(10)]
    minima = {m["member_id"]: m for m in landscape["members"] if m["status"] == "minimum"}
    assert len(minima) >= 10
    for member in landscape["members"]:  # every point says what it is, and why
        assert member["gradient_norm"] is not None and member["lambda_min"] is not None
        assert member["lambda_max_canonical"] > 0 and member["trace_canonical"] > 0
        if member["regime"] in ("regularized", "early_stopping"):
            assert member["status"] == "stopped early"
    for member in minima.values():
        assert member["gradient_norm"] <= 1e-4 and member["lanczos_converged"]
        assert 0 <= member["train_loss"] < member["holdout_loss"]
    # every path's ends are minima, at their own depth on the loss the path is measured on
    assert landscape["pairs"]
    for pair in landscape["pairs"]:
        a, b = minima[pair["member_a"]], minima[pair["member_b"]]
        assert pair["loss_a"] == pytest.approx(a["train_loss"], rel=1e-3, abs=1e-7)
        assert pair["loss_b"] == pytest.approx(b["train_loss"], rel=1e-3, abs=1e-7)
        assert pair["height"] >= max(pair["loss_a"], pair["loss_b"])
    html = (demo["out"] / "report.html").read_text()
    assert html.count('class="plot landscape"') == 5


@pytest.mark.slow
def test_global_null_world_gives_no_survivors_in_at_least_9_of_10_seeds():
    clean = 0
    for seed in range(10):
        world = embaudit.worlds.product_lifespan(n=800, p=100, seed=seed, null=True)
        assert set(world.truth.values()) == {"0"}
        result = embaudit.audit({**SMALL, "seed": seed, "training": {
            "regimes": ["overfit", "regularized"], "max_epochs": 200}}, table=world.table)
        embedded = result.hypotheses.query("regime in ['overfit', 'regularized']")
        clean += not (embedded["verdict"] == "survives").any()
    assert clean >= 9


@pytest.mark.slow
def test_cli_audit_of_a_csv_matches_the_in_memory_audit(tmp_path):
    world = embaudit.worlds.product_lifespan(n=600, p=60, seed=4)
    csv = tmp_path / "world.csv"
    world.frame.to_csv(csv, index=False)
    config = tmp_path / "audit.toml"
    config.write_text(
        "seed = 4\n[resampling]\nn_bootstrap = 10\nn_permutations = 19\n"
        "[training]\nmax_epochs = 200\nregimes = [\"overfit\", \"linear\"]\n"
    )
    attributes = ",".join(world.table.attributes)
    outcome = runner.invoke(app, [
        "audit", "--data", str(csv), "--target", "lifespan_days", "--attributes", attributes,
        "--features", "f*", "--id", "product_id", "--config", str(config),
        "--out", str(tmp_path / "out"),
    ])
    assert outcome.exit_code == 0, outcome.output
    from_cli = json.loads((tmp_path / "out" / "report.json").read_text())["hypotheses"]
    in_memory = embaudit.audit({**SMALL, "seed": 4, "training": {
        "max_epochs": 200, "regimes": ["overfit", "linear"]}}, table=world.table).hypotheses
    assert [h["verdict"] for h in from_cli] == list(in_memory["verdict"])
    assert [h["attribute"] for h in from_cli] == list(in_memory["attribute"])
    shown = [not h["sealed"] for h in from_cli]  # the sealed report withholds the rest
    assert any(shown) and not all(shown)
    np.testing.assert_allclose([h["p_holdout"] for h in from_cli if not h["sealed"]],
                               in_memory["p_holdout"][shown])
    assert all(h["p_holdout"] is None for h in from_cli if h["sealed"])
    np.testing.assert_allclose([h["strength"] for h in from_cli], in_memory["strength"],
                               rtol=1e-5)


def _text(outcome) -> str:
    """The command's output as one line (the message is wrapped as a paragraph)."""
    return " ".join(outcome.output.split())


def test_cli_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path):
    missing = runner.invoke(app, ["audit", "--data", str(tmp_path / "nope.csv"),
                                  "--target", "y", "--attributes", "a", "--out",
                                  str(tmp_path / "o")])
    assert missing.exit_code == 2
    assert "does not exist" in _text(missing) and "Traceback" not in missing.output

    world = embaudit.worlds.product_lifespan(n=100, p=5, seed=0)
    csv = tmp_path / "w.csv"
    world.frame.to_csv(csv, index=False)
    wrong_column = runner.invoke(app, ["audit", "--data", str(csv), "--target", "lifespan",
                                       "--attributes", "size", "--out", str(tmp_path / "o")])
    assert wrong_column.exit_code == 2
    assert "Column 'lifespan' (given as target) is not in the table" in _text(wrong_column)
    assert "Traceback" not in wrong_column.output

    config = tmp_path / "bad.toml"
    config.write_text("[training]\nlearning_rat = 0.1\n")
    bad_option = runner.invoke(app, ["audit", "--data", str(csv), "--target", "lifespan_days",
                                     "--attributes", "size", "--config", str(config),
                                     "--out", str(tmp_path / "o")])
    assert bad_option.exit_code == 2
    assert "training.learning_rat" in _text(bad_option)

    no_out = runner.invoke(app, ["audit", "--data", str(csv), "--target", "lifespan_days",
                                 "--attributes", "size"])
    assert no_out.exit_code == 2 and "--out" in _text(no_out)


@pytest.mark.slow
def test_report_flags_a_network_no_better_than_linear(tmp_path):
    world = embaudit.worlds.linear_lifespan(n=600, p=100, seed=0)
    config = {**SMALL, "out": str(tmp_path),
              "training": {"regimes": ["overfit", "linear"], "max_epochs": 200}}
    result = embaudit.audit(config, table=world.table, truth=world.truth)
    overfit = result.members.query("regime == 'overfit' and kind == 'reference'").iloc[0]
    assert overfit["no_better_than_linear"]
    report = json.loads((tmp_path / "report.json").read_text())
    flagged = {(m["regime"], m["kind"]): m["n_no_better_than_linear"]
               for m in report["members"]}
    assert flagged[("overfit", "reference")] == 1
    # the linear regime audits like the others and finds the planted drivers
    linear = result.surviving("linear")
    planted = {name for name, sign in world.truth.items() if sign != "0"}
    assert planted <= set(linear["attribute"])


def test_position_is_decided_on_the_regime_audited(tmp_path):
    world = embaudit.worlds.product_lifespan(n=300, p=30, seed=1)
    regularized = embaudit.audit({**SMALL, "training": {"regimes": ["regularized"],
                                                        "max_epochs": 30}},
                                 table=world.table)
    assert regularized.position.regime == "regularized"
    assert "regularized" in regularized.position.summary
    assert "overfit" not in regularized.position.summary
    raw = embaudit.audit({**SMALL, "training": {"regimes": []}}, table=world.table)
    assert raw.position.regime == "raw" and "no embedding was audited" in \
        raw.position.summary
    assert raw.position.procedures.startswith("Only direct screening was audited")
    assert raw.members.empty


def test_config_refuses_unknown_and_invalid_options():
    with pytest.raises(embaudit.ConfigError, match=r"n_screen_permutations=99 .* at least 999"):
        embaudit.audit({"statistics": {"n_screen_permutations": 99, "alpha_discovery": 0.001}})
    with pytest.raises(embaudit.ConfigError, match="twice"):
        embaudit.audit({"training": {"regimes": ["overfit", "overfit"]}})
    with pytest.raises(embaudit.ConfigError, match=r"statistics\.alpha"):
        embaudit.audit({"statistics": {"alpha": 2}})
    with pytest.raises(embaudit.ConfigError, match=r"data\.path"):
        embaudit.audit({})

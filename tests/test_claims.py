"""Claim checks: the verdicts, the exit codes, plain CSVs and a saved audit's member."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import embaudit
from embaudit.claims import Claim, check_claims
from embaudit.cli import app
from embaudit.errors import ConfigError, DataError

runner = CliRunner()


def _table(n: int = 300, seed: int = 0, effect: float = 0.5) -> embaudit.Table:
    rng = np.random.default_rng(seed)
    confounder = rng.normal(size=n)
    frame = pd.DataFrame({
        "size": rng.normal(size=n),
        "noise": rng.normal(size=n),
        "shade": confounder + 0.5 * rng.normal(size=n),
        "material": rng.choice(["wood", "steel", "glass"], size=n),
        "confounder": confounder,
    })
    log_life = effect * frame["size"] + confounder + rng.normal(size=n)
    frame["lifespan"] = np.exp(log_life + 5)
    return embaudit.load_table(frame, target="lifespan", features=[],
                               attributes=["size", "noise", "shade", "material"])


def test_claim_parsing_and_its_error():
    assert Claim.parse("size:+") == Claim("size", 1)
    assert Claim.parse(" colour=red:-@3 ") == Claim("colour=red", -1, 3)
    assert str(Claim("size", -1, 2)) == "size:-@2"
    with pytest.raises(ConfigError, match="ATTRIBUTE:\\+"):
        Claim.parse("size")


def test_true_claim_survives_wrong_sign_fails_and_null_is_not_confirmed():
    table = _table()
    true = embaudit.check_claim(table, "size", "+")
    wrong = embaudit.check_claim(table, "size", "-")
    null = embaudit.check_claim(table, "noise", "+")
    assert true.verdict == "survives" and true.ci_low > 0 and true.p < 1e-6
    assert wrong.verdict == "fails" and wrong.effect == pytest.approx(-true.effect)
    assert null.verdict != "survives"
    assert true.rows == "all rows" and true.n == 300
    # outside an audit's ledger, the verdict line says which rows and what they cannot do
    first = str(true.summary()).splitlines()[0]
    assert "on all rows (n = 300)" in first and "cannot confirm it" in first


def test_small_data_is_inconclusive_with_the_rows_power_needs():
    verdict = embaudit.check_claim(_table(n=60, seed=1, effect=0.25), "size", "+",
                                   min_effect=0.2)
    assert verdict.verdict == "inconclusive"
    assert verdict.power < 0.8 and verdict.n_required > verdict.n


def test_covariates_make_the_claim_partial():
    table = _table(n=500, seed=2)
    marginal = embaudit.check_claim(table, "shade", "+")
    partial = embaudit.check_claim(table, "shade", "+", covariates=["confounder"])
    assert marginal.verdict == "survives"
    # ranks adjusted linearly for the confounder's ranks: most, not all, of it goes
    assert abs(partial.effect) < 0.1 < 0.3 < marginal.effect
    assert partial.p > 1e6 * marginal.p


def test_claims_are_adjusted_together_and_strict_exit_codes():
    table = _table(seed=3)
    report = check_claims(table, ["size:+", "noise:+", "size:-"])
    frame = report.to_frame()
    assert (frame["q"] >= frame["p"] - 1e-12).all()
    assert frame["verdict"].iloc[0] == "survives" and frame["verdict"].iloc[2] == "fails"
    assert report.exit_code == 1
    assert check_claims(table, ["size:+"]).exit_code == 0


def test_categorical_claims_name_a_level():
    table = _table(seed=4)
    assert embaudit.check_claim(table, "material=wood", "+").attribute == "material=wood"
    with pytest.raises(ConfigError, match="material=glass"):
        embaudit.check_claim(table, "material", "+")
    with pytest.raises(ConfigError, match="not an attribute"):
        embaudit.check_claim(table, "weight", "+")


def _csv(tmp_path: Path, n: int = 300, seed: int = 0, effect: float = 0.5) -> Path:
    path = tmp_path / "claims.csv"
    _table(n, seed, effect).frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("claims", "code"), [
    (["size:+"], 0), (["size:+", "size:-"], 1), (["size:+", "noise:+"], 3),
])
def test_cli_check_strict_exit_codes(tmp_path, claims, code):
    csv = _csv(tmp_path, seed=8)  # noise:+ is inconclusive with this seed
    args = ["check", "--data", str(csv), "--target", "lifespan", "--strict"]
    for claim in claims:
        args += ["--claim", claim]
    outcome = runner.invoke(app, args)
    assert outcome.exit_code == code, outcome.output
    assert "effect" in outcome.output and "q =" in outcome.output and "power" in outcome.output


def test_cli_check_without_strict_exits_0_and_bad_input_exits_2(tmp_path):
    csv = _csv(tmp_path, seed=6)
    ok = runner.invoke(app, ["check", "--data", str(csv), "--target", "lifespan",
                             "--claim", "size:-"])
    assert ok.exit_code == 0 and "FAILS" in ok.output
    bad = runner.invoke(app, ["check", "--data", str(csv), "--target", "lifespan",
                              "--claim", "weight:+"])
    assert bad.exit_code == 2 and "weight" in bad.output and "Traceback" not in bad.output
    malformed = runner.invoke(app, ["check", "--data", str(csv), "--target", "lifespan",
                                    "--claim", "size+"])
    assert malformed.exit_code == 2 and "ATTRIBUTE:+" in malformed.output


def test_cli_check_takes_an_id_like_audit(tmp_path):
    frame = pd.read_csv(_csv(tmp_path, seed=6))
    frame.insert(0, "serial", [f"s{i}" for i in range(len(frame))])
    frame.loc[7, "serial"] = "s3"
    frame.to_csv(tmp_path / "ids.csv", index=False)
    args = ["check", "--data", str(tmp_path / "ids.csv"), "--target", "lifespan",
            "--claim", "size:-", "--id", "serial"]
    twice = runner.invoke(app, args)
    assert twice.exit_code == 2 and "'serial'" in twice.output and "s3" in twice.output
    frame.loc[7, "serial"] = "s7"
    frame.to_csv(tmp_path / "ids.csv", index=False)
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0 and "FAILS" in ok.output


@pytest.fixture(scope="module")
def saved_audit(tmp_path_factory: pytest.TempPathFactory) -> dict:
    world = embaudit.worlds.product_lifespan(n=600, p=60, seed=4)
    out = tmp_path_factory.mktemp("audit")
    result = embaudit.audit({"resampling": {"n_bootstrap": 10, "n_permutations": 19},
                             "training": {"max_epochs": 200, "regimes": ["overfit"]},
                             "seed": 4, "out": str(out)}, table=world.table)
    csv = out.parent / "world.csv"
    world.frame.to_csv(csv, index=False)
    return {"out": out, "csv": csv, "result": result, "world": world}


@pytest.mark.slow
def test_saved_member_reproduces_its_embedding(saved_audit):
    member = embaudit.load_member(saved_audit["out"])
    predictions, embedding = member.embed(saved_audit["world"].table)
    np.testing.assert_allclose(embedding, saved_audit["result"].embeddings["overfit"],
                               atol=1e-5)
    rows, label = member.untouched_rows(predictions, embedding)
    np.testing.assert_array_equal(rows, np.sort(saved_audit["result"].split.holdout))
    assert label == "audit holdout"
    # the audit's rows in another order, half of them: still only its holdout rows
    order = np.random.default_rng(0).permutation(len(predictions))[: len(predictions) // 2]
    rows, label = member.untouched_rows(predictions[order], embedding[order])
    assert label == "audit holdout"
    np.testing.assert_array_equal(np.sort(order[rows]), np.sort(
        np.intersect1d(order, saved_audit["result"].split.holdout)))
    rows, label = member.untouched_rows(predictions + 0.5, embedding + 0.5)  # new
    assert label == "new rows" and len(rows) == len(predictions)
    with pytest.raises(ConfigError, match="not a reference member"):
        embaudit.load_member(saved_audit["out"], member_id="overfit/bootstrap/0001")
    with pytest.raises(ConfigError, match="has no networks"):
        embaudit.load_member(saved_audit["out"], regime="regularized")


@pytest.mark.slow
def test_check_with_a_saved_member_tests_its_axis_on_the_audit_holdout(saved_audit):
    hypotheses = saved_audit["result"].hypotheses
    size = hypotheses[hypotheses["attribute"] == "size"].iloc[0]
    table = saved_audit["world"].table
    verdict = embaudit.check_claim(table, "size", "+", model=saved_audit["out"])
    assert verdict.rows == "audit holdout" and verdict.n == size["n_holdout"]
    assert "outside the audit's claims ledger" in str(verdict.summary()).splitlines()[0]
    assert verdict.axis == size["axis"]
    assert verdict.p_embedding == pytest.approx(size["p_embedding"], rel=1e-6)
    assert verdict.p == pytest.approx(size["p_holdout"], rel=1e-6)
    # the opposite claim is tested in its own direction, on the axis as well
    opposite = embaudit.check_claim(table, "size", "-", model=saved_audit["out"])
    assert opposite.verdict == "fails" and opposite.p_embedding > 0.5


@pytest.mark.slow
def test_cli_check_with_a_saved_member(saved_audit):
    outcome = runner.invoke(app, [
        "check", "--data", str(saved_audit["csv"]), "--target", "lifespan_days",
        "--claim", "size:+", "--claim", "gloss:+@0", "--model", str(saved_audit["out"]),
    ])
    assert outcome.exit_code == 0, outcome.output
    assert "audit holdout" in outcome.output and "axis 0" in outcome.output
    missing = runner.invoke(app, [
        "check", "--data", str(saved_audit["csv"]), "--target", "lifespan_days",
        "--claim", "size:+", "--model", str(saved_audit["out"] / "nowhere"),
    ])
    assert missing.exit_code == 2 and "no finished audit" in " ".join(missing.output.split())


def test_an_attribute_the_covariates_determine_is_untestable_not_failed():
    table = _table(seed=9)
    frame = table.frame.assign(size2=2 * table.frame["size"] + 1)
    widened = embaudit.load_table(frame, target="lifespan", features=[],
                                  attributes=["size"])
    verdict = embaudit.check_claim(widened, "size", "+", covariates=["size2"])
    assert verdict.verdict == "inconclusive" and np.isnan(verdict.effect)
    assert np.isnan(verdict.ci_low) and verdict.n_required > 0
    assert verdict.reason == "the covariates determine it"
    assert "no test could be computed: the covariates determine it" in str(verdict)


def test_covariate_with_a_missing_value_names_its_row():
    table = _table(seed=7)
    frame = table.frame.copy()
    frame.loc[5, "confounder"] = np.nan
    broken = embaudit.load_table(frame, target="lifespan", features=[],
                                 attributes=["size"])
    with pytest.raises(DataError, match="row 5"):
        embaudit.check_claim(broken, "size", "+", covariates=["confounder"])


def _grouped_frame(seed: int) -> pd.DataFrame:
    """30 groups of 15 rows; lifespan and the attribute share group effects (ICC 0.5)
    and are independent of each other."""
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(30), 15)

    def grouped() -> np.ndarray:
        return np.sqrt(0.5) * (rng.normal(size=30)[codes] + rng.normal(size=len(codes)))

    return pd.DataFrame({"batch": codes, "size": grouped(), "lifespan": np.exp(grouped())})


def test_claims_on_grouped_rows_are_tested_by_group():
    grouped = independent = 0
    for seed in range(60):
        frame = _grouped_frame(seed)
        for group in ("batch", None):
            table = embaudit.load_table(frame, target="lifespan", features=[],
                                        attributes=["size"], group=group)
            verdict = embaudit.check_claim(table, "size", "+", n_resamples=200, seed=seed)
            if group:
                grouped += verdict.p <= 0.1
            else:
                independent += verdict.p <= 0.1
    assert independent / 60 > 0.18  # rows taken as independent reject far too often
    assert grouped / 60 <= 0.1 + 2 * np.sqrt(0.09 / 60)


def test_cli_check_takes_a_group_column(tmp_path):
    csv = tmp_path / "grouped.csv"
    _grouped_frame(0).to_csv(csv, index=False)
    outcome = runner.invoke(app, ["check", "--data", str(csv), "--target", "lifespan",
                                  "--claim", "size:+", "--group", "batch"])
    assert outcome.exit_code == 0, outcome.output
    assert "Claim size:+" in outcome.output


@pytest.mark.slow
def test_claims_on_the_holdout_get_the_audits_verdicts(saved_audit):
    """One verdict rule and one correction: the found trends of an audit, checked as
    claims on the audit's holdout rows with its settings, get the audit's verdicts."""
    result, world = saved_audit["result"], saved_audit["world"]
    found = result.hypotheses[(result.hypotheses["regime"] == "overfit")
                              & result.hypotheses["found"]]
    assert len(found) >= 3 and found["verdict"].nunique() >= 1
    roles = world.table.roles()
    holdout = embaudit.load_table(
        world.frame.iloc[result.split.holdout].reset_index(drop=True),
        target=roles["target"], features=roles["features"], attributes=roles["attributes"],
        id=roles["id"], target_transform=roles["target_transform"])
    stat = result.config.statistics
    report = check_claims(
        holdout, [f"{a}:{d}" for a, d in zip(found["attribute"], found["direction"],
                                             strict=True)],
        alpha=stat.alpha, correction=stat.correction, min_effect=stat.min_effect,
        power=stat.power, confidence=stat.confidence, n_resamples=stat.n_resamples,
        seed=result.config.seed)
    checked = report.to_frame()
    assert list(checked["verdict"]) == list(found["verdict"])
    np.testing.assert_allclose(checked["q"], found["q_holdout"], rtol=1e-9)
    np.testing.assert_allclose(checked["ci_high"], found["ci_high"], rtol=1e-9)
    expected = [None if pd.isna(v) else int(v) for v in found["n_required"]]
    assert list(checked["n_required"].astype(object).where(checked["n_required"].notna(),
                                                           None)) == expected


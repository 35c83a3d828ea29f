"""Claims checked against a saved audit's sealed holdout: the online rule, the ledger,
the seal, and what the reports show."""

from __future__ import annotations

import base64
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import embaudit
from browser import probe as run_probe
from embaudit.claims import check_against_audit, claims_ledger
from embaudit.cli import app
from embaudit.errors import ConfigError, DataError
from embaudit.hypotheses.online import OnlineRule
from embaudit.reports.explorer import _picture, explore

runner = CliRunner()

#: a cheap audit: its networks are only needed for the axes claims name
_OPTIONS = {"resampling": {"n_bootstrap": 2, "n_permutations": 1, "protest_permutations": 1},
            "training": {"max_epochs": 40, "regimes": ["overfit"]},
            "statistics": {"n_resamples": 200, "n_holdout_permutations": 99}}


def test_lord_plus_plus_levels_are_the_published_ones():
    """onlineFDR (R; Robertson et al.), advanced-usage vignette: LORD++ at alpha 0.05
    with w0 = alpha / 10 on its sample data, rejections at tests 1, 7 and 9."""
    published = [0.0002675839, 0.0024664457, 0.0005732818, 0.0004872805, 0.0004059066,
                 0.0003447286, 0.0002986627, 0.0029389397, 0.0008168502, 0.0033835974,
                 0.0011873999, 0.0010225858, 0.0008785607, 0.0007679398, 0.0006820264]
    p = [level / 2 if t in (1, 7, 9) else 0.5 for t, level in enumerate(published, 1)]
    steps = OnlineRule(alpha=0.05, initial_wealth=0.005).replay(p)
    np.testing.assert_allclose([s.level for s in steps], published, rtol=0, atol=5e-11)
    assert [s.number for s in steps if s.rejected] == [1, 7, 9]


def test_with_no_true_claim_any_false_survival_stays_below_the_initial_wealth():
    rule = OnlineRule(alpha=0.10)
    rng = np.random.default_rng(0)
    independent = [any(s.rejected for s in rule.replay(rng.uniform(size=12)))
                   for _ in range(3000)]
    identical = [any(s.rejected for s in rule.replay([u] * 12))  # the worst dependence
                 for u in rng.uniform(size=3000)]
    naive = np.mean([(rng.uniform(size=12) <= 0.10).any() for _ in range(3000)])
    assert np.mean(independent) <= rule.wealth0 and np.mean(identical) <= rule.wealth0
    assert naive > 0.6  # each claim at 0.10 on its own: most sequences have one
    with pytest.raises(ConfigError, match="initial_wealth"):
        OnlineRule(alpha=0.10, initial_wealth=0.2)


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> dict:
    world = embaudit.worlds.product_lifespan(n=400, p=30, seed=1)
    out = tmp_path_factory.mktemp("ledger") / "audit"
    result = embaudit.audit({**_OPTIONS, "seed": 1, "out": str(out)}, table=world.table)
    rng = np.random.default_rng(0)
    log_life = np.log(world.frame["lifespan_days"].to_numpy())
    new = pd.DataFrame({"product_id": world.frame["product_id"],
                        "roundness": log_life + 2 * rng.normal(size=len(log_life)),
                        **{f"null{i}": rng.normal(size=len(log_life)) for i in range(12)}})
    return {"out": out, "result": result, "world": world, "new": new}


def _copy(audited: dict, tmp_path: Path) -> Path:
    folder = tmp_path / "audit"
    shutil.copytree(audited["out"], folder)
    return folder


def test_claims_checked_one_at_a_time_get_the_levels_of_one_sequence(audited, tmp_path):
    folder = _copy(audited, tmp_path)
    claims = ["roundness:+", "null0:+", "null1:-", "null2:+"]
    for claim in claims:
        check_against_audit(folder, [claim], audited["new"])
    ledger = claims_ledger(folder)
    assert list(ledger["number"]) == [1, 2, 3, 4] and list(ledger["claim"]) == claims
    steps = OnlineRule(alpha=0.10).replay(ledger["p"].tolist())
    np.testing.assert_allclose(ledger["level"], [s.level for s in steps])
    # the same claims in one call: the same sequence, the same levels
    together = _copy(audited, tmp_path / "one_call")
    np.testing.assert_allclose(
        check_against_audit(together, claims, audited["new"]).ledger["level"],
        ledger["level"])
    # a later claim never gets the first claim's level when nothing was found between
    assert ledger["level"].iloc[3] < ledger["level"].iloc[2] < ledger["level"].iloc[1]


def test_a_column_coded_after_exploring_is_tested_on_the_holdout_without_an_axis(
        audited, tmp_path):
    folder = _copy(audited, tmp_path)
    report = check_against_audit(folder, ["roundness:+"], audited["new"])
    verdict = report.verdicts[0]
    result = audited["result"]
    assert verdict.decision == "survives" and verdict.n == len(result.split.holdout)
    assert verdict.p <= verdict.level and not verdict.seen_in_report
    assert "Claim #1 of the audit's ledger, roundness:+: SURVIVES" in str(report.summary())
    # the holdout rows only: the same test on them by hand
    holdout = audited["new"].iloc[np.sort(result.split.holdout)]
    by_hand = embaudit.check_claim(embaudit.load_table(
        holdout.assign(life=audited["world"].frame["lifespan_days"]
                       .iloc[np.sort(result.split.holdout)].to_numpy()),
        target="life", attributes=["roundness"], features=[]), "roundness", "+")
    assert verdict.p == pytest.approx(by_hand.p, rel=1e-9)


def test_a_found_attribute_is_marked_as_seen_in_the_report(audited, tmp_path):
    folder = _copy(audited, tmp_path)
    hypotheses = audited["result"].hypotheses
    found = hypotheses[hypotheses["found"].astype(bool)]
    hidden = hypotheses[~hypotheses["found"].astype(bool)
                        & ~hypotheses["read"].fillna(False).astype(bool)]
    assert len(found) and len(hidden)
    claims = [f"{found['attribute'].iloc[0]}:+", f"{hidden['attribute'].iloc[0]}:+"]
    ledger = check_against_audit(folder, claims).ledger
    assert list(ledger["seen_in_report"]) == [True, False]


def test_a_tampered_or_removed_ledger_row_is_refused_by_number(audited, tmp_path):
    folder = _copy(audited, tmp_path)
    check_against_audit(folder, ["null0:+", "null1:+", "null2:+"], audited["new"])
    with duckdb.connect(str(folder / "audit.duckdb")) as connection:
        connection.execute("UPDATE claims SET p = 0.0001 WHERE number = 2")
    with pytest.raises(ConfigError, match=r"Claim 2 of the ledger .* was changed"):
        claims_ledger(folder)
    with pytest.raises(ConfigError, match="Claim 2"):
        check_against_audit(folder, ["null3:+"], audited["new"])
    assert runner.invoke(app, ["report", str(folder)]).exit_code == 2
    removed = _copy(audited, tmp_path / "removed")
    check_against_audit(removed, ["null0:+", "null1:+", "null2:+"], audited["new"])
    with duckdb.connect(str(removed / "audit.duckdb")) as connection:
        connection.execute("DELETE FROM claims WHERE number = 1")
    with pytest.raises(ConfigError, match=r"Claim 1 of the ledger .* is missing"):
        claims_ledger(removed)


def test_bad_new_data_is_named_and_leaves_the_ledger_alone(audited, tmp_path):
    folder = _copy(audited, tmp_path)
    new = audited["new"]
    holdout_id = new["product_id"].iloc[int(audited["result"].split.holdout[0])]
    gaps = new.assign(roundness=np.where(new["product_id"] == holdout_id, np.nan,
                                         new["roundness"]))
    with pytest.raises(DataError, match=f"'roundness' has no value for 1 holdout rows.*"
                                        f"{holdout_id}"):
        check_against_audit(folder, ["roundness:+"], gaps)
    unknown = pd.concat([new, new.iloc[:1].assign(product_id="nobody")])
    with pytest.raises(DataError, match=r"'nobody'.*not a row of the audit"):
        check_against_audit(folder, ["roundness:+"], unknown)
    with pytest.raises(DataError, match="no column 'product_id'"):
        check_against_audit(folder, ["roundness:+"], new.drop(columns="product_id"))
    with pytest.raises(DataError, match="'size' of the new data is already a column"):
        check_against_audit(folder, ["roundness:+"], new.assign(size=1.0))
    assert claims_ledger(folder).empty


def test_changed_holdout_lifespans_break_the_seal(audited, tmp_path):
    folder = _copy(audited, tmp_path)
    row = int(audited["result"].split.holdout[0])
    identifier = audited["world"].frame["product_id"].iloc[row]
    with duckdb.connect(str(folder / "audit.duckdb")) as connection:
        connection.execute("UPDATE data SET lifespan_days = lifespan_days * 2 "
                           "WHERE product_id = ?", [identifier])
    with pytest.raises(ConfigError, match="no longer match the seal"):
        check_against_audit(folder, ["roundness:+"], audited["new"])


def test_sealed_reports_show_holdout_numbers_only_for_what_the_audit_tested(audited,
                                                                            tmp_path):
    folder = _copy(audited, tmp_path)
    check_against_audit(folder, ["roundness:+"], audited["new"])
    assert runner.invoke(app, ["report", str(folder)]).exit_code == 0
    document = json.loads((folder / "report.json").read_text())
    assert document["seal"]["sealed"] is True
    rows = document["hypotheses"]
    tested = [r for r in rows if r["found"] or r["read"]]
    sealed = [r for r in rows if r["sealed"]]
    assert sealed and tested and len(sealed) + len(tested) == len(rows)
    assert all(r["p_holdout"] is None and r["effect_holdout"] is None for r in sealed)
    assert all(r["p_holdout"] is not None for r in tested if r["found"])
    assert [c["claim"] for c in document["claims"]] == ["roundness:+"]
    markdown = (folder / "report.md").read_text()
    assert "| sealed |" in markdown and "roundness:+" in markdown
    # unsealed (not part of the audit's identity: the audit resumes, nothing retrains)
    embaudit.audit({**_OPTIONS, "seed": 1, "out": str(folder), "sealed": False},
                   table=audited["world"].table)
    document = json.loads((folder / "report.json").read_text())
    assert document["seal"]["sealed"] is False and not any(r["sealed"] for r in
                                                           document["hypotheses"])
    assert [c["claim"] for c in document["claims"]] == ["roundness:+"]  # kept
    seen = check_against_audit(folder, [f"{sealed[0]['attribute']}:+"]).verdicts[0]
    assert seen.seen_in_report and "not an independent confirmation" in str(seen)


def test_cli_check_against_an_audit(audited, tmp_path):
    folder = _copy(audited, tmp_path)
    csv = tmp_path / "coded.csv"
    audited["new"].to_csv(csv, index=False)
    outcome = runner.invoke(app, ["check", "--audit", str(folder), "--data", str(csv),
                                  "--claim", "roundness:+", "--claim", "null0:+",
                                  "--strict"])
    assert outcome.exit_code in (1, 3), outcome.output
    assert "Claim #1 of the audit's ledger, roundness:+: SURVIVES" in outcome.output
    assert "Claim #2" in outcome.output and "error budget left" in outcome.output
    mixed = runner.invoke(app, ["check", "--audit", str(folder), "--target", "x",
                                "--claim", "roundness:+"])
    assert mixed.exit_code == 2 and "--target cannot be combined with --audit" in mixed.output
    bare = runner.invoke(app, ["check", "--claim", "roundness:+"])
    assert bare.exit_code == 2 and "--audit DIR" in bare.output
    wrong_id = runner.invoke(app, ["check", "--audit", str(folder), "--data", str(csv),
                                   "--claim", "roundness:+", "--id", "serial"])
    assert wrong_id.exit_code == 2
    assert "--id 'serial' is not the audit's id" in " ".join(wrong_id.output.split())
    assert "'product_id'" in wrong_id.output
    same_id = runner.invoke(app, ["check", "--audit", str(folder), "--data", str(csv),
                                  "--claim", "roundness:-", "--id", "product_id"])
    assert same_id.exit_code == 0 and "Claim #3" in same_id.output


def test_twelve_null_claims_one_at_a_time_rarely_give_a_false_survival(audited, tmp_path):
    """The quick version of benchmarks/claims_ledger.py: one at a time through the
    ledger against what twelve separate checks at q = 0.10 would have said."""
    survivals, naive = 0, 0
    for run in range(6):
        folder = _copy(audited, tmp_path / f"run{run}")
        rng = np.random.default_rng(run)
        new = audited["new"][["product_id"]].assign(
            **{f"coded{i}": rng.normal(size=len(audited["new"])) for i in range(12)})
        for i in range(12):
            verdict = check_against_audit(folder, [f"coded{i}:+"], new).verdicts[0]
            survivals += verdict.decision == "survives"
            naive += verdict.p <= 0.10
    assert survivals <= 1 and naive >= 3


@pytest.mark.slow
def test_a_check_killed_midway_leaves_a_readable_ledger_without_half_a_claim(
        audited, tmp_path):
    folder = _copy(audited, tmp_path)
    csv = tmp_path / "coded.csv"
    audited["new"].to_csv(csv, index=False)
    claims = [f"null{i}:+" for i in range(12)]
    command = [sys.executable, "-m", "embaudit.cli", "check", "--audit", str(folder),
               "--data", str(csv), *[a for c in claims for a in ("--claim", c)]]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    took = len(claims_ledger(folder))
    assert took == 12
    for delay in np.linspace(1.0, 8.0, 8):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        ledger = claims_ledger(folder)  # readable, the chain intact
        assert len(ledger) % 12 == 0  # a check's claims go in together or not at all


# ------------------------------------------------------------------ the axis explorer
def test_the_explorer_shows_discovery_rows_only(audited, tmp_path):
    folder = _copy(audited, tmp_path)
    paths = explore(folder)
    frame, split = audited["world"].frame, audited["result"].split
    holdout, discovery = np.sort(split.holdout), np.sort(split.discovery)
    html, csv = paths["html"].read_text(), paths["csv"].read_text()
    exported = pd.read_parquet(paths["parquet"])
    held_ids = set(frame["product_id"].iloc[holdout])
    assert not held_ids & set(exported["product_id"])
    assert not any(i in html or i in csv for i in held_ids)
    assert set(exported["product_id"]) <= set(frame["product_id"].iloc[discovery])
    held_life = frame["lifespan_days"].iloc[holdout].to_numpy()
    seen_life = frame["lifespan_days"].iloc[discovery].to_numpy()
    assert not set(held_life) & set(exported["lifespan_days"])
    assert not any(repr(v) in csv for v in held_life)
    shown = {f"{v:.4g}" for v in seen_life}  # the page's precision: skip coincidences
    assert not any(f">{v:.4g}<" in html for v in held_life if f"{v:.4g}" not in shown)
    # every live axis, its slice ordered along it, a gallery of pictures
    first = exported[exported["axis"] == exported["axis"].iloc[0]]
    assert first["axis_value"].is_monotonic_increasing
    assert len(first) == round(audited["result"].config.discovery.slice_fraction
                               * len(discovery))
    assert html.count('class="gallery"') == exported["axis"].nunique()
    assert html.count("<img src=\"data:image/svg+xml;base64,") >= 5 * exported["axis"].nunique()


def test_pictures_can_come_from_another_file(audited, tmp_path):
    folder = _copy(audited, tmp_path)
    frame = audited["world"].frame
    csv = tmp_path / "pictures.csv"
    frame[["product_id"]].assign(photo=frame["picture"]).to_csv(csv, index=False)
    outcome = runner.invoke(app, ["explore", str(folder), "--images", "photo",
                                  "--data", str(csv)])
    assert outcome.exit_code == 0, outcome.output
    assert (folder / "explorer.html").read_text().count("data:image/svg+xml") >= 10
    kept_none = runner.invoke(app, ["explore", str(folder), "--images", "photo"])
    assert kept_none.exit_code == 2 and "kept no column 'photo'" in kept_none.output


def test_pictures_are_shown_only_when_they_are_pictures(tmp_path):
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 16)
    assert _picture(str(png))["src"].startswith("data:image/png;base64,")
    assert _picture("javascript:alert(1)")["src"] == ""
    assert _picture("data:text/html;base64,PHNjcmlwdD4=")["src"] == ""
    assert "no such file" in _picture(str(tmp_path / "gone.png"))["missing"]
    assert _picture("https://example.org/p.jpg")["src"] == "https://example.org/p.jpg"
    assert _picture(float("nan"))["missing"] == "no picture"


def _spots(picture: str) -> int:
    return base64.b64decode(picture.split(",", 1)[1]).decode().count("<circle")


def test_an_attribute_coded_from_the_pictures_is_confirmed_on_the_sealed_holdout(
        audited, tmp_path):
    """The demo's workflow: the pictures show rust spots (moisture, which the table only
    has as the binary outdoor); counting them gives a new attribute, checked on the
    holdout without naming an axis."""
    folder = _copy(audited, tmp_path)
    frame = audited["world"].frame
    coded = pd.DataFrame({"product_id": frame["product_id"],
                          "weathering": frame["picture"].map(_spots)})
    verdict = check_against_audit(folder, ["weathering:-"], coded).verdicts[0]
    assert verdict.decision == "survives" and verdict.effect > 0.2
    assert not verdict.seen_in_report


@pytest.mark.slow
def test_the_explorer_works_in_a_real_browser(audited, tmp_path):
    folder = _copy(audited, tmp_path)
    page = explore(folder)["html"]
    probe = run_probe(page.read_text(), EXPLORER_PROBE, tmp_path)
    assert probe["errors"] == [] and probe["overflow"] <= 0
    assert probe["visible"] == [probe["first"]] and probe["after"] == [probe["chosen"]]
    assert probe["first"] != probe["chosen"]
    assert probe["pictures"] >= 5 and probe["broken"] == 0


EXPLORER_PROBE = """window.addEventListener("load", function () {
  function visible() {
    return Array.prototype.filter.call(document.querySelectorAll(".axis-view"),
      function (v) { return !v.hidden && getComputedStyle(v).display !== "none"; })
      .map(function (v) { return v.getAttribute("data-axis"); });
  }
  var select = document.getElementById("axis"), result = {};
  result.first = select.value; result.visible = visible();
  select.value = select.options[select.options.length - 1].value;
  select.dispatchEvent(new Event("change"));
  result.chosen = select.value; result.after = visible();
  var shown = document.getElementById("axis-" + select.value).querySelectorAll(".gallery img");
  result.pictures = shown.length;
  result.broken = Array.prototype.filter.call(shown, function (i) {
    return !(i.complete && i.naturalWidth > 0); }).length;
  result.overflow = document.documentElement.scrollWidth - window.innerWidth;
  result.errors = errors;
  document.body.setAttribute("data-probe", JSON.stringify(result));
});
"""

"""Reports: the JSON contract, escaping of hostile data, self-contained HTML, plots."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from html import unescape
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from embaudit.config import AuditConfig
from embaudit.core.schema import HYPOTHESIS_COLUMNS, REGIME_COLUMNS, Position
from embaudit.data.table import load_table
from embaudit.data.worlds import product_lifespan
from embaudit.hypotheses.crossfit import crossfit_tables
from embaudit.landscape.comparison import PREDICTORS
from embaudit.reports import (
    render_html,
    render_markdown,
    report_json,
    report_schema,
    write_reports,
)
from embaudit.reports.figures import MAX_TRENDS, ReportPlots, report_plots
from embaudit.reports.json_report import (
    _FLAG_COLUMNS,
    _MEDIAN_COLUMNS,
    HOLDOUT_COLUMNS,
    HYPOTHESIS_DISPLAY,
    REGIME_DISPLAY,
    member_summary,
)
from embaudit.reports.labels import SNAKE_CASE, label, unlabeled
from embaudit.reports.landscape_view import SHOWN
from embaudit.reports.ledger_view import LEDGER_DISPLAY
from embaudit.reports.tables import PROCEDURES_PANEL, READINGS_PANEL
from embaudit.resampling.plans import discovery_holdout_split
from embaudit.results import AuditResult

SCRIPT = "<script>alert(1)</script>"
PIPE = "gloss|$shine$"
REGIMES = ("overfit", "regularized", "raw")
N_NULL = 19


def _hypotheses(columns: list, rng: np.random.Generator) -> pd.DataFrame:
    """One row per regime and attribute column with every documented column."""
    frames = []
    q = len(columns)
    for regime in REGIMES:
        raw = regime == "raw"
        strength = rng.uniform(0.01, 0.3, q)
        p_holdout = rng.uniform(0, 0.2, q)
        verdict = np.where(p_holdout < 0.08, "survives",
                           np.where(p_holdout > 0.15, "fails", "inconclusive"))
        verdict[0] = "survives"  # the hostile-named column survives in every regime
        frames.append(pd.DataFrame({
            "regime": regime,
            "attribute": [c.name for c in columns],
            "source_attribute": [c.attribute for c in columns],
            "kind": [c.kind for c in columns],
            "axis": pd.array([pd.NA] * q if raw else rng.integers(0, 16, q), dtype="Int64"),
            "direction": rng.choice(["+", "-"], q),
            "strength": strength,
            "r_axis_attribute": rng.uniform(-1, 1, q),
            "r_axis_lifespan": rng.uniform(-1, 1, q),
            "r_axis_attribute_ci_low": np.full(q, np.nan) if raw else rng.uniform(-1, 0, q),
            "r_axis_attribute_ci_high": np.full(q, np.nan) if raw else rng.uniform(0, 1, q),
            "r_axis_lifespan_ci_low": np.full(q, np.nan) if raw else rng.uniform(-1, 0, q),
            "r_axis_lifespan_ci_high": np.full(q, np.nan) if raw else rng.uniform(0, 1, q),
            "p_carried": np.full(q, np.nan) if raw else rng.uniform(0, 0.1, q),
            "read": pd.array([pd.NA] * q if raw else rng.uniform(size=q) < 0.8,
                             dtype="boolean"),
            "p_association": rng.uniform(0, 0.1, q),
            "p_discovery": rng.uniform(0, 0.1, q),
            "found": rng.uniform(size=q) < 0.7,
            "p_retrained": rng.uniform(0, 0.3, q),
            "p_retrained_maxt": rng.uniform(0, 0.5, q),
            "effect_holdout": rng.uniform(-0.2, 0.4, q),
            "ci_low": rng.uniform(-0.4, 0.0, q),
            "ci_high": rng.uniform(0.2, 0.6, q),
            "p_holdout": p_holdout,
            "q_holdout": np.minimum(p_holdout * 1.5, 1.0),
            "r_axis_attribute_holdout": np.full(q, np.nan) if raw else rng.uniform(-1, 1, q),
            "r_axis_lifespan_holdout": np.full(q, np.nan) if raw else rng.uniform(-1, 1, q),
            "p_embedding": np.full(q, np.nan) if raw else rng.uniform(0, 1, q),
            "axis_generalizes": pd.array([pd.NA] * q if raw else rng.uniform(size=q) < 0.5,
                                         dtype="boolean"),
            "q_reading": np.full(q, np.nan) if raw else np.minimum(p_holdout * 2, 1.0),
            "replicates": pd.array([pd.NA] * q if raw else p_holdout < 0.05,
                                   dtype="boolean"),
            "sign_consistency": rng.uniform(0.5, 1, q),
            "selection_frequency": np.full(q, np.nan) if raw else rng.uniform(0, 1, q),
            "oob_replication": rng.uniform(0, 1, q),
            "n_holdout": 60,
            "n_required": pd.array(np.where(verdict == "inconclusive", 250, 0), dtype="Int64"),
            "events_required": pd.array([pd.NA] * q, dtype="Int64"),
            "holdout_note": pd.array([None] * q, dtype="string"),
            "verdict": verdict,
            "explained_by": pd.array([pd.NA] * q, dtype="string"),
        }))
        frames[-1].loc[frames[-1]["verdict"] != "inconclusive", "n_required"] = pd.NA
    return pd.concat(frames, ignore_index=True)[list(HYPOTHESIS_COLUMNS)]


def _regime_row(regime: str, part: pd.DataFrame, rng: np.random.Generator) -> dict:
    """A regime panel row consistent with its hypotheses (the effects drawn at random)."""
    raw = regime == "raw"
    read = part["read"].fillna(False).to_numpy(dtype=bool)
    effect, null = float(rng.uniform(0, 0.2)), float(rng.uniform(-0.02, 0.02))
    survives = int((part["verdict"] == "survives").sum())
    nan = float("nan")
    row = {
        "regime": regime, "n_candidates": len(part), "n_read": int(read.sum()),
        "n_read_replicated": int(part["replicates"].fillna(False).sum()),
        "n_axes_generalized": int((read & part["axis_generalizes"].fillna(False)).sum()),
        "n_found": int(part["found"].sum()), "n_survives": survives,
        "n_fails": int((part["verdict"] == "fails").sum()), "n_distinct": survives,
        "n_direct_leads": 2, "n_only_axis": 0, "n_axis_lost": 0,
        "reading_networks": 0 if raw else 4,
        "read_effect": nan if raw else effect, "read_effect_low": nan if raw else effect - 0.05,
        "read_effect_high": nan if raw else effect + 0.05, "null_networks": 0 if raw else 3,
        "null_effect": nan if raw else null, "advantage": nan if raw else effect - null,
        "advantage_low": nan if raw else effect - null - 0.04,
        "advantage_high": nan if raw else effect - null + 0.04,
        "p_advantage": nan if raw else float(rng.uniform(0, 0.2)),
        "rows_to_decide": None, "axes_generalized": nan if raw else float(rng.uniform()),
        "comparable": regime != "regularized",
        "position": "A" if regime == "overfit" else "undecided",
        "holdout_loss": float(rng.uniform(0.3, 1.0)),
        "no_better_than_linear": None if raw else False,
        "effect_vs_lead": nan, "effect_vs_lead_low": nan, "effect_vs_lead_high": nan,
        "axes_vs_lead": nan, "axes_vs_lead_low": nan, "axes_vs_lead_high": nan,
    }
    return {key: row[key] for key in REGIME_COLUMNS}


def _members(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training diagnostics and loss curves of a few members per network regime."""
    rows, curves = [], []
    for regime in REGIMES[:2]:
        ids = [(f"{regime}/reference", "reference")]
        ids += [(f"{regime}/{kind}/{i:04d}", kind) for kind in ("bootstrap", "permutation")
                for i in range(3)]
        for member_id, kind in ids:
            overfit = regime == "overfit"
            rows.append({
                "member_id": member_id, "kind": kind, "regime": regime,
                "seed": int(rng.integers(2**31)), "epochs": 20,
                "train_loss": float(rng.uniform(0.001, 0.02)),
                "validation_loss": None if overfit else float(rng.uniform(0.3, 0.6)),
                "holdout_loss": float(rng.uniform(0.3, 0.9)),
                "reached_target": bool(rng.uniform() < 0.8) if overfit else None,
                "dead_units": int(rng.integers(0, 4)),
                "effective_rank": float(rng.uniform(4, 12)),
            })
            epochs = np.arange(1, 21)
            curves.append(pd.DataFrame({
                "member_id": member_id, "epoch": epochs,
                "train_loss": np.exp(-epochs / 4.0),
                "validation_loss": np.nan if overfit else 0.5 + np.exp(-epochs / 6.0),
            }))
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)


def _build(with_truth: bool) -> AuditResult:
    world = product_lifespan(n=200, p=20, seed=0)
    names = {"label_area": SCRIPT, "gloss": PIPE}
    frame = world.frame.rename(columns=names)
    attributes = [names.get(a, a) for a in world.table.attributes]
    attributes.remove(SCRIPT)
    attributes.insert(0, SCRIPT)  # first column: survives in every regime
    table = load_table(frame, target="lifespan_days", features=["f*"], attributes=attributes,
                       id="product_id", target_transform="log")
    split = discovery_holdout_split(table.y, 0.3, 5, 0)
    rng = np.random.default_rng(0)
    hypotheses = _hypotheses(list(table.attribute_columns), rng)
    regimes = pd.DataFrame([_regime_row(r, part, rng)
                            for r, part in hypotheses.groupby("regime", sort=False)])
    null = pd.DataFrame([
        {"regime": r, "attribute": c.name, "member_id": f"{r}/permutation/{m:04d}",
         "strength": float(abs(rng.normal(0, 0.05)))}
        for r in REGIMES for m in range(N_NULL) for c in table.attribute_columns
    ])
    members, curves = _members(rng)
    truth = {names.get(k, k): v for k, v in world.truth.items()} if with_truth else None
    return AuditResult(
        config=AuditConfig(),
        table=table,
        split=split,
        hypotheses=hypotheses,
        regimes=regimes,
        lead_regime="overfit",
        position=Position("A", f"The data support A: 3 of 5 trends replicated {SCRIPT}.",
                          regime="overfit", p_value=0.01,
                          network="The overfit network added nothing over screening the "
                                  "measured attributes directly.",
                          independence="Rows are assumed independent (no group column "
                                       "was given)."),
        null_strengths=null,
        members=members,
        curves=curves,
        embeddings={r: np.maximum(rng.standard_normal((table.n_rows, 16)), 0.0)
                    for r in REGIMES[:2]},
        truth=truth,
        versions={"python": "3.11", "embaudit": "0.1.0"},
    )


@pytest.fixture(scope="module")
def fake_result() -> AuditResult:
    """A small, realistic audit result of a world with planted truth."""
    return _build(with_truth=True)


@pytest.fixture(scope="module")
def user_result() -> AuditResult:
    """The same without truth, as for a user's own data."""
    return _build(with_truth=False)


@pytest.fixture(scope="module")
def plots(fake_result: AuditResult) -> ReportPlots:
    """The fake result's figures, drawn once for every report of it."""
    return report_plots(fake_result)


@pytest.fixture(scope="module")
def html(fake_result: AuditResult, plots: ReportPlots) -> str:
    return render_html(fake_result, "2024-01-01T00:00:00+00:00", plots)


@pytest.fixture(scope="module")
def markdown(fake_result: AuditResult, plots: ReportPlots) -> str:
    return render_markdown(fake_result, "2024-01-01T00:00:00+00:00", plots)


def _same(reported: object, expected: object) -> bool:
    """JSON value against a DataFrame cell: missing and non-finite values are null."""
    if expected is pd.NA or (isinstance(expected, float) and not np.isfinite(expected)):
        return reported is None
    if isinstance(expected, np.generic):
        expected = expected.item()
    return type(reported) is type(expected) and reported == expected


def test_json_contract(fake_result: AuditResult) -> None:
    doc = report_json(fake_result)
    jsonschema.Draft202012Validator(report_schema()).validate(json.loads(json.dumps(doc)))
    assert doc["schema_version"] == "3.4"
    assert doc["seal"] == fake_result.seal and doc["claims"] == []
    assert doc["seal"]["sealed"] is True and len(doc["seal"]["split_sha256"]) == 64
    position = fake_result.position
    assert doc["verdict"] == {"position": "A", "summary": position.summary,
                              "regime": "overfit", "p_value": 0.01, "comparison": "",
                              "procedures": "", "network": position.network,
                              "independence": position.independence}
    assert [r["regime"] for r in doc["regimes"]] == list(REGIMES)
    assert all(set(REGIME_COLUMNS) <= set(r) for r in doc["regimes"])
    assert all(set(HYPOTHESIS_COLUMNS) <= set(h) for h in doc["hypotheses"])
    for record, (_, row) in zip(doc["hypotheses"], fake_result.hypotheses.iterrows(),
                                strict=True):
        withheld = HOLDOUT_COLUMNS if record["sealed"] else ()
        assert all(_same(record[c], row[c]) for c in HYPOTHESIS_COLUMNS
                   if c not in withheld), record
        assert all(record[c] is None for c in withheld), record
        read = bool(row["read"]) if pd.notna(row["read"]) else False
        assert record["sealed"] == (not (bool(row["found"]) or read))
        assert record["verdict"] in {"survives", "fails", "inconclusive", "not found"}
        assert record["direction"] in {"+", "-"}
        assert isinstance(record["found"], bool)
        assert record["axis"] is None if record["regime"] == "raw" else \
            isinstance(record["axis"], int)
    for record, (_, row) in zip(doc["regimes"], fake_result.regimes.iterrows(), strict=True):
        assert all(_same(record[c], row[c]) for c in REGIME_COLUMNS), record
    table = fake_result.table
    assert doc["data"]["sha256"] == table.fingerprint()
    assert (doc["data"]["n_rows"], doc["data"]["n_discovery"], doc["data"]["n_holdout"]) == (
        200, len(fake_result.split.discovery), len(fake_result.split.holdout))
    assert doc["data"]["roles"]["attributes"] == list(table.attributes)
    assert doc["config"] == AuditConfig().model_dump(mode="json", exclude={"out", "execution"})
    assert doc["versions"] == fake_result.versions


def test_json_is_strict_even_with_infinities(fake_result: AuditResult) -> None:
    hypotheses = fake_result.hypotheses.copy()
    hypotheses.loc[0, "ci_high"] = np.inf
    hypotheses.loc[1, "strength"] = -np.inf
    doc = report_json(dataclasses.replace(fake_result, hypotheses=hypotheses))
    json.dumps(doc, allow_nan=False)
    assert doc["hypotheses"][0]["ci_high"] is None
    assert doc["hypotheses"][1]["strength"] is None


def test_truth_only_for_worlds(fake_result: AuditResult, user_result: AuditResult,
                               markdown: str) -> None:
    assert report_json(fake_result)["truth"] == fake_result.truth
    assert report_json(fake_result)["truth"][SCRIPT] == "0"
    assert "truth" not in report_json(user_result)
    assert "| truth |" in markdown
    assert "| truth |" not in render_markdown(user_result)


def test_json_is_deterministic(fake_result: AuditResult) -> None:
    first, second = report_json(fake_result), report_json(_build(with_truth=True))
    first.pop("generated_at"), second.pop("generated_at")
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_member_summary_counts(fake_result: AuditResult) -> None:
    summary = member_summary(fake_result.members).set_index(["regime", "kind"])
    members = fake_result.members
    assert summary.loc[("overfit", "bootstrap"), "n_members"] == 3
    reached = members[members["regime"] == "overfit"].groupby("kind")["reached_target"].sum()
    assert summary.loc[("overfit", "permutation"), "n_reached_target"] == reached["permutation"]
    assert pd.isna(summary.loc[("regularized", "reference"), "n_reached_target"])
    assert summary.loc[("regularized", "bootstrap"), "median_train_loss"] == pytest.approx(
        members.query("regime == 'regularized' and kind == 'bootstrap'")["train_loss"].median())


def test_write_reports(fake_result: AuditResult, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "out"
    paths = write_reports(fake_result, out)
    assert paths == {"html": out / "report.html", "md": out / "report.md",
                     "json": out / "report.json"}
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md",
                                                     "report_files"]
    written = json.loads(paths["json"].read_text(encoding="utf-8"))
    expected = report_json(fake_result)
    written.pop("generated_at"), expected.pop("generated_at")
    assert written == expected
    assert paths["html"].stat().st_size < 3_000_000


def test_html_escapes_data(html: str, fake_result: AuditResult) -> None:
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.lower().count("<script") == 1  # the page's own table script, nothing else
    assert "gloss|$shine$" in html  # harmless in HTML, shown as written


def test_markdown_escapes_data(markdown: str, fake_result: AuditResult) -> None:
    assert SCRIPT not in markdown
    assert "<script" not in markdown.lower()
    assert r"gloss\|\$shine\$" in markdown
    cells = re.compile(r"(?<!\\)\|")
    for block in re.findall(r"(?:^\|.*\n)+", markdown, flags=re.MULTILINE):
        lines = block.strip("\n").split("\n")
        assert {len(cells.findall(line)) for line in lines} == {len(cells.findall(lines[0]))}


def test_html_is_self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<link" not in html and "<script src" not in html.lower()
    assert html.count("data:image/png;base64,") >= 4


def test_verdict_comes_first(html: str, markdown: str) -> None:
    assert html.index('id="verdict"') < html.index('id="regimes"') < html.index(
        'id="hypotheses"') < html.index('id="plots"') < html.index('id="methods"') < html.index(
        'id="manifest"')
    assert markdown.index("## Verdict: A") < markdown.index("## Hypotheses")
    assert "Position A" in html[:html.index('id="hypotheses"')]


def test_every_found_hypothesis_gets_a_trend_plot(html: str, fake_result: AuditResult) -> None:
    found = fake_result.hypotheses[fake_result.hypotheses["found"].astype(bool)]
    assert html.count('class="plot trend"') == min(len(found), MAX_TRENDS) > 3
    # the hostile name is drawn and captioned as text wherever its trends are among those
    assert html.count("Trend plot: &lt;script&gt;alert(1)&lt;/script&gt; in regime") >= 1


def test_methods_follow_the_config(fake_result: AuditResult) -> None:
    config = AuditConfig(statistics={"alpha": 0.05, "alpha_discovery": 0.02,
                                     "n_screen_permutations": 499, "min_effect": 0.15},
                         resampling={"n_bootstrap": 12, "n_permutations": 49,
                                     "alignment": "units"})
    text = render_markdown(dataclasses.replace(fake_result, config=config))
    methods = text[text.index("## Methods"):text.index("## Reproducibility")]
    assert "12 bootstrap networks" in methods and "49 permutation networks" in methods
    assert "q ≤ 0.05" in methods and "p\\_discovery ≤ 0.02" in methods
    assert "permuted 499 times" in methods and "smallest effect of interest (0.15)" in methods
    assert "unit matching" in methods and "orthogonal Procrustes" not in methods
    assert "20 → 64 → 16 → 1" in methods


@pytest.mark.parametrize("drop", [lambda r: {"members": r.members.iloc[0:0],
                                             "curves": r.curves.iloc[0:0], "embeddings": {}},
                                  lambda r: {"null_strengths": r.null_strengths.iloc[0:0]}])
def test_reports_without_optional_parts(fake_result: AuditResult, drop: Callable,
                                        tmp_path: Path) -> None:
    reduced = dataclasses.replace(fake_result, **drop(fake_result))
    paths = write_reports(reduced, tmp_path)
    found = int(reduced.hypotheses["found"].astype(bool).sum())
    assert paths["html"].read_text(encoding="utf-8").count('class="plot trend"') == min(
        found, MAX_TRENDS)
    json.loads(paths["json"].read_text(encoding="utf-8"))


# ------------------------------------------------------------- the report in words
def _header_key(title: str) -> str:
    """The report.json key a header's tooltip names first (``key`` or ``key [low, high]``):
    the one its label is for."""
    return re.findall(r"[a-z0-9_]+", title)[0]


def _headers(html: str) -> list[tuple[str, str]]:
    """(tooltip, text) of every table header of a page."""
    return [(unescape(title), unescape(text)) for title, text in
            re.findall(r'<th title="([^"]*)"[^>]*>(.*?)</th>', html)]


def test_every_column_has_a_label(fake_result: AuditResult) -> None:
    shown = {*READINGS_PANEL, *PROCEDURES_PANEL}
    assert shown >= set(REGIME_DISPLAY) - {"advantage_low", "advantage_high"}
    members = fake_result.members.assign(
        **{c: 0.5 for c in _MEDIAN_COLUMNS if c not in fake_result.members.columns},
        **{c: True for c in _FLAG_COLUMNS if c not in fake_result.members.columns})
    folds = pd.DataFrame({"regime": "overfit", "fold": [0, 0, 1, 1], "attribute": ["a", "b"] * 2,
                          "direction": "+", "replicated": [True, False, True, True]})
    rates, agreement = crossfit_tables(folds, 2)
    keys = [*shown, *HYPOTHESIS_DISPLAY, "truth", *LEDGER_DISPLAY,
            *member_summary(members).columns, *rates.columns, *agreement.columns,
            *SHOWN, "n_points", *(p for p, _ in PREDICTORS)]
    assert unlabeled(keys) == []
    assert not [k for k in keys if SNAKE_CASE.match(label(k))]


def test_headers_are_words_with_their_key_in_a_tooltip(html: str, markdown: str) -> None:
    headers = _headers(html)
    assert len(headers) > 40 and len(re.findall(r"<th[ >]", html)) == len(headers)
    assert not [text for _, text in headers if SNAKE_CASE.match(text)]
    assert unlabeled(_header_key(title) for title, _ in headers if title != "versions") == []
    assert ("effect_holdout [ci_low, ci_high]", "holdout effect [95% CI]") in headers
    assert ("advantage [advantage_low, advantage_high]", "advantage [95% CI]") in headers
    assert ("n_read", "readings") in headers and ("median_train_loss", "training loss") in headers
    # every table names each column once
    for table in re.findall(r"<thead>.*?</thead>", html):
        texts = re.findall(r"<th[^>]*>(.*?)</th>", table)
        assert len(texts) == len(set(texts)), texts
    # Markdown: the labels, and each label's key in a list at the end
    assert "| regime | position | readings | replicated |" in markdown
    keys = markdown[markdown.index("## Column keys"):]
    assert r"| readings | n\_read |" in keys
    assert r"| holdout effect [95% CI] | effect\_holdout [ci\_low, ci\_high] |".replace(
        "[", r"\[").replace("]", r"\]") in keys


def _cells(html: str, markdown: str) -> list[str]:
    """Every table cell of both reports, as shown."""
    cells = [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", html, flags=re.DOTALL)]
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells += [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
    return cells


#: what a cell must never show where a number is missing
PLACEHOLDERS = {"–", "—", "-–", "nan", "NaN", "None", "<NA>", "NA", "null"}


def test_missing_numbers_say_why(fake_result: AuditResult, plots: ReportPlots, html: str,
                                 markdown: str) -> None:
    cells = _cells(html, markdown)
    assert len(cells) > 500 and not PLACEHOLDERS & set(cells)
    assert {"no embedding", "no axis", "lead regime", "no network", "no loss target",
            "no validation rows", "decided", "uncensored"} <= set(cells)
    # a found hypothesis the holdout could not test says why, in the effect's cell
    hypotheses = fake_result.hypotheses.copy()
    untested = hypotheses.index[hypotheses["found"]][0]
    hypotheses.loc[untested, ["effect_holdout", "ci_low", "ci_high", "p_holdout"]] = np.nan
    hypotheses["holdout_note"] = hypotheses["holdout_note"].astype(object)
    hypotheses.loc[untested, "holdout_note"] = "constant on the holdout"
    result = dataclasses.replace(fake_result, hypotheses=hypotheses)
    cells = _cells(render_html(result, plots=plots), render_markdown(result, plots=plots))
    assert not PLACEHOLDERS & set(cells)
    # the effect's cell and p's, in the HTML and the Markdown report
    assert cells.count("not tested: constant on the holdout") == 4


@pytest.mark.parametrize(("regime", "comparable", "why"), [
    ("raw", True, "p not computed: no embedding was audited, so there are no readings to test"),
    ("regularized", False, "p not computed: the permutation networks did not end their "
                           "training as the reference did"),
    ("overfit", True, "p not computed: too few networks gave readings")])
def test_a_position_without_p_says_why(fake_result: AuditResult, plots: ReportPlots,
                                       regime: str, comparable: bool, why: str) -> None:
    regimes = fake_result.regimes.copy()
    regimes.loc[regimes["regime"] == regime, "comparable"] = comparable
    regimes.loc[regimes["regime"] == "overfit", "null_networks"] = 1
    position = Position("undecided", "The data cannot settle it.", regime=regime)
    result = dataclasses.replace(fake_result, regimes=regimes, position=position)
    page, text = render_html(result, plots=plots), render_markdown(result, plots=plots)
    assert why in page and why in text
    assert "p = –" not in page and "p = –" not in text


def _repeated_words(heading: str) -> list[str]:
    words = re.findall(r"[a-z]+", heading.lower())
    return [w for w in set(words) if words.count(w) > 1]


@pytest.mark.parametrize("label", ["A", "B", "undecided"])
def test_no_heading_repeats_a_word(fake_result: AuditResult, plots: ReportPlots,
                                   label: str) -> None:
    result = dataclasses.replace(fake_result, position=dataclasses.replace(
        fake_result.position, position=label))
    page, text = render_html(result, plots=plots), render_markdown(result, plots=plots)
    headings = [unescape(h) for h in re.findall(
        r'<(?:h[1-4]|summary)>(.*?)</(?:h[1-4]|summary)>|<p class="label">(.*?)</p>', page)
        for h in h if h]
    headings += [line.lstrip("#> *") for line in text.splitlines()
                 if line.startswith("#") or line.startswith("> **")]
    assert len(headings) > 20
    assert {h: _repeated_words(h) for h in headings if _repeated_words(h)} == {}
    assert f"Position {label} — " in page

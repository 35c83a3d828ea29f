"""The reports of a real audit of hostile data: escaping, the JSON schema, rebuilding
from the store, and the HTML page in a real browser (headless Chromium)."""

from __future__ import annotations

import importlib
import json
import re
from html import unescape
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

import embaudit
from browser import chromium
from browser import probe as run_probe
from embaudit.cli import app
from embaudit.reports import report_schema
from embaudit.reports.labels import SNAKE_CASE, unlabeled

#: the module (``embaudit.audit`` is the function)
audit_module = importlib.import_module("embaudit.pipeline")
SCRIPT = "<script>alert(1)</script>"
QUOTES = "hard\"ness' </td><td>"
TICKS = "gloss|`rm -rf`|"
UNICODE = "durée ✓ 名前"
IMAGE = "<img src=x onerror=alert(2)>"
LEVELS = {"black": "<b>black</b>", "red": "red|`x`", "blue": "bl\"ue", "green": "grün"}
runner = CliRunner()


def _hostile_table() -> embaudit.Table:
    world = embaudit.worlds.product_lifespan(n=300, p=12, seed=4)
    frame = world.frame.rename(columns={"size": SCRIPT, "hardness": QUOTES, "gloss": TICKS,
                                        "label_area": UNICODE, "f003": IMAGE})
    frame["colour"] = frame["colour"].map(LEVELS)
    attributes = [SCRIPT, QUOTES, "usage_intensity", TICKS, "colour", UNICODE]
    return embaudit.load_table(frame, target="lifespan_days", attributes=attributes,
                               features=["f*", IMAGE], id="product_id")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished audit of hostile column names and levels, with every optional part."""
    out = tmp_path_factory.mktemp("hostile")
    config = {"seed": 4, "out": str(out), "network": {"hidden": [16, 8]},
              "training": {"regimes": ["overfit", "linear"], "max_epochs": 20},
              "resampling": {"n_bootstrap": 4, "n_permutations": 9},
              "statistics": {"n_resamples": 200}, "split": {"crossfit_folds": 2},
              "landscape": {"enabled": True, "members": 4, "path_steps": 3,
                            "lanczos_steps": 6, "trace_products": 6}}
    embaudit.audit(config, table=_hostile_table())
    return out


def _text(folder: Path, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


def test_html_shows_hostile_names_as_text(hostile: Path) -> None:
    html = _text(hostile, "report.html")
    for raw in (SCRIPT, QUOTES, IMAGE, LEVELS["black"], LEVELS["blue"]):  # markup or quotes
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "hard&#34;ness&#39; &lt;/td&gt;&lt;td&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html  # a feature name, in the manifest
    assert "colour=&lt;b&gt;black&lt;/b&gt;" in html and UNICODE in html
    assert html.lower().count("<script") == 1  # the page's own table script only
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)


def test_markdown_shows_hostile_names_as_text(hostile: Path) -> None:
    markdown = _text(hostile, "report.md")
    assert "<script" not in markdown.lower() and "<img" not in markdown.lower()
    assert r"gloss\|\`rm -rf\`\|" in markdown and UNICODE in markdown
    cells = re.compile(r"(?<!\\)\|")
    for block in re.findall(r"(?:^\|.*\n)+", markdown, flags=re.MULTILINE):
        lines = block.strip("\n").split("\n")
        assert {len(cells.findall(line)) for line in lines} == {len(cells.findall(lines[0]))}
    figures = re.findall(r"!\[[^\]]*\]\((report_files/[^)]+)\)", markdown)
    assert len(figures) >= 8 and all((hostile / f).stat().st_size > 1000 for f in figures)


def test_a_real_audit_reads_in_words(hostile: Path) -> None:
    """Every header of every table (cross-fit and landscape too) has a label, and no
    cell shows a dash or "nan" where a number is missing."""
    html, markdown = _text(hostile, "report.html"), _text(hostile, "report.md")
    titles = [unescape(t) for t in re.findall(r'<th title="([^"]*)"', html)]
    keys = [re.findall(r"[a-z0-9_]+", t)[0] for t in titles
            if not t.startswith(("landscape.members:", "versions"))]
    assert len(keys) > 100 and unlabeled(keys) == []
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html, flags=re.DOTALL)
    cells += [c.strip() for line in markdown.splitlines() if line.startswith("| ")
              for c in re.split(r"(?<!\\)\|", line)[1:-1]]
    assert len(cells) > 500
    assert not {"–", "—", "nan", "NaN", "None", "<NA>"} & set(cells)
    assert "p = –" not in html and "p = –" not in markdown


def test_every_report_follows_the_shipped_schema(hostile: Path) -> None:
    document = json.loads(_text(hostile, "report.json"))
    jsonschema.Draft202012Validator(report_schema()).validate(document)
    assert {h["attribute"] for h in document["hypotheses"]} >= {SCRIPT, QUOTES, TICKS, UNICODE,
                                                               "colour=<b>black</b>"}
    assert {"crossfit", "landscape"} <= set(document)
    broken = {**document, "verdict": {**document["verdict"], "position": "maybe"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(report_schema()).validate(broken)


def test_reports_are_rebuilt_from_the_store_alone(hostile: Path, monkeypatch) -> None:
    written = {name: (hostile / name).read_bytes()
               for name in ("report.json", "report.html", "report.md")}
    for name in written:
        (hostile / name).unlink()

    def refuse(*args, **kwargs):
        raise AssertionError("rebuilding a report must not train or recompute")

    for name in ("train_members", "decide_panel", "embedding_evidence", "analyze_landscape"):
        monkeypatch.setattr(audit_module, name, refuse)
    outcome = runner.invoke(app, ["report", str(hostile)])
    assert outcome.exit_code == 0, outcome.output
    for name, content in written.items():
        assert (hostile / name).read_bytes() == content, name


def test_the_report_command_writes_the_formats_asked_for(hostile: Path, tmp_path: Path) -> None:
    before = (hostile / "report.html").stat().st_mtime_ns
    outcome = runner.invoke(app, ["report", str(hostile), "--format", "json"])
    assert outcome.exit_code == 0, outcome.output
    assert (hostile / "report.html").stat().st_mtime_ns == before
    unknown = runner.invoke(app, ["report", str(hostile), "--format", "pdf"])
    assert unknown.exit_code == 2 and "Unknown report format 'pdf'" in " ".join(
        unknown.output.split())
    empty = runner.invoke(app, ["report", str(tmp_path)])
    assert empty.exit_code == 2 and "holds no audit" in " ".join(empty.output.split())


def test_an_audit_of_200_attributes_keeps_its_page_small(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"f{j:02d}" for j in range(20)])
    attributes = pd.DataFrame(rng.normal(size=(n, 200)),
                              columns=[f"attribute_{j:03d}" for j in range(200)])
    frame = pd.concat([frame, attributes], axis=1)
    frame["lifespan"] = np.exp(attributes.iloc[:, :10].sum(axis=1) * 0.3 + rng.normal(size=n))
    table = embaudit.load_table(frame, target="lifespan", attributes=list(attributes),
                                features=["f*"])
    embaudit.audit({"out": str(tmp_path), "training": {"regimes": ["linear"]},
                    "resampling": {"n_bootstrap": 4, "n_permutations": 9},
                    "statistics": {"n_resamples": 200}}, table=table)
    assert (tmp_path / "report.html").stat().st_size < 10 * 2**20


# ----------------------------------------------------------------- a real browser
#: run after the page loaded: JavaScript errors, overflow (of the page, and of each table
#: beyond its box, every folded section open), the headers, and the table's controls
PROBE = """window.addEventListener("load", function () {
  var table = document.getElementById("hyp-table"), result = {};
  var all = function (selector) {
    return Array.prototype.slice.call(document.querySelectorAll(selector)); };
  all("details").forEach(function (d) { d.open = true; });
  result.overflow = document.documentElement.scrollWidth - window.innerWidth;
  var width = document.documentElement.clientWidth;
  result.tables = all("table").length;
  result.wide = all("table").filter(function (t) {
    return t.getBoundingClientRect().right > width || t.offsetWidth > t.parentNode.clientWidth;
  }).map(function (t) {
    return t.closest("section, details").id + ": " + t.offsetWidth + " px in " +
      t.parentNode.clientWidth; });
  result.headers = all("th").map(function (th) { return [th.textContent, th.title]; });
  result.visible = function () {
    return Array.prototype.filter.call(table.tBodies[0].rows, function (r) {
      return r.style.display !== "none"; }).length; };
  result.lead = result.visible();
  var regime = document.getElementById("hyp-regime");
  regime.value = ""; regime.dispatchEvent(new Event("change"));
  result.all = result.visible();
  var q = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) {
    return c.title; }).indexOf("q_holdout");
  table.tHead.rows[0].cells[q].click();
  result.first_q = table.tBodies[0].rows[0].cells[q].textContent;
  var extra = document.getElementById("hyp-extra");
  extra.click();
  result.extra_shown = getComputedStyle(table.querySelector("td.extra")).display;
  result.errors = errors;
  document.body.setAttribute("data-probe", JSON.stringify(result));
});
"""


@pytest.mark.slow
def test_the_page_works_in_a_real_browser(hostile: Path, tmp_path: Path) -> None:
    html = _text(hostile, "report.html")
    probe = run_probe(html, PROBE, tmp_path)
    assert probe["errors"] == []
    assert probe["overflow"] <= 0  # nothing runs off the right edge at 1280 px
    assert probe["tables"] >= 11 and probe["wide"] == []  # nor out of its box, scrolled
    # every header is words, with the report.json key it shows in its tooltip
    assert len(probe["headers"]) > 100
    assert [text for text, _ in probe["headers"] if SNAKE_CASE.match(text.strip())] == []
    assert all(title for _, title in probe["headers"])
    document = json.loads(_text(hostile, "report.json"))
    lead = document["verdict"]["regime"]
    assert probe["lead"] == sum(h["regime"] == lead for h in document["hypotheses"])
    assert probe["all"] == len(document["hypotheses"])
    smallest = min(h["q_holdout"] for h in document["hypotheses"] if h["q_holdout"] is not None)
    assert float(probe["first_q"]) == pytest.approx(smallest, rel=0.01)
    assert probe["extra_shown"] == "table-cell"
    shot = tmp_path / "page.png"
    chromium(hostile / "report.html", tmp_path / "profile2", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[1] == 1280 and pixels.std() > 10  # drawn, not a blank page

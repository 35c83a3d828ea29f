"""Results behave like statsmodels' and lifelines': summary objects with text and HTML,
one-line reprs, verdicts in words, progress shown by default and silenced on request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import embaudit
from embaudit.core.progress import NotebookTable, progress_display
from embaudit.core.summary import Summary

QUICK = {"seed": 0, "training": {"regimes": ["linear"]},
         "resampling": {"n_bootstrap": 4, "n_permutations": 9},
         "statistics": {"n_resamples": 200}}


@pytest.fixture(scope="module")
def quick() -> embaudit.AuditResult:
    world = embaudit.worlds.product_lifespan(n=300, p=12, seed=2)
    return embaudit.audit(QUICK, table=world.table, progress=False)


def _one_line(text: str, longest: int = 160) -> None:
    assert "\n" not in text and len(text) <= longest, text


def test_summary_is_an_object_with_text_and_html(quick: embaudit.AuditResult) -> None:
    summary = quick.summary()
    assert isinstance(summary, Summary)
    text = summary.as_text()
    assert str(summary) == text and repr(summary) == text
    assert text.splitlines()[1].strip() == "embaudit audit"
    assert "Features: 12 columns, the columns named by 'f*'." in text
    assert f"Position: {quick.position.position}" in text
    page = summary.as_html()
    assert page == summary._repr_html_() == quick._repr_html_()
    assert page.count("<table") == 2  # the regimes and the hypotheses
    for attribute in quick.table.attributes:  # every hypothesis in both renderings
        assert attribute in text and attribute in page


def test_every_public_result_has_a_one_line_repr(quick: embaudit.AuditResult) -> None:
    shown = repr(quick)
    _one_line(shown)
    assert shown.startswith(f"<AuditResult position='{quick.position.position}'")
    assert "AuditConfig" not in shown  # not the whole config
    _one_line(repr(quick.table))
    _one_line(repr(quick.position))
    assert str(quick.position) == "\n\n".join(quick.position.paragraphs())
    report = embaudit.check_claims(quick.table, ["size:+", "size:-"])
    _one_line(repr(report))
    for verdict in report.verdicts:
        _one_line(repr(verdict))
        assert "np." not in repr(verdict)  # plain values, not numpy scalars
        assert type(verdict.verdict) is str and type(verdict.p) is float
        assert str(verdict).startswith(f"Claim {verdict.claim}: {verdict.verdict.upper()}")
        assert verdict._repr_html_().startswith("<div class='embaudit-summary'>")
    assert str(report) == "\n".join(str(v) for v in report.verdicts)
    assert "<table" in quick.table._repr_html_()


def test_a_result_read_back_displays_the_same(quick: embaudit.AuditResult, tmp_path) -> None:
    world = embaudit.worlds.product_lifespan(n=300, p=12, seed=2)
    embaudit.audit({**QUICK, "out": str(tmp_path)}, table=world.table, progress=False)
    loaded = embaudit.load_result(tmp_path)
    assert str(loaded.summary()) == str(quick.summary())
    assert repr(loaded) == repr(quick).replace(">", f" out={str(tmp_path)!r}>")


def test_progress_is_shown_by_default_and_silenced_on_request(capfd) -> None:
    world = embaudit.worlds.product_lifespan(n=300, p=12, seed=2)
    embaudit.audit(QUICK, table=world.table)
    shown = capfd.readouterr().err
    assert shown.startswith("Features: 12 columns")
    assert "Training linear members" in shown
    heard: list[tuple[str, float, float]] = []
    embaudit.audit(QUICK, table=world.table, progress=lambda *step: heard.append(step))
    assert capfd.readouterr().err == ""
    assert ("Training linear members", 14, 14) in heard
    embaudit.audit(QUICK, table=world.table, progress=False)
    assert capfd.readouterr().err == ""


def test_a_notebook_table_redraws_one_display_in_place(monkeypatch) -> None:
    display = pytest.importorskip("IPython.display")
    shown: list[str] = []

    class Handle:
        def update(self, html: object) -> None:
            shown.append(html.data)

    def fake_display(html: object, display_id: bool = False) -> Handle | None:
        shown.append(html.data)
        return Handle() if display_id else None

    monkeypatch.setattr(display, "display", fake_display)
    with NotebookTable() as table:
        for done in range(4):
            table("Training", done, 3)
    assert shown[0].startswith("<table class='embaudit-progress'>")
    assert "value='3' max='3'" in shown[-1] and "3/3" in shown[-1]
    with progress_display(False) as none:
        assert none is None


def test_a_frame_read_in_is_shown_by_its_roles() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"serial": [f"s{i}" for i in range(80)], "life": rng.uniform(1, 9, 80),
                          "size": rng.normal(size=80),
                          **{f"f{i}": rng.normal(size=80) for i in range(5)}})
    table = embaudit.load_table(frame, target="life", attributes=["size"])
    assert repr(table) == "<Table rows=80 target='life' features=5 attributes=1>"
    assert "serial (text, unique per row: looks like an id)" in table._repr_html_()

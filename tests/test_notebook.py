"""The README's Python example in a notebook, executed headless (nbclient): the result
displays as HTML, a figure draws, and the audit shows what it chose and its progress."""

from __future__ import annotations

import base64
import re
from html import unescape
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

README = Path(__file__).resolve().parents[1] / "README.md"
#: the one substitution: the example's options, for a run of seconds instead of minutes
QUICK = ('{"seed": 0, "out": "audit-out", "training": {"regimes": ["overfit", "linear"], '
         '"max_epochs": 20}, "resampling": {"n_bootstrap": 4, "n_permutations": 9}, '
         '"statistics": {"n_resamples": 200}}')


def readme_example() -> str:
    """The README's Python example, as written there."""
    text = README.read_text()
    start = text.index("From Python:")
    return re.search(r"```python\n(.*?)```", text[start:], re.DOTALL).group(1)


def _outputs(cell: dict, kind: str) -> list[str]:
    return [o["data"][kind] for o in cell["outputs"] if kind in o.get("data", {})]


def test_the_readme_example_runs_in_a_notebook(tmp_path: Path) -> None:
    example = readme_example()
    assert '{"seed": 0, "out": "audit-out"}' in example
    statements = example.replace('{"seed": 0, "out": "audit-out"}', QUICK).split("\n")
    world_file = [line for line in statements if line.startswith(("world", "world."))]
    setup = ("import embaudit\n"
             "world = embaudit.worlds.product_lifespan(n=300, p=12, seed=0)\n"
             'world.table.frame.to_parquet("products.parquet")')
    run = "\n".join(line for line in statements if line not in world_file)
    cells = [setup, run, "result", "embaudit.load_result('audit-out')",
             "ax = result.plot('forest')\nax.figure.savefig('forest.png')\n"
             "from IPython.display import Image\nImage('forest.png')"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    _, run_cell, shown, reloaded, figure = notebook.cells
    text = "".join(o.get("text", "") for o in run_cell["outputs"])
    assert "embaudit audit" in text and "Position:" in text  # print(result.summary())
    html = [unescape(h) for h in _outputs(run_cell, "text/html")]
    assert html[0] == "<p>Features: 12 columns, the columns named by 'f*'.</p>"  # said first
    assert html[1].startswith("<p>Left out (not named): usage_intensity, gloss,")
    assert any("embaudit-progress" in h for h in html)  # the progress table
    for cell in (shown, reloaded):  # the result, and the same read back, as HTML
        summary = _outputs(cell, "text/html")
        assert summary and "<div class='embaudit-summary'>" in summary[0]
        assert "<table" in summary[0] and "Position:" in summary[0]
        assert _outputs(cell, "text/plain")[0].startswith("<AuditResult position=")
    png = base64.b64decode(_outputs(figure, "image/png")[0])
    assert png.startswith(b"\x89PNG") and len(png) > 5000

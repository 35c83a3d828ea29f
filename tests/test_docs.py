"""The API reference (docs/api/) is what docs/reference.py writes from the docstrings."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

import embaudit

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"
REGENERATE = "run .venv/bin/python docs/reference.py"


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    """docs/reference.py, imported from its file (docs/ is no package)."""
    spec = importlib.util.spec_from_file_location("reference", ROOT / "docs" / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(reference: ModuleType) -> dict[str, str]:
    return reference.render_pages()


def test_committed_pages_are_current(pages: dict[str, str]) -> None:
    committed = {p.name: p.read_text(encoding="utf-8") for p in API.glob("*.md")}
    assert sorted(committed) == sorted(pages), f"docs/api lists other pages: {REGENERATE}"
    stale = [name for name, text in pages.items() if committed[name] != text]
    assert not stale, f"docs/api is stale ({', '.join(sorted(stale))}): {REGENERATE}"


def test_every_public_name_has_a_page(pages: dict[str, str]) -> None:
    assert embaudit.__all__
    missing = [name for name in embaudit.__all__ if f"{name}.md" not in pages]
    assert not missing, missing
    index = pages["README.md"]
    assert all(f"]({name}.md)" in index for name in embaudit.__all__)


def test_pages_have_no_addresses(pages: dict[str, str]) -> None:
    assert not [name for name, text in pages.items() if " at 0x" in text]


def test_readme_links_the_reference() -> None:
    assert "(docs/api/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_public_object_has_a_docstring(reference: ModuleType) -> None:
    missing = reference.undocumented()
    assert not missing, "public objects without a docstring: " + ", ".join(missing)


def test_docstrings_render_as_markdown(reference: ModuleType) -> None:
    doc = ("Uses ``x`` and :func:`~embaudit.load_table`, :mod:`embaudit.core.schema`.\n\n"
           "Parameters\n----------\nx : int\n    The value.")
    assert reference.markdown(doc, {"load_table"}) == (
        "Uses `x` and [`load_table`](load_table.md), `embaudit.core.schema`.\n\n"
        "**Parameters**\n\n- **x** : int\n  The value.")


def test_defaults_name_objects_at_addresses(reference: ModuleType) -> None:
    assert reference.default(print) == "print"
    assert reference.default(len) == "len"
    assert reference.default(object()) == "object"
    assert reference.default(dict) == "dict"
    assert reference.default(0.5) == "0.5"
    assert reference.default(None, dict) == "dict()"

"""Start-up: the package, the command's help and a check without a network load none of
the heavy libraries (torch, Lightning, matplotlib, statsmodels' time series), and an
import changes nothing in the process. Fresh interpreters, since this process has loaded
everything already; what is loaded is deterministic where a timer is not
(``benchmarks/startup.py`` records the times)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: modules a command that trains nothing must not load (a prefix names a whole package)
HEAVY = ("torch", "pytorch_lightning", "lightning_fabric", "matplotlib", "statsmodels.tsa")


def _loaded_after(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; which heavy modules it loaded, and the
    environment and exit code it ended with."""
    body = textwrap.indent(textwrap.dedent(code).strip(), "    ")
    probe = "\n".join([
        "import json, os, sys",
        "before = dict(os.environ)",
        "code = 0",
        "try:",
        body,
        "except SystemExit as stop:",
        "    code = stop.code or 0",
        f"heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') "
        f"for h in {HEAVY!r}))",
        "changed = sorted(k for k in set(before) | set(os.environ) "
        "if before.get(k) != os.environ.get(k))",
        "print('\\n' + json.dumps({'heavy': heavy, 'changed': changed, 'code': code}))",
    ])
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _main(*arguments: str) -> str:
    return f"""
        sys.argv = ["embaudit", *{list(arguments)!r}]
        from embaudit.cli import main
        main()
    """


def test_import_loads_nothing_heavy_and_changes_no_environment_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    probe = _loaded_after("import embaudit\nassert 'audit' in dir(embaudit)", env)
    assert probe["heavy"] == []
    assert probe["changed"] == []  # MKL_CBWR included: only the command sets it


def test_public_names_load_on_first_use() -> None:
    probe = _loaded_after("""
        import embaudit
        assert callable(embaudit.audit) and callable(embaudit.load_result)
        import embaudit.pipeline  # the module the function lives in ...
        assert callable(embaudit.audit)  # ... does not shadow the function
        assert set(embaudit.__all__) >= {"audit", "load_result", "AuditResult", "worlds"}
    """)
    assert "torch" in probe["heavy"]  # the audit itself needs it


def test_help_and_an_option_error_load_nothing_heavy() -> None:
    help_probe = _loaded_after(_main("--help"))
    assert help_probe["heavy"] == [] and help_probe["code"] == 0
    error_probe = _loaded_after(_main("audit", "--data", "x.csv", "--target", "t",
                                      "--out", "o", "--executor", "dsk"))
    assert error_probe["heavy"] == [] and error_probe["code"] == 2


@pytest.mark.parametrize("censored", [False, True])
def test_a_check_without_a_network_loads_nothing_heavy(tmp_path: Path, censored: bool
                                                        ) -> None:
    rng = np.random.default_rng(0)
    size = rng.normal(size=150)
    pd.DataFrame({"size": size, "life": np.exp(size + rng.normal(size=150)),
                  "failed": rng.integers(0, 2, 150)}).to_csv(tmp_path / "rows.csv",
                                                              index=False)
    arguments = ["check", "--claim", "size:+", "--data", str(tmp_path / "rows.csv"),
                 "--target", "life", *(["--event", "failed"] if censored else [])]
    probe = _loaded_after(_main(*arguments))
    assert probe["code"] == 0
    assert probe["heavy"] == []

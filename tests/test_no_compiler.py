"""The package installs and trains without a C compiler (#28): it ships no C source and
no shared library of its own, and an audit that trains networks (in local worker
processes) completes where no compiler can be found or run."""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import sys
from pathlib import Path

import embaudit

#: a small audit that trains networks in two worker processes, and checks that no
#: compiler is reachable from where it runs
_AUDIT = """
import shutil, sys
import embaudit
assert not any(shutil.which(name) for name in ("cc", "gcc", "clang", "c++", "g++")), \\
    "a compiler is on PATH"
world = embaudit.worlds.product_lifespan(n=200, p=12, seed=1)
config = {"out": sys.argv[1], "seed": 1,
          "resampling": {"n_bootstrap": 3, "n_permutations": 3},
          "training": {"regimes": ["overfit"], "max_epochs": 5},
          "execution": {"n_workers": 2}}
result = embaudit.audit(config, table=world.table, progress=False)
print(result.embeddings["overfit"].shape)
"""


def test_the_package_ships_no_compiled_or_compilable_code() -> None:
    package = importlib.resources.files(embaudit)
    found = [str(p) for p in _files(Path(str(package)))
             if p.suffix in {".c", ".h", ".cpp", ".so", ".dylib", ".dll", ".pyd"}]
    assert not found, found


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_an_audit_trains_with_no_compiler_to_be_found(tmp_path: Path) -> None:
    empty = tmp_path / "bin"  # PATH: nothing to run at all (the interpreter by its path)
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty), "CC": "/nonexistent", "CXX": "/nonexistent",
           "EMBAUDIT_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _AUDIT, str(tmp_path / "out")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "report.json").exists()
    assert not (tmp_path / "cache").exists()  # nothing built or cached on the way

"""``python benchmarks/statistics.py [--quick]``: runs ``permutation_statistics.py``.

This file's name is the standard library's ``statistics``, and a script's folder comes
first on the import path. So when a sibling script imports a library that imports
``statistics``, this file hands back the standard library's module, and run as a script
it drops its folder from the path before running the benchmark.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
import sysconfig
from pathlib import Path

_HERE = Path(__file__).parent.resolve()

if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    runpy.run_path(str(_HERE / "permutation_statistics.py"), run_name="__main__")
else:  # imported as ``statistics``
    _spec = importlib.util.spec_from_file_location(
        "statistics", Path(sysconfig.get_paths()["stdlib"]) / "statistics.py")
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["statistics"] = _module  # what the import statement returns
    _spec.loader.exec_module(_module)

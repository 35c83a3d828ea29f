"""The ``embaudit`` command: ``demo``, ``audit``, ``report``, ``explore`` and ``check``.

Bad input exits with code 2 and a one-paragraph message naming what to fix.
"""

import os

from embaudit.cli import commands  # noqa: F401 - registers demo, audit, report, explore
from embaudit.cli.check import check
from embaudit.cli.shell import EXIT_BAD_INPUT, app

app.command()(check)  # listed after the audit's own commands

__all__ = ["EXIT_BAD_INPUT", "app", "main"]


def main() -> None:
    """Console-script entry point."""
    # MKL's conditional numerical reproducibility on the CPU's best path: without it MKL
    # picks kernels by shape and alignment, so on some CPUs (AMD EPYC, measured) a
    # member's products round differently inside an ensemble than alone. MKL reads it at
    # its first call, so it is set before anything imports torch; the command's process
    # is its own (``import embaudit`` sets nothing), and a user's own MKL_CBWR wins.
    # (Forcing the AVX2 path instead broke the same property on another CPU.)
    os.environ.setdefault("MKL_CBWR", "AUTO")
    app(prog_name="embaudit")

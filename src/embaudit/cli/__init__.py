"""The ``embaudit`` command: ``demo``, ``audit``, ``report``, ``explore`` and ``check``.

Bad input exits with code 2 and a one-paragraph message naming what to fix.
"""

from embaudit.cli import commands  # noqa: F401 - registers demo, audit, report, explore
from embaudit.cli.check import check
from embaudit.cli.shell import EXIT_BAD_INPUT, app

app.command()(check)  # listed after the audit's own commands

__all__ = ["EXIT_BAD_INPUT", "app", "main"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="embaudit")

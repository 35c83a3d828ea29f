"""The command line's shell: the typer app, the console, progress bars, and the
translation of embaudit's errors into a one-paragraph message and exit code 2."""

from __future__ import annotations

import shlex
import sys
import textwrap
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

from embaudit.core.progress import TerminalBars
from embaudit.errors import EmbauditError, EmbauditWarning, library_warnings_logged

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Test whether trends read off a neural network's embedding survive held-out data.",
)
console = Console(stderr=True)
EXIT_BAD_INPUT = 2


def command_line() -> str:
    """This invocation, as a shell would take it again."""
    return shlex.join(["embaudit", *sys.argv[1:]])


def split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def drop_none(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = drop_none(value)
        if value is not None:
            cleaned[key] = value
    return cleaned


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn embaudit's user-facing errors, and files the system refuses, into a message
    and exit code 2; print embaudit's warnings as one paragraph each."""
    def show(text: str) -> None:
        typer.echo(textwrap.fill(f"warning: {text}", width=100), err=True)

    with warnings.catch_warnings(), library_warnings_logged(show):
        warnings.simplefilter("always", EmbauditWarning)
        try:
            yield
        except EmbauditError as error:
            _fail(str(error))
        except OSError as error:  # a path the system refuses (permissions, full disk, …)
            where = f" {error.filename!r}" if error.filename else ""
            _fail(f"cannot use{where}: {error.strerror or error}. Check the path, its "
                  "permissions and the free disk space.")


def _fail(message: str) -> NoReturn:
    typer.echo(textwrap.fill(f"error: {message}", width=100), err=True)
    raise typer.Exit(EXIT_BAD_INPUT) from None



@contextmanager
def progress_bars() -> Iterator[TerminalBars]:
    """A rich progress bar per stage on the console; the chosen features above them."""
    with TerminalBars(console) as bars:
        yield bars

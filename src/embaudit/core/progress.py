"""How a long run shows its progress: rich bars in a terminal, a table updated in place
in a notebook, nothing when asked; and its first lines (what it chose) above them.

A stage reports ``progress(stage, completed, total)``; a display may also take
``note(text)`` for a line said once. Display libraries load only when a display is made.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: progress(stage description, completed, total)
Progress = Callable[[str, float, float], None]
#: seconds between two redraws of a notebook's table
_NOTEBOOK_REFRESH = 0.5


def note(progress: Progress | None, text: str) -> None:
    """Say ``text`` once, above the bars, when ``progress`` is a display that can."""
    say = getattr(progress, "note", None)
    if say is not None:
        say(text)


def in_notebook() -> bool:
    """Whether this process runs a Jupyter kernel (a notebook, or one executed headless)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


class TerminalBars:
    """One rich progress bar per stage on ``console`` (standard error by default)."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console if console is not None else Console(stderr=True)
        self._bars = Progress(TextColumn("{task.description}"), BarColumn(),
                              MofNCompleteColumn(), TimeElapsedColumn(),
                              console=self.console, transient=False)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> TerminalBars:
        self._bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.__exit__(*exc)

    def __call__(self, stage: str, completed: float, total: float) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._bars.add_task(stage, total=total)
        self._bars.update(self._tasks[stage], completed=completed, total=total)

    def note(self, text: str) -> None:
        self._bars.console.print(text, markup=False, highlight=False, soft_wrap=True)


class NotebookTable:
    """A notebook cell's table of stages (done / total, seconds), redrawn in place
    through IPython's display handles (no widget library needed)."""

    def __init__(self) -> None:
        self._stages: dict[str, list[float]] = {}  # stage -> [completed, total, start]
        self._handle: Any = None
        self._drawn = 0.0

    def __enter__(self) -> NotebookTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self._draw(force=True)

    def __call__(self, stage: str, completed: float, total: float) -> None:
        state = self._stages.setdefault(stage, [0.0, total, time.monotonic()])
        state[0], state[1] = completed, total
        self._draw(force=completed >= total)

    def note(self, text: str) -> None:
        from IPython.display import HTML, display

        display(HTML(f"<p>{html.escape(text)}</p>"))

    def _draw(self, force: bool) -> None:
        from IPython.display import HTML, display

        if not self._stages or (not force and time.monotonic() - self._drawn < _NOTEBOOK_REFRESH):
            return
        rows = "".join(
            f"<tr><td>{html.escape(stage)}</td><td><progress value='{done:g}' "
            f"max='{max(total, 1):g}'></progress></td><td>{done:g}/{total:g}</td>"
            f"<td>{time.monotonic() - start:.0f} s</td></tr>"
            for stage, (done, total, start) in self._stages.items())
        table = HTML(f"<table class='embaudit-progress'>{rows}</table>")
        if self._handle is None:
            self._handle = display(table, display_id=True)
        else:
            self._handle.update(table)
        self._drawn = time.monotonic()


@contextmanager
def progress_display(progress: bool | Progress | None) -> Iterator[Progress | None]:
    """What ``audit(progress=...)`` reports to: True (the default) a notebook table in a
    notebook, else terminal bars; False or None nothing; a callable itself."""
    if progress is None or progress is False:
        yield None
        return
    if progress is not True:
        yield progress
        return
    with (NotebookTable() if in_notebook() else TerminalBars()) as display:
        yield display


def stage_progress(progress: Progress, description: str) -> Callable[[int, int], None]:
    """``progress`` for one stage: hears (done, total) and reports them under
    ``description``."""
    def report(done: int, total: int) -> None:
        progress(description, done, total)

    return report

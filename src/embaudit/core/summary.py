"""``summary()`` objects: text for a terminal, HTML for a notebook or a page.

As statsmodels' ``Summary``: ``str()`` and ``as_text()`` give the plain text,
``as_html()`` (and ``_repr_html_``, so a notebook shows it) the same content as HTML.
A summary is a title and blocks of lines or tables, so both renderings say the same.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: width of the text rendering's rules
WIDTH = 78


@dataclass(frozen=True)
class Block:
    """Lines of text (``lines``), or a table (``frame``) with its number format."""

    lines: tuple[str, ...] = ()  # paragraphs: wrapped at WIDTH in text
    frame: pd.DataFrame | None = field(default=None, repr=False)
    float_format: Callable[[float], str] | None = field(default=None, repr=False)
    #: lines already laid out (a verdict's indented numbers): kept as they are in HTML
    preformatted: bool = False


@dataclass(frozen=True)
class Summary:
    """A result's summary; blocks render between rules in text, as sections in HTML.
    Without a title it is bare lines (a verdict's few lines, for instance)."""

    blocks: tuple[Block, ...]
    title: str = ""

    def as_text(self) -> str:
        """The plain text (what ``str()`` and a terminal show)."""
        parts = [self._text(block) for block in self.blocks]
        if not self.title:
            return "\n".join(parts)
        rule, thin = "=" * WIDTH, "-" * WIDTH
        return "\n".join([rule, self.title.center(WIDTH), rule,
                          f"\n{thin}\n".join(parts), rule])

    def as_html(self) -> str:
        """The same content as an HTML fragment (tables as HTML tables)."""
        parts = [f"<h4>{html.escape(self.title)}</h4>"] if self.title else []
        for block in self.blocks:
            if block.frame is not None:
                parts.append(block.frame.to_html(index=False, border=0, na_rep="",
                                                 float_format=block.float_format))
            elif block.preformatted:
                parts.append(f"<pre>{html.escape(chr(10).join(block.lines))}</pre>")
            else:
                parts.extend(f"<p>{html.escape(line)}</p>" for line in block.lines if line)
        return f"<div class='embaudit-summary'>{''.join(parts)}</div>"

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    @staticmethod
    def _text(block: Block) -> str:
        if block.frame is not None:
            return block.frame.to_string(index=False, float_format=block.float_format)
        if block.preformatted:
            return "\n".join(block.lines)
        return "\n".join(wrapped for line in block.lines
                         for wrapped in (textwrap.wrap(line, WIDTH) or [""]))


class Summarized:
    """A result whose ``str()`` and notebook display are its ``summary()``."""

    def summary(self) -> Summary:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.summary().as_text()

    def _repr_html_(self) -> str:
        return self.summary().as_html()


def counted(values: Sequence[str]) -> dict[str, int]:
    """How many of each value, keyed as a repr's fields (``not found`` → ``not_found``)."""
    counts: dict[str, int] = {}
    for value in values:
        key = str(value).replace(" ", "_")
        counts[key] = counts.get(key, 0) + 1
    return counts


def joined(summaries: Sequence[Summary], title: str = "") -> Summary:
    """Several summaries' blocks as one (claims checked together, one after another)."""
    return Summary(tuple(block for s in summaries for block in s.blocks), title)


def short_repr(name: str, **fields: object) -> str:
    """``<Name key=value …>`` with only the fields given: a repr that fits one line."""
    shown = " ".join(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"
                     for key, value in fields.items() if value is not None)
    return f"<{name} {shown}>"

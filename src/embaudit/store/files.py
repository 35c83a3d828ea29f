"""Files of a store: atomic writes, content checksums, and containment in its folder."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from embaudit.errors import ConfigError


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path next to ``target`` that replaces it when the block succeeds."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    temporary.unlink()
    try:
        yield temporary
        with open(temporary, "rb") as written:  # on disk before it takes the name
            os.fsync(written.fileno())
        os.replace(temporary, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        if temporary.exists():
            temporary.unlink()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def refuse_links(folder: Path, names: Iterable[str]) -> None:
    """Refuse a store whose own files or folders (``names`` and everything under the
    folders) include a symbolic link: writing, sweeping or clearing through one would
    reach files outside ``folder``."""
    for name in names:
        path = folder / name
        if not (path.exists() or path.is_symlink()):
            continue
        found = [path] if path.is_symlink() else []
        if path.is_dir() and not found:
            found = [p for p in path.rglob("*") if p.is_symlink()][:1]
        if found:
            raise ConfigError(
                f"Output folder {str(folder)!r} holds a symbolic link at "
                f"{str(found[0].relative_to(folder))!r} (to {os.readlink(found[0])!r}); an audit "
                "writes and removes files there, so it only works on plain files and folders. "
                "Remove the link or choose another --out."
            )

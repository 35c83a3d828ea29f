"""Reading a table from CSV or Parquet, refusing what pandas would silently mangle.

pandas renames a repeated CSV header (``size``, ``size.1``), reads a semicolon-separated
file as one column, and reads nested Parquet columns as Python lists; each of these is
turned here into an error that names the file, the column and the fix.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from embaudit.errors import DataError

#: delimiters a CSV written by a spreadsheet in another locale, or a TSV, commonly uses
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}


def read_frame(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The CSV / Parquet file (or a copy of the DataFrame) with unique string column names."""
    frame = source.copy() if isinstance(source, pd.DataFrame) else _read_file(Path(source))
    frame.columns = [str(c) for c in frame.columns]
    _refuse_duplicates(list(frame.columns), "the table")
    return frame


def _read_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"Data file {str(path)!r} {what}; check the path.")
    suffix = path.suffix.lower()
    readers = {".csv": _read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
    if suffix not in readers:
        raise DataError(
            f"Data file {str(path)!r} has suffix {suffix!r}; embaudit reads .csv and .parquet "
            "files. Convert the file or rename it with the right suffix."
        )
    if path.stat().st_size == 0:
        raise DataError(f"Data file {str(path)!r} is empty (0 bytes); check that it was "
                        "written completely.")
    try:
        return readers[suffix](path)
    except DataError:
        raise
    except Exception as error:  # parser errors differ by reader and version
        raise DataError(
            f"Could not read data file {str(path)!r} as {suffix[1:]}: {error}. Check that the "
            "file is complete and in that format."
        ) from error


def _read_csv(path: Path) -> pd.DataFrame:
    """A comma-separated file (UTF-8, with or without a byte-order mark)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    if not any(name.strip() for name in header):
        raise DataError(f"Data file {str(path)!r} has no header line (its first line is "
                        "empty); the first line must name the columns.")
    _refuse_duplicates(header, f"the header of {str(path)!r}")
    if len(header) == 1:
        found = [name for mark, name in _OTHER_DELIMITERS.items() if mark in header[0]]
        if found:
            raise DataError(
                f"Data file {str(path)!r} reads as a single column {header[0][:60]!r}: its "
                f"columns look separated by {found[0]}, but embaudit reads comma-separated "
                "files. Save it with commas (or as Parquet)."
            )
    return pd.read_csv(path, encoding="utf-8-sig")


def _refuse_duplicates(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(
                f"Column name {name!r} occurs more than once in {where}; rename the columns "
                "so that every name is unique."
            )
        seen.add(name)

"""The axis explorer: what the analysts look at, from the discovery rows only.

Per axis of a regime's reference network: the discovery rows in slice mode (every
other axis near its median, ``discovery.slice_fraction``), ordered along the axis, with
their id, attribute values and lifespan; the trend of each attribute and of lifespan
along it; and, when the audit has a picture column (``data.images``), a gallery of
objects at evenly spaced positions. Holdout rows never appear: not in the page, its
export or its figures, so the holdout can still confirm what an analyst sees here.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from embaudit.core.regimes import REGIMES
from embaudit.errors import ConfigError, DataError
from embaudit.hypotheses.discovery import live_axes, slice_rows
from embaudit.reports.html import environment
from embaudit.results import AuditResult, load_result
from embaudit.store.files import atomic_path

#: pictures per axis in the gallery, and the bins of each trend line
GALLERY_SIZE, TREND_BINS = 10, 6
#: a local picture larger than this is linked by name, not embedded
_EMBED_LIMIT = 2 * 2**20
_SAFE_DATA = ("data:image/png;", "data:image/jpeg;", "data:image/gif;", "data:image/webp;",
              "data:image/svg+xml;")


@dataclass(frozen=True)
class AxisView:
    """One axis of the explorer: its ordered slice rows, trends and gallery."""

    axis: int
    rows: pd.DataFrame  # position, id, axis value, lifespan, attributes
    trends: list[dict[str, Any]]  # name, rho along the axis, bin means (for a line)
    gallery: list[dict[str, str]]  # src (or empty), caption, missing (why)


def explore(folder: str | Path, regime: str | None = None, images: str | None = None,
            pictures: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write ``explorer.html``, ``explorer.csv`` and ``explorer.parquet`` into the audit
    folder ``folder`` for ``regime``'s reference network (default: overfit when the
    audit trained it, else its lead regime). Returns their paths.

    The gallery shows the audit's picture column (``data.images``), or column ``images``
    of ``pictures`` (joined by the audit's id, ``row`` without one) when given.
    """
    folder = Path(folder)
    result = load_result(folder)
    regime = _regime(result, regime)
    if images is not None:
        result = _with_pictures(result, images, pictures)
    views = axis_views(result, regime)
    export = pd.concat([v.rows.assign(axis=v.axis) for v in views], ignore_index=True)
    export = export[["axis", *[c for c in export.columns if c != "axis"]]]
    paths = {"html": folder / "explorer.html", "csv": folder / "explorer.csv",
             "parquet": folder / "explorer.parquet"}
    page = environment().get_template("explorer.html.j2").render(
        regime=regime, views=views, n_discovery=len(result.split.discovery),
        n_holdout=len(result.split.holdout), fraction=result.config.discovery.slice_fraction,
        id_name=result.table.id or "row", has_images=result.table.images is not None)
    with atomic_path(paths["html"]) as temporary:
        temporary.write_text(page, encoding="utf-8")
    with atomic_path(paths["csv"]) as temporary:
        export.to_csv(temporary, index=False)
    with atomic_path(paths["parquet"]) as temporary:
        export.to_parquet(temporary, index=False)
    return paths


def axis_views(result: AuditResult, regime: str) -> list[AxisView]:
    """The explorer's content, discovery rows only."""
    table, discovery = result.table, np.sort(result.split.discovery)
    embedding = result.embeddings[regime][discovery].astype(np.float64)
    live = live_axes(embedding)
    frame = table.frame.iloc[discovery].reset_index(drop=True)
    ids = frame[table.id].astype(str) if table.id else pd.Series(discovery.astype(str))
    log_life = table.y[discovery]
    attributes = {c.name: c.values[discovery] for c in table.attribute_columns}
    views = []
    for axis in np.flatnonzero(live):
        rows = slice_rows(embedding, int(axis), result.config.discovery.slice_fraction, live)
        rows = rows[np.argsort(embedding[rows, axis], kind="stable")]
        shown = pd.DataFrame({
            "position": np.arange(len(rows)), table.id or "row": ids.iloc[rows].to_numpy(),
            "axis_value": embedding[rows, axis],
            table.target: frame[table.target].iloc[rows].to_numpy(),
            **{name: frame[name].iloc[rows].to_numpy() for name in table.attributes}})
        along = embedding[rows, axis]
        trends = [_trend("lifespan", along, log_life[rows])]
        trends += [_trend(name, along, values[rows]) for name, values in attributes.items()]
        picks = np.unique(np.linspace(0, len(rows) - 1, GALLERY_SIZE).round().astype(int))
        gallery = [] if table.images is None else [
            {**_picture(frame[table.images].iloc[rows[i]]),
             "caption": f"{ids.iloc[rows[i]]} · axis {embedding[rows[i], axis]:.2f} · "
                        f"{frame[table.target].iloc[rows[i]]:.4g}"} for i in picks]
        views.append(AxisView(int(axis), shown, trends, gallery))
    return views


def _trend(name: str, along: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    """Spearman with the axis (ties shared), and the mean per bin of rows in axis order
    (a small line)."""
    values = np.asarray(values, dtype=float)
    varies = np.ptp(values) > 0 and np.ptp(along) > 0
    rho = stats.spearmanr(along, values)[0] if varies else 0.0
    means = [float(b.mean()) for b in np.array_split(values, TREND_BINS) if len(b)]
    low, high = min(means), max(means)
    span = (high - low) or 1.0
    points = " ".join(f"{4 + i * 112 / max(len(means) - 1, 1):.1f},"
                      f"{26 - 22 * (m - low) / span:.1f}" for i, m in enumerate(means))
    return {"name": name, "rho": float(rho), "points": points}


def _picture(value: Any) -> dict[str, str]:
    """An ``<img>`` source for a picture value: a data URL of an image type as given, an
    http(s) URL as a link, a local file embedded; anything else is not shown."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {"src": "", "missing": "no picture"}
    text = str(value).strip()
    if text.startswith(_SAFE_DATA):
        return {"src": text, "missing": ""}
    if text.startswith(("https://", "http://")):
        return {"src": text, "missing": ""}
    path = Path(text)
    kind = mimetypes.guess_type(path.name)[0] or ""
    if not kind.startswith("image/"):
        return {"src": "", "missing": f"not a picture: {text[:80]}"}
    if not path.is_file():
        return {"src": "", "missing": f"no such file: {text[:80]}"}
    if path.stat().st_size > _EMBED_LIMIT:
        return {"src": path.resolve().as_uri(), "missing": ""}
    encoded = base64.b64encode(path.read_bytes()).decode()
    return {"src": f"data:{kind};base64,{encoded}", "missing": ""}


def _with_pictures(result: AuditResult, images: str, pictures: pd.DataFrame | None
                   ) -> AuditResult:
    """``result`` whose table shows pictures from column ``images`` (of its own stored
    data, or of ``pictures`` joined by id)."""
    table = result.table
    frame = table.frame
    if pictures is not None:
        key = table.id or "row"
        for column in (key, images):
            if column not in pictures.columns:
                raise DataError(f"The pictures' data has no column {column!r}; it needs "
                                f"the audit's id ({key!r}) and the picture column.")
        if pictures[key].duplicated().any():
            raise DataError(f"Id {pictures.loc[pictures[key].duplicated(), key].iloc[0]!r} "
                            f"appears twice in column {key!r} of the pictures' data.")
        audited = frame[key] if table.id else pd.Series(np.arange(table.n_rows))
        found = pictures.set_index(key)[images].reindex(audited.to_numpy())
        frame = frame.drop(columns=[images], errors="ignore").assign(
            **{images: found.to_numpy()})
    elif images not in frame.columns:
        raise ConfigError(f"The audit kept no column {images!r} (its picture column is "
                          f"{table.images!r}); pass the file that has it with --data.")
    return replace(result, table=replace(table, frame=frame, images=images))


def _regime(result: AuditResult, regime: str | None) -> str:
    networks = [r for r in result.config.training.regimes if REGIMES[r].trains_network]
    chosen = regime or ("overfit" if "overfit" in networks else result.lead_regime)
    if chosen not in networks:
        raise ConfigError(f"Regime {chosen!r} has no network in this audit (network regimes: "
                          f"{', '.join(networks) or 'none'}); name one with --regime.")
    return chosen

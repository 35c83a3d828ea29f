"""The store's record of how each chunk was computed, as the reports read it.

Columns of table ``compute``: regime, chunk, members and :data:`COMPUTE_KEYS` (written by
``embaudit.training.compute.compute_record``). Kept out of the training package so that
reading a store's record loads no training code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from embaudit.store.store import AuditStore

#: what a chunk records, in this order (after regime, chunk and its member count)
COMPUTE_KEYS = ("path", "device", "blas", "threads", "mkl_cbwr", "deterministic", "torch")
#: what is the same for every chunk of an audit computed on one machine and setting
_MACHINE = ("device", "blas", "mkl_cbwr", "deterministic", "torch")


def compute_paths(compute: pd.DataFrame) -> pd.DataFrame:
    """The distinct ways an audit's chunks were computed, each with its regimes and how
    many members and chunks took it (one row when the whole audit took one path)."""
    if compute.empty:
        return pd.DataFrame(columns=[*COMPUTE_KEYS, "regimes", "members", "chunks"])
    keys = [k for k in COMPUTE_KEYS if k in compute.columns]
    grouped = compute.groupby(keys, sort=False, dropna=False)
    return grouped.agg(regimes=("regime", lambda r: ", ".join(dict.fromkeys(r))),
                       members=("members", "sum"), chunks=("chunk", "nunique")
                       ).reset_index()


def mixed_note(compute: pd.DataFrame) -> str:
    """A sentence where an audit's chunks were computed in more than one way (else ''):
    a regime's chunks that differ in anything, or regimes on different machines, devices
    or settings. (Regimes differ in path, and local workers in threads, by design.)"""
    if compute.empty:
        return ""
    keys = [k for k in COMPUTE_KEYS if k in compute.columns]
    within = compute.groupby("regime")[keys].nunique().max()
    across = compute[[k for k in _MACHINE if k in compute.columns]].nunique()
    differing = [k for k in keys if within[k] > 1 or across.get(k, 1) > 1]
    if not differing:
        return ""
    ways = len(compute[keys].drop_duplicates())
    return (f"This audit's members were computed in {ways} ways that differ in "
            f"{', '.join(differing)} (a resume on another machine, device or setting); "
            "members computed differently agree within rounding, not bit for bit.")


def audit_compute(store: AuditStore | None, chunks: list[pd.DataFrame]) -> pd.DataFrame:
    """How every chunk of an audit was computed: the store's record (chunks of earlier,
    interrupted runs included), or without a store this run's ``chunks``; by regime and
    chunk."""
    if store is not None and "compute" in store.tables():
        compute = store.read_table("compute")
    else:
        compute = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()
    if compute.empty:
        return compute
    return compute.sort_values(["regime", "chunk"], kind="stable").reset_index(drop=True)

"""Which audit a store holds, and saving a finished audit's results into it.

Two audits are the same audit when their configs (less what cannot change a result),
their data and the packages that compute them agree; a store holding another audit is
refused unless the caller asks to overwrite it.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import pandas as pd

from embaudit.config import AuditConfig
from embaudit.errors import ConfigError
from embaudit.store.store import AuditStore, metadata_frame

#: packages whose versions are recorded with every audit
PACKAGES = ("embaudit", "torch", "pytorch-lightning", "numpy", "pandas", "scipy",
            "scikit-learn", "statsmodels", "duckdb", "pyarrow")
#: of those, the ones that decide whether a store can resume an audit
_IDENTITY_PACKAGES = ("embaudit", "torch", "numpy", "scipy", "scikit-learn")
#: config fields that cannot change a result: where files go, which machines compute,
#: how members are chunked and on which device (rounding aside), what the reports
#: show (``sealed``, the explorer's ``data.images``), where the data file
#: lies (its content is hashed); the landscape reads members and is recomputed on every
#: run (its study's members have their own ids)
_NOT_IDENTITY = {"out": True, "sealed": True, "execution": True, "data": {"path", "images"},
                 "landscape": True, "training": {"chunk_size", "memory_budget_mb", "device"}}
#: views over the hypotheses table, named as the design names the store's contents
VIEWS = {
    "tests": "SELECT regime, attribute, strength, p_carried, p_association, p_discovery, "
             "found, p_retrained, p_retrained_maxt, effect_holdout, ci_low, ci_high, "
             "p_holdout, q_holdout, p_embedding, sign_consistency, selection_frequency, "
             "n_holdout FROM hypotheses",
    "verdicts": "SELECT regime, attribute, direction, verdict, n_required FROM hypotheses",
}


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the results."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def audit_identity(config: AuditConfig, data_sha256: str) -> dict[str, Any]:
    """What makes two audits the same audit: the config less what cannot change a
    result, the data's content hash, and the versions of the packages that compute."""
    found = versions()
    return {"config": config.model_dump(mode="json", exclude=_NOT_IDENTITY),
            "data_sha256": data_sha256,
            "versions": {k: found[k] for k in _IDENTITY_PACKAGES}}


def open_audit(store: AuditStore, identity: Mapping[str, Any], overwrite: bool) -> None:
    """Make ``store`` this audit's: new, resumed (same identity), or refused (another
    audit, unless ``overwrite``: then it is cleared first)."""
    differences = store.identity_differences(identity)
    if differences and not overwrite:
        shown = "; ".join(differences[:5]) + (" …" if len(differences) > 5 else "")
        raise ConfigError(
            f"Output folder {str(store.folder)!r} holds a different audit ({shown}). Use a "
            "new folder, or pass --overwrite (overwrite=True) to replace it."
        )
    if differences:
        store.clear()
    store.sweep()
    if differences is None or differences:
        store.write_metadata({"identity": identity})


def save_results(store: AuditStore, tables: Mapping[str, pd.DataFrame],
                 metadata: Mapping[str, Any]) -> None:
    """Write a finished audit's tables and metadata in one transaction (metadata and
    results always match), keeping the identity the store was opened with."""
    recorded = store.read_metadata()
    recorded.update({k: v for k, v in metadata.items()
                     if k != "identity" or "identity" not in recorded})
    store.write_tables({"metadata": metadata_frame(recorded), **tables}, views=VIEWS)

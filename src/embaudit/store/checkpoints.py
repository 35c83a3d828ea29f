"""A chunk's network weights as a torch checkpoint: deterministic bytes, and loading
that never runs code from the file (``weights_only``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embaudit.errors import ConfigError

__all__ = ["load_weights", "weights_bytes"]


def weights_bytes(state: Mapping[str, np.ndarray]) -> bytes:
    """A chunk's network weights as a torch checkpoint, the same bytes for the same
    weights (saved to memory: a file's name would go into the archive)."""
    import io

    import torch  # only a stored network needs it

    buffer = io.BytesIO()
    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
               buffer)
    return buffer.getvalue()


def load_weights(path: Path) -> dict[str, Any]:
    """A chunk's checkpoint: a dict of tensors, read without running any of its code."""
    import torch

    try:
        tensors = torch.load(path, weights_only=True)
    except Exception as error:  # what a refused or broken checkpoint raises varies
        tensors = error
    if not isinstance(tensors, dict) or \
            not all(isinstance(t, torch.Tensor) for t in tensors.values()):
        raise ConfigError(f"Store file {str(path)!r} is not a checkpoint of plain tensors "
                          f"({type(tensors).__name__}); nothing in it was run or read. Rerun "
                          "with --overwrite (or a new --out) to start this audit again.")
    return tensors

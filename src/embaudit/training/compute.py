"""How this process computes a chunk of members: what can change a member's last bits.

Two machines (or one, resumed on another device) can train the same members through
different arithmetic: another BLAS, thread count, device, or MKL mode, or another
training path. Each stored chunk records this (its columns and how reports read them:
:mod:`embaudit.store.compute`).
"""

from __future__ import annotations

import os
import platform
import re
from functools import cache

import pandas as pd

from embaudit.core.members import chunk_key
from embaudit.core.regimes import REGIMES
from embaudit.training.job import TrainingJob

__all__ = ["compute_record", "training_path"]


def training_path(job: TrainingJob) -> str:
    """Which training path the job's members take, in words."""
    spec = REGIMES[job.regime]
    if spec.linear_embedding is not None:
        return f"closed form ({spec.linear_embedding}, scikit-learn), no network"
    optimizer = job.training.optimizer
    if optimizer == "lbfgs":
        return "autograd, L-BFGS one member per module"
    if spec.batch_norm:
        return f"autograd through batch norm, {optimizer} (torch.optim)"
    return f"raw-feature pass (batched torch operations), {optimizer}"


def compute_record(job: TrainingJob, member_ids: list[str]) -> pd.DataFrame:
    """One row: the chunk ``member_ids`` of ``job`` and how this process computes it."""
    import torch

    device = torch.device(job.training.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return pd.DataFrame([{
        "regime": job.regime, "chunk": chunk_key(member_ids), "members": len(member_ids),
        "path": training_path(job),
        "device": f"{device.type}: {name}",
        "blas": "cuBLAS" if device.type == "cuda" else _blas(),
        "threads": torch.get_num_threads(),
        "mkl_cbwr": os.environ.get("MKL_CBWR", "unset"),
        "deterministic": bool(torch.are_deterministic_algorithms_enabled()),
        "torch": torch.__version__,
    }])


@cache
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


@cache
def _blas() -> str:
    """The BLAS torch was built with, as its build configuration says."""
    import torch

    found = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return found.group(1) if found else "unknown"

"""How a chunk of members was computed: what can change a member's last bits.

Two machines (or one, resumed on another device) can train the same members through
different arithmetic: another BLAS, thread count, device, or MKL mode, or another
training path. Each stored chunk records this, and the report's manifest lists every
path an audit's chunks took, saying so when there was more than one.
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

#: what a chunk records, in this order (after regime, chunk and its member count)
COMPUTE_KEYS = ("path", "device", "blas", "threads", "mkl_cbwr", "deterministic", "torch")
#: what is the same for every chunk of an audit computed on one machine and setting
_MACHINE = ("device", "blas", "mkl_cbwr", "deterministic", "torch")


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

"""The compiled kernels (``kernels/*.c``: the fused optimizer pass, the later layers'
forward and backward passes, the MSE gradient), built on first use with the C compiler,
or ``None`` where none works (training then runs the same arithmetic as torch
operations; see :mod:`embaudit.training.optim` and :mod:`embaudit.training.raw`).

The shared library is cached per source, compiler flags and processor under
``$EMBAUDIT_CACHE`` (default ``~/.cache/embaudit``); it is written to a temporary name
and renamed, so concurrent workers never load half a file. ``-ffp-contract=off`` keeps
every multiply and add separately rounded, which makes each element's update the same in
vector and scalar code, and so independent of how many members share a call.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

_SOURCES = tuple(sorted((Path(__file__).with_name("kernels")).glob("*.c")))
_FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-shared",
          "-fPIC", "-std=c11")
_I64, _I32, _F32 = ctypes.c_int64, ctypes.c_int32, ctypes.c_float
_PTR = ctypes.c_void_p
_SIGNATURES = {
    "adam_step": [_I64, _I64, _I64, _I64, *[_PTR] * 7, _I64, *[_PTR] * 4, *[_F32] * 7],
    "sgd_step": [_I64, _I64, _I64, _I64, *[_PTR] * 7, _I64, *[_PTR] * 3, *[_F32] * 3, _I32],
    "hidden_forward": [_I64, _I64, _I64, *[_PTR] * 7],
    "hidden_backward": [_I64, _I64, _I64, *[_PTR] * 8],
    "mse_gradient": [_I64, _I64, *[_PTR] * 3, _I64, *[_PTR] * 4],
    "hidden_scratch": [_I64, _I64, _PTR],
}
_RESULTS = {"hidden_scratch": _I64}
log = logging.getLogger(__name__)


def address(tensor: torch.Tensor) -> int:
    """A tensor's data pointer as the kernels take it (the tensor must be contiguous)."""
    return tensor.data_ptr()


def kernel_for(device: torch.device, native: bool | None) -> ctypes.CDLL | None:
    """The kernels for tensors on ``device``: ``native`` None uses them where they build
    (the CPU only), False never; True refuses to go on without them."""
    library = kernel() if native is not False and device.type == "cpu" else None
    if native and library is None:
        raise RuntimeError("the compiled kernels are not available (no C compiler, or the "
                           "tensors are not on the CPU)")
    return library


def _cache_dir() -> Path:
    configured = os.environ.get("EMBAUDIT_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "embaudit"


def _processor() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    return next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")


def _build(compiler: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(handle)
    try:
        subprocess.run([compiler, *_FLAGS, *map(str, _SOURCES), "-o", partial, "-lm"],
                       check=True, capture_output=True, timeout=120)
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


@functools.cache
def kernel() -> ctypes.CDLL | None:
    """The compiled kernels, or None where no C compiler builds them (logged once)."""
    if os.environ.get("EMBAUDIT_NATIVE", "1") == "0":
        return None
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        log.info("no C compiler: training runs its kernels as torch operations")
        return None
    key = hashlib.sha256(b"\0".join([*(source.read_bytes() for source in _SOURCES),
                                     " ".join(_FLAGS).encode(),
                                     compiler.encode(), platform.machine().encode(),
                                     _processor().encode()])).hexdigest()[:16]
    target = _cache_dir() / f"kernels-{key}.so"
    try:
        if not target.exists():
            _build(compiler, target)
        library = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as error:
        log.info("the kernels did not build (%s): training runs them as torch "
                 "operations", error)
        return None
    for name, arguments in _SIGNATURES.items():
        function = getattr(library, name)
        function.argtypes, function.restype = arguments, _RESULTS.get(name)
    return library

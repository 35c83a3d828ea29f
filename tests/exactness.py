"""Is this machine's BLAS exact enough for bit-for-bit member independence?

A member trains bit-for-bit the same alone as inside an ensemble, or in a process with
another thread count, only when the BLAS computes each row of a matrix product the same
whatever the product's height and the number of threads. MKL does so on the CPUs this
project measured, not on every one (its kernels and thread partitions depend on the
shape). Tests of member independence assert bit-equality where the probe below finds
the products exact, and agreement within rounding everywhere. Training runs torch
operations only: the raw-feature pass's two first-layer GEMMs and its matrix-vector
product per member, batched GEMMs for the later layers, and the forward products that
embed the rows afterwards; the element-wise operations between them, and the sums over
a batch's rows per member, are independent of the ensemble by construction (the
optimizer's, see ``embaudit.training.optim``).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import torch

#: the hidden widths the tests train: the default network's and a small one
_HIDDEN = ((64, 16), (16, 8))


def _operands(p: int, batch: int, hidden: tuple[int, int], seed: int = 0
              ) -> dict[str, torch.Tensor]:
    """One training step's operands of 64 members (member dim first)."""
    g = torch.Generator().manual_seed(seed)
    h1, h2 = hidden
    shapes = {"x": (batch, p), "w1": (64, h1, p), "mean": (64, p), "bias1": (64, h1, 1),
              "dz1": (64, h1, batch), "w2": (64, h2, h1), "a1": (64, h1, batch),
              "b2": (64, h2, 1), "dz2": (64, h2, batch), "w3": (64, 1, h2),
              "a2": (64, h2, batch), "b3": (64, 1, 1), "dz3": (64, 1, batch)}
    return {name: torch.randn(shape, generator=g) for name, shape in shapes.items()}


def _products(o: dict[str, torch.Tensor], members: list[int]) -> list[torch.Tensor]:
    """The matrix products of training for the ``members`` stacked, as the ensemble
    computes them, forward and gradients."""
    m = {k: v if k == "x" else v[members] for k, v in o.items()}
    B, (h1, p), batch = len(members), m["w1"].shape[1:], m["x"].shape[0]
    return [
        # the raw-feature pass: its two GEMMs and U μ member by member
        torch.mm(m["w1"].reshape(-1, p), m["x"].T).view(B, h1, batch),
        torch.mm(m["dz1"].reshape(-1, batch), m["x"]).view(B, h1, p),
        torch.stack([torch.mv(u, mean) for u, mean in zip(m["w1"], m["mean"],
                                                          strict=True)]),
        # the forward products that embed the rows once it has trained
        torch.addmm(m["bias1"].reshape(-1, 1), m["w1"].reshape(-1, p), m["x"].T)
        .view(B, h1, batch),
        # the later layers, forward and backward
        torch.baddbmm(m["b2"], m["w2"], m["a1"]),
        torch.baddbmm(m["b3"], m["w3"], m["a2"]),  # the output layer, one row per member
        torch.bmm(m["dz2"], m["a1"].transpose(1, 2)),
        torch.bmm(m["w2"].transpose(1, 2), m["dz2"]),
        torch.bmm(m["dz3"], m["a2"].transpose(1, 2)),
        torch.bmm(m["w3"].transpose(1, 2), m["dz3"]),
    ]


@functools.cache
def blas_is_exact(p_values: tuple[int, ...] = (40, 100),
                  batches: tuple[int, ...] = (64, 30, 17, 500)) -> bool:
    """Whether each member's products are bit-identical alone and among 6 or 64 members,
    at one thread or two each. MKL's answer depends on the shapes, so the probe covers
    the tests' widths and odd batch sizes."""
    threads = torch.get_num_threads()
    try:
        for p, batch, hidden in itertools.product(p_values, batches, _HIDDEN):
            operands = _operands(p, batch, hidden)
            for size in (6, 64):
                stacked = {}
                for t in (1, 2):
                    torch.set_num_threads(t)
                    stacked[t] = _products(operands, list(range(size)))
                for t in (1, 2):  # alone at either thread count, stacked at either
                    torch.set_num_threads(t)
                    for b in (0, 5, size - 1):
                        alone = _products(operands, [b])
                        if not all(torch.equal(a[0], s[b]) for many in stacked.values()
                                   for a, s in zip(alone, many, strict=True)):
                            return False
        return True
    finally:
        torch.set_num_threads(threads)


def assert_same_member(alone: np.ndarray, inside: np.ndarray, *, atol: float,
                       err_msg: str = "") -> None:
    """Bit-equal where :func:`blas_is_exact`, else equal within ``atol`` (rounding that
    training carries forward)."""
    if blas_is_exact():
        np.testing.assert_array_equal(alone, inside, err_msg=err_msg)
    else:
        np.testing.assert_allclose(alone, inside, rtol=0, atol=atol, err_msg=err_msg)

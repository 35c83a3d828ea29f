"""Is this machine's BLAS exact enough for bit-for-bit member independence?

A member trains bit-for-bit the same alone as inside an ensemble, or in a process with
another thread count, only when the BLAS computes each row of a matrix product the same
whatever the product's height and the number of threads. MKL does so on the CPUs this
project measured, not on every one (its kernels and thread partitions depend on the
shape). Tests of member independence assert bit-equality where the probe below finds
the products exact, and agreement within rounding everywhere.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

_HIDDEN = (64, 16)


def _operands(p: int, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """One training step's operands of 64 members (member dim first)."""
    g = torch.Generator().manual_seed(seed)
    h1, h2 = _HIDDEN
    shapes = {"x": (batch, p), "w1": (64, h1, p), "bias1": (64, h1, 1),
              "dz1": (64, h1, batch), "w2": (64, h2, h1), "a1": (64, h1, batch),
              "b2": (64, h2, 1), "dz2": (64, h2, batch), "w3": (64, 1, h2),
              "a2": (64, h2, batch), "b3": (64, 1, 1), "dz3": (64, 1, batch)}
    return {name: torch.randn(shape, generator=g) for name, shape in shapes.items()}


def _products(o: dict[str, torch.Tensor], members: list[int]) -> list[torch.Tensor]:
    """The matrix products of a training step (layer 1, a hidden and the output layer,
    forward and gradients) for the ``members`` stacked, as the ensemble computes them."""
    m = {k: v if k == "x" else v[members] for k, v in o.items()}
    B, (h1, p), batch = len(members), m["w1"].shape[1:], m["x"].shape[0]
    return [
        torch.addmm(m["bias1"].reshape(-1, 1), m["w1"].reshape(-1, p), m["x"].T)
        .view(B, h1, batch),
        torch.mm(m["dz1"].reshape(-1, batch), m["x"]).view(B, h1, p),
        # the compiled pass's orientation: rows × members' units, and its transpose
        torch.mm(m["x"], m["w1"].reshape(-1, p).T).view(batch, B, h1).transpose(0, 1),
        torch.mm(m["dz1"].permute(2, 0, 1).reshape(batch, -1).T, m["x"]).view(B, h1, p),
        torch.baddbmm(m["b2"], m["w2"], m["a1"]),
        torch.bmm(m["dz2"], m["a1"].transpose(1, 2)),
        torch.bmm(m["w2"].transpose(1, 2), m["dz2"]),
        torch.baddbmm(m["b3"], m["w3"], m["a2"]),  # the output layer, one row per member
        torch.bmm(m["dz3"], m["a2"].transpose(1, 2)),
        torch.bmm(m["w3"].transpose(1, 2), m["dz3"]),
    ]


@functools.cache
def blas_is_exact(p_values: tuple[int, ...] = (40, 100), batches: tuple[int, ...] = (64, 30, 500)
                  ) -> bool:
    """Whether each member's products are bit-identical alone (one thread) and among 6 or
    64 members (one thread or two)."""
    threads = torch.get_num_threads()
    try:
        for p in p_values:
            for batch in batches:
                operands = _operands(p, batch)
                for size in (6, 64):
                    members = list(range(size))
                    torch.set_num_threads(1)
                    alone = {b: _products(operands, [b]) for b in (0, 5, size - 1)}
                    for t in (1, 2):
                        torch.set_num_threads(t)
                        stacked = _products(operands, members)
                        for b, products in alone.items():
                            if not all(torch.equal(a[0], s[b])
                                       for a, s in zip(products, stacked, strict=True)):
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

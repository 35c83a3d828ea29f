"""An ensemble's training parameters in raw-feature coordinates, with a hand-written pass.

Member b sees its inputs standardized on its own training rows, ``(x - μ_b) ⊙ s_b``
(``s_b = 1/σ_b``), and its first layer is ``z = W (s_b ⊙ (x - μ_b)) + b``. Training keeps
``U = W ⊙ s_b`` instead, so one GEMM over the raw rows serves every member with no fold
of ``s_b`` into the weights at each step:

    z = U x + c,    c = b - U μ_b    (a per-member bias, recomputed after each update)

The inputs are augmented with a column of ones (``[x - x̄, 1]``, x̄ a shared centre that
only keeps ``c`` small; zero columns pad each row to a multiple of 8 floats, which the
GEMMs run faster on) and ``[U | c]`` is one matrix, so the forward pass is one GEMM and
the backward pass one GEMM whose last column is the bias gradient ``db``. The gradient
of W is ``s_b ⊙ (dz xᵀ - db μ_bᵀ)``; :mod:`embaudit.training.optim` applies that rank-1
correction, W's optimizer update and the recomputation of ``c`` in one pass. The later
layers are small: their forward and backward passes run member by member in one compiled
call each (``kernels/hidden.c``), or as batched torch operations where no compiler
builds it (or off the CPU). In exact arithmetic this is training the standardized
network; in floating point the two agree within rounding (tested), and a member's
arithmetic never depends on the others.

Only networks without batch norm train this way (its statistics need autograd).
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from embaudit.training.native import address, kernel_for
from embaudit.training.network import EnsembleMLP

_ROW_ALIGNMENT = 8  # floats


class RawFeatureEnsemble:
    """Flat training storage of ``network``'s parameters and their gradients.

    ``first`` is ``[U | c | 0]`` (``B·h × width``, ``width ≥ p + 1``), ``bias`` the
    first layer's ``b`` (``B·h``), ``rest`` every later weight and bias (flat, each a
    ``(B, out, in)`` or ``(B, out, 1)`` block), with ``grad_first`` and ``grad_rest``
    of the same shapes. ``native`` (default: where it builds, on the CPU) runs the later
    layers in the compiled kernel; ``False`` as torch operations.
    """

    def __init__(self, network: EnsembleMLP, center: Tensor,
                 native: bool | None = None) -> None:
        if network.norms is not None:
            raise ValueError("batch norm needs autograd: train it with the EnsembleMLP")
        B, h, p = network.first_weight.shape
        self.network = network
        self.shape = (B, h, p)
        self.width = -(-(p + 1) // _ROW_ALIGNMENT) * _ROW_ALIGNMENT
        self.center = center.to(network.first_weight.device, torch.float32)
        scale = network.input_scale.double()
        self.scale = network.input_scale.contiguous()  # (B, p)
        self.sd = (1.0 / scale).float()  # W = U ⊙ σ: SGD's coupled weight decay reads W
        self.mean = (network.input_mean.double() - self.center.double()).float()
        device = network.first_weight.device
        self.first = torch.zeros(B * h, self.width, device=device)
        self.bias = torch.empty(B * h, device=device)
        later = [(w, b) for w, b in zip(network.weights, network.biases, strict=True)]
        self.rest = torch.empty(sum(t.numel() for pair in later for t in pair), device=device)
        self.grad_first = torch.zeros_like(self.first)
        self.grad_rest = torch.zeros_like(self.rest)
        self.weights, self.biases = self._views(self.rest, later)
        self.grad_weights, self.grad_biases = self._views(self.grad_rest, later)
        self._saved: list[Tensor | None] = []
        self.kernel: ctypes.CDLL | None = kernel_for(device, native)
        self.layer_widths = [*network.hidden, 1]  # the later layers' inputs and output
        self.widths = torch.tensor(self.layer_widths, dtype=torch.int64)  # as the kernel reads
        #: per batch size: the pre-activations, later activations and kernel scratch
        #: (reused by every step of that size: the pass keeps no allocation per step)
        self._buffers: dict[int, tuple[Tensor, Tensor, Tensor]] = {}
        self.load(network)

    @staticmethod
    def _views(flat: Tensor, like: list[tuple[Tensor, Tensor]]) -> tuple[list[Tensor],
                                                                        list[Tensor]]:
        weights, biases, start = [], [], 0
        for w, b in like:
            weights.append(flat[start : start + w.numel()].view(w.shape))
            start += w.numel()
            biases.append(flat[start : start + b.numel()].view(b.shape))
            start += b.numel()
        return weights, biases

    def inputs(self, X: Tensor) -> Tensor:
        """The rows as the first layer reads them: ``[x - x̄, 1, 0…]`` (float32)."""
        rows = torch.zeros(len(X), self.width, dtype=torch.float32, device=X.device)
        # in place, no copy of X: a float32 difference is the exact one, rounded once
        rows[:, : X.shape[1]].copy_(X).sub_(self.center)
        rows[:, X.shape[1]] = 1.0
        return rows

    def columns(self, tensor: Tensor) -> tuple[Tensor, Tensor]:
        """Views of a first-layer array (``first``, its gradient or moments): the
        ``(B, h, p)`` weight part and the ``(B, h)`` bias column."""
        B, h, p = self.shape
        view = tensor.view(B, h, self.width)
        return view[..., :p], view[..., p]

    @torch.no_grad()
    def recentre(self) -> None:
        """``c = b - U μ`` of the current parameters (the kernel does it in its pass)."""
        U, c = self.columns(self.first)
        c.copy_(self.bias.view(c.shape) - (U * self.mean[:, None]).sum(-1))

    @torch.no_grad()
    def load(self, network: EnsembleMLP) -> None:
        """Take ``network``'s parameters (standardized coordinates)."""
        U, _ = self.columns(self.first)
        U.copy_(network.first_weight * self.scale[:, None])
        self.bias.copy_(network.first_bias.reshape(-1))
        self.recentre()
        for mine, theirs in zip(self.weights + self.biases,
                                [*network.weights, *network.biases], strict=True):
            mine.copy_(theirs)

    @torch.no_grad()
    def store(self, network: EnsembleMLP) -> None:
        """Write the parameters back into ``network`` (``W = U / s``)."""
        network.first_weight.copy_(self.columns(self.first)[0] / self.scale[:, None])
        network.first_bias.copy_(self.bias.view_as(network.first_bias))
        for mine, theirs in zip(self.weights + self.biases,
                                [*network.weights, *network.biases], strict=True):
            theirs.copy_(mine)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """Predictions ``(B, batch)`` of the augmented rows ``x``; keeps what
        :meth:`backward` needs (dropout as the network draws it, in training mode)."""
        if self.kernel is None:
            return self._torch_forward(x)
        B, _, _ = self.shape
        n, widths = len(x), self.layer_widths
        z, activations, scratch = self._buffers_for(n)
        torch.mm(x, self.first.T, out=z)  # n × B·h: member b's pre-activations in its columns
        masks = None
        if self.network.dropout > 0 and self.network.training:
            masks = torch.cat([self.network._dropout_mask(torch.empty(B, w, n))
                               .transpose(1, 2).reshape(-1) for w in widths[:-1]])
        prediction = torch.empty(B, n)
        self.kernel.hidden_forward(
            B, n, len(widths) - 1, *map(address, (self.widths, z, self.rest)),
            address(masks) if masks is not None else None,
            *map(address, (activations, prediction, scratch)))
        self._saved = [x, z, masks, activations, scratch]
        return prediction

    @torch.no_grad()
    def backward(self, grad_prediction: Tensor) -> None:
        """Fill ``grad_first`` (``[dz xᵀ | db]``) and ``grad_rest`` from the gradient of
        the loss with respect to the predictions of the last :meth:`forward`."""
        if self.kernel is None:
            self._torch_backward(grad_prediction)
            return
        x, z, masks, activations, scratch = self._saved
        B, _, _ = self.shape
        grad = grad_prediction.to(torch.float32).contiguous()
        self.kernel.hidden_backward(
            B, len(x), len(self.layer_widths) - 1, *map(address, (self.widths, z, self.rest)),
            address(masks) if masks is not None else None,
            *map(address, (activations, grad, self.grad_rest, scratch)))
        torch.mm(z.T, x, out=self.grad_first)  # z now holds the first layer's dz
        self._saved = []

    def _buffers_for(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """The pass's work arrays for batches of ``n`` rows, made on first use."""
        buffers = self._buffers.get(n)
        if buffers is None:
            B, h, _ = self.shape
            widths = self.layer_widths
            scratch = self.kernel.hidden_scratch(n, len(widths) - 1, address(self.widths))
            buffers = (torch.empty(n, B * h), torch.empty(B * n * sum(widths[1:-1])),
                       torch.empty(scratch))
            self._buffers[n] = buffers
        return buffers

    def _torch_forward(self, x: Tensor) -> Tensor:
        B, h, _ = self.shape
        z = torch.mm(self.first, x.T).view(B, h, -1)
        saved: list[Tensor | None] = [x]
        dropout = self.network.dropout > 0 and self.network.training
        for w, b in zip(self.weights, self.biases, strict=True):
            activation = torch.relu_(z)
            mask = self.network._dropout_mask(activation) if dropout else None
            h_in = activation if mask is None else activation * mask
            saved += [activation, mask, h_in]
            z = torch.baddbmm(b, w, h_in)
        self._saved = saved
        return z.squeeze(1)

    def _torch_backward(self, grad_prediction: Tensor) -> None:
        x, *layers = self._saved
        B, h, _ = self.shape
        dz = grad_prediction[:, None, :]
        for index in reversed(range(len(self.weights))):
            activation, mask, h_in = layers[3 * index : 3 * index + 3]
            torch.bmm(dz, h_in.transpose(1, 2), out=self.grad_weights[index])
            torch.sum(dz, -1, keepdim=True, out=self.grad_biases[index])
            dh = torch.bmm(self.weights[index].transpose(1, 2), dz)
            if mask is not None:
                dh.mul_(mask)
            dz = torch.ops.aten.threshold_backward(dh, activation, 0.0)  # ReLU's
        torch.mm(dz.reshape(B * h, -1), x, out=self.grad_first)
        self._saved = []

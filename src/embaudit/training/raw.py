"""An ensemble's training in raw-feature coordinates, as batched torch operations.

Member b sees its inputs standardized on its own training rows, ``(x - μ_b) ⊙ s_b``
(``s_b = 1/σ_b``), and its first layer is ``z = W (s_b ⊙ (x - μ_b)) + b``. The passes
read ``U = W ⊙ s_b`` instead, so one GEMM over the raw rows serves every member with no
standardized copy of the rows per member:

    z = U x + c,    c = b - U μ_b    (a per-member bias)

The inputs are augmented with a column of ones (``[x - x̄, 1]``, x̄ a shared centre that
only keeps ``c`` small; zero columns pad each row to a multiple of 8 floats, which the
GEMMs run faster on) and ``[U | c]`` is one matrix, so the forward pass is one GEMM and
the backward pass one GEMM whose last column is the bias gradient ``db``.

What trains are the standardized network's own parameters, so the optimizer is torch's
own Adam, AdamW or SGD on them (:mod:`embaudit.training.optim`): W and b as ``[W | b |
0]``, the same shape as ``[U | c]``, then every later weight and bias, all in one flat
tensor, padded so that each member's share is a whole number of vectors. The backward
GEMM writes ``[dz xᵀ | db]`` into its gradient and two in-place passes make W's,
``(dz xᵀ - db μ_bᵀ) ⊙ s_b``; after each update :meth:`RawFeatureEnsemble.refresh`
rebuilds ``[U | c]`` (one scaling, and ``U μ_b`` as one matrix-vector product per
member) in the same memory: that gradient is spent once the update has read it, and
``[U | c]`` once the forward pass has, so a step streams through four arrays of the
first layer's size (parameters, gradient, two moments), not five.
The later layers are batched GEMMs. Each of these operations computes a member's numbers
the same whatever the number of members beside it (the BLAS calls where the BLAS is
exact in that sense), which is why ``U μ_b`` is a product per member and not a batched
GEMV. In exact arithmetic this is training the standardized network; in floating point
the two agree within rounding (tested).

Only networks without batch norm train this way (its statistics need autograd).
"""

from __future__ import annotations

import torch
from torch import Tensor

from embaudit.training.network import EnsembleMLP

_ROW_ALIGNMENT = 8  # floats
#: each member's share of the flat parameters is a multiple of this many floats, so an
#: element-wise kernel runs every member's elements in its vector code whatever B (the
#: widest vectors, AVX-512's, hold 16 floats; see :mod:`embaudit.training.optim`)
MEMBER_ALIGNMENT = 16


class RawFeatureEnsemble:
    """The training parameters of ``network`` in one flat tensor with its gradient, and
    the raw-feature pass over them.

    ``flat`` is that tensor (its ``.grad`` the gradient). Views of it: ``block``,
    ``[W | b | 0]`` (``B × h × width``, ``width ≥ p + 1``), and ``weights`` and ``biases``,
    every later layer's (``(B, out, in)`` and ``(B, out, 1)``); ``grad_block``,
    ``grad_weights`` and ``grad_biases`` view the gradient alike. ``first`` is ``[U | c |
    0]`` (``B·h × width``), what the forward GEMM reads, in the memory of ``grad_block``:
    from :meth:`refresh` to the next :meth:`backward`.
    """

    def __init__(self, network: EnsembleMLP, center: Tensor) -> None:
        if network.norms is not None:
            raise ValueError("batch norm needs autograd: train it with the EnsembleMLP")
        B, h, p = network.first_weight.shape
        device = network.first_weight.device
        self.network = network
        self.shape = (B, h, p)
        self.width = -(-(p + 1) // _ROW_ALIGNMENT) * _ROW_ALIGNMENT
        self.center = center.to(device, torch.float32)
        self.scale = network.input_scale.contiguous()  # s, (B, p)
        #: μ - x̄ (rounded once), what c = b - U μ and W's gradient read
        self.mean = (network.input_mean.double() - self.center.double()).float()
        #: [s | 1 | 0]: [W | b | 0] ⊙ this is [U | b | 0]
        self._block_scale = torch.zeros(B, 1, self.width, device=device)
        self._block_scale[:, 0, :p] = self.scale
        self._block_scale[:, 0, p] = 1.0
        shapes = [(B, h, self.width)] + [tuple(t.shape) for pair in
                                         zip(network.weights, network.biases, strict=True)
                                         for t in pair]
        share = sum(torch.Size(shape[1:]).numel() for shape in shapes)
        padded = -(-share // MEMBER_ALIGNMENT) * MEMBER_ALIGNMENT
        self.flat = torch.zeros(B * padded, device=device)
        #: the gradient, which the views below write; :meth:`backward` attaches it to
        #: ``flat`` again should an optimizer's ``zero_grad`` have set it to None
        self.gradient = torch.zeros_like(self.flat)
        self.flat.grad = self.gradient
        self.block, *later = self._views(self.flat, shapes)
        self.grad_block, *grad_later = self._views(self.gradient, shapes)
        self.weights, self.biases = later[0::2], later[1::2]
        self.grad_weights, self.grad_biases = grad_later[0::2], grad_later[1::2]
        self.first = self.grad_block.view(B * h, self.width)
        # views made once (a step's Python is ~5 % of it): W's gradient, db, U, c, and
        # per member its U, its μ and where U μ goes
        self._grad_weight, self._grad_bias = self.columns(self.grad_block)
        U, self._c = self.columns(self.first)
        self._dots = torch.empty(B, h, device=device)
        self._products = list(zip(U.unbind(), self.mean.unbind(), self._dots.unbind(),
                                  strict=True))
        self._saved: list[Tensor | None] = []
        self.load(network)

    @staticmethod
    def _views(flat: Tensor, shapes: list[tuple[int, ...]]) -> list[Tensor]:
        views, start = [], 0
        for shape in shapes:
            size = torch.Size(shape).numel()
            views.append(flat[start : start + size].view(shape))
            start += size
        return views

    def inputs(self, X: Tensor) -> Tensor:
        """The rows as the first layer reads them: ``[x - x̄, 1, 0…]`` (float32)."""
        rows = torch.zeros(len(X), self.width, dtype=torch.float32, device=X.device)
        # in place, no copy of X: a float32 difference is the exact one, rounded once
        rows[:, : X.shape[1]].copy_(X).sub_(self.center)
        rows[:, X.shape[1]] = 1.0
        return rows

    def columns(self, tensor: Tensor) -> tuple[Tensor, Tensor]:
        """Views of a ``B·h × width`` (or ``B × h × width``) array such as ``first`` or
        ``block``: the ``(B, h, p)`` weight part and the ``(B, h)`` bias column."""
        B, h, p = self.shape
        view = tensor.view(B, h, self.width)
        return view[..., :p], view[..., p]

    @torch.no_grad()
    def refresh(self) -> None:
        """``[U | c]`` of the current W and b (after every update)."""
        torch.mul(self.block, self._block_scale, out=self.first.view_as(self.block))
        for u, mean, dot in self._products:  # [U | b | 0] now
            torch.mv(u, mean, out=dot)
        self._c.sub_(self._dots)

    @torch.no_grad()
    def load(self, network: EnsembleMLP) -> None:
        """Take ``network``'s parameters (zero padding)."""
        W, b = self.columns(self.block)
        W.copy_(network.first_weight)
        b.copy_(network.first_bias.view_as(b))
        for mine, theirs in zip(self.weights + self.biases,
                                [*network.weights, *network.biases], strict=True):
            mine.copy_(theirs)
        self.refresh()

    @torch.no_grad()
    def store(self, network: EnsembleMLP) -> None:
        """Write the parameters back into ``network``."""
        W, b = self.columns(self.block)
        network.first_weight.copy_(W)
        network.first_bias.copy_(b.view_as(network.first_bias))
        for mine, theirs in zip(self.weights + self.biases,
                                [*network.weights, *network.biases], strict=True):
            theirs.copy_(mine)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """Predictions ``(B, batch)`` of the augmented rows ``x``; keeps what
        :meth:`backward` needs (dropout as the network draws it, in training mode)."""
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

    @torch.no_grad()
    def backward(self, grad_prediction: Tensor) -> None:
        """The gradient of every parameter (``flat.grad``) from the gradient of the
        loss with respect to the predictions of the last :meth:`forward`."""
        x, *layers = self._saved
        B, h, _ = self.shape
        if self.flat.grad is not self.gradient:
            self.flat.grad = self.gradient  # written whole below
        dz = grad_prediction[:, None, :]
        for index in reversed(range(len(self.weights))):
            activation, mask, h_in = layers[3 * index : 3 * index + 3]
            torch.bmm(dz, h_in.transpose(1, 2), out=self.grad_weights[index])
            torch.sum(dz, -1, keepdim=True, out=self.grad_biases[index])
            dh = torch.bmm(self.weights[index].transpose(1, 2), dz)
            if mask is not None:
                dh.mul_(mask)
            dz = torch.ops.aten.threshold_backward(dh, activation, 0.0)  # ReLU's
        torch.mm(dz.reshape(B * h, -1), x, out=self.first)  # [dz xᵀ | db | 0] in its place
        self._saved = []
        # W's gradient (dz xᵀ - db μᵀ) ⊙ s, in place, as the folded pass computes it
        self._grad_weight.addcmul_(self._grad_bias[..., None], self.mean[:, None],
                                   value=-1.0).mul_(self.scale[:, None])

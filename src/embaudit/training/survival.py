"""Cox partial likelihood of every member at once (rows weighted, Breslow or Efron ties).

Each member's rows are sorted by time within the member, so a permutation member's own
(time, event) pairs define its risk sets; every operation runs along the row dimension
of one member, so a member's value does not depend on the members beside it.

On a mini-batch the risk set of a failure holds only the batch's rows that outlived it:
the mini-batch loss is the average of per-batch partial likelihoods, consistent but
noisier (and biased towards zero information) as batches shrink; a batch without a
failure contributes nothing. Full batch (``training.batch_size = None``) is the exact
partial likelihood.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Ties = Literal["breslow", "efron"]


def cox_log_likelihood(log_hazard: Tensor, time: Tensor, event: Tensor, weights: Tensor,
                       ties: Ties = "efron") -> Tensor:
    """Log partial likelihood of each member (``B × m`` inputs → ``B``).

    Weighted as lifelines and H2O weight it: a failure's log-hazard counts with its
    weight, a risk set sums weight × hazard, and Efron's d tied failures of total weight
    W subtract (W / d) Σ_{k<d} log(S - k/d · T), S the risk set's and T the tied
    failures' weighted hazard.
    """
    order = torch.argsort(time, dim=1, descending=True, stable=True)
    t, eta, w = time.gather(1, order), log_hazard.gather(1, order), weights.gather(1, order)
    died = event.gather(1, order) * (w > 0)
    with torch.no_grad():  # exp without overflow; the shift cancels
        shift = eta.masked_fill(w <= 0, float("-inf")).amax(1, keepdim=True)
        shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    hazard = w * torch.exp(eta - shift)
    m = t.shape[1]
    first = torch.ones_like(t, dtype=torch.bool)
    first[:, 1:] = t[:, 1:] != t[:, :-1]
    group = torch.cumsum(first.long(), 1) - 1  # tie group of each row, in time order
    position = torch.arange(m, device=t.device).expand_as(group)
    last = torch.zeros_like(group).scatter_reduce(1, group, position, "amax",
                                                  include_self=False)
    risk = torch.cumsum(hazard, 1).gather(1, last.gather(1, group))  # S of each row's group
    # a row of weight 0 ahead of every weighted row has S = 0; it counts 0 × log S, which
    # must stay 0 (and its gradient finite)
    risk = risk.clamp_min(torch.finfo(risk.dtype).tiny)
    weighted_deaths = died * w
    gained = (weighted_deaths * (eta - shift)).sum(1)
    if ties == "breslow":
        return gained - (weighted_deaths * torch.log(risk)).sum(1)
    tied_hazard = _group_sum(died * hazard, group)
    tied_weight = _group_sum(weighted_deaths, group)
    tied_count = _group_sum(died, group)
    before = (torch.cumsum(died, 1) - died).gather(1, torch.zeros_like(group).scatter_reduce(
        1, group, position, "amin", include_self=False).gather(1, group))
    rank = torch.cumsum(died, 1) - died - before  # 0, 1, ... among the group's failures
    count = tied_count.clamp_min(1.0)
    term = torch.log((risk - rank / count * tied_hazard).clamp_min(torch.finfo(risk.dtype)
                                                                   .tiny))
    return gained - (died * tied_weight / count * term).sum(1)


def _group_sum(values: Tensor, group: Tensor) -> Tensor:
    """Each row's sum of ``values`` over its tie group."""
    return torch.zeros_like(values).scatter_add(1, group, values).gather(1, group)


def cox_loss(longevity: Tensor, time: Tensor, event: Tensor, weights: Tensor,
             ties: Ties = "efron") -> Tensor:
    """Negative log partial likelihood per unit of failure weight, per member (``B``).

    The networks predict a longevity score (higher = longer life), the negative log
    hazard, so their predictions order rows as the lifespans do; a member whose rows
    hold no failure gets 0."""
    deaths = (event * weights).sum(1)
    likelihood = cox_log_likelihood(-longevity, time, event, weights, ties)
    return torch.where(deaths > 0, -likelihood / deaths.clamp_min(1e-12),
                       torch.zeros_like(deaths))

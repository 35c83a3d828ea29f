"""The regimes compared, and the position's sentences about the three procedures.

Regimes are compared on what the analysts' own question needs (optimise for validation
loss, or overfit?): how well their readings replicate (the mean holdout effect, the
difference from the lead regime with its interval at ``confidence``, the holdout
shared) and
how many of their axes generalize, beside each reference's holdout loss and the
no-better-than-linear flag. A regime is called better or worse only where the interval
of its difference excludes 0. The axes' interval resamples the networks only: every
network's axes are checked on the same holdout rows, so it is narrower than one that
also resampled them would be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from embaudit.config import StatisticsConfig
from embaudit.core.regimes import REGIMES
from embaudit.hypotheses.inference import HoldoutAssociation
from embaudit.hypotheses.position import ReadingSummary
from embaudit.hypotheses.readings import mean_effect, mean_share, signed


def compare_with_lead(rows: list[dict[str, object]],
                      summaries: Mapping[str, ReadingSummary | None], lead: str,
                      holdout: HoldoutAssociation, covariance: np.ndarray,
                      config: StatisticsConfig, seed: int = 0) -> None:
    """Fill each embedding regime's comparison with the lead regime in place."""
    first = summaries.get(lead)
    if first is None:
        return
    tail = (1 - config.confidence) / 2
    observed = np.nan_to_num(holdout.rho)
    for row in rows:
        summary = summaries.get(str(row["regime"]))
        if summary is None or row["regime"] == lead:
            continue
        effect = mean_effect(summary.weights, first.weights, observed, covariance, tail)
        axes = mean_share(summary.axes, first.axes, tail, seed)
        row.update(effect_vs_lead=effect.estimate, effect_vs_lead_low=effect.low,
                   effect_vs_lead_high=effect.high, axes_vs_lead=axes.estimate,
                   axes_vs_lead_low=axes.low, axes_vs_lead_high=axes.high)


def regime_comparison(rows: Sequence[dict[str, object]], lead: str,
                      config: StatisticsConfig) -> str:
    """The sentence comparing the regimes with the lead: leads replicated, mean effect of
    the readings and share of axes that generalize (with intervals), holdout loss and the
    no-better-than-linear flag."""
    by_name = {str(r["regime"]): r for r in rows}
    if lead not in by_name or not REGIMES[lead].has_embedding:
        return ""
    first = by_name[lead]
    level = f"{config.confidence:.0%}"
    others = [r for r in rows if r["regime"] != lead and REGIMES[str(r["regime"])].has_embedding]
    parts = [_reading_numbers(first)]
    for row in others:
        parts.append(
            f"{_reading_numbers(row)}: {signed(row['effect_vs_lead'])} ({level} CI "
            f"{signed(row['effect_vs_lead_low'])} to {signed(row['effect_vs_lead_high'])}) "
            f"in mean effect, {_points(row['axes_vs_lead'])} in axes ({level} CI "
            f"{_points(row['axes_vs_lead_low'])} to {_points(row['axes_vs_lead_high'])})")
    text = ("Regimes compared on their readings (leads replicated; mean holdout effect; "
            "share of readings whose axis generalizes), against " + "; ".join(parts) + ".")
    if others:
        text += " " + _verdict(others, lead, "effect_vs_lead", _EFFECT_WORDS) + \
            " " + _verdict(others, lead, "axes_vs_lead", _AXES_WORDS)
    losses = ", ".join(f"{r['regime']} {_loss(r['holdout_loss'])}" for r in rows
                       if REGIMES[str(r["regime"])].has_embedding)
    flagged = [str(r["regime"]) for r in rows if r["no_better_than_linear"] is True
               and REGIMES[str(r["regime"])].trains_network]
    text += f" Holdout loss of the references: {losses}; " + (
        f"networks no better than a linear model on their own rows: {', '.join(flagged)}."
        if flagged else "no network is flagged as no better than a linear model on its "
        "rows.")
    return text


def procedures_sentence(row: Mapping[str, object], explained: Mapping[str, str],
                        alpha: float, dropped_replicated: int = 0) -> str:
    """The three procedures on the lead regime, side by side, with their numbers (and
    what the screen adds: how many readings it keeps, and how many of those it drops
    still replicate)."""
    regime = str(row["regime"])
    direct = _count(_int(row["n_direct_leads"]), "lead")
    if not REGIMES[regime].has_embedding:
        return f"Only direct screening was audited: it gives {direct}, with no network."
    read, found, survives = (_int(row[k]) for k in ("n_read", "n_found", "n_survives"))
    replicated = _int(row["n_read_replicated"])
    share = f" ({found / read:.0%})" if read else ""
    proxies = "; ".join(f"{name} explained by {other}" for name, other in explained.items())
    distinct = f" ({_int(row['n_distinct'])} distinct: {proxies})" if proxies else ""
    return (f"Three procedures on the same discovery rows ({regime}): reading kept "
            f"{_count(read, 'attribute')}, of which {replicated} "
            f"{'replicates' if replicated == 1 else 'replicate'} on the holdout (q ≤ "
            f"{alpha:g} over the readings); the screen kept {found} of the {read}{share}: "
            f"{survives} {'survives' if survives == 1 else 'survive'}{distinct}, and of the "
            f"{read - found} it dropped {dropped_replicated} "
            f"{'replicates' if dropped_replicated == 1 else 'replicate'}; screening the "
            f"attributes directly, with no network, gives {direct}.")


def network_sentence(regime: str, only_axis: Sequence[str], lost: Sequence[str],
                     not_generalizing: Sequence[str], n_replicated: int, n_read: int,
                     n_generalized: int) -> str:
    """What the network added over screening the measured attributes directly (its first
    sentence says whether it added anything), and what its axes' generalization does and
    does not say."""
    if not REGIMES[regime].has_embedding:
        return ""
    missed = (f"; it missed {_count(len(lost), 'direct lead')}: {', '.join(lost)}"
              if lost else "")
    if only_axis:
        text = (f"The {regime} network added {_count(len(only_axis), 'lead')} that screening "
                f"the attributes directly did not find: {', '.join(only_axis)} (readings "
                f"that replicate on the holdout){missed}.")
    else:
        replicated = ("direct screening found every reading that replicates" if n_replicated
                      else "none of its readings replicates")
        text = (f"The {regime} network added nothing over screening the measured attributes "
                f"directly: {replicated}{missed}. On such data its value is as a way to look "
                "at objects for attributes not yet measured.")
    text += (f" {n_generalized} of {n_read} readings' axes generalize (order attribute and "
             "lifespan on the held-out rows as on the training rows); an axis that "
             "generalizes is no evidence that its attribute matters, since an axis mixes "
             "whatever the features encode.")
    if not_generalizing:
        one = len(not_generalizing) == 1
        text += (f" {', '.join(not_generalizing)} {'replicates' if one else 'replicate'} "
                 f"although {'its' if one else 'their'} {regime} "
                 f"{'axis is' if one else 'axes are'} not shown to generalize: "
                 f"{'that axis' if one else 'those axes'} may have ordered the memorised "
                 "training lifespans rather than a property the network learned.")
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _int(value: object) -> int:
    return int(value)  # type: ignore[call-overload]


def _reading_numbers(row: Mapping[str, object]) -> str:
    return (f"{row['regime']} ({row['n_read_replicated']} of {row['n_read']} readings "
            f"replicated; {signed(row['read_effect'])}; {_share(row['axes_generalized'])})")


#: how a difference from the lead regime is said: above 0, below 0, neither
_EFFECT_WORDS = ("Readings off {regimes} replicate better than off {lead} (interval above 0).",
                 "Readings off {regimes} replicate worse than off {lead} (interval below 0).",
                 "No regime's readings are shown to replicate better or worse than {lead}'s "
                 "(every interval includes 0).")
_AXES_WORDS = ("More axes generalize in {regimes} than in {lead} (interval above 0).",
               "Fewer axes generalize in {regimes} than in {lead} (interval below 0).",
               "No regime is shown to differ from {lead} in how many axes generalize.")


def _verdict(others: Sequence[Mapping[str, object]], lead: str, column: str,
             words: tuple[str, str, str]) -> str:
    better = [str(r["regime"]) for r in others if _above(r[f"{column}_low"])]
    worse = [str(r["regime"]) for r in others if _above(-_float(r[f"{column}_high"]))]
    said = [words[0].format(regimes=", ".join(better), lead=lead)] if better else []
    said += [words[1].format(regimes=", ".join(worse), lead=lead)] if worse else []
    return " ".join(said) or words[2].format(lead=lead)


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _above(value: object) -> bool:
    number = _float(value)
    return bool(np.isfinite(number) and number > 0)


def _points(value: object) -> str:
    number = _float(value)
    return "n/a" if not np.isfinite(number) else f"{100 * number:+.0f} points"


def _share(value: object) -> str:
    number = _float(value)
    return "axes n/a" if not np.isfinite(number) else f"{number:.0%} of axes generalize"


def _loss(value: object) -> str:
    number = _float(value)
    return "n/a" if not np.isfinite(number) else f"{number:.2f}"

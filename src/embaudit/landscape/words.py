"""The landscape in words: one short paragraph per question, with its numbers and
their intervals or p-values, for the reports to print before their tables."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _group(row: pd.Series) -> str:
    return f"{row['regime']}/{row['optimizer']}"


def minima_paragraph(members: pd.DataFrame) -> str:
    """What the points are: how many are minima of their group's loss, and why not."""
    counts = members["status"].value_counts()
    parts = ", ".join(f"{int(n)} {status}" for status, n in counts.items())
    minima = members[members["status"] == "minimum"]
    gradient = (f" Minima's gradient norms are at most {minima['gradient_norm'].max():.1e} "
                f"(as trained up to {minima['gradient_norm_trained'].max():.2g}); λ_min "
                f"from {minima['lambda_min'].min():.2g} to {minima['lambda_min'].max():.2g}."
                if len(minima) else "")
    return (f"Points: {len(members)} trained ({parts}). Only minima of their group's loss "
            "enter paths, basins and ensembles." + gradient)


def optimizer_paragraph(optimizers: pd.DataFrame) -> str:
    """Depth, generalization and sharpness per regime and optimizer, with intervals."""
    def cell(row: pd.Series, column: str) -> str:
        low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
        value = f"{row[column]:.3g}"
        return value if low is None or not np.isfinite(low) else \
            f"{value} [{low:.3g}, {high:.3g}]"

    lines = [f"{_group(r)}: training loss {cell(r, 'train_loss')}, holdout loss "
             f"{cell(r, 'holdout_loss')}, canonical λ_max {cell(r, 'lambda_max_canonical')}"
             for _, r in optimizers.iterrows()]
    return "Optimizers and regimes (mean over points, 95% interval): " + "; ".join(lines) \
        + "."


def basin_paragraph(basins: pd.DataFrame) -> str:
    """Basins, specialisation and ensembles of basins, each against its null."""
    lines = []
    for _, r in basins.iterrows():
        if not r.get("n_minima", 0) or r["n_minima"] < 2:
            lines.append(f"{_group(r)}: fewer than 2 minima, no basins measured")
            continue
        line = (f"{_group(r)}: {int(r['n_basins'])} basin(s) of {int(r['n_minima'])} minima "
                f"at {r['level']:.3g} (sizes {r['basin_sizes']}), "
                f"{int(r['n_sequence_basins'])} monotonic sequence basin(s); a gate choosing "
                f"a minimum per row gains {r['gate_gain']:+.3g} [{r['gate_gain_ci_low']:+.3g},"
                f" {r['gate_gain_ci_high']:+.3g}] over the best single one, p = "
                f"{r['gate_p']:.2g} against shuffled labels")
        if np.isfinite(r["gain"]):
            line += (f"; one minimum per basin gains {r['gain']:+.3g} [{r['gain_ci_low']:+.3g}, "
                     f"{r['gain_ci_high']:+.3g}] over the best single one, " + (
                         f"p = {r['random_p']:.2g} against random ensembles of the same size"
                         if np.isfinite(r["random_p"]) else f"no random null ({r['reason']})"))
        else:
            line += f"; basin ensemble: {r['reason']}"
        lines.append(line)
    return "Basins and specialisation (holdout test half): " + "; ".join(lines) + "."


def relevance_paragraph(features: pd.DataFrame) -> str:
    """Conserved-weight relevance against permutation importance per group."""
    if features.empty or "minima" not in features:
        return "Relevance: no group has two minima."
    sets = features[features["minima"] == "all"]
    lines = [f"{regime}/{optimizer}: ρ = {part['agreement'].iloc[0]:.2f} "
             f"[{part['agreement_ci_low'].iloc[0]:.2f}, {part['agreement_ci_high'].iloc[0]:.2f}]"
             f" over {len(part)} feature groups"
             for (regime, optimizer), part in sets.groupby(["regime", "optimizer"], sort=False)]
    return ("Relevance: rank agreement of each feature group's conserved first-layer weights "
            "with its permutation importance on the holdout (5 shuffles per group, "
            "correlated features shuffled together): "
            + "; ".join(lines) + ".")


def map_paragraph(separation: pd.DataFrame) -> str:
    """Which label separates the points on the kernel-PCA map."""
    known = separation.dropna(subset=["silhouette"])
    if known.empty:
        return "Map: no label has two values with several points each."
    best = known.loc[known["silhouette"].idxmax()]
    scores = ", ".join(f"{r.label} {r.silhouette:.2f}" for r in known.itertuples())
    verdict = (f"the {best['label'].replace('sample_seed', 'initialization seed')} "
               "separates the points most" if best["silhouette"] > 0.25 else
               "no label separates the points clearly")
    return f"Map: {verdict} (silhouette on the map: {scores})."

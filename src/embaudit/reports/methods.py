"""The "Methods" section, written from the config so it always matches what was run.

Plain-text paragraphs (no markup): each report format escapes and lays them out itself.
The rules described are those of :mod:`embaudit.hypotheses.verdicts`.
"""

from __future__ import annotations

from embaudit.config import AuditConfig

_CORRECTIONS = {
    "fdr_bh": "Benjamini–Hochberg (false discovery rate)",
    "fdr_by": "Benjamini–Yekutieli (false discovery rate under dependence)",
    "holm": "Holm (family-wise error rate)",
}


def methods_paragraphs(config: AuditConfig, n_features: int | None = None) -> list[tuple[str, str]]:
    """(title, paragraph) pairs describing the audit's design, factually and briefly."""
    split, net, train = config.split, config.network, config.training
    sampling, disc, stat = config.resampling, config.discovery, config.statistics
    widths = " → ".join(["p" if n_features is None else str(n_features),
                         *map(str, net.hidden), "1"])
    layer = net.embedding_layer % len(net.hidden)
    regimes = list(train.regimes) + (["raw screening (no embedding)"]
                                     if disc.raw_screening else [])
    if disc.mode == "slice":
        reading = (f"slice mode: both correlations are computed on the "
                   f"{disc.slice_fraction:.0%} of discovery rows closest to the median in "
                   "every other live axis (standardized), as an analyst holding the other "
                   "axes fixed would")
    else:
        reading = "axis mode: both correlations are computed on all discovery rows"
    return [
        ("Split", (
            f"Rows were split once into discovery ({1 - split.holdout_fraction:.0%}) and "
            f"holdout ({split.holdout_fraction:.0%}) parts, stratified on {split.n_strata} "
            "quantile strata of the (transformed) lifespan, keeping groups together when a "
            "group column is given. Nothing of the holdout is used for training or "
            f"discovery. Root seed {config.seed}."
        )),
        ("Networks", (
            f"Feed-forward ReLU regressors {widths}; the embedding is the "
            f"{'pre' if net.pre_activation else 'post'}-activation output of hidden layer "
            f"{layer + 1} ({net.hidden[layer]} axes) for every row. Regimes: "
            f"{', '.join(regimes)}. Adam, learning rate {train.learning_rate:g}, batch size "
            f"{train.batch_size}, at most {train.max_epochs} epochs. Overfit: no "
            "regularization, trained on all discovery rows until the training MSE falls "
            f"below {train.overfit_tolerance:g} × var(y). Regularized: weight decay "
            f"{train.weight_decay:g}, early stopping with patience {train.patience} on an "
            f"internal validation split of {train.validation_fraction:.0%}."
        )),
        ("Resampling", (
            f"Per regime, one reference network, {sampling.n_bootstrap} bootstrap networks "
            f"(discovery rows resampled) and {sampling.n_permutations} permutation networks "
            "(lifespan permuted within the discovery rows), all trained exactly alike. "
            "Bootstrap embeddings are aligned to the reference by orthogonal Procrustes."
        )),
        ("Discovery", (
            "For each live axis j and attribute a: r_ja = Spearman(axis, attribute) and "
            f"r_jy = Spearman(axis, lifespan), in {reading}. The candidate for a claims "
            "direction sign(r_ja · r_jy) with strength T = |r_ja · r_jy| on its best axis; "
            "categorical attributes enter one-vs-rest. Raw screening uses |Spearman(a, y)|. "
            "The discovery p-value is (1 + #{null T ≥ T}) / (M + 1) over the M permutation "
            "networks, with Westfall–Young max-T adjustment; a hypothesis is found when "
            f"p ≤ {stat.alpha_discovery:g}."
        )),
        ("Verdicts", (
            "On the holdout, each hypothesis is tested one-sided in its claimed direction "
            "(Spearman; partial association by OLS with HC3 errors when covariates are "
            f"given), adjusted within its regime by {_CORRECTIONS[stat.correction]}. "
            f"Survives: q ≤ {stat.alpha:g} and bootstrap sign consistency ≥ "
            f"{stat.sign_consistency:g}. Fails: the 95% interval of the holdout effect lies "
            "wholly below the discovered strength. Otherwise inconclusive, reported with "
            f"the holdout size that {stat.power:.0%} power would need."
        )),
        ("Person A vs Person B", (
            "A found hypothesis replicates when its one-sided holdout p ≤ "
            f"{stat.alpha:g}; the null rate is the replication rate of the candidates read "
            "off the permutation networks. A: the overfit regime's found hypotheses "
            "replicate more often than the null rate (exact binomial test, "
            f"p ≤ {stat.position_alpha:g}). B: nothing was found; or no trend beats the "
            "permutation null family-wise and the replication advantage is below "
            f"{stat.min_advantage:.0%}; or an advantage of {stat.min_advantage:.0%} is ruled "
            "out (exact binomial test). Otherwise undecided."
        )),
    ]

"""The "Methods" section, written from the config so it always matches what was run.

Plain-text paragraphs (no markup): each report format escapes and lays them out itself.
The rules described are those of :mod:`embaudit.hypotheses.verdicts`.
"""

from __future__ import annotations

from collections.abc import Sequence

from embaudit.config import AuditConfig
from embaudit.core.regimes import REGIMES

_CORRECTIONS = {
    "fdr_bh": "Benjamini–Hochberg (false discovery rate)",
    "fdr_by": "Benjamini–Yekutieli (false discovery rate under dependence)",
    "holm": "Holm (family-wise error rate)",
    "maxt": "Westfall–Young single-step max-T over permutations of the holdout lifespans "
            "(family-wise error rate)",
}


def methods_paragraphs(config: AuditConfig, n_features: int | None = None,
                       covariates: Sequence[str] = ()) -> list[tuple[str, str]]:
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
            f"{', '.join(regimes)}. {_optimizer(config)}, batch size "
            f"{train.batch_size or 'full'}, at most {train.max_epochs} epochs. "
            + " ".join(_regime_sentence(name, config) for name in train.regimes)
            + " Inputs are standardized with the statistics of each network's own training "
            "rows."
        )),
        ("Resampling", (
            f"Per regime, one reference network, {sampling.n_bootstrap} bootstrap networks "
            f"(discovery rows resampled) and {sampling.n_permutations} permutation networks "
            "(lifespan permuted within the discovery rows), all trained exactly alike. "
            "Bootstrap embeddings are aligned to the reference by orthogonal Procrustes "
            "fitted on their in-bag rows. Across them: percentile intervals of r_ja and "
            "r_jy (in-bag), selection frequency of the axis, and out-of-bag replication "
            "(the share whose out-of-bag rows show the trend at one-sided p ≤ α)."
            + (f" Cross-fit: {config.split.crossfit_folds} folds, each the holdout once for "
               "a network trained on the other folds; replication is reported per fold."
               if config.split.crossfit_folds else "")
        )),
        ("Discovery", (
            "For each live axis j and attribute a: r_ja = Spearman(axis, attribute) and "
            f"r_jy = Spearman(axis, lifespan), in {reading}"
            + (f"; partial Spearman controlling for {', '.join(covariates)}" if covariates
               else "") + ". "
            "The candidate for a claims "
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
            f"Intervals of the holdout effect: percentile bootstrap ({stat.n_resamples} "
            f"resamples of the holdout rows, {stat.confidence:.0%}). "
            f"Survives: q ≤ {stat.alpha:g} and sign consistency ≥ {stat.sign_consistency:g} "
            "(the share of bootstrap networks whose trend, read on their own out-of-bag "
            "rows, points the claimed way). Fails: not confirmed, and the interval of "
            "the holdout effect lies wholly below the discovered strength. Otherwise "
            f"inconclusive, reported with the holdout size that {stat.power:.0%} power would "
            "need at α divided by the number of hypotheses. Attributes with no trend at all "
            "(every axis dead, or constant on the discovery rows) are listed as skipped."
        )),
        ("Person A vs Person B", (
            "A found hypothesis replicates when its one-sided holdout p ≤ "
            f"{stat.alpha:g}. Each permutation network finds trends the same way, against "
            "the other networks; the null rate pools the replication of what they found. "
            "p_vs_null ranks the reference's count of found-and-replicated trends among the "
            "permutation networks' counts (Monte Carlo, exact under the global null). "
            f"A: p_vs_null ≤ {stat.position_alpha:g} and an advantage of "
            f"{stat.min_advantage:.0%} over the null rate is not ruled out. B: nothing was "
            f"found; or an advantage of {stat.min_advantage:.0%} is ruled out (exact "
            "binomial test); or no trend beats the permutation null family-wise and the "
            f"replication rate is within {stat.min_advantage:.0%} of the null rate. "
            "Otherwise undecided. The position is decided on the overfit regime when it "
            "is audited, else on the first regime."
        )),
    ]


def _optimizer(config: AuditConfig) -> str:
    train = config.training
    if train.optimizer == "lbfgs":
        return (f"L-BFGS with a strong-Wolfe line search per network (history "
                f"{train.lbfgs_history}, {train.lbfgs_iterations} iterations per batch)")
    schedule = ", cosine schedule" if train.lr_schedule == "cosine" else ""
    if train.optimizer == "sgd":
        return (f"SGD with momentum {train.momentum:g}, learning rate "
                f"{train.learning_rate:g}{schedule}")
    return f"Adam, learning rate {train.learning_rate:g}{schedule}"


def _regime_sentence(name: str, config: AuditConfig) -> str:
    """What one regime's members are, with the config's numbers."""
    train, spec = config.training, REGIMES[name]
    if not spec.trains_network:
        return f"{name}: {spec.description}."
    parts = [f"weight decay {train.weight_decay:g}"] if spec.weight_decay else []
    parts += [f"dropout {train.dropout:g} after each hidden layer"] if spec.dropout else []
    parts += ["batch norm (per network, on its own rows) before each ReLU"] \
        if spec.batch_norm else []
    if spec.early_stopping:
        parts.append(f"early stopping with patience {train.patience} on each network's own "
                     f"validation split of {train.validation_fraction:.0%}, best weights kept")
    else:
        parts.append("trained on all its rows until the training MSE"
                     + (" (evaluation mode)" if spec.training_loss_in_eval_mode else "")
                     + f" falls below {train.overfit_tolerance:g} × var(y)")
    return f"{name}: " + ("no regularization, " if name == "overfit" else "") \
        + ", ".join(parts) + "."

"""The "Methods" section, written from the config so it always matches what was run.

Plain-text paragraphs (no markup): each report format escapes and lays them out itself.
The rules described are those of :mod:`embaudit.hypotheses.screen`,
:mod:`embaudit.hypotheses.verdicts` and :mod:`embaudit.hypotheses.position`.
"""

from __future__ import annotations

from collections.abc import Sequence

from embaudit.config import AuditConfig
from embaudit.core.regimes import REGIMES
from embaudit.hypotheses.censored import interval_level
from embaudit.resampling.options import study_optimizers, study_training

_CORRECTIONS = {
    "fdr_bh": "Benjamini–Hochberg (false discovery rate)",
    "fdr_by": "Benjamini–Yekutieli (false discovery rate under dependence)",
    "holm": "Holm (family-wise error rate)",
    "maxt": "Westfall–Young single-step max-T over resamples of the holdout "
            "(family-wise error rate)",
}
_ALIGNMENT = {"procrustes": "orthogonal Procrustes",
              "units": "unit matching (a permutation and signs, Hungarian on correlations)"}


def methods_paragraphs(config: AuditConfig, lead_regime: str, n_features: int | None = None,
                       covariates: Sequence[str] = (), group: str | None = None,
                       event: str | None = None) -> list[tuple[str, str]]:
    """(title, paragraph) pairs describing the audit's design, factually and briefly;
    ``lead_regime`` is the regime the position was decided on."""
    return [
        *([("Censored lifespans", _censoring(config, event))] if event else []),
        ("Split", _split(config)),
        ("Networks", _networks(config, n_features)),
        ("Resampling", _resampling(config)),
        ("Discovery", _discovery(config, covariates)),
        ("Verdicts", _verdicts(config, covariates, group, event)),
        ("Person A vs B", _position(config, lead_regime, event, group)),
        ("Independence of rows", _independence(group)),
        *([("Loss landscape", _landscape(config))] if config.landscape.enabled else []),
    ]


def _censoring(config: AuditConfig, event: str) -> str:
    training = {
        "aft": "the networks minimise the log-normal accelerated-failure-time loss at unit "
               "scale (a failure adds its squared error in log lifespan, a censored "
               "lifespan -2 log Φ(prediction - its log time))",
        "cox": f"the networks minimise the Cox partial likelihood ({config.training.cox_ties} "
               "ties; risk sets within each mini-batch" + (
                   ")" if config.training.batch_size else ", full batch)") +
               " and predict a longevity score (minus the log hazard)",
        "mse": "the networks ignore censoring (mse): censored times count as lifespans",
    }[config.training.loss if config.training.loss != "auto" else "aft"]
    return (f"Column {event!r} says whether each lifespan ended in a failure (1) or is "
            f"censored (0, still in service then); censored rows are kept. In training, "
            f"{training}; the linear baselines fit the times as given. Discovery and the "
            "screens correlate ranks with the lifespans' log-rank scores (minus the "
            "Nelson–Aalen martingale residuals, computed within the discovery rows and "
            "within the holdout rows separately) as they are, not ranked: the Cox score "
            "(log-rank) statistic of the ranks, whose sign is the Cox coefficient's even "
            "when most rows are censored; permutations move (time, event) pairs together. "
            "On the holdout one model gives each effect, its interval and its one-sided p, "
            "so they agree: Somers' D (2C - 1 of Harrell's concordance; positive = a "
            "higher value goes with a longer life, a lower hazard) with its "
            "infinitesimal-jackknife error"
            " given no covariates; given covariates, minus the Cox coefficient per SD (a "
            "log hazard ratio; Efron ties, the larger of the robust and model-based "
            "errors, Newton steps halved until the partial likelihood rises, a ridge "
            "penalty of 1 where the rows separate, said where used); with a group column "
            "both take the leave-one-group-out jackknife's error (up to 200 groups); "
            "z = effect / error against Student's t with G - 1 degrees of freedom for G "
            "groups, else with the failures less one per parameter. Power and "
            "the holdout size an inconclusive trend needs come from the number of failures "
            "(Schoenfeld's argument on the test's own error).")


def _split(config: AuditConfig) -> str:
    split = config.split
    return (f"Rows were split once into discovery ({1 - split.holdout_fraction:.0%}) and "
            f"holdout ({split.holdout_fraction:.0%}) parts, stratified on {split.n_strata} "
            "quantile strata of the (transformed) lifespan, keeping groups together when a "
            "group column is given. Nothing of the holdout is used for training or "
            f"discovery. Root seed {config.seed}.")


def _networks(config: AuditConfig, n_features: int | None) -> str:
    net, train = config.network, config.training
    widths = " → ".join(["p" if n_features is None else str(n_features),
                         *map(str, net.hidden), "1"])
    layer = net.embedding_layer % len(net.hidden)
    regimes = list(train.regimes) + (["raw screening (no embedding)"]
                                     if config.discovery.raw_screening else [])
    return (f"Feed-forward ReLU regressors {widths}; the embedding is the "
            f"{'pre' if net.pre_activation else 'post'}-activation output of hidden layer "
            f"{layer + 1} ({net.hidden[layer]} axes) for every row. Regimes: "
            f"{', '.join(regimes)}. {_optimizer(config)}, batch size "
            f"{train.batch_size or 'full'}, at most {train.max_epochs} epochs. "
            + " ".join(_regime_sentence(name, config) for name in train.regimes)
            + " Inputs are standardized with the statistics of each network's own training "
            "rows.")


def _resampling(config: AuditConfig) -> str:
    sampling = config.resampling
    crossfit = config.split.crossfit_folds
    return (f"Per regime, one reference network, {sampling.n_bootstrap} bootstrap networks "
            f"(discovery rows resampled) and {sampling.n_permutations} permutation networks "
            "(lifespan permuted within the discovery rows), all trained exactly alike. "
            f"Bootstrap embeddings are aligned to the reference by "
            f"{_ALIGNMENT[sampling.alignment]} fitted on their in-bag rows. Across them: "
            f"{config.statistics.confidence:.0%} intervals of r_ja and r_jy (the percentile "
            "interval of the bootstrap networks' in-bag readings, shifted by their mean bias "
            "so that it is centred on the reference's reading), selection frequency of the "
            "axis, sign consistency and out-of-bag replication (the share whose out-of-bag "
            "rows show the trend at one-sided p ≤ α); these describe stability and decide "
            "no verdict."
            + (f" Cross-fit: {crossfit} folds, each the holdout once for a network trained "
               "on the other folds; replication is reported per fold." if crossfit else ""))


def _discovery(config: AuditConfig, covariates: Sequence[str]) -> str:
    disc, stat = config.discovery, config.statistics
    if disc.mode == "slice":
        reading = (f"slice mode: both correlations are computed on the "
                   f"{disc.slice_fraction:.0%} of discovery rows closest to the median in "
                   "every other live axis (standardized), as an analyst holding the other "
                   "axes fixed would")
    else:
        reading = "axis mode: both correlations are computed on all discovery rows"
    partial = f"; partial Spearman controlling for {', '.join(covariates)}" if covariates \
        else ""
    return (
        "For each live axis j and attribute a: r_ja = Spearman(axis, attribute) and "
        f"r_jy = Spearman(axis, lifespan), in {reading}{partial}. The candidate for a claims "
        "direction sign(r_ja · r_jy) with strength T = |r_ja · r_jy| on its best axis; "
        "categorical attributes enter one-vs-rest. Raw screening uses Spearman(a, y). "
        "Found (the discovery screen, the same in every regime): with the network held "
        f"fixed, the attribute's values are permuted {stat.n_screen_permutations} times "
        "among the discovery rows (within the same groups or strata as the permutation "
        "networks' lifespans); p_carried compares T with T of the permuted attribute (is a "
        "carried by a lifespan-carrying axis beyond chance?), p_association compares "
        "Spearman(a, y) with its permuted values, two-sided, counted only with the claimed "
        "sign. p_discovery is the larger of the two, multiplied by the number of levels "
        f"for a categorical attribute's levels; found: p_discovery ≤ "
        f"{stat.alpha_discovery:g}. Both halves are needed: an axis mixes whatever the "
        "features encode, so an attribute encoded in the features but unrelated to "
        "lifespan is carried by a lifespan-carrying axis far beyond chance, and only its "
        "association with lifespan tells it from a real trend. p_retrained compares T "
        f"with T on the {config.resampling.n_permutations} permutation networks (is the "
        "trend stronger than what a network fitted to noise shows? Person B's question; "
        "Westfall–Young max-T beside it): reported, it decides nothing, because networks "
        "that early-stop on noise, or a linear embedding, learn nothing from permuted "
        "lifespans and make every trend look strong.")


def _verdicts(config: AuditConfig, covariates: Sequence[str], group: str | None,
              event: str | None = None) -> str:
    stat = config.statistics
    test = ("Spearman; partial association by OLS of rank(lifespan) on rank(a) and the "
            "covariates' ranks with HC3 errors" if covariates and not group else "Spearman")
    if group:
        test = (f"rank regression with errors clustered by {group}, referred to its wild "
                "cluster bootstrap (Webb weights, null imposed)"
                + (", partial on the covariates' ranks" if covariates else ""))
    interval = (f"{stat.confidence:.0%} percentile bootstrap ({stat.n_resamples} resamples "
                f"of the holdout {'groups' if group else 'rows'})")
    if event:
        test = ("Somers' D of the censored lifespans, z from its jackknife error" if not
                covariates else "Cox model given the covariates, Wald z") + (
            f", errors clustered by {group}" if group else "")
        interval = (f"{interval_level(stat.alpha):.0%} (the one-sided test's at "
                    f"{stat.alpha:g}: a bound excludes 0 exactly when p < α), effect ± "
                    "the same quantile × its error")
    adjustment = (" The covariate adjustment is linear in the covariates' ranks: a "
                  "confounder that acts non-monotonically (e.g. U-shaped) is not removed."
                  if covariates else "")
    family = ("; one family per attribute: families are selected on one p each (a "
              "categorical attribute's Kruskal–Wallis test of lifespan across its levels) "
              "and the levels of a selected family are tested within it at the level the "
              "selection leaves (Benjamini and Bogomolov)"
              if stat.correction in ("fdr_bh", "fdr_by") else "")
    return (
        f"On the holdout, each found hypothesis is tested one-sided in its claimed "
        f"direction ({test}), adjusted over the regime's found hypotheses by "
        f"{_CORRECTIONS[stat.correction]}{family}. Hypotheses not found are shown with "
        "their holdout numbers but enter no family and get the verdict 'not found'. "
        f"Intervals of the holdout effect: {interval}. Survives: found and q ≤ {stat.alpha:g}; the "
        "embedding-level check (does the axis still order attribute and lifespan on the "
        "holdout, p_embedding) is reported beside it and decides nothing, since the claim "
        "an analyst takes away is the attribute's association with lifespan. Fails: "
        "found, not confirmed, and the holdout shows the opposite direction (q ≤ "
        f"{stat.alpha:g}) or an interval wholly below the smallest effect of interest "
        f"({stat.min_effect:g}). Otherwise inconclusive, reported with the holdout size at "
        f"which {stat.power:.0%} power detects an effect of {stat.min_effect:g} at the "
        "threshold the correction applies to one more hypothesis. Attributes with no trend "
        "at all (every axis dead, or constant on the discovery rows) are listed as "
        f"skipped.{adjustment}")


def _position(config: AuditConfig, lead: str, event: str | None, group: str | None) -> str:
    stat, sampling = config.statistics, config.resampling
    effect = "Somers' D" if event else "Spearman's rho"
    level = 1 - 2 * stat.position_alpha
    return (
        "Three procedures produce leads from the same discovery rows, per regime. Reading "
        "(the analysts' method): per attribute its best axis and sign, kept when the axis "
        f"carries it beyond chance with the network fixed (p_carried ≤ "
        f"{stat.alpha_discovery:g}, Bonferroni over a categorical attribute's levels), with "
        "no association screen. Screened: the readings "
        "that also pass the discovery-row association test (found). Direct: the attributes "
        "screened against lifespan with no network (raw screening's verdicts). A reading "
        f"replicates when its holdout q (over the regime's readings) ≤ {stat.alpha:g} in "
        "its claimed direction; its axis generalizes when the same axis still orders "
        f"attribute and lifespan on the holdout (p_embedding ≤ {stat.alpha:g}). The two are "
        "different claims: an axis mixes whatever the features encode, so axes generalize "
        "where no attribute matters. Person A vs B is decided on the readings of the "
        f"{lead} regime: every network fitted to the real lifespans (the reference and "
        f"the {sampling.n_bootstrap} bootstrap networks, each read along its own axes) is "
        f"summarized by its readings' mean holdout effect ({effect}, signed in the claimed "
        "direction), and their mean is compared with that of the same procedure's readings "
        f"off the {sampling.n_permutations} permutation networks (fitted to permuted "
        "lifespans: chance readings). The advantage's two one-sided normal bounds at "
        f"{stat.position_alpha:g} (together a {level:.0%} interval; its variance from the "
        f"holdout's {stat.n_resamples} resamples of its {'groups' if group else 'rows'}, "
        "shared by both sides, and from how the networks of each side vary, the "
        "interaction of the two counted once) decide: A when the lower bound is above 0 "
        "and the upper bound "
        f"reaches {stat.useful_advantage:g} (a useful advantage); B when the upper bound is "
        f"below {stat.useful_advantage:g}; otherwise undecided, with the holdout rows at "
        f"which the bounds would decide with {stat.power:.0%} power where the networks' "
        "spread allows (fewer than two networks of a side with a reading: undecided). "
        "The comparison is made only where the training rule ended for "
        "the permutation networks as it did for the reference (reached the overfit "
        "tolerance, or stopped early on its validation rows, rather than running out of "
        "epochs; a linear baseline is one closed-form fit, comparable by its rule). "
        "Regimes are compared with the lead on "
        "their readings' mean effect and on the share of readings whose axis generalizes, "
        f"with {stat.confidence:.0%} intervals of the difference (a regime is called better "
        "or worse only where the interval excludes 0), beside holdout loss and the "
        "no-better-than-linear flag. A survivor whose association, partial on the "
        "stronger survivors, no longer holds on the holdout (one-sided p > "
        f"{stat.alpha:g}) is reported as explained by the one it correlates with most: a "
        "proxy, not a distinct lead.")


def _independence(group: str | None) -> str:
    if group:
        return (f"Rows of one {group} were kept together in the split, resampled and "
                "permuted together, and tested with errors clustered by it; rows of "
                "different groups are assumed independent.")
    return ("Rows are assumed independent: every test, interval and permutation treats "
            "them as exchangeable. No group column was given; rows that come in groups "
            "(batches, product lines, repeated measurements) make such tests confirm far "
            "too often. The audit looked for signs of groups (near-duplicate feature rows, "
            "runs of equal or correlated values in the id order); the verdict says what it "
            "found.")


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
    return f"{name}: " + ("" if spec.regularized else "no regularization, ") \
        + ", ".join(parts) + "."


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


def _landscape(config: AuditConfig) -> str:
    land = config.landscape
    others = study_optimizers(config)[1:]
    settings = []
    for optimizer in others:
        training = study_training(config, optimizer)
        search = training.lbfgs_line_search.replace("_", "-")
        settings.append(f"{optimizer}: " + (f"full batch, {search} line search, step "
                                            f"length {training.learning_rate:g}"
                                            if optimizer == "lbfgs" else
                                            f"learning rate {training.learning_rate:g}"))
    study = ("" if not others else
             f" The same points were trained with {', '.join(others)} on the same rows, "
             f"seeds and targets ({'; '.join(settings)}; early stopping matched on the "
             "reference's best validation loss, not on epochs) and compared per optimizer.")
    stopped = (" Paths and basins were also measured between early-stopped points, which "
               "are not minima (the pairs say so)." if land.measure_stopped else "")
    return (f"Per network regime and optimizer, the reference and seed replicates of it "
            f"({land.members} points: the same rows, other initializations) were folded "
            "into common units and polished by L-BFGS (strong Wolfe) on their one loss "
            "(the group's training rows, with the L2 penalty where the regime decays "
            f"weights) to a gradient norm of {land.gradient_tolerance:g} (at most "
            f"{land.polish_iterations} iterations); early-stopped points were not polished. "
            f"Curvature: Lanczos with full re-orthogonalization (at most "
            f"{land.lanczos_steps} steps, to a relative residual of "
            f"{land.lanczos_tolerance:g}) and Hutch++ ({land.trace_products} products), at "
            "the polished and at the canonical point (unit-norm incoming weights per hidden "
            "unit). A point is a minimum when stationary with no eigenvalue below "
            f"-{land.curvature_tolerance:g} λ_max; only minima enter the geometry. Paths: "
            "straight lines before and after weight matching, and Fourier paths with "
            f"{land.fourier_terms} sine terms ({land.path_steps} Adam steps on "
            f"{land.path_rows} rows each) on the spanning tree of the straight heights; "
            "heights are absolute. Basins: the disconnectivity graph (union-find at the "
            f"saddle heights) cut {land.basin_threshold:g} above the lowest minimum, and "
            "monotonic sequence basins. On the holdout, split into a selection and a test "
            "half: specialisation by a gate learned on the selection half against gates "
            "learned on the labels shuffled across rows; one minimum per basin against the best "
            "single minimum (bootstrap interval) and against random ensembles of the same "
            "size. Relevance: the conserved share of each group of correlated inputs' "
            "first-layer weights against permutation importance (5 shuffles per group), "
            "Spearman's ρ with a Fisher-z interval. Geometry vs replication: logistic "
            "regressions within regime and optimizer, errors clustered on the shared "
            "initialization seed, Holm-corrected over the measures." + stopped + study)

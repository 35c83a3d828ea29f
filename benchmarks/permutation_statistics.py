"""Spearman statistics under permuted lifespans, side by side in one process.

Workload: an embedding of 2000 rows × 16 axes, 50 attributes, 10,000 permutations of
the lifespans; for each permutation the whole-axis discovery strength of every
attribute, ``max_j |r_ja · r_jy|`` (800 Spearman correlations with lifespan-dependent
ranks per permutation). Seconds for

  (a) embaudit's ``permutation_strengths`` (ranks once, permuted ranks, GEMMs),
  (b) ``scipy.stats.spearmanr`` per permutation (on all 67 columns at once), timed on a
      few hundred permutations and scaled to 10,000,
  (c) a plain numpy loop that re-ranks per permutation (``rankdata`` + one GEMM),
      timed likewise,

best of a few repeats. Prints a table, then one JSON object as the last line.

    python benchmarks/statistics.py           # the full workload (about 20 s)
    python benchmarks/statistics.py --quick   # 1000 permutations (a few seconds)
    python benchmarks/permutation_statistics.py --censored  # lifespans 50% censored

With ``--censored`` half the lifespans are right-censored: discovery correlates their
log-rank scores (``embaudit.hypotheses.censored.lifespan_scores``) as they are (before
#26 it ranked them; both are timed) with the same ``permutation_strengths``, against (b)
scikit-survival's Harrell's C of every axis per permutation, r_jy = 2C - 1 (timed on a
few permutations and scaled).

(``statistics.py`` runs this file, ``permutation_statistics.py``.)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

import numpy as np
from scipy import stats
from sksurv.metrics import concordance_index_censored

from embaudit.hypotheses.censored import lifespan_scores
from embaudit.hypotheses.ranks import spearman_matrix
from embaudit.hypotheses.resampled import permutation_indices, permutation_strengths

N, K, Q = 2000, 16, 50


def workload(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An embedding (n × k, ReLU-like), attributes (n × q, some binary) and lifespans."""
    rng = np.random.default_rng(seed)
    E = np.maximum(rng.standard_normal((N, K)), 0.0)
    A = E @ rng.standard_normal((K, Q)) + rng.standard_normal((N, Q))
    A[:, : Q // 5] = A[:, : Q // 5] > 0  # binary attributes: ties
    y = E[:, 0] - E[:, 1] + rng.standard_normal(N)
    return E, A, y


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def scipy_loop(E: np.ndarray, A: np.ndarray, y: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Per permutation: scipy's Spearman matrix of [E, A, y_perm], then the strengths."""
    out = np.empty((len(perms), A.shape[1]))
    for row, perm in enumerate(perms):
        r = stats.spearmanr(np.column_stack([E, A, y[perm]])).statistic
        r_attribute, r_lifespan = r[:K, K:K + Q], r[:K, -1]
        out[row] = np.abs(r_attribute * r_lifespan[:, None]).max(axis=0)
    return out


def rerank_loop(E: np.ndarray, A: np.ndarray, y: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Per permutation: re-rank the permuted lifespans and correlate (no shared work
    beyond the attribute correlations)."""
    r_attribute = spearman_matrix(E, A)
    out = np.empty((len(perms), A.shape[1]))
    for row, perm in enumerate(perms):
        r_lifespan = spearman_matrix(E, y[perm])[:, 0]
        out[row] = np.abs(r_attribute * r_lifespan[:, None]).max(axis=0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1000 permutations")
    parser.add_argument("--censored", action="store_true", help="50%% censored lifespans")
    args = parser.parse_args()
    if args.censored:
        censored(args.quick)
        return
    n_permutations = 1_000 if args.quick else 10_000
    n_loop = 20 if args.quick else 300
    E, A, y = workload()

    ours = best_seconds(lambda: permutation_strengths(E, A, y, n_permutations, seed=1), 3)
    perms = permutation_indices(N, n_loop, np.random.default_rng(1))
    scale = n_permutations / n_loop
    scipy_s = best_seconds(lambda: scipy_loop(E, A, y, perms), 2) * scale
    rerank_s = best_seconds(lambda: rerank_loop(E, A, y, perms), 2) * scale
    # the three compute the same statistics on the same permutations
    check = permutation_strengths(E, A, y, n_loop, seed=1)
    np.testing.assert_allclose(check, scipy_loop(E, A, y, perms), atol=1e-9)

    print(f"Spearman statistics: {n_permutations} permutations × {Q} attributes × {K} axes, "
          f"n = {N} ({platform.machine()}, numpy {np.__version__})")
    print(f"{'method':<44}{'seconds':>10}{'ratio':>8}")
    for name, seconds in [("embaudit permutation_strengths", ours),
                          (f"scipy.stats.spearmanr loop (×{scale:.0f}, from {n_loop})", scipy_s),
                          (f"numpy re-rank loop (×{scale:.0f}, from {n_loop})", rerank_s)]:
        print(f"{name:<44}{seconds:>10.3f}{seconds / ours:>8.1f}")
    key = "seconds_10k_perm" if not args.quick else "seconds_1k_perm"
    print(json.dumps({
        "n_permutations": n_permutations, "n": N, "attributes": Q, "axes": K,
        key: round(ours, 4),
        "seconds_10k_perm": round(ours * 10_000 / n_permutations, 4),
        "scipy_seconds": round(scipy_s, 3), "rerank_seconds": round(rerank_s, 3),
        "speedup_vs_scipy": round(scipy_s / ours, 1),
        "speedup_vs_rerank": round(rerank_s / ours, 1),
    }))


def censored(quick: bool) -> None:
    """Discovery strengths of censored lifespans: log-rank scores through
    ``permutation_strengths`` against Harrell's C per axis and permutation."""
    n_permutations = 1_000 if quick else 10_000
    n_loop = 3 if quick else 20
    E, A, y = workload()
    rng = np.random.default_rng(2)
    time_ = np.exp(y)
    censor = np.exp(y + rng.normal(0, 1.5, N))  # about half the rows censored
    observed, event = np.minimum(time_, censor), time_ <= censor
    scores = lifespan_scores(observed, event)
    ours = best_seconds(lambda: permutation_strengths(E, A, scores, n_permutations,
                                                      seed=1, ranked=False), 3)
    ranked = best_seconds(lambda: permutation_strengths(E, A, scores, n_permutations,
                                                        seed=1), 3)
    perms = permutation_indices(N, n_loop, np.random.default_rng(1))
    r_attribute = spearman_matrix(E, A)

    def concordance_loop() -> None:
        for perm in perms:
            r_lifespan = np.array([2 * concordance_index_censored(
                event[perm], observed[perm], -E[:, j])[0] - 1 for j in range(K)])
            np.abs(r_attribute * r_lifespan[:, None]).max(axis=0)

    loop = best_seconds(concordance_loop, 1) * n_permutations / n_loop
    print(f"Censored discovery ({event.mean():.0%} failures): {n_permutations} permutations "
          f"× {Q} attributes × {K} axes, n = {N}")
    print(f"{'method':<52}{'seconds':>10}{'ratio':>8}")
    for name, seconds in [("embaudit log-rank scores, permutation_strengths", ours),
                          ("the same with the scores ranked (before #26)", ranked),
                          (f"scikit-survival Harrell's C per axis (×{n_permutations // n_loop})",
                           loop)]:
        print(f"{name:<52}{seconds:>10.3f}{seconds / ours:>8.1f}")
    print(json.dumps({"censored": True, "n_permutations": n_permutations, "n": N,
                      "attributes": Q, "axes": K, "failures": round(float(event.mean()), 3),
                      "seconds": round(ours, 4), "ranked_scores_seconds": round(ranked, 4),
                      "concordance_loop_seconds": round(loop, 2),
                      "speedup_vs_concordance_loop": round(loop / ours, 1)}))


if __name__ == "__main__":
    main()

"""Aligning member embeddings to the reference, side by side in one process.

Workload: a 2000 × 16 reference and members that are random rotations (reflections
included) of it plus noise and a shift, stored as float32 as trained embeddings are.
Each alignment is fitted on 1400 rows and applied to all 2000. Seconds per 1000 members
for

  (a) embaudit's aligners (``make_aligner``, fitted per member as an audit fits each
      bootstrap member) with orthogonal Procrustes (shared fit rows, and one set of fit
      rows per member, as bootstrap members' in-bag rows are),
  (b) the same with unit matching (permutation + sign),
  (c) ``scipy.spatial.procrustes`` per member, which fits the fit rows only (it
      standardizes both and transforms no other rows), as a point of comparison; run
      with one BLAS thread, as embaudit runs its loops (with the default threads it is
      several times slower on a busy 2-core machine, which says nothing of the method),
  (d) the per-member quality (disparity, PROTEST with 99 permutations, linear CKA),

best of a few repeats. Prints a table, then one JSON object as the last line.

    python benchmarks/alignment.py           # 1000 members (about 30 s)
    python benchmarks/alignment.py --quick   # 100 members (a few seconds)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

import numpy as np
from scipy.spatial import procrustes
from threadpoolctl import threadpool_limits

from embaudit.resampling.alignment import make_aligner
from embaudit.resampling.quality import alignment_quality

N, K, N_FIT, NOISE = 2000, 16, 1400, 0.3


def workload(n_members: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     list[np.ndarray]]:
    """The reference, ``n_members`` rotated noisy copies (float32), shared fit rows and
    one set of fit rows per member."""
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal((N, K)) * np.linspace(2.0, 0.5, K)
    rotations, _ = np.linalg.qr(rng.standard_normal((n_members, K, K)))
    members = reference @ rotations + NOISE * rng.standard_normal((n_members, N, K))
    members += rng.standard_normal((n_members, 1, K))
    shared = np.sort(rng.permutation(N)[:N_FIT])
    per_member = [np.sort(rng.permutation(N)[:N_FIT]) for _ in range(n_members)]
    return reference, members.astype(np.float32), shared, per_member


def align_members(members: np.ndarray, reference: np.ndarray,
                  fit_rows: np.ndarray | list[np.ndarray], method: str = "procrustes"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Every member in the reference's basis and its disparity, one aligner per member
    fitted on its fit rows and applied to all rows (one BLAS thread: tiny matrices)."""
    rows = fit_rows if isinstance(fit_rows, list) else [fit_rows] * len(members)
    aligned, disparity = np.empty(members.shape), np.empty(len(members))
    with threadpool_limits(limits=1, user_api="blas"):
        for i, member in enumerate(members):
            embedding = member.astype(np.float64)
            aligner = make_aligner(method).fit(embedding[rows[i]], reference[rows[i]])
            aligned[i], disparity[i] = aligner.transform(embedding), aligner.disparity_
    return aligned, disparity


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 members (a few seconds)")
    args = parser.parse_args()
    n_members = 100 if args.quick else 1000
    n_quality = 5 if args.quick else 20
    repeats = 3
    reference, members, shared, per_member = workload(n_members)

    def per_1000(run: Callable[[], object], count: int) -> float:
        return best_seconds(run, repeats) * 1000 / count

    def scipy_spatial() -> None:
        with threadpool_limits(limits=1, user_api="blas"):
            for member in members:
                procrustes(reference[shared], member[shared])

    seconds = {
        "procrustes": per_1000(lambda: align_members(members, reference, shared), n_members),
        "procrustes, per-member rows": per_1000(
            lambda: align_members(members, reference, per_member), n_members),
        "units": per_1000(lambda: align_members(members, reference, shared, "units"),
                          n_members),
        "scipy.spatial.procrustes (fit rows only)": per_1000(scipy_spatial, n_members),
        "quality (disparity, PROTEST 99, CKA)": per_1000(
            lambda: [alignment_quality(m[shared], reference[shared]) for m in
                     members[:n_quality]], n_quality),
    }
    counts = {"quality (disparity, PROTEST 99, CKA)": n_quality}
    aligned, disparity = align_members(members, reference, shared)
    error = float(np.sqrt(np.mean((aligned - reference) ** 2)))

    print(f"{n_members} members of {N} × {K} (float32), fit on {N_FIT} rows, applied to all; "
          f"noise sd {NOISE}; best of {repeats}; {platform.processor() or platform.machine()}")
    print(f"{'method':42s} {'members':>8s} {'s / 1000 members':>17s}")
    for name, value in seconds.items():
        print(f"{name:42s} {counts.get(name, n_members):8d} {value:17.3f}")
    print(f"procrustes: median disparity {np.median(disparity):.4f}, rms error of aligned "
          f"rows {error:.3f} (noise {NOISE})")
    print(json.dumps({
        "workload": f"{n_members}x{N}x{K}" + ("-quick" if args.quick else ""),
        "n_members": n_members,
        "seconds_1000_members": round(seconds["procrustes"], 4),
        "seconds_1000_members_per_member_rows": round(seconds["procrustes, per-member rows"], 4),
        "seconds_1000_members_units": round(seconds["units"], 4),
        "seconds_1000_members_scipy_spatial": round(
            seconds["scipy.spatial.procrustes (fit rows only)"], 4),
        "seconds_1000_members_quality": round(
            seconds["quality (disparity, PROTEST 99, CKA)"], 2),
        "median_disparity": round(float(np.median(disparity)), 5),
        "rms_error": round(error, 4),
    }))


if __name__ == "__main__":
    main()

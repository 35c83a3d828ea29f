"""Where a whole audit's time and memory go, stage by stage.

Two audits, each in a process of its own: the demo (the product-lifespan world, 2000
rows × 500 features, the default config with the loss landscape, as ``embaudit demo``
runs it) and a W1-sized audit (the same table, the default config, no landscape).
Per stage: exclusive seconds, share of the whole audit, and peak resident memory
(stages as in ``benchmarks/scale.py``). The question it answers: does any stage other
than training take more than 20% of the audit?

    python benchmarks/audit_profile.py          # both audits (about 6 minutes on 2 cores)
    python benchmarks/audit_profile.py --quick  # a 600-row world, few members (a minute)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

import embaudit
from embaudit.data.worlds import product_lifespan
from scale import StageMeter, instrument

#: name → (rows, features, config)
WORKLOADS: dict[str, tuple[int, int, dict[str, Any]]] = {
    "demo": (2000, 500, {"seed": 0, "landscape": {"enabled": True}}),
    "W1": (2000, 500, {"seed": 0}),
}
QUICK = {"quick": (600, 100, {"seed": 0, "training": {"max_epochs": 30},
                              "resampling": {"n_bootstrap": 4, "n_permutations": 9},
                              "landscape": {"enabled": True, "members": 4}})}
TRAINING = "training"


def profile(name: str, workloads: dict[str, tuple[int, int, dict[str, Any]]]
            ) -> dict[str, Any]:
    """Run one audit under a :class:`StageMeter`; its stages, shares and peaks."""
    n, p, config = workloads[name]
    meter = StageMeter()
    with meter.stage("data"):
        world = product_lifespan(n=n, p=p, seed=0)
    instrument(meter)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        embaudit.audit({**config, "out": out}, table=world.table, progress=False)
        total = time.perf_counter() - start
    meter.stop()
    stages: dict[str, dict[str, float]] = {}
    for stage, seconds in meter.seconds.items():
        key = TRAINING if stage.startswith(TRAINING) else stage.rsplit(" ", 1)[0] \
            if stage.startswith("alignment") else stage
        entry = stages.setdefault(key, {"seconds": 0.0, "peak_mb": 0.0})
        entry["seconds"] += seconds
        entry["peak_mb"] = max(entry["peak_mb"], meter.peak_mb[stage])
    audit_seconds = sum(v["seconds"] for k, v in stages.items() if k not in ("data", "other"))
    for entry in stages.values():
        entry["share"] = entry["seconds"] / audit_seconds
    largest = max((v["share"] for k, v in stages.items()
                   if k not in (TRAINING, "data", "other")), default=0.0)
    return {"workload": name, "rows": n, "features": p, "total_s": round(total, 1),
            "stages": {k: {m: round(x, 3) for m, x in v.items()} for k, v in stages.items()},
            "largest_non_training_share": round(largest, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small world, few members")
    parser.add_argument("--workload", help="run one workload here, print its JSON")
    args = parser.parse_args()
    workloads = QUICK if args.quick else WORKLOADS
    if args.workload:
        print(json.dumps(profile(args.workload, workloads)))
        return
    runs = []
    for name in workloads:
        done = subprocess.run([sys.executable, __file__, "--workload", name,
                               *(["--quick"] if args.quick else [])],
                              check=True, capture_output=True, text=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for run in runs:
        print(f"\n{run['workload']}: {run['rows']} rows × {run['features']} features, "
              f"{run['total_s']} s")
        print(f"{'stage':<28}{'seconds':>10}{'share':>8}{'peak MB':>10}")
        for stage, entry in sorted(run["stages"].items(), key=lambda kv: -kv[1]["seconds"]):
            print(f"{stage:<28}{entry['seconds']:>10.2f}{entry['share']:>8.1%}"
                  f"{entry['peak_mb']:>10.0f}")
    print(json.dumps({"runs": runs, "non_training_at_most_20_percent": all(
        r["largest_non_training_share"] <= 0.2 for r in runs)}))


if __name__ == "__main__":
    main()

"""Crash safety and determinism of whole audits run as a user runs them (the CLI in a
process of its own): ten SIGKILLs at random moments, each followed by a resume, end in
the uninterrupted run's report.json byte for byte; the store opens after every kill; the
same config and seed give the same report.json again, and with two threads. A local
worker process does not outlive a killed audit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import embaudit
from embaudit.core.regimes import REGIMES
from embaudit.store import AuditStore
from exactness import blas_is_exact

#: the moment every report claims to be generated at (reports then compare byte for byte)
EPOCH = "1700000000"
KILLS = 10
CONFIG = """seed = 2
[resampling]
n_bootstrap = 6
n_permutations = 19
[training]
regimes = ["overfit", "regularized", "linear"]
max_epochs = 60
chunk_size = 4
"""


def _command(folder: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "embaudit.cli", "audit", "--data", str(folder / "world.csv"),
            "--target", "lifespan_days",
            "--attributes", (folder / "attributes.txt").read_text(),
            "--features", "f*", "--id", "product_id", "--config", str(folder / "audit.toml"),
            "--out", str(out)]


def _environment(threads: int = 1) -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads)}


def _run(folder: Path, out: Path, threads: int = 1) -> float:
    """Run the audit to its end; its wall time in seconds."""
    start = time.monotonic()
    done = subprocess.run(_command(folder, out), capture_output=True, text=True, timeout=900,
                          env=_environment(threads))
    assert done.returncode == 0, done.stderr
    return time.monotonic() - start


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The data, config and an uninterrupted audit (one thread): its folder, its time."""
    folder = tmp_path_factory.mktemp("crash")
    world = embaudit.worlds.product_lifespan(n=500, p=60, seed=2)
    world.frame.to_csv(folder / "world.csv", index=False)
    (folder / "audit.toml").write_text(CONFIG)
    (folder / "attributes.txt").write_text(",".join(world.table.attributes))
    return folder, _run(folder, folder / "whole")


def _check_store_opens(out: Path) -> int:
    """Open the store as a resume would and read back every finished member (each file
    checked against its checksum); the number of finished members."""
    store = AuditStore(out)
    assert store.tables() == [] or "identity" in store.read_metadata()
    finished = 0
    for regime in REGIMES:
        members = sorted(store.finished_members(regime))
        if members:
            embeddings = store.read_members(regime, members).embeddings
            assert np.isfinite(embeddings).all()
        finished += len(members)
    if (out / "report.json").exists():  # reports are replaced whole, never half-written
        json.loads((out / "report.json").read_text())
    return finished


def _members_of(out: Path) -> int:
    return len(AuditStore(out).read_table("members"))


@pytest.mark.slow
def test_ten_kills_at_random_moments_each_resume_to_the_uninterrupted_report(
        whole: tuple[Path, float]) -> None:
    """Half the kills land while members train (a random delay after the run stored
    its first chunk), the others at a random moment of a run (statistics and reports,
    once every member has finished)."""
    folder, duration = whole
    total = _members_of(folder / "whole")
    chunks = len(list((folder / "whole" / "members").glob("*/*.parquet")))
    out, rng = folder / "killed", np.random.default_rng(13)
    moments: list[str] = []
    for _ in range(4 * KILLS):
        if len(moments) == KILLS:
            break
        start = time.monotonic()
        process = subprocess.Popen(_command(folder, out), env=_environment(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stored = _stored_chunks(out)
        if len(moments) < KILLS // 2 and stored < chunks - 1:
            while _stored_chunks(out) <= stored and process.poll() is None:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
        try:  # else at a random moment, the run's length estimated by the last one
            process.wait(timeout=0 if len(moments) < KILLS // 2 and stored < chunks - 1
                         else rng.uniform(0.3, 0.95) * duration)
            assert process.returncode == 0
            duration = time.monotonic() - start
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            finished = _check_store_opens(out)
            moments.append("training" if finished < total else "statistics or reports")
    assert len(moments) == KILLS, moments
    assert moments.count("training") >= 3 and moments.count("statistics or reports") >= 3, \
        moments
    _run(folder, out)
    assert (out / "report.json").read_bytes() == (folder / "whole" / "report.json").read_bytes()
    assert _check_store_opens(out) == total


def _stored_chunks(out: Path) -> int:
    return len(list((out / "members").glob("*/*.parquet")))


@pytest.mark.slow
def test_the_same_config_and_seed_give_the_same_report_again_and_with_two_threads(
        whole: tuple[Path, float]) -> None:
    folder, _ = whole
    expected = (folder / "whole" / "report.json").read_bytes()
    _run(folder, folder / "again")
    assert (folder / "again" / "report.json").read_bytes() == expected
    _run(folder, folder / "two_threads", threads=2)
    two, one = (json.loads((folder / name / "report.json").read_bytes())
                for name in ("two_threads", "whole"))
    # how the members were computed (thread counts included) is the one part that differs
    compute = [report.pop("compute")["paths"] for report in (two, one)]
    assert [{p["path"] for p in paths} for paths in compute] == \
        [{p["path"] for p in compute[1]}] * 2
    if blas_is_exact():
        assert two == one
    else:  # rounding differs by thread count: the documented tolerance of a member
        _assert_close(two, one)


def _assert_close(found: object, expected: object, path: str = "") -> None:
    """Equal structure, equal text and verdicts; numbers within 1e-4 (relative)."""
    if isinstance(expected, dict):
        assert isinstance(found, dict) and found.keys() == expected.keys(), path
        for key in expected:
            _assert_close(found[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(found, list) and len(found) == len(expected), path
        for index, (a, b) in enumerate(zip(found, expected, strict=True)):
            _assert_close(a, b, f"{path}[{index}]")
    elif isinstance(expected, float) and isinstance(found, float):
        assert found == pytest.approx(expected, rel=1e-4, abs=1e-6), path
    else:
        assert found == expected, path


#: a process with one local worker that prints the worker's id, then waits to be killed
_POOL = """
import os, time
from embaudit.training.execution import WorkerPool
with WorkerPool(1) as pool:
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(120)
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (an exited process its new parent has not reaped yet, a
    zombie, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_process_exits_soon_after_its_parent_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _POOL], stdout=subprocess.PIPE,
                              text=True, env=_environment())
    try:
        worker = int(parent.stdout.readline())
        assert _running(worker)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(worker)

"""Run a regime's members: in local worker processes or on a Dask cluster, resuming from
a store.

Members train in chunks. Several single-thread processes, each training its own chunks,
get more out of a machine's cores than one process whose small matrix products are
split across threads (``benchmarks/training_throughput.py`` measures both), so local
training runs one worker process per core, and a Dask cluster gets one chunk per worker
thread at least (more where the chunk budget asks). Each finished chunk goes to the
store at once, and members the store already holds are not trained again, so an
interrupted audit resumes where it stopped. A member's results do not depend on which
chunk, process or thread count trained it (bit for bit where the BLAS is exact in that
sense; within rounding elsewhere), so local, resumed and Dask runs give the same
results.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as futures_completed
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch

try:  # the optional Dask executor
    from distributed import Client, LocalCluster, WorkerPlugin, as_completed
except ImportError:  # pragma: no cover - without the dask extra
    Client = LocalCluster = as_completed = None
    WorkerPlugin = object

from embaudit.config import ExecutionConfig
from embaudit.core.members import MemberSpec
from embaudit.core.regimes import REGIMES
from embaudit.errors import ConfigError
from embaudit.store import AuditStore
from embaudit.training.fit import (
    EnsembleFit,
    Progress,
    chunk_members,
    combine_fits,
    fit_ensemble,
)
from embaudit.training.job import TrainingJob


def train_members(
    job: TrainingJob,
    members: Sequence[MemberSpec],
    *,
    store: AuditStore | None = None,
    client: Any = None,
    progress: Progress | None = None,
    keep_state: bool = False,
) -> EnsembleFit:
    """Train the members ``store`` does not hold yet; return all of them, in order.

    ``client`` sends chunks to worker processes (a ``distributed.Client``, or the
    :class:`WorkerPool` of :func:`cluster_client`); without one they train here.
    Network weights come back only with ``keep_state`` (the loss landscape reads them);
    otherwise they stay on the store's disk (``AuditStore.read_members`` loads them) or,
    without a store, are discarded. With a store, every member's results are read back
    from it, so a resumed audit assembles exactly what an uninterrupted one does.
    ``progress`` hears (members done, members in all) when training starts, then as
    members (here) or chunks (in workers) finish. A cluster's workers write no logs.
    """
    regime, training = job.regime, job.training
    done = store.finished_members(regime) if store is not None else set()
    todo = [m for m in members if m.member_id not in done]
    fits: list[EnsembleFit] = []

    def finished(fit: EnsembleFit) -> None:
        if store is not None:
            store.write_chunk(regime, fit)
        else:
            fits.append(fit)

    if isinstance(client, WorkerPool) and training.device != "cpu":
        client = None  # a GPU trains in this process (CUDA does not survive a fork)
    on_cluster = client is not None and not isinstance(client, WorkerPool)
    workers = client.n_workers if isinstance(client, WorkerPool) else \
        _cluster_threads(client) if on_cluster else 1
    chunks = chunk_members(todo, job.X.shape, job.network, training, workers,
                           spread=on_cluster) \
        if REGIMES[regime].trains_network else ([todo] if todo else [])
    count = len(members) - len(todo)
    if progress is not None and todo:  # the stage shows (and its clock runs) at once
        progress(count, len(members))
    if client is None or (isinstance(client, WorkerPool) and len(chunks) <= 1):
        for chunk in chunks:
            report = None if progress is None else \
                (lambda done_here, _, base=count: progress(base + done_here, len(members)))
            finished(fit_ensemble(job, chunk, report))
            count += len(chunk)
    elif isinstance(client, WorkerPool):
        futures = [client.submit(fit_ensemble, job, chunk) for chunk in chunks]
        _collect(futures, futures_completed, finished, progress, count, len(members))
    else:
        _train_on_cluster(client, replace(job, log_dir=None), chunks, finished, progress,
                          count, len(members))
    ids = [m.member_id for m in members]
    if store is not None:
        return store.read_members(regime, ids, with_state=keep_state)
    fit = combine_fits(fits, ids)
    return fit if keep_state else replace(fit, state={})


def _cluster_threads(client: Any) -> int:
    """How many chunks a Dask cluster trains at once: its workers' threads (at least 1,
    for a scheduler whose workers have not joined yet)."""
    return max(1, sum(client.nthreads().values()))


def _train_on_cluster(client: Any, job: TrainingJob, chunks: list[list[MemberSpec]],
                      finished: Callable[[EnsembleFit], None], progress: Progress | None,
                      count: int, total: int) -> None:
    """Chunks on the cluster; each result is stored as it arrives and then released.

    The job (its data) goes to every worker once, not with each chunk. A failing chunk
    does not lose the others: every finished chunk is stored before the first error is
    raised, so a resumed audit retrains only what failed.
    """
    shared = client.scatter(job, broadcast=True, hash=False)
    futures = [client.submit(fit_ensemble, shared, chunk, pure=False) for chunk in chunks]
    _collect(futures, as_completed, finished, progress, count, total)


def _collect(futures: list[Any], completed: Callable[[list[Any]], Iterator[Any]],
             finished: Callable[[EnsembleFit], None], progress: Progress | None,
             count: int, total: int) -> None:
    """Store each chunk's result as it arrives (Dask or ``concurrent.futures``)."""
    errors: list[BaseException] = []
    for future in completed(futures):
        try:
            fit = future.result()
        except Exception as error:  # stored below, re-raised once the rest is safe
            errors.append(error)
            continue
        finally:
            if hasattr(future, "release"):
                future.release()
        finished(fit)
        count += len(fit.member_ids)
        if progress is not None:
            progress(count, total)
    if errors:
        raise errors[0]


class WorkerPool(ProcessPoolExecutor):
    """Local single-thread worker processes that train chunks side by side."""

    def __init__(self, n_workers: int) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        super().__init__(n_workers, multiprocessing.get_context(method),
                         initializer=_single_thread_worker, initargs=(os.getpid(),))
        self.n_workers = n_workers


#: how often a worker process checks that its parent is still there (seconds)
_PARENT_POLL_S = 0.2


def _single_thread_worker(parent: int) -> None:
    """A worker process of ``parent``: one thread of torch, and gone soon after its
    parent dies."""
    torch.set_num_threads(1)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True,
                     name="embaudit-parent-watch").start()


def _exit_with_parent(parent: int) -> None:
    """Exit this process once ``parent`` is gone (killed, say, mid-audit): an orphan is
    adopted by another process, so its parent id changes. Without this a worker lives
    on, waiting for tasks or training a chunk for nobody beside the resumed audit."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(1)


def local_workers(execution: ExecutionConfig) -> int:
    """How many processes train locally: ``n_workers``, else one per core."""
    return execution.n_workers or os.cpu_count() or 1


@contextmanager
def cluster_client(execution: ExecutionConfig) -> Iterator[Any]:
    """Where chunks train: a Dask client for ``executor="dask"`` (its own LocalCluster
    unless a scheduler is given); locally a pool of single-thread worker processes
    (forked where the platform allows, so they start at once), or None for one."""
    if execution.executor != "dask":
        workers = local_workers(execution)
        if workers <= 1:
            yield None
            return
        with WorkerPool(workers) as pool:
            yield pool
        return
    if Client is None:
        raise ConfigError("execution.executor='dask' needs the optional Dask dependency: "
                          "pip install 'embaudit[dask]', or use executor='local'.")
    if execution.scheduler:
        try:
            client = Client(execution.scheduler, timeout="20s")
        except OSError as error:
            raise ConfigError(f"Cannot reach the Dask scheduler at "
                              f"{execution.scheduler!r} ({error}); check the address (option "
                              "execution.scheduler / --scheduler).") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=local_workers(execution), threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.register_plugin(_QuickExit(), name="embaudit-quick-exit")
        yield client


class _QuickExit(WorkerPlugin):
    """Lets a worker of the audit's own LocalCluster exit within the nanny's grace period.

    A worker that imported torch and Lightning holds ~400,000 objects in ~3,300 modules;
    CPython's shutdown runs full garbage collections over them while it tears the
    modules down, ~2 s per process alone and over the nanny's 4 s with two workers on
    two cores, so the nanny logged "Worker process still alive after 4.0 seconds,
    killing" and killed it. Frozen objects are left out of those collections (their
    memory goes back with the process); nothing of the worker's is needed by then.
    """

    def teardown(self, worker: Any) -> None:
        gc.freeze()

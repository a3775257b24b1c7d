"""Run checks as independent tasks: in this process, in local worker processes, or on Dask.

A task is ``(claim id, check name)``; a worker resolves both through the registry and runs
:func:`lora_theorems.checks.run_check` with the run's :class:`RunConfig`. Each check has
its own seed and one BLAS thread, so a task's evidence does not depend on where or in what
order it ran; results are put back in the declared order, so the ledger (and the report)
is the same bytes for ``jobs=1``, ``jobs=N`` and a Dask cluster.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterable, Sequence

from .checks import run_check
from .config import RunConfig
from .ledger import Evidence
from .registry import checks_of, get_claim

__all__ = ["Task", "run_tasks", "tasks_of"]

Task = tuple[str, str]


def tasks_of(claim_ids: Iterable[str]) -> list[Task]:
    """The checks of ``claim_ids``, in declared order, as ``(claim id, check name)`` tasks."""
    return [(cid, spec.name) for cid in claim_ids for spec in checks_of(cid)]


def run_task(task: Task, config: RunConfig) -> Evidence:
    """Run one task (in any process: it resolves the claim and check by name)."""
    claim_id, name = task
    claim = get_claim(claim_id)
    spec = next(s for s in checks_of(claim.id) if s.name == name)
    return run_check(claim, spec, config)


def run_tasks(tasks: Sequence[Task], config: RunConfig) -> list[Evidence]:
    """Run ``tasks`` as ``config`` says (serially, ``config.jobs`` processes, or on Dask)
    and return their evidence in the order of ``tasks``."""
    n = len(tasks)
    if config.dask is not None:
        return _run_dask(tasks, config)
    if config.jobs == 1 or n <= 1:
        out = []
        for i, task in enumerate(tasks, 1):
            config.report(f"{task[0]} [{i}/{n}] {task[1]}")
            out.append(run_task(task, config))
        return out
    worker = config.for_worker()
    results: dict[int, Evidence] = {}
    # spawn, not fork: workers start clean (no inherited BLAS or matplotlib state)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(config.jobs, n), mp_context=ctx) as pool:
        pending = {pool.submit(run_task, t, worker): i for i, t in enumerate(tasks)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                results[i] = fut.result()
                config.report(f"{tasks[i][0]} [{len(results)}/{n}] {tasks[i][1]} done")
    return [results[i] for i in range(n)]


def _run_dask(tasks: Sequence[Task], config: RunConfig) -> list[Evidence]:
    from distributed import Client, as_completed

    worker = config.for_worker()
    with Client(config.dask) as client:
        futures = [client.submit(run_task, t, worker, pure=False) for t in tasks]
        index = {f.key: i for i, f in enumerate(futures)}
        for k, fut in enumerate(as_completed(futures), 1):
            i = index[fut.key]
            config.report(f"{tasks[i][0]} [{k}/{len(tasks)}] {tasks[i][1]} done (dask)")
        return [f.result() for f in futures]

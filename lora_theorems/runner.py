"""Run checks as independent tasks: in this process, in local worker processes, or on Dask.

A task is ``(claim id, check name)``; a worker resolves both through the registry and runs
:func:`lora_theorems.checks.run_check` with the run's :class:`RunConfig`. Each check has
its own seed and one BLAS thread, so a task's evidence does not depend on where or in what
order it ran; results are put back in the declared order, so the ledger (and the report)
is the same bytes for ``jobs=1``, ``jobs=N`` and a Dask cluster.

Scheduling (parallel runs only; a serial run keeps the declared order):

* **Units.** Checks of one claim that read the same cached sweep (a claim module declares
  them in ``RUN_TOGETHER``, a tuple of tuples of check names; claim L8 does, one group per
  regime) run as one unit in one worker, so the sweep is computed once, not once per worker.
  Every other check is a unit of its own.
* **Longest first.** Units are submitted in decreasing order of their estimated cost, so the
  long checks start at once and the short ones fill the gaps (the LPT rule: the makespan is
  at most 4/3 of the optimum).  The estimate of a check is, in this order: the run's
  ``config.costs`` (the per-check ``elapsed_s`` of a previous report's ``run.json``, which
  :func:`lora_theorems.report.write_report` passes on), the static :data:`COST_HINTS`
  (seconds of the full profile, measured), or 1 second.  Estimates only order the work; they
  never change what a check computes.

Local workers are *spawned* (clean processes, no inherited BLAS or matplotlib state), so a
script that runs checks with ``jobs > 1`` must guard its entry point with
``if __name__ == "__main__":`` (Python's rule for spawned processes; the CLI does).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from .checks import run_check
from .config import RunConfig
from .ledger import Evidence
from .registry import checks_of, get_claim

__all__ = ["COST_HINTS", "Task", "Workers", "dask_client", "estimate_cost", "run_tasks", "schedule", "tasks_of"]

Task = tuple[str, str]

#: Static cost hints, ``"claim/check" -> seconds``: the checks of 0.5 s and more in the committed
#: full-profile report's run.json (seed 0, one BLAS thread per check; regenerated 2026-11-30 after
#: the second round of issue 11's speed-ups).  Only the order matters; a stale entry costs
#: balance, never correctness.  A previous report's timings in the output directory take precedence.
COST_HINTS: Mapping[str, float] = {
    "L1/eq9_neuron_sum_as_written": 0.6, "L1/eq9_normalized": 1.4, "L1/relu_erf_closed_forms": 4.0,
    "L1/analytic_ntk_matches_mpmath": 0.9, "L1/empirical_to_analytic": 8.3, "L1/kernel_drift_in_training": 6.8,
    "L4/nsd_sweep": 3.2, "L4/nsd_probability": 4.1, "L4/nsd_uniform_sweep": 2.7, "L4/uniform_r1_surely": 2.2,
    "L4/corrected_spectrum": 4.3, "L4/corrected_whp_bound": 9.3, "L4/r1_closed_form": 0.6,
    "L5/operator_norm_growth": 13.2, "L5/kernel_difference_rate": 5.4, "L5/weak_convergence": 2.3,
    "L7/variance_hypothesis": 0.6, "L7/log_pdet_equal_rank": 1.0, "L8/f1_label_flip_kernel": 2.5,
    "L8/f1_label_flip_finite": 7.1, "L8/f2_backdoor_finite": 0.5, "L8/f4_variance_finite": 0.7,
    "M2/m2_variance_monte_carlo": 2.2, "M2/m2_other_inits": 5.5, "M2/m2_covariance_monte_carlo": 1.9,
    "M3/m3_coordinate_kolmogorov": 5.7, "M3/m3_matrix_tv_is_one": 4.2, "M4/m4_membership_inference": 2.8,
    "M4/m4_vector_step_audit": 3.3, "M5/m5_jl_empirical": 2.4, "M5/m5_accountant_vs_attack": 2.0,
    "H1/h1_first_term_quadrature": 1.2, "H1/h1_audit_dp": 5.6, "H2/h2_symmetry_distinguisher": 1.2,
    "H3/h3_mia_digits": 1.2,
}
_DEFAULT_COST = 1.0


def tasks_of(claim_ids: Iterable[str]) -> list[Task]:
    """The checks of ``claim_ids``, in declared order, as ``(claim id, check name)`` tasks."""
    return [(cid, spec.name) for cid in claim_ids for spec in checks_of(cid)]


def run_task(task: Task, config: RunConfig) -> Evidence:
    """Run one task (in any process: it resolves the claim and check by name)."""
    claim_id, name = task
    claim = get_claim(claim_id)
    spec = next(s for s in checks_of(claim.id) if s.name == name)
    return run_check(claim, spec, config)


def run_unit(unit: Sequence[Task], config: RunConfig) -> list[Evidence]:
    """Run the tasks of one unit in this process, in order (they share the process's caches)."""
    return [run_task(t, config) for t in unit]


def estimate_cost(task: Task, costs: Mapping[str, float] | None = None) -> float:
    """Estimated seconds of ``task``: ``costs`` (a previous run's timings), then :data:`COST_HINTS`, then 1."""
    key = f"{task[0]}/{task[1]}"
    for table in (costs or {}, COST_HINTS):
        v = table.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
            return float(v)
    return _DEFAULT_COST


def _run_together(claim_id: str) -> tuple[tuple[str, ...], ...]:
    """The ``RUN_TOGETHER`` groups of a claim's module (check names that share cached work)."""
    specs = checks_of(claim_id)
    if not specs:
        return ()
    mod = sys.modules.get(specs[0].func.__module__)
    groups = getattr(mod, "RUN_TOGETHER", ())
    return tuple(tuple(g) for g in groups)


def schedule(tasks: Sequence[Task], costs: Mapping[str, float] | None = None) -> list[list[int]]:
    """Group ``tasks`` into units (indices into ``tasks``) and order the units longest first.

    Tasks named together in their claim's ``RUN_TOGETHER`` form one unit (in declared order);
    ties in cost keep the declared order, so the schedule is deterministic.
    """
    group_of: dict[Task, tuple[str, int]] = {}
    for cid in dict.fromkeys(t[0] for t in tasks):
        for gi, names in enumerate(_run_together(cid)):
            for name in names:
                group_of[(cid, name)] = (cid, gi)
    units: dict[object, list[int]] = {}
    for i, t in enumerate(tasks):
        units.setdefault(group_of.get(t, i), []).append(i)
    ordered = sorted(units.values(), key=lambda u: (-sum(estimate_cost(tasks[i], costs) for i in u), u[0]))
    return ordered


class Workers:
    """Where a run's work executes: this process (``config.jobs == 1``), ``config.jobs`` spawned
    local processes, or the Dask scheduler at ``config.dask``; a context manager (only ``jobs``
    and ``dask`` of ``config`` are read).

    One instance can serve a whole report: :meth:`run_tasks` runs the checks (longest first) and,
    with local worker processes, :meth:`submit` runs follow-up work on the same processes (the
    report's figures) without starting a second pool.  Work submitted while checks still run
    waits in the pool's FIFO queue behind every check unit, so it fills the idle tail of the run
    rather than delaying a check.
    """

    def __init__(self, config: RunConfig):
        self.config = config
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None

    @property
    def local_processes(self) -> bool:
        """True inside the context when the work runs in local worker processes (so files they
        write land in this file system, and :meth:`submit` has somewhere to send work)."""
        return self._pool is not None

    def __enter__(self) -> Workers:
        if self.config.dask is not None:
            self._client = dask_client(self.config.dask)
        elif self.config.jobs > 1:
            # spawn, not fork: workers start clean (no inherited BLAS or matplotlib state)
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(max_workers=self.config.jobs, mp_context=ctx)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on one of the local worker processes (``ValueError`` without them)."""
        if self._pool is None:
            raise ValueError("submit needs local worker processes (jobs > 1, no dask)")
        return self._pool.submit(fn, *args)

    def run_tasks(
        self, tasks: Sequence[Task], config: RunConfig, on_result: Callable[[Evidence], None] | None = None
    ) -> list[Evidence]:
        """Run ``tasks`` with ``config`` (its profile, seed, backend, costs; where they run is this
        object's) and return their evidence in the order of ``tasks``; ``on_result(evidence)`` is
        called in this process as each one arrives (in completion order)."""
        on_result = on_result or (lambda ev: None)
        n = len(tasks)
        if self._client is not None:
            return self._run_dask(tasks, config, on_result)
        if self._pool is None or n <= 1:
            out = []
            for i, task in enumerate(tasks, 1):
                config.report(f"{task[0]} [{i}/{n}] {task[1]}")
                out.append(run_task(task, config))
                on_result(out[-1])
            return out
        worker = config.for_worker()
        units = schedule(tasks, config.costs)
        results: dict[int, Evidence] = {}
        pending = {self._pool.submit(run_unit, [tasks[i] for i in u], worker): u for u in units}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                unit = pending.pop(fut)
                for i, ev in zip(unit, fut.result(), strict=True):
                    results[i] = ev
                    config.report(f"{tasks[i][0]} [{len(results)}/{n}] {tasks[i][1]} done")
                    on_result(ev)
        return [results[i] for i in range(n)]

    def _run_dask(self, tasks: Sequence[Task], config: RunConfig, on_result: Callable[[Evidence], None]) -> list[Evidence]:
        from distributed import as_completed

        worker = config.for_worker()
        units = schedule(tasks, config.costs)
        # priority: the scheduler starts the longest units first (same order as local runs)
        futures = [
            self._client.submit(run_unit, [tasks[i] for i in u], worker, pure=False, priority=len(units) - k)
            for k, u in enumerate(units)
        ]
        unit_of = {f.key: u for f, u in zip(futures, units, strict=True)}
        results: dict[int, Evidence] = {}
        for fut in as_completed(futures):
            unit = unit_of[fut.key]
            for i, ev in zip(unit, fut.result(), strict=True):
                results[i] = ev
                config.report(f"{tasks[i][0]} [{len(results)}/{len(tasks)}] {tasks[i][1]} done (dask)")
                on_result(ev)
        return [results[i] for i in range(len(tasks))]


def run_tasks(
    tasks: Sequence[Task],
    config: RunConfig,
    *,
    workers: Workers | None = None,
    on_result: Callable[[Evidence], None] | None = None,
) -> list[Evidence]:
    """Run ``tasks`` as ``config`` says (serially, ``config.jobs`` processes, or on Dask) and
    return their evidence in the order of ``tasks``; on ``workers`` when given (a
    :class:`Workers` already entered, e.g. shared with the report's figures)."""
    if workers is not None:
        return workers.run_tasks(tasks, config, on_result)
    with Workers(config) as w:
        return w.run_tasks(tasks, config, on_result)


def dask_client(address: str, timeout_s: float = 20.0) -> Any:
    """A ``distributed.Client`` connected to the scheduler at ``address``, or ``ValueError`` in one
    line: any failure to connect (OSError, a malformed address, distributed's own loop start-up
    assertion on a loaded machine) means the scheduler is not usable."""
    import gc

    from distributed import Client

    try:
        return Client(address, timeout=timeout_s)
    except Exception as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
    # Raised outside the except block, so the error does not keep the failed, half-started Client
    # alive as its __context__; collected now, its __del__ (which stops distributed's shared event
    # loop) cannot run later inside another Client's start-up, where it deadlocks on the loop's lock.
    gc.collect()
    raise ValueError(f"cannot reach the Dask scheduler at {address!r}: {why}")

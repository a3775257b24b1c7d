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
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from .checks import run_check
from .config import RunConfig
from .ledger import Evidence
from .registry import checks_of, get_claim

__all__ = ["COST_HINTS", "Task", "estimate_cost", "run_tasks", "schedule", "tasks_of"]

Task = tuple[str, str]

#: Static cost hints, ``"claim/check" -> seconds`` (full profile, one core, seed 0; from the
#: committed report's run.json; checks that changed since then (L1, L4, L8, M2, H1) re-measured
#: on 2026-11-30): checks of 1 s and more.  Only the order matters; a stale
#: entry costs balance, never correctness.  A previous report's timings take precedence.
COST_HINTS: Mapping[str, float] = {
    "L1/eq9_neuron_sum_as_written": 1.2, "L1/eq9_normalized": 1.1, "L1/relu_erf_closed_forms": 23.0,
    "L1/empirical_to_analytic": 24.0, "L1/kernel_drift_in_training": 5.3,
    "L4/nsd_sweep": 20.7, "L4/nsd_probability": 17.7, "L4/nsd_uniform_sweep": 17.0, "L4/uniform_r1_surely": 1.6,
    "L4/corrected_spectrum": 3.2, "L4/corrected_whp_bound": 14.0,
    "L5/operator_norm_growth": 10.3, "L5/kernel_difference_rate": 8.9, "L5/weak_convergence": 4.0,
    "L7/ib_log_pdet_layer": 1.0, "L7/ib_log_pdet_kernel": 1.7, "L7/ib_trace_layer": 1.0,
    "L7/renyi_all_alpha_layer": 1.9, "L7/renyi_all_alpha_kernel": 1.6, "L7/renyi_normalized_layer": 1.0,
    "L7/renyi_normalized_kernel": 1.6, "L7/h_inf_max_layer": 1.0, "L7/variance_hypothesis": 8.9,
    "L7/loewner_monotone_random": 6.4, "L7/loewner_monotone_networks": 3.9, "L7/log_pdet_equal_rank": 7.8,
    "L7/figure3_heatmaps": 1.4,
    "L8/f1_label_flip_kernel": 6.0, "L8/f1_label_flip_finite": 12.5, "L8/f3_rank_finite": 2.0,
    "L8/f4_variance_finite": 2.5, "L8/f2_backdoor_finite": 1.1,
    "M2/m2_variance_monte_carlo": 3.0, "M2/m2_other_inits": 5.6, "M2/m2_covariance_monte_carlo": 2.0,
    "M3/m3_coordinate_kolmogorov": 18.7, "M3/m3_coordinate_tv": 15.0, "M3/m3_coordinate_marginal": 17.2,
    "M3/m3_matrix_tv_is_one": 3.5,
    "M5/m5_jl_tail_exact": 9.0, "M5/m5_jl_empirical": 11.9, "M5/m5_accountant_vs_attack": 1.5,
    "H1/h1_audit_dp": 16.0,
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
    units = schedule(tasks, config.costs)
    results: dict[int, Evidence] = {}
    # spawn, not fork: workers start clean (no inherited BLAS or matplotlib state)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(config.jobs, len(units)), mp_context=ctx) as pool:
        pending = {pool.submit(run_unit, [tasks[i] for i in u], worker): u for u in units}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                unit = pending.pop(fut)
                for i, ev in zip(unit, fut.result(), strict=True):
                    results[i] = ev
                    config.report(f"{tasks[i][0]} [{len(results)}/{n}] {tasks[i][1]} done")
    return [results[i] for i in range(n)]


def _run_dask(tasks: Sequence[Task], config: RunConfig) -> list[Evidence]:
    from distributed import Client, as_completed

    worker = config.for_worker()
    units = schedule(tasks, config.costs)
    try:
        client = Client(config.dask, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"cannot reach the dask scheduler at {config.dask}: {exc}") from None
    with client:
        # priority: the scheduler starts the longest units first (same order as local runs)
        futures = [
            client.submit(run_unit, [tasks[i] for i in u], worker, pure=False, priority=len(units) - k)
            for k, u in enumerate(units)
        ]
        unit_of = {f.key: u for f, u in zip(futures, units, strict=True)}
        results: dict[int, Evidence] = {}
        for fut in as_completed(futures):
            unit = unit_of[fut.key]
            for i, ev in zip(unit, fut.result(), strict=True):
                results[i] = ev
                config.report(f"{tasks[i][0]} [{len(results)}/{len(tasks)}] {tasks[i][1]} done (dask)")
    return [results[i] for i in range(len(tasks))]

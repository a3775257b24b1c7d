"""The runner (issue 11): checks as independent tasks give the same evidence serially, in
local processes and on a Dask cluster; the run configuration is validated once."""

from __future__ import annotations

import importlib.util
import json

import pytest

import lora_theorems as lt
from lora_theorems.config import RunConfig

IDS = ["L3", "L6"]  # fast claims with numeric, symbolic and finding checks


def _strip(ledger) -> str:
    doc = ledger.to_json()
    for c in doc["claims"]:
        for e in c["evidence"]:
            e.pop("elapsed_s")
    return json.dumps(doc, sort_keys=True)


def test_two_local_processes_give_the_same_evidence_as_one():
    serial = lt.build_ledger(IDS, profile="quick", seed=3, jobs=1)
    parallel = lt.build_ledger(IDS, profile="quick", seed=3, jobs=2)
    assert _strip(serial) == _strip(parallel)
    assert [e.check for r in parallel.results for e in r.evidence] == [e.check for r in serial.results for e in r.evidence]


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="needs lora-theorems[dask]")
def test_dask_local_cluster_gives_the_same_evidence():
    from distributed import LocalCluster

    serial = lt.build_ledger(IDS, profile="quick", seed=3)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = lt.build_ledger(IDS, profile="quick", seed=3, dask=cluster.scheduler_address)
    assert _strip(serial) == _strip(on_dask)


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"jobs": 0}, "jobs must be a positive integer, got 0"),
        ({"jobs": 1.5}, "jobs must be a positive integer, got 1.5"),
        ({"profile": "bogus"}, "unknown profile 'bogus'"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"backend": "tpu"}, "unknown backend 'tpu'"),
        ({"dask": ""}, "dask scheduler address must be a non-empty string"),
    ],
)
def test_run_config_is_validated_once_with_one_line_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        RunConfig(**kw)


def test_config_and_keywords_are_exclusive():
    with pytest.raises(ValueError, match="either config"):
        lt.run_claim("L6", config=RunConfig(), seed=1)


def test_a_check_without_a_gpu_path_says_so():
    from lora_theorems.checks import CheckSpec, run_check
    from lora_theorems.ledger import EvidenceKind

    claim = lt.get_claim("L6")
    seen = {}

    def f(ctx):
        seen["backend"] = ctx.backend
        return lt.checks.Outcome(passed=None, summary="")

    spec = CheckSpec("probe", "spectra-agree", EvidenceKind.NUMERIC, f)
    # a config that asks for CuPy without importing it: bypass validation of availability
    cfg = RunConfig()
    object.__setattr__(cfg, "backend", "cupy")
    e = run_check(claim, spec, cfg)
    assert seen["backend"] == "numpy" and e.backend == "numpy"
    assert "cupy requested" in e.metrics["backend_note"]


# ----------------------------------------------------------------------------- scheduling (issue 11)


def test_schedule_runs_shared_sweeps_together_and_longest_first():
    """L8's checks that read one cached sweep form one unit per regime (so a parallel run
    computes each sweep once); units are ordered by estimated cost, longest first."""
    from lora_theorems.runner import estimate_cost, schedule, tasks_of

    tasks = tasks_of(["L8", "M2", "L6"])
    units = schedule(tasks)
    assert sorted(i for u in units for i in u) == list(range(len(tasks)))  # a partition
    by_regime = {}
    for u in units:
        names = [tasks[i][1] for i in u]
        for regime in ("kernel", "finite"):
            if any(n.endswith("_" + regime) and tasks[i][0] == "L8" for n, i in zip(names, u, strict=True)):
                by_regime.setdefault(regime, []).append(u)
    assert all(len(v) == 1 for v in by_regime.values()) and set(by_regime) == {"kernel", "finite"}
    assert all(u == sorted(u) for u in units)  # declared order inside a unit
    cost = [sum(estimate_cost(tasks[i]) for i in u) for u in units]
    assert cost == sorted(cost, reverse=True)
    # a previous run's timings take precedence over the static hints
    flipped = {f"{c}/{n}": (100.0 if (c, n) == ("L6", tasks_of(["L6"])[-1][1]) else 0.0) for c, n in tasks}
    first = schedule(tasks, flipped)[0]
    assert [tasks[i] for i in first] == [tasks_of(["L6"])[-1]]
    assert estimate_cost(("L6", "nope")) == 1.0 and estimate_cost(("L6", "nope"), {"L6/nope": 3}) == 3.0


@pytest.mark.parametrize("costs", [[1, 2], {"L6/x": -1.0}, {"L6/x": float("nan")}, {3: 1.0}, {"L6/x": True}])
def test_costs_are_validated(costs):
    with pytest.raises(ValueError, match="costs must"):
        RunConfig(costs=costs)


def test_costs_do_not_change_equality_or_results():
    assert RunConfig(costs={"L6/x": 5.0}) == RunConfig()
    a = lt.build_ledger(["L6"], config=RunConfig(seed=2, jobs=2, costs={"L6/x": 5.0}))
    b = lt.build_ledger(["L6"], seed=2)
    assert _strip(a) == _strip(b)


def test_pytest_lt_jobs_is_validated_like_the_cli():
    """``pytest --lt-jobs 0`` is a usage error (exit 4) with the one-line message, not a traceback."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only",
                        "--lt-jobs", "0", "tests/engine/test_helpers.py"], cwd=root, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 4, p.stdout + p.stderr
    assert "jobs must be a positive integer, got 0" in p.stderr and "Traceback" not in p.stderr

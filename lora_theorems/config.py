"""The run configuration: made and validated once, at the boundary (CLI or API), then handed on.

Every run of checks (``check``, ``ledger``, ``report``, the pytest plugin) is described by one
frozen :class:`RunConfig`. The CLI and the public API build it from their arguments, which
validates every field with the same one-line :class:`ValueError` messages the CLI prints; the
runner and the checks only read it (checks see it as ``ctx.config``).

``jobs`` and ``dask`` say *where* checks run; they never change *what* a check computes: each
check has its own seed (derived from ``seed`` and its name) and one BLAS thread, so the
evidence, and so the report, is the same bytes for any degree of parallelism.
"""

from __future__ import annotations

import importlib.util
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .validate import validate_profile, validate_seed

__all__ = ["BACKENDS", "RunConfig", "default_jobs", "validate_backend", "validate_jobs"]

BACKENDS = ("numpy", "cupy")


def validate_backend(backend: Any) -> str:
    """``backend`` must be ``"numpy"`` or ``"cupy"``, and CuPy must be importable for the latter."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (choose numpy or cupy)")
    if backend == "cupy" and importlib.util.find_spec("cupy") is None:
        raise ValueError("backend 'cupy' needs CuPy: pip install 'lora-theorems[gpu]'")
    return str(backend)


def default_jobs() -> int:
    """The number of cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def validate_jobs(jobs: Any) -> int:
    """``jobs`` must be a positive integer (the number of local worker processes)."""
    if isinstance(jobs, bool) or not isinstance(jobs, numbers.Integral) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    return int(jobs)


def _validate_dask(address: Any) -> str | None:
    if address is None:
        return None
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"dask scheduler address must be a non-empty string such as tcp://host:8786, got {address!r}")
    if importlib.util.find_spec("distributed") is None:
        raise ValueError("--dask needs dask.distributed: pip install 'lora-theorems[dask]'")
    return address.strip()


def _validate_costs(costs: Any) -> dict[str, float] | None:
    if costs is None:
        return None
    if not isinstance(costs, Mapping):
        raise ValueError(f"costs must be a mapping of 'claim/check' to seconds, got {type(costs).__name__}")
    out = {}
    for k, v in costs.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= float(v) < float("inf"):
            raise ValueError(f"costs must map 'claim/check' to non-negative seconds, got {k!r}: {v!r}")
        out[k] = float(v)
    return out


@dataclass(frozen=True)
class RunConfig:
    """How to run checks: profile, seed, backend, and where (local processes or a Dask cluster).

    Parameters
    ----------
    profile:
        ``"quick"`` (CI: smaller sweeps that still reach the regions where claims break) or
        ``"full"`` (the committed reports).
    seed:
        The run's seed; each check derives its own from it and its name.
    backend:
        ``"numpy"`` or ``"cupy"``: the array namespace checks that can use a GPU run on. Each
        check's evidence records the backend that actually ran.
    jobs:
        Local worker processes (1: run in this process).
    dask:
        Address of an existing Dask distributed scheduler; checks are submitted there
        (``jobs`` is then ignored).
    progress:
        ``progress(message)`` is called as checks start and finish (not part of equality).
    costs:
        Estimated seconds per check, ``{"L4/nsd_sweep": 20.7, ...}`` (e.g. a previous report's
        timings): parallel runs start the longest checks first.  Only the order of work
        depends on it, never a result (not part of equality).
    """

    profile: str = "quick"
    seed: int = 0
    backend: str = "numpy"
    jobs: int = 1
    dask: str | None = None
    progress: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    costs: Mapping[str, float] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "profile", validate_profile(self.profile))
        object.__setattr__(self, "seed", validate_seed(self.seed))
        object.__setattr__(self, "backend", validate_backend(self.backend))
        object.__setattr__(self, "jobs", validate_jobs(self.jobs))
        object.__setattr__(self, "dask", _validate_dask(self.dask))
        object.__setattr__(self, "costs", _validate_costs(self.costs))

    def report(self, message: str) -> None:
        """Pass ``message`` to the progress callback, if any."""
        if self.progress is not None:
            self.progress(message)

    def for_worker(self) -> RunConfig:
        """The same settings without the progress callback (which stays in the main process)."""
        return RunConfig(self.profile, self.seed, self.backend, 1, None)

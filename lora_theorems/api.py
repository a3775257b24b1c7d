"""The public Python API; the CLI, the report writer and the tests call these functions.

>>> import lora_theorems as lt
>>> [c.id for c in lt.list_claims()][:3]
['L1', 'L2', 'L3']
>>> lt.get_claim("L4").title
'Negative semi-definiteness of M_Delta'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import run_check
from .config import RunConfig, validate_backend
from .ledger import Claim, ClaimResult, Derivation, EvidenceKind, jsonable
from .registry import all_claims, checks_of, get_claim, resolve_ids
from .runner import run_tasks, tasks_of
from .validate import validate_seed

__all__ = [
    "Ledger",
    "MDeltaReport",
    "RunConfig",
    "build_ledger",
    "derive",
    "explore_m_delta",
    "get_claim",
    "list_claims",
    "resolve_ids",
    "run_claim",
    "validate_backend",
    "validate_run_options",
]

def validate_run_options(profile: Any, seed: Any, backend: Any, jobs: Any = 1, dask: Any = None) -> RunConfig:
    """Validate the options every run takes and return them as a :class:`RunConfig`;
    ``ValueError`` (one line) if any is bad."""
    return RunConfig(profile=profile, seed=seed, backend=backend, jobs=jobs, dask=dask)


def list_claims() -> tuple[Claim, ...]:
    """All claims of the ledger, in order (paper by paper)."""
    return all_claims()


def _config(config: RunConfig | None, **options: Any) -> RunConfig:
    if config is not None:
        if any(v is not None for v in options.values()):
            raise ValueError("give either config=RunConfig(...) or profile/seed/backend/jobs/dask, not both")
        if not isinstance(config, RunConfig):
            raise ValueError(f"config must be a RunConfig, got {type(config).__name__}")
        return config
    return RunConfig(**{k: v for k, v in options.items() if v is not None})


def run_claim(claim_id: str, **options: Any) -> ClaimResult:
    """Run every check of one claim and return its evidence and the verdict derived from it.

    ``options`` are those of :func:`build_ledger`: ``config=RunConfig(...)`` or its fields
    as keywords (``profile``, ``seed``, ``backend``, ``jobs``, ``dask``; defaults: quick
    profile, seed 0, NumPy, one process), and ``progress``. Nothing is cached between
    calls: the checks are deterministic functions of the configuration.
    """
    return build_ledger([claim_id], **options).results[0]


@dataclass(frozen=True)
class Ledger:
    """The results of a run over several claims, with the run's seed and profile."""

    seed: int
    profile: str
    backend: str
    results: tuple[ClaimResult, ...]

    def result(self, claim_id: str) -> ClaimResult:
        cid = get_claim(claim_id).id
        for r in self.results:
            if r.claim.id == cid:
                return r
        raise ValueError(f"claim {cid} is not in this ledger")

    def to_json(self) -> dict[str, Any]:
        """``{"seed", "profile", "backend", "claims": [...]}``, JSON-ready."""
        return jsonable(
            {
                "seed": self.seed,
                "profile": self.profile,
                "backend": self.backend,
                "claims": [r.to_json() for r in self.results],
            }
        )


def build_ledger(
    ids: Iterable[str] | None = None,
    *,
    config: RunConfig | None = None,
    profile: str | None = None,
    seed: int | None = None,
    backend: str | None = None,
    jobs: int | None = None,
    dask: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Ledger:
    """Run the checks of ``ids`` (all claims when ``None``) and return the :class:`Ledger`.

    The checks run as independent tasks (:mod:`lora_theorems.runner`): ``jobs`` local
    processes or a Dask scheduler at ``dask``; the result is the same for any of them.
    """
    claim_ids = resolve_ids(ids)
    cfg = _config(config, profile=profile, seed=seed, backend=backend, jobs=jobs, dask=dask)
    if progress is not None:
        cfg = dataclasses.replace(cfg, progress=progress)
    evidence = run_tasks(tasks_of(claim_ids), cfg)
    results = tuple(
        ClaimResult(claim=get_claim(cid), evidence=tuple(e for e in evidence if e.claim == cid))
        for cid in claim_ids
    )
    return Ledger(seed=cfg.seed, profile=cfg.profile, backend=cfg.backend, results=results)


def derive(claim_id: str, *, seed: int = 0) -> tuple[Derivation, ...]:
    """The checked derivations of a claim (from its symbolic checks), step by step.

    ``ValueError`` if the claim is unknown or has no derivation yet.
    """
    claim = get_claim(claim_id)
    seed = validate_seed(seed)
    out: list[Derivation] = []
    for spec in checks_of(claim.id):
        if spec.kind is EvidenceKind.SYMBOLIC:
            out.extend(run_check(claim, spec, RunConfig(profile="quick", seed=seed)).derivations)
    if not out:
        raise ValueError(f"claim {claim.id} has no derivation")
    return tuple(out)


@dataclass(frozen=True)
class MDeltaReport:
    """What :func:`explore_m_delta` found for one $(n, r, \\sigma_a^2)$ (claim L4)."""

    width: int
    rank: int
    variance: float
    trials: int
    seed: int
    p_nsd: float
    ci: tuple[float, float]
    confidence: float
    max_top_eigenvalue: float
    mp_top_edge: float
    exact_p_nsd: float | None
    failure_bound: float
    stated_eigenvalues: str
    exact_eigenvalues: str

    def to_json(self) -> dict[str, Any]:
        return jsonable(self)


def explore_m_delta(
    width: int,
    rank: int,
    variance: float,
    *,
    trials: int = 2000,
    seed: int = 0,
    confidence: float = 0.99,
    progress: Callable[[str], None] | None = None,
    max_seconds: float | None = None,
) -> MDeltaReport:
    """Probe claim L4 at one point: how often is $M_\\Delta = A^TA - I$ negative semi-definite?

    Draws ``trials`` matrices $A\\in\\mathbb R^{r\\times n}$ with i.i.d. $\\mathcal N(0,\\sigma_a^2)$
    entries (seeded) and reports the Monte Carlo $P(M_\\Delta\\preceq 0)$ with its exact
    Clopper-Pearson interval at ``confidence``, the exact value for $r = 1$
    ($F_{\\chi^2_n}(1/\\sigma_a^2)$), the Gaussian-concentration bound on $P(M_\\Delta\\not\\preceq0)$,
    and the Marchenko-Pastur edge $\\sigma_a^2(\\sqrt n+\\sqrt r)^2$ of $\\lambda_{\\max}(A^TA)$.

    The cost is estimated before any draw (:func:`lora_theorems.numerics.paper_l.m_delta.sweep_cost`):
    a batch needing more than 2 GiB, or an estimated time beyond ``max_seconds`` (default
    :data:`~lora_theorems.numerics.paper_l.m_delta.TIME_LIMIT_S`, 30 minutes), is refused with a
    ``ValueError`` stating the estimate and the limit.  ``progress(msg)``, if given, hears
    how far a long run is, about once a second.

    ``ValueError`` for rank > width, a negative, zero, NaN or infinite variance, a
    non-positive trial count, work beyond the limits, or a variance so large that
    $\\lambda_{\\max}$ overflows float64 (never a NaN counted as NSD).
    """
    from lora_theorems.numerics.paper_l.m_delta import (
        TIME_LIMIT_S,
        check_sweep_budget,
        clopper_pearson,
        mp_top_edge,
        nsd_failure_bound,
        nsd_probability_r1,
        sweep_top_eigenvalue,
    )

    from .validate import validate_positive_int, validate_rank, validate_variance

    rank, width = validate_rank(rank, width)
    variance = validate_variance(variance, "variance", allow_zero=False)
    trials = validate_positive_int(trials, "trials")
    seed = validate_seed(seed)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if max_seconds is None:
        max_seconds = TIME_LIMIT_S
    elif isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0:
        raise ValueError(f"max_seconds must be a positive number, got {max_seconds!r}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable, got {type(progress).__name__}")
    edge = mp_top_edge(width, rank, variance) - 1.0  # refuses a variance whose edge overflows, before any work
    check_sweep_budget(width, rank, trials, keep_values=False, time_limit=max_seconds)
    res = sweep_top_eigenvalue(np.random.default_rng(seed), width, rank, variance, trials, keep_witness=False,
                               keep_values=False, progress=progress)
    ok = trials - res["failures"]
    return MDeltaReport(
        width=width,
        rank=rank,
        variance=variance,
        trials=trials,
        seed=seed,
        p_nsd=ok / trials,
        ci=clopper_pearson(ok, trials, 1 - confidence),
        confidence=confidence,
        max_top_eigenvalue=res["max_lam_max"],
        mp_top_edge=edge,
        exact_p_nsd=nsd_probability_r1(width, variance) if rank == 1 else None,
        failure_bound=nsd_failure_bound(width, rank, variance),
        stated_eigenvalues=f"{variance * width:.6g} (x{rank}), 0 (x{width - rank})",
        exact_eigenvalues=f"s_i(A)^2 - 1 (x{rank}), -1 (x{width - rank})",
    )

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

from .checks import run_check
from .config import RunConfig, validate_backend
from .ledger import Claim, ClaimResult, Derivation, Evidence, EvidenceKind, jsonable
from .registry import all_claims, checks_of, get_claim, resolve_ids
from .runner import Workers, run_tasks, tasks_of
from .validate import validate_seed

__all__ = [
    "Ledger",
    "RunConfig",
    "build_ledger",
    "derive",
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
    workers: Workers | None = None,
    on_result: Callable[[Evidence], None] | None = None,
) -> Ledger:
    """Run the checks of ``ids`` (all claims when ``None``) and return the :class:`Ledger`.

    The checks run as independent tasks (:mod:`lora_theorems.runner`): ``jobs`` local
    processes or a Dask scheduler at ``dask``; the result is the same for any of them.
    ``workers`` (an entered :class:`lora_theorems.runner.Workers` of the same configuration)
    runs them on workers the caller keeps for more work; ``on_result(evidence)`` is called as
    each check's evidence arrives, in completion order (the ledger keeps the declared order).
    """
    claim_ids = resolve_ids(ids)
    cfg = _config(config, profile=profile, seed=seed, backend=backend, jobs=jobs, dask=dask)
    if progress is not None:
        cfg = dataclasses.replace(cfg, progress=progress)
    if workers is not None and (workers.config.jobs, workers.config.dask) != (cfg.jobs, cfg.dask):
        raise ValueError("workers were started for another jobs/dask setting than this run's")
    evidence = run_tasks(tasks_of(claim_ids), cfg, workers=workers, on_result=on_result)
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

"""The public Python API; the CLI, the report writer and the tests call these functions.

>>> import lora_theorems as lt
>>> [c.id for c in lt.list_claims()][:3]
['L1', 'L2', 'L3']
>>> lt.get_claim("L4").title
'Negative semi-definiteness of M_Delta'
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .checks import run_check
from .ledger import Claim, ClaimResult, Derivation, EvidenceKind, jsonable
from .registry import all_claims, checks_of, get_claim, resolve_ids
from .validate import validate_profile, validate_seed

__all__ = [
    "Ledger",
    "build_ledger",
    "cached_result",
    "derive",
    "get_claim",
    "list_claims",
    "resolve_ids",
    "run_claim",
    "validate_backend",
    "validate_run_options",
]

BACKENDS = ("numpy", "cupy")


def validate_backend(backend: Any) -> str:
    """``backend`` must be ``"numpy"`` or ``"cupy"``, and CuPy must be importable for the latter."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (choose numpy or cupy)")
    if backend == "cupy" and importlib.util.find_spec("cupy") is None:
        raise ValueError("backend 'cupy' needs CuPy: pip install 'lora-theorems[gpu]'")
    return backend


def validate_run_options(profile: Any, seed: Any, backend: Any) -> None:
    """Validate the options every run takes (profile, seed, backend); ``ValueError`` if bad."""
    validate_profile(profile)
    validate_seed(seed)
    validate_backend(backend)


def list_claims() -> tuple[Claim, ...]:
    """All claims of the ledger (L1-L8, M1-M5), in order."""
    return all_claims()


_CACHE: dict[tuple[str, str, int, str], ClaimResult] = {}


def _run_claim(claim_id, profile, seed, backend, progress) -> ClaimResult:
    claim = get_claim(claim_id)
    evidence = []
    specs = checks_of(claim.id)
    for i, spec in enumerate(specs, 1):
        if progress:
            progress(f"{claim.id} [{i}/{len(specs)}] {spec.name}")
        evidence.append(
            run_check(claim, spec, profile=profile, seed=seed, backend=backend, progress=progress)
        )
    return ClaimResult(claim=claim, evidence=tuple(evidence))


def run_claim(
    claim_id: str,
    *,
    profile: str = "quick",
    seed: int = 0,
    backend: str = "numpy",
    progress: Callable[[str], None] | None = None,
) -> ClaimResult:
    """Run every check of one claim and return its evidence and derived verdict.

    Results are cached per process for ``(claim, profile, seed, backend)``: the checks are
    deterministic functions of these, so a second call returns the same object.
    """
    cid = get_claim(claim_id).id
    validate_profile(profile)
    seed = validate_seed(seed)
    validate_backend(backend)
    key = (cid, profile, seed, backend)
    if key not in _CACHE:
        _CACHE[key] = _run_claim(cid, profile, seed, backend, progress)
    return _CACHE[key]


def cached_result(claim_id: str, *, profile: str = "quick", seed: int = 0, backend: str = "numpy") -> ClaimResult | None:
    """The result of an earlier :func:`run_claim` in this process, or ``None``."""
    return _CACHE.get((get_claim(claim_id).id, profile, seed, backend))


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
    profile: str = "quick",
    seed: int = 0,
    backend: str = "numpy",
    progress: Callable[[str], None] | None = None,
) -> Ledger:
    """Run the checks of ``ids`` (all claims when ``None``) and return the :class:`Ledger`."""
    claim_ids = resolve_ids(ids)
    validate_profile(profile)
    seed = validate_seed(seed)
    validate_backend(backend)
    results = tuple(
        run_claim(cid, profile=profile, seed=seed, backend=backend, progress=progress)
        for cid in claim_ids
    )
    return Ledger(seed=seed, profile=profile, backend=backend, results=results)


def derive(claim_id: str, *, seed: int = 0) -> tuple[Derivation, ...]:
    """The checked derivations of a claim (from its symbolic checks), step by step.

    ``ValueError`` if the claim is unknown or has no derivation yet.
    """
    claim = get_claim(claim_id)
    seed = validate_seed(seed)
    out: list[Derivation] = []
    for spec in checks_of(claim.id):
        if spec.kind is EvidenceKind.SYMBOLIC:
            out.extend(run_check(claim, spec, profile="quick", seed=seed).derivations)
    if not out:
        raise ValueError(f"claim {claim.id} has no derivation")
    return tuple(out)

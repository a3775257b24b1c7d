"""Checks: functions that produce evidence about one formalization of one claim.

A check lives in its claim's module (``lora_theorems/claims/<paper>/<id>.py``) and is
declared with :func:`check`::

    @check("layer-as-written", kind=EvidenceKind.NUMERIC)
    def m_delta_spectrum(ctx: CheckContext) -> Outcome:
        ...
        return Outcome(passed=..., summary=..., counterexample=...)

The runner (:func:`run_check`) gives each check its own seed, derived from the run's seed
and the check's name, so a check's result does not depend on which other checks ran or in
what order, and times it; the claim id, formalization and kind come from the declaration.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from .config import RunConfig
from .ledger import Claim, Derivation, Evidence, EvidenceKind, Plot, Table, strict_bool
from .validate import PROFILES

__all__ = ["CheckContext", "CheckSpec", "Outcome", "PROFILES", "RunConfig", "check", "run_check"]

_CHECK_ATTR = "__lora_check__"


@dataclass(frozen=True)
class Outcome:
    """What a check function returns; :func:`run_check` turns it into :class:`Evidence`.

    ``passed`` is ``True``/``False`` for a decisive check and ``None`` for a descriptive
    one (a fitted rate, a table), which never decides a verdict.
    """

    passed: bool | None
    summary: str
    params: Mapping[str, Any] = field(default_factory=dict)
    region: Mapping[str, Any] = field(default_factory=dict)
    worst_margin: float | None = None
    counterexample: Mapping[str, Any] | None = None
    false_alarm_rate: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    tables: tuple[Table, ...] = ()
    plots: tuple[Plot, ...] = ()
    derivations: tuple[Derivation, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", strict_bool(self.passed, "Outcome.passed"))


@dataclass(frozen=True)
class CheckSpec:
    """The declaration of a check: its name, target formalization and kind."""

    name: str
    formalization: str
    kind: EvidenceKind
    func: Callable[[CheckContext], Outcome]
    doc: str = ""
    backends: tuple[str, ...] = ("numpy",)


@dataclass
class CheckContext:
    """What a check receives.

    ``config`` is the run's :class:`~lora_theorems.config.RunConfig`. ``profile`` is
    ``"quick"`` (CI) or ``"full"`` (committed reports): the quick profile sweeps fewer points
    but must reach the same verdicts, so it must still cover the regions where a claim
    breaks. ``rng`` is the check's own generator; ``seed`` the integer it was made from
    (recorded in the evidence); ``run_seed`` the seed of the whole run (see
    :meth:`shared_seed`). ``backend`` is the array namespace this check runs on: the one
    asked for when the check declared it (``@check(..., backends=("numpy", "cupy"))``),
    NumPy otherwise. ``progress(msg)`` reports progress.
    """

    profile: str
    seed: int
    rng: np.random.Generator
    backend: str = "numpy"
    progress: Callable[[str], None] = lambda msg: None
    run_seed: int = 0
    config: RunConfig | None = None

    def shared_seed(self, key: str) -> int:
        """A seed shared by every check that asks for ``key`` in this run.

        For checks that read the same random sweep as different kinds of evidence (say a
        numeric worst case and a statistical interval): they share the draws, and the seed
        still depends only on the run seed and ``key``.
        """
        return check_seed(self.run_seed, "shared", key)

    @property
    def quick(self) -> bool:
        return self.profile == "quick"

    def pick(self, quick: Any, full: Any) -> Any:
        """Return ``quick`` in the quick profile and ``full`` in the full one."""
        return quick if self.quick else full


def check(
    formalization: str,
    kind: EvidenceKind | str,
    name: str | None = None,
    *,
    backends: tuple[str, ...] = ("numpy",),
):
    """Declare a function ``f(ctx) -> Outcome`` as a check of ``formalization``.

    ``backends`` are the array backends the check can run on (it reads ``ctx.backend`` and
    passes it to the numerics); a check that declares only NumPy runs on NumPy whatever
    the run asks for, and its evidence says so.
    """

    evidence_kind = EvidenceKind(kind)  # a typo fails where the check is declared

    def deco(func: Callable[[CheckContext], Outcome]):
        spec = CheckSpec(
            name=name or func.__name__,
            formalization=formalization,
            kind=evidence_kind,
            func=func,
            doc=(func.__doc__ or "").strip(),
            backends=tuple(backends),
        )
        setattr(func, _CHECK_ATTR, spec)
        return func

    return deco


def spec_of(obj: Any) -> CheckSpec | None:
    """The :class:`CheckSpec` attached to ``obj`` by :func:`check`, if any."""
    return getattr(obj, _CHECK_ATTR, None)


def check_seed(seed: int, claim_id: str, check_name: str) -> int:
    """The seed of one check: a stable function of the run seed and the check's name."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(f"{claim_id}/{check_name}".encode())])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def run_check(
    claim: Claim,
    spec: CheckSpec,
    config: RunConfig | None = None,
    **options: Any,
) -> Evidence:
    """Run one check and return its :class:`Evidence` (timed, seeded, attributed).

    ``config`` is the run's :class:`RunConfig`; for convenience its fields may be given as
    keywords instead (``run_check(claim, spec, profile="quick", seed=0)``).
    """
    if config is None:
        config = RunConfig(**options)
    elif options:
        raise TypeError("run_check takes a RunConfig or keyword options, not both")
    form = claim.formalization(spec.formalization)
    own_seed = check_seed(config.seed, claim.id, spec.name)
    backend = config.backend if config.backend in spec.backends else "numpy"
    ctx = CheckContext(
        profile=config.profile,
        seed=own_seed,
        rng=np.random.default_rng(own_seed),
        backend=backend,
        progress=config.report,
        run_seed=config.seed,
        config=config,
    )
    t0 = time.perf_counter()
    # One BLAS thread inside a check: reductions in multi-threaded BLAS sum in an order that
    # depends on the thread count, which moves last digits; pinned, the evidence (and the
    # report) is the same bytes on every machine with the same package versions.
    with threadpool_limits(limits=1, user_api="blas"):
        out = spec.func(ctx)
    elapsed = time.perf_counter() - t0
    if not isinstance(out, Outcome):
        raise TypeError(f"check {claim.id}/{spec.name} returned {type(out).__name__}, not Outcome")
    metrics = dict(out.metrics)
    if backend != config.backend:
        metrics["backend_note"] = f"{config.backend} requested; this check has no {config.backend} path and ran on {backend}"
    return Evidence(
        claim=claim.id,
        check=spec.name,
        formalization=form.key,
        reading=form.reading,
        kind=spec.kind,
        passed=out.passed,
        summary=out.summary,
        params=dict(out.params),
        region=dict(out.region),
        seed=own_seed,
        profile=config.profile,
        worst_margin=out.worst_margin,
        counterexample=out.counterexample,
        false_alarm_rate=out.false_alarm_rate,
        metrics=metrics,
        elapsed_s=elapsed,
        backend=backend,
        tables=tuple(out.tables),
        plots=tuple(out.plots),
        derivations=tuple(out.derivations),
    )

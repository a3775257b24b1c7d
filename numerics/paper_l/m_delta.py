"""The spectrum of $M_\\Delta = A^TA - I_n$ (claims L4, L5; poster eq. (11) and the L4 theorem).

For $A\\in\\mathbb R^{r\\times n}$ with $r\\le n$ the $n\\times n$ matrix $A^TA$ has the same
nonzero eigenvalues as the $r\\times r$ Gram $AA^T$ (the squared singular values
$s_1^2\\ge\\dots\\ge s_r^2$ of $A$) and $n-r$ further zeros, so

.. math:: \\operatorname{spec} M_\\Delta = \\{s_i(A)^2 - 1\\}_{i=1}^{r} \\cup \\{-1\\}^{n-r}.

:func:`m_delta_spectrum` uses that structure on stacks of matrices (``(..., r, n)``) and
never builds an $n\\times n$ matrix; :func:`m_delta_spectrum_direct` is the brute-force
reference (``eigvalsh`` of the full matrix) used by the tests.  Marchenko-Pastur helpers
give the large-width limits, :func:`clopper_pearson` (an alias of the helpers' exact interval) the binomial intervals used by
the Monte Carlo checks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lora_theorems.validate import (
    validate_finite,
    validate_positive_int,
    validate_rank,
    validate_rng,
    validate_variance,
)

from ..backend import asarray, get_xp, random_normal, synchronize, to_numpy

__all__ = [
    "MEMORY_LIMIT_BYTES",
    "MDeltaSpectrum",
    "SweepCost",
    "TIME_LIMIT_S",
    "check_sweep_budget",
    "clopper_pearson",
    "gram_eigenvalues",
    "m_delta_spectrum",
    "m_delta_spectrum_direct",
    "mp_density",
    "mp_edges",
    "mp_lambda_max",
    "mp_top_edge",
    "nsd_failure_bound",
    "nsd_probability_r1",
    "ScaleSweep",
    "sample_lora_a",
    "sweep_cost",
    "sweep_scales",
    "sweep_top_eigenvalue",
]

#: the most memory one batch of a sweep may take (the matrices, their Gram matrices, the kept values)
MEMORY_LIMIT_BYTES = 2 * 2**30
#: the longest estimated run :func:`check_sweep_budget` lets through by default (30 minutes)
TIME_LIMIT_S = 1800.0
# Cost model of one matrix (float64, one core): drawing r n normals, the Gram A A^T (2 r^2 n
# flops), eigvalsh of an r x r matrix (about 4 r^3 flops for values only), at a nominal
# 5e10 flop/s (a recent core with a tuned BLAS; measured 2e10-2e11 at r = 64..1000), plus
# 0.4 microseconds of per-matrix overhead (measured at r = 2).  An estimate, within a factor
# of a few: it exists to refuse hours of work up front, not to predict seconds.
_NOMINAL_FLOPS = 5e10
_OVERHEAD_S = 4e-7
# Gram matrices are formed from A / 2^k when max|A| leaves [2^-400, 2^400]: inside that range
# no entry of A A^T can overflow (n < 2^200) and nothing that matters underflows, and the
# computation is exactly the unscaled one; outside it the power-of-two scale is exact and the
# squared singular values are scaled back (an overflow there raises instead of giving NaN).
_SAFE_LOG2 = 400


@dataclass(frozen=True)
class MDeltaSpectrum:
    """The spectrum of $A^TA - I_n$ for a stack of $A$ (claim L4).

    ``top`` holds the $r$ structured eigenvalues $s_i^2 - 1$ (shape ``(..., r)``, descending);
    the remaining $n-r$ eigenvalues all equal $-1$.
    """

    top: np.ndarray
    n: int
    r: int

    @property
    def lambda_max(self) -> np.ndarray:
        """Largest eigenvalue of $M_\\Delta$ (shape ``(...)``): $s_1^2 - 1$."""
        return self.top[..., 0]

    @property
    def nsd(self) -> np.ndarray:
        """Boolean stack: is $M_\\Delta\\preceq 0$, i.e. $s_1(A)\\le 1$?"""
        return self.lambda_max <= 0.0

    def full(self) -> np.ndarray:
        """All $n$ eigenvalues, ascending (shape ``(..., n)``), as ``eigvalsh`` returns them."""
        rest = np.full(self.top.shape[:-1] + (self.n - self.r,), -1.0)
        return np.sort(np.concatenate([self.top, rest], axis=-1), axis=-1)


def _check_stack(A: Any) -> tuple[int, int]:
    if getattr(A, "ndim", np.ndim(A)) < 2:
        raise ValueError(f"A must have shape (..., r, n), got shape {tuple(np.shape(A))}")
    r, n = int(A.shape[-2]), int(A.shape[-1])
    validate_rank(r, n)
    validate_finite(A, "A")
    return r, n


def _gram_top(A: Any, xp: Any, *, all_values: bool = True) -> Any:
    """Eigenvalues of $AA^T$ (ascending; only the largest when ``all_values`` is false), in ``xp``,
    with the power-of-two rescaling of ``_SAFE_LOG2`` when the entries are extreme."""
    amax = max(float(A.max()), -float(A.min())) if A.size else 0.0  # no |A| temporary the size of A
    k = 0
    if amax > 0 and not 2.0**-_SAFE_LOG2 <= amax <= 2.0**_SAFE_LOG2:
        k = math.frexp(amax)[1]
        A = A * 2.0**-k  # exact: a power of two
    w = xp.linalg.eigvalsh(A @ xp.swapaxes(A, -1, -2))
    if not all_values:
        w = w[..., -1]
    if k:
        with np.errstate(over="ignore"):
            w = xp.ldexp(w, 2 * k)
    if not bool(xp.all(xp.isfinite(w))):
        raise ValueError(
            f"the squared singular values of A overflow float64 (max |A| = {amax:.3g}); "
            "lambda_max(A^T A) is not representable"
        )
    return w


def gram_eigenvalues(A: Any, backend: str | None = None) -> np.ndarray:
    """Squared singular values of a stack of $A$ (``(..., r, n)``), descending, via $AA^T$ (L4, L5).

    Cost $O(r^2 n + r^3)$ per matrix, batched in one ``eigvalsh`` call.  Returns NumPy.
    Extreme entries are rescaled by a power of two before squaring, so any finite ``A`` whose
    squared singular values are representable gets them; ``ValueError`` if they overflow, if
    ``A`` is not a finite ``(..., r, n)`` stack, or if ``r > n``.
    """
    xp = get_xp(backend) if backend else None
    if xp is None:
        from ..backend import array_namespace

        xp = array_namespace(A)
    A = asarray(A, xp)
    _check_stack(A)
    return to_numpy(_gram_top(A, xp))[..., ::-1]


def m_delta_spectrum(A: Any, backend: str | None = None) -> MDeltaSpectrum:
    """Spectrum of $M_\\Delta = A^TA - I_n$ for a stack of $A$ with $r\\le n$ (claim L4, eq. (11)).

    Parameters
    ----------
    A : array, shape (..., r, n)
        LoRA down-projections (NumPy or CuPy), ``r <= n``.
    backend : {"numpy", "cupy"}, optional
        Namespace to compute in (default: that of ``A``).

    Returns
    -------
    MDeltaSpectrum
        ``top = s_i(A)^2 - 1`` (descending) and the count ``n - r`` of eigenvalues ``-1``.

    Raises
    ------
    ValueError
        ``r > n``, ``A`` not a finite ``(..., r, n)`` stack, or $s_1(A)^2$ beyond float64.
    """
    s2 = gram_eigenvalues(A, backend)  # validates the shape first
    r, n = int(np.shape(A)[-2]), int(np.shape(A)[-1])
    return MDeltaSpectrum(top=s2 - 1.0, n=n, r=r)


def m_delta_spectrum_direct(A: Any) -> np.ndarray:
    """Reference: all eigenvalues (ascending) of the full $n\\times n$ matrix $A^TA - I$ (L4)."""
    A = np.asarray(to_numpy(A), dtype=np.float64)
    _check_stack(A)
    n = A.shape[-1]
    M = np.swapaxes(A, -1, -2) @ A - np.eye(n)
    return np.linalg.eigvalsh(M)


def sample_lora_a(
    rng: np.random.Generator, n: int, r: int, sigma_a2: float, size: int | tuple[int, ...] = (), backend: str = "numpy"
) -> Any:
    """Draw LoRA matrices $A\\in\\mathbb R^{r\\times n}$ with i.i.d. $\\mathcal N(0,\\sigma_a^2)$ entries (L4).

    ``size`` prepends batch dimensions; the result lives in ``backend``'s namespace.
    """
    validate_rng(rng)
    r, n = validate_rank(r, n)
    s2 = validate_variance(sigma_a2, "sigma_a2")
    size = (size,) if isinstance(size, int) else tuple(size)
    return random_normal(rng, size + (r, n), math.sqrt(s2), get_xp(backend))


@dataclass(frozen=True)
class SweepCost:
    """Up-front cost of :func:`sweep_top_eigenvalue` (claim L4): memory of one batch, flops, seconds."""

    batch: int
    batch_bytes: int
    values_bytes: int
    flops: float
    seconds: float


def _bytes(b: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{int(b)} B"


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    if s < 2 * 86400:
        return f"{s / 3600:.3g} h"
    return f"{s / 86400:.3g} days"


def _batch_size(n: int, r: int, batch: int) -> int:
    return max(1, min(batch, 2**22 // (r * n)))  # keep one batch of A under ~32 MiB of float64


def sweep_cost(n: int, r: int, trials: int, *, batch: int = 4096, keep_values: bool = True) -> SweepCost:
    """Estimated cost of ``sweep_top_eigenvalue(rng, n, r, ., trials)`` before any draw (L4).

    Memory of one batch: the matrices $A$ and a rescaled copy, their $r\\times r$ Gram
    matrices and the eigensolver's copy of them (``8 b (2 r n + 2 r^2)`` bytes for ``b``
    matrices), plus ``8 trials`` bytes for the kept $\\lambda_{\\max}$ values.  Time: the cost
    model of the module (``2 r^2 n + 4 r^3 + 30 r n`` flop per matrix at a nominal rate,
    plus a per-matrix overhead).
    """
    r, n = validate_rank(r, n)
    trials = validate_positive_int(trials, "trials")
    b = _batch_size(n, r, validate_positive_int(batch, "batch"))
    per_matrix_bytes = 8 * (2 * r * n + 2 * r * r)
    flops_per = 2.0 * r * r * n + 4.0 * r**3 + 30.0 * r * n
    return SweepCost(
        batch=b,
        batch_bytes=b * per_matrix_bytes,
        values_bytes=8 * trials if keep_values else 0,
        flops=trials * flops_per,
        seconds=trials * (_OVERHEAD_S + flops_per / _NOMINAL_FLOPS),
    )


def check_sweep_budget(
    n: int,
    r: int,
    trials: int,
    *,
    keep_values: bool = True,
    memory_limit: float = MEMORY_LIMIT_BYTES,
    time_limit: float | None = TIME_LIMIT_S,
) -> SweepCost:
    """Refuse a sweep that cannot fit: ``ValueError`` (one line with the estimate and the limit)
    when one batch needs more than ``memory_limit`` bytes, or when the estimated time exceeds
    ``time_limit`` seconds (``None``: no time limit).  Returns the :class:`SweepCost` (L4)."""
    cost = sweep_cost(n, r, trials, keep_values=keep_values)
    need = cost.batch_bytes + cost.values_bytes
    where = f"width {n}, rank {r}, {trials} trials"
    if need > memory_limit:
        raise ValueError(f"{where} needs {_bytes(need)} of memory at once; the limit is {_bytes(memory_limit)} "
                         "(lower the width, rank or trials)")
    if time_limit is not None and cost.seconds > time_limit:
        raise ValueError(f"{where} would take an estimated {_duration(cost.seconds)} ({cost.flops:.2g} flop at "
                         f"{_NOMINAL_FLOPS:.0e} flop/s); the limit is {_duration(time_limit)} (lower the width, rank or trials)")
    return cost


def sweep_top_eigenvalue(
    rng: np.random.Generator,
    n: int,
    r: int,
    sigma_a2: float,
    trials: int,
    *,
    batch: int = 4096,
    backend: str = "numpy",
    keep_witness: bool = True,
    keep_values: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Monte Carlo of $\\lambda_{\\max}(A^TA - I)$ over ``trials`` draws (claim L4).

    Draws are processed in stacked batches; the $n\\times n$ matrix is never formed.  A batch
    that would exceed :data:`MEMORY_LIMIT_BYTES` is refused up front (:func:`check_sweep_budget`,
    no time limit here); ``progress(msg)``, if given, hears about once a second how far it is.

    Returns
    -------
    dict
        ``lam_max`` (NumPy array of the ``trials`` values, or ``None`` unless ``keep_values``),
        ``max_lam_max`` (the largest), ``failures`` (count with $\\lambda_{\\max}>0$), ``witness``
        (the first $A$ with $\\lambda_{\\max} > 0$, as a NumPy array, or ``None``),
        ``configs_per_s`` (matrices per second).

    Raises
    ------
    ValueError
        Bad sizes, variance or generator, a batch beyond the memory limit, or
        $\\lambda_{\\max}$ beyond float64 (e.g. ``sigma_a2 = 1e308``): never a NaN counted as NSD.
    """
    validate_rng(rng)
    r, n = validate_rank(r, n)
    validate_variance(sigma_a2, "sigma_a2")
    validate_positive_int(trials, "trials")
    validate_positive_int(batch, "batch")
    cost = check_sweep_budget(n, r, trials, keep_values=keep_values, time_limit=None)
    xp = get_xp(backend)
    out = []
    witness = None
    failures, top = 0, -math.inf
    t0 = last = time.perf_counter()
    done = 0
    batch = cost.batch
    while done < trials:
        b = min(batch, trials - done)
        A = sample_lora_a(rng, n, r, sigma_a2, b, backend)
        lam_np = to_numpy(_gram_top(A, xp, all_values=False) - 1.0)
        pos = lam_np > 0
        if keep_witness and witness is None and pos.any():
            witness = to_numpy(A[int(np.argmax(pos))])
        failures += int(pos.sum())
        top = max(top, float(lam_np.max()))
        if keep_values:
            out.append(lam_np)
        done += b
        now = time.perf_counter()
        if progress is not None and now - last >= 1.0 and done < trials:
            last = now
            left = (now - t0) * (trials - done) / done
            progress(f"L4 sweep n={n} r={r}: {done}/{trials} matrices ({100 * done / trials:.0f}%), about {_duration(left)} left")
    synchronize(xp)
    dt = time.perf_counter() - t0
    return {
        "lam_max": np.concatenate(out) if keep_values else None,
        "max_lam_max": top,
        "failures": failures,
        "witness": witness,
        "configs_per_s": trials / max(dt, 1e-12),
    }


@dataclass(frozen=True)
class ScaleSweep:
    r"""One family of draws ``A = s Z`` read at several scales ``s^2`` (see :func:`sweep_scales`).

    ``gram_top[i]`` is $\lambda_{\max}(Z_iZ_i^T)$ of draw ``i``; for each scale, ``failures`` counts
    the draws with $\lambda_{\max}(A^TA - I) = s^2\lambda_{\max}(ZZ^T) - 1 > 0$, ``lam_max`` is the
    largest such value and ``witness`` the first failing $A = sZ_i$ (or ``None``).
    """

    scales2: tuple[float, ...]
    gram_top: np.ndarray
    failures: tuple[int, ...]
    lam_max: tuple[float, ...]
    witness: tuple[np.ndarray | None, ...]
    configs_per_s: float


def sweep_scales(
    rng: np.random.Generator,
    n: int,
    r: int,
    scales2: tuple[float, ...] | list[float],
    trials: int,
    *,
    law: str = "gaussian",
    batch: int = 4096,
    backend: str = "numpy",
) -> ScaleSweep:
    r"""Monte Carlo of $\lambda_{\max}(A^TA - I)$ at every scale of a family, from one set of draws (L4).

    A law with i.i.d. entries of variance $\sigma^2$ in a scale family is $A = sZ$ with $Z$ of the
    standard member: ``law="gaussian"`` ($Z_{ij}\sim\mathcal N(0,1)$, $s^2 = \sigma_a^2$) or ``"uniform"``
    ($Z_{ij}\sim\mathcal U(-1,1)$, $s = b$, half-width).  Since $\lambda_{\max}(A^TA - I) =
    s^2\lambda_{\max}(ZZ^T) - 1$, one eigensolve per draw serves every scale, instead of one per draw
    and scale (the scales then share their draws, which a worst case or a Bonferroni family allows).
    ``trials`` draws of ``Z`` (``r x n``) are made in batches; ``ValueError`` for bad sizes, scales
    or law, a batch beyond :data:`MEMORY_LIMIT_BYTES`, or $\lambda_{\max}$ beyond float64 (never a NaN
    counted as NSD).
    """
    validate_rng(rng)
    r, n = validate_rank(r, n)
    validate_positive_int(trials, "trials")
    scales = tuple(validate_variance(float(v), "scales2") for v in scales2)
    if not scales:
        raise ValueError("sweep_scales needs at least one scale")
    if law not in ("gaussian", "uniform"):
        raise ValueError(f"law must be 'gaussian' or 'uniform', got {law!r}")
    cost = check_sweep_budget(n, r, trials, time_limit=None)
    xp = get_xp(backend if law == "gaussian" else "numpy")
    tops, witness = [], [None] * len(scales)
    t0 = time.perf_counter()
    done = 0
    while done < trials:
        b = min(cost.batch, trials - done)
        Z = random_normal(rng, (b, r, n), 1.0, xp) if law == "gaussian" else rng.uniform(-1.0, 1.0, (b, r, n))
        top = to_numpy(_gram_top(Z, xp, all_values=False))
        for j, s2 in enumerate(scales):
            if witness[j] is None:
                with np.errstate(over="ignore"):  # an overflow is refused below, once every value is in
                    pos = np.flatnonzero(s2 * top - 1.0 > 0)
                if pos.size:
                    witness[j] = math.sqrt(s2) * to_numpy(Z[int(pos[0])])
        tops.append(top)
        done += b
    synchronize(xp)
    dt = time.perf_counter() - t0
    g = np.concatenate(tops)
    with np.errstate(over="ignore"):
        lam = [s2 * g - 1.0 for s2 in scales]
    if not all(bool(np.isfinite(v).all()) for v in lam):
        raise ValueError(f"lambda_max(A^T A) overflows float64 at the largest scale ({max(scales):.3g}); it is not representable")
    return ScaleSweep(
        scales2=scales,
        gram_top=g,
        failures=tuple(int((v > 0).sum()) for v in lam),
        lam_max=tuple(float(v.max()) for v in lam),
        witness=tuple(witness),
        configs_per_s=trials * len(scales) / max(dt, 1e-12),
    )


# ----------------------------------------------------------------------------- probability


def clopper_pearson(k: int, trials: int, alpha: float) -> tuple[float, float]:
    """Exact two-sided $(1-\\alpha)$ Clopper-Pearson interval for a binomial proportion ``k/trials``
    (the L4 probe's name for :func:`lora_theorems.helpers.proportion_ci`, the one implementation)."""
    from lora_theorems.helpers import proportion_ci

    return proportion_ci(k, trials, alpha)


def nsd_probability_r1(n: int, sigma_a2: float) -> float:
    """Exact $P(A^TA\\preceq I)$ for $r=1$: $AA^T=\\sigma_a^2\\chi^2_n$, so $P=F_{\\chi^2_n}(1/\\sigma_a^2)$ (L4)."""
    from scipy.stats import chi2

    n = validate_positive_int(n, "n")
    s2 = validate_variance(sigma_a2, "sigma_a2", allow_zero=False)
    return float(chi2.cdf(1.0 / s2, n))


def nsd_failure_bound(n: int, r: int, sigma_a2: float) -> float:
    """Upper bound on $P(A^TA\\not\\preceq I)$ from Gaussian concentration (corrected L4).

    For i.i.d. $\\mathcal N(0,\\sigma_a^2)$ entries, $\\mathbb E\\,s_1(A)\\le\\sigma_a(\\sqrt n+\\sqrt r)$
    (Gordon) and $s_1$ is $\\sigma_a$-Lipschitz in the Gaussian entries, so
    $P(s_1 > \\sigma_a(\\sqrt n+\\sqrt r) + \\sigma_a t)\\le e^{-t^2/2}$ (Davidson-Szarek).  With
    $t = 1/\\sigma_a - \\sqrt n - \\sqrt r > 0$ this bounds $P(s_1>1)$; otherwise returns 1.
    """
    r, n = validate_rank(r, n)
    s2 = validate_variance(sigma_a2, "sigma_a2", allow_zero=False)
    t = 1.0 / math.sqrt(s2) - math.sqrt(n) - math.sqrt(r)
    return 1.0 if t <= 0 else math.exp(-t * t / 2.0)


# ----------------------------------------------------------------------------- Marchenko-Pastur


def mp_edges(ratio: float, scale: float = 1.0) -> tuple[float, float]:
    """Edges $\\sigma^2(1\\mp\\sqrt\\gamma)^2$ of the Marchenko-Pastur law with ratio $\\gamma\\le1$.

    For $A\\in\\mathbb R^{r\\times n}$ with entries of variance $\\sigma_a^2$, the eigenvalues of
    $AA^T$ (``scale = sigma_a2 * n``, ``ratio = r/n``) fill $[\\text{scale}(1-\\sqrt\\gamma)^2, \\text{scale}(1+\\sqrt\\gamma)^2]$ as
    $n\\to\\infty$ (claims L4, L5).
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    scale = validate_variance(scale, "scale")
    g = math.sqrt(ratio)
    hi = scale * (1 + g) ** 2
    if not math.isfinite(hi):
        raise ValueError(f"the Marchenko-Pastur edge scale (1 + sqrt ratio)^2 overflows float64 at scale = {scale:g}")
    return scale * (1 - g) ** 2, hi


def mp_top_edge(n: int, r: int, sigma_a2: float) -> float:
    """Finite-size Marchenko-Pastur edge $\\sigma_a^2(\\sqrt n+\\sqrt r)^2$ of $s_1(A)^2$ (L4)."""
    r, n = validate_rank(r, n)
    s2 = validate_variance(sigma_a2, "sigma_a2")
    edge = s2 * (math.sqrt(n) + math.sqrt(r)) ** 2
    if not math.isfinite(edge):
        raise ValueError(f"sigma_a^2 = {s2:g} is too large for float64 at n = {n}, r = {r}: the Marchenko-Pastur edge "
                         "sigma_a^2 (sqrt n + sqrt r)^2 of lambda_max(A^T A) overflows")
    return edge


def mp_density(x: Any, ratio: float, scale: float = 1.0) -> np.ndarray:
    """Marchenko-Pastur density of the eigenvalues of $AA^T$ (same ``ratio``/``scale`` as :func:`mp_edges`)."""
    lo, hi = mp_edges(ratio, scale)
    x = np.asarray(x, dtype=np.float64)
    inside = (x > lo) & (x < hi)
    num = np.sqrt(np.clip((hi - x) * (x - lo), 0.0, None))
    den = 2 * math.pi * scale * ratio * np.where(inside, x, 1.0)
    # density of the r eigenvalues of A A^T: sqrt((b-x)(x-a)) / (2 pi scale gamma x)
    return np.where(inside, num / den, 0.0)


def mp_lambda_max(A: Any, dps: int = 50) -> Any:
    """Independent high-precision check: largest eigenvalue of the full $A^TA - I$ in mpmath (L4).

    The entries of ``A`` are taken as exact decimals of their float64 values; the result is an
    ``mpmath.mpf`` computed with ``dps`` digits (``mpmath.eigsy`` on the $n\\times n$ matrix).
    """
    import mpmath

    A = np.asarray(to_numpy(A), dtype=np.float64)
    _check_stack(A)
    with mpmath.workdps(dps):
        Am = mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in A])
        M = Am.T * Am - mpmath.eye(A.shape[1])
        ev = mpmath.eigsy(M, eigvals_only=True)
        return max(ev[i] for i in range(A.shape[1]))

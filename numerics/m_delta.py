"""The spectrum of $M_\\Delta = A^TA - I_n$ (claims L4, L5; poster eq. (11) and the L4 theorem).

For $A\\in\\mathbb R^{r\\times n}$ with $r\\le n$ the $n\\times n$ matrix $A^TA$ has the same
nonzero eigenvalues as the $r\\times r$ Gram $AA^T$ (the squared singular values
$s_1^2\\ge\\dots\\ge s_r^2$ of $A$) and $n-r$ further zeros, so

.. math:: \\operatorname{spec} M_\\Delta = \\{s_i(A)^2 - 1\\}_{i=1}^{r} \\cup \\{-1\\}^{n-r}.

:func:`m_delta_spectrum` uses that structure on stacks of matrices (``(..., r, n)``) and
never builds an $n\\times n$ matrix; :func:`m_delta_spectrum_direct` is the brute-force
reference (``eigvalsh`` of the full matrix) used by the tests.  Marchenko-Pastur helpers
give the large-width limits, :func:`clopper_pearson` the exact binomial intervals used by
the Monte Carlo checks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from lora_theorems.validate import validate_finite, validate_positive_int, validate_rank, validate_variance

from .backend import asarray, get_xp, random_normal, synchronize, to_numpy

__all__ = [
    "MDeltaSpectrum",
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
    "sample_lora_a",
    "sweep_top_eigenvalue",
]


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
    if A.ndim < 2:
        raise ValueError(f"A must have shape (..., r, n), got shape {tuple(A.shape)}")
    r, n = int(A.shape[-2]), int(A.shape[-1])
    validate_rank(r, n)
    validate_finite(A, "A")
    return r, n


def gram_eigenvalues(A: Any, backend: str | None = None) -> np.ndarray:
    """Squared singular values of a stack of $A$ (``(..., r, n)``), descending, via $AA^T$.

    Cost $O(r^2 n + r^3)$ per matrix, batched in one ``eigvalsh`` call.  Returns NumPy.
    """
    xp = get_xp(backend) if backend else None
    if xp is None:
        from .backend import array_namespace

        xp = array_namespace(A)
    A = asarray(A, xp)
    _check_stack(A)
    G = A @ xp.swapaxes(A, -1, -2)
    w = xp.linalg.eigvalsh(G)
    return to_numpy(w)[..., ::-1]


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
        ``r > n``, or ``A`` not finite.
    """
    r, n = int(np.shape(A)[-2]), int(np.shape(A)[-1])
    s2 = gram_eigenvalues(A, backend)
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
    r, n = validate_rank(r, n)
    s2 = validate_variance(sigma_a2, "sigma_a2")
    size = (size,) if isinstance(size, int) else tuple(size)
    return random_normal(rng, size + (r, n), math.sqrt(s2), get_xp(backend))


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
) -> dict[str, Any]:
    """Monte Carlo of $\\lambda_{\\max}(A^TA - I)$ over ``trials`` draws (claim L4).

    Draws are processed in stacked batches; the $n\\times n$ matrix is never formed.

    Returns
    -------
    dict
        ``lam_max`` (NumPy array of the ``trials`` values), ``failures`` (count with
        $\\lambda_{\\max}>0$), ``witness`` (the first $A$ with $\\lambda_{\\max} > 0$, as a NumPy
        array, or ``None``), ``configs_per_s`` (matrices per second).
    """
    validate_positive_int(trials, "trials")
    validate_positive_int(batch, "batch")
    xp = get_xp(backend)
    out = []
    witness = None
    t0 = time.perf_counter()
    done = 0
    batch = max(1, min(batch, 2**22 // (r * n)))  # keep one batch of A under ~32 MiB of float64
    while done < trials:
        b = min(batch, trials - done)
        A = sample_lora_a(rng, n, r, sigma_a2, b, backend)
        G = A @ xp.swapaxes(A, -1, -2)
        lam = xp.linalg.eigvalsh(G)[..., -1] - 1.0
        lam_np = to_numpy(lam)
        if keep_witness and witness is None and (lam_np > 0).any():
            witness = to_numpy(A[int(np.argmax(lam_np > 0))])
        out.append(lam_np)
        done += b
    synchronize(xp)
    dt = time.perf_counter() - t0
    lam_max = np.concatenate(out)
    return {
        "lam_max": lam_max,
        "failures": int((lam_max > 0).sum()),
        "witness": witness,
        "configs_per_s": trials / max(dt, 1e-12),
    }


# ----------------------------------------------------------------------------- probability


def clopper_pearson(k: int, trials: int, alpha: float) -> tuple[float, float]:
    """Exact two-sided $(1-\\alpha)$ Clopper-Pearson interval for a binomial proportion ``k/trials``."""
    from scipy.stats import beta

    if not 0 <= k <= trials or trials < 1:
        raise ValueError(f"need 0 <= k <= trials, trials >= 1 (got k={k}, trials={trials})")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, trials - k + 1))
    hi = 1.0 if k == trials else float(beta.ppf(1 - alpha / 2, k + 1, trials - k))
    return lo, hi


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
    return scale * (1 - g) ** 2, scale * (1 + g) ** 2


def mp_top_edge(n: int, r: int, sigma_a2: float) -> float:
    """Finite-size Marchenko-Pastur edge $\\sigma_a^2(\\sqrt n+\\sqrt r)^2$ of $s_1(A)^2$ (L4)."""
    r, n = validate_rank(r, n)
    s2 = validate_variance(sigma_a2, "sigma_a2")
    return s2 * (math.sqrt(n) + math.sqrt(r)) ** 2


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

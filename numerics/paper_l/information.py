"""Information bits and Renyi entropies of spectra, under every reading of the source (claim L7).

The poster (eq. (6)-(7)) defines, for the eigenvalues $\\lambda_i$ of the Fisher information,
$IB = \\tfrac12\\log\\det_{pseudo}I_\\theta = \\tfrac12\\sum_{\\lambda_i>0}\\lambda_i$ (two different
quantities joined by "=") and $H_\\alpha = \\frac1{1-\\alpha}\\log\\sum_i\\lambda_i^\\alpha$, "$H_1$ Shannon",
"$H_\\infty = \\max_i\\lambda_i$".  The readings implemented here (all over the *positive*
eigenvalues, i.e. pseudo-determinant style; zero eigenvalues are excluded so $0^0$ never
arises):

* ``ib_log_pdet``  $\\tfrac12\\sum_{\\lambda>0}\\log\\lambda$;   ``ib_trace``  $\\tfrac12\\sum_{\\lambda>0}\\lambda$;
* ``raw`` Renyi: eq. (7) on the eigenvalues themselves; $\\alpha=0$: $\\log\\#\\{\\lambda>0\\}$;
  $\\alpha=1$: $-\\sum\\lambda\\log\\lambda$ (the derivative form; the limit $\\alpha\\to1$ of eq. (7)
  exists only when $\\sum\\lambda = 1$, where it equals this); $\\alpha=\\infty$: the limit
  $-\\log\\lambda_{\\max}$;
* ``normalized`` Renyi: eq. (7) on $p_i = \\lambda_i/\\sum_j\\lambda_j$ (a proper Renyi entropy;
  $\\alpha=1$ Shannon, $\\alpha=\\infty$: $-\\log p_{\\max}$);
* ``max``: "$H_\\infty = \\max_i\\lambda_i$" as written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from lora_theorems.validate import validate_rtol, validate_spectrum

__all__ = [
    "ALPHAS",
    "all_readings",
    "information_bits",
    "positive_eigenvalues",
    "renyi_entropy",
]

#: the alpha grid of the checks: 0, (0,1), the limit 1, 2, larger, and infinity
ALPHAS = (0.0, 0.25, 0.5, 0.9, 1.0, 1.5, 2.0, 3.0, 10.0, math.inf)


def positive_eigenvalues(lam: Any, rtol: float | None = None) -> np.ndarray:
    """The strictly positive part of a spectrum (descending), zeros cut at ``rtol * max`` (L7).

    Default ``rtol = len(lam) * eps``: the floating-point noise level of eigenvalues of a
    PSD matrix of that size computed by a backward-stable solver.  ``lam`` must be a finite
    1-D array (a matrix is refused: pass its eigenvalues); ``rtol`` a real in ``[0, 1)``.
    """
    return _positive(validate_spectrum(lam), validate_rtol(rtol))


def _positive(lam: np.ndarray, rtol: float | None) -> np.ndarray:
    """:func:`positive_eigenvalues` of an already validated spectrum and tolerance."""
    if lam.size == 0:
        return lam
    tol = (lam.size * np.finfo(np.float64).eps if rtol is None else rtol) * max(np.abs(lam).max(), 0.0)
    return np.sort(lam[lam > tol])[::-1]


def _finite(value: float, what: str) -> float:
    """``value`` if finite; a ``ValueError`` when the true value lies beyond float64."""
    if not math.isfinite(value):
        raise ValueError(f"{what} overflows float64 for this spectrum")
    return value


def information_bits(lam: Any, reading: str = "log-pdet", rtol: float | None = None) -> float:
    """Information bits of a spectrum (claim L7, eq. (6)).

    Parameters
    ----------
    lam : array
        Eigenvalues (of a Fisher matrix, a kernel Gram matrix, or $A^TA$), 1-D, finite.
    reading : {"log-pdet", "trace"}
        $\\tfrac12\\log\\det_{pseudo} = \\tfrac12\\sum_{\\lambda>0}\\log\\lambda$, or
        $\\tfrac12\\sum_{\\lambda>0}\\lambda$ (the right-hand side of eq. (6) as written).
    rtol : float in [0, 1), optional
        Eigenvalues at or below ``rtol * max|lam|`` count as zero (default ``len(lam) * eps``).

    Raises
    ------
    ValueError
        Unknown reading, a bad ``rtol``, a non-finite or 2-D ``lam``, or a value beyond float64.
    """
    if reading not in ("log-pdet", "trace"):
        raise ValueError(f"unknown IB reading {reading!r} (choose log-pdet or trace)")
    return _information_bits(positive_eigenvalues(lam, rtol), reading)


def _information_bits(p: np.ndarray, reading: str) -> float:
    """:func:`information_bits` of the positive part ``p`` of a spectrum (descending)."""
    if reading == "log-pdet":
        return _finite(0.5 * float(np.sum(np.log(p))), "IB (log-pdet)")
    # halve before summing: two eigenvalues near the float64 maximum still give a finite IB
    with np.errstate(over="ignore"):
        return _finite(float(np.sum(0.5 * p)), "IB (trace)")


def renyi_entropy(lam: Any, alpha: float, spectrum: str = "raw", rtol: float | None = None) -> float:
    """Renyi entropy $H_\\alpha$ of a spectrum (claim L7, eq. (7)).

    Parameters
    ----------
    lam : array
        Eigenvalues, 1-D, finite; only the positive ones enter.
    alpha : float
        $\\alpha\\ge0$, ``math.inf`` allowed; $\\alpha=1$ is the Shannon form (module docstring).
    spectrum : {"raw", "normalized"}
        Apply eq. (7) to the eigenvalues as they are, or to $p_i=\\lambda_i/\\sum\\lambda_j$.
    rtol : float in [0, 1), optional
        As in :func:`information_bits`.

    Sums that could overflow are formed relative to the largest eigenvalue ($\\log\\sum p^\\alpha
    = \\alpha\\log p_{\\max} + \\log\\sum (p/p_{\\max})^\\alpha$; $\\sum p$ as $p_{\\max}\\sum p/p_{\\max}$),
    so finite spectra give finite values wherever the value itself is representable;
    otherwise ``ValueError``.
    """
    _check_alpha(alpha)
    if spectrum not in ("raw", "normalized"):
        raise ValueError(f"unknown spectrum {spectrum!r} (choose raw or normalized)")
    return _renyi(positive_eigenvalues(lam, rtol), alpha, spectrum)


def _check_alpha(alpha: Any) -> None:
    """``ValueError`` unless ``alpha`` is a real number >= 0 (``math.inf`` allowed)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)) or math.isnan(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a real number >= 0, got {alpha!r}")


def _renyi(p: np.ndarray, alpha: float, spectrum: str) -> float:
    """:func:`renyi_entropy` of the positive part ``p`` of a spectrum (descending), arguments already checked."""
    return _renyis(p, (alpha,), spectrum)[0]


def _renyis(p: np.ndarray, alphas: tuple[float, ...], spectrum: str) -> list[float]:
    """:func:`renyi_entropy` for each of ``alphas`` (already checked) of the positive part ``p`` (descending).

    The normalized spectrum, ``log p`` and ``log p - max log p`` are formed once for all alphas, and
    ``sum exp(alpha (log p - max log p))`` for every finite alpha other than 0 and 1 in one stacked
    operation (row by row the same elementwise operations and reduction); each value is the same, bit
    for bit, as computed for its alpha alone.
    """
    if p.size == 0:
        raise ValueError("spectrum has no positive eigenvalue")
    if spectrum == "normalized":
        with np.errstate(over="ignore"):
            total = p.sum()
        # a sum beyond float64 (eigenvalues near its maximum): normalize the rescaled spectrum instead
        p = p / total if math.isfinite(total) else (p / p[0]) / np.sum(p / p[0])
    logs: list[np.ndarray] = []  # [log p, log p - max log p], formed when an alpha first needs them
    top: list[float] = []  # [max log p]

    def log_p() -> np.ndarray:
        if not logs:
            lp = np.log(p)
            top.append(lp.max())
            logs.extend((lp, lp - top[0]))
        return logs[0]

    powered = [a for a in alphas if a != 0 and a != 1 and not math.isinf(a)]
    if powered:
        log_p()
        sums = dict(zip(powered, np.sum(np.exp(np.multiply.outer(np.asarray(powered, dtype=np.float64), logs[1])), axis=1).tolist(),
                        strict=True))
    out = []
    for alpha in alphas:
        what = f"H_{alpha:g} ({spectrum})"
        if alpha == 0:
            out.append(math.log(p.size))
            continue
        if alpha == 1:
            with np.errstate(over="ignore"):
                h = float(-np.sum(p * log_p()))
            if not math.isfinite(h):  # -sum p log p = -p_max sum q (log q + log p_max), q = p / p_max
                q = p / p[0]
                with np.errstate(over="ignore"):
                    h = -float(p[0]) * float(np.sum(q * (np.log(q) + math.log(p[0]))))
            out.append(_finite(h, what))
            continue
        if math.isinf(alpha):
            out.append(-math.log(float(p[0])))
            continue
        # log sum p^alpha computed stably: alpha*log p_max + log sum (p/p_max)^alpha
        m = top[0]
        log_s = math.log(sums[alpha])
        h = float((alpha * m + log_s) / (1.0 - alpha))
        if not math.isfinite(h):  # alpha near the float64 maximum: alpha * log p_max overflows, alpha / (1 - alpha) does not
            h = float(m * (alpha / (1.0 - alpha)) + log_s / (1.0 - alpha))
        out.append(_finite(h, what))
    return out


def all_readings(lam: Any, alphas: Iterable[float] = ALPHAS, rtol: float | None = None) -> dict[str, float]:
    """Every reading of IB and $H_\\alpha$ of one spectrum, keyed ``"ib:log-pdet"``, ``"H[raw,2]"``, ... (L7).

    The same values, bit for bit, as :func:`information_bits` and :func:`renyi_entropy` one by one:
    the spectrum is validated and its positive part cut once, not once per reading.
    """
    alphas = tuple(alphas)
    for a in alphas:
        _check_alpha(a)
    p = _positive(validate_spectrum(lam), validate_rtol(rtol))
    if p.size == 0:
        # the zero matrix: empty sum (pseudo-determinant 1 by convention), entropies undefined (NaN)
        out = {"ib:log-pdet": 0.0, "ib:trace": 0.0, "h-inf:max": 0.0}
        out.update({f"H[{sp},{a:g}]": math.nan for sp in ("raw", "normalized") for a in alphas})
        return out
    out = {
        "ib:log-pdet": _information_bits(p, "log-pdet"),
        "ib:trace": _information_bits(p, "trace"),
        "h-inf:max": float(p[0]),
    }
    for sp in ("raw", "normalized"):
        for a, h in zip(alphas, _renyis(p, alphas, sp), strict=True):
            out[f"H[{sp},{a:g}]"] = h
    return out

"""Input validation shared by the API, the CLI and the numerics.

Every function raises :class:`ValueError` with one clear line; the CLI prints the same
words on stderr and exits with code 2.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from lora_theorems.numerics.backend import array_namespace

__all__ = [
    "validate_profile",
    "validate_seed",
    "validate_positive_int",
    "validate_rank",
    "validate_variance",
    "validate_finite",
    "validate_rng",
    "validate_rtol",
    "validate_spectrum",
]

PROFILES = ("quick", "full")


def validate_profile(profile: Any) -> str:
    """``profile`` must be ``"quick"`` or ``"full"``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (choose quick or full)")
    return profile


def validate_seed(seed: Any) -> int:
    """``seed`` must be a non-negative integer (not a bool)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return int(seed)


def validate_positive_int(value: Any, name: str) -> int:
    """``value`` must be an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def validate_rank(rank: Any, width: Any) -> tuple[int, int]:
    """LoRA rank ``r`` and width ``n`` must be positive integers with ``r <= n``."""
    n = validate_positive_int(width, "width")
    r = validate_positive_int(rank, "rank")
    if r > n:
        raise ValueError(f"rank {r} exceeds width {n} (need rank <= width)")
    return r, n


def validate_variance(value: Any, name: str = "variance", *, allow_zero: bool = True) -> float:
    """``value`` must be a finite real >= 0 (> 0 when ``allow_zero`` is false)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{name} is NaN")
    if math.isinf(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {v}")
    return v


def validate_finite(array: Any, name: str = "input") -> Any:
    """``array`` must contain no NaN or infinity (works for NumPy and CuPy arrays)."""
    xp = array_namespace(array)  # by the array's type: never tries to import CuPy
    if not bool(xp.all(xp.isfinite(xp.asarray(array)))):
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def validate_rng(rng: Any, name: str = "rng") -> Any:
    """``rng`` must be a :class:`numpy.random.Generator` (``np.random.default_rng(seed)``)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{name} must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def validate_rtol(rtol: Any, name: str = "rtol") -> float | None:
    """A relative tolerance: ``None`` (the default of the caller) or a finite real in ``[0, 1)``."""
    if rtol is None:
        return None
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real):
        raise ValueError(f"{name} must be a real number in [0, 1), got {rtol!r}")
    v = float(rtol)
    if not (math.isfinite(v) and 0.0 <= v < 1.0):
        raise ValueError(f"{name} must be a real number in [0, 1), got {v}")
    return v


def validate_spectrum(lam: Any, name: str = "eigenvalues") -> np.ndarray:
    """A finite 1-D array of eigenvalues (a scalar counts as one); a matrix is refused, not flattened."""
    try:
        a = np.asarray(lam, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of real numbers, got {type(lam).__name__}") from None
    if a.ndim > 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {a.shape} (for a matrix M pass np.linalg.eigvalsh(M))")
    a = a.reshape(-1)
    validate_finite(a, name)
    return a

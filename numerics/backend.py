"""One array-namespace layer: the numerics run on NumPy, or on CuPy when it is installed.

Every numeric routine of :mod:`numerics` that takes a ``backend`` argument (``"numpy"`` or
``"cupy"``, as given by ``lora-theorems --backend`` and ``CheckContext.backend``) asks
:func:`get_xp` for the module to compute with, and hands results back as NumPy arrays with
:func:`to_numpy`.  Nothing here imports CuPy unless it is asked for.

>>> import numpy as np
>>> xp = get_xp("numpy")
>>> xp is np
True
>>> to_numpy(xp.ones(2)).tolist()
[1.0, 1.0]
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import numpy as np

__all__ = [
    "BACKENDS",
    "array_namespace",
    "asarray",
    "available_backends",
    "backend_of",
    "cupy_available",
    "get_xp",
    "random_normal",
    "synchronize",
    "to_numpy",
]

BACKENDS = ("numpy", "cupy")


def cupy_available() -> bool:
    """True when CuPy can be imported (no import is performed beyond the spec lookup)."""
    return importlib.util.find_spec("cupy") is not None


def available_backends() -> tuple[str, ...]:
    """The backends usable in this process: always ``"numpy"``, plus ``"cupy"`` if installed."""
    return ("numpy", "cupy") if cupy_available() else ("numpy",)


def get_xp(backend: str = "numpy") -> Any:
    """Return the array module for ``backend``: :mod:`numpy` or :mod:`cupy`.

    Parameters
    ----------
    backend : {"numpy", "cupy"}
        The namespace to compute with.

    Raises
    ------
    ValueError
        Unknown backend, or ``"cupy"`` requested where CuPy is not installed.
    """
    if backend == "numpy":
        return np
    if backend == "cupy":
        if not cupy_available():
            raise ValueError("backend 'cupy' needs CuPy: pip install 'lora-theorems[gpu]'")
        return importlib.import_module("cupy")
    raise ValueError(f"unknown backend {backend!r} (choose numpy or cupy)")


def array_namespace(*arrays: Any) -> Any:
    """The namespace of ``arrays``: CuPy if any of them is a CuPy array, NumPy otherwise."""
    for a in arrays:
        mod = type(a).__module__
        if mod.startswith("cupy"):
            return importlib.import_module("cupy")
    return np


def backend_of(array: Any) -> str:
    """``"cupy"`` for a CuPy array, ``"numpy"`` otherwise."""
    return "cupy" if array_namespace(array) is not np else "numpy"


def asarray(a: Any, xp: Any = np, dtype: Any = None) -> Any:
    """``a`` as an array of namespace ``xp`` (default dtype float64), copying across devices."""
    dtype = np.float64 if dtype is None else dtype
    if xp is np:
        return np.asarray(to_numpy(a), dtype=dtype)
    return xp.asarray(a, dtype=dtype)


def to_numpy(a: Any) -> Any:
    """A NumPy array (or scalar) from a NumPy or CuPy array; other objects pass through ``np.asarray``."""
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def random_normal(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0, xp: Any = np) -> Any:
    """Standard normal draws times ``scale`` in namespace ``xp``, seeded from ``rng``.

    On NumPy the draws come from ``rng`` itself; on CuPy from a device generator seeded by
    one integer drawn from ``rng``, so a run stays a deterministic function of its seed.
    """
    if xp is np:
        return rng.standard_normal(shape) * scale
    seed = int(rng.integers(0, 2**63 - 1))
    g = xp.random.default_rng(seed)
    return g.standard_normal(shape, dtype=xp.float64) * scale


def synchronize(xp: Any) -> None:
    """Wait for queued device work (a no-op on NumPy); used around timings."""
    if xp is not np:
        xp.cuda.Stream.null.synchronize()

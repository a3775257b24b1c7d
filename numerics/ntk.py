"""Analytic (infinite-width) NNGP and NTK Gram matrices of a fully connected network (claim L1).

The closed forms of the Gaussian kernel maps are not retyped here: they are lambdified from
the SymPy expressions derived and checked in :mod:`lora_theorems.proofs.ntk_recursion`
(:func:`proofs.ntk_recursion.kernel_map_exprs`).  The same expressions, lambdified for
mpmath, give the high-precision reference :func:`analytic_ntk_mpmath`.

Convention (NTK parameterization, as in neural-tangents ``stax.serial(Dense, phi) * depth +
Dense(1)`` with ``W_std = sigma_w``, ``b_std = sigma_b``)::

    Sigma^(1)(x,x') = sigma_w^2 x.x'/d + sigma_b^2,          Theta^(1) = Sigma^(1)
    Sigma^(l+1)     = sigma_w^2 E_phi(Sigma^(l)) + sigma_b^2
    SigmaDot^(l+1)  = sigma_w^2 E'_phi(Sigma^(l))
    Theta^(l+1)     = Theta^(l) * SigmaDot^(l+1) + Sigma^(l+1)

for ``l = 1, ..., depth``; the read-out is layer ``depth + 1``, so ``(nngp, ntk) =
(Sigma^(depth+1), Theta^(depth+1))``.
"""

from __future__ import annotations

import functools
import numbers

import mpmath
import numpy as np
import sympy as sp

from lora_theorems.validate import validate_finite, validate_positive_int, validate_variance

__all__ = ["ACTIVATIONS", "analytic_ntk", "analytic_ntk_mpmath", "kernel_maps"]

ACTIVATIONS = ("relu", "erf")


def _validate_activation(activation) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r} (choose relu or erf)")
    return activation


@functools.lru_cache(maxsize=None)
def kernel_maps(activation: str, module: str = "numpy"):
    """The kernel maps ``(E, E')`` of ``activation`` as functions of ``(a, b, c, s)``.

    Lambdified (``module`` = ``"numpy"`` or ``"mpmath"``) from
    :func:`proofs.ntk_recursion.kernel_map_exprs`; ``s`` must be ``sqrt(max(a b - c^2, 0))``.
    """
    from lora_theorems.proofs.ntk_recursion import A, B, C, S, kernel_map_exprs

    _validate_activation(activation)
    E, Ed = kernel_map_exprs(activation)
    return (
        sp.lambdify((A, B, C, S), E, modules=module),
        sp.lambdify((A, B, C, S), Ed, modules=module),
    )


def _validate_inputs(X, depth, activation, weight_var, bias_var):
    _validate_activation(activation)
    depth = validate_positive_int(depth, "depth")
    weight_var = validate_variance(weight_var, "weight_var")
    bias_var = validate_variance(bias_var, "bias_var")
    try:
        Xa = np.asarray(X)
    except Exception as exc:  # ragged input
        raise ValueError(f"X must be a 2-D array of real numbers ({exc})") from None
    if Xa.dtype == object or not (np.issubdtype(Xa.dtype, np.number) or Xa.dtype == bool):
        raise ValueError(f"X must be a 2-D array of real numbers, got dtype {Xa.dtype}")
    if np.iscomplexobj(Xa):
        raise ValueError("X must be real, got a complex array")
    if Xa.ndim != 2:
        raise ValueError(f"X must be 2-D (N inputs x d features), got shape {Xa.shape}")
    if Xa.shape[0] < 1 or Xa.shape[1] < 1:
        raise ValueError(f"X must have at least one input and one feature, got shape {Xa.shape}")
    Xa = Xa.astype(np.float64)
    validate_finite(Xa, "X")
    return Xa, depth, weight_var, bias_var


def analytic_ntk(X, depth, activation="relu", weight_var=1.0, bias_var=0.0):
    """Infinite-width NNGP and NTK Gram matrices of a fully connected network (L1, eq. 8-9).

    Parameters
    ----------
    X : array_like, shape (N, d)
        Inputs, one per row; finite real numbers.
    depth : int
        Number of hidden layers (>= 1); a linear scalar read-out layer follows them.
    activation : {"relu", "erf"}
        The activation ``phi``.
    weight_var, bias_var : float
        ``sigma_w^2`` and ``sigma_b^2`` (>= 0), NTK parameterization.

    Returns
    -------
    nngp, ntk : ndarray, shape (N, N)
        ``Sigma^(depth+1)`` and ``Theta^(depth+1)`` (read-out layer included in both), with
        ``Sigma^(1)(x, x') = sigma_w^2 x.x'/d + sigma_b^2`` and the recursion
        ``Theta^(l+1) = Theta^(l) SigmaDot^(l+1) + Sigma^(l+1)``.

    Raises
    ------
    ValueError
        ``X`` not a finite real 2-D array, ``depth`` not a positive integer, a negative or
        non-finite variance, or an unknown activation.

    Notes
    -----
    The closed forms are lambdified from :mod:`lora_theorems.proofs.ntk_recursion`.  The ReLU angle is
    ``arctan2(sqrt(ab - c^2), c)`` and the erf maps use ``1 + 2a + 2b + 4(ab - c^2)``.  Near
    the diagonal ``ab - c^2`` is a difference of nearly equal products, and its rounding
    (~eps ab) would put an error of order ``sqrt(eps)`` into the ReLU ``SigmaDot``; so it is
    never formed that way: it is computed from the inputs themselves
    (:func:`_input_gram_det`) and carried from layer to layer by a cancellation-free update
    (:func:`_relu_next_det`).  Collinear, nearly collinear and one-dimensional inputs then
    agree with the 50-digit recursion to ~1e-15.

    Examples
    --------
    >>> import numpy as np
    >>> nngp, ntk = analytic_ntk(np.eye(2), depth=1)
    >>> bool(np.allclose(np.diag(nngp), 0.25))  # Sigma^(1)(x,x) = 1/2, E_ReLU = a/2
    True
    """
    Xa, depth, sw2, sb2 = _validate_inputs(X, depth, activation, weight_var, bias_var)
    fE, fEd = kernel_maps(activation, "numpy")
    d = Xa.shape[1]
    K = sw2 * (Xa @ Xa.T) / d + sb2
    K = 0.5 * (K + K.T)
    det = _input_gram_det(Xa, sw2 / d, sb2)
    theta = K.copy()
    for _ in range(depth):
        diag = np.diag(K).copy()
        a = np.broadcast_to(diag[:, None], K.shape)
        b = np.broadcast_to(diag[None, :], K.shape)
        s = np.sqrt(det)
        E = np.asarray(fE(a, b, K, s), dtype=np.float64)
        Ed = np.asarray(fEd(a, b, K, s), dtype=np.float64)
        K_next = sw2 * E + sb2
        theta = theta * (sw2 * Ed) + K_next
        if activation == "relu":
            det = _relu_next_det(a, b, K, s, sw2, sb2)
        K = 0.5 * (K_next + K_next.T)
        theta = 0.5 * (theta + theta.T)
        if activation != "relu":
            # erf enters only through 1 + 2a + 2b + 4 det, so the rounding of ab - c^2
            # (~eps ab) is negligible there
            det = np.maximum(np.outer(np.diag(K), np.diag(K)) - K * K, 0.0)
    return K, theta


def _input_gram_det(X: np.ndarray, p: float, beta: float) -> np.ndarray:
    """``a b - c^2`` of ``Sigma^(1) = p X X^T + beta``, accurate to rounding of ``X`` itself.

    ``ab - c^2 = p^2 (|x|^2 |x'|^2 - (x.x')^2) + p beta |x - x'|^2``; the first term is computed
    as ``|x|^2 |x' - t x|^2`` with ``t = x.x'/|x|^2`` (the residual, not a difference of
    products), so (nearly) collinear inputs give ``~eps^2`` instead of ``~eps`` and the ReLU
    angle keeps its digits.  O(N^2 d) time, O(N d) memory.
    """
    N = X.shape[0]
    sq = np.einsum("ij,ij->i", X, X)
    det = np.empty((N, N))
    for i in range(N):
        if sq[i] == 0.0:
            gram = np.zeros(N)
        else:
            t = (X @ X[i]) / sq[i]
            R = X - t[:, None] * X[i]
            gram = sq[i] * np.einsum("ij,ij->i", R, R)
        diff = X - X[i]
        det[i] = p * p * gram + p * beta * np.einsum("ij,ij->i", diff, diff)
    return 0.5 * (det + det.T)


def _one_minus_j(t: np.ndarray) -> np.ndarray:
    """``1 - J(t)`` with ``J(t) = (sin t + (pi - t) cos t) / pi`` (the ReLU correlation map), stably.

    ``pi (1 - J) = 2 pi sin^2(t/2) - (sin t - t cos t)``; the last bracket is summed from its
    Taylor series ``sum_k (-1)^(k+1) 2k t^(2k+1) / (2k+1)!`` for ``t < 1`` (no cancellation).
    """
    t = np.asarray(t, dtype=np.float64)
    small = t < 1.0
    ts = np.where(small, t, 0.0)
    series = np.zeros_like(ts)
    term_pow = ts**3
    fact = 6.0  # (2k+1)! for k = 1
    for k in range(1, 10):
        series = series + ((-1) ** (k + 1)) * (2 * k) * term_pow / fact
        term_pow = term_pow * ts * ts
        fact = fact * (2 * k + 2) * (2 * k + 3)
    h = np.where(small, series, np.sin(t) - t * np.cos(t))
    return (2 * np.pi * np.sin(t / 2) ** 2 - h) / np.pi


def _relu_next_det(a, b, c, s, sw2: float, sb2: float) -> np.ndarray:
    """``a'b' - c'^2`` of the next ReLU layer, without cancellation (L1, eq. 9).

    With ``q = sigma_w^2/2``, ``rho = sqrt(ab) = hypot(s, c)``, ``theta = atan2(s, c)`` and
    ``u = rho (1 - J(theta))``: ``a' = q a + beta``, ``c' = q (rho - u) + beta``, so
    ``a'b' - c'^2 = q^2 u (2 rho - u) + q beta ((sqrt a - sqrt b)^2 + 2u)``, every term >= 0.
    The identity is checked in SymPy by ``tests/test_analytic_ntk.py``.
    """
    q = sw2 / 2.0
    rho = np.hypot(s, c)
    u = rho * _one_minus_j(np.arctan2(s, c))
    det = q * q * u * (2 * rho - u) + q * sb2 * ((np.sqrt(a) - np.sqrt(b)) ** 2 + 2 * u)
    det = np.maximum(det, 0.0)
    return 0.5 * (det + det.T)


def analytic_ntk_mpmath(X, depth, activation="relu", weight_var=1.0, bias_var=0.0, dps=50):
    """High-precision reference for :func:`analytic_ntk`: the same recursion in mpmath.

    The inputs are converted exactly from float64; the kernel maps are the same SymPy
    closed forms lambdified for mpmath and evaluated at ``dps`` digits.  Returns two
    ``(N, N)`` NumPy object arrays of ``mpmath.mpf``.  Slow (pure Python); for tests.
    """
    Xa, depth, sw2, sb2 = _validate_inputs(X, depth, activation, weight_var, bias_var)
    if isinstance(dps, bool) or not isinstance(dps, numbers.Integral) or dps < 20:
        raise ValueError(f"dps must be an integer >= 20, got {dps!r}")
    fE, fEd = kernel_maps(activation, "mpmath")
    N, d = Xa.shape
    with mpmath.workdps(dps):
        M = [[mpmath.mpf(float(v)) for v in row] for row in Xa]
        sw2m, sb2m = mpmath.mpf(sw2), mpmath.mpf(sb2)
        K = [[sw2m * mpmath.fsum(M[i][k] * M[j][k] for k in range(d)) / d + sb2m for j in range(N)] for i in range(N)]
        T = [row[:] for row in K]
        for _ in range(depth):
            Kn = [[None] * N for _ in range(N)]
            Tn = [[None] * N for _ in range(N)]
            for i in range(N):
                for j in range(N):
                    a, b, c = K[i][i], K[j][j], K[i][j]
                    s = mpmath.sqrt(max(a * b - c * c, mpmath.mpf(0)))
                    Kn[i][j] = sw2m * fE(a, b, c, s) + sb2m
                    Tn[i][j] = T[i][j] * sw2m * fEd(a, b, c, s) + Kn[i][j]
            K, T = Kn, Tn
        out_k = np.empty((N, N), dtype=object)
        out_t = np.empty((N, N), dtype=object)
        for i in range(N):
            for j in range(N):
                out_k[i, j] = +K[i][j]
                out_t[i, j] = +T[i][j]
    return out_k, out_t

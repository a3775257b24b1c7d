"""Analytic (infinite-width) NNGP and NTK Gram matrices of a fully connected network (claim L1).

The closed forms of the Gaussian kernel maps are not retyped here: they are lambdified from
the SymPy expressions derived and checked in :mod:`lora_theorems.proofs.paper_l.ntk_recursion`
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
import math
import numbers
import os
from concurrent.futures import ThreadPoolExecutor

import mpmath
import numpy as np
import sympy as sp
from numpy.typing import ArrayLike

from lora_theorems.validate import validate_finite, validate_positive_int, validate_variance

__all__ = ["ACTIVATIONS", "MEMORY_BUDGET_BYTES", "WORK_BUDGET", "analytic_ntk", "analytic_ntk_cost", "analytic_ntk_mpmath", "kernel_maps"]

ACTIVATIONS = ("relu", "erf")


def _validate_activation(activation) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r} (choose relu or erf)")
    return activation


@functools.cache
def kernel_maps(activation: str, module: str = "numpy"):
    """The kernel maps ``(E, E')`` of ``activation`` as functions of ``(a, b, c, s)``.

    Lambdified (``module`` = ``"numpy"`` or ``"mpmath"``) from
    :func:`proofs.ntk_recursion.kernel_map_exprs`; ``s`` must be ``sqrt(max(a b - c^2, 0))``.
    """
    from lora_theorems.proofs.paper_l.ntk_recursion import A, B, C, S, kernel_map_exprs

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


# ----------------------------------------------------------------------------- budgets

#: The two ``(N, N)`` float64 outputs must fit in this many bytes (issue 14: a 2 GiB budget).
MEMORY_BUDGET_BYTES = 2 * 2**30
#: At most this many kernel-entry layer updates (~8 ns each on one core: about 3 minutes).
#: Small ``N`` counts as ``_MIN_ENTRIES`` entries a layer (the per-layer Python overhead).
WORK_BUDGET = 2.5e10
_MIN_ENTRIES = 10_000
#: Above this ``Sigma`` diagonal an erf layer after the first can no longer promise 1e-12
#: (its ``1 - r^2`` is formed by cancellation, error ~ 4 eps a; see :func:`analytic_ntk`).
_ERF_DEEP_MAX_DIAG = 1.0e3
#: Entries with ``c^2 >= (1 - _DELTA) a b`` get the cancellation-free ``1 - c^2/(ab)``; elsewhere
#: the plain one has relative error <= 3 eps / _DELTA (~1e-14).
_DELTA = 1.0 / 16.0
#: Entries per block of rows: a few 512 KiB temporaries stay in cache.
_BLOCK = 1 << 16
_TINY = np.finfo(np.float64).tiny


def analytic_ntk_cost(n_inputs: int, depth: int) -> tuple[int, float]:
    """Up-front cost of :func:`analytic_ntk` (issue 14): ``(output bytes, kernel-entry updates)``.

    ``analytic_ntk`` refuses inputs whose two ``(N, N)`` outputs exceed
    :data:`MEMORY_BUDGET_BYTES` (2 GiB: ``N <= 11585``) or whose ``depth * max(N^2, 10^4)``
    updates exceed :data:`WORK_BUDGET` (2.5e10, a few minutes), with one ``ValueError`` line.
    """
    n = validate_positive_int(n_inputs, "N")
    depth = validate_positive_int(depth, "depth")
    return 2 * 8 * n * n, float(depth) * max(n * n, _MIN_ENTRIES)


def _check_budget(n: int, depth: int) -> None:
    nbytes, work = analytic_ntk_cost(n, depth)
    if nbytes > MEMORY_BUDGET_BYTES:
        raise ValueError(
            f"analytic_ntk with N = {n} inputs needs {nbytes / 2**30:.1f} GiB for its two N x N outputs "
            f"(budget {MEMORY_BUDGET_BYTES / 2**30:.0f} GiB, N <= 11585)"
        )
    if work > WORK_BUDGET:
        raise ValueError(
            f"analytic_ntk with depth = {depth} and N = {n} is {work:.1e} kernel-entry updates "
            f"(budget {WORK_BUDGET:.1e}, a few minutes)"
        )


def analytic_ntk(
    X: ArrayLike, depth: int, activation: str = "relu", weight_var: float = 1.0, bias_var: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
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
        ``Theta^(l+1) = Theta^(l) SigmaDot^(l+1) + Sigma^(l+1)``.  Exactly symmetric.

    Raises
    ------
    ValueError
        ``X`` not a finite real 2-D array, ``depth`` not a positive integer, a negative or
        non-finite variance, an unknown activation; a result that overflows float64 (e.g.
        ``X = 1e200 I`` or ``weight_var = 1e300``: the true kernel exceeds 1.8e308) or whose
        diagonal underflows below 2.2e-308; the two ``(N, N)`` outputs over 2 GiB
        (``N > 11585``) or ``depth * max(N^2, 10^4)`` over 2.5e10 updates
        (:func:`analytic_ntk_cost`); erf layers after the first with a ``Sigma`` diagonal
        above 1e3 (``1 - r^2`` would lose more than 1e-12 there).

    Notes
    -----
    The closed forms are those of :func:`proofs.ntk_recursion.kernel_map_exprs` (checked there
    symbolically and by quadrature), evaluated in scale-free form: with ``rho = c/sqrt(ab)``,
    ``w = 1 - rho^2 = (ab - c^2)/(ab)``, ``sigma = sqrt(w)`` and ``theta = atan2(sigma, rho)``,
    ReLU gives ``E = sqrt(ab) (sigma + (pi - theta) rho)/(2 pi)``, ``E' = (pi - theta)/(2 pi)``;
    erf, with ``g = sqrt(1+2a)``, ``r = 2c/(g_a g_b)`` and ``q = 1 - r^2 = D/(g_a g_b)^2``, gives
    ``E = (2/pi) atan2(r, sqrt q)``, ``E' = 4/(pi g_a g_b sqrt q)``.  No product ``ab`` is
    formed, so large variances do not overflow before the result does.

    Where digits are lost: near the diagonal (``rho^2 -> 1``) the plain ``w = 1 - rho^2``
    carries an error ~eps, which puts ``sqrt(eps)`` into the ReLU angle.  So on the few
    entries with ``w <= 1/16`` (the diagonal, collinear, nearly collinear and antipodal
    pairs) ``w`` is computed without cancellation: at the first layer from the inputs
    themselves (:func:`_input_w`: ``|x|^2 |x' - t x|^2``, a residual, not a difference of
    products), then carried from layer to layer by a cancellation-free update
    (:func:`_relu_next_w`), and near-antipodal pairs take ``sin phi - phi cos phi`` from its
    series.  Elsewhere the plain forms have relative error <= 3 eps/(1/16).  Collinear,
    antipodal, nearly collinear and one-dimensional inputs then agree with the 50-digit
    recursion to ~1e-15 of ``sqrt(Sigma(x,x) Sigma(x',x'))``.

    The work is done in blocks of rows that stay in cache, all layers at once (each entry's
    recursion needs only its own previous value and the diagonals), on up to two threads;
    every entry is computed by the same elementwise operations whatever the blocking, so the
    result does not depend on the thread count.

    Examples
    --------
    >>> import numpy as np
    >>> nngp, ntk = analytic_ntk(np.eye(2), depth=1)
    >>> bool(np.allclose(np.diag(nngp), 0.25))  # Sigma^(1)(x,x) = 1/2, E_ReLU = a/2
    True
    """
    Xa, depth, sw2, sb2 = _validate_inputs(X, depth, activation, weight_var, bias_var)
    N, d = Xa.shape
    _check_budget(N, depth)
    # scale by a power of two (exact) so that the Gram matrix cannot overflow on its own
    m = float(np.max(np.abs(Xa)))
    e = math.frexp(m)[1] if m > 0 else 0
    Xs = np.ldexp(Xa, -e)
    nrm = np.einsum("ij,ij->i", Xs, Xs)
    try:
        p = math.ldexp(sw2 / d, 2 * e) if sw2 > 0 else 0.0
    except OverflowError:
        p = math.inf
    if not math.isfinite(p):
        raise ValueError(
            f"analytic_ntk overflows float64: sigma_w^2 max|x|^2 / d = {sw2:.3g} * {m:.3g}^2 / {d} exceeds 1.8e308"
        )
    a1 = p * nrm + sb2
    zero_rows = ((nrm == 0.0) | (sw2 == 0.0)) & (sb2 == 0.0)  # Sigma^(1)(x, x) = 0 exactly
    _check_diagonals(a1, zero_rows, depth, activation, sw2, sb2)

    K = np.empty((N, N))
    T = np.empty((N, N))
    np.matmul(Xs, Xs.T, out=K)  # NumPy computes X X^T by SYRK: exactly symmetric
    ctx = _Ctx(Xs, nrm, p, sb2, sw2, activation, a1)
    rows = max(1, _BLOCK // N)
    blocks = [(i, min(i + rows, N)) for i in range(0, N, rows)]
    states: list = [None] * len(blocks)
    threads = min(2, os.cpu_count() or 1, len(blocks))
    a = a1
    t = a1
    for l0 in range(0, depth, _layer_chunk(N)):
        layers = []
        for l in range(l0, min(depth, l0 + _layer_chunk(N))):
            layer = _layer_vectors(a, t, activation, sw2, sb2, last=(l == depth - 1))
            layers.append(layer)
            a, t = layer.a_next, layer.t_next
        first = l0 == 0

        def run(b, layers=layers, first=first):
            i0, i1 = blocks[b]
            states[b] = _run_block(K[i0:i1], T[i0:i1], i0, layers, states[b], ctx, first)

        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, range(len(blocks))))
        else:
            for b in range(len(blocks)):
                run(b)
    return K, T


class _Ctx:
    """What the first layer needs: scaled inputs, their squared norms, ``p``, ``beta``."""

    def __init__(self, Xs, nrm, p, sb2, sw2, activation, a1):
        self.Xs, self.nrm, self.p, self.sb2, self.sw2 = Xs, nrm, p, sb2, sw2
        self.activation, self.a1 = activation, a1


class _Layer:
    """Per-layer vectors over all N inputs (the diagonals and their scale-free factors)."""

    __slots__ = ("a", "a_next", "t_next", "ia", "v", "h", "k", "ia_next", "f", "g", "fg", "last")


def _layer_chunk(N: int) -> int:
    # per-layer vectors of ~10 floats per input: keep a chunk of layers under ~32 MB
    return max(1, (1 << 22) // (10 * N) + 1)


def _relu_diag_step(a, t, sw2, sb2):
    """ReLU on the diagonal: ``E(a, a, a) = a/2``, ``E'(a, a, a) = 1/2``."""
    a_next = (0.5 * sw2) * a + sb2
    return a_next, t * (0.5 * sw2) + a_next


def _erf_diag_step(a, t, sw2, sb2):
    """erf on the diagonal: ``E = (2/pi) atan2(2a, sqrt(1+4a))``, ``E' = 4/(pi sqrt(1+4a))``."""
    s = np.sqrt(1.0 + 4.0 * a)
    a_next = sw2 * (2.0 / np.pi) * np.arctan2(2.0 * a, s) + sb2
    return a_next, t * (sw2 * (4.0 / np.pi) / s) + a_next


def _check_diagonals(a1, zero_rows, depth, activation, sw2, sb2):
    """Overflow / underflow of every layer's diagonal, before any N x N work (issue 14).

    ``|Sigma(x,x')| <= sqrt(Sigma(x,x) Sigma(x',x'))`` and the same for ``Theta`` (both are
    PSD), so finite diagonals bound every entry.
    """
    step = _relu_diag_step if activation == "relu" else _erf_diag_step
    a, t = a1, a1
    for layer in range(1, depth + 2):
        for name, v in (("Sigma", a), ("Theta", t)):
            if not np.all(np.isfinite(v)):
                raise ValueError(
                    f"analytic_ntk overflows float64: the diagonal of {name}^({layer}) exceeds 1.8e308 "
                    f"(weight_var = {sw2:.3g}, bias_var = {sb2:.3g}, max |x| too large)"
                )
            bad = ((v != 0.0) & (v < _TINY)) | ((v == 0.0) & ~zero_rows)
            if np.any(bad):
                raise ValueError(
                    f"analytic_ntk underflows float64: the diagonal of {name}^({layer}) falls below 2.2e-308 "
                    "(rescale X or the variances)"
                )
        if activation == "erf" and 2 <= layer <= depth and float(np.max(a)) > _ERF_DEEP_MAX_DIAG:
            raise ValueError(
                f"analytic_ntk (erf) cannot keep 1e-12 past layer 1 when the Sigma^({layer}) diagonal reaches "
                f"{float(np.max(a)):.3g} (at most {_ERF_DEEP_MAX_DIAG:g}; lower weight_var or bias_var)"
            )
        if layer <= depth:
            with np.errstate(over="ignore", under="ignore"):
                a, t = step(a, t, sw2, sb2)


def _layer_vectors(a, t, activation, sw2, sb2, last):
    """The vectors one layer needs, from the input diagonal ``a`` of ``Sigma^(l)``."""
    L = _Layer()
    L.a, L.last = a, last
    if activation == "relu":
        L.a_next, L.t_next = _relu_diag_step(a, t, sw2, sb2)
        pos = a > 0
        L.ia = np.where(pos, 1.0 / np.sqrt(np.where(pos, a, 1.0)), 0.0)
        L.v = np.sqrt(a * (sw2 / (2.0 * np.pi)))
        if not last:
            an = L.a_next
            posn = an > 0
            L.ia_next = np.where(posn, 1.0 / np.sqrt(np.where(posn, an, 1.0)), 0.0)
            safe = np.where(posn, an, 1.0)
            L.f = np.where(posn, (0.5 * sw2) * a / safe, 0.0)  # q a / a'
            L.g = np.where(posn, sb2 / safe, 0.0)  # beta / a'
            L.fg = L.f * L.g
    else:
        L.a_next, L.t_next = _erf_diag_step(a, t, sw2, sb2)
        g = np.sqrt(1.0 + 2.0 * a)
        L.h = math.sqrt(2.0) / g
        L.k = math.sqrt(4.0 * sw2 / np.pi) / g
    return L


def _run_block(c, th, i0, layers, state, ctx, first):
    """Run ``layers`` on rows ``i0:i0+R`` of ``K`` (``c``) and ``Theta`` (``th``), in place.

    ``state`` is ``(idx, w)``: the flat indices (within the block) of the entries that need
    the cancellation-free ``w = 1 - rho^2`` at the current layer, and those values.
    """
    R, N = c.shape
    rows = np.arange(i0, i0 + R)
    dflat = (rows - i0) * N + rows  # the block's diagonal entries
    relu = ctx.activation == "relu"
    o = np.empty((R, N))
    x1 = np.empty((R, N))
    x2 = np.empty((R, N))
    x3 = np.empty((R, N))
    rho_ready = False
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        if first:
            c *= ctx.p
            if ctx.sb2:
                c += ctx.sb2
            c.flat[dflat] = ctx.a1[rows]
            th[...] = c
            L = layers[0]
            if relu:
                np.multiply(L.ia[rows, None], L.ia[None, :], out=o)
                np.multiply(c, o, out=x1)  # rho
                rho_ready = True
                np.multiply(x1, x1, out=x2)
                np.subtract(1.0, x2, out=x2)
            else:
                np.multiply(L.h[rows, None], L.h[None, :], out=o)
                np.multiply(c, o, out=x1)  # r
                rho_ready = True
                np.multiply(x1, x1, out=x2)
                np.subtract(1.0, x2, out=x2)  # q
            idx = np.flatnonzero(x2 <= _DELTA)
            w = _input_w(ctx, rows, idx, N)
            if not relu:  # q = (1 + 2a + 2b + 4 (ab - c^2)) / ((1+2a)(1+2b)) on those entries
                I = rows[idx // N]
                J = idx % N
                ga, gb = 1.0 + 2.0 * ctx.a1[I], 1.0 + 2.0 * ctx.a1[J]
                q = (1.0 / ga + 1.0 / gb - 1.0 / (ga * gb)) + 4.0 * w * (ctx.a1[I] / ga) * (ctx.a1[J] / gb)
                x2.flat[idx] = q
            state = (idx, w)
        idx, w = state
        for L in layers:
            if relu:
                if not rho_ready:
                    np.multiply(L.ia[rows, None], L.ia[None, :], out=o)
                    np.multiply(c, o, out=x1)
                    np.multiply(x1, x1, out=x2)
                    np.subtract(1.0, x2, out=x2)
                rho = x1
                sig = x2
                np.sqrt(sig, out=sig)
                sig.flat[idx] = np.sqrt(w)
                ang = x3
                np.arctan2(sig, rho, out=ang)
                phi = o
                np.subtract(np.pi, ang, out=phi)
                jt = x2  # sigma + phi rho, written over sigma
                np.multiply(phi, rho, out=x1)
                np.add(sig, x1, out=jt)
                # near-antipodal pairs: sigma + phi rho = sin phi - phi cos phi cancels
                anti = idx[phi.flat[idx] > np.pi / 2]
                if anti.size:
                    ph = phi.flat[anti]
                    jt.flat[anti] = np.where(ph < 1.0, _sin_minus_t_cos(ph), jt.flat[anti])
                np.multiply(phi, ctx.sw2 / (2.0 * np.pi), out=phi)  # sigma_w^2 E'
                th *= phi
                np.multiply(L.v[rows, None], L.v[None, :], out=x1)
                np.multiply(jt, x1, out=c)
                if ctx.sb2:
                    c += ctx.sb2
                th += c
                c.flat[dflat] = L.a_next[rows]
                th.flat[dflat] = L.t_next[rows]
                if not L.last:
                    np.multiply(L.ia_next[rows, None], L.ia_next[None, :], out=o)
                    np.multiply(c, o, out=x1)
                    np.multiply(x1, x1, out=x2)
                    np.subtract(1.0, x2, out=x2)
                    rho_ready = True
                    idx = np.flatnonzero(x2 <= _DELTA)
                    w = _relu_next_w(ang.flat[idx], rows[idx // N], idx % N, L)
                    w[rows[idx // N] == idx % N] = 0.0
            else:
                if not rho_ready:
                    np.multiply(L.h[rows, None], L.h[None, :], out=o)
                    np.multiply(c, o, out=x1)
                    np.multiply(x1, x1, out=x2)
                    np.subtract(1.0, x2, out=x2)
                rho_ready = False
                np.sqrt(x2, out=x2)  # sqrt(q)
                np.arctan2(x1, x2, out=x3)
                np.multiply(L.k[rows, None], L.k[None, :], out=o)
                np.divide(o, x2, out=o)  # sigma_w^2 E'
                th *= o
                np.multiply(x3, ctx.sw2 * 2.0 / np.pi, out=c)
                if ctx.sb2:
                    c += ctx.sb2
                th += c
                c.flat[dflat] = L.a_next[rows]
                th.flat[dflat] = L.t_next[rows]
        for arr in (c, th):
            if not (math.isfinite(float(arr.min())) and math.isfinite(float(arr.max()))):
                raise ValueError("analytic_ntk: a kernel entry is not finite (overflow)")
    return (idx, w)


def _sin_minus_t_cos(t: np.ndarray) -> np.ndarray:
    """``sin t - t cos t = sum_k (-1)^(k+1) 2k t^(2k+1)/(2k+1)!`` for ``0 <= t < 1`` (no cancellation)."""
    t = np.asarray(t, dtype=np.float64)
    series = np.zeros_like(t)
    term_pow = t**3
    fact = 6.0  # (2k+1)! for k = 1
    for k in range(1, 10):  # the k = 10 term is < 1e-18 t^3 relative
        series = series + ((-1) ** (k + 1)) * (2 * k) * term_pow / fact
        term_pow = term_pow * t * t
        fact = fact * (2 * k + 2) * (2 * k + 3)
    return series


def _input_w(ctx, rows, idx, N):
    """``w = (ab - c^2)/(ab)`` of ``Sigma^(1)`` on the block entries ``idx``, from the inputs.

    With ``Sigma^(1) = p x.x' + beta`` (``x`` scaled, ``n = |x|^2``, ``gamma = beta/p``)::

        w = (n n' - (x.x')^2 + gamma |x - x'|^2) / ((n + gamma)(n' + gamma))

    and ``n n' - (x.x')^2 = n |x' - t x|^2`` with ``t = x.x'/n`` (a residual: (nearly)
    collinear inputs give ~eps^2, not ~eps).  The pair is taken in the order
    ``(min, max)`` so that ``w`` is exactly symmetric.
    """
    I = rows[idx // N]
    J = idx % N
    lo, hi = np.minimum(I, J), np.maximum(I, J)
    out = np.zeros(idx.size)
    Xs, nrm, p, beta = ctx.Xs, ctx.nrm, ctx.p, ctx.sb2
    step = max(1, (1 << 16) // Xs.shape[1])
    for s in range(0, idx.size, step):
        li, hj = lo[s : s + step], hi[s : s + step]
        xi, xj = Xs[li], Xs[hj]
        ni, nj = nrm[li], nrm[hj]
        dot = np.einsum("ij,ij->i", xi, xj)
        tt = np.divide(dot, ni, out=np.zeros_like(dot), where=ni > 0)
        R = xj - tt[:, None] * xi
        T1 = ni * np.einsum("ij,ij->i", R, R)
        Dl = xi - xj
        D2 = np.einsum("ij,ij->i", Dl, Dl)
        if p == 0.0:
            w = np.zeros_like(T1)  # Sigma^(1) = beta everywhere: collinear
        elif beta <= p:
            gam = beta / p
            den = (ni + gam) * (nj + gam)
            w = np.divide(T1 + gam * D2, den, out=np.zeros_like(T1), where=den > 0)
        else:
            ig = p / beta
            w = (T1 * ig * ig + D2 * ig) / ((ni * ig + 1.0) * (nj * ig + 1.0))
        w[li == hj] = 0.0
        out[s : s + step] = w
    return out


def _one_minus_j(t: np.ndarray) -> np.ndarray:
    """``1 - J(t)`` with ``J(t) = (sin t + (pi - t) cos t) / pi`` (the ReLU correlation map), stably.

    ``pi (1 - J) = 2 pi sin^2(t/2) - (sin t - t cos t)``; the last bracket is summed from its
    Taylor series for ``t < 1`` (no cancellation).
    """
    t = np.asarray(t, dtype=np.float64)
    small = t < 1.0
    h = np.where(small, _sin_minus_t_cos(np.where(small, t, 0.0)), np.sin(t) - t * np.cos(t))
    return (2 * np.pi * np.sin(t / 2) ** 2 - h) / np.pi


def _relu_next_w(theta, I, J, L):
    """``w' = 1 - c'^2/(a'b')`` of the next ReLU layer, without cancellation (L1, eq. 9).

    With ``q = sigma_w^2/2``, ``u = 1 - J(theta)``, ``f = q a/a'`` and ``g = beta/a'``
    (``a' = q a + beta``): ``a'b' - c'^2 = q^2 ab u(2 - u) + q beta ((sqrt a - sqrt b)^2 +
    2 sqrt(ab) u)`` (the identity is checked in SymPy by ``tests/paper_l/test_analytic_ntk.py``),
    so ``w' = f_a f_b u (2 - u) + (sqrt(f_a g_b) - sqrt(f_b g_a))^2 + 2 u sqrt(f_a g_a f_b g_b)``,
    every term >= 0 and no product of variances formed.
    """
    u = _one_minus_j(theta)
    fa, fb = L.f[I], L.f[J]
    ga, gb = L.g[I], L.g[J]
    dif = np.sqrt(fa * gb) - np.sqrt(fb * ga)
    return (fa * fb) * u * (2.0 - u) + dif * dif + 2.0 * u * np.sqrt(L.fg[I] * L.fg[J])


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

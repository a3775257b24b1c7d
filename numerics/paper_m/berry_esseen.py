"""Paper M (claim M3): how far is the LoRA noise from a Gaussian?

One coordinate.  Write ``g = G_i.`` (a row of the gradient), ``gj = G_ij`` and
``c = ||g_{-j}||``.  With ``A`` i.i.d. N(0, 1/r), ``z_k = sqrt(r) a_k`` standard normal,

    N_ij = (1/r) sum_k [ gj (u_k^2 - 1) + c u_k v_k ],   u_k = z_kj,  v_k independent N(0,1),

a sum of ``r`` i.i.d. terms ``Y_k`` (so Berry-Esseen in ``r`` applies).  Conditioning on
``S = sum_k u_k^2 ~ chi^2_r`` gives ``N_ij | S ~ N(gj (S - r)/r, c^2 S / r^2)``, hence the exact
CDF and density as one-dimensional integrals over ``S`` (computed here with adaptive
quadrature, vectorised over the evaluation points).  For ``c = 0`` the coordinate is a scaled
centred chi-square, ``gj (chi^2_r / r - 1)``; for ``gj = 0`` it is a normal-product sum
(variance-gamma, Laplace at ``r = 2``).  Its characteristic function is
``exp(-i gj t) (1 - 2 i gj t / r + c^2 t^2 / r^2)^(-r/2)``.

One row.  Rotating ``g`` to ``||g|| e_1``, the row is ``(chi^2_r / r - 1, Y)`` with ``Y`` given the first
coordinate ``N(0, (X + 1)/r I_{n-1})``, so its TV to the Gaussian is a one-dimensional integral of closed
forms (:func:`row_tv_distance`).

The whole matrix.  ``N + G = (G A^T) A`` has rank at most ``r``; when ``rank G > r`` a Gaussian
with the same covariance gives that set probability 0, so the total variation distance is 1.
"""

from __future__ import annotations

import collections
import functools
import heapq
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special, stats

from lora_theorems.validate import validate_finite, validate_positive_int, validate_variance

__all__ = [
    "BE_CONSTANT",
    "CoordinateLaw",
    "coordinate_law",
    "berry_esseen_bound",
    "kolmogorov_distance",
    "tv_distance",
    "tv_distance_quadrature",
    "row_tv_distance",
    "clear_caches",
    "abs_third_moment_normal",
    "clopper_pearson",
    "matrix_rank_distinguisher",
]

#: Shevtsova (2011): sup |F_n - Phi| <= 0.4748 rho / (sigma^3 sqrt n) for i.i.d. summands.
BE_CONSTANT = 0.4748

_QUAD_EPSABS = 1e-12  # absolute error target of the conditional-normal quadrature (CDF scale 1)


def abs_third_moment_normal(mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``E|W|^3`` for ``W ~ N(mu, s^2)``:
    ``s^3 sqrt(2/pi) (2 + mu^2/s^2) exp(-mu^2/(2 s^2)) + mu (mu^2 + 3 s^2) erf(mu / (s sqrt 2))``."""
    mu = np.asarray(mu, dtype=float)
    s = np.asarray(s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s > 0, mu / np.where(s > 0, s, 1.0), np.where(mu >= 0, np.inf, -np.inf))
        gauss = np.where(s > 0, s**3 * np.sqrt(2 / np.pi) * (2 + q**2) * np.exp(-0.5 * np.minimum(q**2, 1e300)), 0.0)
    return gauss + mu * (mu**2 + 3 * s**2) * special.erf(q / np.sqrt(2))


@functools.cache
def _chi_upper_end(r: int) -> float:
    """Upper end of the ``S ~ chi_r`` quadratures: ``P(S > s) = 1e-17`` (pure function of ``r``)."""
    return float(np.sqrt(stats.chi2.isf(1e-17, r)))


@functools.cache
def _chi_log_norm(r: int) -> float:
    # log of 1 / (2^(r/2 - 1) Gamma(r/2)), in the order scipy's chi._logpdf computes it
    return float(np.log(2) - 0.5 * np.log(2) * r - special.gammaln(0.5 * r))


def _chi_pdf(s: float, r: int) -> np.ndarray:
    """Density of ``chi_r`` at a scalar ``s`` as a 1-vector, bit for bit ``stats.chi.pdf(s, r)``
    (the same ufuncs in the same order on a 1-element array; 0 off the support ``s >= 0``, as
    scipy's support mask gives)."""
    x = np.asarray([s], dtype=float)
    if not x[0] >= 0:
        return np.zeros(1)
    return np.exp(_chi_log_norm(r) + special.xlogy(r - 1.0, x) - 0.5 * x**2)


# ----------------------------------------------------------------------------- quadrature
#
# scipy.integrate.quad_vec calls the integrand once per node (21 per Gauss-Kronrod panel), in
# Python; M3's CDF and density integrands are cheap numpy expressions, so that dispatch was most
# of M3's run time.  _quad_vec_batched follows quad_vec's algorithm step for step (the same
# panels, the same heap of intervals, the same error estimates and the same floating-point
# operations in the same order) but evaluates all nodes of one round of subdivisions at once, so
# its results are quad_vec's, bit for bit (tests/paper_m/test_paper_m_berry_esseen.py compares
# them).  Only the options M3 uses: finite [a, b], norm '2', GK21, no points, one worker.

# Gauss-Kronrod 21 nodes and weights (the literals of scipy's _quadrature_gk21)
_GK21_X = (0.995657163025808080735527280689003,
    0.973906528517171720077964012084452,
    0.930157491355708226001207180059508,
    0.865063366688984510732096688423493,
    0.780817726586416897063717578345042,
    0.679409568299024406234327365114874,
    0.562757134668604683339000099272694,
    0.433395394129247190799265943165784,
    0.294392862701460198131126603103866,
    0.148874338981631210884826001129720,
    0,
    -0.148874338981631210884826001129720,
    -0.294392862701460198131126603103866,
    -0.433395394129247190799265943165784,
    -0.562757134668604683339000099272694,
    -0.679409568299024406234327365114874,
    -0.780817726586416897063717578345042,
    -0.865063366688984510732096688423493,
    -0.930157491355708226001207180059508,
    -0.973906528517171720077964012084452,
    -0.995657163025808080735527280689003)

_GK21_W = (0.066671344308688137593568809893332,
    0.149451349150580593145776339657697,
    0.219086362515982043995534934228163,
    0.269266719309996355091226921569469,
    0.295524224714752870173892994651338,
    0.295524224714752870173892994651338,
    0.269266719309996355091226921569469,
    0.219086362515982043995534934228163,
    0.149451349150580593145776339657697,
    0.066671344308688137593568809893332)

_GK21_V = (0.011694638867371874278064396062192,
    0.032558162307964727478818972459390,
    0.054755896574351996031381300244580,
    0.075039674810919952767043140916190,
    0.093125454583697605535065465083366,
    0.109387158802297641899210590325805,
    0.123491976262065851077958109831074,
    0.134709217311473325928054001771707,
    0.142775938577060080797094273138717,
    0.147739104901338491374841515972068,
    0.149445554002916905664936468389821,
    0.147739104901338491374841515972068,
    0.142775938577060080797094273138717,
    0.134709217311473325928054001771707,
    0.123491976262065851077958109831074,
    0.109387158802297641899210590325805,
    0.093125454583697605535065465083366,
    0.075039674810919952767043140916190,
    0.054755896574351996031381300244580,
    0.032558162307964727478818972459390,
    0.011694638867371874278064396062192)

_GK21_V_COL = np.asarray(_GK21_V, dtype=float)[:, None, None]
_GK21_W_COL = np.asarray(_GK21_W, dtype=float)[:, None, None]
_QV_PARALLEL = 128  # quad_vec's parallel_count: intervals subdivided per round
_QV_CACHE_BYTES = 100e6  # quad_vec's default cache_size (an LRU of panel integrals)
_QV_BLOCK = 1 << 17  # integrand values evaluated per call (1 MB per array: stays in cache)


class _Panels:
    """scipy quad_vec's ``_quadrature_gk21(lo, hi, f, np.linalg.norm)`` for many panels at once.

    ``fb(nodes, out)`` writes the integrand at a 1-D array of nodes into ``out`` (shape
    ``(nodes, nx)``, each row equal to ``f`` at that node; ``nonneg``: it is never negative), and
    returns ``None`` or a column span ``(j0, j1)`` outside which every value it wrote is +-0.
    Panels go in groups of at most :data:`_QV_BLOCK` integrand values, through buffers allocated
    once (fresh large arrays per group cost a page-fault storm)."""

    def __init__(self, fb: Callable[[np.ndarray, np.ndarray], tuple[int, int] | None], nx: int, nonneg: bool):
        self.fb, self.nx, self.nonneg = fb, nx, nonneg
        self.group = max(1, _QV_BLOCK // (len(_GK21_X) * max(nx, 1)))
        self.size = 0

    def _buffers(self, g: int) -> None:
        if g > self.size:
            self.size = min(max(g, 2 * self.size), self.group)
            self.F = np.empty(len(_GK21_X) * self.size * self.nx)
            self.P = np.empty_like(self.F)
            self.work = np.empty((5, self.size, self.nx))

    def __call__(self, lo: list[float], hi: list[float]) -> list[tuple[np.ndarray, float, float]]:
        """``[(integral, error, rounding error), ...]`` for the panels ``[lo[j], hi[j]]``, in order."""
        out: list[tuple[np.ndarray, float, float]] = []
        for g0 in range(0, len(lo), self.group):
            out += self._group(lo[g0:g0 + self.group], hi[g0:g0 + self.group])
        return out

    def _group(self, lo: list[float], hi: list[float]) -> list[tuple[np.ndarray, float, float]]:
        g, nx, K = len(lo), self.nx, len(_GK21_X)
        self._buffers(g)
        a = np.asarray(lo, dtype=float)
        b = np.asarray(hi, dtype=float)
        c = 0.5 * (a + b)
        h = 0.5 * (b - a)
        nodes = (c[None, :] + h[None, :] * np.asarray(_GK21_X, dtype=float)[:, None]).ravel()  # node-major
        flat = self.F[: K * g * nx].reshape(K * g, nx)
        span = self.fb(nodes, flat)
        F = flat.reshape(K, g, nx)
        P = self.P[: K * g * nx].reshape(K, g, nx)
        s_k, s_g, s_k_dabs, tmp, y0 = (w[:g] for w in self.work)
        # the sums of scipy's _quadrature_gk, term by term in its order (the products elementwise, all
        # at once; the additions one node at a time: the same roundings); each sum starts from the
        # float 0.0 as there (0.0 + x is x, but for turning -0.0 into +0.0).  Where fb reports a
        # span, every value outside it is +-0, so all sums are exactly +0.0 there: they are only
        # computed inside (the vectors keep their length, so the norms below are unchanged)
        cols = slice(None) if span is None else slice(*span)
        for w in (s_k, s_g, s_k_dabs, y0):
            w.fill(0.0)
        Fc, Pc = F[:, :, cols], P[:, :, cols]
        s_kc, s_gc, s_k_dabsc, y0c = s_k[:, cols], s_g[:, cols], s_k_dabs[:, cols], y0[:, cols]
        np.multiply(_GK21_V_COL, Fc, out=Pc)
        for i in range(K):
            s_kc += Pc[i]
        if self.nonneg:  # |f| = f (up to the sign of a zero, which cannot change a sum that starts at +0)
            s_k_abs = s_k
        else:
            s_k_abs = np.zeros((g, nx))
            np.abs(Fc, out=Pc)
            Pc *= _GK21_V_COL
            for i in range(K):
                s_k_abs[:, cols] += Pc[i]
        Pg = Pc[: len(_GK21_W)]
        np.multiply(_GK21_W_COL, Fc[1::2], out=Pg)
        for i in range(len(_GK21_W)):
            s_gc += Pg[i]
        np.divide(s_kc, 2.0, out=y0c)
        np.subtract(Fc, y0c, out=Pc)
        np.abs(Pc, out=Pc)
        Pc *= _GK21_V_COL
        for i in range(K):
            s_k_dabsc += Pc[i]
        hc = h[:, None]
        I_ = hc * s_k
        E = np.subtract(s_k, s_g, out=s_g)
        E *= hc
        D = np.multiply(s_k_dabs, hc, out=s_k_dabs)
        R = np.multiply((50 * sys.float_info.epsilon * h)[:, None], s_k_abs, out=tmp)
        out = []
        for j in range(g):
            err = float(_norm2(E[j]))
            dabs = float(_norm2(D[j]))
            if dabs != 0 and err != 0:
                err = dabs * min(1.0, (200 * err / dabs) ** 1.5)
            round_err = float(_norm2(R[j]))
            if round_err > sys.float_info.min:
                err = max(err, round_err)
            out.append((I_[j], err, round_err))
        return out


def _norm2(x: np.ndarray) -> np.floating:
    """``np.linalg.norm`` of a 1-D float array (its code path: ``sqrt(x.dot(x))``)."""
    return np.sqrt(x.dot(x))


def _quad_vec_batched(fb: Callable[[np.ndarray, np.ndarray], tuple[int, int] | None], a: float, b: float, nx: int, *,
                      epsabs: float, epsrel: float, limit: int, nonneg: bool = False) -> tuple[np.ndarray, float]:
    """``scipy.integrate.quad_vec(f, a, b, epsabs=epsabs, epsrel=epsrel, limit=limit)`` for a
    vector integrand of length ``nx`` on a finite interval, bit for bit, with the nodes of each
    round evaluated together by ``fb`` (see :class:`_Panels`)."""
    a, b = float(a), float(b)
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"invalid integration bounds a={a}, b={b}")
    panels_of = _Panels(fb, nx, nonneg)
    ((ig, err, rnd),) = panels_of([a], [b])
    global_integral = ig.copy()
    global_error, rounding_error = float(err), float(rnd)
    cache: collections.OrderedDict = collections.OrderedDict()
    cache_count = _QV_CACHE_BYTES // sys.getsizeof(ig.copy())

    def remember(key: tuple[float, float], value: np.ndarray) -> None:  # scipy's LRUDict.__setitem__
        existing = key in cache
        cache[key] = value
        if existing:
            cache.move_to_end(key)
        elif len(cache) > cache_count:
            cache.popitem(last=False)

    remember((a, b), ig)
    intervals = [(-err, a, b)]
    heapq.heapify(intervals)
    while intervals and len(intervals) < limit:
        tol = max(epsabs, float(epsrel * _norm2(global_integral)))
        to_process = []
        err_sum = 0.0
        for j in range(_QV_PARALLEL):
            if not intervals:
                break
            if j > 0 and err_sum > global_error - tol / 8:
                break
            neg_old_err, x1, x2 = heapq.heappop(intervals)
            to_process.append((-neg_old_err, x1, x2, cache.pop((x1, x2), None)))
            err_sum += -neg_old_err
        lo, hi = [], []
        for _, x1, x2, old in to_process:
            mid = 0.5 * (x1 + x2)
            lo += [x1, mid]
            hi += [mid, x2]
            if old is None:
                lo.append(x1)
                hi.append(x2)
        panels = iter(panels_of(lo, hi))
        for old_err, x1, x2, old in to_process:
            mid = 0.5 * (x1 + x2)
            s1, err1, round1 = next(panels)
            s2, err2, round2 = next(panels)
            if old is None:
                old = next(panels)[0]
            global_integral += s1 + s2 - old
            global_error += err1 + err2 - old_err
            rounding_error += round1 + round2
            for y1, y2, ig_, e_ in ((x1, mid, s1, err1), (mid, x2, s2, err2)):
                remember((y1, y2), ig_)
                heapq.heappush(intervals, (-e_, y1, y2))
        if len(intervals) >= 2:
            tol = max(epsabs, float(epsrel * _norm2(global_integral)))
            if global_error < tol / 8:
                break
            if global_error < rounding_error:
                break
        if not (np.isfinite(global_error) and np.isfinite(rounding_error)):
            break
    return global_integral, global_error + rounding_error


_WINDOW_MIN = 256  # shortest evaluation vector worth skipping its saturated ends row by row


def _sorted_finite(v: np.ndarray) -> bool:
    """Whether ``v`` is long enough for :func:`_windows`, finite and non-decreasing."""
    return bool(v.size >= _WINDOW_MIN and np.all(np.isfinite(v)) and np.all(v[1:] >= v[:-1]))


def _windows(arg: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """For rows of ``arg`` that are non-decreasing and free of NaN: per row, the index ``i0`` where the
    values ``<= lo`` end and ``i1`` where those ``>= hi`` begin (so ``[i0, i1)`` is the rest)."""
    return np.count_nonzero(arg <= lo, axis=1), arg.shape[1] - np.count_nonzero(arg >= hi, axis=1)


@dataclass(frozen=True)
class CoordinateLaw:
    """The exact law of one noise coordinate ``N_ij`` (M3), parametrised by ``gj``, ``c``, ``r``."""

    gj: float
    c: float
    r: int

    @property
    def sigma(self) -> float:
        """Standard deviation: ``sqrt((2 gj^2 + c^2) / r)`` (= M2's ``(||g||^2 + gj^2)/r``)."""
        return float(np.sqrt((2 * self.gj**2 + self.c**2) / self.r))

    def _smax(self) -> float:
        return _chi_upper_end(self.r)

    def _chi_pdf(self, s: float) -> np.ndarray:
        """``stats.chi.pdf(s, r)`` for a scalar ``s``, the same bits without scipy's generic
        dispatch (the quadratures call it hundreds of times per value; the dispatch was 80% of
        M3's run time)."""
        return _chi_pdf(s, self.r)

    def _chi_pdf_nodes(self, s: np.ndarray) -> np.ndarray:
        """:meth:`_chi_pdf` at each of the nodes ``s`` (1-D), as a column: the same ufuncs elementwise."""
        with np.errstate(invalid="ignore", divide="ignore"):
            val = np.exp(_chi_log_norm(self.r) + special.xlogy(self.r - 1.0, s) - 0.5 * s**2)
        return np.where(s >= 0, val, 0.0)[:, None]

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """Exact CDF (quadrature error below ``1e-11``; closed form when ``c = 0``).

        ``F(x) = int_0^smax Phi((r x - gj (s^2 - r)) / (c s)) chi_r(s) ds``, by quad_vec's adaptive
        Gauss-Kronrod scheme (:func:`_quad_vec_batched`: its results bit for bit, nodes batched)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        r, gj, c = self.r, self.gj, self.c
        if c == 0.0:
            return stats.chi2.cdf(r + r * x / gj, r)
        rx = r * x
        windowed = _sorted_finite(rx)

        def fb(s, out) -> None:  # ndtr((r x - gj (s^2 - r)) / (c max(s, 1e-300))) chi_r(s), row per node
            den = c * np.maximum(s, 1e-300)
            np.subtract(rx[None, :], (gj * (s * s - r))[:, None], out=out)
            np.divide(out, den[:, None], out=out)
            if windowed and bool(np.all(den > 0)):
                # each row is non-decreasing (rx is, and rounding is monotone) and has no NaN, so ndtr's
                # exact 0 (arg <= -38) and exact 1 (arg >= 9) are a prefix and a suffix of it
                for row, i0, i1 in zip(out, *_windows(out, -38.0, 9.0), strict=True):
                    row[:i0] = 0.0
                    row[i1:] = 1.0
                    special.ndtr(row[i0:i1], out=row[i0:i1])
            else:
                special.ndtr(out, out=out)
            np.multiply(out, self._chi_pdf_nodes(s), out=out)

        val, _ = _quad_vec_batched(fb, 0.0, self._smax(), x.size, epsabs=_QUAD_EPSABS, epsrel=1e-12, limit=400, nonneg=True)
        return np.clip(val, 0.0, 1.0)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Exact density (quadrature as in :meth:`cdf`; closed form when ``c = 0``)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        r, gj, c = self.r, self.gj, self.c
        if c == 0.0:
            return stats.chi2.pdf(r + r * x / gj, r) * r / abs(gj)
        rx = r * x
        windowed = _sorted_finite(rx)
        scratch: list[np.ndarray] = []

        def fb(s, out) -> tuple[int, int] | None:  # r/(c s) exp(-arg^2/2) / sqrt(2 pi) chi_r(s), s >= 1e-300
            s = np.maximum(s, 1e-300)
            cs = c * s
            if not scratch or scratch[0].size < out.size:
                scratch[:] = [np.empty(out.size)]
            e = scratch[0][: out.size].reshape(out.shape)
            np.subtract(rx[None, :], (gj * (s * s - r))[:, None], out=out)
            np.divide(out, cs[:, None], out=out)  # arg
            np.multiply(-0.5, out, out=e)
            e *= out
            span = None
            if windowed and bool(np.all(cs > 0)):
                # rows of arg are non-decreasing without NaN; |arg| >= 38.7 gives e <= -748 and exp(e) = 0
                # exactly: a prefix and a suffix of each row
                lo, hi = _windows(out, -38.7, 38.7)
                for row, i0, i1 in zip(e, lo, hi, strict=True):
                    row[:i0] = 0.0
                    row[i1:] = 0.0
                    np.exp(row[i0:i1], out=row[i0:i1])
                span = (int(lo.min()), max(int(hi.max()), int(lo.min())))
            else:
                np.exp(e, out=e)
            pre, chi = r / cs, self._chi_pdf_nodes(s)
            np.multiply(pre[:, None], e, out=out)
            np.divide(out, np.sqrt(2 * np.pi), out=out)
            np.multiply(out, chi, out=out)
            # outside the windows the value is pre * 0 / sqrt(2 pi) * chi: +0 when both factors are finite
            return span if span is not None and bool(np.all(np.isfinite(pre)) and np.all(np.isfinite(chi))) else None

        val, _ = _quad_vec_batched(fb, 0.0, self._smax(), x.size, epsabs=1e-12, epsrel=1e-10, limit=400, nonneg=True)
        return val

    def lyapunov_ratio(self) -> float:
        """``rho / sigma_Y^3`` of one summand ``Y = gj (u^2 - 1) + c u v`` (exact quadrature; it does
        not depend on ``r``, so it is computed once per ``(gj, c)``)."""
        return _lyapunov_memo(self.gj, self.c)


@functools.lru_cache(maxsize=1024)
def _lyapunov_memo(gj: float, c: float) -> float:
    sY = np.sqrt(2 * gj**2 + c**2)

    def f(u):
        return float(abs_third_moment_normal(gj * (u * u - 1), c * abs(u))) * np.exp(-u * u / 2) / np.sqrt(2 * np.pi)

    pts = [-1.0, 1.0] if gj != 0 else None
    rho, _ = integrate.quad(f, -40, 40, points=pts, epsabs=1e-13, epsrel=1e-12, limit=400)
    return float(rho / sY**3)


def coordinate_law(G: np.ndarray, i: int, j: int, r: int) -> CoordinateLaw:
    """The law of ``N_ij`` for gradient ``G`` and rank ``r`` (M3, one coordinate)."""
    G = np.asarray(G, dtype=float)
    validate_finite(G, "G")
    r = validate_positive_int(r, "rank")
    g = G[i]
    gj = float(g[j])
    c = float(np.sqrt(max((g**2).sum() - gj**2, 0.0)))
    if gj == 0.0 and c == 0.0:
        raise ValueError("row i of G is zero: the coordinate is identically 0")
    if gj < 0:  # N_ij(-g) = -N_ij(g): distances are invariant, keep gj >= 0
        gj = -gj
    return CoordinateLaw(gj=gj, c=c, r=r)


def berry_esseen_bound(law: CoordinateLaw, constant: float = BE_CONSTANT) -> float:
    """M3: the explicit Berry-Esseen bound ``C rho / (sigma^3 sqrt r)`` on the Kolmogorov
    distance of ``N_ij`` to ``N(0, Var N_ij)``."""
    validate_variance(constant, "constant", allow_zero=False)
    return float(constant * law.lyapunov_ratio() / np.sqrt(law.r))


def _grid(L: float, npts: int) -> np.ndarray:
    a = np.arcsinh(L / 2)
    return 2 * np.sinh(np.linspace(-a, a, npts))


def _std_pdf_gap(law: CoordinateLaw, z: np.ndarray) -> np.ndarray:
    """``f_Z(z) - phi(z)`` with ``Z = N_ij / sigma`` (standardised units)."""
    s = law.sigma
    return law.pdf(z * s) * s - np.exp(-z * z / 2) / np.sqrt(2 * np.pi)


def _chi2_crossings(law: CoordinateLaw) -> tuple[np.ndarray, float]:
    """``c = 0``: every solution of ``f_Z = phi``, certified, and the left edge of the support.

    With ``y = r + r sigma z / gj`` (``Z`` a scaled centred chi-square), ``h(z) = log f_Z - log phi =
    (r/2 - 1) log y - y/2 + z^2/2 + const`` has ``h'(z) = 0`` iff a quadratic in ``z`` vanishes, so ``h``
    has at most two critical points and at most three zeros; each monotone piece is searched with
    ``brentq`` (to machine precision).
    """
    from scipy import optimize

    r, gj, s = law.r, law.gj, law.sigma
    k = r * s / gj  # dy/dz
    z0 = -r / k  # y = 0: the support edge
    # h'(z) = (r/2 - 1) k / y - k/2 + z, y = r + k z  ->  (z - k/2)(r + k z) + (r/2 - 1) k = 0
    qa, qb, qc = k, r - k * k / 2, (r / 2 - 1) * k - k * r / 2
    crit = np.roots([qa, qb, qc]) if qa != 0 else np.array([])
    crit = np.sort(crit[(np.abs(crit.imag) < 1e-12) & (crit.real > z0)].real)

    def h(z):
        y = r + k * z
        return stats.chi2.logpdf(y, r) + np.log(k) - stats.norm.logpdf(z)

    edges = np.concatenate([[z0 + 1e-14 * max(1.0, abs(z0))], crit, [60.0]])
    roots = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        ha, hb = h(a), h(b)
        if np.isfinite(ha) and np.isfinite(hb) and ha * hb < 0:
            roots.append(optimize.brentq(h, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))
        elif not np.isfinite(ha) and hb != 0:
            # f -> +inf (r = 1) or 0 (r >= 3) at the edge: the sign of h there is the sign of its limit
            ha = np.inf if r == 1 else -np.inf
            if ha * hb < 0:
                roots.append(optimize.brentq(h, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))
    return np.array(roots), float(z0)


def _find_crossings(law: CoordinateLaw, *, L: float = 40.0, npts: int = 4001) -> tuple[np.ndarray, list[float]]:
    """The points where ``f_Z - phi`` changes sign (standardised units) and where ``f_Z`` jumps.

    ``c = 0``: certified (:func:`_chi2_crossings`).  Otherwise ``f_Z`` is smooth; sign changes are
    read on a sinh grid and refined with ``brentq`` on the exact (quadrature) density.
    """
    from scipy import optimize

    if law.c == 0.0:
        roots, z0 = _chi2_crossings(law)
        return roots, [z0]
    z = _grid(L, npts)
    d = _std_pdf_gap(law, z)
    idx = np.nonzero(np.sign(d[1:]) * np.sign(d[:-1]) < 0)[0]
    g = lambda t: float(_std_pdf_gap(law, np.array([t]))[0])  # noqa: E731
    found = [optimize.brentq(g, z[i], z[i + 1], xtol=1e-13, maxiter=200) for i in idx]
    return np.array(found), []


# Memos of pure functions of the (frozen, hashable) law: M3's three coordinate checks and its tests ask for
# the same laws, and the crossings are shared by the TV and the Kolmogorov distance; a memo returns the
# very floats a fresh computation gives (no run state: nothing here depends on the seed or profile).
_MEMO = 1024


@functools.lru_cache(maxsize=_MEMO)
def _crossings_memo(law: CoordinateLaw, L: float, npts: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    roots, jumps = _find_crossings(law, L=L, npts=npts)
    return tuple(float(x) for x in roots), tuple(float(x) for x in jumps)


def _crossings(law: CoordinateLaw, *, L: float = 40.0, npts: int = 4001) -> tuple[np.ndarray, list[float]]:
    """:func:`_find_crossings`, memoised per law (fresh arrays on every call)."""
    roots, jumps = _crossings_memo(law, float(L), int(npts))
    return np.array(roots, dtype=float), list(jumps)


def clear_caches() -> None:
    """Forget the memoised crossings and distances (for tests that replace the law's density)."""
    for f in (_crossings_memo, _kolmogorov_memo, _tv_memo, _lyapunov_memo):
        f.cache_clear()


def _cell_points(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The 10 interior points of ``np.linspace(lo[k], hi[k], 12)`` for every cell ``k``, concatenated
    (one vectorised linspace: the same ``start + i * step`` per cell, unless a step underflows to 0,
    where linspace changes its formula for the whole batch: then cell by cell)."""
    if np.any((hi - lo) / 11 == 0):
        return np.concatenate([np.linspace(a, b, 12)[1:-1] for a, b in zip(lo, hi, strict=True)])
    return np.linspace(lo, hi, 12, axis=1)[:, 1:-1].ravel()


def kolmogorov_distance(law: CoordinateLaw, *, L: float = 80.0, npts: int = 3001, refine: int = 3) -> tuple[float, float, float]:
    """M3: ``sup_x |F(x) - Phi(x / sigma)|`` as a two-sided bracket ``(lower, upper)`` and its argmax.

    The supremum of ``|F_Z - Phi|`` is attained where ``f_Z = phi`` (a crossing) or where ``f_Z`` jumps
    (the support edge of the chi-square case), so ``lower`` is the largest ``|F_Z - Phi|`` over those
    points, located by root finding (:func:`_crossings`; certified when ``c = 0``), minus the CDF
    quadrature error.  ``upper`` is rigorous whatever the crossings: on each cell ``[z_k, z_k+1]`` of a
    grid both CDFs are non-decreasing, so ``sup`` there is at most ``max(F(z_k+1) - Phi(z_k),
    Phi(z_k+1) - F(z_k))``; cells are added around the candidates and wherever the cell bound
    exceeds ``lower``; beyond ``+-L`` the tail masses bound it.  Returns ``(lower, upper, z_at_lower)``.
    """
    return _kolmogorov_memo(law, float(L), int(npts), int(refine))


@functools.lru_cache(maxsize=_MEMO)
def _kolmogorov_memo(law: CoordinateLaw, L: float, npts: int, refine: int) -> tuple[float, float, float]:
    s = law.sigma
    roots, jumps = _crossings(law)
    cand = np.concatenate([roots, np.asarray(jumps, dtype=float)])
    vals = np.abs(law.cdf(cand * s) - special.ndtr(cand)) if cand.size else np.zeros(0)
    best = int(np.argmax(vals)) if vals.size else -1
    exact = float(vals[best]) if vals.size else 0.0
    zstar = float(cand[best]) if vals.size else float("nan")
    z = _grid(L, npts)
    extra = (cand[:, None] + np.linspace(-1e-3, 1e-3, 41)[None, :]).ravel()  # 41 points around each candidate
    z = np.unique(np.concatenate([z, extra]))
    F = law.cdf(z * s)
    P = special.ndtr(z)
    for it in range(refine + 1):
        cell_up = np.maximum(F[1:] - P[:-1], P[1:] - F[:-1])
        tails = max(F[0], P[0], 1 - F[-1], 1 - P[-1])
        upper = float(max(cell_up.max(), tails, exact))
        bad = np.nonzero(cell_up > exact + 1e-7)[0]
        if bad.size == 0 or it == refine:
            break
        new = _cell_points(z[bad[:400]], z[bad[:400] + 1])
        z = np.concatenate([z, new])
        order = np.argsort(z)
        z = z[order]
        F = np.concatenate([F, law.cdf(new * s)])[order]
        P = special.ndtr(z)
    grid_best = float(np.abs(F - P).max())  # values attained on the grid are lower bounds too
    lower = max(exact, grid_best) - _CDF_ERR
    return lower, max(upper, lower), zstar


#: error of one exact-CDF value: the conditional-normal quadrature (target 1e-12) with a safety factor
_CDF_ERR = 1e-11


def tv_distance(law: CoordinateLaw) -> float:
    """M3: total variation distance of ``N_ij`` to ``N(0, Var N_ij)``, exact.

    ``TV = sup_S P(S) - Q(S)`` is attained at ``S = {f > phi}``, a union of intervals between the
    solutions of ``f = phi`` (and the support edge when ``c = 0``), located by root finding
    (:func:`_crossings`: certified for the chi-square case, a fine grid plus ``brentq`` otherwise).
    With the exact set, ``P(S) - Q(S)`` from the exact CDFs is the TV itself; a crossing known to
    ``delta`` changes it by ``O(delta^2)`` (``f = phi`` there), far below the CDF error (``< 1e-10``
    in all).  Cross-checked against ``(1/2) int |f - phi|`` (:func:`tv_distance_quadrature`).
    """
    return _tv_memo(law)


@functools.lru_cache(maxsize=_MEMO)
def _tv_memo(law: CoordinateLaw) -> float:
    s = law.sigma
    roots, jumps = _crossings(law)
    pts = np.unique(np.concatenate([roots, np.asarray(jumps, dtype=float)]))
    edges = np.concatenate([[-np.inf], pts, [np.inf]])
    # the sign of f - phi on each interval, read at an interior point
    mids = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        if np.isinf(a) and np.isinf(b):
            mids.append(0.0)
        elif np.isinf(a):
            mids.append(b - 1.0)
        elif np.isinf(b):
            mids.append(a + 1.0)
        else:
            mids.append((a + b) / 2)
    signs = _std_pdf_gap(law, np.asarray(mids)) > 0
    Fe = np.empty_like(edges)
    fin = np.isfinite(edges)
    Fe[~fin] = np.where(edges[~fin] > 0, 1.0, 0.0)
    Fe[fin] = law.cdf(edges[fin] * s)
    Pe = special.ndtr(edges)
    tv = sum((Fe[a + 1] - Fe[a]) - (Pe[a + 1] - Pe[a]) for a in range(len(edges) - 1) if signs[a])
    return float(tv)


def tv_distance_quadrature(law: CoordinateLaw) -> tuple[float, float]:
    """M3: ``(1/2) int |f_Z - phi|`` by adaptive quadrature, split at the crossings (so each piece is
    smooth); returns ``(value, error estimate)``.  An independent route to :func:`tv_distance`."""
    roots, jumps = _crossings(law)
    pts = np.unique(np.concatenate([roots, np.asarray(jumps, dtype=float)]))
    lo = float(jumps[0]) if jumps else -40.0
    knots = np.concatenate([[lo], pts[pts > lo], [40.0]])
    total, err = 0.0, 0.0
    f = lambda t: abs(float(_std_pdf_gap(law, np.array([t]))[0]))  # noqa: E731
    for a, b in zip(knots[:-1], knots[1:], strict=True):
        v, e = integrate.quad(f, a, b, epsabs=1e-13, epsrel=1e-11, limit=400)
        total += v
        err += e
    if jumps:  # left of the support f = 0: the mass of phi there
        total += float(special.ndtr(lo))
    return 0.5 * total, 0.5 * err


# ----------------------------------------------------------------------------- one row


@functools.cache
def _chi2_log_consts(r: int) -> tuple[float, float]:
    # gammaln(df/2.) + (log(2) df)/2., subtracted in the order scipy's chi2._logpdf subtracts them
    return float(special.gammaln(r / 2.0)), float((np.log(2) * r) / 2.0)


def _chi2_logpdf(y: float, r: int) -> float:
    """``stats.chi2.logpdf(y, r)`` for a scalar ``y > 0``, bit for bit (scipy's ``_logpdf`` formula,
    the same ufuncs in the same order, without the generic dispatch: the row quadrature calls it
    ~20k times per rank and the dispatch was 90% of M3's row check)."""
    gl, l2 = _chi2_log_consts(r)
    return float(special.xlogy(r / 2.0 - 1, y) - y / 2.0 - gl - l2)


def _norm_logpdf(x: float, scale: np.float64) -> float:
    """``stats.norm.logpdf(x, scale=scale)`` for scalars (``scale > 0``), bit for bit."""
    z = x / scale
    return float(-(z * z) / 2.0 - _NORM_LOG_C - np.log(scale))


_NORM_LOG_C = np.log(np.sqrt(2 * np.pi))  # scipy's _norm_pdf_logC


def _chi2_cdf(v: float, m: int) -> float:
    """``stats.chi2.cdf(v, m)`` for a scalar, bit for bit (0 below the open support, 1 at +inf)."""
    if v != v:
        return float("nan")
    if v >= np.inf:
        return 1.0
    return float(special.chdtr(m, v)) if v > 0 else 0.0


def _chi2_sf(v: float, m: int) -> float:
    """``stats.chi2.sf(v, m)`` for a scalar, bit for bit (1 at or below 0, 0 at +inf)."""
    if v != v:
        return float("nan")
    if v <= 0:
        return 1.0
    return float(special.chdtrc(m, v)) if v < np.inf else 0.0


def _row_tv_integrand(x: float, n: int, r: int) -> float:
    """``int (f - q)^+ dy`` over the last ``n - 1`` coordinates at first coordinate ``x`` (see
    :func:`row_tv_distance`): both are centred normals in ``y``, so the set where ``f > q`` is a
    ball or its complement in ``|y|^2`` and the masses are chi-square CDFs with ``n - 1`` dof."""
    if x <= -1.0:
        return 0.0
    la = _chi2_logpdf(r * (x + 1.0), r) + np.log(r)  # density of V_1 = chi^2_r / r - 1
    lb = _norm_logpdf(x, np.sqrt(2.0 / r))  # its Gaussian counterpart, variance 2/r
    a, b, m = np.exp(la), np.exp(lb), n - 1
    if m == 0 or x == 0.0:
        return max(a - b, 0.0)
    s1, s2 = (x + 1.0) / r, 1.0 / r  # conditional variances of each y_j: under f, under q
    c = la - lb - 0.5 * m * np.log(x + 1.0)  # f > q  <=>  c - k |y|^2 > 0
    k = -r * x / (2.0 * (x + 1.0))
    if k > 0:  # x < 0: f > q inside the ball |y|^2 < c / k
        return 0.0 if c <= 0 else float(a * _chi2_cdf(c / k / s1, m) - b * _chi2_cdf(c / k / s2, m))
    if c >= 0:  # x > 0, c >= 0: f > q for every y
        return float(a - b)
    t = c / k  # x > 0: f > q outside the ball |y|^2 > t
    return float(a * _chi2_sf(t / s1, m) - b * _chi2_sf(t / s2, m))


def row_tv_distance(n: int, r: int) -> tuple[float, float]:
    """M3, one row: the total variation distance of ``N_i. = g^T (A^T A - I)`` in ``R^n`` to the
    Gaussian with the same covariance, exact up to one-dimensional quadrature; ``(tv, error estimate)``.

    Rotating ``g`` to ``||g|| e_1`` and scaling (TV is invariant under both, and the Gaussian follows)
    leaves ``V = (1/r) sum_k z_k1 z_k - e_1`` with ``z_k`` i.i.d. ``N(0, I_n)``: its first coordinate is
    ``X = chi^2_r / r - 1`` (the theta = 1 coordinate law) and, given ``X``, the other ``n - 1`` are
    i.i.d. ``N(0, (X + 1)/r)``.  So ``f(x, y) = f_X(x) N(y; 0, (x+1)/r I)`` and the Gaussian with the same
    covariance is ``N(x; 0, 2/r) N(y; 0, I/r)`` (``Cov(X, Y) = 0``).  For each ``x`` the integral of
    ``(f - q)^+`` over ``y`` is closed form (:func:`_row_tv_integrand`); the ``x`` integral is adaptive
    quadrature, split at 0 (where the conditional variances cross).  ``n = 1`` is the coordinate TV.
    """
    n = validate_positive_int(n, "n")
    r = validate_positive_int(r, "rank")
    hi = max(float(stats.chi2.isf(1e-18, r)) / r - 1.0, 40.0 * np.sqrt(2.0 / r))
    total, err = 0.0, 0.0
    for lo_, hi_ in ((-1.0, 0.0), (0.0, hi)):
        v, e = integrate.quad(_row_tv_integrand, lo_, hi_, args=(n, r), epsabs=1e-13, epsrel=1e-11, limit=500)
        total, err = total + v, err + e
    return float(total), float(err)


# ----------------------------------------------------------------------------- matrix level


def clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    """Two-sided Clopper-Pearson interval (each side ``alpha/2``) for ``k`` successes in ``n``
    (paper M's name for :func:`lora_theorems.helpers.proportion_ci`, the one implementation)."""
    from lora_theorems.helpers import proportion_ci

    return proportion_ci(k, n, alpha)


def matrix_rank_distinguisher(
    G: np.ndarray, r: int, trials: int, rng: np.random.Generator, alpha: float = 1e-3, tau: float = 1e-8
) -> dict:
    """M3, whole matrix: the event ``S = {sigma_{r+1}(M + G) <= tau sigma_1(M + G)}``.

    Under the LoRA noise ``M = G (A^T A - I)``, ``M + G`` has rank <= r, so ``P(S) = 1``;
    under ``N(0, Cov N)`` (same covariance, exact formula of M2) ``S`` is a null set when
    ``rank G > r``.  Returns the empirical frequencies and the Clopper-Pearson lower bound
    ``TV >= lo(P_noise(S)) - hi(P_gauss(S))`` holding with probability >= 1 - alpha.
    """
    from .noise import lora_noise, noise_covariance, sample_A

    G = np.asarray(G, dtype=float)
    validate_finite(G, "G")
    r = validate_positive_int(r, "rank")
    trials = validate_positive_int(trials, "trials")
    m, n = G.shape
    if r >= min(m, n):
        raise ValueError("need r < min(m, n) for a rank test")

    def stat(M):
        sv = np.linalg.svd(M + G, compute_uv=False)
        return sv[..., r] / sv[..., 0]

    A = sample_A(rng, r, n, size=trials)
    hits_noise = int((stat(lora_noise(G, A)) <= tau).sum())
    C = noise_covariance(G, r)
    w, V = np.linalg.eigh(C)
    root = V * np.sqrt(np.clip(w, 0, None))
    Z = (rng.standard_normal((trials, m * n)) @ root.T).reshape(trials, m, n)
    hits_gauss = int((stat(Z) <= tau).sum())
    lo_n, hi_n = clopper_pearson(hits_noise, trials, alpha / 2)
    lo_g, hi_g = clopper_pearson(hits_gauss, trials, alpha / 2)
    return {
        "p_noise": hits_noise / trials,
        "p_gauss": hits_gauss / trials,
        "tv_lower": max(lo_n - hi_g, 0.0),
        # the same intervals' other ends: the event S separates the laws by at most this much
        "separation_upper": hi_n - lo_g,
        "cov_min_eig": float(w.min()),
        "rank_G": int(np.linalg.matrix_rank(G)),
    }

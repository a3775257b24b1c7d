"""Paper H (claims H1, H2): the (Wishart) projection mechanism ``V -> M V``, ``M = A^T A``,
``A`` an ``r x d`` matrix with i.i.d. ``N(0, 1/r)`` entries (``M ~ W_d(I_d / r, r)``).

Vector case (H1). For a unit vector ``V`` write ``a = A V ~ N(0, I_r / r)``; for any unit
``w`` orthogonal to ``V``, ``A w`` is independent of ``a`` with the same law. Hence, in an
orthonormal basis ``(V, w_1, ..., w_{d-1})``,

    M V = s V + sqrt(s / r) z,      s = ||a||^2 ~ chi^2_r / r,   z ~ N(0, I - V V^T),

so ``M V`` has the closed-form density (``t = V^T y > 0``, ``w = ||y||^2 - t^2``)

    p_V(y) = r f_{chi^2_r}(r t) (2 pi t / r)^{-(d-1)/2} exp(-r w / (2 t)),

and ``p_V(y) = 0`` on ``V^T y <= 0``: ``Supp(M V)`` is the half-space ``V^T y >= 0``.
The privacy loss between neighbouring unit gradients is therefore exact, and the
hockey-stick divergence ``E_{Y ~ P}[(1 - e^{eps - L(Y)})_+]`` can be estimated from samples
of the mechanism with an exact binomial interval (draw ``U ~ U(0, 1)`` and count
``U < (1 - e^{eps - L})_+``, a Bernoulli variable with that mean).

For ``V^T V' = rho``: ``V^T M V' = rho s + sqrt((1 - rho^2) s / r) Z`` so
``V^T M V' / V^T M V = rho + sqrt((1 - rho^2) / r) T`` with ``T ~ t_r`` (Student), which is
where ``t_r`` and ``K`` of H1's Theorem 1 come from, and
``Pr(V^T M V' < 0) = E_{x ~ chi^2_r}[Phi(-rho sqrt(x) / sqrt(1 - rho^2))] = F_{t_r}(-rho sqrt(r / (1 - rho^2)))``.

Matrix case (H2): ``V^T M V`` is symmetric for every ``M``, while ``V^T M V'`` is not
(almost surely, unless the pair is of the rank-one form ``(v w^T, v' w^T)``), so the event
"``V^T Y`` is symmetric" separates ``M V`` from ``M V'`` exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate, special, stats

from lora_theorems.validate import validate_positive_int, validate_rng, validate_variance

__all__ = [
    "KAPPA_READINGS",
    "t_quantile",
    "kappa",
    "alignment_threshold",
    "k_constant",
    "epsilon_rho",
    "delta_first_term_exact",
    "delta_first_term_quad",
    "delta_first_term_mp",
    "delta_rho",
    "aligned_pair",
    "projection_mechanism",
    "sample_projection_vector",
    "log_density",
    "privacy_loss",
    "loss_thresholds",
    "hockey_stick_counts",
    "audit_pair",
    "audited_epsilon",
    "asymmetry",
    "symmetry_distinguisher",
    "lora_fa_first_step",
]

#: The readings of ``kappa_m(q)`` in H1's epsilon bound (the source does not define it):
#: ``"chi2"`` the chi-square quantile with m degrees of freedom (the one the proof's
#: quadratic form ``chi^2_{d+r-1}`` produces), ``"chi"`` its square root (the chi quantile),
#: ``"chi2/m"`` the quantile of chi^2_m / m.
KAPPA_READINGS = ("chi2", "chi", "chi2/m")


def _unit_interval(x: Any, name: str) -> float:
    v = validate_variance(x, name, allow_zero=False)
    if v >= 1:
        raise ValueError(f"{name} must be in (0, 1), got {v}")
    return v


def _delta_prime(delta_p: Any) -> float:
    v = _unit_interval(delta_p, "delta'")
    if 3 * v >= 1:
        raise ValueError(f"delta' must be < 1/3 (delta_rho includes 3 delta'), got {v}")
    return v


def t_quantile(q: float, r: int) -> float:
    """H1: ``t_r(q)``, the ``q``-quantile of Student's t with ``r`` degrees of freedom."""
    return float(stats.t.ppf(_unit_interval(q, "quantile level"), validate_positive_int(r, "rank")))


def kappa(q: float, m: int, reading: str = "chi2") -> float:
    """H1: ``kappa_m(q)`` under one of :data:`KAPPA_READINGS` (``ValueError`` for others)."""
    q = _unit_interval(q, "quantile level")
    m = validate_positive_int(m, "degrees of freedom")
    if reading not in KAPPA_READINGS:
        raise ValueError(f"unknown kappa reading {reading!r} (choose {', '.join(KAPPA_READINGS)})")
    c = float(stats.chi2.ppf(q, m))
    return {"chi2": c, "chi": math.sqrt(c), "chi2/m": c / m}[reading]


def alignment_threshold(r: int, delta_p: float) -> float:
    """H1: the hypothesis ``rho > t_r(1-delta') / sqrt(r + t_r(1-delta')^2)`` (equivalently ``rho > K``)."""
    t = t_quantile(1 - _delta_prime(delta_p), r)
    return t / math.sqrt(r + t * t)


def k_constant(rho: float, r: int, delta_p: float) -> float:
    """H1: ``K = sqrt((1 - rho^2) / r) t_r(1 - delta')``."""
    rho = _unit_interval(rho, "alignment rho")
    return math.sqrt((1 - rho * rho) / r) * t_quantile(1 - _delta_prime(delta_p), r)


def epsilon_rho(rho: float, r: int, d: int, delta_p: float, reading: str = "chi2") -> float:
    """H1, Theorem 1: ``eps_rho = (d+r-1)/2 ln(rho+K) + (1-rho+K) kappa_{d+r-1}(1-delta') / (2 (rho-K))``.

    ``ValueError`` outside the hypothesis (``d >= 2``, ``0 < delta' < 1/3``, ``rho`` above the threshold).
    """
    d = validate_positive_int(d, "dimension d")
    if d < 2:
        raise ValueError(f"dimension d must be >= 2 (for d = 1 unit neighbours coincide), got {d}")
    r = validate_positive_int(r, "rank")
    delta_p = _delta_prime(delta_p)
    rho = _unit_interval(rho, "alignment rho")
    th = alignment_threshold(r, delta_p)
    if rho <= th:
        raise ValueError(f"alignment rho = {rho} is not above the threshold {th:.6g} of Theorem 1 (r = {r}, delta' = {delta_p})")
    K = k_constant(rho, r, delta_p)
    m = d + r - 1
    return m / 2 * math.log(rho + K) + (1 - rho + K) * kappa(1 - delta_p, m, reading) / (2 * (rho - K))


def delta_first_term_exact(rho: float, r: int) -> float:
    """H1: ``Pr(V^T M V' < 0) = F_{t_r}(-rho sqrt(r / (1 - rho^2)))`` (closed form of delta_rho's first term)."""
    rho = _unit_interval(rho, "alignment rho")
    r = validate_positive_int(r, "rank")
    return float(stats.t.cdf(-rho * math.sqrt(r / (1 - rho * rho)), r))


def delta_first_term_quad(rho: float, r: int) -> float:
    """H1: ``E_{x ~ chi^2_r}[Phi(-rho sqrt(x) / sqrt(1 - rho^2))]`` by adaptive quadrature (SciPy)."""
    rho = _unit_interval(rho, "alignment rho")
    r = validate_positive_int(r, "rank")
    c = rho / math.sqrt(1 - rho * rho)
    # substitute x = u^2: integrand Phi(-c u) chi2.pdf(u^2) 2u, smooth at 0 for every r
    k = r / 2
    lognorm = -k * math.log(2) - math.lgamma(k)

    def f(u: float) -> float:
        if u <= 0:
            return 0.0 if r > 1 else 2 * 0.5 * math.exp(lognorm)  # r = 1: 2u x^{-1/2} -> 2
        return float(special.ndtr(-c * u)) * 2 * math.exp(lognorm + (2 * k - 1) * math.log(u) - u * u / 2)

    val, _ = integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-12, limit=200)
    return float(val)


def delta_first_term_mp(rho: float, r: int, dps: int = 40):
    """H1: the same expectation by mpmath quadrature at ``dps`` digits (returns an mpf)."""
    import mpmath as mp

    from lora_theorems.proofs.paper_l.ntk_recursion import mp_ncdf  # mpmath.ncdf, the same floats, faster

    rho = _unit_interval(rho, "alignment rho")
    r = validate_positive_int(r, "rank")
    with mp.workdps(dps):
        c = mp.mpf(rho) / mp.sqrt(1 - mp.mpf(rho) ** 2)
        k = mp.mpf(r) / 2
        norm = 1 / (2**k * mp.gamma(k))
        nc, km1 = -c, k - 1  # exact, so the same at quad's working precision
        f = lambda x: mp_ncdf(nc * mp.sqrt(x)) * norm * x**km1 * mp.exp(-x / 2)  # noqa: E731
        # the integrand peaks near x* = max(r - 3, 1) / (1 + c^2) (Phi(-c u) ~ e^{-c^2 u^2/2}): breakpoints
        # around it keep the quadrature accurate in relative terms for tiny values (large r, rho near 1)
        peak = mp.mpf(max(r - 3, 1)) / (1 + c * c)
        pts = sorted({mp.mpf(0), peak / 8, peak / 2, peak, 2 * peak, 4 * peak, 16 * peak, 64 * peak, mp.mpf(1), mp.mpf(r), mp.mpf(4 * r + 40)})
        return +mp.quad(f, [*pts, mp.inf])


def delta_rho(rho: float, r: int, delta_p: float) -> float:
    """H1, Theorem 1: ``delta_rho = E_{x ~ chi^2_r}[Phi(-rho sqrt(x)/sqrt(1-rho^2))] + 3 delta'``."""
    return delta_first_term_exact(rho, r) + 3 * _delta_prime(delta_p)


def aligned_pair(d: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """H1: unit vectors ``V = e_1``, ``V' = rho e_1 + sqrt(1 - rho^2) e_2`` in ``R^d`` (``V^T V' = rho``)."""
    d = validate_positive_int(d, "dimension d")
    if d < 2:
        raise ValueError(f"dimension d must be >= 2, got {d}")
    if isinstance(rho, bool) or not (-1 < float(rho) < 1):
        raise ValueError(f"alignment rho must be in (-1, 1), got {rho!r}")
    V = np.zeros(d)
    V[0] = 1.0
    Vp = np.zeros(d)
    Vp[0], Vp[1] = float(rho), math.sqrt(1 - float(rho) ** 2)
    return V, Vp


def projection_mechanism(V: np.ndarray, r: int, trials: int, rng: np.random.Generator) -> np.ndarray:
    """H1/H2: ``trials`` draws of ``M V = A^T A V`` (``A`` r x d, i.i.d. N(0, 1/r)); ``V`` a vector
    (output ``(trials, d)``) or a ``d x m`` matrix (output ``(trials, d, m)``)."""
    V = np.asarray(V, dtype=float)
    if V.ndim not in (1, 2) or V.shape[0] < 1 or not np.all(np.isfinite(V)):
        raise ValueError(f"V must be a finite vector or matrix, got shape {V.shape}")
    r = validate_positive_int(r, "rank")
    trials = validate_positive_int(trials, "trials")
    rng = validate_rng(rng)
    d = V.shape[0]
    A = rng.standard_normal((trials, r, d)) / math.sqrt(r)
    AV = A @ V  # (trials, r) or (trials, r, m)
    if V.ndim == 1:
        return np.einsum("trd,tr->td", A, AV)
    return np.einsum("trd,trm->tdm", A, AV)


def _chi2_logpdf(x: np.ndarray, df: int) -> np.ndarray:
    """``ln f_{chi^2_df}(x)`` for ``x > 0``: SciPy's own formula (``stats.chi2._logpdf``), without
    ``stats.chi2.logpdf``'s argument handling (3/4 of its time on 20000 draws); the same floats."""
    return special.xlogy(df / 2.0 - 1, x) - x / 2.0 - special.gammaln(df / 2.0) - (np.log(2) * df) / 2.0


def _log_density(Y: np.ndarray, yy: np.ndarray, V: np.ndarray, r: int) -> np.ndarray:
    """:func:`log_density` with the squared norms ``yy = ||y||^2`` of the rows given (validated by the caller)."""
    d = V.shape[0]
    t = Y @ V
    w = np.maximum(yy - t * t, 0.0)
    out = np.full(t.shape, -np.inf)
    pos = t > 0
    tp = t[pos]
    out[pos] = math.log(r) + _chi2_logpdf(r * tp, r) - (d - 1) / 2 * np.log(2 * np.pi * tp / r) - r * w[pos] / (2 * tp)
    return out


def _check_density_args(Y: np.ndarray, V: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, int]:
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    V = np.asarray(V, dtype=float)
    if V.ndim != 1 or Y.shape[-1] != V.shape[0]:
        raise ValueError(f"need a vector V and outputs of its dimension, got V {V.shape} and Y {Y.shape}")
    if abs(float(V @ V) - 1) > 1e-12:
        raise ValueError("V must have unit norm (H1 normalizes every gradient)")
    return Y, V, validate_positive_int(r, "rank")


def log_density(Y: np.ndarray, V: np.ndarray, r: int) -> np.ndarray:
    """H1: ``ln p_V(y)`` of ``M V`` for a unit vector ``V`` (closed form, module docstring);
    ``-inf`` off the support ``V^T y > 0``."""
    Y, V, r = _check_density_args(Y, V, r)
    return _log_density(Y, (Y * Y).sum(axis=-1), V, r)


def privacy_loss(Y: np.ndarray, V: np.ndarray, Vp: np.ndarray, r: int) -> np.ndarray:
    """H1: ``L(y) = ln p_{V'}(y) - ln p_V(y)`` (``+inf`` where ``p_V = 0 < p_{V'}``), for ``y ~ M V'``."""
    Y, Vp, r = _check_density_args(Y, Vp, r)
    Y, V, r = _check_density_args(Y, V, r)
    yy = (Y * Y).sum(axis=-1)  # shared by the two densities
    lp, lq = _log_density(Y, yy, Vp, r), _log_density(Y, yy, V, r)
    with np.errstate(invalid="ignore"):
        L = lp - lq
    L[np.isneginf(lp)] = -np.inf  # outside Supp(M V'): never sampled from M V'
    return L


def loss_thresholds(L: np.ndarray, U: np.ndarray) -> np.ndarray:
    """H1: ``tau_i = L_i + ln(1 - U_i)`` (``+inf`` where ``L_i = +inf``): ``U_i < (1 - e^{eps - L_i})_+``
    exactly when ``eps < tau_i``, so one sorted array answers the count at every ``eps``."""
    L = np.asarray(L, dtype=float)
    U = np.asarray(U, dtype=float)
    if L.shape != U.shape or np.any((U < 0) | (U >= 1)):
        raise ValueError("need losses and uniforms in [0, 1) of the same shape")
    with np.errstate(invalid="ignore"):
        tau = L + np.log1p(-U)
    tau[np.isposinf(L)] = np.inf
    return tau


def hockey_stick_counts(L: np.ndarray, U: np.ndarray, eps: float) -> int:
    """H1: ``#{U_i < (1 - e^{eps - L_i})_+}``: with ``U_i ~ U(0,1)`` independent of ``Y_i ~ P``
    each term is Bernoulli with mean ``H_eps(P || Q) = E_P[(1 - e^{eps - L})_+]``, the smallest
    delta at which the pair is ``(eps, delta)``-indistinguishable in this direction."""
    return int((loss_thresholds(L, U) > eps).sum())


def sample_projection_vector(V: np.ndarray, r: int, trials: int, rng: np.random.Generator) -> np.ndarray:
    """H1: ``trials`` draws of ``M V`` for a unit vector ``V`` from its exact law
    ``s V + sqrt(s / r) (I - V V^T) z`` (``s ~ chi^2_r / r``, ``z ~ N(0, I_d)``): the same law as
    :func:`projection_mechanism` (module docstring) at ``O(d)`` instead of ``O(r d)`` per draw."""
    V = np.asarray(V, dtype=float)
    if V.ndim != 1 or abs(float(V @ V) - 1) > 1e-12:
        raise ValueError("V must be a unit vector")
    r = validate_positive_int(r, "rank")
    trials = validate_positive_int(trials, "trials")
    rng = validate_rng(rng)
    s = rng.chisquare(r, trials) / r
    z = rng.standard_normal((trials, V.shape[0]))
    z -= np.outer(z @ V, V)
    z *= np.sqrt(s / r)[:, None]
    z += s[:, None] * V  # s V + sqrt(s / r) z, in place (IEEE addition commutes: the same floats)
    return z


def audit_pair(d: int, r: int, rho: float, trials: int, rng: np.random.Generator) -> dict:
    """H1: samples of the mechanism at the unit pair of alignment ``rho`` in ``R^d`` (drawn from the
    exact law, :func:`sample_projection_vector`): the privacy losses ``L`` of ``Y ~ M V'`` against
    ``M V`` and the uniforms of the Bernoulli trick.

    By the reflection that swaps ``V`` and ``V'`` (it maps ``M`` to a matrix of the same law),
    the other direction has the same privacy-loss law, so one direction is the whole audit.
    """
    V, Vp = aligned_pair(d, rho)
    Y = sample_projection_vector(Vp, r, trials, rng)
    L = privacy_loss(Y, V, Vp, r)
    U = rng.random(trials)
    return {"L": L, "U": U, "neg_support": int((Y @ V < 0).sum()), "trials": trials}


def audited_epsilon(L: np.ndarray, U: np.ndarray, delta: float, alpha: float, lo: float = -10.0, hi: float = 200.0) -> float:
    """H1: the largest ``eps`` whose Clopper-Pearson lower bound (level ``alpha``, one-sided) on
    ``H_eps`` still exceeds ``delta`` (bisection: the counts fall as ``eps`` grows); ``lo`` when none."""
    n = len(L)
    tau = np.sort(loss_thresholds(L, U))

    bounds: dict[int, float] = {}  # the bisection revisits counts: one beta quantile per count

    def lower(eps: float) -> float:
        k = n - int(np.searchsorted(tau, eps, side="right"))  # #{tau > eps}
        if k not in bounds:
            # stats.beta.ppf(alpha, k, n - k + 1) is this function behind argument handling that takes
            # 12x its time; the same floats
            bounds[k] = 0.0 if k == 0 else float(special.betaincinv(k, n - k + 1, alpha))
        return bounds[k]

    if lower(lo) <= delta:
        return lo
    for _ in range(50):
        mid = (lo + hi) / 2
        if lower(mid) > delta:
            lo = mid
        else:
            hi = mid
    return lo


def asymmetry(Y: np.ndarray, V: np.ndarray) -> np.ndarray:
    """H2: ``||V^T Y - Y^T V||_F / (||V||_F ||Y||_F)`` per draw (0 exactly when ``Y = M V``)."""
    Y = np.asarray(Y, dtype=float)
    V = np.asarray(V, dtype=float)
    if V.ndim != 2 or Y.shape[-2:] != V.shape:
        raise ValueError(f"need a d x m matrix V and outputs of its shape, got V {V.shape} and Y {Y.shape}")
    S = np.einsum("dm,tdk->tmk", V, Y)
    num = np.sqrt(((S - np.swapaxes(S, 1, 2)) ** 2).sum(axis=(1, 2)))
    return num / (np.linalg.norm(V) * np.sqrt((Y * Y).sum(axis=(1, 2))))


def symmetry_distinguisher(Y: np.ndarray, V: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """H2: True where ``V^T Y`` is symmetric up to ``tol`` (relative): says "the input was V".

    Under ``Y = M V`` the relative asymmetry is float64 round-off (``<= c d eps``, a few 1e-16
    for the sizes used); ``tol = 1e-10`` leaves six orders of magnitude to round-off and, under
    ``Y = M V'``, catches a continuous variable only on an interval of width 2e-10 around 0.
    """
    tol = validate_variance(tol, "tolerance", allow_zero=False)
    return asymmetry(Y, V) <= tol


def lora_fa_first_step(G: np.ndarray, r: int, eta: float, trials: int, rng: np.random.Generator) -> np.ndarray:
    """M4 corrected (via H1/H2): the merged update ``W_1 - W_0 = B_1 A`` of one LoRA-FA step from
    ``B = 0`` for a batch gradient ``G`` (``m x n``), computed the LoRA way: the gradient with
    respect to ``B`` is ``G A^T``, ``B_1 = -eta G A^T``. Returns ``(trials, m, n)``; it equals
    ``-eta (M G^T)^T`` with ``M = A^T A`` (the projection mechanism on ``G^T``, post-processed)."""
    G = np.atleast_2d(np.asarray(G, dtype=float))
    if G.ndim != 2 or not np.all(np.isfinite(G)):
        raise ValueError(f"G must be a finite m x n matrix, got shape {G.shape}")
    r = validate_positive_int(r, "rank")
    eta = validate_variance(eta, "learning rate", allow_zero=False)
    trials = validate_positive_int(trials, "trials")
    rng = validate_rng(rng)
    A = rng.standard_normal((trials, r, G.shape[1])) / math.sqrt(r)
    B1 = -eta * np.einsum("mn,trn->tmr", G, A)  # -eta * dL/dB = -eta G A^T
    return np.einsum("tmr,trn->tmn", B1, A)

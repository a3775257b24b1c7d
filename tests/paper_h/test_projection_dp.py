"""Paper H, claims H1 and H2: the projection mechanism's mathematics recomputed independently
(direct simulation with explicit A, numerical integration of the density, a Gaussian mechanism
with known (eps, delta), exact rational matrices), and bad input."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from scipy import integrate, stats

from lora_theorems.numerics.paper_h import projection_dp as P


def _mechanism(V, r, trials, seed):
    """M V with M = A^T A, A explicit (independent of the module's sampler)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(0.0, 1 / math.sqrt(r), size=(trials, r, len(V)))
    return np.matmul(np.swapaxes(A, 1, 2), np.matmul(A, V[:, None]))[..., 0]


@pytest.mark.claim("H1")
@pytest.mark.parametrize("rho,r", [(0.3, 1), (0.7, 2), (0.9, 4), (0.95, 8)])
def test_first_term_equals_probability_of_leaving_the_support(rho, r):
    """E_{chi^2_r}[Phi(-rho sqrt(x)/sqrt(1-rho^2))] = P(V^T M V' < 0): direct simulation (exact interval)."""
    V, Vp = np.eye(3)[0], rho * np.eye(3)[0] + math.sqrt(1 - rho**2) * np.eye(3)[1]
    n = 20000
    Y = _mechanism(Vp, r, n, seed=int(100 * rho) + r)
    k = int((Y @ V < 0).sum())
    ci = stats.binomtest(k, n).proportion_ci(1 - 1e-4, method="exact")
    assert ci.low <= P.delta_first_term_quad(rho, r) <= ci.high
    # and V^T M V >= 0 on every draw: Supp(MV) is the half-space V^T y >= 0
    assert (_mechanism(V, r, 500, seed=1) @ V >= 0).all()


@pytest.mark.claim("H1")
@pytest.mark.parametrize("rho,r", [(0.2, 1), (0.6, 3), (0.9, 16), (0.99, 5)])
def test_first_term_closed_form_against_mpmath_student_t(rho, r):
    with mp.workdps(30):
        s = mp.mpf(rho) * mp.sqrt(r / (1 - mp.mpf(rho) ** 2))
        # Student t CDF at -s by direct integration of its density
        dens = lambda x: mp.gamma((r + 1) / mp.mpf(2)) / (mp.sqrt(r * mp.pi) * mp.gamma(mp.mpf(r) / 2)) * (1 + x * x / r) ** (-(r + 1) / mp.mpf(2))  # noqa: E731
        ref = mp.quad(dens, [-mp.inf, -s])
    assert P.delta_first_term_exact(rho, r) == pytest.approx(float(ref), rel=1e-12)
    assert P.delta_first_term_quad(rho, r) == pytest.approx(float(ref), rel=1e-9)


@pytest.mark.claim("H1")
@pytest.mark.parametrize("r", [pytest.param(1, marks=pytest.mark.heavy), pytest.param(3, marks=pytest.mark.heavy), 8])
def test_density_integrates_to_one_and_matches_simulation(r):
    V = np.array([1.0, 0.0])

    def p(y2, t):
        return float(np.exp(P.log_density(np.array([[t, y2]]), V, r))[0])

    total, _ = integrate.dblquad(p, 0, np.inf, -np.inf, np.inf, epsabs=1e-9)
    assert total == pytest.approx(1.0, abs=1e-6)
    box, _ = integrate.dblquad(p, 0.5, 1.5, -0.3, 0.4, epsabs=1e-10)
    Y = _mechanism(V, r, 20000, seed=r)
    k = int(((Y[:, 0] > 0.5) & (Y[:, 0] < 1.5) & (Y[:, 1] > -0.3) & (Y[:, 1] < 0.4)).sum())
    ci = stats.binomtest(k, len(Y)).proportion_ci(1 - 1e-4, method="exact")
    assert ci.low <= box <= ci.high


@pytest.mark.claim("H1")
def test_exact_law_sampler_matches_the_mechanism():
    V = np.array([0.6, 0.8, 0.0, 0.0])
    a = P.sample_projection_vector(V, 5, 20000, np.random.default_rng(0))
    b = _mechanism(V, 5, 20000, seed=2)
    for stat in (lambda Y: Y @ V, lambda Y: np.linalg.norm(Y, axis=1), lambda Y: Y[:, 2]):
        assert stats.ks_2samp(stat(a), stat(b)).pvalue > 1e-4


@pytest.mark.claim("H1")
@pytest.mark.parametrize("mu,eps", [(1.0, 0.5), (2.0, 1.0), (0.5, 0.0)])
def test_hockey_stick_estimator_on_a_gaussian_mechanism(mu, eps):
    """N(mu, 1) vs N(0, 1): H_eps = Phi(mu/2 - eps/mu) - e^eps Phi(-mu/2 - eps/mu) (Balle & Wang)."""
    rng = np.random.default_rng(7)
    n = 200000
    y = rng.normal(mu, 1.0, n)
    L = mu * y - mu * mu / 2  # ln N(mu,1)/N(0,1)
    U = rng.random(n)
    exact = stats.norm.cdf(mu / 2 - eps / mu) - math.exp(eps) * stats.norm.cdf(-mu / 2 - eps / mu)
    k = P.hockey_stick_counts(L, U, eps)
    ci = stats.binomtest(k, n).proportion_ci(1 - 1e-4, method="exact")
    assert ci.low <= exact <= ci.high
    # the audited epsilon at that delta is a lower confidence bound on the true eps
    e_aud = P.audited_epsilon(L, U, exact, 1e-4)
    assert e_aud <= eps + 1e-9
    assert e_aud >= eps - 0.25


@pytest.mark.claim("H1")
def test_threshold_is_rho_greater_than_K_and_bound_is_finite_above_it():
    for r, dp in ((1, 0.01), (4, 0.05), (32, 0.1)):
        th = P.alignment_threshold(r, dp)
        for rho in (th + 1e-6, (th + 1) / 2, 1 - 1e-6):
            assert rho > P.k_constant(rho, r, dp)
            assert math.isfinite(P.epsilon_rho(rho, r, 3, dp))
        assert P.k_constant(th * (1 - 1e-9), r, dp) >= th * (1 - 1e-9)


@pytest.mark.claim("H1")
def test_chi_reading_of_kappa_is_violated_at_the_reported_cell():
    """The finding's witness recomputed: explicit-A samples, the exact loss, exact interval."""
    d, r, dp, rho = 3, 16, 0.01, 0.9
    V, Vp = P.aligned_pair(d, rho)
    Y = _mechanism(Vp, r, 20000, seed=11)
    L = P.privacy_loss(Y, V, Vp, r)
    U = np.random.default_rng(12).random(len(L))
    k = P.hockey_stick_counts(L, U, P.epsilon_rho(rho, r, d, dp, "chi"))
    lo = stats.binomtest(k, len(L)).proportion_ci(1 - 1e-4, method="exact").low
    assert lo > P.delta_rho(rho, r, dp)
    k2 = P.hockey_stick_counts(L, U, P.epsilon_rho(rho, r, d, dp, "chi2"))
    assert stats.binomtest(k2, len(L)).proportion_ci(1 - 1e-4, method="exact").high < P.delta_rho(rho, r, dp)


@pytest.mark.claim("H2")
def test_rank_argument_on_exact_rational_matrices():
    A = sp.Matrix([[1, 2, 0, -1], [0, 1, 3, 1]])
    M = A.T * A
    V = sp.Matrix([[1, 0], [0, 1], [0, 0], [2, 1]])
    Vp = sp.Matrix([[1, 0], [0, sp.Rational(1, 2)], [0, 1], [2, 1]])
    assert (V.T * M * V - (V.T * M * V).T).is_zero_matrix
    assert not (V.T * M * Vp - (V.T * M * Vp).T).is_zero_matrix
    assert M * (V - Vp) != sp.zeros(4, 2)
    # a collision needs A (V - V') = 0: rows of A orthogonal to the columns of Delta (a null set)
    D = sp.Matrix([1, -1, 0, 0])
    A0 = sp.Matrix([[1, 1, 5, 0], [2, 2, 0, 7]])
    assert A0 * D == sp.zeros(2, 1) and (A0.T * A0) * D == sp.zeros(4, 1)


@pytest.mark.claim("H2")
def test_symmetry_distinguisher_separates_matrix_pairs_and_not_rank_one_pairs():
    rng = np.random.default_rng(3)
    V = np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    Vp = np.array([[0.0, 0.99], [0.0, math.sqrt(1 - 0.99**2)], [1.0, 0.0]])
    assert P.symmetry_distinguisher(P.projection_mechanism(V, 2, 2000, rng), V).all()
    assert not P.symmetry_distinguisher(P.projection_mechanism(Vp, 2, 2000, rng), V).any()
    w = np.array([[0.6, 0.8]])
    v, vp = P.aligned_pair(3, 0.99)
    R, Rp = v[:, None] @ w, vp[:, None] @ w
    assert P.symmetry_distinguisher(P.projection_mechanism(Rp, 2, 500, rng), R).all()


@pytest.mark.claim("M4")
def test_lora_fa_first_step_by_finite_differences():
    """dL/dB of L(W0 + B A) = 0.5 ||(W0 + BA) X - Y||^2 at B = 0, by central differences, gives the step."""
    rng = np.random.default_rng(4)
    n, r, eta = 4, 2, 0.3
    X, Yt, W0 = rng.normal(size=(n, 6)), rng.normal(size=(1, 6)), rng.normal(size=(1, n))
    G = (W0 @ X - Yt) @ X.T
    dW = P.lora_fa_first_step(G, r, eta, 1, np.random.default_rng(9))[0]
    A = np.random.default_rng(9).standard_normal((1, r, n))[0] / math.sqrt(r)
    gB = np.zeros((1, r))
    h = 1e-6
    for j in range(r):
        E = np.zeros((1, r))
        E[0, j] = h
        f = lambda B: 0.5 * (((W0 + B @ A) @ X - Yt) ** 2).sum()  # noqa: E731
        gB[0, j] = (f(E) - f(-E)) / (2 * h)
    np.testing.assert_allclose(dW, (-eta * gB) @ A, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dW[0], -eta * (A.T @ A) @ G[0], rtol=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda: P.epsilon_rho(0.5, 4, 3, 0.01),  # below the threshold
        lambda: P.epsilon_rho(0.99, 4, 1, 0.01),  # d = 1
        lambda: P.epsilon_rho(0.99, 4, 3, 0.4),  # 3 delta' >= 1
        lambda: P.epsilon_rho(1.0, 4, 3, 0.01),
        lambda: P.epsilon_rho(float("nan"), 4, 3, 0.01),
        lambda: P.kappa(0.99, 5, "gamma"),
        lambda: P.t_quantile(1.0, 3),
        lambda: P.delta_first_term_exact(0.5, 0),
        lambda: P.log_density(np.ones((2, 3)), np.ones(3), 2),  # V not unit
        lambda: P.projection_mechanism(np.ones(3), 2, 10, 0),  # rng not a Generator
        lambda: P.projection_mechanism(np.array([np.nan, 1.0]), 2, 10, np.random.default_rng()),
        lambda: P.aligned_pair(3, 1.0),
        lambda: P.symmetry_distinguisher(np.ones((2, 3, 2)), np.ones((3, 3))),
        lambda: P.lora_fa_first_step(np.ones((1, 3)), 2, 0.0, 5, np.random.default_rng()),
        lambda: P.loss_thresholds(np.zeros(3), np.ones(3)),
    ],
)
def test_bad_input_is_a_value_error(call):
    with pytest.raises(ValueError):
        call()

"""numerics.ntk.analytic_ntk (L1): agreement with the mpmath recursion, with quadrature of
the Gaussian expectations, known values, and input validation."""

import mpmath
import numpy as np
import pytest

from lora_theorems.numerics.ntk import analytic_ntk, analytic_ntk_mpmath

pytestmark = pytest.mark.claim("L1")


def _rel_err(f, ref):
    scale = max(abs(float(v)) for v in ref.flat)
    return max(abs(float(mpmath.mpf(float(a)) - b)) for a, b in zip(f.flat, ref.flat)) / scale


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("depth", [1, 2, 5])
@pytest.mark.parametrize("wv,bv", [(1.0, 0.0), (2.0, 0.1), (0.5, 1.3)])
def test_matches_mpmath_recursion(activation, depth, wv, bv):
    rng = np.random.default_rng(depth * 7 + int(10 * wv))
    X = rng.standard_normal((4, 3))
    X = np.vstack([X, 2.0 * X[:1], -X[1:2]])  # exactly collinear and antipodal rows
    nngp, ntk = analytic_ntk(X, depth, activation, wv, bv)
    rk, rt = analytic_ntk_mpmath(X, depth, activation, wv, bv)
    # float64 through <= 6 layers of O(1)-conditioned maps: a few hundred ulps at most
    assert _rel_err(nngp, rk) <= 1e-12
    assert _rel_err(ntk, rt) <= 1e-12


def test_relu_depth1_by_quadrature():
    """Independent of the closed forms: one hidden ReLU layer, E by 2-D quadrature."""
    from lora_theorems.proofs.ntk_recursion import quadrature_kernel_maps

    X = np.array([[1.0, 0.5], [-0.3, 2.0]])
    nngp, ntk = analytic_ntk(X, 1, "relu", 1.7, 0.2)
    S1 = 1.7 * X @ X.T / 2 + 0.2
    with mpmath.workdps(30):
        E, Ed = quadrature_kernel_maps("relu", S1[0, 0], S1[1, 1], S1[0, 1], dps=30)
    assert nngp[0, 1] == pytest.approx(1.7 * float(E) + 0.2, rel=1e-13)
    assert ntk[0, 1] == pytest.approx(S1[0, 1] * 1.7 * float(Ed) + 1.7 * float(E) + 0.2, rel=1e-13)


def test_erf_depth1_by_quadrature():
    from lora_theorems.proofs.ntk_recursion import quadrature_kernel_maps

    X = np.array([[0.4, -1.0, 2.0], [1.5, 0.3, -0.2]])
    nngp, ntk = analytic_ntk(X, 1, "erf", 1.0, 0.5)
    S1 = X @ X.T / 3 + 0.5
    E, Ed = quadrature_kernel_maps("erf", S1[0, 0], S1[1, 1], S1[0, 1], dps=30)
    assert nngp[0, 1] == pytest.approx(float(E) + 0.5, rel=1e-13)
    assert ntk[0, 1] == pytest.approx(S1[0, 1] * float(Ed) + float(E) + 0.5, rel=1e-13)


def test_relu_diagonal_known_values():
    # ReLU, sigma_b = 0: E(a, a, a) = a/2, E' = 1/2, so Sigma(x,x) = sw2 * a / 2 per layer
    X = np.array([[3.0, 4.0]])
    nngp, ntk = analytic_ntk(X, 3, "relu", 2.0, 0.0)
    a = 2.0 * 25 / 2  # Sigma^(1)
    assert nngp[0, 0] == pytest.approx(a, rel=1e-14)  # sw2/2 = 1: fixed point
    assert ntk[0, 0] == pytest.approx(4 * a, rel=1e-14)  # Theta^(l+1) = Theta^(l) + Sigma


def test_symmetric_psd():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((8, 5))
    for act in ("relu", "erf"):
        nngp, ntk = analytic_ntk(X, 4, act, 1.5, 0.3)
        for K in (nngp, ntk):
            assert np.array_equal(K, K.T)
            assert np.linalg.eigvalsh(K).min() >= -1e-12 * np.abs(K).max()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(X=np.ones(3), depth=1),
        dict(X=np.array([[np.nan, 1.0]]), depth=1),
        dict(X=np.array([[np.inf, 1.0]]), depth=1),
        dict(X=np.ones((2, 2)), depth=0),
        dict(X=np.ones((2, 2)), depth=1.5),
        dict(X=np.ones((2, 2)), depth=True),
        dict(X=np.ones((2, 2)), depth=1, weight_var=-1.0),
        dict(X=np.ones((2, 2)), depth=1, bias_var=float("nan")),
        dict(X=np.ones((2, 2)), depth=1, activation="tanh"),
        dict(X=np.ones((2, 2)) * 1j, depth=1),
        dict(X=[["a", "b"]], depth=1),
        dict(X=np.ones((0, 2)), depth=1),
    ],
)
def test_bad_input_raises(kwargs):
    with pytest.raises(ValueError):
        analytic_ntk(**kwargs)


@pytest.mark.claim("L1")
def test_relu_determinant_update_is_an_identity():
    """The cancellation-free update of ab - c^2 used by analytic_ntk equals a'b' - c'^2 exactly."""
    import sympy as sp

    from lora_theorems.proofs.ntk_recursion import kernel_map_exprs

    a, b, beta, q = sp.symbols("a b beta q", positive=True)
    theta = sp.Symbol("theta", positive=True)
    rho = sp.sqrt(a * b)
    c, s = rho * sp.cos(theta), rho * sp.sin(theta)  # the polar form behind atan2(s, c)
    E = (s + (sp.pi - theta) * c) / (2 * sp.pi)  # the ReLU map of kernel_map_exprs with atan2(s, c) = theta
    E_lib, _ = kernel_map_exprs("relu")
    assert "atan2" in str(E_lib)
    J = (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)) / sp.pi
    u = rho * (1 - J)
    a1, b1, c1 = 2 * q * a / 2 + beta, 2 * q * b / 2 + beta, 2 * q * E + beta
    update = q**2 * u * (2 * rho - u) + q * beta * ((sp.sqrt(a) - sp.sqrt(b)) ** 2 + 2 * u)
    assert sp.simplify(sp.expand(a1 * b1 - c1**2 - update)) == 0
    one_minus_j = (2 * sp.pi * sp.sin(theta / 2) ** 2 - (sp.sin(theta) - theta * sp.cos(theta))) / sp.pi
    assert sp.simplify(sp.expand_trig(one_minus_j - (1 - J))) == 0


@pytest.mark.claim("L1")
def test_nearly_collinear_and_one_dimensional_inputs_keep_their_digits():
    import mpmath

    X = np.array([[0.7], [-1.3], [2.1]])  # d = 1: every pair is collinear
    X2 = np.array([[0.3, -1.2, 0.5], [0.75, -3.0, 1.25], [0.3 + 1e-9, -1.2, 0.5]])  # 2.5x, and a 1e-9 nudge
    for Xs in (X, X2):
        for act in ("relu", "erf"):
            k, t = analytic_ntk(Xs, 6, act, 2.0, 0.0)
            rk, rt = analytic_ntk_mpmath(Xs, 6, act, 2.0, 0.0)
            for f, r in ((k, rk), (t, rt)):
                scale = max(abs(float(v)) for v in r.flat)
                err = max(abs(float(mpmath.mpf(float(x)) - y)) for x, y in zip(f.flat, r.flat)) / scale
                assert err < 1e-13  # ~450 eps after 7 layers; the naive ab - c^2 gave ~1e-8

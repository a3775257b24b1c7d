"""numerics.ntk.analytic_ntk (L1): agreement with the mpmath recursion, with quadrature of
the Gaussian expectations, known values, and input validation."""

import mpmath
import numpy as np
import pytest

from lora_theorems.numerics.paper_l.ntk import analytic_ntk, analytic_ntk_mpmath

pytestmark = pytest.mark.claim("L1")


def _rel_err(f, ref):
    scale = max(abs(float(v)) for v in ref.flat)
    return max(abs(float(mpmath.mpf(float(a)) - b)) for a, b in zip(f.flat, ref.flat, strict=True)) / scale


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
    from lora_theorems.proofs.paper_l.ntk_recursion import quadrature_kernel_maps

    X = np.array([[1.0, 0.5], [-0.3, 2.0]])
    nngp, ntk = analytic_ntk(X, 1, "relu", 1.7, 0.2)
    S1 = 1.7 * X @ X.T / 2 + 0.2
    with mpmath.workdps(30):
        E, Ed = quadrature_kernel_maps("relu", S1[0, 0], S1[1, 1], S1[0, 1], dps=30)
    assert nngp[0, 1] == pytest.approx(1.7 * float(E) + 0.2, rel=1e-13)
    assert ntk[0, 1] == pytest.approx(S1[0, 1] * 1.7 * float(Ed) + 1.7 * float(E) + 0.2, rel=1e-13)


def test_erf_depth1_by_quadrature():
    from lora_theorems.proofs.paper_l.ntk_recursion import quadrature_kernel_maps

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

    from lora_theorems.proofs.paper_l.ntk_recursion import kernel_map_exprs

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
                err = max(abs(float(mpmath.mpf(float(x)) - y)) for x, y in zip(f.flat, r.flat, strict=True)) / scale
                assert err < 1e-13  # ~450 eps after 7 layers; the naive ab - c^2 gave ~1e-8


# ----------------------------------------------------------------------------- issue 14: finite and right, or one clear line


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(X=np.eye(2) * 1e200, depth=2), "overflows float64"),  # Sigma^(1) = 5e399
        (dict(X=np.eye(2), depth=2, weight_var=1e300), "overflows float64"),  # Sigma^(2) = 2.5e599
        (dict(X=np.eye(2), depth=1, activation="erf", weight_var=1e300), "overflows float64"),  # Theta^(2) ~ 5e449
        (dict(X=np.eye(2), depth=2, activation="erf", weight_var=1e300), "overflows float64"),
        (dict(X=np.eye(2) * 1e-200, depth=2), "underflows float64"),  # Sigma^(1) = 5e-401 is not 0
        (dict(X=np.eye(2) * 1e-160, depth=1), "underflows float64"),  # subnormal: digits lost
        (dict(X=np.eye(2), depth=2, activation="erf", weight_var=1e4), "cannot keep 1e-12"),
        (dict(X=np.eye(2), depth=10**7), "kernel-entry updates"),
        (dict(X=np.zeros((20000, 2)), depth=1), "GiB"),
    ],
)
def test_refused_with_one_line(kwargs, words):
    with pytest.raises(ValueError, match=words) as info:
        analytic_ntk(**kwargs)
    assert "\n" not in str(info.value)


def test_large_but_representable_inputs_are_right():
    """Scale-free evaluation: erf with Sigma^(1) ~ 5e299 and a tiny weight variance stay finite and right."""
    X = np.array([[1e150, 0.0], [0.6e150, 0.8e150]])
    for kwargs in (dict(activation="erf", depth=1), dict(activation="erf", depth=2), dict(activation="relu", depth=3, weight_var=1e-100)):
        nngp, ntk = analytic_ntk(X, **kwargs)
        rk, rt = analytic_ntk_mpmath(X, **kwargs)
        assert np.all(np.isfinite(nngp)) and np.all(np.isfinite(ntk))
        assert _rel_err(nngp, rk) <= 1e-12
        assert _rel_err(ntk, rt) <= 1e-12


def test_cost_estimate():
    from lora_theorems.numerics.paper_l.ntk import MEMORY_BUDGET_BYTES, analytic_ntk_cost

    nbytes, work = analytic_ntk_cost(20000, 3)
    assert nbytes == 2 * 8 * 20000**2 > MEMORY_BUDGET_BYTES
    assert work == 3 * 20000**2
    assert analytic_ntk_cost(11585, 1)[0] <= MEMORY_BUDGET_BYTES < analytic_ntk_cost(11586, 1)[0]


def test_zero_inputs_and_zero_variances():
    """Zero rows without bias give exact zeros (no 0/0); sigma_w = 0 gives the constant kernel."""
    X = np.array([[0.0, 0.0], [1.0, 2.0]])
    for act in ("relu", "erf"):
        nngp, ntk = analytic_ntk(X, 3, act, 2.0, 0.0)
        assert np.all(np.isfinite(ntk)) and nngp[0, 0] == nngp[0, 1] == ntk[0, 1] == 0.0
        rk, rt = analytic_ntk_mpmath(X, 3, act, 2.0, 0.0)
        assert _rel_err(ntk, rt) <= 1e-12
        nngp, ntk = analytic_ntk(X, 2, act, 0.0, 0.5)
        assert np.all(nngp == 0.5) and np.all(ntk == 0.5)  # Sigma = beta at every layer, SigmaDot = 0


def test_threads_do_not_change_bits(monkeypatch):
    """Blocks are elementwise and independent: one thread and two give the same bytes."""
    import lora_theorems.numerics.paper_l.ntk as ntk_mod

    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 7))
    X[1] = -2 * X[0]
    monkeypatch.setattr(ntk_mod, "_BLOCK", 300 * 7)  # several blocks
    two = analytic_ntk(X, 3, "relu", 2.0, 0.1)
    monkeypatch.setattr(ntk_mod.os, "cpu_count", lambda: 1)
    one = analytic_ntk(X, 3, "relu", 2.0, 0.1)
    monkeypatch.setattr(ntk_mod, "_BLOCK", 1 << 20)  # one block
    whole = analytic_ntk(X, 3, "relu", 2.0, 0.1)
    for a, b, c in zip(two, one, whole, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_layer_chunks_do_not_change_bits(monkeypatch):
    """Deep networks run in chunks of layers (bounded per-layer vectors); the carried state is exact."""
    import lora_theorems.numerics.paper_l.ntk as ntk_mod

    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 3))
    X[1] = 0.5 * X[0]
    X[2] = -X[0] + 1e-9
    for act in ("relu", "erf"):
        whole = analytic_ntk(X, 7, act, 1.7, 0.2)
        monkeypatch.setattr(ntk_mod, "_layer_chunk", lambda N: 2)
        chunked = analytic_ntk(X, 7, act, 1.7, 0.2)
        monkeypatch.undo()
        for a, b in zip(whole, chunked, strict=True):
            assert np.array_equal(a, b)

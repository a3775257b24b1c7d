"""numerics.m_delta and numerics.backend: fast paths vs brute force, validation, probability helpers (L4, L5)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lora_theorems.numerics.backend import array_namespace, get_xp, to_numpy
from lora_theorems.numerics.paper_l.m_delta import (
    clopper_pearson,
    gram_eigenvalues,
    m_delta_spectrum,
    m_delta_spectrum_direct,
    mp_density,
    mp_edges,
    mp_lambda_max,
    mp_top_edge,
    nsd_failure_bound,
    nsd_probability_r1,
    sample_lora_a,
    sweep_top_eigenvalue,
)

EPS = np.finfo(float).eps


def test_backend_numpy_and_errors():
    assert get_xp("numpy") is np
    assert array_namespace(np.ones(2)) is np
    with pytest.raises(ValueError):
        get_xp("torch")


@pytest.mark.parametrize("n,r", [(1, 1), (2, 1), (3, 3), (7, 4), (32, 32), (40, 1)])
def test_structured_spectrum_matches_full_eigvalsh(n, r):
    rng = np.random.default_rng(n * 100 + r)
    A = sample_lora_a(rng, n, r, 0.9 / n, (5,))
    fast = m_delta_spectrum(A)
    ref = m_delta_spectrum_direct(A)
    # backward-stable eigensolvers on matrices of norm <= 1 + ||A||^2: error ~ n eps
    np.testing.assert_allclose(fast.full(), ref, atol=50 * n * EPS * (1 + np.abs(ref).max()))
    assert (np.sum(np.isclose(ref, -1.0, atol=1e-12), axis=-1) >= n - r).all()
    np.testing.assert_array_equal(fast.nsd, ref[..., -1] <= 0)


def test_validation_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        m_delta_spectrum(np.ones((3, 2)))  # r > n
    with pytest.raises(ValueError):
        m_delta_spectrum(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError):
        sample_lora_a(rng, 3, 2, -0.1)
    with pytest.raises(ValueError):
        sample_lora_a(rng, 3, 4, 0.1)
    with pytest.raises(ValueError):
        clopper_pearson(5, 3, 0.05)
    with pytest.raises(ValueError):
        mp_edges(1.5)


def test_clopper_pearson_edges_and_coverage():
    assert clopper_pearson(0, 10, 0.05)[0] == 0.0
    assert clopper_pearson(10, 10, 0.05)[1] == 1.0
    lo, hi = clopper_pearson(0, 10, 0.05)
    assert math.isclose(hi, 1 - 0.025 ** (1 / 10), rel_tol=1e-9)  # closed form for k = 0
    lo, hi = clopper_pearson(37, 100, 0.01)
    assert lo < 0.37 < hi


def test_r1_closed_form_and_bound():
    from scipy.stats import chi2

    assert math.isclose(nsd_probability_r1(1, 0.9), chi2.cdf(1 / 0.9, 1))
    assert nsd_probability_r1(1, 0.9) < 0.71
    assert nsd_failure_bound(4, 4, 1.0) == 1.0
    s2 = 1 / (2 + 2 + 1.0) ** 2
    assert math.isclose(nsd_failure_bound(4, 4, s2), math.exp(-0.5))
    assert math.isclose(mp_top_edge(4, 1, 0.25), 0.25 * 9)


def test_mp_density_is_a_density():
    from scipy.integrate import quad

    for ratio, scale in ((1.0, 1.0), (0.25, 0.5)):
        lo, hi = mp_edges(ratio, scale)
        val, _ = quad(lambda x, ratio=ratio, scale=scale: float(mp_density(x, ratio, scale)), lo, hi, limit=200)
        assert abs(val - 1) < 1e-6


def test_sweep_counts_match_direct():
    rng = np.random.default_rng(3)
    res = sweep_top_eigenvalue(rng, 2, 2, 0.49, 500, batch=128)
    assert res["failures"] == int((res["lam_max"] > 0).sum())
    W = res["witness"]
    assert np.linalg.eigvalsh(W.T @ W - np.eye(2))[-1] > 0


def test_mp_lambda_max_high_precision():
    assert abs(float(mp_lambda_max([[1.2]])) - 0.44) < 1e-30 + 1e-15


@settings(max_examples=60)
@given(arrays(np.float64, (3, 5), elements=st.floats(-2, 2)))
def test_pseudo_determinant_identity(A):
    """pdet(A^T A) = det(A A^T) when A (r x n) has full row rank; nonzero spectra coincide."""
    G = A @ A.T
    w = np.linalg.eigvalsh(A.T @ A)
    s = np.linalg.eigvalsh(G)
    if s[0] <= 1e-6 * max(s[-1], 1e-300):
        return
    top = np.sort(w)[-3:]
    np.testing.assert_allclose(top, s, atol=100 * EPS * max(s[-1], 1.0))
    np.testing.assert_allclose(np.prod(top), np.linalg.det(G), rtol=1e-6)


@settings(max_examples=60)
@given(arrays(np.float64, (4, 4), elements=st.floats(-3, 3)), arrays(np.float64, (4, 4), elements=st.floats(-3, 3)))
def test_loewner_monotone_eigenvalues(X, Y):
    """Weyl: K <= K + PSD implies lambda_i(K) <= lambda_i(K + PSD) for every i (sorted)."""
    K = X @ X.T
    Kp = K + Y @ Y.T
    a, b = np.linalg.eigvalsh(K), np.linalg.eigvalsh(Kp)
    assert (a <= b + 100 * EPS * max(1.0, abs(b).max())).all()


def test_cupy_agrees_with_numpy():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(0)
    A = sample_lora_a(rng, 16, 8, 0.05, (10,))
    a = m_delta_spectrum(A).top
    b = m_delta_spectrum(cp.asarray(A), backend="cupy").top
    np.testing.assert_allclose(a, to_numpy(b), atol=1e-12)
    assert np.allclose(gram_eigenvalues(A), gram_eigenvalues(cp.asarray(A)), atol=1e-12)

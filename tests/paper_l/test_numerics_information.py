"""numerics.information and numerics.fisher: readings of IB and H_alpha, Fisher/NTK spectra (L6, L7)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lora_theorems.numerics.paper_l.fisher import loss_gradient, nonzero_eigenvalues, weight_factor
from lora_theorems.numerics.paper_l.information import ALPHAS, all_readings, information_bits, renyi_entropy

EPS = np.finfo(float).eps


def test_known_values():
    lam = [0.5, 0.25, 0.0]
    assert math.isclose(information_bits(lam, "log-pdet"), 0.5 * math.log(0.125))
    assert math.isclose(information_bits(lam, "trace"), 0.375)
    assert math.isclose(renyi_entropy(lam, 0), math.log(2))
    assert math.isclose(renyi_entropy(lam, 2), -math.log(0.3125))
    assert math.isclose(renyi_entropy(lam, math.inf), -math.log(0.5))
    assert math.isclose(renyi_entropy(lam, 2, "normalized"), -math.log((2 / 3) ** 2 + (1 / 3) ** 2))


@pytest.mark.parametrize("bad", [-1.0, float("nan"), True])
def test_alpha_validation(bad):
    with pytest.raises(ValueError):
        renyi_entropy([1.0], bad)


def test_alpha_limits_continuous():
    """Normalized H_alpha -> Shannon at alpha -> 1 and -> -log p_max as alpha -> infinity."""
    lam = np.array([0.6, 0.3, 0.1, 0.05])
    assert abs(renyi_entropy(lam, 1 + 1e-7, "normalized") - renyi_entropy(lam, 1, "normalized")) < 1e-6
    assert abs(renyi_entropy(lam, 1e6, "normalized") - renyi_entropy(lam, math.inf, "normalized")) < 1e-5


@settings(max_examples=80)
@given(arrays(np.float64, st.integers(1, 6), elements=st.floats(1e-3, 1e3)), st.sampled_from(ALPHAS))
def test_normalized_renyi_at_most_log_count(lam, alpha):
    assert renyi_entropy(lam, alpha, "normalized") <= math.log(len(lam)) + 1e-9


@settings(max_examples=80)
@given(arrays(np.float64, (4, 4), elements=st.floats(-2, 2)), arrays(np.float64, (4, 4), elements=st.floats(-2, 2)),
       st.floats(0.05, 0.95))
def test_power_sums_monotone_under_loewner(X, Y, alpha):
    """K_L <= K_F  =>  sum lambda^a (a in (0,1)) and the trace are ordered (the corrected L7 statement)."""
    Kl = X @ X.T
    Kf = Kl + Y @ Y.T
    a, b = np.linalg.eigvalsh(Kl).clip(0), np.linalg.eigvalsh(Kf).clip(0)
    tol = 100 * EPS * max(1.0, b.max())
    assert np.sum(a**alpha) <= np.sum(b**alpha) + tol ** alpha * 4 + 1e-9
    assert a.sum() <= b.sum() + tol * 4


def test_all_readings_zero_spectrum():
    r = all_readings([0.0, 0.0])
    assert r["ib:trace"] == 0.0 and math.isnan(r["H[raw,2]"])


def test_fisher_weights():
    F = np.array([[0.2, -0.1, 0.3], [1.0, 0.0, -1.0]])
    g = loss_gradient(F, np.array([0, 2]), "ce")
    np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-15)
    L = weight_factor(F, np.array([0, 2]), "ce")
    p = np.exp(F[0]) / np.exp(F[0]).sum()
    np.testing.assert_allclose(L[:3, :3] @ L[:3, :3].T, np.diag(p) - np.outer(p, p), atol=1e-14)
    with pytest.raises(ValueError):
        loss_gradient(F, np.array([0, 3]), "ce")
    assert nonzero_eigenvalues(np.diag([2.0, 0.0, 1e-20])).tolist() == [2.0]

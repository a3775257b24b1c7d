"""L5 numerics: the operator norm of A^T A - I does not vanish; bilinear forms do (exact variance)."""

import numpy as np
import pytest

pytestmark = pytest.mark.claim("L5")


def test_operator_norm_near_three_independently():
    rng = np.random.default_rng(12345)
    n = 300
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    w = np.linalg.eigvalsh(A.T @ A - np.eye(n))  # full n x n reference
    assert max(abs(w[0]), w[-1]) > 2.5


def test_operator_norm_evidence(claim_result):
    ev = next(e for e in claim_result("L5").evidence if e.check == "operator_norm_growth")
    assert ev.passed is False
    assert ev.counterexample["mean_op_norm"] > 2.5
    assert ev.false_alarm_rate is not None


def test_bilinear_variance_exact():
    """Var(u^T (A^T A - I) v) = (1 + (u.v)^2)/n, checked by exact fourth moments on a small n via Monte Carlo."""
    rng = np.random.default_rng(7)
    n, T, rho = 5, 200000, 0.6
    cols = rng.standard_normal((T, n, 2)) / np.sqrt(n)
    q = cols[:, :, 0] @ np.ones(1)[0] if False else np.einsum("tn,tn->t", cols[:, :, 0], rho * cols[:, :, 0] + np.sqrt(1 - rho**2) * cols[:, :, 1]) - rho
    est = n * np.mean(q**2)
    se = n * np.std(q**2) / np.sqrt(T)
    assert abs(est - (1 + rho**2)) < 5 * se

"""L4 numerics: every counterexample really is one, recomputed without the toolkit (numpy/mpmath)."""

import mpmath
import numpy as np
import pytest

pytestmark = pytest.mark.claim("L4")


def _ev(result, name):
    return next(e for e in result.evidence if e.check == name)


def test_sweep_witness_is_a_counterexample(claim_result):
    ev = _ev(claim_result("L4"), "nsd_sweep")
    ce = ev.counterexample
    A = np.array(ce["A"])
    n, r = ce["n"], ce["r"]
    assert A.shape == (r, n) and r <= n and ce["sigma_a2"] < 1.0 / n
    lam = np.linalg.eigvalsh(A.T @ A - np.eye(n))
    assert lam[-1] > 0.01  # clearly positive: not a rounding artefact
    # the sweep must have covered r = n and sigma_a^2 n near 1, and r = 1
    rows = ev.tables[0].rows
    assert any(row[1] == row[0] and row[2] >= 0.99 for row in rows)
    assert any(row[1] == 1 for row in rows)


def test_mpmath_witnesses(claim_result):
    ev = _ev(claim_result("L4"), "nsd_counterexample_mpmath")
    assert ev.passed is False
    for w in ev.counterexample["witnesses"]:
        A = mpmath.matrix(w["A"])
        n = w["n"]
        with mpmath.workdps(60):
            M = A.T * A - mpmath.eye(n)
            top = max(mpmath.eigsy(M, eigvals_only=True))
        assert top > mpmath.mpf("1e-6")
        assert w["sigma_a2"] < 1.0 / n


def test_probability_interval_excludes_one(claim_result):
    ev = _ev(claim_result("L4"), "nsd_probability")
    assert ev.false_alarm_rate is not None
    assert ev.counterexample["p_nsd_upper_bound"] < 1.0


def test_stated_eigenvalues_differ(claim_result):
    ce = _ev(claim_result("L4"), "eigenvalues_as_stated").counterexample
    A = np.array(ce["A"])
    got = np.linalg.eigvalsh(A.T @ A - np.eye(ce["n"]))
    stated = np.array(ce["stated_eigenvalues"])
    assert np.abs(np.sort(got) - np.sort(stated)).max() > 0.1


def test_corrected_structure_by_hand():
    """spec(A^T A - I) = {s_i^2 - 1} + {-1}^(n-r): a 2 x 3 example by SVD."""
    A = np.array([[0.3, -0.2, 0.5], [0.1, 0.4, -0.1]])
    s = np.linalg.svd(A, compute_uv=False)
    want = np.sort(np.r_[s**2 - 1, -1.0])
    np.testing.assert_allclose(np.linalg.eigvalsh(A.T @ A - np.eye(3)), want, atol=1e-14)


def test_corrected_checks_pass(claim_result):
    res = claim_result("L4")
    for name in ("corrected_spectrum", "corrected_whp_bound", "r1_closed_form"):
        assert _ev(res, name).passed is True

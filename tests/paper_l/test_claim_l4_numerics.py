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


def test_r1_example_value_is_computed_not_typed():
    """n = 1, sigma_a^2 = 0.9: P(chi^2_1 <= 1/0.9) = P(|z| <= 1/sqrt(0.9)) = 0.70816 (the statement said 0.709)."""
    from scipy import stats

    from lora_theorems.claims.paper_l.l4 import CLAIM, R1_EXAMPLE_P

    with mpmath.workdps(30):
        ref = 2 * mpmath.ncdf(1 / mpmath.sqrt(mpmath.mpf("0.9"))) - 1
    assert R1_EXAMPLE_P == pytest.approx(float(ref), rel=1e-14)
    assert R1_EXAMPLE_P == pytest.approx(stats.chi2.cdf(1 / 0.9, 1), rel=1e-12)
    text = next(f.statement for f in CLAIM.formalizations if f.key == "r1-closed-form")
    assert f"{float(ref):.4f}" in text and "0.709" not in text


def test_uniform_law_is_an_as_written_reading_and_fails(claim_result):
    """PEFT's law: the witness lies in the support [-b, b], b = sqrt(3 sigma_a^2), with sigma_a^2 < 1/n,
    and A^T A - I has a positive eigenvalue (recomputed in mpmath)."""
    from lora_theorems.claims.paper_l.l4 import CLAIM
    from lora_theorems.ledger import AS_WRITTEN

    assert next(f for f in CLAIM.formalizations if f.key == "nsd-uniform").reading == AS_WRITTEN
    ev = _ev(claim_result("L4"), "nsd_uniform_sweep")
    assert ev.passed is False
    ce = ev.counterexample
    A, n = np.array(ce["A"]), ce["n"]
    b = np.sqrt(3 * ce["sigma_a2"])
    assert ce["sigma_a2"] < 1.0 / n and np.abs(A).max() <= b
    with mpmath.workdps(40):
        M = mpmath.matrix(A.tolist())
        top = max(mpmath.eigsy(M.T * M - mpmath.eye(n), eigvals_only=True))
    assert top > mpmath.mpf("1e-3")


def test_uniform_r1_surely_below_one_third_and_exact_above():
    """r = 1, uniform: max ||a||^2 = n b^2 = 3 sigma_a^2 n, so NSD surely iff sigma_a^2 n <= 1/3; at n = 1,
    P(|a| <= 1) = 1/b (quadrature of the uniform density)."""
    from scipy import integrate

    for n in (1, 5, 100):
        b = np.sqrt(3 * (1 / 3) / n)
        assert n * b * b == pytest.approx(1.0, rel=1e-15)
    for c in (0.5, 0.9):
        b = np.sqrt(3 * c)
        p, _ = integrate.quad(lambda x, b=b: 1 / (2 * b), -1, 1)
        assert p == pytest.approx(1 / b, rel=1e-12) and p < 1
    # r = n = 2 at the PEFT variance 1/(3n): A = b 11^T (allowed: |entries| = b) has s_max = 2b = sqrt(2) > 1
    b = np.sqrt(3 / 6)
    A = b * np.ones((2, 2))
    assert np.linalg.eigvalsh(A.T @ A - np.eye(2))[-1] == pytest.approx(1.0, abs=1e-12)


def test_p_nsd_figure_has_intervals_and_exact_r1_line(claim_result):
    from scipy import stats

    ev = _ev(claim_result("L4"), "nsd_probability")
    plot = next(p for p in ev.plots if p.key == "l4-p-nsd")
    mc = [s for s in plot.series if "Monte Carlo" in s.label]
    assert mc and all(s.yerr is not None and len(s.yerr) == len(s.y) for s in mc)
    # the grid is fine across the r = n transition (c = 1/4) and the r = n/2 one (c ~ 0.343)
    xs = np.array(mc[0].x)
    assert ((xs > 0.2) & (xs < 0.4)).sum() >= 4
    exact = next(s for s in plot.series if "exact" in s.label)
    n = int(plot.title.rsplit("=", 1)[1])
    np.testing.assert_allclose(exact.y, stats.chi2.cdf(n / np.array(exact.x), n), rtol=1e-12)


@pytest.mark.parametrize("law", ["gaussian", "uniform"])
def test_scale_sweep_equals_one_eigensolve_per_scale(law):
    """sweep_scales reads every scale from one set of draws: recompute each scale's failures, largest
    lambda_max(A^T A - I) and first witness from the same draws, A = s Z, with the full n x n eigvalsh."""
    from lora_theorems.numerics.paper_l.m_delta import sweep_scales

    n, r, trials = 6, 3, 300
    scales2 = (0.05, 0.15, 0.6)
    res = sweep_scales(np.random.default_rng(5), n, r, scales2, trials, law=law, batch=64)
    rng = np.random.default_rng(5)
    Z = rng.standard_normal((trials, r, n)) if law == "gaussian" else rng.uniform(-1.0, 1.0, (trials, r, n))
    for j, s2 in enumerate(scales2):
        A = np.sqrt(s2) * Z
        lam = np.linalg.eigvalsh(np.swapaxes(A, 1, 2) @ A - np.eye(n))[:, -1]
        assert res.failures[j] == int((lam > 0).sum())
        assert res.lam_max[j] == pytest.approx(lam.max(), abs=1e-12)
        if (lam > 0).any():
            assert np.array_equal(res.witness[j], A[int(np.argmax(lam > 0))])  # the first failing draw
        else:
            assert res.witness[j] is None
    assert res.witness[-1] is not None  # the largest scale fails under both laws


def test_scale_sweep_refuses_bad_input():
    from lora_theorems.numerics.paper_l.m_delta import sweep_scales

    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="law"):
        sweep_scales(rng, 2, 1, (0.1,), 10, law="cauchy")
    with pytest.raises(ValueError, match="at least one scale"):
        sweep_scales(rng, 2, 1, (), 10)
    with pytest.raises(ValueError):
        sweep_scales(rng, 2, 3, (0.1,), 10)  # r > n
    with pytest.raises(ValueError):
        sweep_scales(rng, 2, 1, (-0.1,), 10)
    with pytest.raises(ValueError, match="overflows"):
        sweep_scales(rng, 8, 2, (0.1, 1e308), 10)


def test_uniform_sweep_witness_is_in_the_support_and_a_counterexample(claim_result):
    ev = _ev(claim_result("L4"), "nsd_uniform_sweep")
    ce = ev.counterexample
    A, n = np.array(ce["A"]), ce["n"]
    assert np.abs(A).max() <= ce["b"] and ce["sigma_a2"] * n < 1 and A.shape == (ce["r"], n)
    with mpmath.workdps(60):
        M = mpmath.matrix(A.tolist())
        top = max(mpmath.eigsy(M.T * M - mpmath.eye(n), eigvals_only=True))
    assert top > 0

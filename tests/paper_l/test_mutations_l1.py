"""Mutation tests for L1 (issue 13): every as-written check must be able to come out the other way.

For each as-written check of L1 the quantity it tests is monkeypatched so that the mathematics
reverses (a scaled NTK, a normalized eq. (9), a kernel that keeps moving in training), and the
test asserts that the check's outcome moves and that the verdict moves with it:

- the verdict of the claim *restricted to that check's reading* (``verified`` <-> ``refuted``);
- the whole claim's verdict where the ledger's rule lets one check decide it. L1 is
  ``conditional`` because eq. (9) as written fails while its normalized form holds; a corrected
  statement rescues only the readings it names (``Formalization.corrects``), so a second failing
  reading makes the whole verdict refuted: eq. (9)'s normalization corrects eq9-neuron-sum only.

The baseline evidence comes from the session's ``claim_result`` (taken before any patch); the
mutated check is run fresh (quick profile, seed 0).
"""

from __future__ import annotations

import numpy as np
import pytest

from lora_theorems.ledger import Verdict
from lora_theorems.testing import assert_outcome_moves, claim_verdict_with, evidence_named, run_check_fresh, uncached

pytestmark = pytest.mark.claim("L1")


def baseline_of(claim_result, name: str):
    res = claim_result("L1")
    return res, evidence_named(res, name)


def test_recursion_fails_when_the_ntk_is_scaled(monkeypatch, claim_result):
    """K = 3/2 grad F grad F^T: the first-layer identity K^(1) = Sigma^(1) I and the chain rule fail."""
    import lora_theorems.proofs.paper_l.ntk_recursion as nr

    _, before = baseline_of(claim_result, "ntk_recursion_derivation")
    uncached(monkeypatch, nr, "recursion_derivation")
    real = nr._phi_derivatives_to
    monkeypatch.setattr(nr, "_phi_derivatives_to", lambda e, phi, dphi: 3 * real(e, phi, dphi) / 2)
    after = run_check_fresh("L1", "ntk_recursion_derivation")
    assert_outcome_moves("L1", before, after, now=False)
    assert "failed" in after.summary and after.counterexample["failed_steps"]


def test_eq9_passes_with_the_normalized_sum_and_l1_is_verified(monkeypatch, claim_result):
    """Give eq. (9)'s right side the weight 1/n_(l-1): its symbolic and Monte Carlo parts hold, and with
    every other as-written reading passing, L1 becomes verified."""
    import lora_theorems.claims.paper_l.l1 as l1

    res, before = baseline_of(claim_result, "eq9_neuron_sum_as_written")
    assert res.verdict.verdict is Verdict.CONDITIONAL
    monkeypatch.setattr(l1, "_eq9_rhs_weight", lambda n: 1 / n)
    after = run_check_fresh("L1", "eq9_neuron_sum_as_written")
    assert_outcome_moves("L1", before, after, now=True)
    assert after.summary == "eq. (9) as written holds"
    assert claim_verdict_with(res, after) is Verdict.VERIFIED


def test_closed_forms_fail_when_the_kernel_maps_are_off_by_one_percent(monkeypatch, claim_result):
    import lora_theorems.proofs.paper_l.ntk_recursion as nr

    _, before = baseline_of(claim_result, "relu_erf_closed_forms")
    uncached(monkeypatch, nr, "relu_closed_form_derivation", "erf_closed_form_derivation")
    real = nr.kernel_map_exprs
    monkeypatch.setattr(nr, "kernel_map_exprs", lambda act: tuple(e * 101 / 100 for e in real(act)))
    after = run_check_fresh("L1", "relu_erf_closed_forms")
    assert_outcome_moves("L1", before, after, now=False)


def test_float64_ntk_fails_at_a_relative_error_of_1e9(monkeypatch, claim_result):
    """The mpmath comparison is tight (1e-12): a 1e-9 relative error in analytic_ntk must fail it."""
    import lora_theorems.numerics.paper_l.ntk as ntk

    _, before = baseline_of(claim_result, "analytic_ntk_matches_mpmath")
    real = ntk.analytic_ntk
    monkeypatch.setattr(ntk, "analytic_ntk", lambda *a, **k: tuple(v * (1 + 1e-9) for v in real(*a, **k)))
    after = run_check_fresh("L1", "analytic_ntk_matches_mpmath")
    assert_outcome_moves("L1", before, after, now=False)
    assert after.worst_margin < 0


def test_deterministic_limit_fails_for_a_biased_empirical_ntk(monkeypatch, claim_result):
    """An empirical NTK 25% off converges to 1.25 Theta, not Theta: the error levels off near 0.25."""
    import lora_theorems.numerics.paper_l.empirical as emp

    _, before = baseline_of(claim_result, "empirical_to_analytic")
    real = emp.empirical_ntk
    monkeypatch.setattr(emp, "empirical_ntk", lambda *a, **k: 1.25 * real(*a, **k))
    after = run_check_fresh("L1", "empirical_to_analytic")
    assert_outcome_moves("L1", before, after, now=False)
    means = [row[3] for row in after.tables[0].rows]
    assert min(means) > 0.2  # the error does not vanish: independent of the fitted slope


def test_constant_in_training_fails_when_training_moves_the_kernel_by_a_fixed_fraction(monkeypatch, claim_result):
    """Training that rescales every weight by 1.2 moves the NTK by an O(1) fraction at every width. The
    old criterion (slope interval below 0) passed this: the change levels off slowly, so its fitted slope
    is slightly negative; the check now also needs the interval to reach -1/2 (an O(n^-1/2) decay)."""
    import lora_theorems.numerics.paper_l.empirical as emp

    _, before = baseline_of(claim_result, "kernel_drift_in_training")
    real = emp.gd_train
    monkeypatch.setattr(emp, "gd_train", lambda *a, **k: [{n: 1.2 * v for n, v in layer.items()} for layer in real(*a, **k)])
    after = run_check_fresh("L1", "kernel_drift_in_training")
    assert_outcome_moves("L1", before, after, now=False)
    changes = np.array([row[2] for row in after.tables[0].rows])
    assert changes.min() > 0.1  # the relative change stays O(1) at every width


def test_a_second_failing_reading_makes_l1_refuted(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_l.empirical as emp

    res, _ = baseline_of(claim_result, "empirical_to_analytic")
    real = emp.empirical_ntk
    monkeypatch.setattr(emp, "empirical_ntk", lambda *a, **k: 1.25 * real(*a, **k))
    after = run_check_fresh("L1", "empirical_to_analytic")
    assert after.passed is False
    assert claim_verdict_with(res, after) is Verdict.REFUTED


@pytest.mark.parametrize("check", ["empirical_to_analytic", "kernel_drift_in_training"])
def test_a_rate_interval_too_wide_to_tell_is_undecided_not_a_failure(monkeypatch, claim_result, check):
    """Every slope interval widened by 1 on each side reaches both -1/2 and 0: no decay shown, none
    ruled out. The check says undecided (passed None, no counterexample), never a failure, and L1 keeps
    its verdict; only an interval wholly above -1/2 fails (the mutations above)."""
    import lora_theorems.claims.paper_l.l1 as l1

    res, before = baseline_of(claim_result, check)
    assert before.passed is True
    name = "_slope_t_ci" if check == "empirical_to_analytic" else "_slope_ci"
    real = getattr(l1, name)
    monkeypatch.setattr(l1, name, lambda *a: (lambda s, lo, hi: (s, lo - 1.0, hi + 1.0))(*real(*a)))
    after = run_check_fresh("L1", check)
    assert after.passed is None and after.counterexample is None and after.worst_margin is None
    assert "undecided" in after.summary
    assert claim_verdict_with(res, after) is res.verdict.verdict


def test_rate_decision_fails_only_on_an_interval_above_minus_one_half():
    """The three outcomes of the L1 rate rule on hand-made intervals (slope, low, high)."""
    from lora_theorems.claims.paper_l.l1 import _rate_decision, _rate_margin

    shown = {"relu": (-0.5, -0.6, -0.4), "erf": (-0.9, -1.1, -0.7)}
    assert _rate_decision(shown) == (True, "")
    assert _rate_margin(True, shown) == pytest.approx(0.4)
    wide = {**shown, "erf": (-0.3, -0.8, 0.1)}  # reaches -1/2 and 0: too few seeds to tell
    assert _rate_decision(wide) == (None, "erf") and _rate_margin(None, wide) is None
    slow = {**wide, "relu": (-0.2, -0.3, -0.1)}  # wholly above -1/2: a failure, whatever the other says
    assert _rate_decision(slow) == (False, "relu")
    assert _rate_margin(False, slow) == pytest.approx(-0.2)
    flat = {"relu": (0.0, -0.05, 0.05), "erf": shown["erf"]}  # a change that levels off: fails
    assert _rate_decision(flat)[0] is False


def test_slope_t_interval_is_the_delta_method_t_interval():
    """_slope_t_ci: the least-squares slope of log(mean) (np.polyfit) and slope +- t_(k-1) se with
    se^2 = sum_w c_w^2 Var(mean_w) / mean_w^2, checked by hand on three widths; wider at a smaller alpha."""
    from scipy import stats

    from lora_theorems.claims.paper_l.l1 import _slope_t_ci

    rng = np.random.default_rng(3)
    widths = (32, 128, 512)
    samples = [np.abs(rng.standard_normal(10)) / np.sqrt(w) for w in widths]
    s, lo, hi = _slope_t_ci(widths, samples, 1e-3)
    lw = np.log(widths)
    m = np.array([x.mean() for x in samples])
    c = (lw - lw.mean()) / ((lw - lw.mean()) ** 2).sum()
    se = np.sqrt(sum(ci**2 * x.var(ddof=1) / len(x) / mi**2 for ci, x, mi in zip(c, samples, m, strict=True)))
    assert s == pytest.approx(float(c @ np.log(m)), abs=1e-12)
    q = stats.t.isf(5e-4, 9)
    assert (lo, hi) == pytest.approx((s - q * se, s + q * se), rel=1e-12)
    s2, lo2, hi2 = _slope_t_ci(widths, samples, 1e-5)
    assert s2 == s and lo2 < lo and hi2 > hi

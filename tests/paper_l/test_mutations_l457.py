"""Mutation tests for L4, L5 and L7 (issue 13): change the mathematics an as-written check tests and
its outcome, and the claim's verdict, must move.

Each test replaces the quantity a check reads (the law of A, the eigenvalues of M_Delta, the Gaussian
moments, the information-bits readings) by one under which the claim's mathematics comes out the
other way, runs the checks fresh (quick profile, seed 0, no cache), and asserts that the check's
result flips and the verdict derived from the evidence is no longer the one the real mathematics
gives.  Every test first asserts the real outcome, so it fails if a check could not fail (or could
not pass).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lora_theorems.ledger import Verdict
from lora_theorems.testing import run_checks_fresh, uncached, verdict_over

# ----------------------------------------------------------------------------- L4


L4_AS_WRITTEN = ("nsd_sweep", "nsd_counterexample_mpmath", "nsd_probability", "nsd_uniform_sweep",
                 "eigenvalues_as_stated", "exact_stated_spectrum")


def _contracting_normals(real):
    """The Gaussian draws behind A (``A = sigma_a Z``, for every sampler and sweep of L4) replaced by
    contractions, s_max(Z) <= 0.99, so s_max(A) < 1 whenever sigma_a <= 1: the world in which 'A^T A - I
    is negative semi-definite' is true."""

    def normal(rng, shape, scale=1.0, xp=np):
        Z = np.asarray(real(rng, shape, 1.0, xp))
        s = np.linalg.norm(Z, 2, axis=(-2, -1))[..., None, None] if Z.ndim >= 2 else np.abs(Z)
        return scale * Z * np.where(s > 0.99, 0.99 / np.where(s > 0, s, 1.0), 1.0)

    return normal


def _float_lambda_max(A, dps=50):
    """Stand-in for the 50-digit evaluator in a world of contractions (lambda_max <= 0.99^2 - 1 + 1e-3,
    far from 0, so float64 decides the sign): keeps the 10 000-draw search of the mpmath check fast."""
    import mpmath

    A = np.asarray(A, dtype=float)
    return mpmath.mpf(float(np.linalg.eigvalsh(A.T @ A - np.eye(A.shape[1]))[-1]))


@pytest.mark.claim("L4")
def test_l4_gaussian_sweeps_pass_when_every_A_is_a_contraction(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_l.m_delta as md

    names = ("nsd_sweep", "nsd_probability")
    _, real = verdict_over(claim_result("L4"), names)
    assert all(real[n].passed is False for n in names)
    monkeypatch.setattr(md, "random_normal", _contracting_normals(md.random_normal))
    _, ev = run_checks_fresh("L4", names)
    assert ev["nsd_sweep"].passed is True and ev["nsd_sweep"].counterexample is None
    assert "no positive eigenvalue" in ev["nsd_sweep"].summary
    assert ev["nsd_probability"].passed is True and ev["nsd_probability"].worst_margin == 0.0  # every upper bound is 1


@pytest.mark.claim("L4")
def test_l4_mpmath_search_passes_when_lambda_max_is_never_positive(monkeypatch, claim_result):
    import mpmath

    import lora_theorems.numerics.paper_l.m_delta as md

    _, real = verdict_over(claim_result("L4"), ("nsd_counterexample_mpmath",))
    assert real["nsd_counterexample_mpmath"].passed is False
    monkeypatch.setattr(md, "mp_lambda_max", lambda A, dps=50: -mpmath.mpf(1) / 100)
    _, ev = run_checks_fresh("L4", ("nsd_counterexample_mpmath",))
    assert ev["nsd_counterexample_mpmath"].passed is True and ev["nsd_counterexample_mpmath"].summary == "no witness found"


@pytest.mark.claim("L4")
def test_l4_uniform_sweep_passes_when_entries_are_bounded_by_one_over_n(monkeypatch, claim_result):
    from lora_theorems.claims.paper_l import l4

    _, real = verdict_over(claim_result("L4"), ("nsd_uniform_sweep",))
    assert real["nsd_uniform_sweep"].passed is False
    # half-width sigma_a^2 = c/n <= 1/n: ||A||_2 <= ||A||_F <= sqrt(r n)/n <= 1, so A^T A - I <= 0 surely
    monkeypatch.setattr(l4, "_uniform_b", lambda sigma_a2: sigma_a2)
    _, ev = run_checks_fresh("L4", ("nsd_uniform_sweep",))
    assert ev["nsd_uniform_sweep"].passed is True and ev["nsd_uniform_sweep"].worst_margin > 0


def _stated_spectrum_world(monkeypatch):
    """The eigenvalues of M_Delta replaced by the stated ones (sigma_a^2 n, r times, and 0, n - r times),
    numerically and in the exact instance."""
    import lora_theorems.numerics.paper_l.m_delta as md
    import lora_theorems.proofs.paper_l.m_delta as pm

    last = {}
    real_sample, real_instance = md.sample_lora_a, pm.stated_spectrum_counterexample

    def sample(rng, n, r, sigma_a2, size=(), backend="numpy"):
        last.update(n=n, r=r, c=sigma_a2 * n)
        return real_sample(rng, n, r, sigma_a2, size, backend)

    def stated(A):
        n, r, c = last["n"], last["r"], last["c"]
        return np.sort(np.r_[np.full(r, c), np.zeros(n - r)])

    def instance():
        ce = dict(real_instance())
        ce["eigenvalues_M_delta"] = list(ce["stated_eigenvalues"])
        return ce

    monkeypatch.setattr(md, "sample_lora_a", sample)
    monkeypatch.setattr(md, "m_delta_spectrum_direct", stated)
    monkeypatch.setattr(pm, "stated_spectrum_counterexample", instance)


@pytest.mark.claim("L4")
def test_l4_stated_eigenvalue_checks_pass_when_the_spectrum_is_as_stated(monkeypatch, claim_result):
    names = ("eigenvalues_as_stated", "exact_stated_spectrum")
    _, real = verdict_over(claim_result("L4"), names)
    assert all(real[n].passed is False for n in names)
    _stated_spectrum_world(monkeypatch)
    _, ev = run_checks_fresh("L4", names)
    assert ev["eigenvalues_as_stated"].passed is True and ev["eigenvalues_as_stated"].worst_margin == pytest.approx(1e-9)
    assert ev["exact_stated_spectrum"].passed is True


@pytest.mark.claim("L4")
def test_l4_verdict_moves_to_verified_in_a_world_where_the_theorem_holds(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_l.m_delta as md
    from lora_theorems.claims.paper_l import l4

    verdict, _ = verdict_over(claim_result("L4"), L4_AS_WRITTEN)
    assert verdict is Verdict.REFUTED  # as-written checks alone (the corrected readings make it conditional)
    _stated_spectrum_world(monkeypatch)
    monkeypatch.setattr(md, "random_normal", _contracting_normals(md.random_normal))
    monkeypatch.setattr(md, "mp_lambda_max", _float_lambda_max)
    monkeypatch.setattr(l4, "_uniform_b", lambda sigma_a2: sigma_a2)
    verdict, ev = run_checks_fresh("L4", L4_AS_WRITTEN)
    assert {n: e.passed for n, e in ev.items()} == dict.fromkeys(L4_AS_WRITTEN, True)
    assert verdict is Verdict.VERIFIED


@pytest.mark.claim("L4")
def test_l4_uniform_finding_is_undecided_not_failed_when_r2_never_fails(monkeypatch, claim_result):
    """A world where the r = n = 2 uniform draws are all NSD (lambda_max = -1): zero failures in the sample
    do not show a positive failure probability, nor refute one; the finding is undecided (passed None)."""
    from lora_theorems.claims.paper_l import l4

    _, real = verdict_over(claim_result("L4"), ("uniform_r1_surely",))
    assert real["uniform_r1_surely"].passed is True
    monkeypatch.setattr(l4, "_uniform_lam_max", lambda A: -np.ones(np.shape(A)[:-2]))
    _, ev = run_checks_fresh("L4", ("uniform_r1_surely",))
    after = ev["uniform_r1_surely"]
    assert after.passed is None and after.counterexample is None and "undecided" in after.summary


@pytest.mark.claim("L4")
def test_l4_uniform_finding_fails_when_the_half_width_is_too_large(monkeypatch, claim_result):
    """U(+-1.1 b), variance 1.21 sigma_a^2: at sigma_a^2 n = 1/3 the surely-bound ||a||^2 <= 3 sigma_a^2 n is
    1.21 > 1, so r = 1 is no longer NSD surely: the finding fails (a failure the numbers show)."""
    from lora_theorems.claims.paper_l import l4

    real_b = l4._uniform_b
    monkeypatch.setattr(l4, "_uniform_b", lambda sigma_a2: 1.1 * real_b(sigma_a2))
    _, ev = run_checks_fresh("L4", ("uniform_r1_surely",))
    assert ev["uniform_r1_surely"].passed is False and ev["uniform_r1_surely"].counterexample


# ----------------------------------------------------------------------------- L5


def _opnorm_vanishing(real):
    """Squared singular values pulled toward 1 by 1/sqrt(n): ||A^T A - I||_op ~ 3/sqrt(n) -> 0, the world
    in which 'M_Delta converges to 0 in operator norm' is true."""

    def gram(A, backend=None):
        s2 = real(A, backend)
        return 1.0 + (s2 - 1.0) / math.sqrt(np.shape(A)[-1])

    return gram


@pytest.mark.claim("L5")
def test_l5_operator_norm_check_is_no_longer_a_refutation_when_the_norm_vanishes(monkeypatch, claim_result):
    """A refutation test: with the norm vanishing it no longer fails, and it is undecided, not passed
    (no finite sweep shows convergence in probability to 0)."""
    import lora_theorems.numerics.paper_l.m_delta as md

    verdict, real = verdict_over(claim_result("L5"), ("operator_norm_growth",))
    assert real["operator_norm_growth"].passed is False and verdict is Verdict.REFUTED
    monkeypatch.setattr(md, "gram_eigenvalues", _opnorm_vanishing(md.gram_eigenvalues))
    verdict, ev = run_checks_fresh("L5", ("operator_norm_growth",))
    assert ev["operator_norm_growth"].passed is None and ev["operator_norm_growth"].counterexample is None
    assert "cannot be shown by sampling" in ev["operator_norm_growth"].summary
    assert verdict is Verdict.OPEN  # no as-written failure left; the other readings are not in this run


class _Scaled:
    """A generator whose normal draws have standard deviation ``k``: A with variance k^2/n, not 1/n."""

    def __init__(self, g, k):
        self.g, self.k = g, k

    def standard_normal(self, *a, **kw):
        return self.k * self.g.standard_normal(*a, **kw)


@pytest.mark.claim("L5")
def test_l5_kernel_difference_fails_and_verdict_moves_when_the_bilinear_form_does_not_vanish(monkeypatch, claim_result):
    from lora_theorems.claims.paper_l import l5

    verdict, real = verdict_over(claim_result("L5"))
    assert verdict is Verdict.CONDITIONAL and real["kernel_difference_rate"].passed is True
    real_blocks = l5._blocks
    # variance 1.21/n: E[u^T (A^T A - I) v] = 0.21 rho != 0, so n E[q^2] grows like n instead of staying 1 + rho^2
    monkeypatch.setattr(l5, "_blocks", lambda *a: ((b, _Scaled(g, 1.1)) for b, g in real_blocks(*a)))
    verdict, ev = run_checks_fresh("L5")
    assert ev["kernel_difference_rate"].passed is False and ev["kernel_difference_rate"].worst_margin < 0
    assert ev["weak_convergence"].passed is False
    assert verdict is Verdict.REFUTED


@pytest.mark.claim("L5")
def test_l5_exact_moment_checks_move_when_the_gaussian_moments_are_wrong(monkeypatch, claim_result):
    import lora_theorems.proofs.paper_l.m_delta as pm

    verdict, real = verdict_over(claim_result("L5"))
    assert verdict is Verdict.CONDITIONAL
    assert real["exact_mean_square_norm"].passed is False and real["exact_kernel_difference_moments"].passed is True
    assert real["exact_weak_convergence_moments"].passed is True
    uncached(monkeypatch, pm, "moments_derivation")
    monkeypatch.setattr(pm, "gaussian_expectation", lambda expr, zs: 0)  # every moment 0: E[A^T A] = 0, not r sigma^2 I
    verdict, ev = run_checks_fresh("L5")
    assert ev["exact_mean_square_norm"].passed is None  # the floor E||M||^2 >= (n+1)/n is no longer derived
    assert ev["exact_kernel_difference_moments"].passed is False and ev["exact_kernel_difference_moments"].counterexample
    assert ev["exact_weak_convergence_moments"].passed is False
    assert verdict is Verdict.REFUTED  # the corrected reading no longer holds either


# ----------------------------------------------------------------------------- L7


L7_AS_WRITTEN = tuple(
    f"{reading}_{level}"
    for reading in ("ib_log_pdet", "ib_trace", "renyi_all_alpha", "renyi_normalized", "h_inf_max")
    for level in ("layer", "kernel", "fisher")
) + ("variance_hypothesis",)


def _readings(transform):
    import lora_theorems.numerics.paper_l.information as info

    real = info.all_readings
    return lambda lam, *a, **k: {key: transform(v) for key, v in real(lam, *a, **k).items()}


@pytest.mark.claim("L7")
def test_l7_every_as_written_check_passes_when_the_readings_cannot_differ(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_l.information as info

    verdict, real = verdict_over(claim_result("L7"), L7_AS_WRITTEN)
    failing = {n for n, e in real.items() if e.passed is False}
    assert verdict is Verdict.REFUTED and failing >= {"ib_log_pdet_kernel", "renyi_all_alpha_layer", "variance_hypothesis"}
    monkeypatch.setattr(info, "all_readings", _readings(lambda v: 0.0))  # IB and H_alpha of FF and LoRA equal
    verdict, ev = run_checks_fresh("L7", L7_AS_WRITTEN)
    assert {n: e.passed for n, e in ev.items()} == dict.fromkeys(L7_AS_WRITTEN, True)
    assert verdict is Verdict.VERIFIED


@pytest.mark.claim("L7")
def test_l7_holding_readings_fail_when_lora_carries_more_information(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_l.information as info

    verdict, real = verdict_over(claim_result("L7"))
    holding = {n for n in L7_AS_WRITTEN if real[n].passed is True}
    assert verdict is Verdict.CONDITIONAL
    assert holding >= {"ib_trace_layer", "ib_trace_kernel", "ib_trace_fisher", "h_inf_max_layer", "h_inf_max_kernel", "h_inf_max_fisher"}
    monkeypatch.setattr(info, "all_readings", _readings(lambda v: -v))  # every reading's order reversed
    verdict, ev = run_checks_fresh("L7")
    for name in holding:
        assert ev[name].passed is False, name
        ce = ev[name].counterexample
        assert ce is not None and float(ce["value_lora"]) > float(ce["value_ff"]), name
    # the corrected monotone reading breaks too: nothing holds, so the verdict moves from conditional to refuted
    assert ev["loewner_monotone_random"].passed is False and verdict is Verdict.REFUTED

"""Mutation tests for H1, H2 and H3 (issue 13): every as-written check must be able to come out the other way.

H1-H3 are ``verified`` (quick profile, seed 0), so each mutation breaks the mathematics an as-written
check relies on (the law of the mechanism, the degrees of freedom of delta_rho's first term, epsilon_rho,
the matrix pairs of H2, the leakage of LoRA-FA) and asserts that the check now fails with a
counterexample, that the verdict of the claim restricted to that reading moves from ``verified`` to
``refuted``, and that the whole claim's verdict moves with it. Findings (``kappa-other-readings``) are
mutated too, to show they never decide a verdict. Baselines come from the session's ``claim_result``;
mutated checks run fresh (quick profile, seed 0; each under 4 s).

``h2_no_collision_exact`` once compared ``min ||M(V - V')||_F`` with 0 exactly, so a float64 collision
(~1e-20) passed; it now needs the norm above 1e-8 ||V - V'|| (regression test below).
"""

from __future__ import annotations

import numpy as np
import pytest

from lora_theorems.ledger import Verdict
from lora_theorems.testing import assert_outcome_moves, claim_verdict_with, evidence_named, run_check_fresh


def _before(claim_result, claim_id: str, name: str):
    res = claim_result(claim_id)
    assert res.verdict.verdict is Verdict.VERIFIED
    return res, evidence_named(res, name)


# ----------------------------------------------------------------------------- H1


@pytest.mark.claim("H1")
def test_h1_first_term_quadrature_fails_when_the_expectation_is_over_chi2_r_plus_1(monkeypatch, claim_result):
    """E_{x ~ chi^2_(r+1)}[Phi(-rho sqrt x / sqrt(1 - rho^2))] is F_{t_(r+1)}(-rho sqrt((r+1)/(1-rho^2))), not the
    F_{t_r} closed form: both quadratures (SciPy and mpmath) must then disagree with it."""
    from scipy import stats

    import lora_theorems.numerics.paper_h.projection_dp as pdp

    res, before = _before(claim_result, "H1", "h1_first_term_quadrature")
    real_q, real_mp = pdp.delta_first_term_quad, pdp.delta_first_term_mp
    monkeypatch.setattr(pdp, "delta_first_term_quad", lambda rho, r: real_q(rho, r + 1))
    monkeypatch.setattr(pdp, "delta_first_term_mp", lambda rho, r, dps=40: real_mp(rho, r + 1, dps))
    after = run_check_fresh("H1", "h1_first_term_quadrature")
    assert_outcome_moves("H1", before, after, now=False)
    # independently: at r = 1, rho = 0.5 the two laws differ in the first digit
    t1 = stats.t.cdf(-0.5 * np.sqrt(1 / 0.75), 1)
    t2 = stats.t.cdf(-0.5 * np.sqrt(2 / 0.75), 2)
    assert after.counterexample["worst_scipy"] >= abs(t2 - t1) / t1 > 0.1
    assert claim_verdict_with(res, after) is Verdict.REFUTED


@pytest.mark.claim("H1")
def test_h1_monte_carlo_frequency_fails_for_a_mechanism_of_rank_r_plus_1(monkeypatch, claim_result):
    """Y = A^T A V' with r + 1 rows in A: P(V^T Y < 0) = F_{t_(r+1)}(...), off the rank-r first term by up to
    0.05 (r = 1, rho = 0.3), far outside the exact intervals at 20 000 draws; the support still holds."""
    import lora_theorems.numerics.paper_h.projection_dp as pdp

    res, before = _before(claim_result, "H1", "h1_first_term_monte_carlo")
    real = pdp.projection_mechanism
    monkeypatch.setattr(pdp, "projection_mechanism", lambda V, r, trials, rng: real(V, r + 1, trials, rng))
    after = run_check_fresh("H1", "h1_first_term_monte_carlo")
    assert_outcome_moves("H1", before, after, now=False)
    cex = after.counterexample
    assert cex["support_ok"] is True and cex["cells"]
    assert all(not c["ci"][0] <= c["exact"] <= c["ci"][1] for c in cex["cells"])
    assert claim_verdict_with(res, after) is Verdict.REFUTED


@pytest.mark.claim("H1")
def test_h1_monte_carlo_support_fails_when_the_mechanism_adds_noise(monkeypatch, claim_result):
    """M V + N(0, 0.1^2 I) has full support: V^T Y < 0 on some draws of Y ~ M V, so Supp(MV) is no longer
    the half-space {V^T y >= 0}."""
    import lora_theorems.numerics.paper_h.projection_dp as pdp

    _, before = _before(claim_result, "H1", "h1_first_term_monte_carlo")
    real = pdp.projection_mechanism

    def noisy(V, r, trials, rng):
        Y = real(V, r, trials, rng)
        return Y + 0.1 * rng.standard_normal(Y.shape)

    monkeypatch.setattr(pdp, "projection_mechanism", noisy)
    after = run_check_fresh("H1", "h1_first_term_monte_carlo")
    assert_outcome_moves("H1", before, after, now=False)
    assert after.counterexample["support_ok"] is False


@pytest.mark.claim("H1")
def test_h1_audit_fails_when_epsilon_rho_is_a_quarter_of_theorem_1s(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_h.projection_dp as pdp

    res, before = _before(claim_result, "H1", "h1_audit_dp")
    real = pdp.epsilon_rho
    monkeypatch.setattr(pdp, "epsilon_rho", lambda *a, **k: real(*a, **k) / 4)
    after = run_check_fresh("H1", "h1_audit_dp")
    assert_outcome_moves("H1", before, after, now=False)
    cex = after.counterexample
    assert cex["hockey_stick_lower"] > cex["delta_rho"] and cex["eps_rho"] == pytest.approx(
        real(cex["rho"], cex["r"], cex["d"], cex["delta_p"]) / 4)
    assert after.worst_margin < 0
    assert claim_verdict_with(res, after) is Verdict.REFUTED


@pytest.mark.claim("H1")
def test_h1_kappa_finding_moves_but_never_decides(monkeypatch, claim_result):
    """If every reading of kappa gave the chi-square quantile, the finding 'the other readings fail' would be
    false; it is a finding, so H1's verdict does not move."""
    import lora_theorems.numerics.paper_h.projection_dp as pdp

    res, before = _before(claim_result, "H1", "h1_kappa_readings")
    real = pdp.epsilon_rho
    monkeypatch.setattr(pdp, "epsilon_rho", lambda rho, r, d, dp, reading="chi2": real(rho, r, d, dp, "chi2"))
    after = run_check_fresh("H1", "h1_kappa_readings")
    assert_outcome_moves("H1", before, after, now=False)
    assert claim_verdict_with(res, after) is Verdict.VERIFIED


@pytest.mark.claim("H1")
def test_h1_kappa_finding_is_undecided_with_too_few_trials(monkeypatch, claim_result):
    """Twenty trials cannot put H at eps_rho above delta_rho = 0.03 at family-wise 1e-3, nor below it: the
    finding says undecided (passed None), never a failure; a violation not shown is not a violation refuted."""
    from lora_theorems.checks import CheckContext

    res, before = _before(claim_result, "H1", "h1_kappa_readings")
    assert before.passed is True
    real = CheckContext.pick
    monkeypatch.setattr(CheckContext, "pick", lambda self, quick, full: 20 if quick == 40000 else real(self, quick, full))
    after = run_check_fresh("H1", "h1_kappa_readings")
    assert after.passed is None and after.counterexample is None
    assert "undecided" in after.summary
    assert claim_verdict_with(res, after) is Verdict.VERIFIED


# ----------------------------------------------------------------------------- H2


@pytest.mark.claim("H2")
def test_h2_distinguisher_fails_on_rank_one_pairs(monkeypatch, claim_result):
    """For rank-one pairs V = v w^T, V' = v' w^T the output M V = (M v) w^T is the vector mechanism, which H1
    makes DP: V^T M V' = (v^T M v') w w^T is symmetric, the distinguisher fires on both, and no delta near 1
    is certified."""
    from lora_theorems.claims.paper_h import h2
    from lora_theorems.numerics.paper_h.projection_dp import aligned_pair

    res, before = _before(claim_result, "H2", "h2_symmetry_distinguisher")
    w = np.array([0.6, 0.8])

    def rank_one(d, rho):
        v, vp = aligned_pair(d, rho)
        return np.outer(v, w), np.outer(vp, w)

    monkeypatch.setattr(h2, "_pair", rank_one)
    after = run_check_fresh("H2", "h2_symmetry_distinguisher")
    assert_outcome_moves("H2", before, after, now=False)
    assert after.counterexample["worst_certified_delta"] < 0  # TPR = FPR = 1: 1 - e < 0
    assert claim_verdict_with(res, after) is Verdict.REFUTED


def _blind_to(u):
    """The projection mechanism with A's rows orthogonal to the unit vector ``u`` (a degenerate law of A)."""
    P = np.eye(len(u)) - np.outer(u, u)

    def mechanism(V, r, trials, rng):
        V = np.asarray(V, dtype=float)
        A = rng.standard_normal((trials, r, V.shape[0])) / np.sqrt(r) @ P
        AV = A @ V
        return np.einsum("trd,tr->td", A, AV) if V.ndim == 1 else np.einsum("trd,trm->tdm", A, AV)

    return mechanism


@pytest.mark.claim("H2")
def test_h2_no_collision_fails_when_the_mechanism_outputs_zero(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_h.projection_dp as pdp

    res, before = _before(claim_result, "H2", "h2_no_collision_exact")
    real = pdp.projection_mechanism
    monkeypatch.setattr(pdp, "projection_mechanism", lambda V, r, trials, rng: 0 * real(V, r, trials, rng))
    after = run_check_fresh("H2", "h2_no_collision_exact")
    assert_outcome_moves("H2", before, after, now=False)
    assert claim_verdict_with(res, after) is Verdict.REFUTED


@pytest.mark.claim("H2")
def test_h2_no_collision_fails_when_A_never_sees_the_difference(monkeypatch, claim_result):
    """A with rows orthogonal to the column in which V and V' differ: A (V - V') = 0, so M V = M V' on every
    draw, the collision H2 says has probability 0."""
    import lora_theorems.numerics.paper_h.projection_dp as pdp
    from lora_theorems.claims.paper_h import h2

    _, before = _before(claim_result, "H2", "h2_no_collision_exact")
    V, Vp = h2._pair(4, 0.99)
    u = (V - Vp)[:, 1] / np.linalg.norm((V - Vp)[:, 1])
    monkeypatch.setattr(pdp, "projection_mechanism", _blind_to(u))
    Y = pdp.projection_mechanism(V - Vp, 2, 100, np.random.default_rng(0))
    assert np.abs(Y).max() < 1e-15 * np.abs(V - Vp).max()  # a collision, up to float64 round-off
    after = run_check_fresh("H2", "h2_no_collision_exact")
    assert after.passed is False


@pytest.mark.claim("H2")
def test_h2_distinguisher_is_undecided_with_too_few_draws(monkeypatch, claim_result):
    """Twenty draws per cell: TPR = 1, FPR = 0 as ever, but the exact intervals at family-wise 1e-3 certify a
    delta of only ~0.6 - e 0.4 < 0.9, while the delta's upper bound stays 1: undecided (passed None), not a
    failure; the rank-one mutation above, whose upper bound is negative, is the failure."""
    from lora_theorems.checks import CheckContext

    res, before = _before(claim_result, "H2", "h2_symmetry_distinguisher")
    assert before.passed is True
    real = CheckContext.pick
    monkeypatch.setattr(CheckContext, "pick", lambda self, quick, full: 20 if quick == 5000 else real(self, quick, full))
    after = run_check_fresh("H2", "h2_symmetry_distinguisher")
    assert after.passed is None and after.counterexample is None and after.worst_margin is None
    assert "undecided" in after.summary
    assert claim_verdict_with(res, after) is Verdict.OPEN  # no decisive evidence left for the not-dp reading


# ----------------------------------------------------------------------------- H3


@pytest.mark.claim("H3")
@pytest.mark.parametrize("world", ["lora-fa leaks like dp-sgd", "the two swapped"])
def test_h3_direction_fails_when_lora_fa_is_no_more_attackable_than_dp_sgd(monkeypatch, claim_result, world):
    """LoRA-FA's attack AUCs replaced by DP-SGD's (eps ~ 1), or the two methods' results swapped (DP-SGD
    leaks, LoRA-FA does not): either way the paired difference's upper bound is at or below 0 (no more
    attackable than DP-SGD, with confidence), a failure, not an undecided comparison."""
    import lora_theorems.numerics.paper_h.mia as mia

    res, before = _before(claim_result, "H3", "h3_mia_digits")
    real = mia.mia_experiment

    def mutated(*a, **k):
        out = real(*a, **k)
        if world.startswith("lora-fa"):
            return {**out, "lora-fa": out["dp-sgd"]}
        return {**out, "lora-fa": out["dp-sgd"], "dp-sgd": out["lora-fa"]}

    monkeypatch.setattr(mia, "mia_experiment", mutated)
    after = run_check_fresh("H3", "h3_mia_digits")
    assert_outcome_moves("H3", before, after, now=False)
    (fail,) = after.counterexample["ranks"]
    assert fail["paired_difference"][2] <= 0.0  # upper bound of AUC(LoRA-FA) - AUC(DP-SGD)
    assert claim_verdict_with(res, after) is Verdict.REFUTED


@pytest.mark.claim("H3")
def test_h3_too_few_seeds_is_undecided_not_refuted(monkeypatch, claim_result):
    """Three seeds cannot separate LoRA-FA from DP-SGD at family-wise 1e-3: the check says undecided
    (passed None), never a failure; a direction not shown is not a direction refuted."""
    from lora_theorems.checks import CheckContext

    real = CheckContext.pick
    monkeypatch.setattr(CheckContext, "pick", lambda self, quick, full: 3 if quick == 12 else real(self, quick, full))
    after = run_check_fresh("H3", "h3_mia_digits")
    assert after.passed is None and after.counterexample is None
    assert "undecided" in after.summary

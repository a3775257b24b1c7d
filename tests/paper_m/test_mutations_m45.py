"""Mutation tests for M4 and M5 (issue 12): every as-written check must be able to come out the other way.

For each as-written check the quantity it tests is monkeypatched so that the mathematics
reverses (fresh noise, data-independent noise, Gaussian noise, a secret A, noise that hides a
zero gradient, a JL bound that is too small), and the test asserts that the check's outcome
moves and that the verdict of the claim restricted to that reading moves. M4's membership-inference
check can only fail or stay undecided (no attack proves DP): its mutations (a DP step at sigma_eff,
sigma_eff at the realised gradient scale, a control over its bound) move it from refuted to open. M4
is ``refuted`` by six as-written checks, and its corrected statement (paper H's vector-query DP)
covers only three of the failing readings; in a world where the other two (data-independent,
Gaussian noise) hold, the corrected statement decides: M4 is ``conditional``, and ``refuted`` once
eps_rho is made too small. M5's two failing as-written checks mutated together make it ``verified``.
Baselines come from the session's ``claim_result``; mutated checks run fresh
(quick, seed 0).
"""

from __future__ import annotations

import numpy as np
import pytest

from lora_theorems.ledger import Verdict
from lora_theorems.testing import assert_outcome_moves, claim_verdict_with, evidence_named, reading_verdict, run_check_fresh


def baseline_of(claim_result, claim_id: str, name: str):
    res = claim_result(claim_id)
    return res, evidence_named(res, name)


# ----------------------------------------------------------------------------- M4


@pytest.mark.claim("M4")
def test_m4_fresh_A_each_step_makes_the_noise_uncorrelated(monkeypatch, claim_result):
    import lora_theorems.claims.paper_m.m4 as m4

    res, before = baseline_of(claim_result, "M4", "m4_noise_correlated_across_steps")
    real = m4._lora_fa_two_steps
    monkeypatch.setattr(m4, "_lora_fa_two_steps", lambda ctx, trials, r, resample, **kw: real(ctx, trials, r, True, **kw))
    after = run_check_fresh("M4", "m4_noise_correlated_across_steps")
    assert_outcome_moves("M4", before, after, now=True)
    assert claim_verdict_with(res, after) is res.verdict.verdict  # five other as-written checks still fail


def _normalized_gradient(monkeypatch):
    """The noise of the normalized gradient G / ||G||_F: its scale no longer depends on the data."""
    import lora_theorems.numerics.paper_m.noise as noise

    real = noise.lora_noise
    monkeypatch.setattr(noise, "lora_noise", lambda G, A: real(np.asarray(G) / np.linalg.norm(G), A))


def _gaussian_noise(monkeypatch):
    """Gaussian noise of the same (data-dependent) variance as G (A^T A - I)."""
    import lora_theorems.numerics.paper_m.noise as noise

    rng = np.random.default_rng(0)

    def gaussian(G, A):
        G = np.asarray(G, dtype=float)
        sd = np.sqrt(noise.noise_variance(G, A.shape[-2]))
        return rng.standard_normal((A.shape[0], *G.shape)) * sd

    monkeypatch.setattr(noise, "lora_noise", gaussian)


@pytest.mark.claim("M4")
def test_m4_noise_of_a_normalized_gradient_is_data_independent(monkeypatch, claim_result):
    _, before = baseline_of(claim_result, "M4", "m4_noise_scales_with_data")
    _normalized_gradient(monkeypatch)
    after = run_check_fresh("M4", "m4_noise_scales_with_data")
    assert_outcome_moves("M4", before, after, now=True)


@pytest.mark.claim("M4")
def test_m4_gaussian_noise_of_the_same_variance_passes(monkeypatch, claim_result):
    _, before = baseline_of(claim_result, "M4", "m4_noise_not_gaussian")
    _gaussian_noise(monkeypatch)
    after = run_check_fresh("M4", "m4_noise_not_gaussian")
    assert_outcome_moves("M4", before, after, now=True)


@pytest.mark.claim("M4")
def test_m4_an_adversary_without_A_cannot_tell(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_m.privacy as privacy

    _, before = baseline_of(claim_result, "M4", "m4_known_A_attack")
    real = privacy.known_A_attack

    def secret_A(G_D, G_Dp, r, eta, trials, rng):
        # the adversary predicts with its own draw of A: the released update carries the secret one
        out = real(G_D, G_Dp, r, eta, trials, rng)
        k = int(rng.binomial(out["n_pos"], 0.5))
        f = int(rng.binomial(out["n_neg"], 0.5))
        return {**out, "tp": k, "fp": f, "tpr": k / out["n_pos"], "fpr": f / out["n_neg"]}

    monkeypatch.setattr(privacy, "known_A_attack", secret_A)
    after = run_check_fresh("M4", "m4_known_A_attack")
    assert_outcome_moves("M4", before, after, now=True)


def _noisy_zero_gradient_attack(real):
    def attack(r, eta, trials, rng, C=1.0):
        out = real(r, eta, trials, rng, C)
        return {**out, "P_D_zero": 0.0, "P_Dprime_zero": 0.0}  # Gaussian noise added: no update is exactly 0

    return attack


@pytest.mark.claim("M4")
def test_m4_added_noise_hides_the_zero_gradient(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_m.privacy as privacy

    _, before = baseline_of(claim_result, "M4", "m4_zero_gradient_neighbours")
    monkeypatch.setattr(privacy, "zero_gradient_attack", _noisy_zero_gradient_attack(privacy.zero_gradient_attack))
    after = run_check_fresh("M4", "m4_zero_gradient_neighbours")
    assert_outcome_moves("M4", before, after, now=True)


@pytest.mark.claim("M4")
def test_m4_corrected_statement_decides_the_verdict(monkeypatch, claim_result):
    """Paper H's vector-query statement corrects three failing readings of M4 (implicit-dp, secret-noise,
    fresh-noise), not data-independent-noise or gaussian-noise, so M4 is refuted. In a world where those two
    hold (the normalized-gradient and Gaussian-noise mutations above), the correction decides: M4 is
    conditional with the real audit, and refuted when eps_rho is a quarter of Theorem 1's (the audit of the
    LoRA-FA step then finds H_eps > delta_rho)."""
    import lora_theorems.numerics.paper_h.projection_dp as pdp

    res, before = baseline_of(claim_result, "M4", "m4_vector_step_audit")
    assert res.verdict.verdict is Verdict.REFUTED
    assert "none for data-independent-noise, gaussian-noise" in res.verdict.reason
    with monkeypatch.context() as mp:
        _normalized_gradient(mp)
        independent = run_check_fresh("M4", "m4_noise_scales_with_data")
    with monkeypatch.context() as mp:
        _gaussian_noise(mp)
        gaussian = run_check_fresh("M4", "m4_noise_not_gaussian")
    assert independent.passed is True and gaussian.passed is True
    assert claim_verdict_with(res, independent, gaussian) is Verdict.CONDITIONAL
    real = pdp.epsilon_rho
    monkeypatch.setattr(pdp, "epsilon_rho", lambda *a, **k: real(*a, **k) / 4)
    after = run_check_fresh("M4", "m4_vector_step_audit")
    assert_outcome_moves("M4", before, after, now=False)
    assert after.counterexample["hockey_stick_lower"] > after.counterexample["delta_rho"]
    assert claim_verdict_with(res, after) is Verdict.REFUTED
    assert claim_verdict_with(res, independent, gaussian, after) is Verdict.REFUTED


def _undecided(before, after) -> None:
    """The decisive MIA check can only fail or stay undecided (no loss attack proves DP): a mutation
    that makes the mechanism (or the promise) private enough moves it from False to None, and the
    as-written reading it alone decides from refuted to open."""
    assert before.passed is False and before.counterexample is not None
    assert after.passed is None and after.counterexample is None and after.summary.startswith("undecided")
    assert reading_verdict("M4", before) is Verdict.REFUTED
    assert reading_verdict("M4", after) is Verdict.OPEN


@pytest.mark.claim("M4")
def test_m4_mia_a_dp_step_at_sigma_eff_is_not_refuted(monkeypatch, claim_result):
    """Replace the clipped LoRA-FA step by DP-SGD at the same sigma_eff: the mechanism now has the
    privacy the bound assumes, and the attack stays within it (no false alarm)."""
    import lora_theorems.numerics.paper_h.mia as mia
    from lora_theorems.numerics.paper_m.privacy import effective_noise_multiplier

    _, before = baseline_of(claim_result, "M4", "m4_membership_inference")
    real = mia.lora_fa_step_canaries

    def dp_instead(rng, *, method="lora-fa", sigma=0.0, **kw):
        s = effective_noise_multiplier(kw["r"], kw["canaries"] // 2, kw["hidden"] + 10, 64, 1.0)
        return real(rng, method="dp-sgd", sigma=s, **kw)

    monkeypatch.setattr(mia, "lora_fa_step_canaries", dp_instead)
    after = run_check_fresh("M4", "m4_membership_inference")
    _undecided(before, after)


@pytest.mark.claim("M4")
def test_m4_mia_refutation_rests_on_the_fixed_noise_scale(monkeypatch, claim_result):
    """sigma_eff at the gradient scale these canaries actually have (kappa = ||G||_F / C ~ 0.1, reported in
    the evidence) instead of the fixed clipping scale C promises ten times less privacy; the same attack then
    cannot refute it: the check refutes the fixed-scale reading, not every DP claim."""
    import lora_theorems.numerics.paper_m.privacy as privacy

    _, before = baseline_of(claim_result, "M4", "m4_membership_inference")
    kappas = [row[6] for row in before.tables[0].rows]
    assert all(0.05 < k < 0.2 for k in kappas)
    real = privacy.effective_noise_multiplier
    monkeypatch.setattr(privacy, "effective_noise_multiplier", lambda r, b, m, n, kappa=1.0: real(r, b, m, n, max(kappas)))
    after = run_check_fresh("M4", "m4_membership_inference")
    _undecided(before, after)


@pytest.mark.claim("M4")
def test_m4_mia_a_control_over_its_bound_decides_nothing(monkeypatch, claim_result):
    """If DP-SGD at sigma_eff (the control) beat the bound, the bound or the attack would be wrong: the check
    must then claim nothing, however strong the attack on LoRA-FA."""
    import lora_theorems.numerics.paper_h.mia as mia

    _, before = baseline_of(claim_result, "M4", "m4_membership_inference")
    real = mia.lora_fa_step_canaries
    monkeypatch.setattr(mia, "lora_fa_step_canaries", lambda rng, *, method="lora-fa", sigma=0.0, **kw: real(rng, **kw))
    after = run_check_fresh("M4", "m4_membership_inference")
    _undecided(before, after)
    assert "control" in after.summary


@pytest.mark.claim("M4")
def test_m4_projection_check_reads_the_draw_it_checks(monkeypatch, claim_result):
    """m4_vector_step_is_projection compares with the A that lora_fa_first_step drew: an extra draw before
    A (a changed draw order) leaves it passing with the same quality, and a sampler that no longer draws A
    in one standard_normal call stops it loudly instead of comparing against other numbers."""
    import lora_theorems.numerics.paper_h.projection_dp as pdp

    _, before = baseline_of(claim_result, "M4", "m4_vector_step_is_projection")
    real = pdp.lora_fa_first_step

    def shifted(G, r, eta, trials, rng):
        rng.random(3)  # a new draw first: the same seed no longer gives the same A
        return real(G, r, eta, trials, rng)

    monkeypatch.setattr(pdp, "lora_fa_first_step", shifted)
    after = run_check_fresh("M4", "m4_vector_step_is_projection")
    assert before.passed is True and after.passed is True and after.worst_margin > 0

    def split(G, r, eta, trials, rng):
        G = np.atleast_2d(G)
        A = np.concatenate([rng.standard_normal((1, r, G.shape[1])), rng.standard_normal((trials - 1, r, G.shape[1]))]) / np.sqrt(r)
        return np.einsum("tmr,trn->tmn", -eta * np.einsum("mn,trn->tmr", G, A), A)

    monkeypatch.setattr(pdp, "lora_fa_first_step", split)
    with pytest.raises(RuntimeError, match="one standard_normal draw"):
        run_check_fresh("M4", "m4_vector_step_is_projection")


# ----------------------------------------------------------------------------- M5


@pytest.mark.claim("M5")
def test_m5_jl_bound_quartered_fails(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_m.privacy as privacy

    res, before = baseline_of(claim_result, "M5", "m5_jl_tail_exact")
    real = privacy.jl_failure_bound
    # the bound is loosest-tight at r = 1, eps -> 0 (2 vs 0.995): a quarter of it is below the exact tail
    monkeypatch.setattr(privacy, "jl_failure_bound", lambda r, e: real(r, e) / 4)
    after = run_check_fresh("M5", "m5_jl_tail_exact")
    assert_outcome_moves("M5", before, after, now=False)


@pytest.mark.claim("M5")
def test_m5_fixed_noise_scale_and_hidden_zero_gradient_make_m5_verified(monkeypatch, claim_result):
    import lora_theorems.numerics.paper_m.noise as noise
    import lora_theorems.numerics.paper_m.privacy as privacy

    res = claim_result("M5")
    assert res.verdict.verdict is Verdict.REFUTED
    b1 = evidence_named(res, "m5_noise_scale_not_fixed")
    b2 = evidence_named(res, "m5_accountant_vs_attack")
    monkeypatch.setattr(noise, "noise_variance", lambda G, r: np.full(np.shape(G), 2.0 / r))  # data-independent
    monkeypatch.setattr(privacy, "zero_gradient_attack", _noisy_zero_gradient_attack(privacy.zero_gradient_attack))
    a1, a2 = run_check_fresh("M5", "m5_noise_scale_not_fixed"), run_check_fresh("M5", "m5_accountant_vs_attack")
    assert_outcome_moves("M5", b1, a1, now=True)
    assert_outcome_moves("M5", b2, a2, now=True)
    assert claim_verdict_with(res, a1, a2) is Verdict.VERIFIED


@pytest.mark.claim("M4")
def test_m4_matrix_distinguisher_is_undecided_with_few_draws_and_fails_without_separation(monkeypatch, claim_result):
    """Ten draws per side cannot certify delta > 0.9 at eps = 1: undecided, not a failure; with the
    test answering at random (FPR = TPR) the upper bound falls to 0 and the finding fails."""
    import numpy as np

    import lora_theorems.numerics.paper_h.projection_dp as pdp
    from lora_theorems.checks import CheckContext

    real_pick = CheckContext.pick
    monkeypatch.setattr(CheckContext, "pick", lambda self, q, f: 10 if (q, f) == (5000, 20000) else real_pick(self, q, f))
    few = run_check_fresh("M4", "m4_matrix_step_distinguisher")
    assert few.passed is None and few.counterexample is None and "undecided" in few.summary
    monkeypatch.undo()
    monkeypatch.setattr(pdp, "symmetry_distinguisher", lambda Y, V: np.random.default_rng(0).random(len(Y)) < 0.5)
    coin = run_check_fresh("M4", "m4_matrix_step_distinguisher")
    assert coin.passed is False and coin.counterexample["delta_upper_bound"] <= 0.9

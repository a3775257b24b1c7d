"""Paper M, claims M4 and M5: the privacy counterexamples re-checked by hand, JL tails,
the accountant wrappers against known properties."""

import itertools

import mpmath as mp
import numpy as np
import pytest

from lora_theorems.numerics.paper_m.noise import lora_noise, noise_variance, sample_A
from lora_theorems.numerics.paper_m.privacy import (
    accountant_epsilon,
    clip_rows,
    effective_noise_multiplier,
    jl_failure_bound,
    jl_failure_exact,
    min_rank_bound,
    min_rank_exact,
)


@pytest.mark.claim("M4")
def test_constant_gradient_noise_is_identical_across_steps(claim_result):
    cex = {e.check: e for e in claim_result("M4").evidence}["m4_noise_correlated_across_steps"].counterexample
    G = -np.array(cex["C"])
    a = np.array([[0.5, -1.0]])
    N = lora_noise(G, a)
    np.testing.assert_allclose(N, cex["N_0"], atol=1e-15)
    np.testing.assert_allclose(N, cex["N_1"], atol=1e-15)
    lo, hi = cex["mc_ci"]
    assert lo > 0.5  # strongly positive correlation, far from DP-SGD's 0


@pytest.mark.claim("M4")
def test_zero_gradient_neighbours_recomputed(claim_result):
    cex = {e.check: e for e in claim_result("M4").evidence}["m4_zero_gradient_neighbours"].counterexample
    x = np.array([1.0, 0.0])
    g_D = clip_rows(np.array([(0 - y) * x for y in (-1.0, 1.0)]), 1.0).mean(axis=0)
    g_Dp = clip_rows(np.array([(0 - y) * x for y in (-1.0, -1.0)]), 1.0).mean(axis=0)
    np.testing.assert_array_equal(g_D, cex["G_D"][0])
    np.testing.assert_array_equal(g_Dp, cex["G_D_prime"][0])
    rng = np.random.default_rng(5)
    for _ in range(100):
        A = sample_A(rng, 2, 2)
        assert np.all(-0.1 * g_D[None] @ A.T @ A == 0)
        assert np.any(-0.1 * g_Dp[None] @ A.T @ A != 0)
    assert np.isfinite(cex["accountant_epsilon_at_effective_sigma"])


@pytest.mark.claim("M4")
def test_noise_variance_depends_on_data_exactly():
    assert noise_variance(np.array([[1.0, 0, 0]]), 4)[0, 0] == pytest.approx(0.5)
    assert noise_variance(np.array([[2.0, 0, 0]]), 4)[0, 0] == pytest.approx(2.0)


@pytest.mark.claim("M4")
def test_noise_coordinate_bounded_below():
    rng = np.random.default_rng(2)
    G = np.array([[1.0, 0.0, 0.0]])
    x = lora_noise(G, sample_A(rng, 4, 3, size=5000))[:, 0, 0]
    assert x.min() >= -1.0  # chi^2_r / r - 1 >= -1 surely; a Gaussian is not bounded below


@pytest.mark.claim("M5")
def test_jl_exact_tail_matches_mpmath_and_monte_carlo():
    mp.mp.dps = 30
    for r, e in ((1, 0.5), (7, 0.2), (64, 0.3)):
        k = mp.mpf(r) / 2
        ref = mp.gammainc(k, 0, r * (1 - mp.mpf(e)) / 2, regularized=True) + mp.gammainc(k, r * (1 + mp.mpf(e)) / 2, mp.inf, regularized=True)
        assert jl_failure_exact(r, e) == pytest.approx(float(ref), rel=1e-10)
        assert jl_failure_exact(r, e) <= jl_failure_bound(r, e)
    rng = np.random.default_rng(9)
    x = rng.standard_normal(20)
    A = sample_A(rng, 8, 20, size=40000)
    freq = (np.abs(((A @ x) ** 2).sum(axis=1) / (x @ x) - 1) > 0.4).mean()
    # binomial sd <= 0.0025; 5 sd
    assert abs(freq - jl_failure_exact(8, 0.4)) < 0.0125


@pytest.mark.claim("M5")
@pytest.mark.parametrize("eps,beta", [(0.5, 1e-2), (0.2, 1e-3), (0.1, 1e-5)])
def test_min_rank_exact_is_minimal(eps, beta):
    r = min_rank_exact(eps, beta)
    assert jl_failure_exact(r, eps) <= beta
    if r > 1:
        assert jl_failure_exact(r - 1, eps) > beta
    assert r <= min_rank_bound(eps, beta)
    assert jl_failure_bound(min_rank_bound(eps, beta), eps) <= beta


@pytest.mark.claim("M5")
def test_accountant_properties():
    e_rdp = accountant_epsilon(1.0, 0.01, 1000, 1e-5, "rdp")
    e_pld = accountant_epsilon(1.0, 0.01, 1000, 1e-5, "pld")
    assert 0 < e_pld <= e_rdp  # PLD is tighter than RDP
    assert accountant_epsilon(2.0, 0.01, 1000, 1e-5) < e_rdp  # more noise, less epsilon
    # single full-batch Gaussian mechanism with sigma = 1: exact epsilon(delta) from the analytic
    # Gaussian mechanism; delta(eps) = Phi(1/(2s) - eps s) - e^eps Phi(-1/(2s) - eps s)
    eps = accountant_epsilon(1.0, 1.0, 1, 1e-5, "pld")
    Phi = lambda t: 0.5 * mp.erfc(-t / mp.sqrt(2))  # noqa: E731
    delta = Phi(0.5 - eps) - mp.e**eps * Phi(-0.5 - eps)
    assert float(delta) == pytest.approx(1e-5, rel=0.05)
    with pytest.raises(ValueError):
        accountant_epsilon(1.0, 1.5, 10, 1e-5)
    with pytest.raises(ValueError):
        accountant_epsilon(1.0, 0.1, 10, 1e-5, "moments")


@pytest.mark.claim("M5")
def test_effective_noise_multiplier_formula_and_validation():
    assert effective_noise_multiplier(4, 256, 1, 3) == pytest.approx(256 * np.sqrt(4 / 12))
    s = [effective_noise_multiplier(r, 64, 8, 8) for r in (1, 2, 4, 8)]
    assert all(a > b for a, b in itertools.pairwise(s))
    with pytest.raises(ValueError):
        effective_noise_multiplier(1, 1, 1, 1, grad_norm_ratio=1.5)
    with pytest.raises(ValueError):
        jl_failure_exact(3, 1.0)


@pytest.mark.claim("M5")
def test_clipped_noise_variance_bound_and_counterexample(claim_result):
    cex = {e.check: e for e in claim_result("M5").evidence}["m5_noise_scale_not_fixed"].counterexample
    r, C = cex["r"], cex["C"]
    vD = noise_variance(clip_rows(np.array(cex["per_example_gradients_D"]), C).mean(axis=0)[None], r)[0, 0]
    vDp = noise_variance(clip_rows(np.array(cex["per_example_gradients_D_prime"]), C).mean(axis=0)[None], r)[0, 0]
    assert vD == 0 and vDp == pytest.approx(2 * C**2 / r)
    rng = np.random.default_rng(4)
    for _ in range(200):
        G = clip_rows(rng.standard_normal((5, 2, 3)) * rng.uniform(0.1, 5), C).mean(axis=0)
        assert noise_variance(G, r).max() <= 2 * C**2 / r * (1 + 1e-12)


@pytest.mark.claim("M4")
@pytest.mark.heavy
def test_membership_inference_full_ft_leaks():
    from lora_theorems.numerics.paper_m.privacy import membership_inference_experiment

    rng = np.random.default_rng(0)
    runs = [membership_inference_experiment(rng, epochs=40) for _ in range(5)]
    full = np.mean([r["full"]["auc"] for r in runs])
    assert full > 0.75  # memorising random labels is visible to the loss attack
    for r in runs:
        for m in ("full", "lora-fa", "lora-fa+clip", "dp-sgd"):
            assert 0.0 <= r[m]["auc"] <= 1.0


@pytest.mark.claim("M4")
def test_auc_helper():
    from lora_theorems.numerics.paper_m.privacy import _auc

    assert _auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert _auc(np.array([1.0]), np.array([1.0])) == 0.5

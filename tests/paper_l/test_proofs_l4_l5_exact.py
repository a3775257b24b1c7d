"""L4/L5 exact parts: the spectrum of A^T A - I and its Gaussian moments, re-checked numerically."""

import numpy as np
import pytest

from lora_theorems.proofs.paper_l.m_delta import moments_derivation, spectrum_derivation, stated_spectrum_counterexample


@pytest.mark.claim("L4")
@pytest.mark.parametrize("seed", range(6))
def test_spectrum_is_singular_values_squared_minus_one(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    r = int(rng.integers(1, n + 1))
    A = rng.standard_normal((r, n)) * rng.uniform(0.01, 1.0)
    ev = np.sort(np.linalg.eigvalsh(A.T @ A - np.eye(n)))
    s = np.linalg.svd(A, compute_uv=False)
    expected = np.sort(np.concatenate([s**2 - 1, -np.ones(n - r)]))
    assert np.allclose(ev, expected, atol=1e-12 * max(1, s.max() ** 2))
    assert (ev.max() <= 1e-12) == (s.max() <= 1 + 1e-12)


@pytest.mark.claim("L4")
def test_stated_spectrum_counterexample_is_one():
    ce = stated_spectrum_counterexample()
    A = np.array(ce["A"])
    ev = np.linalg.eigvalsh(A.T @ A - np.eye(ce["n"]))
    assert np.allclose(np.sort(ev), [-1.0, -0.5])
    assert ce["sigma_a2"] < 1 / ce["n"]
    stated = sorted([ce["sigma_a2"] * ce["n"], 0.0])
    assert not np.allclose(np.sort(ev), stated)
    assert np.allclose(np.sort(np.linalg.eigvalsh(A.T @ A)), stated)


@pytest.mark.claim("L5")
def test_frobenius_moment_monte_carlo():
    """E||A^TA - I||_F^2 = n r (n+1) s^4 + n (r s^2 - 1)^2, Monte Carlo with a 6-sigma band
    (false-alarm rate < 1e-8 per assertion under the CLT)."""
    rng = np.random.default_rng(0)
    for r, n, s2 in [(4, 4, 0.25), (2, 5, 0.1), (8, 8, 0.125)]:
        A = rng.standard_normal((20000, r, n)) * np.sqrt(s2)
        M = np.einsum("kij,kil->kjl", A, A) - np.eye(n)
        f = (M**2).sum(axis=(1, 2))
        exact = n * r * (n + 1) * s2**2 + n * (r * s2 - 1) ** 2
        assert abs(f.mean() - exact) < 6 * f.std() / np.sqrt(f.size)


@pytest.mark.claim("L5")
def test_exact_derivations_pass():
    assert spectrum_derivation().passed
    assert moments_derivation().passed

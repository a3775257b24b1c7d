"""L7 numerics: the counterexamples of each reading are re-evaluated from their numbers alone."""

import math

import mpmath
import numpy as np
import pytest

pytestmark = pytest.mark.claim("L7")


def _ev(res, name):
    return next(e for e in res.evidence if e.check == name)


def _pos(lam, rtol=1e-9):
    lam = np.asarray(lam, float)
    return lam[lam > rtol * abs(lam).max()]


def test_minimal_layer_counterexample_raw_renyi():
    """n = 1, A = [[0.5]]: A^T A = 0.25 <= 1; raw H_2 of LoRA = -log 0.0625 > 0 = H_2 of FF (spec I_1 = {1})."""
    with mpmath.workdps(50):
        h_lora = -mpmath.log(mpmath.mpf("0.25") ** 2)
        h_ff = -mpmath.log(mpmath.mpf(1))
    assert h_lora > h_ff


def test_raw_renyi_layer_witness(claim_result):
    ce = _ev(claim_result("L7"), "renyi_all_alpha_layer").counterexample
    assert float(mpmath.mpf(ce["mp50_lora"])) > float(mpmath.mpf(ce["mp50_ff"]))


def test_kernel_log_pdet_witness_recomputed(claim_result):
    ce = _ev(claim_result("L7"), "ib_log_pdet_kernel").counterexample
    Kf, Kl = np.array(ce["K_ff"]), np.array(ce["K_lora"])
    # the hypothesis: K_ff - K_lora is PSD (Loewner order) up to eigensolver noise
    assert np.linalg.eigvalsh(Kf - Kl)[0] >= -1e-12 * np.abs(Kf).max()
    pf, pl = _pos(np.linalg.eigvalsh(Kf)), _pos(np.linalg.eigvalsh(Kl))
    # genuine eigenvalues, far from the cut
    assert pf.min() > 1e-7 * pf.max() and pl.min() > 1e-7 * pl.max()
    assert 0.5 * np.log(pl).sum() > 0.5 * np.log(pf).sum() + 1e-6


def test_normalized_kernel_witness_recomputed(claim_result):
    ce = _ev(claim_result("L7"), "renyi_normalized_kernel").counterexample
    Kf, Kl = np.array(ce["K_ff"]), np.array(ce["K_lora"])
    assert np.linalg.eigvalsh(Kf - Kl)[0] >= -1e-12 * np.abs(Kf).max()
    pf, pl = _pos(np.linalg.eigvalsh(Kf)), _pos(np.linalg.eigvalsh(Kl))
    pf, pl = pf / pf.sum(), pl / pl.sum()
    key = ce["reading"]
    a = key[:-1].split(",")[1]
    alpha = math.inf if a == "inf" else float(a)

    def h(p):
        if alpha == 1:
            return -np.sum(p * np.log(p))
        if alpha == 0:
            return math.log(len(p))
        if math.isinf(alpha):
            return -math.log(p.max())
        return math.log(np.sum(p**alpha)) / (1 - alpha)

    assert h(pl) > h(pf)


def test_variance_hypothesis_witness(claim_result):
    ce = _ev(claim_result("L7"), "variance_hypothesis").counterexample
    A = np.array(ce["A"])
    n = ce["n"]
    lam = np.linalg.eigvalsh(A @ A.T)
    # sigma_a^2 = 1/n draw with A^T A not <= I: one of the NSD-readings breaks
    assert lam.max() > 1.0


def test_corrected_readings_hold(claim_result):
    res = claim_result("L7")
    for name in ("loewner_monotone_random", "loewner_monotone_networks", "log_pdet_equal_rank", "normalized_layer"):
        assert _ev(res, name).passed is True

"""Paper H at the claim level: the verdicts, and the numbers the evidence reports recomputed by
hand (H1's eps_rho from its formula, H2's exact distinguisher, H3's AUC against scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lora_theorems.ledger import Verdict
from lora_theorems.numerics.paper_h.mia import auc_batch, mia_experiment


@pytest.mark.claim("H1")
def test_h1_epsilon_rho_from_the_formula_by_hand():
    from lora_theorems.numerics.paper_h.projection_dp import epsilon_rho

    d, r, dp, rho = 3, 4, 0.01, 0.95
    t = stats.t.ppf(0.99, 4)  # 3.7469...
    K = math.sqrt((1 - rho**2) / r) * t
    kap = stats.chi2.ppf(0.99, d + r - 1)
    by_hand = (d + r - 1) / 2 * math.log(rho + K) + (1 - rho + K) * kap / (2 * (rho - K))
    assert epsilon_rho(rho, r, d, dp) == pytest.approx(by_hand, rel=1e-14)
    assert t == pytest.approx(3.746947387, rel=1e-9)


@pytest.mark.claim("H1")
def test_h1_verdict_and_figure(claim_result):
    res = claim_result("H1")
    assert res.verdict.verdict is Verdict.VERIFIED
    ev = {e.check: e for e in res.evidence}
    audit = ev["h1_audit_dp"]
    assert audit.passed is True and audit.worst_margin > 0
    (plot,) = audit.plots
    pts = plot.series[0]
    assert len(pts.x) > 5 and all(y <= x for x, y in zip(pts.x, pts.y, strict=True))
    assert ev["h1_kappa_readings"].passed is True  # the other readings of kappa are refuted


@pytest.mark.claim("H2")
def test_h2_verdict(claim_result):
    res = claim_result("H2")
    assert res.verdict.verdict is Verdict.VERIFIED
    assert {e.check for e in res.evidence} >= {"h2_no_collision_exact", "h2_symmetry_distinguisher", "h2_rank_one_and_vectors"}


@pytest.mark.claim("H3")
def test_h3_verdict_names_the_not_checkable_reading(claim_result):
    v = claim_result("H3").verdict
    assert v.verdict is Verdict.VERIFIED and "cifar10-numbers" in v.reason


@pytest.mark.claim("H3")
def test_auc_matches_scikit_learn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, (3, 40)), rng.normal(0, 1, (3, 50))
    pos[0, :5] = neg[0, :5]  # ties
    got = auc_batch(pos, neg)
    for i in range(3):
        ref = roc_auc_score(np.r_[np.ones(40), np.zeros(50)], np.r_[pos[i], neg[i]])
        assert got[i] == pytest.approx(ref, abs=1e-12)


@pytest.mark.claim("H3")
def test_mia_is_seeded_and_full_training_memorises():
    a = mia_experiment(np.random.default_rng(1), seeds=2, n_members=32, hidden=16, r=4, epochs=40, sigma=24.0)
    b = mia_experiment(np.random.default_rng(1), seeds=2, n_members=32, hidden=16, r=4, epochs=40, sigma=24.0)
    for m in ("full", "lora-fa", "dp-sgd"):
        np.testing.assert_array_equal(a[m]["auc"], b[m]["auc"])
    assert a["full"]["train_acc"].mean() > a["dp-sgd"]["train_acc"].mean()


@pytest.mark.parametrize(
    "kw",
    [{"seeds": 0}, {"n_members": 1000}, {"r": 100}, {"lr": -1.0}, {"sigma": float("nan")}, {"C": 0.0}],
)
def test_mia_bad_input(kw):
    with pytest.raises(ValueError):
        mia_experiment(np.random.default_rng(0), **kw)
    with pytest.raises(ValueError):
        auc_batch(np.ones((2, 3)), np.ones((3, 3)))

"""Check helpers (lora_theorems.helpers): exact intervals, family-wise rates, worst cases."""

import math

import numpy as np
import pytest
from scipy.stats import beta

from lora_theorems.helpers import FAMILY_ALPHA, Worst, binomial_sweep, margin_outcome, proportion_ci


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (500, 1000)])
def test_proportion_ci_is_clopper_pearson(k, n):
    lo, hi = proportion_ci(k, n, 0.01)
    # Clopper-Pearson from the beta quantiles, independently of scipy's binomtest
    exp_lo = 0.0 if k == 0 else beta.ppf(0.005, k, n - k + 1)
    exp_hi = 1.0 if k == n else beta.ppf(0.995, k + 1, n - k)
    assert lo == pytest.approx(exp_lo, abs=1e-12) and hi == pytest.approx(exp_hi, abs=1e-12)


def test_binomial_sweep_is_bonferroni():
    s = binomial_sweep([({"i": i}, 9, 10) for i in range(4)])
    assert s.per_cell_alpha == FAMILY_ALPHA / 4
    assert s.cells[0].high == pytest.approx(proportion_ci(9, 10, FAMILY_ALPHA / 4)[1])
    assert s.lowest_upper().label == {"i": 0}


def test_binomial_sweep_family_rate_holds_by_simulation():
    # 20 cells at p = 0.9, 400 trials: any interval missing 0.9 is a family-wise false alarm
    rng = np.random.default_rng(0)
    misses = 0
    for _ in range(200):
        s = binomial_sweep([({}, int(k), 400) for k in rng.binomial(400, 0.9, 20)], family_alpha=0.1)
        misses += any(not (c.low <= 0.9 <= c.high) for c in s.cells)
    assert misses / 200 <= 0.1 + 3 * math.sqrt(0.1 * 0.9 / 200)


@pytest.mark.parametrize("bad", [(-1, 10), (11, 10), (0, 0)])
def test_proportion_ci_refuses_bad_counts(bad):
    with pytest.raises(ValueError, match="successes <= trials"):
        proportion_ci(*bad, 0.01)


def test_worst_counts_nan_as_worst_and_never_passes():
    w = Worst()
    w.see(0.5, {"a": 1})
    w.see(float("nan"), lambda: {"a": "nan"})
    w.see(2.0, {"a": 2})
    assert w.nan and w.witness == {"a": "nan"}
    out = margin_outcome(w, tolerance=1.0, holds="ok {worst}", fails="fails {worst}")
    assert out.passed is False and out.summary.startswith("fails") and out.counterexample == {"a": "nan"}


def test_margin_outcome_summary_follows_the_result():
    w = Worst()
    for b in (0.1, 0.3, 0.2):
        w.see(b, {"b": b})
    ok = margin_outcome(w, tolerance=0.5, holds="holds on {seen} (worst {worst})", fails="fails")
    assert ok.passed is True and ok.summary == "holds on 3 (worst 0.3)" and ok.counterexample is None
    bad = margin_outcome(w, tolerance=0.25, holds="holds", fails="fails at {worst}")
    assert bad.passed is False and bad.counterexample == {"b": 0.3}


def test_an_empty_sweep_decides_nothing():
    with pytest.raises(ValueError, match="saw no case"):
        margin_outcome(Worst(), tolerance=0.0, holds="", fails="")

"""Check helpers (lora_theorems.helpers): exact intervals, family-wise rates, worst cases."""

import math

import numpy as np
import pytest
from scipy.stats import beta

from lora_theorems.helpers import (
    FAMILY_ALPHA,
    BoundPoint,
    Worst,
    binomial_sweep,
    bound_sweep,
    loglog_slope,
    margin_outcome,
    proportion_ci,
    series_by,
)


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


# ----------------------------------------------------------------------------- added with the L4/L5/L7 rewrite


def _ctx(profile):
    from lora_theorems.checks import CheckContext

    return CheckContext(profile=profile, seed=0, rng=np.random.default_rng(0))


def test_grid_reads_the_profile():
    from lora_theorems.helpers import Grid

    g = Grid(quick=(1, 2), full=(1, 2, 4))
    assert g(_ctx("quick")) == (1, 2) and g(_ctx("full")) == (1, 2, 4)
    with pytest.raises(ValueError, match="unknown profile"):
        g(_ctx("medium"))


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (4321, 20000)])
def test_one_sided_bounds_are_the_beta_quantiles_at_alpha(k, n):
    # one-sided Clopper-Pearson: P(Bin(n, lo) >= k) = alpha, i.e. lo = Beta^{-1}(alpha; k, n - k + 1)
    from scipy.stats import binom

    lo, hi = proportion_ci(k, n, 0.01, side="lower")
    assert hi == 1.0
    if k == 0:
        assert lo == 0.0
    else:
        assert binom.sf(k - 1, n, lo) == pytest.approx(0.01, rel=1e-8)
    lo, hi = proportion_ci(k, n, 0.01, side="upper")
    assert lo == 0.0
    if k == n:
        assert hi == 1.0
    else:
        assert binom.cdf(k, n, hi) == pytest.approx(0.01, rel=1e-8)


def test_one_sided_bound_is_the_two_sided_bound_at_twice_alpha():
    # byte-identical, which is what lets the L4/L5 checks move onto the helper without moving a number
    for k, n in ((3, 10), (57, 2000), (1999, 2000)):
        assert proportion_ci(k, n, 1e-4, side="lower")[0] == proportion_ci(k, n, 2e-4)[0]


def test_proportion_ci_takes_numpy_counts_and_refuses_bools_and_bad_sides():
    assert proportion_ci(np.int64(3), np.int32(10), 0.05) == proportion_ci(3, 10, 0.05)
    with pytest.raises(ValueError, match="successes <= trials"):
        proportion_ci(True, 10, 0.05)
    with pytest.raises(ValueError, match="side must be"):
        proportion_ci(3, 10, 0.05, side="both")


def test_one_sided_sweep_is_bonferroni_and_its_family_rate_holds_by_simulation():
    s = binomial_sweep([({"i": i}, 2, 100) for i in range(5)], family_alpha=0.05, side="lower")
    assert s.side == "lower" and s.per_cell_alpha == 0.01 and all(c.high == 1.0 for c in s)
    assert len(s) == 5 and s.highest_lower().label == {"i": 0}
    rng = np.random.default_rng(1)
    misses = sum(
        any(c.low > 0.2 for c in binomial_sweep([({}, int(k), 300) for k in rng.binomial(300, 0.2, 10)], 0.1, "lower"))
        for _ in range(300)
    )
    assert misses / 300 <= 0.1 + 3 * math.sqrt(0.1 * 0.9 / 300)


def test_mean_ci_is_the_clt_interval_and_covers_at_its_rate():
    from scipy.stats import norm

    from lora_theorems.helpers import mean_ci, normal_quantile

    x = np.array([1.0, 2.0, 4.0, 7.0])
    ci = mean_ci(x, 0.05)
    z = norm.isf(0.025)
    se = np.std(x, ddof=1) / 2
    assert ci.mean == 3.5 and ci.se == pytest.approx(se) and (ci.low, ci.high) == pytest.approx((3.5 - z * se, 3.5 + z * se))
    assert 3.5 in ci and 100.0 not in ci
    assert normal_quantile(0.05, "lower") == pytest.approx(norm.isf(0.05))
    rng = np.random.default_rng(2)
    misses = sum(0.5 not in mean_ci(rng.exponential(0.5, 400), 0.1) for _ in range(400))
    assert misses / 400 <= 0.1 + 3 * math.sqrt(0.1 * 0.9 / 400)
    with pytest.raises(ValueError, match="at least two"):
        mean_ci([1.0], 0.05)
    with pytest.raises(ValueError, match="alpha must be"):
        normal_quantile(1.5)


def test_witnesses_keep_the_first_per_key_and_give_the_smallest_key():
    from lora_theorems.helpers import Witnesses

    w = Witnesses()
    with pytest.raises(ValueError, match="no witness"):
        w.smallest()
    w.offer((8, 4), "a")
    w.offer((2, 2), lambda: "b")
    w.offer((2, 2), "later, ignored")
    w.offer((2, 1), "c")
    assert w[(2, 2)] == "b" and w.smallest() == ((2, 1), "c") and len(w) == 3


def test_decide_says_undecided_instead_of_counting_it_as_a_pass_or_a_failure():
    from lora_theorems.helpers import decide

    out = decide(None, holds="h", fails="f", counterexample=None, undecided="nothing to compare", worst_margin=float("inf"),
                 params={"pairs": 0})
    assert out.passed is None and out.summary == "nothing to compare" and out.worst_margin is None and out.params == {"pairs": 0}
    with pytest.raises(ValueError, match="must say why"):
        decide(None, holds="h", fails="f", counterexample=None)


def test_decide_builds_the_counterexample_only_on_failure():
    from lora_theorems.helpers import decide

    calls = []

    def ce():
        calls.append(1)
        return {"x": 1}

    ok = decide(True, holds="holds", fails=lambda: 1 / 0, counterexample=ce, worst_margin=0.5)
    assert ok.passed is True and ok.summary == "holds" and ok.counterexample is None and not calls and ok.worst_margin == 0.5
    bad = decide(np.False_, holds="holds", fails=lambda: "fails", counterexample=ce)
    assert bad.passed is False and bad.summary == "fails" and bad.counterexample == {"x": 1} and calls == [1]
    with pytest.raises(ValueError, match="needs a counterexample"):
        decide(False, holds="", fails="", counterexample=None)


def test_margin_outcome_formats_the_margin():
    w = Worst()
    for b in (-0.5, -0.25):
        w.see(b, {"b": b})
    out = margin_outcome(w, tolerance=0.0, holds="slack {margin:.2f} of {tolerance}", fails="")
    assert out.summary == "slack 0.25 of 0.0" and out.worst_margin == 0.25


# ----------------------------------------------------------------------------- bound sweeps (M3's, moved here)


def _pt(th, r, value, bound):
    return BoundPoint({"theta": th, "r": r}, value, bound, (th, r, value, bound), {"value": value})


def test_bound_sweep_holds_when_every_value_is_under_its_bound():
    s = bound_sweep([_pt(0.5, 1, 0.1, 0.3), _pt(0.5, 4, 0.05, 0.06), _pt(1.0, 1, 0.2, 0.9)])
    assert s.holds and s.counterexample is None
    assert s.slack == pytest.approx(0.01)  # min(0.2, 0.01, 0.7), computed by hand
    assert s.rows == ((0.5, 1, 0.1, 0.3), (0.5, 4, 0.05, 0.06), (1.0, 1, 0.2, 0.9))
    out = s.outcome(holds="holds at {n} points (slack {slack:.2f})", fails="fails at theta={theta}")
    assert out.passed is True and out.summary == "holds at 3 points (slack 0.01)" and out.counterexample is None
    assert out.worst_margin == pytest.approx(0.01)


def test_bound_sweep_names_the_worst_point_first_on_ties():
    s = bound_sweep([_pt(0.5, 1, 0.1, 0.3), _pt(1.0, 2, 0.5, 0.2), _pt(2.0, 2, 0.6, 0.3)])
    assert not s.holds and s.slack == pytest.approx(-0.3)
    assert s.counterexample == {"theta": 1.0, "r": 2, "value": 0.5}  # label first, then witness; first of the tie
    out = s.outcome(holds="holds", fails="above at theta={theta}, r={r} (slack {slack:.1f})")
    assert out.passed is False and out.summary == "above at theta=1.0, r=2 (slack -0.3)"
    assert out.counterexample == s.counterexample


def test_bound_sweep_counts_nan_as_a_failure():
    s = bound_sweep([_pt(0.5, 1, 0.1, 0.3), _pt(1.0, 1, math.nan, 0.3), _pt(2.0, 1, 0.1, 0.3)])
    assert not s.holds and s.slack == -math.inf and s.counterexample["theta"] == 1.0
    assert bound_sweep([_pt(0.5, 1, 0.1, math.nan)]).holds is False
    assert _pt(0.5, 1, 0.1, 0.25).slack == pytest.approx(0.15)


def test_bound_sweep_refuses_an_empty_sweep():
    with pytest.raises(ValueError, match="at least one point"):
        bound_sweep([])


def test_series_by_groups_by_a_label_in_order_of_appearance():
    pts = [_pt(0.5, 1, 0.1, 1.0), _pt(1.0, 1, 0.2, 1.0), _pt(0.5, 4, 0.05, 0.5), _pt(1.0, 4, 0.1, 0.5)]
    ss = series_by(pts, "theta", "theta={}", lambda p: p.label["r"], lambda p: p.value, style="points")
    assert [s.label for s in ss] == ["theta=0.5", "theta=1.0"]
    assert ss[0].x == (1.0, 4.0) and ss[0].y == (0.1, 0.05) and ss[1].y == (0.2, 0.1)
    assert all(s.style == "points" for s in ss)
    only = series_by(pts, "theta", "t={}", lambda p: p.label["r"], lambda p: p.bound, only=[1.0])
    assert [s.label for s in only] == ["t=1.0"] and only[0].y == (1.0, 0.5) and only[0].style == "line"


@pytest.mark.parametrize("s", [-0.5, -1.0, 0.25, 2.0])
def test_loglog_slope_recovers_a_power_law(s):
    x = [3.0, 48.0]
    assert loglog_slope(x, [7 * v**s for v in x]) == pytest.approx(s, abs=1e-12)


@pytest.mark.parametrize("x, y", [([1, 2, 3], [1, 2, 3]), ([1], [1]), ([1, 2], [0, 1]), ([1, 1], [1, 2]), ([-1, 2], [1, 2])])
def test_loglog_slope_refuses_bad_points(x, y):
    with pytest.raises(ValueError, match="slope"):
        loglog_slope(x, y)

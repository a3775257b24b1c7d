"""Mutation tests for L8 (issue 13): every as-written check must be able to come out the other way.

L8 is ``refuted``: eq. (3)-(4)'s kernel form holds, and F1-F4 (LoRA more vulnerable to label flips,
more robust to backdoors, lower rank more backdoor-robust, smaller variance of A more robust) all fail
in both regimes. Each test first asserts the real outcome, then changes the quantity the check reads:

- the objective check: an empirical NTK 1.5 times the real one, so the loss-weighted kernel entry no
  longer equals the gradient inner product;
- F1-F4: the per-seed LoRA metrics of every sweep run replaced by those of the *paper's world* (LoRA's
  label-flip drop is FF's plus ``delta(rank, variance) > 0``, its ASR FF's minus ``gamma(rank, variance) > 0``,
  ``delta`` falling with the rank and rising with the variance, ``gamma`` falling with both; FF's metrics
  shared by the runs of one attack and rate), in which every finding is true by construction. The checks read only paired differences of these metrics, so
  the values are not clipped to [0, 1]. The screening sweep is the session's own (cached) runs,
  transformed, so the mutated checks take well under a second; a confirmation rerun goes through the
  same transformation.

In the paper's world every as-written check passes and L8 is ``verified``; one reversed cell in that
world is confirmed on fresh seeds and makes F1 fail with that cell as its counterexample.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from lora_theorems.ledger import Verdict
from lora_theorems.testing import assert_outcome_moves, claim_verdict_with, evidence_named, run_check_fresh

pytestmark = pytest.mark.claim("L8")

SWEEP_CHECKS = (
    "f1_label_flip_kernel", "f1_label_flip_finite", "f2_backdoor_kernel", "f2_backdoor_finite",
    "f3_rank_kernel", "f3_rank_finite", "f4_variance_kernel", "f4_variance_finite",
)


def _delta(rank: int, variance: float) -> float:
    """LoRA's extra label-flip drop in the paper's world: > 0 (F1), falling in the rank (F3), rising in the variance (F4)."""
    from lora_theorems.numerics.paper_l.attacks import WIDTH

    return 0.05 + 0.05 / rank + 0.05 * math.log1p(WIDTH * variance) / math.log1p(WIDTH)


def _gamma(rank: int, variance: float) -> float:
    """How much lower LoRA's ASR is than FF's: > 0 (F2), falling in the rank (F3) and in the variance (F4)."""
    from lora_theorems.numerics.paper_l.attacks import WIDTH

    return 0.05 + 0.05 / rank + 0.05 * (1 - math.log1p(WIDTH * variance) / math.log1p(WIDTH))


def _paper_world(reversed_cell=None):
    """The run transformation of the paper's world: ``world(run, ff)`` gives FF the metrics ``ff`` and LoRA
    FF's shifted by ``delta`` and ``gamma``; ``reversed_cell`` = ``(attack, rate, rank, variance)`` is where
    LoRA's label-flip drop is instead FF's minus 0.1."""

    def world(run, ff):
        d, g = _delta(run.rank, run.variance), _gamma(run.rank, run.variance)
        if reversed_cell is not None and (run.attack, run.rate, run.rank) == reversed_cell[:3] and \
                math.isclose(run.variance, reversed_cell[3]):
            d = -0.1
        lora = {
            "clean_acc": {rd: ff["clean_acc"][rd].copy() for rd in run.readings},
            "attacked_acc": {rd: ff["attacked_acc"][rd] - d for rd in run.readings},
            "asr": {rd: ff["asr"][rd] - g for rd in run.readings},
            "train_fit": run.lora["train_fit"],
        }
        return dataclasses.replace(run, ff=ff, lora=lora)

    return world


def _enter(monkeypatch, world):
    """Every run the L8 checks read goes through ``world``. In the screening sweep (the session's cached runs)
    FF gets, for each (attack, rate), the metrics of the first run at that attack and rate: FF does not
    depend on LoRA's rank or variance, only the seeds drawn per configuration differ, so within-LoRA
    comparisons (F3, F4) see common random numbers. A confirmation rerun keeps its own FF."""
    from lora_theorems.claims.paper_l import l8

    real_sweep, real_rerun = l8._sweep, l8._rerun

    def sweep(profile: str, seed: int, regime: str) -> dict:
        runs = real_sweep(profile, seed, regime)
        ff: dict = {}
        for (attack, rate, _, _), run in runs.items():
            ff.setdefault((attack, rate), run.ff)
        return {k: world(run, ff[k[:2]]) for k, run in runs.items()}

    monkeypatch.setattr(l8, "_sweep", sweep)
    monkeypatch.setattr(l8, "_rerun", lambda *a: (lambda run: world(run, run.ff))(real_rerun(*a)))


def test_objective_fails_when_the_empirical_ntk_is_scaled(monkeypatch, claim_result):
    """grad L(x_c)^T grad L(x_u) is computed from the Jacobian; the kernel form from empirical_ntk: 1.5 K
    makes the kernel form 1.5 times the gradient product, far beyond float64 rounding."""
    import lora_theorems.numerics.paper_l.empirical as emp

    res = claim_result("L8")
    before = evidence_named(res, "objective_as_weighted_ntk")
    real = emp.empirical_ntk
    monkeypatch.setattr(emp, "empirical_ntk", lambda *a, **k: 1.5 * real(*a, **k))
    after = run_check_fresh("L8", "objective_as_weighted_ntk")
    assert_outcome_moves("L8", before, after, now=False)
    cex = after.counterexample
    assert cex["via_kernel"] == pytest.approx(1.5 * cex["direct"], rel=1e-9)
    assert claim_verdict_with(res, after) is Verdict.REFUTED


@pytest.mark.parametrize("name", SWEEP_CHECKS)
def test_finding_passes_in_the_papers_world(monkeypatch, claim_result, name):
    before = evidence_named(claim_result("L8"), name)
    _enter(monkeypatch, _paper_world())
    after = run_check_fresh("L8", name)
    assert_outcome_moves("L8", before, after, now=True)
    assert "holds in every cell" in after.summary and after.worst_margin > 0


def test_l8_is_verified_in_the_papers_world_and_refuted_by_a_broken_objective(monkeypatch, claim_result):
    res = claim_result("L8")
    assert res.verdict.verdict is Verdict.REFUTED
    assert {n: evidence_named(res, n).passed for n in SWEEP_CHECKS} == dict.fromkeys(SWEEP_CHECKS, False)
    _enter(monkeypatch, _paper_world())
    mutated = [run_check_fresh("L8", n) for n in SWEEP_CHECKS]
    assert claim_verdict_with(res, *mutated) is Verdict.VERIFIED
    assert claim_verdict_with(res, *mutated[1:]) is Verdict.REFUTED  # one real finding left: F1 kernel fails

    import lora_theorems.numerics.paper_l.empirical as emp

    real = emp.empirical_ntk
    monkeypatch.setattr(emp, "empirical_ntk", lambda *a, **k: 1.5 * real(*a, **k))
    assert claim_verdict_with(res, *mutated, run_check_fresh("L8", "objective_as_weighted_ntk")) is Verdict.REFUTED


def test_one_reversed_cell_is_confirmed_and_refutes_f1(monkeypatch, claim_result):
    """In the paper's world but with LoRA's drop 0.1 *below* FF's at (label flip, 0.35, r = 4, 1/n): the
    screening finds it, the confirmation on fresh seeds (through the same world) confirms it, and the
    counterexample names that cell."""
    from lora_theorems.numerics.paper_l.attacks import WIDTH

    before = evidence_named(claim_result("L8"), "f1_label_flip_kernel")
    _enter(monkeypatch, _paper_world(("label-flip", 0.35, 4, 1 / WIDTH)))
    after = run_check_fresh("L8", "f1_label_flip_kernel")
    assert before.passed is False and after.passed is False
    cex = after.counterexample
    assert (cex["attack"], cex["rate"], cex["rank"], cex["variance"]) == ("label-flip", 0.35, 4, pytest.approx(1 / WIDTH))
    assert cex["mean_effect"] == pytest.approx(-0.1) and cex["upper_bound"] < 0
    assert all(e == pytest.approx(-0.1) for e in cex["per_seed_effect"])

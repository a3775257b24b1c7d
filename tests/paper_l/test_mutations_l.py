"""Mutation tests (issue 13): perturb the quantity an as-written check tests, and the verdict must move.

A checker whose checks cannot fail is the worst defect this project can have. Each test here
breaks the mathematics a claim's as-written check relies on (monkeypatching the numeric routine
the check calls) and asserts that the check now fails and the claim is no longer ``verified``.
Results are computed fresh (never from the per-process cache), so a mutation is always seen.
"""

from __future__ import annotations

import pytest

from lora_theorems.ledger import Verdict
from lora_theorems.testing import run_checks_fresh, uncached


@pytest.mark.claim("L6")
def test_l6_verdict_moves_when_the_weighted_ntk_is_scaled(monkeypatch):
    import lora_theorems.numerics.paper_l.empirical as emp
    import lora_theorems.numerics.paper_l.fisher as fis

    ok, ev = run_checks_fresh("L6", ("fisher_ntk_spectra", "fisher_trace_identity"))
    assert all(e.passed is True for e in ev.values())
    real_w, real_k = fis.weighted_ntk, emp.empirical_ntk
    monkeypatch.setattr(fis, "weighted_ntk", lambda *a, **k: 1.5 * real_w(*a, **k))
    monkeypatch.setattr(emp, "empirical_ntk", lambda *a, **k: 1.5 * real_k(*a, **k))
    verdict, ev = run_checks_fresh("L6", ("fisher_ntk_spectra", "fisher_trace_identity"))
    assert ev["fisher_ntk_spectra"].passed is False and "differ" in ev["fisher_ntk_spectra"].summary
    assert ev["fisher_trace_identity"].passed is False and "violated" in ev["fisher_trace_identity"].summary
    assert verdict is not Verdict.VERIFIED


@pytest.mark.claim("L2")
@pytest.mark.claim("L3")
def test_l2_l3_verdicts_move_when_the_kernel_is_scaled(monkeypatch):
    import lora_theorems.proofs.paper_l.lora_kernel as lk

    uncached(monkeypatch, lk, "lora_gradient_derivation", "lora_kernel_derivation", "lora_difference_derivation")
    real = lk._ntk
    monkeypatch.setattr(lk, "_ntk", lambda *a, **k: 3 * real(*a, **k) / 2)
    v2, ev2 = run_checks_fresh("L2", ("lora_recursion_first_layer_ff",))
    assert ev2["lora_recursion_first_layer_ff"].passed is False and v2 is not Verdict.VERIFIED
    v3, ev3 = run_checks_fresh("L3", ("lora_minus_ff_layer_output",))
    assert ev3["lora_minus_ff_layer_output"].passed is False and v3 is Verdict.REFUTED


@pytest.mark.claim("L2")
def test_l2_base_case_instance_is_recomputed_not_copied(monkeypatch):
    import lora_theorems.proofs.paper_l.lora_kernel as lk

    uncached(monkeypatch, lk, "lora_kernel_derivation")
    real = lk.base_case_counterexample
    monkeypatch.setattr(lk, "base_case_counterexample", lambda: {**real(), "K1_lora": 7})
    assert lk.lora_kernel_derivation().step("instance").verified is False

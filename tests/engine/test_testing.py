"""The public testing helpers (lora_theorems.testing): verdict views, fresh runs, the mutation assertion.

The verdict helpers are tested on a made-up claim whose expected verdicts follow from the ledger's rule
by hand; the fresh runs on H2's cheap checks (about 0.1-0.7 s each, quick profile).
"""

import functools

import pytest

from lora_theorems.ledger import AS_WRITTEN, CORRECTED, FINDING, Claim, ClaimResult, Evidence, EvidenceKind, Formalization, Verdict
from lora_theorems.testing import (
    assert_outcome_moves,
    claim_verdict_with,
    evidence_named,
    reading_verdict,
    run_check_fresh,
    run_checks_fresh,
    uncached,
    verdict_over,
)

CLAIM = Claim(
    "X9", "X", "a made-up claim", "s", "src",
    formalizations=(
        Formalization("a", "l", "first reading"),
        Formalization("b", "l", "second reading"),
        Formalization("a-fixed", "l", "a under a further hypothesis", reading=CORRECTED, corrects=("a",)),
        Formalization("aside", "l", "what is true instead", reading=FINDING),
    ),
)
READING = {f.key: f.reading for f in CLAIM.formalizations}


def ev(check: str, form: str, passed: bool | None) -> Evidence:
    return Evidence(
        claim="X9", check=check, formalization=form, reading=READING[form], kind=EvidenceKind.NUMERIC,
        passed=passed, summary=f"{check}: {passed}", counterexample={"x": 1} if passed is False else None,
    )


BASE = ClaimResult(CLAIM, (ev("ca", "a", False), ev("cb", "b", True), ev("cfix", "a-fixed", True), ev("cx", "aside", False)))


def test_the_made_up_baseline_is_conditional():
    # a fails, its correction holds, b passes, the finding never decides: conditional by rule 1
    assert BASE.verdict.verdict is Verdict.CONDITIONAL


def test_evidence_named_finds_the_record_or_says_which_is_missing():
    assert evidence_named(BASE, "cb").formalization == "b"
    with pytest.raises(ValueError, match="no evidence from a check named 'nope'"):
        evidence_named(BASE, "nope")


def test_verdict_over_restricts_the_evidence():
    verdict, records = verdict_over(BASE, ("cb",))
    assert verdict is Verdict.OPEN and set(records) == {"cb"}  # a is still unchecked
    assert verdict_over(BASE, ("ca", "cb"))[0] is Verdict.REFUTED  # a fails, its correction is not in the run
    assert verdict_over(BASE, "ca")[0] is Verdict.REFUTED  # a single name is a name, not its letters
    assert verdict_over(BASE)[0] is Verdict.CONDITIONAL and len(verdict_over(BASE)[1]) == 4
    with pytest.raises(ValueError, match="'zz'"):
        verdict_over(BASE, ("cb", "zz"))


def test_reading_verdict_cuts_the_claim_to_one_reading():
    assert reading_verdict(CLAIM, ev("ca", "a", False)) is Verdict.REFUTED
    assert reading_verdict(CLAIM, ev("ca", "a", True)) is Verdict.VERIFIED
    assert reading_verdict(CLAIM, [ev("c1", "b", True), ev("c2", "b", None)]) is Verdict.VERIFIED
    assert reading_verdict(CLAIM, ev("c2", "b", None)) is Verdict.OPEN
    # a corrected statement or a finding has no verdict of its own
    for check, form in (("cfix", "a-fixed"), ("cx", "aside")):
        with pytest.raises(ValueError, match="only an as-written reading"):
            reading_verdict(CLAIM, ev(check, form, True))
    with pytest.raises(ValueError, match="not about the formalization 'a'"):
        reading_verdict(CLAIM, [ev("ca", "a", True), ev("cb", "b", True)])
    with pytest.raises(ValueError, match="at least one"):
        reading_verdict(CLAIM, [])


def test_claim_verdict_with_replaces_only_the_named_checks():
    assert claim_verdict_with(BASE) is Verdict.CONDITIONAL
    assert claim_verdict_with(BASE, ev("ca", "a", True)) is Verdict.VERIFIED
    assert claim_verdict_with(BASE, ev("cfix", "a-fixed", False)) is Verdict.REFUTED  # the correction fails too
    assert claim_verdict_with(BASE, ev("cb", "b", False)) is Verdict.REFUTED  # b has no correction
    assert claim_verdict_with(BASE, ev("cx", "aside", True)) is Verdict.CONDITIONAL  # a finding never decides
    other = Evidence(claim="Y1", check="ca", formalization="a", reading=AS_WRITTEN, kind=EvidenceKind.NUMERIC, passed=True, summary="")
    with pytest.raises(ValueError, match="about claim"):
        claim_verdict_with(BASE, other)


def test_assert_outcome_moves_accepts_a_real_move_and_names_a_missing_one():
    assert_outcome_moves(CLAIM, ev("ca", "a", False), ev("ca", "a", True), now=True)
    assert_outcome_moves(CLAIM, ev("cb", "b", True), ev("cb", "b", False), now=False)
    # a corrected reading: only the outcome and the counterexample are checked
    assert_outcome_moves(CLAIM, ev("cfix", "a-fixed", True), ev("cfix", "a-fixed", False), now=False)
    with pytest.raises(AssertionError, match="mutated outcome is passed=True"):
        assert_outcome_moves(CLAIM, ev("cb", "b", True), ev("cb", "b", True), now=False)
    with pytest.raises(AssertionError, match="unmutated outcome is passed=False"):
        assert_outcome_moves(CLAIM, ev("ca", "a", False), ev("ca", "a", False), now=False)
    with pytest.raises(AssertionError, match="passed=None"):
        assert_outcome_moves(CLAIM, ev("cb", "b", True), ev("cb", "b", None), now=False)
    with pytest.raises(ValueError, match="different checks"):
        assert_outcome_moves(CLAIM, ev("ca", "a", False), ev("cb", "b", True), now=True)
    passing_with_cex = Evidence(claim="X9", check="ca", formalization="a", reading=AS_WRITTEN, kind=EvidenceKind.NUMERIC,
                                passed=True, summary="", counterexample={"x": 1})
    with pytest.raises(AssertionError, match="counterexample present"):
        assert_outcome_moves(CLAIM, ev("ca", "a", False), passing_with_cex, now=True)


@functools.cache
def _cached_square(x):
    return x * x


def test_uncached_swaps_in_the_original(monkeypatch):
    import sys

    here = sys.modules[__name__]
    uncached(monkeypatch, here, "_cached_square")
    assert _cached_square(3) == 9 and not hasattr(here._cached_square, "cache_info")
    with pytest.raises(ValueError, match="not a cached function"):
        uncached(monkeypatch, here, "ev")


@pytest.mark.claim("H2")
def test_fresh_runs_match_the_ledger_and_see_a_monkeypatch(monkeypatch, claim_result):
    """An unpatched fresh run reproduces the session's record; a patched one sees the patch (an M V whose
    every draw is 0 collides, so H2's 'no collision' fails)."""
    import numpy as np

    import lora_theorems.numerics.paper_h.projection_dp as pdp

    base = claim_result("H2")
    again = run_check_fresh("H2", "h2_no_collision_exact")
    assert (again.passed, again.summary) == (evidence_named(base, "h2_no_collision_exact").passed,
                                             evidence_named(base, "h2_no_collision_exact").summary)
    verdict, records = run_checks_fresh("H2", ("h2_no_collision_exact", "h2_rank_one_and_vectors"))
    assert list(records) == ["h2_no_collision_exact", "h2_rank_one_and_vectors"]  # source order
    assert verdict is Verdict.OPEN  # not-dp is not in this run
    real = pdp.projection_mechanism
    monkeypatch.setattr(pdp, "projection_mechanism", lambda V, r, trials, rng: np.zeros_like(real(V, r, trials, rng)))
    after = run_check_fresh("H2", "h2_no_collision_exact")
    assert after.passed is False and after.counterexample["min_norm"] == 0.0
    with pytest.raises(ValueError, match="no check named 'nope'"):
        run_check_fresh("H2", "nope")
    with pytest.raises(ValueError, match="'nope'"):
        run_checks_fresh("H2", ("h2_no_collision_exact", "nope"))

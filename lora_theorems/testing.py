"""Testing helpers for claims' checks (like :mod:`numpy.testing`): what a test of a claim calls.

The central kind of test this module serves is the *mutation test* (issue 13): monkeypatch the
quantity an as-written check tests so that the mathematics comes out the other way, rerun the
check, and assert that its outcome and the claim's verdict move. A checker whose checks cannot
fail is the worst defect this toolkit can have; a mutation test is what shows a check can.

- :func:`run_check_fresh`: one check of a claim, run now (never from a cache), so a
  monkeypatch is seen;
- :func:`run_checks_fresh`: several (or all) checks of a claim, run now, with the verdict
  they alone give;
- :func:`evidence_named` and :func:`verdict_over`: the same views of an existing
  :class:`~lora_theorems.ledger.ClaimResult` (say the session's unmutated ``claim_result``);
- :func:`reading_verdict`: the verdict of the claim restricted to one reading;
- :func:`claim_verdict_with`: the whole claim's verdict when some of its evidence is replaced
  by mutated records;
- :func:`assert_outcome_moves`: the usual assertion of a mutation test (the check's outcome
  flipped, with the reading's verdict and the counterexample following it);
- :func:`uncached`: replace ``functools.lru_cache``-wrapped derivations by their originals so
  a mutation of what they call is seen.

Every verdict here comes from :func:`lora_theorems.ledger.derive_verdict`, the rule the
ledger itself uses; nothing is typed in.

Example, a mutation test of claim L6 (``fisher_trace_identity``: ``tr F = tr K`` of eq. (20))::

    from lora_theorems.testing import assert_outcome_moves, evidence_named, run_check_fresh

    def test_trace_identity_fails_for_a_scaled_kernel(monkeypatch, claim_result):
        import lora_theorems.numerics.paper_l.fisher as fis

        before = evidence_named(claim_result("L6"), "fisher_trace_identity")
        real = fis.weighted_ntk
        monkeypatch.setattr(fis, "weighted_ntk", lambda *a, **k: 1.5 * real(*a, **k))
        after = run_check_fresh("L6", "fisher_trace_identity")
        assert_outcome_moves("L6", before, after, now=False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from .checks import run_check
from .ledger import AS_WRITTEN, Claim, ClaimResult, Evidence, Verdict, derive_verdict
from .registry import checks_of, get_claim

__all__ = [
    "assert_outcome_moves",
    "claim_verdict_with",
    "evidence_named",
    "reading_verdict",
    "run_check_fresh",
    "run_checks_fresh",
    "uncached",
    "verdict_over",
]


def _claim(claim: str | Claim) -> Claim:
    return claim if isinstance(claim, Claim) else get_claim(claim)


def _names(names: str | Iterable[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


def run_check_fresh(claim_id: str, check_name: str, profile: str = "quick", seed: int = 0) -> Evidence:
    """Run the check ``check_name`` of claim ``claim_id`` now, with no cache, and return its evidence.

    The check gets the same per-check seed as in the ledger (derived from ``seed``, the claim
    and the check's name), so an unpatched fresh run reproduces the ledger's record.
    ``ValueError`` if the claim has no check of that name.
    """
    claim = get_claim(claim_id)
    specs = [s for s in checks_of(claim.id) if s.name == check_name]
    if not specs:
        raise ValueError(f"claim {claim.id} has no check named {check_name!r}")
    return run_check(claim, specs[0], profile=profile, seed=seed)


def run_checks_fresh(
    claim_id: str, names: str | Iterable[str] = (), profile: str = "quick", seed: int = 0
) -> tuple[Verdict, dict[str, Evidence]]:
    """Run the checks ``names`` of claim ``claim_id`` (all of them when empty) now, in source order.

    Returns the verdict that evidence alone gives (:func:`~lora_theorems.ledger.derive_verdict`
    over just these records) and the evidence by check name. ``ValueError`` if a name is not a
    check of the claim.
    """
    claim = get_claim(claim_id)
    wanted = _names(names)
    specs = [s for s in checks_of(claim.id) if not wanted or s.name in wanted]
    missing = sorted(set(wanted) - {s.name for s in specs})
    if missing:
        raise ValueError(f"claim {claim.id} has no check(s) named {', '.join(map(repr, missing))}")
    evidence = tuple(run_check(claim, s, profile=profile, seed=seed) for s in specs)
    return derive_verdict(claim, evidence).verdict, {e.check: e for e in evidence}


def evidence_named(result: ClaimResult, check_name: str) -> Evidence:
    """The record of check ``check_name`` in ``result`` (a claim's result, e.g. the session's
    ``claim_result("M4")``); ``ValueError`` if the result has none."""
    for e in result.evidence:
        if e.check == check_name:
            return e
    raise ValueError(f"the result for claim {result.claim.id} has no evidence from a check named {check_name!r}")


def verdict_over(result: ClaimResult, names: str | Iterable[str] = ()) -> tuple[Verdict, dict[str, Evidence]]:
    """The verdict of ``result``'s claim over only the records of the checks ``names`` (all when
    empty), and those records by check name: the unmutated counterpart of :func:`run_checks_fresh`.
    ``ValueError`` if a name has no record in ``result``."""
    wanted = _names(names)
    evidence = tuple(e for e in result.evidence if not wanted or e.check in wanted)
    missing = sorted(set(wanted) - {e.check for e in evidence})
    if missing:
        raise ValueError(f"the result for claim {result.claim.id} has no evidence from {', '.join(map(repr, missing))}")
    return derive_verdict(result.claim, evidence).verdict, {e.check: e for e in evidence}


def reading_verdict(
    claim_id: str | Claim, evidence: Evidence | Iterable[Evidence], formalization: str | None = None
) -> Verdict:
    """The verdict of claim ``claim_id`` (an id or a :class:`~lora_theorems.ledger.Claim`) restricted
    to one reading, given ``evidence`` about it.

    The claim is cut down to the single formalization ``formalization`` (by default the one
    the evidence is about) and the ledger's rule is applied to the records about it: for an
    as-written reading a failing record gives ``refuted`` and passing ones ``verified``.
    ``ValueError`` if no record is given, the records are about other formalizations, or the
    reading is not an as-written one (a corrected statement or a finding decides nothing alone).
    """
    records = (evidence,) if isinstance(evidence, Evidence) else tuple(evidence)
    if not records:
        raise ValueError("reading_verdict needs at least one evidence record")
    key = records[0].formalization if formalization is None else formalization
    stray = sorted({e.check for e in records if e.formalization != key})
    if stray:
        raise ValueError(f"evidence from {', '.join(stray)} is not about the formalization {key!r}")
    claim = _claim(claim_id)
    if claim.formalization(key).reading != AS_WRITTEN:
        raise ValueError(f"{key!r} is a {claim.formalization(key).reading} reading of {claim.id}: only an as-written reading has a verdict of its own")
    sub = dataclasses.replace(claim, formalizations=(claim.formalization(key),))
    return derive_verdict(sub, records).verdict


def claim_verdict_with(baseline: ClaimResult, *replaced: Evidence) -> Verdict:
    """The whole claim's verdict when the records ``replaced`` (e.g. from mutated checks) take the
    place of the baseline records of the same checks; every other check keeps its ``baseline``
    record. ``ValueError`` if a replacement is about another claim."""
    claim = baseline.claim
    other = sorted({e.claim for e in replaced} - {claim.id})
    if other:
        raise ValueError(f"replacement evidence about claim(s) {', '.join(other)}, not {claim.id}")
    names = {e.check for e in replaced}
    return derive_verdict(claim, [e for e in baseline.evidence if e.check not in names] + list(replaced)).verdict


def assert_outcome_moves(claim_id: str | Claim, before: Evidence, after: Evidence, *, now: bool) -> None:
    """Assert that a mutation moved a check: ``before`` (unmutated) has ``passed is not now``,
    ``after`` (mutated) has ``passed is now``, and ``after`` carries a counterexample exactly when
    it fails. For an as-written reading, also that the verdict of the claim restricted to that
    reading (:func:`reading_verdict`) moved between ``verified`` and ``refuted`` with it.

    Raises ``AssertionError`` naming what did not move.
    """
    if before.check != after.check:
        raise ValueError(f"before and after come from different checks ({before.check!r}, {after.check!r})")
    if before.passed is not (not now):
        raise AssertionError(f"{before.check}: the unmutated outcome is passed={before.passed}, expected {not now}")
    if after.passed is not now:
        raise AssertionError(f"{after.check}: the mutated outcome is passed={after.passed}, expected {now} ({after.summary})")
    if _claim(claim_id).formalization(before.formalization).reading == AS_WRITTEN:
        want_before, want_after = (Verdict.REFUTED, Verdict.VERIFIED) if now else (Verdict.VERIFIED, Verdict.REFUTED)
        got_before, got_after = reading_verdict(claim_id, before), reading_verdict(claim_id, after)
        if (got_before, got_after) != (want_before, want_after):
            raise AssertionError(
                f"{after.check}: the reading's verdict went {got_before.value} -> {got_after.value}, "
                f"expected {want_before.value} -> {want_after.value}"
            )
    if (after.counterexample is None) is not now:
        raise AssertionError(
            f"{after.check}: counterexample {'present' if after.counterexample else 'absent'} on a "
            f"{'passing' if after.passed else 'failing'} mutated outcome"
        )


def uncached(monkeypatch: Any, module: Any, *names: str) -> None:
    """Replace the ``functools.lru_cache``-wrapped functions ``names`` of ``module`` by their uncached
    originals for the rest of the test (via pytest's ``monkeypatch``), so that a mutation of what
    they call is seen. ``ValueError`` if one of them is not a cached wrapper."""
    for name in names:
        fn = getattr(module, name)
        original = getattr(fn, "__wrapped__", None)
        if original is None:
            raise ValueError(f"{module.__name__}.{name} is not a cached function (no __wrapped__)")
        monkeypatch.setattr(module, name, original)


"""The verdict rule of the ledger, on synthetic claims and evidence."""

import json

import pytest

from lora_theorems.ledger import (
    AS_WRITTEN,
    CORRECTED,
    Claim,
    Evidence,
    EvidenceKind,
    Formalization,
    Verdict,
    derive_verdict,
    jsonable,
)

CLAIM = Claim(
    id="X1",
    paper="X",
    title="toy",
    statement="$x \\le 1$",
    source="test",
    formalizations=(
        Formalization("written", "layer", "x <= 1"),
        Formalization("fixed", "layer", "x <= 2", reading=CORRECTED),
    ),
)


def ev(form, passed, reading=AS_WRITTEN, kind=EvidenceKind.NUMERIC, **kw):
    cx = {"x": 1.5} if passed is False else None
    return Evidence(claim="X1", check=f"c-{form}-{passed}", formalization=form, reading=reading,
                    kind=kind, passed=passed, summary="", counterexample=cx, **kw)


def test_no_evidence_is_open():
    assert derive_verdict(CLAIM, []).verdict is Verdict.OPEN


def test_descriptive_evidence_never_decides():
    assert derive_verdict(CLAIM, [ev("written", None)]).verdict is Verdict.OPEN


def test_all_written_pass_is_verified():
    r = derive_verdict(CLAIM, [ev("written", True), ev("written", None)])
    assert r.verdict is Verdict.VERIFIED and r.corrected_statement is None


def test_an_unchecked_written_reading_keeps_the_claim_open():
    two = Claim("X1", "X", "t", "s", "src", formalizations=(
        Formalization("written", "layer", "x <= 1"), Formalization("other", "kernel", "y <= 1")))
    r = derive_verdict(two, [ev("written", True)])
    assert r.verdict is Verdict.OPEN and "other" in r.reason
    assert derive_verdict(two, [ev("written", True), ev("other", True)]).verdict is Verdict.VERIFIED


def test_a_written_failure_without_correction_is_refuted():
    r = derive_verdict(CLAIM, [ev("written", True), ev("written", False)])
    assert r.verdict is Verdict.REFUTED


def test_failure_with_verified_correction_is_conditional():
    r = derive_verdict(CLAIM, [ev("written", False), ev("fixed", True, CORRECTED)])
    assert r.verdict is Verdict.CONDITIONAL
    assert r.corrected_statement == "x <= 2"


def test_a_correction_that_also_fails_gives_refuted():
    r = derive_verdict(CLAIM, [ev("written", False), ev("fixed", True, CORRECTED), ev("fixed", False, CORRECTED)])
    assert r.verdict is Verdict.REFUTED


def test_corrected_evidence_alone_does_not_verify():
    assert derive_verdict(CLAIM, [ev("fixed", True, CORRECTED)]).verdict is Verdict.OPEN


def test_failure_needs_a_counterexample():
    with pytest.raises(ValueError, match="without a counterexample"):
        Evidence(claim="X1", check="c", formalization="written", reading=AS_WRITTEN,
                 kind=EvidenceKind.NUMERIC, passed=False, summary="")


def test_statistical_evidence_states_false_alarm_rate():
    with pytest.raises(ValueError, match="false-alarm rate"):
        ev("written", True, kind=EvidenceKind.STATISTICAL)
    assert ev("written", True, kind=EvidenceKind.STATISTICAL, false_alarm_rate=1e-3).passed


def test_jsonable_is_strict_json():
    import numpy as np

    obj = {"a": np.arange(3), "b": np.float64("nan"), "c": float("inf"), "d": (1, np.bool_(True))}
    text = json.dumps(jsonable(obj), allow_nan=False)
    assert json.loads(text) == {"a": [0, 1, 2], "b": "nan", "c": "inf", "d": [1, True]}


def test_duplicate_formalization_keys_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        Claim("X2", "X", "t", "s", "src", formalizations=(Formalization("a", "l", "s"), Formalization("a", "l", "s")))

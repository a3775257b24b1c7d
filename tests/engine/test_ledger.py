"""The verdict rule of the ledger, on synthetic claims and evidence."""

import json

import numpy as np
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
        Formalization("fixed", "layer", "x <= 2", reading=CORRECTED, corrects=("written",)),
    ),
)


def ev(form, passed, reading=AS_WRITTEN, kind=EvidenceKind.NUMERIC, **kw):
    cx = {"x": 1.5} if passed is not None and not passed else None
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


# --- issue 13: a failing check must never be counted as passing -------------------------


def test_numpy_false_is_a_failure_not_a_pass():
    import numpy as np

    e = ev("written", np.bool_(False))
    assert e.passed is False
    assert derive_verdict(CLAIM, [e]).verdict is Verdict.REFUTED


def test_numpy_true_is_coerced_and_other_types_refused():
    import numpy as np

    from lora_theorems.checks import Outcome

    assert ev("written", np.bool_(True)).passed is True
    assert Outcome(passed=np.bool_(False), summary="", counterexample={"x": 1}).passed is False
    for bad in (0, 1, "yes", np.float64(1.0), np.array([True])):
        with pytest.raises(TypeError):
            ev("written", bad)
        with pytest.raises(TypeError):
            Outcome(passed=bad, summary="")


def test_a_numpy_false_step_fails_its_derivation():
    import numpy as np

    from lora_theorems.ledger import Derivation, Step

    d = Derivation("d", "t", (Step("a", "a", "sympy", np.bool_(False), name="a"),))
    assert d.passed is False and d.step("a").verified is False and not d.verified("a")


def test_derivation_steps_are_found_by_name_not_position():
    from lora_theorems.ledger import Derivation, Step

    d = Derivation("d", "t", (Step("def", "x", name="def"), Step("eq", "y", "sympy", True, name="eq")))
    assert d.verified("eq") and not d.verified("def")  # a definition is stated, not verified
    with pytest.raises(KeyError, match="no step 'missing'"):
        d.step("missing")


# --- issue 13: a corrected statement must correct, not contradict ---------------------------


FOUND = Claim(
    id="X1", paper="X", title="toy", statement="$x \\le 1$", source="test",
    formalizations=(
        Formalization("written", "layer", "x <= 1"),
        Formalization("instead", "layer", "x is unbounded", reading="finding"),
    ),
)


def test_a_finding_never_makes_a_claim_conditional():
    r = derive_verdict(FOUND, [ev("written", False), ev("instead", True, "finding")])
    assert r.verdict is Verdict.REFUTED


def test_the_claim_decides_the_reading_not_the_record():
    # a record that calls itself "corrected" about a formalization the claim calls a finding
    r = derive_verdict(FOUND, [ev("written", False), ev("instead", True, CORRECTED)])
    assert r.verdict is Verdict.REFUTED


def test_unknown_reading_refused():
    with pytest.raises(ValueError, match="reading must be one of"):
        Formalization("a", "l", "s", reading="maybe")


# --- issue 10: readings this toolkit cannot run ---------------------------------------------


NC = Claim(
    id="X1", paper="X", title="toy", statement="s", source="test",
    formalizations=(
        Formalization("written", "layer", "x <= 1"),
        Formalization("bert", "training", "BERT numbers", not_checkable="needs model weights"),
    ),
)


def test_not_checkable_reading_does_not_block_and_is_named():
    r = derive_verdict(NC, [ev("written", True)])
    assert r.verdict is Verdict.VERIFIED and "not checkable here: bert" in r.reason


def test_not_checkable_reading_never_counts_as_passed():
    # even a (bogus) passing record about it is ignored: the verdict rests on the others
    r = derive_verdict(NC, [ev("bert", True)])
    assert r.verdict is Verdict.OPEN and "not checkable here: bert" in r.reason


def test_only_as_written_readings_can_be_not_checkable():
    with pytest.raises(ValueError, match="not checkable"):
        Formalization("a", "l", "s", reading=CORRECTED, not_checkable="why", corrects=("w",))


# --- verdict-rule edge cases (issue 9) --------------------------------------------------------

ALL3 = Claim(
    id="X1", paper="X", title="toy", statement="$x \\le 1$", source="test",
    formalizations=(
        Formalization("written", "layer", "x <= 1"),
        Formalization("fixed", "layer", "x <= 2", reading=CORRECTED, corrects=("written",)),
        Formalization("fixed-too", "layer", "x <= 3", reading=CORRECTED, corrects=("written",)),
        Formalization("instead", "layer", "x is unbounded", reading="finding"),
        Formalization("bert", "training", "BERT numbers", not_checkable="needs model weights"),
    ),
)


def test_a_failed_finding_never_refutes_a_verified_claim():
    r = derive_verdict(FOUND, [ev("written", True), ev("instead", False, "finding")])
    assert r.verdict is Verdict.VERIFIED and r.corrected_statement is None


def test_a_finding_alone_decides_nothing():
    for passed in (True, False):
        assert derive_verdict(FOUND, [ev("instead", passed, "finding")]).verdict is Verdict.OPEN


def test_a_record_calling_itself_as_written_about_a_finding_does_not_decide():
    # the claim says "instead" is a finding: a failed record about it labelled as_written is not a refutation
    r = derive_verdict(FOUND, [ev("written", True), ev("instead", False, AS_WRITTEN)])
    assert r.verdict is Verdict.VERIFIED


def test_a_failed_not_checkable_record_neither_refutes_nor_blocks():
    r = derive_verdict(NC, [ev("written", True), ev("bert", False)])
    assert r.verdict is Verdict.VERIFIED and "not checkable here: bert" in r.reason


def test_a_claim_whose_only_as_written_reading_is_not_checkable_stays_open():
    only = Claim(id="X1", paper="X", title="t", statement="s", source="test", formalizations=(
        Formalization("bert", "training", "BERT numbers", not_checkable="needs model weights"),
        Formalization("fixed", "layer", "x <= 2", reading=CORRECTED, corrects=("bert",)),
    ))
    r = derive_verdict(only, [ev("bert", True), ev("fixed", True, CORRECTED)])
    assert r.verdict is Verdict.OPEN and r.corrected_statement is None and "bert" in r.reason


@pytest.mark.parametrize("fixed", [True, False])
def test_a_corrected_statement_is_used_only_when_the_claim_as_written_fails(fixed):
    r = derive_verdict(CLAIM, [ev("written", True), ev("fixed", fixed, CORRECTED)])
    assert r.verdict is Verdict.VERIFIED and r.corrected_statement is None


def test_descriptive_corrected_evidence_does_not_hold():
    r = derive_verdict(CLAIM, [ev("written", False), ev("fixed", None, CORRECTED)])
    assert r.verdict is Verdict.REFUTED and r.corrected_statement is None


def test_conditional_carries_only_the_corrected_statements_that_hold():
    r = derive_verdict(ALL3, [ev("written", False), ev("fixed", True, CORRECTED), ev("fixed-too", False, CORRECTED)])
    assert r.verdict is Verdict.CONDITIONAL and r.corrected_statement == "x <= 2"
    r = derive_verdict(ALL3, [ev("written", False), ev("fixed", True, CORRECTED), ev("fixed-too", True, CORRECTED)])
    assert r.corrected_statement == "x <= 2\n\nx <= 3"


def test_one_failed_record_outweighs_any_number_of_passes():
    r = derive_verdict(CLAIM, [ev("written", True)] * 50 + [ev("written", False)])
    assert r.verdict is Verdict.REFUTED


def test_evidence_about_another_claim_is_ignored():
    other = Evidence(claim="X2", check="c", formalization="written", reading=AS_WRITTEN, kind=EvidenceKind.NUMERIC,
                     passed=False, summary="", counterexample={"x": 9})
    assert derive_verdict(CLAIM, [ev("written", True), other]).verdict is Verdict.VERIFIED


def test_the_verdict_does_not_depend_on_the_order_of_the_evidence():
    records = [ev("written", False), ev("fixed", True, CORRECTED), ev("written", True), ev("fixed-too", False, CORRECTED)]
    verdicts = {derive_verdict(ALL3, order) for order in (records, records[::-1], records[1:] + records[:1])}
    assert len(verdicts) == 1 and next(iter(verdicts)).verdict is Verdict.CONDITIONAL


def test_a_nan_worst_margin_cannot_pass():
    with pytest.raises(ValueError, match="NaN worst margin"):
        ev("written", True, worst_margin=float("nan"))
    with pytest.raises(ValueError, match="NaN worst margin"):
        ev("written", True, worst_margin=np.float64("nan"))


def test_a_nan_worst_margin_may_fail_and_is_strict_json():
    e = ev("written", False, worst_margin=float("nan"))
    assert derive_verdict(CLAIM, [e]).verdict is Verdict.REFUTED
    assert json.loads(json.dumps(e.to_json(), allow_nan=False))["worst_margin"] == "nan"


def test_margins_never_decide_only_passed_does():
    # a pass with a negative margin (inside a stated tolerance) and a fail with a positive one: the flags decide
    assert derive_verdict(CLAIM, [ev("written", True, worst_margin=-1e-300)]).verdict is Verdict.VERIFIED
    assert derive_verdict(CLAIM, [ev("written", False, worst_margin=1.0)]).verdict is Verdict.REFUTED


# --- a corrected statement corrects the readings it names, and no others (issue 13) ---------------------------

TWO_WAYS = Claim("X1", "X", "t", "s", "src", formalizations=(
    Formalization("written", "layer", "x <= 1"),
    Formalization("other", "kernel", "y <= 1"),
    Formalization("fixed", "layer", "x <= 2", reading=CORRECTED, corrects=("written",)),
))


def test_a_correction_of_one_reading_does_not_rescue_another():
    r = derive_verdict(TWO_WAYS, [ev("written", False), ev("other", False), ev("fixed", True, CORRECTED)])
    assert r.verdict is Verdict.REFUTED and r.corrected_statement is None
    assert "hold for written" in r.reason and "none for other" in r.reason


def test_a_correction_covering_every_failing_reading_makes_the_claim_conditional():
    r = derive_verdict(TWO_WAYS, [ev("written", False), ev("other", True), ev("fixed", True, CORRECTED)])
    assert r.verdict is Verdict.CONDITIONAL and r.corrected_statement == "x <= 2"


def test_a_correction_must_name_as_written_readings_of_its_claim():
    with pytest.raises(ValueError, match="not as-written readings"):
        Claim("X1", "X", "t", "s", "src", formalizations=(
            Formalization("written", "layer", "x <= 1"),
            Formalization("fixed", "layer", "x <= 2", reading=CORRECTED, corrects=("nonesuch",)),
        ))
    with pytest.raises(ValueError, match="only a corrected reading"):
        Formalization("written", "layer", "x <= 1", corrects=("written",))

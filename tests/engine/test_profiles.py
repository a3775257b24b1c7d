"""The quick profile is smaller than the full one, never weaker: both reach the same verdicts."""

import pytest

import lora_theorems as lt


@pytest.mark.heavy
@pytest.mark.parametrize("claim_id", [c.id for c in lt.list_claims()])
def test_quick_and_full_profiles_reach_the_same_verdict(claim_id):
    quick = lt.run_claim(claim_id, profile="quick", seed=0).verdict
    full = lt.run_claim(claim_id, profile="full", seed=0).verdict
    assert quick.verdict == full.verdict, (quick.reason, full.reason)
    assert quick.corrected_statement == full.corrected_statement

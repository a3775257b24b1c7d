"""L1 finite-width properties: measured rates are what the evidence says."""

import pytest

pytestmark = pytest.mark.claim("L1")


def test_rates(claim_result):
    res = claim_result("L1")
    ev = next(e for e in res.evidence if e.check == "empirical_to_analytic")
    for a in ("relu", "erf"):
        assert -0.8 < ev.metrics["rate_" + a] < -0.3  # O(n^-1/2) fluctuations of the empirical NTK
    drift = next(e for e in res.evidence if e.check == "kernel_drift_in_training")
    assert all(drift.metrics["rate_" + a] < 0 for a in ("relu", "erf"))

"""L8: the attack objectives of eq. (3)-(4) as loss-weighted NTK entries."""

import numpy as np
import pytest

from lora_theorems.numerics.empirical import empirical_ntk, init_fc_params, jacobian, network_output


@pytest.mark.claim("L8")
def test_gradient_product_is_weighted_ntk_entry_against_finite_differences():
    """Independent of the check: finite-difference gradients of an MSE loss, LoRA with B != 0."""
    rng = np.random.default_rng(8)
    params = init_fc_params(rng, 3, [5], 1, lora_layers=(0,), rank=2, b_scale=0.3)
    X = rng.standard_normal((2, 3))
    y = np.array([[0.3], [-1.0]])
    f = network_output(params, X, activation="erf")
    K = empirical_ntk(params, X, mode="lora", activation="erf")
    kernel_form = float((f[0, 0] - y[0, 0]) * K[0, 1] * (f[1, 0] - y[1, 0]))
    J = jacobian(params, X, mode="lora", activation="erf")
    direct = float(((f[0, 0] - y[0, 0]) * J[0]) @ ((f[1, 0] - y[1, 0]) * J[1]))
    # float64: both sides are short sums of O(1) products; 1e-12 relative is ~4500 eps.
    assert kernel_form == pytest.approx(direct, rel=1e-12)


@pytest.mark.claim("L8")
def test_l8_identity_holds_and_findings_stay_unchecked(claim_result):
    res = claim_result("L8")
    decisive = [e for e in res.evidence if e.passed is not None]
    assert decisive and all(e.passed for e in decisive)
    assert {e.formalization for e in decisive} == {"objective-is-weighted-ntk"}
    assert "empirical-findings" in res.verdict.reason

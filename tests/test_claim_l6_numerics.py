"""L6 numerics: Fisher (P x P) and weighted NTK spectra agree; recomputed here from scratch."""

import numpy as np
import pytest

from numerics.empirical import empirical_ntk, init_fc_params, jacobian, network_output
from numerics.fisher import weight_factor

pytestmark = pytest.mark.claim("L6")


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_fisher_and_weighted_ntk_share_nonzero_spectrum(loss):
    rng = np.random.default_rng(5)
    p = init_fc_params(rng, 3, [6, 5], 3, lora_layers=(1,), rank=2)
    X = rng.standard_normal((4, 3))
    F = network_output(p, X)
    y = rng.integers(0, 3, 4) if loss == "ce" else rng.standard_normal((4, 3))
    L = weight_factor(F, y, loss)
    J = jacobian(p, X)
    fisher = J.T @ L @ L.T @ J / 4
    wntk = L.T @ empirical_ntk(p, X) @ L / 4
    a = np.sort(np.linalg.eigvalsh(fisher))[::-1][: wntk.shape[0]]
    b = np.sort(np.linalg.eigvalsh(wntk))[::-1]
    np.testing.assert_allclose(a, b, atol=1e-10 * b.max())


def test_checks_pass(claim_result):
    assert all(e.passed for e in claim_result("L6").evidence if e.passed is not None)

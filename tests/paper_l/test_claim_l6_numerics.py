"""L6 numerics: Fisher (P x P) and weighted NTK spectra agree; recomputed here from scratch."""

import numpy as np
import pytest

from lora_theorems.numerics.paper_l.empirical import empirical_ntk, init_fc_params, jacobian, network_output
from lora_theorems.numerics.paper_l.fisher import weight_factor

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


def _fd_jacobian(p, X, mode, h=1e-6):
    """Jacobian of the network output by central differences of the forward pass alone
    (shares nothing with the layer-wise products of ``empirical_ntk`` or ``jacobian``)."""
    names = [(l, nm) for l, layer in enumerate(p) for nm in sorted(layer)
             if (mode == "ff" and nm in ("W", "b")) or (mode == "lora" and nm in ("A", "B"))]
    cols = []
    for l, nm in names:
        for idx in np.ndindex(p[l][nm].shape):
            q_plus = [{k: v.copy() for k, v in layer.items()} for layer in p]
            q_minus = [{k: v.copy() for k, v in layer.items()} for layer in p]
            q_plus[l][nm][idx] += h
            q_minus[l][nm][idx] -= h
            cols.append(((network_output(q_plus, X) - network_output(q_minus, X)) / (2 * h)).ravel())
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("mode", ["ff", "lora"])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_eq5_trace_identity_against_finite_differences(loss, mode):
    """eq. (5), scalar reading: E_x ||grad_theta L||^2 = E_x[grad_F L^T K(x,x) grad_F L], the left side
    from a finite-difference Jacobian, the right from the toolkit's NTK. Central differences at h = 1e-6
    have error ~ h^2 f''' + eps/h ~ 1e-10 relative, hence rtol 1e-6."""
    from lora_theorems.numerics.paper_l.fisher import loss_gradient

    rng = np.random.default_rng(11)
    p = init_fc_params(rng, 3, [5, 4], 3, lora_layers=(0, 1, 2), rank=2, b_scale=0.5)
    X = rng.standard_normal((4, 3))
    F = network_output(p, X)
    y = rng.integers(0, 3, 4) if loss == "ce" else rng.standard_normal((4, 3))
    g = loss_gradient(F, y, loss)  # (N, k)
    J = _fd_jacobian(p, X, mode)  # (N k, P)
    N, k = g.shape
    lhs = np.mean([np.sum((J[a * k:(a + 1) * k].T @ g[a]) ** 2) for a in range(N)])
    K = empirical_ntk(p, X, mode=mode)
    rhs = np.mean([g[a] @ K[a * k:(a + 1) * k, a * k:(a + 1) * k] @ g[a] for a in range(N)])
    np.testing.assert_allclose(lhs, rhs, rtol=1e-6)

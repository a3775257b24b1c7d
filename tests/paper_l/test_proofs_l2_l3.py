"""L2/L3: LoRA gradients and kernels, re-checked independently of SymPy (finite differences)."""

import numpy as np
import pytest

from lora_theorems.proofs.paper_l.lora_kernel import (
    base_case_counterexample,
    hidden_layer_counterexample,
    lora_difference_derivation,
    lora_gradient_derivation,
    lora_kernel_derivation,
)


def _fd_ntk(f, params, x, xp, eps=1e-6):
    """Empirical NTK sum_p df(x)/dp df(x')/dp by central differences over a flat vector."""
    g, gp = np.zeros_like(params), np.zeros_like(params)
    for i in range(params.size):
        e = np.zeros_like(params)
        e[i] = eps
        g[i] = (f(params + e, x) - f(params - e, x)) / (2 * eps)
        gp[i] = (f(params + e, xp) - f(params - e, xp)) / (2 * eps)
    return g @ gp


def _net(d, n1, n2, r, rng):
    W1 = rng.standard_normal((n1, d)) / np.sqrt(d)
    W0 = rng.standard_normal((n2, n1)) / np.sqrt(n1)
    A = rng.standard_normal((r, n1)) / np.sqrt(n1)
    v = rng.standard_normal(n2) / np.sqrt(n2)
    return W1, W0, A, v


@pytest.mark.claim("L3")
@pytest.mark.parametrize("seed", range(4))
def test_hidden_layer_difference_has_backprop_factor(seed):
    """F = v.tanh((W0 + BA) tanh(W1 x)); K_LoRA - K_FF = (delta.delta') h^T (A^TA - I) h' at B = 0."""
    rng = np.random.default_rng(seed)
    d, n1, n2, r = 3, 5, 4, int(rng.integers(1, 6))
    W1, W0, A, v = _net(d, n1, n2, r, rng)
    x, xp = rng.standard_normal(d), rng.standard_normal(d)
    sizes = [W1.size, n2 * n1, r * n1, n2 * r, n2]

    def unpack(p):
        out, k = [], 0
        for s in sizes:
            out.append(p[k:k + s])
            k += s
        return out

    def F_ff(p, z):
        w1, w, _, _, vv = unpack(p)
        return vv @ np.tanh(w.reshape(n2, n1) @ np.tanh(w1.reshape(n1, d) @ z))

    def F_lora(p, z):
        w1, _, a, b, vv = unpack(p)
        W = W0 + b.reshape(n2, r) @ a.reshape(r, n1)
        return vv @ np.tanh(W @ np.tanh(w1.reshape(n1, d) @ z))

    p = np.concatenate([W1.ravel(), W0.ravel(), A.ravel(), np.zeros(n2 * r), v])
    # FF trains (W1, W, v): zero the LoRA blocks' contribution by differentiating only what each trains
    mask_ff = np.concatenate([np.ones(W1.size), np.ones(n2 * n1), np.zeros(r * n1 + n2 * r), np.ones(n2)])
    mask_lo = np.concatenate([np.ones(W1.size), np.zeros(n2 * n1), np.ones(r * n1 + n2 * r), np.ones(n2)])

    def masked(f, mask):
        return lambda q, z: f(p + mask * (q - p), z)

    K_ff = _fd_ntk(masked(F_ff, mask_ff), p, x, xp) - 0.0
    K_lo = _fd_ntk(masked(F_lora, mask_lo), p, x, xp)
    h, hp = np.tanh(W1 @ x), np.tanh(W1 @ xp)
    delta = v * (1 - np.tanh(W0 @ h) ** 2)
    deltap = v * (1 - np.tanh(W0 @ hp) ** 2)
    expected = (delta @ deltap) * (h @ (A.T @ A - np.eye(n1)) @ hp)
    # central differences: truncation ~eps^2, rounding ~1e-16/eps per gradient entry -> ~1e-8 on O(1) kernels
    assert K_lo - K_ff == pytest.approx(expected, abs=1e-7)


@pytest.mark.claim("L3")
def test_hidden_layer_counterexample_is_one():
    ce = hidden_layer_counterexample()
    relu = lambda z: max(z, 0.0)  # noqa: E731

    def F(W1, W0, A, B, v, x):
        return v * relu((W0 + B * A) * relu(W1 * x))

    x, W1, W0, A, B, v, e = 1.0, 1.0, 1.0, 0.0, 0.0, 2.0, 1e-6
    d = lambda f, k: (f(k + e) - f(k - e)) / (2 * e)  # noqa: E731
    g = {
        "W1": d(lambda t: F(t, W0, A, B, v, x), W1), "W0": d(lambda t: F(W1, t, A, B, v, x), W0),
        "A": d(lambda t: F(W1, W0, t, B, v, x), A), "B": d(lambda t: F(W1, W0, A, t, v, x), B),
        "v": d(lambda t: F(W1, W0, A, B, t, x), v),
    }
    K_ff = g["W1"] ** 2 + g["W0"] ** 2 + g["v"] ** 2
    K_lo = g["W1"] ** 2 + g["A"] ** 2 + g["B"] ** 2 + g["v"] ** 2
    assert K_lo - K_ff == pytest.approx(ce["K_lora_minus_K_ff"], abs=1e-6) == -4
    assert ce["Delta_r_eq11"] == -1
    assert K_lo - K_ff != pytest.approx(ce["Delta_r_eq11"])


@pytest.mark.claim("L2")
def test_base_case_counterexample_is_one():
    ce = base_case_counterexample()
    A1, x = np.array(ce["A1"], float), np.array(ce["x"], float)
    assert x @ A1.T @ A1 @ x == ce["K1_lora"] == 0
    assert x @ x == ce["K1_ff"] == 1


@pytest.mark.claim("L2")
def test_lora_gradients_numerically():
    rng = np.random.default_rng(1)
    m, n, r = 4, 6, 2
    W0, A, B = rng.standard_normal((m, n)), rng.standard_normal((r, n)), rng.standard_normal((m, r))
    h, u = rng.standard_normal(n), rng.standard_normal(m)
    F = lambda W0_, A_, B_: u @ np.sin((W0_ + B_ @ A_) @ h)  # noqa: E731
    delta = u * np.cos((W0 + B @ A) @ h)
    e = 1e-6
    gB = np.zeros((m, r))
    for i in range(m):
        for j in range(r):
            E = np.zeros((m, r))
            E[i, j] = e
            gB[i, j] = (F(W0, A, B + E) - F(W0, A, B - E)) / (2 * e)
    gA = np.zeros((r, n))
    for i in range(r):
        for j in range(n):
            E = np.zeros((r, n))
            E[i, j] = e
            gA[i, j] = (F(W0, A + E, B) - F(W0, A - E, B)) / (2 * e)
    assert np.allclose(gB, np.outer(delta, A @ h), atol=1e-7)
    assert np.allclose(gA, B.T @ np.outer(delta, h), atol=1e-7)


@pytest.mark.claim("L2")
def test_l2_derivations_pass():
    assert lora_gradient_derivation().passed
    assert lora_kernel_derivation().passed


@pytest.mark.claim("L3")
def test_l3_derivation_passes():
    assert lora_difference_derivation().passed


@pytest.mark.claim("L2")
def test_ring_evaluation_of_the_trace_identities_matches_sympy_and_can_fail():
    """The NTK contributions of lora_gradient_derivation are evaluated exactly over QQ[entries]
    (_evaluate); on a trace of a sum with a scalar factor they equal SymPy's own explicit
    evaluation (doit + expand), and a wrong right-hand side (h^T h' for h^T A^T A h') is told apart."""
    import sympy as sp

    from lora_theorems.proofs.paper_l.lora_kernel import _evaluate, _ring_matrices

    m, n, r = 2, 3, 2
    A_, B_, h_, hp_, d_, dp_ = (sp.MatrixSymbol(s, *sh) for s, sh in
                                (("A", (r, n)), ("B", (m, r)), ("h", (n, 1)), ("h'", (n, 1)), ("d", (m, 1)), ("d'", (m, 1))))
    expr = sp.Trace((d_ * h_.T * A_.T).T * (d_ * h_.T * A_.T).subs({h_: hp_, d_: dp_}) - 2 * B_.T * d_ * dp_.T * B_)
    Ae, Be, he, hpe, de, dpe = _ring_matrices([("a", r, n), ("b", m, r), ("h", n, 1), ("hp", n, 1), ("d", m, 1), ("dp", m, 1)])
    got = _evaluate(expr, {A_: Ae, B_: Be, h_: he, hp_: hpe, d_: de, dp_: dpe})
    explicit = {k: sp.ImmutableMatrix([[x.as_expr() for x in row] for row in v.rows])
                for k, v in ((A_, Ae), (B_, Be), (h_, he), (hp_, hpe), (d_, de), (dp_, dpe))}
    want = sp.expand(expr.xreplace(explicit).doit())
    assert got == got.ring(want)
    right = (de.T * dpe)[0] * (he.T * Ae.T * Ae * hpe)[0] - 2 * (de.T * Be * Be.T * dpe)[0]
    wrong = (de.T * dpe)[0] * (he.T * hpe)[0] - 2 * (de.T * Be * Be.T * dpe)[0]
    assert got == right and got != wrong


@pytest.mark.claim("L2")
def test_l2_gradient_derivation_fails_for_a_wrong_contribution(monkeypatch):
    """Mutation: evaluate every matrix expression with A replaced by 2A; the B-contribution
    identity (quadratic in A) must fail, the A- and W-contributions (free of A) must not."""
    import lora_theorems.proofs.paper_l.lora_kernel as lk
    from lora_theorems.testing import uncached

    uncached(monkeypatch, lk, "lora_gradient_derivation")
    real = lk._evaluate

    def doubled(expr, env):
        return real(expr, {k: (v * v.rows[0][0].ring(2) if k.name == "A" else v) for k, v in env.items()})

    monkeypatch.setattr(lk, "_evaluate", doubled)
    d = lk.lora_gradient_derivation()
    assert not d.passed
    verified = [s.verified for s in d.steps if "NTK contribution" in s.text]
    assert verified == [False, True, True]

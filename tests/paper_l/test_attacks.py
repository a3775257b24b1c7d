"""The attack simulator of claim L8 against brute-force references (numerics/paper_l/attacks.py)."""

import math
import subprocess
import sys

import numpy as np
import pytest

from lora_theorems.numerics.paper_l import attacks as at
from lora_theorems.numerics.paper_l.empirical import empirical_ntk, gd_train, jacobian, network_output


@pytest.fixture(scope="module")
def pre():
    return at.pretrained_network(0, "relu")


def _with_adapter(pre, A):
    p = [dict(layer) for layer in pre.params]
    p[1] = dict(p[1], A=A, B=np.zeros((p[1]["W"].shape[0], A.shape[0])))
    return p


@pytest.mark.claim("L8")
def test_kernels_equal_the_toolkit_empirical_ntk(pre):
    """K_FF (all weights) and K_LoRA (B = 0, eq. (10)) against empirical.empirical_ntk, float64."""
    task = at.digits_task()
    X = task.X_train[:30]
    f = at._layer_features(pre, X)
    K = at.ff_kernel_blocks(f, f)
    ref = empirical_ntk(list(pre.params), X, mode="ff", bias_var=at.BIAS_VAR)
    # sums of ~n products of O(1) terms: 1e-12 relative is thousands of eps
    assert np.allclose(K, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    A = np.random.default_rng(1).standard_normal((3, at.WIDTH)) * 0.3
    Kl = at.lora_kernel_blocks(f, f, A[None])[0]
    ref_l = empirical_ntk(_with_adapter(pre, A), X, mode="lora", bias_var=at.BIAS_VAR)
    assert np.allclose(Kl, ref_l, rtol=1e-12, atol=1e-12 * np.abs(ref_l).max())
    assert np.allclose(f[0], network_output(list(pre.params), X, bias_var=at.BIAS_VAR)[:, 0], rtol=1e-13, atol=1e-13)


@pytest.mark.claim("L8")
def test_linearized_closed_form_matches_explicit_gd_on_the_linearized_model(pre):
    """f_t = f_0 + K(x,X)K^{-1}(I - e^{-Kt}) r_0 vs explicit GD theta <- theta - eta J^T (J theta + f_0 - y).

    Per eigenmode x = eta*lambda <= 1e-3, k steps: |(1-x)^k - e^{-kx}| <= k x^2 e^{-kx}/(1-x) <= 1.001 k x^2,
    so with k x_max = 3 the discrete run differs from the flow by at most ~3e-3 of the residual.
    """
    task = at.digits_task()
    X, Xe = task.X_train[:40], task.X_test[:25]
    y = task.y_train[:40]
    A = np.random.default_rng(2).standard_normal((2, at.WIDTH)) * 0.25
    params = _with_adapter(pre, A)
    for mode in ("ff", "lora"):
        J = jacobian(params, X, mode=mode, bias_var=at.BIAS_VAR)
        Je = jacobian(params, Xe, mode=mode, bias_var=at.BIAS_VAR)
        f0 = network_output(params, X, bias_var=at.BIAS_VAR)[:, 0]
        f0e = network_output(params, Xe, bias_var=at.BIAS_VAR)[:, 0]
        lam_max = np.linalg.eigvalsh(J @ J.T)[-1]
        eta, k = 1e-3 / lam_max, 3000
        theta = np.zeros(J.shape[1])
        for _ in range(k):
            theta -= eta * J.T @ (J @ theta + f0 - y)
        gd = f0e + Je @ theta
        closed = f0e + at.linearized_predictions((J @ J.T)[None], (Je @ J.T)[None], (y - f0)[None],
                                                 np.array([eta * k]))[0, 0]
        scale = np.abs(Je).sum(axis=1).max() * np.abs(y - f0).max() * eta * k
        assert np.max(np.abs(gd - closed)) <= 3.1e-3 * scale
        # and the ridge limit is kernel ridge regression solved directly
        mu = 1e-6 * np.trace(J @ J.T) / len(y)
        ridge = at.linearized_predictions((J @ J.T)[None], (Je @ J.T)[None], (y - f0)[None], np.array([1.0]), mu)
        direct = Je @ J.T @ np.linalg.solve(J @ J.T + mu * np.eye(len(y)), y - f0)
        assert np.allclose(ridge[0, -1], direct, rtol=1e-6, atol=1e-8 * np.abs(direct).max())


@pytest.mark.claim("L8")
def test_finite_gd_steps_match_reference_gradients(pre):
    """FF step = empirical.gd_train (all weights); LoRA step = -lr * J_lora^T (f - y) (materialized Jacobian)."""
    task = at.digits_task()
    X, y = task.X_train[:20], task.y_train[:20]
    P = [{k: v[None].copy() for k, v in layer.items()} for layer in pre.params]
    at._ff_step(P, X[None], y[None], 0.01, "relu")
    ref = gd_train(list(pre.params), X, y[:, None], lr=0.01, steps=1, bias_var=at.BIAS_VAR)
    for mine, theirs in zip(P, ref, strict=True):
        for k in ("W", "b"):
            assert np.allclose(mine[k][0], theirs[k], rtol=1e-12, atol=1e-14)
    rng = np.random.default_rng(3)
    A = rng.standard_normal((1, 2, at.WIDTH)) * 0.3
    net = at._LoraNet(pre, X[None], A)
    net.B = rng.standard_normal(net.B.shape) * 0.2  # B != 0 so A's gradient is tested too
    params = _with_adapter(pre, A[0])
    params[1]["B"] = net.B[0].copy()
    f = network_output(params, X, bias_var=at.BIAS_VAR)[:, 0]
    g = jacobian(params, X, mode="lora", bias_var=at.BIAS_VAR).T @ (f - y)
    x1, base = net.base(X[None])
    net.step(x1, base, y[None], 0.01)
    n_a = A[0].size
    assert np.allclose(net.A[0].ravel(), A[0].ravel() - 0.01 * g[:n_a], rtol=1e-12, atol=1e-14)
    assert np.allclose(net.B[0].ravel(), params[1]["B"].ravel() - 0.01 * g[n_a:], rtol=1e-12, atol=1e-14)


@pytest.mark.claim("L8")
def test_poisoning_is_paired_and_counted():
    task = at.digits_task()
    y = task.y_train
    m1 = at.poison("label-flip", y, 0.35, np.random.default_rng(5), 4)
    m2 = at.poison("label-flip", y, 0.35, np.random.default_rng(5), 4)
    assert np.array_equal(m1, m2) and (m1.sum(axis=1) == round(0.35 * len(y))).all()
    mb = at.poison("backdoor", y, 0.05, np.random.default_rng(5), 4)
    assert (mb.sum(axis=1) == 10).all() and (y[mb.any(axis=0)] != at.TARGET).all()
    Xt = at.add_trigger(task.X_test[:3])
    assert (Xt[:, list(at.TRIGGER_PIXELS)] == 1.0).all()
    assert np.array_equal(np.delete(Xt, list(at.TRIGGER_PIXELS), axis=1),
                          np.delete(task.X_test[:3], list(at.TRIGGER_PIXELS), axis=1))


@pytest.mark.claim("L8")
def test_converged_kernel_reading_does_not_depend_on_the_variance():
    """Mathematical fact: scaling K by c with a ridge relative to tr(K) leaves kernel ridge regression
    unchanged, and A -> sqrt(c) A scales K_LoRA by c exactly. So the converged reading is the
    same for every variance (same seed: same A up to scale)."""
    a = at.kernel_attack("backdoor", 0.05, 4, 1 / 48, seeds=3, seed=1)
    b = at.kernel_attack("backdoor", 0.05, 4, 1.0, seeds=3, seed=1)
    assert np.array_equal(a.lora["asr"]["converged"], b.lora["asr"]["converged"])
    assert np.array_equal(a.ff["asr"]["converged"], b.ff["asr"]["converged"])


@pytest.mark.claim("L8")
def test_simulate_attack_rejects_bad_input_with_one_line():
    import lora_theorems as lt

    bad = [
        (("label-flip", 1.0, 2, 0.1), {}, "rate must be in [0, 1)"),
        (("label-flip", -0.1, 2, 0.1), {}, "rate must be >= 0"),
        (("label-flip", 0.1, 17, 0.1), {}, "rank 17 exceeds width 16"),
        (("label-flip", 0.1, 0, 0.1), {}, "rank must be a positive integer"),
        (("label-flip", 0.1, 2, 0.0), {}, "variance must be > 0"),
        (("label-flip", 0.1, 2, float("nan")), {}, "variance is NaN"),
        (("poison", 0.1, 2, 0.1), {}, "unknown attack"),
        (("backdoor", 0.1, 2, 0.1), {"regime": "nope"}, "unknown regime"),
        (("backdoor", 0.1, 2, 0.1), {"seeds": 0}, "seeds must be a positive integer"),
        (("backdoor", 0.1, 2, 0.1), {"seed": -1}, "seed must be a non-negative integer"),
        (("backdoor", 0.9, 2, 0.1), {}, "non-target training examples"),
    ]
    for args, kw, msg in bad:
        with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            lt.simulate_attack(*args, **kw)


@pytest.mark.claim("L8")
@pytest.mark.parametrize("argv, msg", [
    (["--rate", "1.5", "--rank", "2", "--variance", "0.1"], "rate must be in [0, 1)"),
    (["--rate", "0.1", "--rank", "40", "--variance", "0.1"], "rank 40 exceeds width 16"),
    (["--rate", "0.1", "--rank", "2", "--variance", "-1"], "variance must be > 0"),
    (["--rate", "x", "--rank", "2", "--variance", "0.1"], "expected a number"),
])
def test_attack_cli_errors_exit_2_with_one_line(argv, msg):
    proc = subprocess.run([sys.executable, "-m", "lora_theorems", "attack", "--attack", "label-flip", *argv],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("lora-theorems: error: ")
    assert msg in proc.stderr and proc.stdout == ""


@pytest.mark.claim("L8")
def test_attack_cli_json_matches_api():
    import json

    import lora_theorems as lt

    proc = subprocess.run([sys.executable, "-m", "lora_theorems", "attack", "--attack", "backdoor", "--rate", "0.05",
                           "--rank", "2", "--variance", "0.0625", "--seeds", "4", "--json"],
                          capture_output=True, text=True, check=True)
    data = json.loads(proc.stdout)
    rep = lt.simulate_attack("backdoor", 0.05, 2, 0.0625, seeds=4)
    assert data == rep.to_json()
    r = rep.reading("converged")
    assert r.effect == pytest.approx(r.ff_asr - r.lora_asr, abs=1e-12)
    lo, hi = r.effect_ci
    assert lo <= r.effect <= hi and math.isfinite(lo)


def _same_bytes(a, b):
    """Two AttackRun metric trees hold the same arrays, bit for bit."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same_bytes(a[k], b[k])
    else:
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.claim("L8")
@pytest.mark.parametrize("attack, rate, rank", [("label-flip", 0.35, 1), ("backdoor", 0.05, 3)])
def test_shared_parts_give_the_numbers_of_a_run_computed_alone(pre, attack, rate, rank):
    """With the default network and data, kernel_attack and finite_attack reuse what configurations share
    (FF's clean copy, the clean kernels' eigendecompositions, the backdoor's delta.delta' factors): the
    arrays are bit for bit those of the same run computed without any of it (``pre=`` given)."""
    for fn, kw in ((at.kernel_attack, {}), (at.finite_attack, {"steps": 30})):
        for variance in (1 / 48, 1 / rank):  # a second variance reads the cached parts of the first
            shared = fn(attack, rate, rank, variance, seeds=3, seed=11, **kw)
            alone = fn(attack, rate, rank, variance, seeds=3, seed=11, pre=pre, **kw)
            for field in ("ff", "lora", "diverged"):
                _same_bytes(getattr(shared, field), getattr(alone, field))


@pytest.mark.claim("L8")
@pytest.mark.parametrize("rank", [1, 4, 16])
def test_lora_step_through_w_eff_is_the_factored_step(pre, rank):
    """_LoraNet forms W_eff = c1 B A once per step (forward x1 W_eff^T, gradients c1 G A^T and c1 B^T G with
    G = g^T x1): the factored computation (u = x1 A^T, h1 = base1 + c1 u B^T, dB = c1 g^T u, dA = c1 (g B)^T x1)
    associated differently, so equal to it within rounding, at every rank."""
    task = at.digits_task()
    X, y = task.X_train[:40], task.y_train[:40]
    rng = np.random.default_rng(5)
    A = rng.standard_normal((2, rank, at.WIDTH)) * 0.3
    net = at._LoraNet(pre, X[None], A)
    net.B = rng.standard_normal(net.B.shape) * 0.2
    x1, base = net.base(np.broadcast_to(X, (2,) + X.shape))
    A0, B0 = net.A.copy(), net.B.copy()
    u = x1 @ A0.transpose(0, 2, 1)
    h1 = base + net.c1 * (u @ B0.transpose(0, 2, 1))
    f_ref = np.maximum(h1, 0.0) @ (net.c2 * net.w2) + net.b2
    g = (f_ref - y)[..., None] * (net.c2 * net.w2) * (h1 > 0)
    B_ref = B0 - 0.01 * net.c1 * (g.transpose(0, 2, 1) @ u)
    A_ref = A0 - 0.01 * net.c1 * ((g @ B0).transpose(0, 2, 1) @ x1)
    f = net.step(x1, base, np.broadcast_to(y, (2, len(y))), 0.01)
    assert np.allclose(f, f_ref, rtol=1e-13, atol=1e-13)
    assert np.allclose(net.A, A_ref, rtol=1e-12, atol=1e-14) and np.allclose(net.B, B_ref, rtol=1e-12, atol=1e-14)
    assert x1.flags["C_CONTIGUOUS"] and base.flags["C_CONTIGUOUS"]


@pytest.mark.claim("L8")
def test_digits_are_read_as_sklearn_loads_them():
    from sklearn.datasets import load_digits

    from lora_theorems.numerics.datasets import digits_raw

    pixels, digit = digits_raw()
    ref = load_digits()
    assert pixels.dtype == ref.data.dtype and pixels.tobytes() == ref.data.tobytes()
    assert np.array_equal(digit, ref.target)


@pytest.mark.claim("L8")
def test_a_copy_trains_to_the_same_bits_alone_and_in_a_batch(pre):
    """FF's clean copies are one network trained on the same data, so finite_attack trains one and repeats
    it: valid because a copy's numbers do not depend on the batch around it."""
    task = at.digits_task()
    masks = at.poison("label-flip", task.y_train, 0.2, np.random.default_rng(2), 3)
    setup = at._finite_setup(pre, task, "label-flip", masks, 30)
    batch = at._finite_ff_run(pre, task, setup["Xb"][:4], setup["yb"][:4], setup, "relu")  # 3 clean, 1 poisoned
    alone = at._finite_ff_run(pre, task, setup["Xb"][:1], setup["yb"][:1], setup, "relu")
    for hb, ha in zip(batch, alone, strict=True):
        for mb, ma in zip(hb, ha, strict=True):
            assert np.asarray(mb)[:3].tobytes() == np.repeat(ma, 3).tobytes()


@pytest.mark.claim("L8")
def test_eigh_of_a_power_of_four_multiple_is_the_scaled_eigh(pre):
    """What _eigh_reusing relies on: variances 4^j apart give LoRA kernels 4^j apart bit for bit, and LAPACK's
    eigh of 4^j K is (4^j lambda, U) bit for bit; the store returns exactly what eigh computes afresh."""
    base = at._kernel_base_default("relu")
    Z = np.random.default_rng(9).standard_normal((3, 4, at.WIDTH))
    Ks = {v: at.lora_kernel_blocks(base["f_tr"], base["f_tr"], Z * math.sqrt(v)) for v in (1 / 16, 1 / 4, 1.0, 1 / 48)}
    lam, U = np.linalg.eigh(Ks[1 / 16])
    for v in (1 / 4, 1.0):
        assert np.array_equal(Ks[v], Ks[1 / 16] * (16 * v))
        lv, Uv = np.linalg.eigh(Ks[v])
        assert np.array_equal(lv, lam * (16 * v)) and np.array_equal(Uv, U)
    key = ("test", id(Ks))
    for v in (1 / 16, 1.0, 1 / 48, 1 / 4):  # 1/48 is another class: decomposed afresh
        got = at._eigh_reusing(Ks[v], key, v)
        fresh = np.linalg.eigh(Ks[v])
        assert got[0].tobytes() == fresh[0].tobytes() and got[1].tobytes() == fresh[1].tobytes()
    # a kernel that is not the stored one times 4^j is decomposed, not read from the store
    other = Ks[1.0].copy()
    other[:, 0, 0] += 1e-9
    assert np.array_equal(at._eigh_reusing(other, key, 1.0)[0], np.linalg.eigh(other)[0])


@pytest.mark.claim("L8")
def test_per_seed_times_give_the_rows_of_the_shared_grid(pre):
    """kernel_attack computes LoRA's poisoned predictions only at the times its readings read (``times`` per
    seed, ``(S, T)``): the rows the full time grid gives, within rounding (GEMMs of other shapes).  A rank-4
    LoRA kernel is singular; its null space adds rounding noise times t (or 1/mu) that cancels only in exact
    arithmetic, so at the longest time and at the ridge limit the rows agree to ~1e-10 of their scale, not 1e-15."""
    base = at._kernel_base_default("relu")
    Z = np.random.default_rng(8).standard_normal((3, 4, at.WIDTH)) * 0.25
    K = at.lora_kernel_blocks(base["f_tr"], base["f_tr"], Z)
    Ke = at.lora_kernel_blocks(base["f_ev"], base["f_tr"], Z)
    resid = np.random.default_rng(9).standard_normal((3, K.shape[1]))
    taus = base["taus"]
    full = at.linearized_predictions(K, Ke, resid, taus, 1e-6)
    idx = np.array([[0, 7, 50], [3, 49, 50], [48, 49, 2]])
    rows = at.linearized_predictions(K, Ke, resid, taus[idx], 1e-6)
    assert rows.shape == (3, 4, Ke.shape[1])
    for s in range(3):
        ref = np.concatenate([full[s, idx[s]], full[s, -1:]])
        assert np.all(np.abs(rows[s] - ref) <= 1e-8 * np.abs(ref).max(axis=1, keepdims=True))

"""Paper M (claims M4, M5): Johnson-Lindenstrauss, clipping, effective noise multiplier,
(epsilon, delta) accounting with Google's ``dp_accounting``, and the attacks that test the
assumptions a DP-SGD guarantee needs.

With ``A`` i.i.d. N(0, 1/r) and a fixed ``x``, ``||A x||^2 / ||x||^2 ~ chi^2_r / r`` exactly, so
the JL failure probability is an exact chi-square tail (no Monte Carlo needed).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from lora_theorems.validate import validate_finite, validate_positive_int, validate_variance

__all__ = [
    "jl_failure_exact",
    "jl_failure_bound",
    "min_rank_bound",
    "min_rank_exact",
    "clip_rows",
    "effective_noise_multiplier",
    "accountant_epsilon",
    "zero_gradient_attack",
    "known_A_attack",
]


def _eps(eps: float) -> float:
    eps = validate_variance(eps, "epsilon", allow_zero=False)
    if eps >= 1:
        raise ValueError(f"JL distortion epsilon must be in (0, 1), got {eps}")
    return eps


def jl_failure_exact(r: int, eps: float) -> float:
    """M5, exact: ``P(| ||Ax||^2 - ||x||^2 | > eps ||x||^2) = P(|chi^2_r / r - 1| > eps)``."""
    r = validate_positive_int(r, "rank")
    eps = _eps(eps)
    return float(stats.chi2.cdf(r * (1 - eps), r) + stats.chi2.sf(r * (1 + eps), r))


def jl_failure_bound(r: int, eps: float) -> float:
    """M5: the JL tail bound ``2 exp(-r (eps^2 - eps^3) / 4)`` (Dasgupta-Gupta form)."""
    r = validate_positive_int(r, "rank")
    eps = _eps(eps)
    return float(2 * math.exp(-r * (eps**2 - eps**3) / 4))


def min_rank_bound(eps: float, beta: float) -> int:
    """Smallest ``r`` with ``jl_failure_bound(r, eps) <= beta``: ``ceil(4 ln(2/beta)/(eps^2-eps^3))``."""
    eps = _eps(eps)
    beta = validate_variance(beta, "beta", allow_zero=False)
    if beta >= 1:
        raise ValueError("failure probability beta must be in (0, 1)")
    return max(1, math.ceil(4 * math.log(2 / beta) / (eps**2 - eps**3)))


def min_rank_exact(eps: float, beta: float, r_max: int = 1 << 20) -> int:
    """Smallest ``r`` with ``jl_failure_exact(r', eps) <= beta`` for that ``r`` (bisection on the
    exact chi-square tail, which decreases in ``r`` on the range searched; checked by callers)."""
    eps = _eps(eps)
    beta = validate_variance(beta, "beta", allow_zero=False)
    lo, hi = 1, min_rank_bound(eps, beta)
    if jl_failure_exact(lo, eps) <= beta:
        return 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if jl_failure_exact(mid, eps) <= beta:
            hi = mid
        else:
            lo = mid
    return hi


def clip_rows(g: np.ndarray, C: float) -> np.ndarray:
    """Per-example clipping ``g_e * min(1, C / ||g_e||)`` (examples along axis 0, any shape after)."""
    g = np.asarray(g, dtype=float)
    validate_finite(g, "per-example gradients")
    C = validate_variance(C, "clipping norm", allow_zero=False)
    norms = np.sqrt((g.reshape(g.shape[0], -1) ** 2).sum(axis=1))
    scale = np.minimum(1.0, C / np.where(norms > 0, norms, 1.0))
    return g * scale.reshape((-1,) + (1,) * (g.ndim - 1))


def effective_noise_multiplier(r: int, b: int, m: int, n: int, grad_norm_ratio: float = 1.0) -> float:
    """M5: the DP-SGD noise multiplier matching the LoRA noise, per coordinate (RMS).

    DP-SGD adds ``N(0, sigma^2 C^2)`` per coordinate to the *sum* of ``b`` clipped gradients,
    i.e. std ``sigma C / b`` on the mean.  The LoRA noise on the mean gradient has
    ``E ||N||_F^2 = (n + 1) ||G||_F^2 / r`` (M2) over ``m n`` coordinates.  With
    ``kappa = ||G||_F / C <= 1`` (clipped mean), matching the RMS coordinate std gives
    ``sigma_eff = b kappa sqrt((n + 1) / (r m n))``.  This is the paper-friendly reading: it
    pretends the noise is isotropic, Gaussian, fresh and data-independent (M4 tests that).
    """
    r = validate_positive_int(r, "rank")
    b = validate_positive_int(b, "batch size")
    m = validate_positive_int(m, "m")
    n = validate_positive_int(n, "n")
    kappa = validate_variance(grad_norm_ratio, "grad_norm_ratio")
    if kappa > 1:
        raise ValueError("a clipped mean gradient has ||G|| <= C: grad_norm_ratio must be <= 1")
    return float(b * kappa * math.sqrt((n + 1) / (r * m * n)))


def accountant_epsilon(noise_multiplier: float, q: float, steps: int, delta: float, method: str = "rdp") -> float:
    """(epsilon, delta) of ``steps`` compositions of the Poisson-subsampled Gaussian mechanism,
    from Google's ``dp_accounting`` (``RdpAccountant`` or ``pld.PLDAccountant``)."""
    import dp_accounting
    from dp_accounting import pld, rdp

    sigma = validate_variance(noise_multiplier, "noise multiplier", allow_zero=False)
    q = validate_variance(q, "sampling rate", allow_zero=False)
    if q > 1:
        raise ValueError("sampling rate must be <= 1")
    steps = validate_positive_int(steps, "steps")
    delta = validate_variance(delta, "delta", allow_zero=False)
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )
    if method == "rdp":
        acc = rdp.RdpAccountant()
    elif method == "pld":
        acc = pld.PLDAccountant()
    else:
        raise ValueError(f"unknown accountant {method!r} (rdp or pld)")
    acc.compose(event)
    return float(acc.get_epsilon(delta))


def zero_gradient_attack(r: int, eta: float, trials: int, rng: np.random.Generator, C: float = 1.0) -> dict:
    """M4/M5: two neighbouring datasets whose clipped batch gradients are ``0`` and ``g``.

    Least squares ``l(w) = (w . x - y)^2 / 2`` at ``w = 0``, ``x = (1, 0)``: example ``y = -1``
    has gradient ``(1, 0)``, example ``y = +1`` has ``(-1, 0)``.  ``D = {y=-1, y=+1}`` gives
    ``G = 0``; ``D'`` replaces the second example by ``y = -1`` and gives ``G = (1, 0)``.
    LoRA-FA's update ``-eta G A^T A`` is exactly ``0`` under ``D`` and non-zero a.s. under
    ``D'``: the test "update == 0" has TPR 1 and FPR 0, so no finite epsilon with delta < 1.
    """
    from .noise import sample_A

    r = validate_positive_int(r, "rank")
    trials = validate_positive_int(trials, "trials")
    x = np.array([1.0, 0.0])
    grads = {}
    for name, ys in (("D", (-1.0, 1.0)), ("D'", (-1.0, -1.0))):
        g = np.array([(0.0 - y) * x for y in ys])
        grads[name] = clip_rows(g, C).mean(axis=0)[None, :]
    A = sample_A(rng, r, 2, size=trials)
    upd = {}
    for k, G in grads.items():
        GA = np.einsum("mn,trn->tmr", G, A)
        upd[k] = -eta * np.einsum("tmr,trn->tmn", GA, A)
    zero_D = int((np.abs(upd["D"]).max(axis=(1, 2)) == 0).sum())
    zero_Dp = int((np.abs(upd["D'"]).max(axis=(1, 2)) == 0).sum())
    return {
        "G_D": grads["D"].tolist(),
        "G_D_prime": grads["D'"].tolist(),
        "P_D_zero": zero_D / trials,
        "P_Dprime_zero": zero_Dp / trials,
        "trials": trials,
    }


def known_A_attack(G_D: np.ndarray, G_Dp: np.ndarray, r: int, eta: float, trials: int, rng: np.random.Generator) -> dict:
    """M4 (secrecy): an adversary who knows ``A`` (it ships with the adapter) sees the update
    ``dW = -eta G A^T A`` from ``D`` or ``D'`` (chosen by a fair coin) and answers the dataset
    whose predicted update ``-eta G A^T A`` is nearer.  Returns its TPR (says D' under D') and
    FPR (says D' under D)."""
    from .noise import sample_A

    G_D = np.asarray(G_D, dtype=float)
    G_Dp = np.asarray(G_Dp, dtype=float)
    validate_finite(G_D, "G_D")
    validate_finite(G_Dp, "G_D'")
    m, n = G_D.shape
    trials = validate_positive_int(trials, "trials")
    A = sample_A(rng, r, n, size=trials)

    def update(G):
        return -eta * np.einsum("tmr,trn->tmn", np.einsum("mn,trn->tmr", G, A), A)

    uD, uDp = update(G_D), update(G_Dp)

    def says_Dp(dW):
        return (((dW - uDp) ** 2).sum(axis=(1, 2)) < ((dW - uD) ** 2).sum(axis=(1, 2)))

    coin = rng.random(trials) < 0.5
    dW = np.where(coin[:, None, None], uDp, uD)
    guess = says_Dp(dW)
    tp = int((guess & coin).sum())
    fp = int((guess & ~coin).sum())
    return {"tpr": tp / max(int(coin.sum()), 1), "fpr": fp / max(int((~coin).sum()), 1),
            "n_pos": int(coin.sum()), "n_neg": int((~coin).sum()), "tp": tp, "fp": fp}


# ----------------------------------------------------------------------------- membership inference


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score_member > score_nonmember) + P(tie)/2."""
    s = np.concatenate([pos, neg])
    ranks = stats.rankdata(s)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def membership_inference_experiment(
    rng: np.random.Generator,
    *,
    d: int = 64,
    K: int = 4,
    n_members: int = 100,
    r: int = 4,
    b: int = 25,
    epochs: int = 60,
    lr: float = 0.5,
    C: float = 1.0,
) -> dict:
    """M4/M5 beyond the paper: a loss-threshold membership-inference attack on a softmax
    regression fine-tuned on ``n_members`` random-label examples (memorisation is the only
    signal) with full fine-tuning, LoRA-FA, LoRA-FA with per-example clipping, and DP-SGD at the
    effective noise multiplier of M5 (``sigma_eff = b sqrt((d+1)/(r K d))``).

    Returns, per method, the attack AUC (members vs. as many fresh non-members) and the
    training accuracy, plus ``sigma_eff``.  One call is one seed; callers repeat it.
    """
    from .noise import sample_A

    d, K, n_members, r, b, epochs = (validate_positive_int(v, k) for v, k in
                                     ((d, "d"), (K, "K"), (n_members, "n_members"), (r, "rank"), (b, "b"), (epochs, "epochs")))
    X = rng.standard_normal((2 * n_members, d)) / np.sqrt(d) * 3
    y = rng.integers(0, K, 2 * n_members)
    Y = np.eye(K)[y]
    mem, non = np.arange(n_members), np.arange(n_members, 2 * n_members)
    sigma_eff = effective_noise_multiplier(r, b, K, d, 1.0)
    A = sample_A(rng, r, d)
    out: dict[str, Any] = {"sigma_eff": sigma_eff}
    for method in ("full", "lora-fa", "lora-fa+clip", "dp-sgd"):
        W = np.zeros((K, d))
        B = np.zeros((K, r))
        for _ in range(epochs):
            perm = rng.permutation(mem)
            for start in range(0, n_members, b):
                idx = perm[start:start + b]
                Wc = W + B @ A if method.startswith("lora") else W
                P = _softmax(X[idx] @ Wc.T)
                g = (P - Y[idx])[:, :, None] * X[idx][:, None, :]  # per-example gradients (b, K, d)
                if method in ("lora-fa+clip", "dp-sgd"):
                    g = clip_rows(g, C)
                G = g.mean(axis=0)
                if method == "dp-sgd":
                    G = G + rng.standard_normal(G.shape) * sigma_eff * C / len(idx)
                if method.startswith("lora"):
                    B = B - lr * G @ A.T
                else:
                    W = W - lr * G
        Wf = W + B @ A if method.startswith("lora") else W
        P = _softmax(X @ Wf.T)
        loss = -np.log(np.maximum(P[np.arange(len(y)), y], 1e-300))
        out[method] = {
            "auc": _auc(-loss[mem], -loss[non]),
            "train_acc": float((P[mem].argmax(axis=1) == y[mem]).mean()),
        }
    return out

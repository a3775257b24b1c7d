"""Paper H (claim H3): loss-threshold membership inference against a small MLP trained from
scratch on scikit-learn's bundled digits (1797 8x8 images, no download), with full training,
LoRA-FA (``W = W_0 + B A`` on both layers, ``W_0`` and ``A`` frozen at their random
initialisation, ``B`` from zero) and DP-SGD (per-example clipping at ``C``, Gaussian noise
``sigma C / n`` on the mean gradient, full batch).

Seeds are a batch axis: every array carries a leading ``(S, ...)`` dimension, one independent
experiment (data split, initialisation, ``A``, noise) per seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lora_theorems.validate import validate_positive_int, validate_rng, validate_variance

__all__ = ["auc_batch", "canary_step_scores", "digits", "dp_pairwise_auc_bound", "empirical_bernstein_lower", "lora_fa_step_canaries", "mia_experiment"]

METHODS = ("full", "lora-fa", "dp-sgd")


def auc_batch(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """H3: ROC AUC of scores ``pos`` (members) against ``neg`` (non-members), one per row
    (Mann-Whitney, ties counted 1/2)."""
    pos = np.atleast_2d(np.asarray(pos, dtype=float))
    neg = np.atleast_2d(np.asarray(neg, dtype=float))
    if pos.shape[0] != neg.shape[0] or pos.shape[1] < 1 or neg.shape[1] < 1:
        raise ValueError(f"need score rows of equal count, got {pos.shape} and {neg.shape}")
    gt = (pos[:, :, None] > neg[:, None, :]).mean(axis=(1, 2))
    eq = (pos[:, :, None] == neg[:, None, :]).mean(axis=(1, 2))
    return gt + 0.5 * eq


def digits() -> tuple[np.ndarray, np.ndarray]:
    """H3: scikit-learn's digits, pixels scaled to [0, 1] (features 64, classes 10)."""
    from lora_theorems.numerics.datasets import digits_raw

    pixels, digit = digits_raw()
    return pixels / 16.0, digit.astype(int)


def _softmax_lp(O: np.ndarray) -> np.ndarray:
    O = O - O.max(axis=-1, keepdims=True)
    return O - np.log(np.exp(O).sum(axis=-1, keepdims=True))


def mia_experiment(
    rng: np.random.Generator,
    *,
    seeds: int = 8,
    n_members: int = 64,
    hidden: int = 64,
    r: int = 16,
    epochs: int = 150,
    lr: float = 0.5,
    C: float = 1.0,
    sigma: float = 8.0,
) -> dict[str, Any]:
    """H3: one loss-threshold membership-inference experiment per seed (seeds batched).

    Each seed draws ``2 n_members`` digits, trains on the first half (members) for ``epochs``
    full-batch gradient steps and scores every example by minus its loss; the attack AUC
    separates members from the other half. Returns, per method, the AUCs (shape ``(seeds,)``),
    train and held-out accuracy, and the settings.
    """
    rng = validate_rng(rng)
    S, n, h, r, T = (validate_positive_int(v, k) for v, k in
                     ((seeds, "seeds"), (n_members, "n_members"), (hidden, "hidden"), (r, "rank"), (epochs, "epochs")))
    lr = validate_variance(lr, "learning rate", allow_zero=False)
    C = validate_variance(C, "clipping norm", allow_zero=False)
    sigma = validate_variance(sigma, "noise multiplier")
    X, y = digits()
    if 2 * n > len(y):
        raise ValueError(f"n_members must be <= {len(y) // 2}, got {n}")
    d, K = X.shape[1], 10
    if r > min(d, h):
        raise ValueError(f"rank {r} exceeds the layer widths ({d}, {h})")
    idx = np.stack([rng.permutation(len(y))[: 2 * n] for _ in range(S)])
    Xs, ys = X[idx], y[idx]
    Ym = np.eye(K)[ys[:, :n]]
    Xm = Xs[:, :n]
    W1_0 = rng.standard_normal((S, h, d)) * math.sqrt(2 / d)
    W2_0 = rng.standard_normal((S, K, h)) * math.sqrt(1 / h)
    A1 = rng.standard_normal((S, r, d)) / math.sqrt(r)
    A2 = rng.standard_normal((S, r, h)) / math.sqrt(r)
    out: dict[str, Any] = {"settings": {"seeds": S, "n_members": n, "hidden": h, "r": r, "epochs": T, "lr": lr, "C": C, "sigma": sigma}}
    # batched matrix products (BLAS) rather than np.einsum's C loops: the same contractions
    A1_T, A2_T = np.swapaxes(A1, 1, 2), np.swapaxes(A2, 1, 2)
    for method in METHODS:
        W1, W2 = W1_0.copy(), W2_0.copy()
        B1, B2 = np.zeros((S, h, r)), np.zeros((S, K, r))
        for _ in range(T):
            V1 = W1 + B1 @ A1 if method == "lora-fa" else W1
            V2 = W2 + B2 @ A2 if method == "lora-fa" else W2
            Z = Xm @ np.swapaxes(V1, 1, 2)  # (S, n, h)
            H = np.maximum(Z, 0.0)
            P = np.exp(_softmax_lp(H @ np.swapaxes(V2, 1, 2)))
            dO = P - Ym
            dH = (dO @ V2) * (Z > 0)
            if method == "dp-sgd":
                # per-example norms without forming per-example gradients: ||u x^T||_F = ||u|| ||x||
                nrm = np.sqrt((dH**2).sum(-1) * (Xm**2).sum(-1) + (dO**2).sum(-1) * (H**2).sum(-1))
                f = np.minimum(1.0, C / np.maximum(nrm, 1e-300))
                G1 = np.swapaxes(dH * f[..., None], 1, 2) @ Xm / n + rng.standard_normal(W1.shape) * sigma * C / n
                G2 = np.swapaxes(dO * f[..., None], 1, 2) @ H / n + rng.standard_normal(W2.shape) * sigma * C / n
            else:
                G1 = np.swapaxes(dH, 1, 2) @ Xm / n
                G2 = np.swapaxes(dO, 1, 2) @ H / n
            if method == "lora-fa":
                B1 -= lr * G1 @ A1_T
                B2 -= lr * G2 @ A2_T
            else:
                W1 -= lr * G1
                W2 -= lr * G2
        V1 = W1 + B1 @ A1 if method == "lora-fa" else W1
        V2 = W2 + B2 @ A2 if method == "lora-fa" else W2
        lp = _softmax_lp(np.maximum(Xs @ np.swapaxes(V1, 1, 2), 0.0) @ np.swapaxes(V2, 1, 2))
        loss = -np.take_along_axis(lp, ys[..., None], -1)[..., 0]
        pred = lp.argmax(-1) == ys
        out[method] = {
            "auc": auc_batch(-loss[:, :n], -loss[:, n:]),
            "train_acc": pred[:, :n].mean(axis=1),
            "test_acc": pred[:, n:].mean(axis=1),
        }
    return out


# ----------------------------------------------------------------------------- M4: one clipped LoRA-FA step


def _T(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, 1, 2)


def _losses(W1: np.ndarray, W2: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    lp = _softmax_lp(np.maximum(X @ _T(W1), 0.0) @ _T(W2))
    return -np.take_along_axis(lp, y[..., None], -1)[..., 0]


def canary_step_scores(
    X: np.ndarray,
    y: np.ndarray,
    members: int,
    W1: np.ndarray,
    W2: np.ndarray,
    A1: np.ndarray,
    A2: np.ndarray,
    *,
    lr: float,
    C: float,
    noise: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """M4: the deterministic core of :func:`lora_fa_step_canaries` (seeds batched, leading axis ``S``).

    ``X`` (S, k, d) and labels ``y`` (S, k); the first ``members`` examples train. One full-batch step
    from ``(W1, W2)`` (S, h, d), (S, K, h) on the members' per-example gradients of the cross-entropy of
    ``softmax(W2 relu(W1 x))`` w.r.t. both weights, clipped jointly to norm ``C`` and averaged (``G``):
    without ``noise`` the LoRA-FA step ``W - lr G A^T A`` per layer (``A1`` (S, r, d), ``A2`` (S, r, h));
    with ``noise = (N1, N2)`` the DP-SGD step ``W - lr (G + N)`` (``A`` unused). Returns each example's
    loss decrease ``l(W_0) - l(W_1)`` (S, k) and ``kappa = ||G||_F / C`` (S,).
    """
    b = validate_positive_int(members, "members")
    Xm, Ym = X[:, :b], np.eye(W2.shape[1])[y[:, :b]]
    # batched matrix products (BLAS), seeds on the leading axis
    Z = Xm @ _T(W1)
    H = np.maximum(Z, 0.0)
    dO = np.exp(_softmax_lp(H @ _T(W2))) - Ym
    dH = (dO @ W2) * (Z > 0)
    # per-example norms without forming per-example gradients: ||u x^T||_F = ||u|| ||x||
    nrm = np.sqrt((dH**2).sum(-1) * (Xm**2).sum(-1) + (dO**2).sum(-1) * (H**2).sum(-1))
    f = np.minimum(1.0, C / np.maximum(nrm, 1e-300))[..., None]
    G1 = _T(dH * f) @ Xm / b
    G2 = _T(dO * f) @ H / b
    if noise is None:
        V1 = W1 + (-lr * G1 @ np.swapaxes(A1, 1, 2)) @ A1  # B_1 = -lr dL/dB = -lr G A^T, merged: B_1 A
        V2 = W2 + (-lr * G2 @ np.swapaxes(A2, 1, 2)) @ A2
    else:
        V1 = W1 - lr * (G1 + noise[0])
        V2 = W2 - lr * (G2 + noise[1])
    kappa = np.sqrt((G1**2).sum(axis=(1, 2)) + (G2**2).sum(axis=(1, 2))) / C
    return _losses(W1, W2, X, y) - _losses(V1, V2, X, y), kappa


def lora_fa_step_canaries(
    rng: np.random.Generator,
    *,
    seeds: int = 8,
    canaries: int = 200,
    hidden: int = 64,
    r: int = 4,
    lr: float = 0.5,
    C: float = 1.0,
    method: str = "lora-fa",
    sigma: float = 0.0,
    chunk: int = 250,
) -> dict[str, Any]:
    """M4 (implicit-dp): calibrated loss membership inference on ONE step with per-example clipping.

    Per seed: ``canaries`` distinct digits, pixels centred by the mean image of the whole (public)
    set, each with a uniformly random label (privacy-auditing canaries: memorisation is the only
    signal); the first half is the fine-tuning set (members, ``b = canaries // 2``), the second
    half held out. The MLP of :func:`mia_experiment` (``W_0``, ``A_1``, ``A_2`` drawn alike) takes
    one full-batch step from ``W_0`` on the members' per-example gradients ``g_i`` (w.r.t. the
    full weights of both layers, jointly) clipped to norm ``C``, ``G = mean_i clip(g_i)``:

    - ``"lora-fa"``: ``B_1 = -lr G A^T`` per layer (the gradient w.r.t. ``B`` at ``B = 0`` is
      ``G A^T``), so ``W_1 - W_0 = -lr G A^T A`` (paper M's LoRA step with clipping);
    - ``"dp-sgd"``: ``W_1 - W_0 = -lr (G + N(0, (sigma C / b)^2 I))`` (the Gaussian mechanism).

    Each canary is scored by its loss decrease ``l(W_0) - l(W_1)`` (the attacker knows the public
    starting weights ``W_0``); the attack AUC (members vs held-out canaries, ties 1/2) is returned
    per seed with ``kappa = ||G||_F / C`` (the realised gradient scale). Seeds are processed
    ``chunk`` at a time (memory); the draws depend on ``chunk``.
    """
    rng = validate_rng(rng)
    S, k, h, r, chunk = (validate_positive_int(v, n) for v, n in
                         ((seeds, "seeds"), (canaries, "canaries"), (hidden, "hidden"), (r, "rank"), (chunk, "chunk")))
    lr = validate_variance(lr, "learning rate", allow_zero=False)
    C = validate_variance(C, "clipping norm", allow_zero=False)
    sigma = validate_variance(sigma, "noise multiplier")
    if method not in ("lora-fa", "dp-sgd"):
        raise ValueError(f"unknown method {method!r} (lora-fa or dp-sgd)")
    X, _ = digits()
    X = X - X.mean(axis=0)
    d, K = X.shape[1], 10
    if k < 4 or k > len(X):
        raise ValueError(f"canaries must be in [4, {len(X)}], got {k}")
    if r > min(d, h):
        raise ValueError(f"rank {r} exceeds the layer widths ({d}, {h})")
    b = k // 2
    aucs, kappas = [], []
    for start in range(0, S, chunk):
        s = min(chunk, S - start)
        Xs = X[np.stack([rng.permutation(len(X))[:k] for _ in range(s)])]
        ys = rng.integers(0, K, (s, k))
        W1 = rng.standard_normal((s, h, d)) * math.sqrt(2 / d)
        W2 = rng.standard_normal((s, K, h)) * math.sqrt(1 / h)
        A1 = rng.standard_normal((s, r, d)) / math.sqrt(r)
        A2 = rng.standard_normal((s, r, h)) / math.sqrt(r)
        noise = None
        if method == "dp-sgd":
            noise = (rng.standard_normal((s, h, d)) * sigma * C / b, rng.standard_normal((s, K, h)) * sigma * C / b)
        score, kappa = canary_step_scores(Xs, ys, b, W1, W2, A1, A2, lr=lr, C=C, noise=noise)
        kappas.append(kappa)
        aucs.append(auc_batch(score[:, :b], score[:, b:]))
    return {
        "auc": np.concatenate(aucs),
        "kappa": np.concatenate(kappas),
        "settings": {"seeds": S, "canaries": k, "members": b, "hidden": h, "r": r, "lr": lr, "C": C, "method": method,
                     "sigma": sigma, "chunk": chunk, "data": "digits, pixels centred, uniformly random labels"},
    }


def dp_pairwise_auc_bound(noise_multiplier: float, steps: int = 1, delta: float | None = None) -> dict[str, float]:
    """M4: the largest expected pairwise membership-inference AUC of any attack on a mechanism with
    the privacy profile that dp_accounting's PLD accountant gives ``steps`` full-batch DP-SGD steps
    at ``noise_multiplier`` (replace-one neighbours: the clipped sum moves by at most ``2C``).

    Swap argument: a member ``z`` and a held-out ``z'`` are exchangeable, and replacing ``z`` by
    ``z'`` is one replace-one move, so for the event "``z`` scores above ``z'``" (ties by a fair
    coin), ``AUC <= e^eps (1 - AUC) + delta(eps)`` for every ``eps``:
    ``AUC <= min_eps (e^eps + delta(eps)) / (1 + e^eps)``; the minimum is at ``eps = 0``,
    ``(1 + delta(0)) / 2`` with ``delta(0)`` the total variation (Gaussian: ``Phi(sqrt(steps) / sigma)``).
    Returns ``bound`` (the minimum over the accountant's profile on an eps grid including 0),
    ``closed_form`` (``Phi(sqrt(steps)/sigma)``), ``tv`` (``delta(0)``) and, when ``delta`` is
    given, ``epsilon`` (the accountant's epsilon at that delta, the number usually reported).
    """
    import dp_accounting
    from dp_accounting import pld
    from scipy.stats import norm

    sigma = validate_variance(noise_multiplier, "noise multiplier", allow_zero=False)
    steps = validate_positive_int(steps, "steps")
    acc = pld.PLDAccountant(neighboring_relation=dp_accounting.NeighboringRelation.REPLACE_ONE)
    acc.compose(dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(sigma), steps))
    eps = np.linspace(0.0, 4.0, 41)
    deltas = np.array([acc.get_delta(float(e)) for e in eps])
    vals = (np.exp(eps) + deltas) / (1 + np.exp(eps))
    out = {"bound": float(vals.min()), "closed_form": float(norm.cdf(math.sqrt(steps) / sigma)), "tv": float(deltas[0])}
    if delta is not None:
        d = validate_variance(delta, "delta", allow_zero=False)
        if d >= 1:
            raise ValueError(f"delta must be in (0, 1), got {d}")
        out["epsilon"] = float(acc.get_epsilon(d))
    return out


def empirical_bernstein_lower(x: np.ndarray, alpha: float) -> float:
    """M4: one-sided lower confidence bound at level ``alpha`` on the mean of i.i.d. variables in
    [0, 1] (Maurer and Pontil 2009, Theorem 4, applied to ``1 - x``):
    ``mean - sqrt(2 V ln(2/alpha) / n) - 7 ln(2/alpha) / (3 (n - 1))``, ``V`` the unbiased sample
    variance. Distribution-free: it needs no normal approximation."""
    x = np.asarray(x, dtype=float).ravel()
    if x.size < 2 or not np.all((x >= 0) & (x <= 1)):
        raise ValueError(f"need at least two values in [0, 1], got {x.size} values in [{x.min() if x.size else 'n/a'}, {x.max() if x.size else 'n/a'}]")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    n, L = x.size, math.log(2 / alpha)
    return float(x.mean() - math.sqrt(2 * x.var(ddof=1) * L / n) - 7 * L / (3 * (n - 1)))

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

__all__ = ["auc_batch", "digits", "mia_experiment"]

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
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y.astype(int)


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
    for method in METHODS:
        W1, W2 = W1_0.copy(), W2_0.copy()
        B1, B2 = np.zeros((S, h, r)), np.zeros((S, K, r))
        for _ in range(T):
            V1 = W1 + B1 @ A1 if method == "lora-fa" else W1
            V2 = W2 + B2 @ A2 if method == "lora-fa" else W2
            Z = np.einsum("shd,snd->snh", V1, Xm)
            H = np.maximum(Z, 0.0)
            P = np.exp(_softmax_lp(np.einsum("skh,snh->snk", V2, H)))
            dO = P - Ym
            dH = np.einsum("snk,skh->snh", dO, V2) * (Z > 0)
            if method == "dp-sgd":
                # per-example norms without forming per-example gradients: ||u x^T||_F = ||u|| ||x||
                nrm = np.sqrt((dH**2).sum(-1) * (Xm**2).sum(-1) + (dO**2).sum(-1) * (H**2).sum(-1))
                f = np.minimum(1.0, C / np.maximum(nrm, 1e-300))
                G1 = np.einsum("snh,snd->shd", dH * f[..., None], Xm) / n + rng.standard_normal(W1.shape) * sigma * C / n
                G2 = np.einsum("snk,snh->skh", dO * f[..., None], H) / n + rng.standard_normal(W2.shape) * sigma * C / n
            else:
                G1 = np.einsum("snh,snd->shd", dH, Xm) / n
                G2 = np.einsum("snk,snh->skh", dO, H) / n
            if method == "lora-fa":
                B1 -= lr * G1 @ np.swapaxes(A1, 1, 2)
                B2 -= lr * G2 @ np.swapaxes(A2, 1, 2)
            else:
                W1 -= lr * G1
                W2 -= lr * G2
        V1 = W1 + B1 @ A1 if method == "lora-fa" else W1
        V2 = W2 + B2 @ A2 if method == "lora-fa" else W2
        lp = _softmax_lp(np.einsum("skh,snh->snk", V2, np.maximum(np.einsum("shd,snd->snh", V1, Xs), 0.0)))
        loss = -np.take_along_axis(lp, ys[..., None], -1)[..., 0]
        pred = lp.argmax(-1) == ys
        out[method] = {
            "auc": auc_batch(-loss[:, :n], -loss[:, n:]),
            "train_acc": pred[:, :n].mean(axis=1),
            "test_acc": pred[:, n:].mean(axis=1),
        }
    return out

"""Fisher information of finite networks and its weighted-NTK form (claim L6, poster eq. (5)).

For inputs $x_1..x_N$ with per-sample Jacobians $J_x = \\partial F(x)/\\partial\\theta$ ($k\\times P$)
and a per-sample PSD weight $\\Lambda_x = L_xL_x^T$ ($k\\times k$), the Fisher matrix is

.. math:: I_\\theta = \\frac1N\\sum_x J_x^T\\Lambda_x J_x = \\frac1N (L^TJ)^T (L^TJ),

whose nonzero eigenvalues are those of the weighted NTK $\\frac1N L^T K L$, $K = JJ^T$.
Two weights are used: ``"expected"`` (the loss Hessian in $F$: MSE $I_k$, cross-entropy
$\\operatorname{diag}(p)-pp^T$, the Fisher of the model's likelihood) and ``"empirical"``
($\\Lambda_x = \\nabla_F\\mathcal L\\nabla_F\\mathcal L^T$, eq. (5) as written: $\\mathbb E[\\nabla_\\theta\\mathcal L\\,\\nabla_\\theta\\mathcal L^T]$).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lora_theorems.validate import validate_finite, validate_positive_int, validate_rtol

__all__ = [
    "fisher_from_jacobian",
    "loss_gradient",
    "nonzero_eigenvalues",
    "weight_factor",
    "weighted_ntk",
]

LOSSES = ("mse", "ce")


def _softmax(F: np.ndarray) -> np.ndarray:
    z = F - F.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def loss_gradient(F: Any, y: Any, loss: str) -> np.ndarray:
    """$\\nabla_F\\mathcal L$ per sample, shape ``(N, k)`` (L6).

    ``mse``: $\\mathcal L=\\tfrac12\\|F-y\\|^2$, gradient $F-y$ (``y`` shape ``(N, k)``);
    ``ce``: softmax cross-entropy, gradient $p - e_y$ (``y`` integer labels ``(N,)``).
    """
    F = np.asarray(F, dtype=np.float64)
    validate_finite(F, "F")
    if loss == "mse":
        return F - np.asarray(y, dtype=np.float64).reshape(F.shape)
    if loss == "ce":
        y = np.asarray(y)
        if y.shape != (F.shape[0],) or y.min() < 0 or y.max() >= F.shape[1]:
            raise ValueError("ce labels must be integers in [0, k) of shape (N,)")
        g = _softmax(F)
        g[np.arange(F.shape[0]), y] -= 1.0
        return g
    raise ValueError(f"unknown loss {loss!r} (choose mse or ce)")


def weight_factor(F: Any, y: Any, loss: str, kind: str = "expected") -> np.ndarray:
    """Block-diagonal factor $L$ (``(N*k, N*m)``) with $\\Lambda_x = L_xL_x^T$ (L6).

    ``kind="expected"``: MSE $L_x = I_k$; CE $L_x = (\\operatorname{diag}p - pp^T)^{1/2}$.
    ``kind="empirical"``: $L_x = \\nabla_F\\mathcal L(x)$ (one column per sample).
    """
    F = np.asarray(F, dtype=np.float64)
    N, k = F.shape
    if kind == "empirical":
        g = loss_gradient(F, y, loss)
        L = np.zeros((N * k, N))
        for a in range(N):
            L[a * k : (a + 1) * k, a] = g[a]
        return L
    if kind != "expected":
        raise ValueError(f"unknown Fisher kind {kind!r} (choose expected or empirical)")
    if loss == "mse":
        return np.eye(N * k)
    if loss != "ce":
        raise ValueError(f"unknown loss {loss!r} (choose mse or ce)")
    p = _softmax(F)
    L = np.zeros((N * k, N * k))
    for a in range(N):
        H = np.diag(p[a]) - np.outer(p[a], p[a])
        w, V = np.linalg.eigh(H)
        L[a * k : (a + 1) * k, a * k : (a + 1) * k] = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    return L


def fisher_from_jacobian(J: np.ndarray, L: np.ndarray, n_samples: int) -> np.ndarray:
    """Reference: the materialized $P\\times P$ Fisher $\\frac1N J^T L L^T J$ (L6, eq. (5) left side)."""
    n_samples = validate_positive_int(n_samples, "n_samples")
    J, L = np.asarray(J, dtype=np.float64), np.asarray(L, dtype=np.float64)
    if J.ndim != 2 or L.ndim != 2 or L.shape[0] != J.shape[0]:
        raise ValueError(f"need J of shape (N*k, P) and L of shape (N*k, m), got {J.shape} and {L.shape}")
    validate_finite(J, "J")
    validate_finite(L, "L")
    V = L.T @ J
    return (V.T @ V) / n_samples


def weighted_ntk(K: np.ndarray, L: np.ndarray) -> np.ndarray:
    """The weighted NTK $L^TKL$ (eq. (5), right side as a Gram matrix) (L6).

    Divided by $N$ it has the same nonzero spectrum as the Fisher $\\frac1N J^TLL^TJ$.
    """
    return L.T @ K @ L


def nonzero_eigenvalues(M: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """Eigenvalues of symmetric ``M`` above ``rtol * max|eig|`` (descending).

    Default ``rtol = size * eps``: eigenvalues of a PSD matrix computed in float64 carry an
    absolute error of order ``size * eps * ||M||`` (Weyl + backward stability of eigh).
    """
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"M must be a square matrix, got shape {M.shape}")
    validate_finite(M, "M")
    rtol = validate_rtol(rtol)
    # halve before adding: (M + M^T) / 2 would overflow for entries near the float64 maximum
    w = np.linalg.eigvalsh(M / 2 + M.T / 2)
    if not np.isfinite(w).all():
        raise ValueError("the eigenvalues of M overflow float64")
    scale = np.abs(w).max() if w.size else 0.0
    tol = (M.shape[0] * np.finfo(np.float64).eps if rtol is None else rtol) * scale
    return np.sort(w[w > tol])[::-1]

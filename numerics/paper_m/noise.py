"""Paper M (claims M1, M2, M4): low-rank adaptation as a noisy gradient.

Setting: ``W = W0 + B A`` with ``A`` (r x n) i.i.d. N(0, 1/r) and ``B`` (m x r).  With ``A``
frozen (LoRA-FA) one gradient step on ``B`` changes ``W`` by ``-eta G A^T A``, i.e. the full
fine-tuning step ``-eta G`` plus the "noise" ``-eta N`` with ``N = G (A^T A - I)``.

This module samples that noise, gives its exact first and second moments (M2), and trains a
small linear model with full fine-tuning, LoRA-FA, FLoRA (A resampled every ``k`` steps)
and plain LoRA (both factors trained) so that the update identities of M1 can be measured
along training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lora_theorems.validate import validate_finite, validate_positive_int, validate_rank, validate_variance

__all__ = [
    "sample_A",
    "sample_gram",
    "lora_noise",
    "lora_noise_from_gram",
    "noise_variance",
    "noise_covariance",
    "noise_variance_general_init",
    "normalized_noise_variance",
    "LinearTask",
    "make_linear_task",
    "train_linear",
]


def sample_A(rng: np.random.Generator, r: int, n: int, size: int | None = None) -> np.ndarray:
    """Draw the LoRA factor ``A`` (r x n) with i.i.d. N(0, 1/r) entries (paper M setting).

    ``size`` stacks that many independent draws along a leading axis.
    """
    r = validate_positive_int(r, "rank")
    n = validate_positive_int(n, "width")
    shape = (r, n) if size is None else (validate_positive_int(size, "size"), r, n)
    return rng.standard_normal(shape) / np.sqrt(r)


def lora_noise(G: np.ndarray, A: np.ndarray) -> np.ndarray:
    """M1/M2: the injected noise ``N = G (A^T A - I)`` (works on a stack of ``A``).

    Computed as ``(G A^T) A - G`` (cost m r n per draw instead of m n^2).
    """
    G = np.asarray(G, dtype=float)
    validate_finite(G, "G")
    A = np.asarray(A, dtype=float)
    validate_finite(A, "A")
    GA = np.einsum("mn,...rn->...mr", G, A)
    return np.einsum("...mr,...rn->...mn", GA, A) - G


def sample_gram(rng: np.random.Generator, r: int, n: int, size: int) -> np.ndarray:
    """M2: ``size`` independent draws of ``A^T A`` (n x n) for ``A`` (r x n) i.i.d. N(0, 1/r).

    The noise ``N = G (A^T A - I)`` depends on ``A`` only through ``S = A^T A``, which is
    Wishart ``W_n(r, I/r)``.  For ``r >= n`` it is drawn by the Bartlett decomposition
    ``r S = T T^T`` with ``T`` lower triangular, ``T_ii^2 ~ chi^2_{r-i}`` (i = 0..n-1) and
    ``T_ij ~ N(0, 1)`` below the diagonal, all independent (Bartlett 1933; e.g. Muirhead,
    *Aspects of Multivariate Statistical Theory*, Thm. 3.2.14): ``n (n+1)/2`` draws per sample
    instead of ``r n``, so the Monte Carlo of M2 costs the same at every rank.  For ``r < n``
    (a singular Wishart) ``A`` itself is drawn.  Same law as ``A^T A`` from :func:`sample_A`;
    not the same random stream.
    """
    r = validate_positive_int(r, "rank")
    n = validate_positive_int(n, "width")
    size = validate_positive_int(size, "size")
    if r < n:
        A = sample_A(rng, r, n, size=size)
        return A.transpose(0, 2, 1) @ A
    T = np.zeros((size, n, n))
    below = np.tril_indices(n, -1)
    T[:, below[0], below[1]] = rng.standard_normal((size, below[0].size))
    diag = np.arange(n)
    T[:, diag, diag] = np.sqrt(rng.chisquare(r - diag, size=(size, n)))
    return (T @ T.transpose(0, 2, 1)) / r


def lora_noise_from_gram(G: np.ndarray, S: np.ndarray) -> np.ndarray:
    """M1/M2: the noise ``N = G (S - I)`` from ``S = A^T A`` (a stack of them, see :func:`sample_gram`)."""
    G = np.asarray(G, dtype=float)
    validate_finite(G, "G")
    S = np.asarray(S, dtype=float)
    validate_finite(S, "S")
    if S.shape[-2:] != (G.shape[1], G.shape[1]):
        raise ValueError(f"S must be {G.shape[1]} x {G.shape[1]} (n x n for G of shape {G.shape}), got {S.shape[-2:]}")
    return np.matmul(G, S) - G


def noise_variance(G: np.ndarray, r: int) -> np.ndarray:
    """M2, exact: ``Var(N_ij) = (||G_i.||^2 + G_ij^2) / r`` for A i.i.d. N(0, 1/r).

    Derived from Isserlis' theorem (see :mod:`lora_theorems.proofs.paper_m.noise`).
    """
    G = np.asarray(G, dtype=float)
    validate_finite(G, "G")
    r = validate_positive_int(r, "rank")
    return ((G**2).sum(axis=1, keepdims=True) + G**2) / r


def noise_covariance(G: np.ndarray, r: int) -> np.ndarray:
    """M2, exact: ``Cov(N_ij, N_kl) = ((G G^T)_ik delta_jl + G_il G_kj) / r``.

    Returned as an (m n) x (m n) matrix indexed by the row-major flattening ``(i, j) -> i n + j``.
    """
    G = np.asarray(G, dtype=float)
    validate_finite(G, "G")
    r = validate_positive_int(r, "rank")
    m, n = G.shape
    GG = G @ G.T
    C = np.einsum("ik,jl->ijkl", GG, np.eye(n)) + np.einsum("il,kj->ijkl", G, G)
    return C.reshape(m * n, m * n) / r


def _init_moments(G: Any, r: Any, s: Any, mu4: Any) -> tuple[np.ndarray, int, float, float]:
    """Validated ``(G, r, s, mu4)`` for the general-initialization moments (M2): finite G, a positive
    rank, a positive variance and a fourth moment at least its square."""
    G = np.asarray(G, dtype=float)
    validate_finite(G, "G")
    r = validate_positive_int(r, "rank")
    s = validate_variance(s, "s", allow_zero=False)
    mu4 = validate_variance(mu4, "mu4")
    if mu4 < s**2:
        raise ValueError(f"fourth moment {mu4} below squared variance {s**2} (impossible)")
    return G, r, s, mu4


def noise_variance_general_init(G: np.ndarray, r: int, s: float, mu4: float) -> tuple[np.ndarray, np.ndarray]:
    """M2 beyond the 1/r scaling: mean and variance of ``G (A^T A - I)`` when the entries of
    ``A`` are i.i.d. with mean 0, variance ``s`` and fourth moment ``mu4``.

    ``E N = (r s - 1) G`` and ``Var N_ij = r (s^2 ||G_i||^2 + (mu4 - 2 s^2) G_ij^2)``; with
    ``s = 1/r`` and Gaussian ``mu4 = 3 s^2`` this is :func:`noise_variance`.  With an init
    variance that does not depend on ``r`` (PEFT's Kaiming-uniform: ``s = 1/(3n)``,
    ``mu4 = 9 s^2 / 5``) the variance grows linearly in ``r``.
    """
    G, r, s, mu4 = _init_moments(G, r, s, mu4)
    mean = (r * s - 1.0) * G
    var = r * (s**2 * (G**2).sum(axis=1, keepdims=True) + (mu4 - 2 * s**2) * G**2)
    return mean, var


def normalized_noise_variance(G: np.ndarray, r: int, s: float, mu4: float) -> np.ndarray:
    """M2 for any i.i.d. init, mean step normalised: ``Var N'_ij`` of ``N' = G (A^T A / (r s) - I)``.

    Entries of ``A`` i.i.d. with mean 0, variance ``s``, fourth moment ``mu4`` (kurtosis
    ``kappa = mu4 / s^2``): ``Var N'_ij = (||G_i||^2 + (kappa - 2) G_ij^2) / r``, non-increasing
    in ``r`` for every law (``kappa >= 1``).  Gaussian (``kappa = 3``) gives :func:`noise_variance`.
    """
    G, r, s, mu4 = _init_moments(G, r, s, mu4)
    kappa = mu4 / s**2
    return ((G**2).sum(axis=1, keepdims=True) + (kappa - 2.0) * G**2) / r


# ----------------------------------------------------------------------------- training


@dataclass(frozen=True)
class LinearTask:
    """A least-squares task ``L(W) = ||W X - Y||_F^2 / (2 b)`` (batch of ``b`` columns)."""

    X: np.ndarray  # n x b inputs
    Y: np.ndarray  # m x b targets
    W0: np.ndarray  # m x n pre-trained weights

    def grad(self, W: np.ndarray) -> np.ndarray:
        """Batch-mean gradient ``G = (W X - Y) X^T / b``."""
        return (W @ self.X - self.Y) @ self.X.T / self.X.shape[1]

    def loss(self, W: np.ndarray) -> float:
        R = W @ self.X - self.Y
        return float((R**2).sum() / (2 * self.X.shape[1]))


def make_linear_task(rng: np.random.Generator, m: int, n: int, b: int) -> LinearTask:
    """A random least-squares task with a full-rank target shift (M1 numerics)."""
    m, n, b = (validate_positive_int(v, k) for v, k in ((m, "m"), (n, "n"), (b, "b")))
    X = rng.standard_normal((n, b)) / np.sqrt(n)
    W0 = rng.standard_normal((m, n)) / np.sqrt(n)
    Wstar = W0 + rng.standard_normal((m, n)) / np.sqrt(n)
    Y = Wstar @ X + 0.01 * rng.standard_normal((m, b))
    return LinearTask(X=X, Y=Y, W0=W0)


def train_linear(
    task: LinearTask,
    method: str,
    *,
    r: int,
    eta: float,
    steps: int,
    rng: np.random.Generator,
    k: int = 1,
) -> dict[str, np.ndarray]:
    """M1: train ``task`` and record, per step, ``W_t``, ``G_t = grad(W_t)``, the update
    ``dW_t = W_{t+1} - W_t`` and the factor ``A_t`` in force.

    ``method``: ``"full"`` (W itself), ``"lora-fa"`` (A frozen, B from 0), ``"flora"`` (A
    resampled every ``k`` steps; BA merged into W and B reset at each resampling) or
    ``"lora"`` (both trained, B from 0).
    """
    if method not in ("full", "lora-fa", "flora", "lora"):
        raise ValueError(f"unknown method {method!r}")
    m, n = task.W0.shape
    validate_rank(r, n)
    steps = validate_positive_int(steps, "steps")
    k = validate_positive_int(k, "k")
    eta = validate_variance(eta, "eta", allow_zero=False)
    Wbase = task.W0.copy()
    A = sample_A(rng, r, n)
    B = np.zeros((m, r))
    Ws, Gs, dWs, As, Bs = [], [], [], [], []
    for t in range(steps):
        if method == "flora" and t > 0 and t % k == 0:
            Wbase = Wbase + B @ A
            B = np.zeros((m, r))
            A = sample_A(rng, r, n)
        W = Wbase if method == "full" else Wbase + B @ A
        G = task.grad(W)
        Ws.append(W)
        Gs.append(G)
        As.append(A.copy())
        Bs.append(B.copy())
        if method == "full":
            Wbase = Wbase - eta * G
            Wn = Wbase
        elif method in ("lora-fa", "flora"):
            B = B - eta * G @ A.T
            Wn = Wbase + B @ A
        else:
            gB, gA = G @ A.T, B.T @ G
            B, A = B - eta * gB, A - eta * gA
            Wn = Wbase + B @ A
        dWs.append(Wn - W)
    return {k_: np.array(v) for k_, v in (("W", Ws), ("G", Gs), ("dW", dWs), ("A", As), ("B", Bs))}

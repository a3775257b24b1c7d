"""Training-time attacks on full fine-tuning (FF) and LoRA: label flips and backdoors (claim L8).

The setting (one pretrained network, two ways of fine-tuning it, one poisoned data set):

* **Data.** scikit-learn's bundled handwritten digits (1797 images of 8x8 pixels, scaled to
  $[0,1]$; no download).  A fixed permutation splits them into a *source* pool (pretraining,
  label "digit >= 5") and a *target* pool (fine-tuning and testing, label "digit is even"),
  labels $\\pm1$.
* **Network.** $64\\to n\\to n\\to 1$ fully connected, NTK parameterization of
  :mod:`lora_theorems.numerics.paper_l.empirical` (ReLU or erf, $\\sigma_w^2 = 1$, $\\sigma_b^2 = 0.1$),
  pretrained on the source task by full-batch gradient descent on $\\frac12\\sum(f-y)^2$.
* **Fine-tuning.** FF trains every weight and bias; LoRA trains $A\\in\\mathbb R^{r\\times n}$
  (i.i.d. $\\mathcal N(0, \\sigma_a^2)$) and $B = 0$ of the middle layer, nothing else.
* **Attacks.** Label flip: a share ``rate`` of the training labels negated.  Backdoor: a share
  ``rate`` of the training set, drawn from the non-target class, gets the 2x2 trigger (pixels
  (6..7, 6..7) set to 1) and the target label $+1$.  The attack success rate (ASR) is the share
  of triggered test inputs of the non-target class that the model sends to $+1$.

Two regimes:

* **kernel** (:func:`kernel_attack`): the linearized model
  $f_t = f_0 + K(x, X)K^{-1}(I - e^{-\\eta K t})(y - f_0)$ (L8, issue 10), with the exact
  finite-width kernels $K_{FF}$ (all weights) and $K_{LoRA} = c^2(\\delta\\cdot\\delta')\\,x^TA^TAx'$
  (at $B = 0$ only $B$'s term survives, eq. (10)); the kernel is recomputed on triggered inputs.
  Time is in units of $1/\\lambda_{\\max}(K_{FF})$; convergence is a ridge of $10^{-8}\\,\\mathrm{tr}K/N$
  relative to each kernel's own scale, so the kernel scale drops out there.
* **finite** (:func:`finite_attack`): real gradient descent on the network, FF and LoRA
  (both $A$ and $B$ trained), seeds as a batch axis.

Every seed $s$ draws its own poisoned indices and its own $A$; FF and LoRA of the same seed
see the same pretrained weights, data, poisoned indices and trigger (paired design), and the
$A$ of rank $r$ is the first $r$ rows of one $n\\times n$ draw, so ranks and variances are
paired too.

Control readings (issue 10): ``equal-time`` (same $\\eta$ and $t$), ``converged`` (kernel only;
ridgeless limit), ``matched-clean`` (each method stopped at the first time its model trained on
clean data reaches the clean test accuracy both can reach), ``lr-ratio`` (the authors' 10x
larger LoRA learning rate at the same number of steps).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lora_theorems.validate import validate_positive_int, validate_rank, validate_seed, validate_variance

from ..datasets import digits_raw
from .empirical import empirical_ntk, forward, gd_train, init_fc_params

__all__ = [
    "ATTACKS",
    "READINGS",
    "AttackRun",
    "DigitsTask",
    "Pretrained",
    "add_trigger",
    "digits_task",
    "finite_attack",
    "kernel_attack",
    "linearized_predictions",
    "lora_kernel_blocks",
    "paired_interval",
    "poison",
    "pretrained_network",
    "validate_attack",
    "validate_rate",
]

ATTACKS = ("label-flip", "backdoor")
READINGS = ("equal-time", "converged", "matched-clean", "lr-ratio")
TARGET = 1.0  #: the backdoor's target label (+1: "even digit")
TRIGGER_PIXELS = (54, 55, 62, 63)  #: the 2x2 bottom-right corner of the 8x8 image, row-major
WIDTH = 16  #: hidden width n of the network (ranks 1..16)
BIAS_VAR = 0.1
LR_RATIO = 10.0  #: the authors' LoRA/FF learning-rate ratio (3e-5 vs 3e-6)
TAU_EQUAL = 100.0  #: equal-time horizon: eta t = TAU / lambda_max(K_FF) (kernel regime)
RIDGE_REL = 1e-8  #: converged reading: ridge mu = RIDGE_REL * tr(K)/N (kernel's own scale)


def validate_attack(attack: str) -> str:
    """``attack`` must be ``"label-flip"`` or ``"backdoor"``."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r} (choose label-flip or backdoor)")
    return attack


def validate_rate(rate: float, n_train: int, attack: str) -> float:
    """A poison rate in [0, 1); for a backdoor at most the share of non-target examples."""
    r = validate_variance(rate, "rate")
    if r >= 1.0:
        raise ValueError(f"rate must be in [0, 1), got {r}")
    return r


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DigitsTask:
    """Source (pretraining) and target (fine-tuning) tasks on scikit-learn's digits (L8)."""

    X_src: np.ndarray
    y_src: np.ndarray
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def X_trig_test(self) -> np.ndarray:
        """Triggered test inputs of the non-target class (the ASR's denominator)."""
        return add_trigger(self.X_test[self.y_test != TARGET])


@functools.lru_cache(maxsize=4)
def digits_task(n_train: int = 200, n_test: int = 300, n_src: int = 600) -> DigitsTask:
    """The fixed digits split of claim L8's simulations (bundled data, no download).

    Source task: "digit >= 5" on ``n_src`` images; target task: "digit is even" on the
    ``n_train`` + ``n_test`` images after them in a fixed permutation (seed 0), labels +-1.
    """
    n_train = validate_positive_int(n_train, "n_train")
    n_test = validate_positive_int(n_test, "n_test")
    n_src = validate_positive_int(n_src, "n_src")
    pixels, digit = digits_raw()
    X = pixels.astype(np.float64) / 16.0
    if n_src + n_train + n_test > len(X):
        raise ValueError(f"n_src + n_train + n_test must be at most {len(X)}")
    perm = np.random.default_rng(0).permutation(len(X))
    src, rest = perm[:n_src], perm[n_src:]
    tr, te = rest[:n_train], rest[n_train : n_train + n_test]
    lab_src = np.where(digit >= 5, 1.0, -1.0)
    lab_tgt = np.where(digit % 2 == 0, 1.0, -1.0)
    out = DigitsTask(X[src], lab_src[src], X[tr], lab_tgt[tr], X[te], lab_tgt[te])
    for a in (out.X_src, out.y_src, out.X_train, out.y_train, out.X_test, out.y_test):
        a.setflags(write=False)
    return out


def add_trigger(X: np.ndarray) -> np.ndarray:
    """The backdoor trigger: the 2x2 bottom-right corner patch set to full intensity (1.0)."""
    Xt = np.array(X, dtype=np.float64, copy=True)
    Xt[..., list(TRIGGER_PIXELS)] = 1.0
    return Xt


def poison(attack: str, y: np.ndarray, rate: float, rng: np.random.Generator, seeds: int) -> np.ndarray:
    """Poisoned-row masks, shape ``(seeds, N)``: which training examples each seed poisons.

    Label flip: ``round(rate N)`` rows of any class; backdoor: ``round(rate N)`` rows of the
    non-target class (at most all of them).  Drawn once per seed, shared by FF and LoRA.
    """
    N = len(y)
    pool = np.arange(N) if attack == "label-flip" else np.flatnonzero(y != TARGET)
    m = int(round(rate * N))
    if m > len(pool):
        raise ValueError(f"a backdoor rate of {rate} needs {m} non-target examples, the training set has {len(pool)}")
    masks = np.zeros((seeds, N), dtype=bool)
    for s in range(seeds):
        masks[s, rng.choice(pool, size=m, replace=False)] = True
    return masks


# ----------------------------------------------------------------------------- pretraining


@dataclass(frozen=True)
class Pretrained:
    """A network pretrained on the source task, with its activation."""

    params: tuple
    activation: str
    width: int
    source_accuracy: float


@functools.lru_cache(maxsize=8)
def pretrained_network(seed: int = 0, activation: str = "relu", width: int = WIDTH, steps: int = 300) -> Pretrained:
    """Pretrain $64\\to n\\to n\\to 1$ on the source task by full-batch GD (L8 simulations).

    The learning rate is $1/\\lambda_{\\max}$ of the initial NTK on the source set (GD on
    $\\frac12\\sum(f-y)^2$ is stable below $2/\\lambda_{\\max}$).
    """
    seed = validate_seed(seed)
    task = digits_task()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1A8]))
    params = init_fc_params(rng, task.X_src.shape[1], [width, width], 1)
    K = empirical_ntk(params, task.X_src, mode="ff", activation=activation, bias_var=BIAS_VAR)
    lr = 1.0 / float(np.linalg.eigvalsh(K)[-1])
    params = gd_train(params, task.X_src, task.y_src[:, None], lr=lr, steps=steps, activation=activation,
                      bias_var=BIAS_VAR)
    f = forward(params, task.X_src, activation=activation, bias_var=BIAS_VAR)[1][-1][:, 0]
    acc = float(np.mean(np.sign(f) == task.y_src))
    frozen = tuple({k: np.array(v) for k, v in layer.items()} for layer in params)
    return Pretrained(frozen, activation, width, acc)


# ----------------------------------------------------------------------------- kernels


def _layer_features(pre: Pretrained, X: np.ndarray) -> tuple[np.ndarray, list, list]:
    """Output $f_0$, per-layer inputs $x^{(l-1)}$ and $\\delta^{(l)} = \\partial f/\\partial h^{(l)}$ (scalar output)."""
    inputs, hs, dphi = forward(list(pre.params), X, activation=pre.activation, bias_var=BIAS_VAR)
    L = len(pre.params)
    deltas: list[Any] = [None] * L
    D = np.ones((X.shape[0], 1))
    deltas[L - 1] = D
    for l in range(L - 1, 0, -1):
        W = pre.params[l]["W"]
        D = (D @ W) / math.sqrt(W.shape[1]) * dphi[l - 1]
        deltas[l - 1] = D
    return hs[-1][:, 0], inputs, deltas


def ff_kernel_blocks(fa, fb) -> np.ndarray:
    """$K_{FF}(a, b)$ over all weights and biases from :func:`_layer_features` outputs (eq. (8))."""
    _, xa, da = fa
    _, xb, db = fb
    K = np.zeros((da[0].shape[0], db[0].shape[0]))
    for l in range(len(xa)):
        K = K + (da[l] @ db[l].T) * ((xa[l] @ xb[l].T) / xa[l].shape[1] + BIAS_VAR)
    return K


def lora_kernel_blocks(fa, fb, A: np.ndarray, layer: int = 1, delta: np.ndarray | None = None) -> np.ndarray:
    """$K_{LoRA}(a, b) = c^2(\\delta\\cdot\\delta')\\,(Ax)\\cdot(Ax')$ at $B=0$ (eq. (10)); ``A`` is ``(S, r, n)``.

    ``delta``: the factor ``da[layer] @ db[layer].T`` if already computed (it does not depend on ``A``)."""
    _, xa, da = fa
    _, xb, db = fb
    ua = np.matmul(xa[layer], A.transpose(0, 2, 1))  # (S, N, r)
    ub = ua if fb is fa else np.matmul(xb[layer], A.transpose(0, 2, 1))
    D = (da[layer] @ db[layer].T) if delta is None else delta
    return D[None] * (ua @ ub.transpose(0, 2, 1)) / xa[layer].shape[1]


def linearized_predictions(K: np.ndarray | None, K_eval: np.ndarray, resid: np.ndarray, times: np.ndarray,
                           ridge: float | np.ndarray | None = None,
                           eig: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """$K(x,X)\\,K^{-1}(I - e^{-K t})\\,r_0$ for each $t$ in ``times`` (continuous GD; $\\eta$ folded into $t$).

    ``K`` ``(S, N, N)``, ``K_eval`` ``(S, M, N)``, ``resid`` ``(S, N)`` (labels minus $f_0$), ``times``
    ``(T,)`` or per seed ``(S, T)``; returns ``(S, T [+1], M)``, the last row the ridge limit
    $K(x,X)(K+\\mu I)^{-1}r_0$ when ``ridge`` (per seed or scalar) is given.  ``eig``: ``np.linalg.eigh(K)`` if already
    computed (the same kernel trained on other labels; ``K`` is then not read and may be ``None``).
    Through $K = U\\Lambda U^T$:
    $(1-e^{-\\lambda t})/\\lambda$ is evaluated as ``-expm1(-lam t)/lam`` (no cancellation for small
    $\\lambda t$) and as $t$ for $\\lambda \\le 0$ (rounding of a PSD kernel's null space).
    """
    if eig is None:
        if K is None:
            raise ValueError("linearized_predictions needs K or its eigendecomposition")
        eig = np.linalg.eigh(K)
    lam, U = eig
    proj = np.matmul(resid[:, None, :], U)[:, 0, :]  # U^T r0
    t = np.asarray(times, dtype=np.float64)
    t = t[None, :, None] if t.ndim == 1 else t[:, :, None]
    lt = lam[:, None, :] * t
    safe = np.where(lam > 0, lam, 1.0)[:, None, :]
    g = np.where(lam[:, None, :] > 0, -np.expm1(-lt) / safe, t)
    if ridge is not None:
        mu = np.broadcast_to(np.asarray(ridge, dtype=np.float64), (lam.shape[0],))
        gr = 1.0 / np.maximum(lam + mu[:, None], mu[:, None])
        g = np.concatenate([g, gr[:, None, :]], axis=1)
    # as batched GEMMs (BLAS), not einsum: coef = (g * proj) U^T, predictions = coef K_eval^T
    coef = np.matmul(g * proj[:, None, :], U.transpose(0, 2, 1))
    return np.matmul(coef, K_eval.transpose(0, 2, 1))


# ----------------------------------------------------------------------------- statistics


def paired_interval(diff: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Mean of per-seed paired differences and its two-sided $1-\\alpha$ Student-t interval."""
    from scipy.stats import t as student_t

    d = np.asarray(diff, dtype=np.float64)
    S = d.size
    m = float(d.mean())
    if S < 2:
        return m, -math.inf, math.inf
    half = float(student_t.ppf(1 - alpha / 2, S - 1) * d.std(ddof=1) / math.sqrt(S))
    return m, m - half, m + half


# ----------------------------------------------------------------------------- the runs


@dataclass(frozen=True)
class AttackRun:
    """Per-seed results of FF and LoRA at one configuration (L8), by control reading.

    Each metric is a dict ``reading -> array (seeds,)``: ``clean_acc`` (trained on clean data,
    clean test), ``attacked_acc`` (trained on poisoned data, clean test), ``asr`` (trained on
    poisoned data; share of triggered non-target test inputs sent to the target),
    ``train_fit`` (clean-trained accuracy on its training set; 1 = fits).  ``diverged`` marks
    seeds whose GD run blew up (finite regime; excluded from intervals).
    """

    attack: str
    rate: float
    rank: int
    variance: float
    regime: str
    activation: str
    seeds: int
    seed: int
    ff: dict
    lora: dict
    readings: tuple
    diverged: np.ndarray | dict

    def effect(self, reading: str) -> np.ndarray:
        """Per-seed FF-minus-LoRA effect in the direction of the paper's finding.

        Label flip: LoRA's accuracy drop minus FF's (positive: LoRA more vulnerable, F1);
        backdoor: FF's ASR minus LoRA's (positive: LoRA more robust, F2).
        """
        if self.attack == "label-flip":
            drop_l = self.lora["clean_acc"][reading] - self.lora["attacked_acc"][reading]
            drop_f = self.ff["clean_acc"][reading] - self.ff["attacked_acc"][reading]
            return drop_l - drop_f
        return self.ff["asr"][reading] - self.lora["asr"][reading]


def _acc(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mean(np.where(f > 0, 1.0, -1.0) == y, axis=-1)


def _asr(f: np.ndarray) -> np.ndarray:
    return np.mean(f > 0, axis=-1)


def _draw_A(rng: np.random.Generator, seeds: int, width: int) -> np.ndarray:
    """One standard-normal ``(seeds, n, n)`` draw; rank r uses its first r rows (nested ranks)."""
    return rng.standard_normal((seeds, width, width))


def _seed_streams(seed: int, attack: str, rate: float) -> tuple[np.random.Generator, np.random.Generator]:
    """Generators for A and for the poisoned indices: A depends on the seed only (paired across
    attacks and rates), the indices on the seed, attack and rate (paired across rank, variance, method)."""
    a_rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA]))
    p_rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB, ATTACKS.index(attack), int(round(rate * 1e6))]))
    return a_rng, p_rng


def _check_common(attack, rate, rank, variance, seeds, seed, width):
    attack = validate_attack(attack)
    rank, _ = validate_rank(rank, width)
    variance = validate_variance(variance, "variance", allow_zero=False)
    seeds = validate_positive_int(seeds, "seeds")
    seed = validate_seed(seed)
    rate = validate_rate(rate, 0, attack)
    return attack, rate, rank, variance, seeds, seed


#: time grid of the matched-clean reading (units of 1/lambda_max(K_FF))
TAU_GRID = np.logspace(-1, 7, 49)


def _matched_index(acc_f: np.ndarray, acc_l: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the first grid index where each method's clean accuracy reaches the level both reach."""
    level = np.minimum(acc_f.max(axis=1), acc_l.max(axis=1))[:, None]
    return np.argmax(acc_f >= level, axis=1), np.argmax(acc_l >= level, axis=1)


def _kernel_base(pre: Pretrained, task: DigitsTask) -> dict:
    """What every kernel-regime run on ``(pre, task)`` shares: features, FF kernels, time grid."""
    X_eval = np.concatenate([task.X_test, task.X_trig_test])
    f_tr = _layer_features(pre, task.X_train)
    f_ev = _layer_features(pre, X_eval)
    Kff_tr = ff_kernel_blocks(f_tr, f_tr)
    Kff_ev = ff_kernel_blocks(f_ev, f_tr)
    unit = 1.0 / float(np.linalg.eigvalsh(Kff_tr)[-1])  # eta t is measured in units of 1/lambda_max(K_FF)
    taus = np.concatenate([TAU_GRID, [TAU_EQUAL, LR_RATIO * TAU_EQUAL]]) * unit
    # FF trained on clean data: one kernel and one set of labels for every seed, attack and rate
    Kf, Kfe = Kff_tr[None], Kff_ev[None]
    ff_eig = np.linalg.eigh(Kf)
    resid = (task.y_train - f_tr[0])[None]
    ff_clean = f_ev[0] + linearized_predictions(None, Kfe, resid, taus, _ridge(Kf), ff_eig)
    ff_fit = _acc(f_tr[0] + linearized_predictions(None, Kf, resid, taus[:0], _ridge(Kf), ff_eig)[:, -1], task.y_train)
    return {"X_eval": X_eval, "f_tr": f_tr, "f_ev": f_ev, "Kff_tr": Kff_tr, "Kff_ev": Kff_ev, "taus": taus,
            "f_trig": _layer_features(pre, add_trigger(task.X_train)), "ff_eig": ff_eig, "ff_clean": ff_clean,
            "ff_fit": ff_fit}


def _ridge(K: np.ndarray) -> np.ndarray:
    return RIDGE_REL * np.trace(K, axis1=-2, axis2=-1) / K.shape[-1]


def _poisoned(attack: str, task: DigitsTask, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clean and poisoned training labels, ``(seeds, N)`` each."""
    y_clean = np.broadcast_to(task.y_train, masks.shape)
    if attack == "label-flip":
        return y_clean, np.where(masks, -y_clean, y_clean)
    return y_clean, np.where(masks, TARGET, y_clean)


def _triggered_features(base: dict, mask: np.ndarray) -> tuple:
    """Training features with the poisoned rows (``mask``) replaced by their triggered versions."""
    f_tr, f_trig = base["f_tr"], base["f_trig"]
    return (np.where(mask, f_trig[0], f_tr[0]),
            [np.where(mask[:, None], a, b) for a, b in zip(f_trig[1], f_tr[1], strict=True)],
            [np.where(mask[:, None], a, b) for a, b in zip(f_trig[2], f_tr[2], strict=True)])



def _triggered_kernels(base: dict, masks: np.ndarray, f_ev: Any, kernel: Callable[[int, Any, Any], np.ndarray]):
    """Backdoor (L8): per seed, the train-train and eval-train kernel blocks and f_0 recomputed on the
    training features with the trigger planted in that seed's poisoned rows; ``kernel(seed, a, b)``."""
    seeds, N = masks.shape
    K = np.empty((seeds, N, N))
    Ke = np.empty((seeds, len(base["X_eval"]), N))
    f0 = np.empty((seeds, N))
    for s in range(seeds):
        fs = _triggered_features(base, masks[s])
        K[s] = kernel(s, fs, fs)
        Ke[s] = kernel(s, f_ev, fs)
        f0[s] = fs[0]
    return K, Ke, f0

def _kernel_metrics(task: DigitsTask, pc: np.ndarray, pp: np.ndarray) -> tuple:
    n_test = len(task.y_test)
    return _acc(pc[..., :n_test], task.y_test), _acc(pp[..., :n_test], task.y_test), _asr(pp[..., n_test:])


def _kernel_ff(base: dict, task: DigitsTask, attack: str, masks: np.ndarray) -> tuple:
    """FF in the kernel regime: (clean acc, attacked acc, ASR) over the time grid, and the fit on the
    training set.  Independent of LoRA's rank and variance (one computation per attack, rate, seeds)."""
    seeds, N = masks.shape
    f_tr, f_ev, taus = base["f_tr"], base["f_ev"], base["taus"]
    f0_tr, f0_ev = f_tr[0], f_ev[0]
    _, y_pois = _poisoned(attack, task, masks)
    Kf = np.broadcast_to(base["Kff_tr"], (seeds, N, N))
    Kfe = np.broadcast_to(base["Kff_ev"], (seeds,) + base["Kff_ev"].shape)
    # clean training: the kernel is the same for every seed (computed once, in _kernel_base)
    pf_clean = np.broadcast_to(base["ff_clean"], (seeds,) + base["ff_clean"].shape[1:])
    if attack == "label-flip":  # the clean kernel for every seed: its one eigendecomposition
        lam, U = base["ff_eig"]
        eig: tuple | None = (np.broadcast_to(lam, (seeds, N)), np.broadcast_to(U, (seeds, N, N)))
        Kf_p, Kfe_p, f0p = Kf, Kfe, f0_tr
    else:  # the poisoned rows carry the trigger: kernels and f_0 recomputed on them
        eig = None
        Kf_p, Kfe_p, f0p = _triggered_kernels(base, masks, f_ev, lambda s, a, b: ff_kernel_blocks(a, b))
    pf_p = f0_ev + linearized_predictions(Kf_p, Kfe_p, y_pois - f0p, taus, _ridge(Kf_p), eig)
    return _kernel_metrics(task, pf_clean, pf_p) + (np.broadcast_to(base["ff_fit"], (seeds,)),)


def _kernel_lora_clean(base: dict, task: DigitsTask, A: np.ndarray,
                       eigh: Callable[[np.ndarray], tuple] = np.linalg.eigh, Kl_ev: np.ndarray | None = None) -> tuple:
    """LoRA trained on clean data in the kernel regime: clean test accuracy over the time grid, the
    fit on the training set, and the eigendecomposition and ridge of the clean kernel (label flips reuse them).
    Independent of the attack and its rate (one computation per rank, variance).  ``eigh``: how to
    decompose the kernel (:func:`_eigh_reusing` with the default network); ``Kl_ev``: the eval-train
    kernel block, if already computed."""
    f_tr, f_ev, taus = base["f_tr"], base["f_ev"], base["taus"]
    seeds = A.shape[0]
    resid_clean = np.broadcast_to(task.y_train, (seeds, len(task.y_train))) - f_tr[0]
    Kl_tr = lora_kernel_blocks(f_tr, f_tr, A)
    Kl_ev = lora_kernel_blocks(f_ev, f_tr, A) if Kl_ev is None else Kl_ev
    eig = eigh(Kl_tr)
    n_test = len(task.y_test)  # the clean-trained model is read on the clean test inputs only
    pl_clean = f_ev[0][:n_test] + linearized_predictions(Kl_tr, Kl_ev[:, :n_test], resid_clean, taus, _ridge(Kl_tr), eig)
    tr_pred_l = f_tr[0] + linearized_predictions(Kl_tr, Kl_tr, resid_clean, taus[:0], _ridge(Kl_tr), eig)[:, -1]
    return (_acc(pl_clean, task.y_test), _acc(tr_pred_l, task.y_train), eig[0], eig[1], _ridge(Kl_tr))


def _readonly(parts: tuple) -> tuple:
    for a in parts:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    return parts


@functools.lru_cache(maxsize=4)
def _kernel_base_default(activation: str) -> dict:
    return _kernel_base(pretrained_network(0, activation), digits_task())


@functools.lru_cache(maxsize=16)
def _kernel_ff_default(activation: str, attack: str, rate: float, seeds: int, seed: int) -> tuple:
    task = digits_task()
    _, p_rng = _seed_streams(seed, attack, rate)
    masks = poison(attack, task.y_train, rate, p_rng, seeds)
    return _readonly(_kernel_ff(_kernel_base_default(activation), task, attack, masks))


@functools.lru_cache(maxsize=2)
def _triggered_parts_default(activation: str, attack: str, rate: float, seeds: int, seed: int) -> tuple:
    """Backdoor, default network and data: per seed (stacked over seeds), the triggered training inputs of
    the middle layer ``(S, N, n)``, $f_0$ on them ``(S, N)``, and the factors $\\delta\\cdot\\delta'$ of LoRA's
    train-train ``(S, N, N)`` and eval-train ``(S, M, N)`` kernel blocks on them, which do not depend on
    $A$ (shared by every rank and variance at one rate)."""
    base = _kernel_base_default(activation)
    task = digits_task()
    _, p_rng = _seed_streams(seed, attack, rate)
    masks = poison(attack, task.y_train, rate, p_rng, seeds)
    N, M = masks.shape[1], len(base["X_eval"])
    x1, f0 = np.empty((seeds, N, base["f_tr"][1][1].shape[1])), np.empty((seeds, N))
    d_tr, d_ev = np.empty((seeds, N, N)), np.empty((seeds, M, N))
    for s in range(seeds):
        fs = _triggered_features(base, masks[s])
        d, de = fs[2][1], base["f_ev"][2][1]
        x1[s], f0[s], d_tr[s], d_ev[s] = fs[1][1], fs[0], d @ d.T, de @ d.T
    return _readonly((x1, f0, d_tr, d_ev))


@functools.lru_cache(maxsize=32)
def _kernel_lora_clean_default(activation: str, rank: int, variance: float, seeds: int, seed: int) -> tuple:
    pre = pretrained_network(0, activation)
    a_rng, _ = _seed_streams(seed, "label-flip", 0.0)  # A depends on the seed only
    A = _draw_A(a_rng, seeds, pre.width)[:, :rank, :] * math.sqrt(variance)
    key = ("clean", activation, rank, seeds, seed)
    return _readonly(_kernel_lora_clean(_kernel_base_default(activation), digits_task(), A,
                                        lambda K: _eigh_reusing(K, key, variance),
                                        _kernel_lora_eval_default(activation, rank, variance, seeds, seed)))


@functools.lru_cache(maxsize=1)
def _kernel_lora_eval_default(activation: str, rank: int, variance: float, seeds: int, seed: int) -> np.ndarray:
    """LoRA's eval-train kernel block (default network and data), ``(seeds, M, N)``: the clean run and the label
    flips at every rate read it (the sweep runs a configuration's rates one after another; one is kept)."""
    pre = pretrained_network(0, activation)
    a_rng, _ = _seed_streams(seed, "label-flip", 0.0)
    A = _draw_A(a_rng, seeds, pre.width)[:, :rank, :] * math.sqrt(variance)
    base = _kernel_base_default(activation)
    return _readonly((lora_kernel_blocks(base["f_ev"], base["f_tr"], A),))[0]


#: recent LoRA kernel eigendecompositions, by configuration and power-of-4 class of the variance
_EIGH_STORE: dict = {}
_EIGH_STORE_SIZE = 6


def _eigh_reusing(K: np.ndarray, key: tuple, variance: float) -> tuple[np.ndarray, np.ndarray]:
    """``np.linalg.eigh(K)`` for LoRA kernels of one configuration ``key`` at variances that differ by powers of 4.

    $A = Z\\sqrt{\\sigma^2}$, so variances $\\sigma^2$ and $4^j\\sigma^2$ give $A$ and $2^jA$, and kernels
    $K$ and $4^jK$ exactly (scaling by a power of 2 rounds nowhere); the same rules make LAPACK's
    symmetric eigensolver return $(4^j\\lambda, U)$ for $4^jK$ bit for bit (it normalizes the tridiagonal
    matrix by its norm before solving; tested in tests/paper_l/test_attacks.py).  A kernel is taken
    from the store only when it equals the stored one times $4^j$ bit for bit; otherwise it is decomposed.
    With the sweep's rules (1/n, 4/n, 1/r at r = 1, 4, 16) this saves about a third of the eigensolves."""
    m, e = math.frexp(variance)
    k = key + (m, e % 2)
    hit = _EIGH_STORE.get(k)
    if hit is not None:
        v0, K0, lam0, U0 = hit
        scale = variance / v0  # a power of 4: exact
        if K.shape == K0.shape and np.array_equal(K, K0 * scale):
            return lam0 * scale, U0
    lam, U = np.linalg.eigh(K)
    _EIGH_STORE.pop(k, None)
    _EIGH_STORE[k] = (variance, _readonly((np.array(K),))[0], _readonly((lam,))[0], _readonly((U,))[0])
    while len(_EIGH_STORE) > _EIGH_STORE_SIZE:
        _EIGH_STORE.pop(next(iter(_EIGH_STORE)))
    return lam, U


def kernel_attack(attack: str, rate: float, rank: int, variance: float, *, seeds: int = 16, seed: int = 0,
                  activation: str = "relu", pre: Pretrained | None = None, task: DigitsTask | None = None) -> AttackRun:
    """FF vs LoRA in the kernel regime (linearized fine-tuning, exact finite-width kernels; L8, F1-F4).

    See the module docstring for the data, the attacks and the readings.  Seeds are a batch
    axis: ``seeds`` draws of $A$ and of the poisoned indices, all from ``seed``.

    With the default network and data, the parts that do not depend on the whole configuration
    are computed once per process and reused (FF: per attack, rate and seeds; LoRA on clean
    data: per rank, variance and seeds); the numbers are the same as computed afresh.
    """
    width = WIDTH if pre is None else pre.width
    attack, rate, rank, variance, seeds, seed = _check_common(attack, rate, rank, variance, seeds, seed, width)
    default = pre is None and task is None
    task = task or digits_task()
    pre = pre or pretrained_network(0, activation)
    a_rng, p_rng = _seed_streams(seed, attack, rate)
    A = _draw_A(a_rng, seeds, pre.width)[:, :rank, :] * math.sqrt(variance)
    masks = poison(attack, task.y_train, rate, p_rng, seeds)
    if default:
        base = _kernel_base_default(activation)
        cf, af, sf, fit_f = _kernel_ff_default(activation, attack, rate, seeds, seed)
        cl, fit_l, lam, U, ridge_l = _kernel_lora_clean_default(activation, rank, variance, seeds, seed)
    else:
        base = _kernel_base(pre, task)
        cf, af, sf, fit_f = _kernel_ff(base, task, attack, masks)
        cl, fit_l, lam, U, ridge_l = _kernel_lora_clean(base, task, A)
    f_tr, f_ev, taus = base["f_tr"], base["f_ev"], base["taus"]
    _, y_pois = _poisoned(attack, task, masks)
    G = len(TAU_GRID)
    i_eq, i_ratio, i_conv = G, G + 1, G + 2
    mf, ml = _matched_index(cf[:, :G], cl[:, :G])
    # LoRA trained on poisoned data is read at three times per seed (its matched-clean time, equal time,
    # the lr-ratio time) and at the ridge limit: only those rows are computed
    t_read = np.stack([taus[ml], np.full(seeds, taus[i_eq]), np.full(seeds, taus[i_ratio])], axis=1)
    if attack == "label-flip":  # the clean kernel (its eigendecomposition and ridge), trained on flipped labels
        Kle_p = _kernel_lora_eval_default(activation, rank, variance, seeds, seed) if default else \
            lora_kernel_blocks(f_ev, f_tr, A)
        f0p = f_tr[0]
        pl_p = f_ev[0] + linearized_predictions(None, Kle_p, y_pois - f0p, t_read, ridge_l, (lam, U))
    elif default:  # the poisoned rows carry the trigger: kernels and f_0 recomputed on them
        # lora_kernel_blocks of each seed's triggered features, as one batch over the seeds
        x1_p, f0p, d_tr, d_ev = _triggered_parts_default(activation, attack, rate, seeds, seed)
        At = A.transpose(0, 2, 1)
        u = np.matmul(x1_p, At)
        Kl_p = d_tr * (u @ u.transpose(0, 2, 1)) / x1_p.shape[2]
        Kle_p = d_ev * (np.matmul(f_ev[1][1], At) @ u.transpose(0, 2, 1)) / x1_p.shape[2]
        eig_p = _eigh_reusing(Kl_p, ("backdoor", activation, rate, rank, seeds, seed), variance)
        pl_p = f_ev[0] + linearized_predictions(Kl_p, Kle_p, y_pois - f0p, t_read, _ridge(Kl_p), eig_p)
    else:
        Kl_p, Kle_p, f0p = _triggered_kernels(base, masks, f_ev, lambda s, a, b: lora_kernel_blocks(a, b, A[s : s + 1])[0])
        pl_p = f_ev[0] + linearized_predictions(Kl_p, Kle_p, y_pois - f0p, t_read, _ridge(Kl_p))
    n_test = len(task.y_test)
    al, sl = _acc(pl_p[..., :n_test], task.y_test), _asr(pl_p[..., n_test:])
    ar = np.arange(seeds)
    pick_f = {"equal-time": i_eq, "converged": i_conv, "matched-clean": mf, "lr-ratio": i_eq}
    pick_l = {"equal-time": i_eq, "converged": i_conv, "matched-clean": ml, "lr-ratio": i_ratio}
    pick_p = {"matched-clean": 0, "equal-time": 1, "lr-ratio": 2, "converged": 3}  # rows of pl_p

    def take(M, idx):
        return M[ar, idx] if np.ndim(idx) else M[:, idx]

    # capacity: the clean-trained converged model's accuracy on its own training set
    ff: dict[str, Any] = {"clean_acc": {}, "attacked_acc": {}, "asr": {}, "train_fit": fit_f}
    lora: dict[str, Any] = {"clean_acc": {}, "attacked_acc": {}, "asr": {}, "train_fit": np.array(fit_l)}
    for r in READINGS:
        for out, (c, a, s_), pick, pick_a in ((ff, (cf, af, sf), pick_f, pick_f), (lora, (cl, al, sl), pick_l, pick_p)):
            out["clean_acc"][r] = np.array(take(c, pick[r]))
            out["attacked_acc"][r] = np.array(take(a, pick_a[r]))
            out["asr"][r] = np.array(take(s_, pick_a[r]))
    return AttackRun(attack, rate, rank, variance, "kernel", pre.activation, seeds, seed, ff, lora, READINGS,
                     np.zeros(seeds, dtype=bool))


# ----------------------------------------------------------------------------- finite width

FINITE_READINGS = ("equal-time", "matched-clean", "lr-ratio")
FINITE_STEPS = 400  #: GD steps of a fine-tuning run
FINITE_LR = 0.1  #: FF (and equal-time LoRA) learning rate, in units of 1/lambda_max(K_FF); LoRA's lr-ratio run uses 10x
FINITE_CHECKPOINTS = 15  #: evaluations along a run (matched-clean reading)


def _phi(z, activation, x_out=None, d_out=None):
    """The activation and its derivative at ``z``; ReLU writes them into ``x_out``/``d_out`` when given."""
    if activation == "relu":
        d = np.empty_like(z) if d_out is None else d_out
        return np.maximum(z, 0.0, out=x_out), np.greater(z, 0.0, out=d)  # the 0/1 step, written as float
    from scipy.special import erf

    return erf(z), (2.0 / math.sqrt(math.pi)) * np.exp(-z * z)


def _ff_forward(P, X, activation, ws: dict | None = None):
    """Batched forward of all-weights copies ``P`` (list of dicts with (S, ...) arrays); X (S, N, d).
    ``ws``: work arrays to write into, as in :meth:`_LoraNet.output`."""
    xs: list = [X]
    ds: list = []
    x = X
    for l, layer in enumerate(P):
        W = layer["W"]
        # (x W^T) / sqrt(d) + sqrt(sigma_b^2) b
        # W^T as a row-major copy: the GEMM with a transposed view is slower here (same bits at these shapes)
        h = np.matmul(x, np.ascontiguousarray(W.transpose(0, 2, 1)), out=_work(ws, f"h{l}", x.shape[:-1] + (W.shape[1],)))
        np.divide(h, math.sqrt(x.shape[-1]), out=h)
        np.add(h, math.sqrt(BIAS_VAR) * layer["b"][:, None, :], out=h)
        if l == len(P) - 1:
            return h[..., 0], xs, ds
        x, dp = _phi(h, activation, _work(ws, f"x{l}", h.shape), _work(ws, f"d{l}", h.shape))
        xs.append(x)
        ds.append(dp)
    raise AssertionError  # pragma: no cover


def _ff_step(P, X, y, lr, activation, fwd=None, ws: dict | None = None):
    """One GD step on all weights; ``fwd``: :func:`_ff_forward` of ``(P, X)``, if already computed;
    ``ws``: work arrays, as in :func:`_ff_forward`."""
    f, xs, ds = _ff_forward(P, X, activation, ws) if fwd is None else fwd
    g = (f - y)[..., None]  # dL/dh of the read-out, (S, N, 1)
    sb = math.sqrt(BIAS_VAR)
    for l in range(len(P) - 1, -1, -1):
        x = xs[l]
        c = 1.0 / math.sqrt(x.shape[-1])
        gW = c * (g.transpose(0, 2, 1) @ x)
        gb = sb * g.sum(axis=1)
        if l > 0:  # g <- c (g W) * phi'
            gw = np.matmul(g, P[l]["W"], out=_work(ws, f"g{l}", g.shape[:-1] + (P[l]["W"].shape[2],)))
            np.multiply(gw, c, out=gw)
            g = np.multiply(gw, ds[l - 1], out=gw)
        P[l]["W"] = P[l]["W"] - lr * gW
        P[l]["b"] = P[l]["b"] - lr * gb
    return f


class _LoraNet:
    """The pretrained network with frozen weights and a trainable (A, B) on the middle layer, batched.

    A step works with the effective update $W_{eff} = c_1 BA$ (``(copies, n, n)``, formed once per
    (A, B)) rather than the factors: the forward is $h_1 = \\mathrm{base}_1 + x_1W_{eff}^T$ and the
    gradients are $c_1 G A^T$ (for $B$) and $c_1 B^T G$ (for $A$) with $G = g^T x_1$, two GEMMs over
    the training rows per step instead of five (the same products, associated differently)."""

    def __init__(self, pre: Pretrained, X: np.ndarray, A: np.ndarray):
        p = pre.params
        self.pre, self.act = pre, pre.activation
        self.c1 = 1.0 / math.sqrt(p[1]["W"].shape[1])
        self.c2 = 1.0 / math.sqrt(p[2]["W"].shape[1])
        self.w2 = p[2]["W"][0]
        self.cw2 = self.c2 * self.w2
        self.b2 = math.sqrt(BIAS_VAR) * p[2]["b"][0]
        self.A = np.array(A)
        self.B = np.zeros((A.shape[0], p[1]["W"].shape[0], A.shape[1]))
        self._Wt: np.ndarray | None = None  # (c1 B A)^T at the current (A, B)
        self._cw_rows: dict[int, np.ndarray] = {}  # c2 w2 tiled over N rows, per N

    def base(self, X):
        """Frozen first layer and frozen part of the middle layer: (x1, c1 W1 x1 + sb b1)."""
        p = self.pre.params
        h0 = np.einsum("...q,pq->...p", X, p[0]["W"]) / math.sqrt(X.shape[-1]) + math.sqrt(BIAS_VAR) * p[0]["b"]
        x1, _ = _phi(h0, self.act)
        base1 = self.c1 * np.einsum("...q,pq->...p", x1, p[1]["W"]) + math.sqrt(BIAS_VAR) * p[1]["b"]
        # einsum over a broadcast batch lays its result out copy-innermost: the step's GEMMs and
        # elementwise passes run ~2x faster on row-major copies of the same numbers
        return np.ascontiguousarray(x1), np.ascontiguousarray(base1)

    def w_eff_t(self) -> np.ndarray:
        """$W_{eff}^T = c_1 A^TB^T$, ``(copies, n, n)``, at the current (A, B) (computed once per step; stored
        as its own contiguous array: a GEMM with a transposed view of it is ~2x slower here)."""
        if self._Wt is None:
            self._Wt = np.matmul(self.A.transpose(0, 2, 1), self.B.transpose(0, 2, 1))
            np.multiply(self._Wt, self.c1, out=self._Wt)
        return self._Wt

    def output(self, x1, base1, ws: dict | None = None):
        """Output $f$ and $\\phi'(h_1)$ at the current (A, B), $h_1 = \\mathrm{base}_1 + x_1 W_{eff}^T$.

        ``ws``: a dict of work arrays this call writes into (and returns $\\phi'$ in), kept by the
        caller across steps: the same operations on the same numbers, without fresh arrays of
        ``(copies, N, n)`` per step (on this kind of machine such allocations cost page faults)."""
        C, M, n = self.A.shape[0], x1.shape[-2], self.B.shape[1]
        h1 = np.matmul(x1, self.w_eff_t(), out=_work(ws, "h1", (C, M, n)))
        np.add(h1, base1, out=h1)
        if self.act == "relu":
            x2 = np.maximum(h1, 0.0, out=_work(ws, "x2", h1.shape))
            dp = np.greater(h1, 0.0, out=_work(ws, "dp", h1.shape))  # the 0/1 step, written as float
        else:
            x2, dp = _phi(h1, self.act)
        return x2 @ self.cw2 + self.b2, dp  # x2 (c2 w2) + b2

    def step(self, x1, base1, y, lr, out=None, ws: dict | None = None):
        """One GD step on (A, B); ``out``: :meth:`output` on ``(x1, base1)`` at the current (A, B), if computed;
        ``ws``: work arrays, as in :meth:`output`."""
        f, dp = self.output(x1, base1, ws) if out is None else out
        # dL/dh1 = (f - y)[..., None] * (c2 w2) * dp, (S, N, n): the same products, computed over rows of
        # N n entries (numpy's broadcast over the last axis of 16 would loop 16 entries at a time)
        S, N, n = dp.shape
        if N not in self._cw_rows:
            self._cw_rows[N] = np.tile(self.cw2, N)
        g = np.repeat(f - y, n, axis=-1)
        np.multiply(g, self._cw_rows[N], out=g)
        np.multiply(g, dp.reshape(S, N * n), out=g)
        G = np.matmul(g.reshape(S, N, n).transpose(0, 2, 1), x1, out=_work(ws, "G", (S, n, x1.shape[-1])))
        gB = np.matmul(G, self.A.transpose(0, 2, 1))  # dL/dB = c1 G A^T
        gA = np.matmul(self.B.transpose(0, 2, 1), G)  # dL/dA = c1 B^T G
        np.multiply(gB, self.c1 * lr, out=gB)
        np.multiply(gA, self.c1 * lr, out=gA)
        self.A = self.A - gA
        self.B = self.B - gB
        self._Wt = None
        return f


def _work(ws: dict | None, name: str, shape: tuple) -> np.ndarray | None:
    """The work array ``name`` of ``shape`` in ``ws`` (made on first use), or None (a fresh result) without ``ws``."""
    if ws is None:
        return None
    a = ws.get(name)
    if a is None or a.shape != shape:
        a = ws[name] = np.empty(shape)
    return a


def _finite_setup(pre: Pretrained, task: DigitsTask, attack: str, masks: np.ndarray, steps: int) -> dict:
    """The batch (clean copies then poisoned copies, ``2 * seeds`` in all), learning rate,
    evaluation inputs and checkpoints of a finite-width run."""
    seeds, N = masks.shape
    y_clean, y_pois = _poisoned(attack, task, masks)
    X_clean = np.broadcast_to(task.X_train, (seeds,) + task.X_train.shape)
    if attack == "label-flip":
        X_pois = X_clean
    else:
        X_pois = np.where(masks[..., None], add_trigger(task.X_train)[None], X_clean)
    f_tr = _layer_features(pre, task.X_train)
    # GD on the sum loss is stable below 2/lambda_max(K); the base rate leaves room for the 10x ratio
    lr = FINITE_LR / float(np.linalg.eigvalsh(ff_kernel_blocks(f_tr, f_tr))[-1])
    every = max(1, steps // FINITE_CHECKPOINTS)
    ck = list(range(every, steps + 1, every))
    if ck[-1] != steps:
        ck.append(steps)
    # row-major (np.where and concatenate of broadcast inputs lay the copies innermost): the GEMMs of
    # FF's steps on the same numbers run ~2x faster
    return {"Xb": np.ascontiguousarray(np.concatenate([X_clean, X_pois])), "yb": np.concatenate([y_clean, y_pois]),
            "lr": lr,
            "X_eval": np.concatenate([task.X_test, task.X_trig_test]), "ck": ck, "steps": steps}


def _finite_evaluate(task: DigitsTask, yb: np.ndarray, fe: np.ndarray, ftr: np.ndarray) -> tuple:
    """(clean test accuracy, ASR, training-set accuracy) per batch copy; NaN accuracy where the run blew up."""
    n_test = len(task.y_test)
    bad = ~np.all(np.isfinite(fe), axis=1)
    acc = np.where(bad, np.nan, _acc(fe[:, :n_test], task.y_test))
    return (acc, _asr(fe[:, n_test:]), _acc(ftr, yb))


def _finite_ff_run(pre: Pretrained, task: DigitsTask, Xb: np.ndarray, yb: np.ndarray, setup: dict,
                   activation: str) -> list:
    """GD on all weights of ``len(Xb)`` copies of the pretrained network (inputs ``Xb``, labels ``yb``)
    at the learning rate of :func:`_finite_setup`; the evaluations at its checkpoints.  Every copy
    is computed exactly as it would be alone."""
    lr, X_eval, ck = setup["lr"], setup["X_eval"], setup["ck"]
    S2 = Xb.shape[0]
    P = [{k: np.broadcast_to(v, (S2,) + v.shape).copy() for k, v in layer.items()} for layer in pre.params]
    Xe = np.broadcast_to(X_eval, (S2,) + X_eval.shape)
    hist = []
    fwd = None  # the training-set forward of a checkpoint is the next step's forward
    ws_train: dict = {}
    ws_eval: dict = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, setup["steps"] + 1):
            _ff_step(P, Xb, yb, lr, activation, fwd, ws_train)
            fwd = None
            if t in ck:
                fwd = _ff_forward(P, Xb, activation, ws_train)
                hist.append(_finite_evaluate(task, yb, _ff_forward(P, Xe, activation, ws_eval)[0], fwd[0]))
    return hist


def _join_ff(clean: list, pois: list, seeds: int) -> list:
    """FF's history of the batch of :func:`_finite_setup` (``seeds`` clean copies, then the poisoned
    ones) from one clean copy's history and the poisoned copies' history."""
    return [tuple(np.concatenate([np.repeat(c, seeds), p]) for c, p in zip(hc, hp, strict=True))
            for hc, hp in zip(clean, pois, strict=True)]


def _finite_ff(pre: Pretrained, task: DigitsTask, setup: dict, activation: str) -> list:
    """FF at finite width: all weights of ``2 * seeds`` copies of the pretrained network trained by
    GD on the batch of :func:`_finite_setup`; the evaluations at the checkpoints.  Independent of
    LoRA's rank and variance (one computation per attack, rate and seeds).  The clean copies are
    the same network trained on the same data, so one is trained and repeated."""
    Xb, yb = setup["Xb"], setup["yb"]
    S = Xb.shape[0] // 2
    clean = _finite_ff_run(pre, task, Xb[:1], yb[:1], setup, activation)
    return _join_ff(clean, _finite_ff_run(pre, task, Xb[S:], yb[S:], setup, activation), S)


@functools.lru_cache(maxsize=4)
def _finite_ff_clean_default(activation: str, steps: int) -> list:
    """FF trained on clean data (default network and data), one copy: shared by every attack, rate and seed."""
    pre, task = pretrained_network(0, activation), digits_task()
    setup = _finite_setup(pre, task, "label-flip", np.zeros((1, len(task.y_train)), dtype=bool), steps)
    hist = _finite_ff_run(pre, task, setup["Xb"][:1], setup["yb"][:1], setup, activation)
    for h in hist:
        _readonly(h)
    return hist


@functools.lru_cache(maxsize=16)
def _finite_ff_default(activation: str, attack: str, rate: float, seeds: int, seed: int, steps: int) -> list:
    pre, task = pretrained_network(0, activation), digits_task()
    _, p_rng = _seed_streams(seed, attack, rate)
    masks = poison(attack, task.y_train, rate, p_rng, seeds)
    setup = _finite_setup(pre, task, attack, masks, steps)
    pois = _finite_ff_run(pre, task, setup["Xb"][seeds:], setup["yb"][seeds:], setup, activation)
    hist = _join_ff(_finite_ff_clean_default(activation, steps), pois, seeds)
    for h in hist:
        _readonly(h)
    return hist


def _finite_lora(pre: Pretrained, task: DigitsTask, A: np.ndarray, x1: np.ndarray, base1: np.ndarray, y: np.ndarray,
                 x1e: np.ndarray, base_e: np.ndarray, lr: float, steps: int, ck: list) -> dict:
    """LoRA at finite width: ``(A, B = 0)`` of the middle layer trained by GD on the copies
    ``(x1, base1, y)`` (frozen-layer features, see :class:`_LoraNet`) at ``lr`` ("eta") and at
    ``LR_RATIO * lr`` ("ratio"), as one batch; the evaluations at the checkpoints ``ck``.
    Every copy is computed exactly as it would be alone."""
    C = A.shape[0]
    hist: dict[str, list] = {"eta": [], "ratio": []}
    with np.errstate(over="ignore", invalid="ignore"):
        net = _LoraNet(pre, x1, np.concatenate([A, A]))
        x1b, base_b, y2 = np.concatenate([x1, x1]), np.concatenate([base1, base1]), np.concatenate([y, y])
        lr_copy = np.concatenate([np.full(C, 1.0 * lr), np.full(C, LR_RATIO * lr)])[:, None, None]
        out = None  # the training-set forward of a checkpoint is the next step's forward
        ws_train: dict = {}
        ws_eval: dict = {}
        for t in range(1, steps + 1):
            net.step(x1b, base_b, y2, lr_copy, out, ws_train)
            out = None
            if t in ck:
                out = net.output(x1b, base_b, ws_train)
                fe, ftr = net.output(x1e, base_e, ws_eval)[0], out[0]
                hist["eta"].append(_finite_evaluate(task, y, fe[:C], ftr[:C]))
                hist["ratio"].append(_finite_evaluate(task, y, fe[C:], ftr[C:]))
    return hist


@functools.lru_cache(maxsize=32)
def _finite_lora_clean_default(activation: str, rank: int, variance: float, seeds: int, seed: int, steps: int) -> dict:
    """:func:`_finite_lora` on clean data (default network and data): shared by every attack and rate."""
    pre, task = pretrained_network(0, activation), digits_task()
    a_rng, _ = _seed_streams(seed, "label-flip", 0.0)  # A depends on the seed only
    A = _draw_A(a_rng, seeds, pre.width)[:, :rank, :] * math.sqrt(variance)
    masks = np.zeros((seeds, len(task.y_train)), dtype=bool)
    setup = _finite_setup(pre, task, "label-flip", masks, steps)
    Xc, yc = setup["Xb"][:seeds], setup["yb"][:seeds]
    x1, base1 = _LoraNet(pre, Xc, A).base(Xc)
    x1e, base_e = _LoraNet(pre, setup["X_eval"], A).base(setup["X_eval"])
    hist = _finite_lora(pre, task, A, x1, base1, yc, x1e, base_e, setup["lr"], steps, setup["ck"])
    for h in hist.values():
        for entry in h:
            _readonly(entry)
    return hist


def finite_attack(attack: str, rate: float, rank: int, variance: float, *, seeds: int = 8, seed: int = 0,
                  activation: str = "relu", steps: int = FINITE_STEPS, pre: Pretrained | None = None,
                  task: DigitsTask | None = None) -> AttackRun:
    """FF vs LoRA at finite width: real full-batch GD from the pretrained network (L8, F1-F4).

    FF trains every weight and bias at learning rate $\\eta = 1/\\lambda_{\\max}(K_{FF})$ (of the
    clean training set, stable for GD); LoRA trains $A$ and $B$ at $\\eta$ (``equal-time``) and at
    $10\\eta$ (``lr-ratio``), ``steps`` steps each.  ``matched-clean`` takes each method at the
    first checkpoint where its clean-trained model reaches the clean test accuracy both reach
    (over LoRA's two runs).  Clean and poisoned runs of all seeds train as one batch.
    """
    width = WIDTH if pre is None else pre.width
    attack, rate, rank, variance, seeds, seed = _check_common(attack, rate, rank, variance, seeds, seed, width)
    steps = validate_positive_int(steps, "steps")
    default = pre is None and task is None
    task = task or digits_task()
    pre = pre or pretrained_network(0, activation)
    a_rng, p_rng = _seed_streams(seed, attack, rate)
    A = _draw_A(a_rng, seeds, pre.width)[:, :rank, :] * math.sqrt(variance)
    masks = poison(attack, task.y_train, rate, p_rng, seeds)
    setup = _finite_setup(pre, task, attack, masks, steps)
    Xb, yb, lr, X_eval, ck = setup["Xb"], setup["yb"], setup["lr"], setup["X_eval"], setup["ck"]
    if default:
        ff_hist = _finite_ff_default(activation, attack, rate, seeds, seed, steps)
    else:
        ff_hist = _finite_ff(pre, task, setup, activation)
    # LoRA trains (A, B) at eta and at 10 eta; clean copies do not depend on the attack or its rate
    S = seeds
    x1, base1 = _LoraNet(pre, Xb, A).base(Xb)
    x1e, base_e = _LoraNet(pre, X_eval, A).base(X_eval)
    if default:
        clean = _finite_lora_clean_default(activation, rank, variance, seeds, seed, steps)
    else:
        clean = _finite_lora(pre, task, A, x1[:S], base1[:S], yb[:S], x1e, base_e, lr, steps, ck)
    pois = _finite_lora(pre, task, A, x1[S:], base1[S:], yb[S:], x1e, base_e, lr, steps, ck)
    lora_hist = {name: [tuple(np.concatenate([c, p]) for c, p in zip(hc, hp, strict=True))
                        for hc, hp in zip(clean[name], pois[name], strict=True)] for name in ("eta", "ratio")}

    def stack(hist, i):
        return np.stack([h[i] for h in hist], axis=1)  # (2S, checkpoints)

    def finite(hist):
        return np.all(np.isfinite(stack(hist, 0)), axis=1)

    cf_acc, cf_asr, cf_fit = (stack(ff_hist, i) for i in range(3))
    le_acc, le_asr, le_fit = (stack(lora_hist["eta"], i) for i in range(3))
    lr_acc, lr_asr, lr_fit = (stack(lora_hist["ratio"], i) for i in range(3))
    S = seeds
    last = len(ck) - 1
    # GD blow-up shows as non-finite outputs (NaN predictions would count as wrong): such seeds
    # are marked and left out of every interval, never scored
    bad_e = ~(finite(ff_hist) & finite(lora_hist["eta"]))
    bad_r = bad_e | ~finite(lora_hist["ratio"])
    diverged = {"equal-time": bad_e[:S] | bad_e[S:], "lr-ratio": bad_r[:S] | bad_r[S:],
                "matched-clean": bad_r[:S] | bad_r[S:]}
    # matched-clean: LoRA's checkpoints of the two runs in order of eta*t
    l_order = sorted([(ck[i], 0, i) for i in range(len(ck))] + [(LR_RATIO * ck[i], 1, i) for i in range(len(ck))])
    l_clean = np.stack([(le_acc, lr_acc)[run][:S, i] for _, run, i in l_order], axis=1)
    mf, ml = _matched_index(cf_acc[:S], l_clean)
    ar = np.arange(S)

    def lora_at(run_i, M_eta, M_ratio, half):
        _, run, i = l_order[run_i]
        return (M_eta, M_ratio)[run][half, i]

    ff = {"clean_acc": {}, "attacked_acc": {}, "asr": {}, "train_fit": cf_fit[:S, last]}
    lora = {"clean_acc": {}, "attacked_acc": {}, "asr": {}, "train_fit": np.maximum(le_fit[:S, last], lr_fit[:S, last])}
    cl_, pl_ = slice(0, S), slice(S, 2 * S)
    ff["clean_acc"]["equal-time"] = cf_acc[cl_, last]
    ff["attacked_acc"]["equal-time"] = cf_acc[pl_, last]
    ff["asr"]["equal-time"] = cf_asr[pl_, last]
    for key in ("clean_acc", "attacked_acc", "asr"):
        ff[key]["lr-ratio"] = ff[key]["equal-time"]
    ff["clean_acc"]["matched-clean"] = cf_acc[cl_][ar, mf]
    ff["attacked_acc"]["matched-clean"] = cf_acc[pl_][ar, mf]
    ff["asr"]["matched-clean"] = cf_asr[pl_][ar, mf]
    lora["clean_acc"]["equal-time"] = le_acc[cl_, last]
    lora["attacked_acc"]["equal-time"] = le_acc[pl_, last]
    lora["asr"]["equal-time"] = le_asr[pl_, last]
    lora["clean_acc"]["lr-ratio"] = lr_acc[cl_, last]
    lora["attacked_acc"]["lr-ratio"] = lr_acc[pl_, last]
    lora["asr"]["lr-ratio"] = lr_asr[pl_, last]
    lora["clean_acc"]["matched-clean"] = np.array([lora_at(ml[s], le_acc, lr_acc, s) for s in ar])
    lora["attacked_acc"]["matched-clean"] = np.array([lora_at(ml[s], le_acc, lr_acc, S + s) for s in ar])
    lora["asr"]["matched-clean"] = np.array([lora_at(ml[s], le_asr, lr_asr, S + s) for s in ar])
    return AttackRun(attack, rate, rank, variance, "finite", pre.activation, seeds, seed, ff, lora, FINITE_READINGS,
                     diverged)

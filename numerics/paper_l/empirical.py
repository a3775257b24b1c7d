"""Exact empirical NTK Gram matrices of finite fully connected networks, FF and LoRA (L1-L3, L5-L7).

Convention (NTK parameterization, as :func:`numerics.ntk.analytic_ntk`): inputs $x\\in\\mathbb R^d$,
hidden widths $n_1..n_L$, a linear read-out with $k$ outputs, and for layer $l$ with input
$x^{(l-1)}$ of width $n_{l-1}$ ($n_0=d$)

.. math:: h^{(l)} = \\frac{\\sigma_w}{\\sqrt{n_{l-1}}}\\,(W^{(l)} + B^{(l)}A^{(l)})\\,x^{(l-1)} + \\sigma_b\\, b^{(l)},
          \\qquad x^{(l)} = \\phi(h^{(l)}),

with $W, b$ standard normal; the adapter $B^{(l)}A^{(l)}$ is present only on adapted layers
($A\\in\\mathbb R^{r\\times n_{l-1}}$ of variance $\\sigma_a^2$, $B\\in\\mathbb R^{n_l\\times r}$, zero at
initialization or not).  The infinite-width limit of the FF kernel is then
$\\Sigma^{(1)} = \\sigma_w^2 x\\cdot x'/d + \\sigma_b^2$ with the read-out included.

The NTK $K = JJ^T$ is assembled from layer-wise products, never from a materialized
Jacobian: with $\\delta^{(l)} = \\partial f/\\partial h^{(l)}$ (shape ``(N, k, n_l)``),

* full weight $W^{(l)}$: $c_l^2\\,(\\delta\\delta'^T)\\,(x^{(l-1)}\\cdot x'^{(l-1)})$, $c_l=\\sigma_w/\\sqrt{n_{l-1}}$;
* bias: $\\sigma_b^2\\,\\delta\\cdot\\delta'$;
* LoRA $B^{(l)}$: $c_l^2\\,(\\delta\\cdot\\delta')\\,x^T A^TA x'$  (eq. (10): $\\Sigma_{LoRA}$);
* LoRA $A^{(l)}$: $c_l^2\\,(B^T\\delta\\cdot B^T\\delta')\\,(x\\cdot x')$, which vanishes when $B = 0$.

:func:`jacobian` (exact, materialized) and :func:`jacobian_fd` (central differences) are the
references the tests compare against in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lora_theorems.validate import validate_finite, validate_positive_int, validate_rank, validate_variance

from ..backend import asarray, get_xp, to_numpy

__all__ = [
    "ACTIVATIONS",
    "empirical_ntk",
    "flatten_params",
    "gd_train",
    "forward",
    "init_fc_params",
    "jacobian",
    "jacobian_fd",
    "network_output",
    "trainable_names",
    "unflatten_params",
]

ACTIVATIONS = ("relu", "erf")
_TRAIN = ("full", "lora", "frozen")


def _phi(xp: Any, z: Any, activation: str) -> tuple[Any, Any]:
    if activation == "relu":
        return xp.maximum(z, 0.0), (z > 0).astype(z.dtype)
    if activation == "erf":
        if xp is np:
            from scipy.special import erf
        else:  # pragma: no cover - GPU only
            import importlib

            erf = importlib.import_module("cupyx.scipy.special").erf
        return erf(z), (2.0 / math.sqrt(math.pi)) * xp.exp(-z * z)
    raise ValueError(f"unknown activation {activation!r} (choose relu or erf)")


def init_fc_params(
    rng: np.random.Generator,
    d: int,
    widths: Sequence[int],
    out_dim: int = 1,
    *,
    lora_layers: Sequence[int] = (),
    rank: int = 1,
    sigma_a2: float | None = None,
    b_scale: float = 0.0,
) -> list[dict[str, np.ndarray]]:
    """Random parameters of a fully connected network, optionally with LoRA adapters (L1-L3).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of all draws.
    d, widths, out_dim :
        Input dimension, hidden widths ``n_1..n_L`` and read-out dimension ``k``.
    lora_layers :
        Indices (0-based, ``0 .. L`` where ``L`` is the read-out) of the adapted layers.
    rank :
        LoRA rank ``r``; must not exceed the layer's input width.
    sigma_a2 :
        Variance of the entries of ``A`` (default ``1/n_{l-1}``, the authors' choice).
    b_scale :
        Standard deviation of the entries of ``B`` (0: ``B`` starts at zero, as in LoRA).

    Returns
    -------
    list of dict
        One dict per layer with ``W`` (n_out, n_in), ``b`` (n_out,), and on adapted layers
        ``A`` (r, n_in) and ``B`` (n_out, r).
    """
    d = validate_positive_int(d, "d")
    widths = [validate_positive_int(w, "width") for w in widths]
    out_dim = validate_positive_int(out_dim, "out_dim")
    b_scale = validate_variance(b_scale, "b_scale")
    dims = [d] + widths + [out_dim]
    params = []
    for l in range(len(dims) - 1):
        n_in, n_out = dims[l], dims[l + 1]
        layer = {"W": rng.standard_normal((n_out, n_in)), "b": rng.standard_normal(n_out)}
        if l in lora_layers:
            validate_rank(rank, n_in)
            s2 = 1.0 / n_in if sigma_a2 is None else validate_variance(sigma_a2, "sigma_a2")
            layer["A"] = rng.standard_normal((rank, n_in)) * math.sqrt(s2)
            layer["B"] = rng.standard_normal((n_out, rank)) * b_scale
        params.append(layer)
    bad = [l for l in lora_layers if not 0 <= l < len(params)]
    if bad:
        raise ValueError(f"lora_layers {bad} out of range 0..{len(params) - 1}")
    return params


def _right(x: Any, layer: dict, xp: Any) -> Any:
    """``x (W + BA)^T`` as ``x W^T + (x A^T) B^T``: the n x n sum is never formed."""
    out = x @ asarray(layer["W"], xp).T
    if "A" in layer:
        out += (x @ asarray(layer["A"], xp).T) @ asarray(layer["B"], xp).T
    return out


def _left(D: Any, layer: dict, xp: Any) -> Any:
    """``D (W + BA)`` as ``D W + (D B) A``."""
    out = D @ asarray(layer["W"], xp)
    if "A" in layer:
        out += (D @ asarray(layer["B"], xp)) @ asarray(layer["A"], xp)
    return out


def _effective(layer: dict, xp: Any) -> Any:
    W = asarray(layer["W"], xp)
    if "A" in layer:
        W = W + asarray(layer["B"], xp) @ asarray(layer["A"], xp)
    return W


def forward(
    params: Sequence[dict],
    X: Any,
    *,
    activation: str = "relu",
    weight_var: float = 1.0,
    bias_var: float = 0.0,
    backend: str = "numpy",
) -> tuple[list[Any], list[Any], list[Any]]:
    """Forward pass: per layer the input $x^{(l-1)}$, the pre-activation $h^{(l)}$ and $\\phi'(h^{(l)})$.

    Returns arrays of ``backend``'s namespace; the last pre-activation is the output ``(N, k)``.
    """
    xp = get_xp(backend)
    sw = math.sqrt(validate_variance(weight_var, "weight_var"))
    sb = math.sqrt(validate_variance(bias_var, "bias_var"))
    x = asarray(X, xp)
    if x.ndim != 2:
        raise ValueError(f"X must have shape (N, d), got {tuple(x.shape)}")
    validate_finite(x, "X")
    inputs, pre, dphi = [], [], []
    for l, layer in enumerate(params):
        n_in = np.shape(layer["W"])[1]
        if n_in != x.shape[1]:
            raise ValueError(f"layer {l} expects input width {n_in}, got {x.shape[1]}")
        h = (sw / math.sqrt(x.shape[1])) * _right(x, layer, xp) + sb * asarray(layer["b"], xp)
        inputs.append(x)
        pre.append(h)
        if l < len(params) - 1:
            x, dp = _phi(xp, h, activation)
            dphi.append(dp)
    return inputs, pre, dphi


def network_output(params: Sequence[dict], X: Any, **kw: Any) -> np.ndarray:
    """The network output $f(X)$, shape ``(N, k)`` (NumPy)."""
    return to_numpy(forward(params, X, **kw)[1][-1])


def _deltas(params, inputs, pre, dphi, xp, sw):
    """$\\delta^{(l)} = \\partial f / \\partial h^{(l)}$ for all layers, shape ``(N, k, n_l)``.

    $\\delta^{(l-1)} = c_l\\,(\\delta^{(l)} W^{(l)})\\odot\\phi'(h^{(l-1)})$ is one GEMM over the stacked
    ``(N k, n_l)`` rows, not ``N`` matrix-vector products; ``W + BA`` is applied in factors.
    """
    N = inputs[0].shape[0]
    k = pre[-1].shape[1]
    out = [None] * len(params)
    out[-1] = xp.broadcast_to(xp.eye(k), (N, k, k))
    D = None  # None: the identity of the read-out
    for l in range(len(params) - 1, 0, -1):
        n_in = np.shape(params[l]["W"])[1]
        c = sw / math.sqrt(n_in)
        if D is None:
            DW = xp.broadcast_to(_effective(params[l], xp), (N, k, n_in))  # k x n_in: small
        else:
            DW = _left(D.reshape(N * k, D.shape[2]), params[l], xp).reshape(N, k, n_in)
        D = (c * DW) * dphi[l - 1][:, None, :]
        out[l - 1] = D
    return out


def _gram(D, xp):
    """$(\\delta\\delta'^T)$ as ``(N, k, N, k)``: one (symmetric) GEMM of the stacked rows."""
    N, k, n = D.shape
    Dm = xp.ascontiguousarray(D.reshape(N * k, n))
    return (Dm @ Dm.T).reshape(N, k, N, k)


def _train_modes(params: Sequence[dict], mode: str | Sequence[str]) -> list[str]:
    if isinstance(mode, str):
        if mode == "ff":
            return ["full"] * len(params)
        if mode == "lora":
            return ["lora" if "A" in p else "frozen" for p in params]
        raise ValueError(f"unknown mode {mode!r} (choose ff, lora, or a per-layer sequence)")
    modes = list(mode)
    if len(modes) != len(params):
        raise ValueError(f"need one training mode per layer ({len(params)}), got {len(modes)}")
    for l, m in enumerate(modes):
        if m not in _TRAIN:
            raise ValueError(f"unknown training mode {m!r} for layer {l} (choose {', '.join(_TRAIN)})")
        if m == "lora" and "A" not in params[l]:
            raise ValueError(f"layer {l} has no LoRA adapter")
    return modes


def trainable_names(params: Sequence[dict], mode: str | Sequence[str] = "ff") -> list[tuple[int, str]]:
    """The trained parameter blocks ``(layer, name)`` in Jacobian column order."""
    out = []
    for l, m in enumerate(_train_modes(params, mode)):
        if m == "full":
            out += [(l, "W"), (l, "b")]
        elif m == "lora":
            out += [(l, "A"), (l, "B")]
    return out


def empirical_ntk(
    params: Sequence[dict],
    X: Any,
    *,
    mode: str | Sequence[str] = "ff",
    activation: str = "relu",
    weight_var: float = 1.0,
    bias_var: float = 0.0,
    per_layer: bool = False,
    backend: str = "numpy",
) -> Any:
    """Exact empirical NTK Gram matrix $K = J J^T$ of a finite network (claims L1-L3, eq. (8)-(11)).

    Parameters
    ----------
    params : list of dict
        As made by :func:`init_fc_params` (``W``, ``b`` and, on adapted layers, ``A``, ``B``).
    X : array, shape (N, d)
        Inputs.
    mode : {"ff", "lora"} or sequence of {"full", "lora", "frozen"}
        Which parameters are trained: ``"ff"`` all ``W`` and ``b``; ``"lora"`` the ``A`` and ``B``
        of adapted layers only (everything else frozen); or one mode per layer.
    activation, weight_var, bias_var :
        $\\phi\\in\\{$relu, erf$\\}$, $\\sigma_w^2$, $\\sigma_b^2$ of the NTK parameterization.
    per_layer : bool
        Also return the list of each layer's contribution.
    backend : {"numpy", "cupy"}

    Returns
    -------
    numpy.ndarray
        ``(N*k, N*k)`` Gram matrix, rows ordered (sample, output); ``(N, N)`` for ``k = 1``.
        With ``per_layer``, the pair ``(K, [K_l ...])``.
    """
    xp = get_xp(backend)
    modes = _train_modes(params, mode)
    sw = math.sqrt(validate_variance(weight_var, "weight_var"))
    inputs, pre, dphi = forward(params, X, activation=activation, weight_var=weight_var, bias_var=bias_var, backend=backend)
    deltas = _deltas(params, inputs, pre, dphi, xp, sw)
    N, k = pre[-1].shape
    parts = []
    for l, (m, layer) in enumerate(zip(modes, params, strict=True)):
        D, x = deltas[l], inputs[l]
        c2 = sw * sw / x.shape[1]
        if m == "full":
            DD = _gram(D, xp)
            K = DD * (c2 * (x @ x.T))[:, None, :, None]
            if bias_var:
                K += bias_var * DD
        elif m == "lora":
            A, B = asarray(layer["A"], xp), asarray(layer["B"], xp)
            xa = x @ A.T
            K = _gram(D, xp) * (c2 * (xa @ xa.T))[:, None, :, None]
            DB = (xp.ascontiguousarray(D.reshape(N * k, D.shape[2])) @ B).reshape(N, k, B.shape[1])  # one GEMM
            K += _gram(DB, xp) * (c2 * (x @ x.T))[:, None, :, None]
        else:
            K = xp.zeros((N, k, N, k))
        parts.append(to_numpy(K.reshape(N * k, N * k)))
    total = parts[0]
    for P in parts[1:]:
        total = total + P
    return (total, parts) if per_layer else total


def jacobian(
    params: Sequence[dict],
    X: Any,
    *,
    mode: str | Sequence[str] = "ff",
    activation: str = "relu",
    weight_var: float = 1.0,
    bias_var: float = 0.0,
) -> np.ndarray:
    """Reference: the materialized Jacobian $J = \\partial f/\\partial\\theta$, shape ``(N*k, P)`` (L6).

    Columns follow :func:`trainable_names` and, within a block, C order of the parameter.
    """
    sw = math.sqrt(validate_variance(weight_var, "weight_var"))
    inputs, pre, dphi = forward(params, X, activation=activation, weight_var=weight_var, bias_var=bias_var)
    deltas = _deltas(params, inputs, pre, dphi, np, sw)
    N, k = pre[-1].shape
    cols = []
    for l, name in trainable_names(params, mode):
        D, x = deltas[l], inputs[l]
        c = sw / math.sqrt(x.shape[1])
        if name == "W":
            blk = c * np.einsum("aip,aq->aipq", D, x)
        elif name == "b":
            blk = math.sqrt(bias_var) * D
        elif name == "B":
            blk = c * np.einsum("aip,aq->aipq", D, x @ np.asarray(params[l]["A"]).T)
        else:  # "A"
            blk = c * np.einsum("aip,aq->aipq", D @ np.asarray(params[l]["B"]), x)
        cols.append(blk.reshape(N * k, -1))
    return np.concatenate(cols, axis=1)


def flatten_params(params: Sequence[dict], mode: str | Sequence[str] = "ff") -> np.ndarray:
    """The trained parameters as one vector, in :func:`jacobian` column order."""
    return np.concatenate([np.asarray(params[l][nm], dtype=np.float64).ravel() for l, nm in trainable_names(params, mode)])


def unflatten_params(params: Sequence[dict], theta: np.ndarray, mode: str | Sequence[str] = "ff") -> list[dict]:
    """A copy of ``params`` with the trained blocks replaced by the entries of ``theta``."""
    out = [dict(p) for p in params]
    i = 0
    for l, nm in trainable_names(params, mode):
        shape = np.shape(params[l][nm])
        size = int(np.prod(shape))
        out[l][nm] = np.asarray(theta[i : i + size]).reshape(shape)
        i += size
    if i != len(theta):
        raise ValueError(f"theta has {len(theta)} entries, the trained parameters {i}")
    return out


def jacobian_fd(
    params: Sequence[dict],
    X: Any,
    *,
    mode: str | Sequence[str] = "ff",
    step: float = 1e-6,
    **kw: Any,
) -> np.ndarray:
    """Reference: central finite-difference Jacobian (float64), same layout as :func:`jacobian`.

    Truncation error $O(h^2)$ and rounding $O(\\epsilon/h)$: with $h=10^{-6}$ about $10^{-10}$
    relative for smooth activations (ReLU: exact unless a pre-activation lies within $h$ of 0).
    """
    theta = flatten_params(params, mode)
    cols = []
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = step
        fp = network_output(unflatten_params(params, theta + e, mode), X, **kw)
        fm = network_output(unflatten_params(params, theta - e, mode), X, **kw)
        cols.append(((fp - fm) / (2 * step)).ravel())
    return np.stack(cols, axis=1)


def gd_train(
    params: Sequence[dict],
    X: Any,
    y: Any,
    *,
    lr: float,
    steps: int,
    activation: str = "relu",
    weight_var: float = 1.0,
    bias_var: float = 0.0,
) -> list[dict]:
    """Full-batch gradient descent on $\\tfrac12\\sum_a\\|f(x_a)-y_a\\|^2$ over all ``W``, ``b`` (claim L1).

    Gradients come from the same layer-wise products as :func:`empirical_ntk`
    ($\\partial\\mathcal L/\\partial W^{(l)} = c_l\\sum_a \\delta_a^{(l)T} r_a\\, x_a^{(l-1)T}$ with residual $r_a$).
    Returns the trained copy; ``params`` is not modified.
    """
    steps = validate_positive_int(steps, "steps")
    lr = validate_variance(lr, "lr", allow_zero=False)
    sw = math.sqrt(validate_variance(weight_var, "weight_var"))
    sb = math.sqrt(validate_variance(bias_var, "bias_var"))
    p = [{k: np.array(v, dtype=np.float64) for k, v in layer.items()} for layer in params]
    y = np.asarray(y, dtype=np.float64)
    for _ in range(steps):
        inputs, pre, dphi = forward(p, X, activation=activation, weight_var=weight_var, bias_var=bias_var)
        deltas = _deltas(p, inputs, pre, dphi, np, sw)
        res = pre[-1] - y.reshape(pre[-1].shape)  # (N, k)
        for l, layer in enumerate(p):
            g = np.einsum("ai,aip->ap", res, deltas[l])  # dL/dh^(l) per sample
            c = sw / math.sqrt(inputs[l].shape[1])
            layer["W"] -= lr * c * (g.T @ inputs[l])
            layer["b"] -= lr * sb * g.sum(axis=0)
    return p

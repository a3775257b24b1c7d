"""L8: attack objectives (poster eq. 3-4) and the paper's practical findings.

The objectives are checked in the form the paper's analysis uses them: the gradient inner
product of eq. (3)-(4) is a loss-weighted entry of the (empirical) NTK, so the FF and LoRA
objectives differ only through their kernels (L2-L3).  The practical findings (BERT-large on
GLUE) need model weights and data sets this toolkit cannot download: that reading has no
decisive check, so by the ledger's rule the claim stays ``open``.
"""

from lora_theorems.checks import CheckContext, Outcome, check
from lora_theorems.ledger import Claim, EvidenceKind, Formalization, Table

CLAIM = Claim(
    id="L8",
    paper="L",
    title="Attack objectives and practical findings",
    source="poster, eq. (3)-(4) and 'Summary of Findings'; paper Section 5 (BERT-large, GLUE)",
    statement=(
        r"Untargeted poisoning maximizes $|\nabla_\theta\mathcal L(x_c)^T\nabla_\theta\mathcal L(x_u)|$ "
        r"(eq. 3); backdoor poisoning minimizes $|\nabla_\theta\mathcal L(x_c)^T\nabla_\theta\mathcal L(x_t)|$ "
        r"(eq. 4). LoRA is more vulnerable than full fine-tuning to untargeted poisoning and more "
        r"robust to backdoors; lower rank is more backdoor-robust; a small initialization variance "
        r"of $A$ improves training-time robustness."
    ),
    hypotheses=("BERT-large on GLUE, rank 8 (the paper's experiments)",),
    formalizations=(
        Formalization(
            key="objective-is-weighted-ntk",
            level="finite-width",
            statement=(
                r"For any network $f_\theta$ with $k$ outputs and a loss $\ell(f, y)$, "
                r"$\nabla_\theta\mathcal L(x_c)^T\nabla_\theta\mathcal L(x_u) = "
                r"\nabla_f\ell(x_c)^T\,K(x_c, x_u)\,\nabla_f\ell(x_u)$ with $K$ the empirical NTK "
                r"($k\times k$ block) of the trained parameters: FF uses $K_{ff}$, LoRA $K_{LoRA}$."
            ),
            covers="eq. (3)-(4): the objectives as kernel quantities (the link to L2-L3)",
        ),
        Formalization(
            key="empirical-findings",
            level="experiment",
            statement=(
                "The reported accuracies (label-flip at rate 0.3: LoRA 2-4 points below FF on "
                "CoLA/QNLI/QQP; backdoor at 0.15% on SST-2: LoRA .917 vs FF .543) are reproducible."
            ),
            covers="the practical findings; not checkable without the models and data (stays open)",
        ),
    ),
    notes=(
        "Reproducing the BERT-large experiments needs model weights and data sets this toolkit "
        "cannot download; the claim stays open until a check runs them."
    ),
)


@check("objective-is-weighted-ntk", kind=EvidenceKind.NUMERIC)
def objective_as_weighted_ntk(ctx: CheckContext) -> Outcome:
    """L8, eq. (3)-(4): gradient inner products equal loss-weighted NTK entries (FF and LoRA).

    Computed two independent ways on random networks: (a) the materialized parameter
    gradients of the loss (``numerics.empirical.jacobian``), their inner product; (b) the
    layer-wise empirical NTK (``numerics.empirical.empirical_ntk``) weighted by the loss
    gradients in the output.  MSE ($\\nabla_f\\ell = f - y$) and softmax cross-entropy
    ($\\nabla_f\\ell = p - y$).
    """
    import numpy as np

    from lora_theorems.numerics.empirical import empirical_ntk, init_fc_params, jacobian, network_output

    trials = ctx.pick(12, 60)
    worst = np.inf
    rows = []
    eps = np.finfo(np.float64).eps
    for t in range(trials):
        k = (1, 3)[t % 2]
        loss = "mse" if k == 1 else "cross-entropy"
        d = int(ctx.rng.integers(2, 6))
        widths = [int(ctx.rng.integers(3, 12)) for _ in range(int(ctx.rng.integers(1, 3)))]
        L = len(widths)
        lora_layer = int(ctx.rng.integers(0, L + 1))
        n_in = ([d] + widths)[lora_layer]
        rank = int(ctx.rng.integers(1, n_in + 1))
        b_scale = (0.0, 0.5)[(t // 2) % 2]
        act = ("relu", "erf")[(t // 4) % 2]
        params = init_fc_params(ctx.rng, d, widths, k, lora_layers=(lora_layer,), rank=rank, b_scale=b_scale)
        X = ctx.rng.standard_normal((2, d))
        f = network_output(params, X, activation=act, bias_var=0.1)
        if loss == "mse":
            y = ctx.rng.standard_normal((2, k))
            g_out = f - y
        else:
            p = np.exp(f - f.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            y = np.eye(k)[ctx.rng.integers(0, k, size=2)]
            g_out = p - y
        for mode in ("ff", "lora"):
            J = jacobian(params, X, mode=mode, activation=act, bias_var=0.1).reshape(2, k, -1)
            grads = np.einsum("ai,aip->ap", g_out, J)  # (a): parameter gradients of the loss
            direct = float(grads[0] @ grads[1])
            K = empirical_ntk(params, X, mode=mode, activation=act, bias_var=0.1).reshape(2, k, 2, k)
            via_kernel = float(g_out[0] @ K[0, :, 1, :] @ g_out[1])  # (b)
            # Both sides are sums of P products; float64 rounding is at most ~P*eps times the
            # Cauchy-Schwarz scale |g_c||g_u|, so 8*P*eps of that scale is a safe bound.
            scale = float(np.linalg.norm(grads[0]) * np.linalg.norm(grads[1])) or 1.0
            bound = 8 * J.shape[-1] * eps
            margin = bound - abs(direct - via_kernel) / scale
            worst = min(worst, margin)
            rows.append((t, loss, act, mode, f"{d}-{'-'.join(map(str, widths))}-{k}", lora_layer, rank, b_scale, direct, via_kernel))
            if margin < 0:
                return Outcome(
                    passed=False,
                    summary=f"trial {t} ({mode}, {loss}): gradient product {direct:.6g} != kernel form {via_kernel:.6g}",
                    worst_margin=margin,
                    counterexample={"params": [{k2: v.tolist() for k2, v in layer.items()} for layer in params],
                                    "X": X.tolist(), "y": y.tolist(), "activation": act, "mode": mode,
                                    "bias_var": 0.1, "direct": direct, "via_kernel": via_kernel},
                )
    return Outcome(
        passed=True,
        summary=(
            f"{len(rows)} network/loss/mode cases: the gradient inner product of eq. (3)-(4) equals "
            f"the loss-weighted NTK entry within float64 rounding (FF and LoRA, B = 0 and B != 0)"
        ),
        params={"trials": trials, "bias_var": 0.1, "inputs": 2},
        region={"d": "2..5", "hidden layers": "1..2", "width": "3..11", "rank": "1..n_in",
                "B scale": [0.0, 0.5], "activation": ["relu", "erf"], "loss": ["mse", "cross-entropy"]},
        worst_margin=worst,
        tables=(Table(
            title="Gradient inner product vs loss-weighted NTK (first 8 cases)",
            columns=("trial", "loss", "activation", "mode", "architecture", "LoRA layer", "rank", "B scale",
                     "grad product", "kernel form"),
            rows=tuple(rows[:8]),
        ),),
    )

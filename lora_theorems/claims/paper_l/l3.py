"""L3: the NTK relation between full fine-tuning and LoRA (poster eq. 11).

Derivation: :mod:`lora_theorems.proofs.paper_l.lora_kernel` (explicit symbolic networks, exact).

Reading. The poster speaks of "an l-layer ANN" in which the two networks differ "at the
l-th layer", i.e. the kernel of the output of the adapted layer itself, the last layer of
that l-layer network. That is the as-written reading, and there eq. (11) holds exactly, at
every width, at ``B = 0`` with only that layer differing. Nothing in the words places the
adapted layer *inside* a deeper network; doing so is an extension beyond the claim, kept
here as a clearly labelled finding: for a deeper network's output the difference carries
the back-propagation factor ``delta(x).delta(x')`` (and keeps its sign, by the Schur
product theorem). It is shown in the report and does not decide the verdict.
"""

from lora_theorems.checks import CheckContext, Outcome, check
from lora_theorems.ledger import FINDING, Claim, EvidenceKind, Formalization

CLAIM = Claim(
    id="L3",
    paper="L",
    title="NTK relation between FF and LoRA",
    source="poster, Theorem (NTK Relationship between FF and LoRA), eq. (11)",
    statement=(
        r"$K^{(l)}_{LoRA} = K^{(l)}_{ff} + \Delta^{(l)}_r$, "
        r"$\Delta^{(l)}_r = \sigma(y^{(l-1)}(x))^T (A^{(l)T}A^{(l)} - I)\,\sigma(y^{(l-1)}(x'))$; "
        r"its kernel matrix is $M^{(l)}_\Delta = A^{(l)T}A^{(l)} - I$."
    ),
    hypotheses=(
        "infinite width",
        "an $l$-layer network; the two networks differ only at the $l$-th layer (full paper)",
        "$B^{(l)} = 0$ at initialization",
    ),
    formalizations=(
        Formalization(
            key="one-layer-difference",
            level="layer",
            statement=(
                r"If the FF and LoRA networks share all layers but $l$ (layers $<l$ trained alike), where FF "
                r"trains $W^{(l)}$ and LoRA trains $(A^{(l)}, B^{(l)})$ at $B^{(l)}=0$, then the NTKs of the "
                r"output of layer $l$ (the last layer of the $l$-layer network) differ by exactly "
                r"$I_{n_l}\otimes h^T(A^TA - I)h'$, $h = \sigma(y^{(l-1)})$, at every width (unnormalized sums, "
                r"as in eq. (9))."
            ),
            covers="eq. (11) at 'the l-th layer' of an l-layer network, with the one-layer assumption explicit",
        ),
        Formalization(
            key="hidden-layer",
            level="kernel",
            reading=FINDING,
            statement=(
                r"Extension beyond the words (layer $l$ hidden inside a deeper network, the kernel entering the "
                r"Fisher information of L6-L7): eq. (11) does not carry over unchanged. One-layer difference at "
                r"layer $l$, $B=0$: $K_{LoRA}(x,x') - K_{ff}(x,x') = "
                r"\big(\delta^{(l)}(x)\cdot\delta^{(l)}(x')\big)\,h^T(A^TA - I)h'$ exactly, with "
                r"$\delta^{(l)} = \partial F/\partial y^{(l)}$ (in the infinite-width limit "
                r"$\delta\cdot\delta'\to\prod_{k>l}\dot\Sigma^{(k)}$); e.g. with ReLU, one unit a layer and $v=2$, "
                r"the difference is $-4$ where $\Delta_r = -1$. The Gram matrix of the difference is negative "
                r"semi-definite whenever $A^TA - I\preceq0$ (Schur product theorem). For $B\ne0$ the layer-output "
                r"difference gains $BB^T\,(h\cdot h')$."
            ),
            covers="eq. (11) carried to a hidden adapted layer and to $B\\ne0$ (not what the words say)",
        ),
    ),
)


@check("one-layer-difference", kind=EvidenceKind.SYMBOLIC)
def lora_minus_ff_layer_output(ctx: CheckContext) -> Outcome:
    """L3 eq. (11) at the output of the adapted layer: K_LoRA - K_ff = I (x) h^T(A^TA - I)h',
    exactly, on an explicit two-layer network (d=2, n1=3, n2=2, r=2, generic phi, B=0)."""
    from lora_theorems.proofs.paper_l.lora_kernel import lora_difference_derivation

    d = lora_difference_derivation()
    ok = d.verified("layer-output-B0")
    return Outcome(
        passed=ok,
        summary=(
            "exact at every width: K_LoRA^(l) - K_ff^(l) = I (x) h^T (A^T A - I) h' at B = 0 (one-layer difference)"
            if ok
            else "the exact layer-output identity failed"
        ),
        params={"network": "d=2, n1=3, n2=2, r=2, generic phi, symbolic weights"},
        region={"B": 0, "layers differing": 1},
        counterexample=None if ok else {"failed_steps": d.failed_steps()},
        derivations=(d,),
    )


@check("hidden-layer", kind=EvidenceKind.SYMBOLIC)
def lora_minus_ff_hidden_instance(ctx: CheckContext) -> Outcome:
    """L3 extension (finding): with the adapted layer hidden, eq. (11)'s Delta_r alone is not the
    NTK difference; a plain-number ReLU instance shows the missing factor delta.delta'."""
    from lora_theorems.proofs.paper_l.lora_kernel import hidden_layer_counterexample

    ce = hidden_layer_counterexample()
    differs = ce["K_lora_minus_K_ff"] != ce["Delta_r_eq11"]
    factor = ce["K_lora_minus_K_ff"] == ce["delta_dot_delta_prime"] * ce["Delta_r_eq11"]
    ok = bool(differs and factor)
    return Outcome(
        passed=ok,
        summary=(
            f"with layer l hidden, K_LoRA - K_ff = {ce['K_lora_minus_K_ff']} while Delta_r = {ce['Delta_r_eq11']}: "
            f"the factor delta.delta' = {ce['delta_dot_delta_prime']} is "
            + ("needed and sufficient" if ok else "not what the instance shows")
        ),
        params={"network": ce["network"], "instance": ce},
        region={"layers": 3, "adapted": "the hidden layer"},
        counterexample=None if ok else ce,
    )


@check("hidden-layer", kind=EvidenceKind.SYMBOLIC)
def lora_minus_ff_backprop_factor(ctx: CheckContext) -> Outcome:
    """L3 extension (finding): the back-propagation factor (exact, generic phi) and the B != 0 term
    (exact), on explicit symbolic networks; the plain-number instance agrees with it."""
    from lora_theorems.proofs.paper_l.lora_kernel import hidden_layer_counterexample, lora_difference_derivation

    d = lora_difference_derivation()
    ce = hidden_layer_counterexample()
    ok = d.verified("layer-output-B0", "layer-output-B-nonzero", "hidden-layer-factor", "relu-instance") and (
        ce["K_lora_minus_K_ff"] == ce["delta_dot_delta_prime"] * ce["Delta_r_eq11"]
    )
    return Outcome(
        passed=ok,
        summary=(
            "K_LoRA - K_ff = (delta.delta') Delta_r exactly (B=0), + B B^T (h.h') for B != 0 at the layer output"
            if ok
            else "the extended identity failed"
        ),
        params={"network": "d=2, n1=3, n2=2, r=2, head F = v^T phi(y2), generic phi"},
        region={"B": "0 and symbolic"},
        counterexample=None if ok else {"failed_steps": d.failed_steps()},
    )


@check("hidden-layer", kind=EvidenceKind.NUMERIC)
def lora_minus_ff_schur_sign(ctx: CheckContext) -> Outcome:
    """L3 extension (sign): for random PSD back-propagation Gram matrices D = [delta_i.delta_j]
    and random A with ||A||_2 <= 1, the Gram matrix D o [h_i^T (A^TA - I) h_j] is negative
    semi-definite (Schur product theorem).  Tolerance: eigenvalues <= 64 * eps * ||.||_F."""
    import numpy as np

    rng = ctx.rng
    trials = ctx.pick(200, 2000)
    eps = np.finfo(float).eps
    worst = -np.inf
    worst_case = None
    for _ in range(trials):
        N = int(rng.integers(2, 7))
        n = int(rng.integers(1, 9))
        r = int(rng.integers(1, n + 1))
        m = int(rng.integers(1, 6))
        A = rng.standard_normal((r, n))
        A /= max(float(np.linalg.norm(A, 2)), 1e-300) * rng.uniform(1.0, 3.0)  # ||A||_2 in [1/3, 1]
        H = rng.standard_normal((N, n))
        Dl = rng.standard_normal((N, m))
        G = (Dl @ Dl.T) * (H @ (A.T @ A - np.eye(n)) @ H.T)
        lam = np.linalg.eigvalsh(0.5 * (G + G.T)).max()
        margin = lam / max(float(np.linalg.norm(G)), 1e-300)
        if not margin <= worst:  # NaN counts as the worst case
            worst = margin
            worst_case = {"A": A.tolist(), "H": H.tolist(), "delta": Dl.tolist(), "max_eigenvalue": float(lam)}
    tol = 64 * eps
    ok = bool(worst <= tol)
    return Outcome(
        passed=ok,
        summary=f"{trials} random cases: largest eigenvalue / ||G||_F = {worst:.2e} (need <= {tol:.1e})",
        params={"trials": trials, "tolerance": tol},
        region={"N": "2-6", "n": "1-8", "r": "1..n", "||A||_2": "[1/3, 1]"},
        worst_margin=float(tol - worst),
        counterexample=None if ok else worst_case,
    )

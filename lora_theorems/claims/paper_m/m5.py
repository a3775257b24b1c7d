"""M5: Johnson-Lindenstrauss with clipping: DP fine-tuning with a fixed noise scale."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="M5",
    paper="M",
    title="Johnson-Lindenstrauss with clipping",
    source="abstract",
    statement=(
        "Using the Johnson-Lindenstrauss lemma, when augmented with gradient clipping, low-rank "
        "adaptation is almost equivalent to differentially private full fine-tuning of the adapters "
        "with a fixed noise scale."
    ),
    hypotheses=(r"per-example gradients clipped to norm $C$", r"$A$ i.i.d. $\mathcal N(0,1/r)$"),
    formalizations=(
        Formalization(
            key="jl-distortion",
            level="row",
            statement=(
                r"For $x\in\mathbb R^n$, $\Pr[|\|Ax\|^2 - \|x\|^2| > \epsilon\|x\|^2] \le 2e^{-r(\epsilon^2-\epsilon^3)/4}$."
            ),
            covers="the JL step",
        ),
    ),
)

"""M1: low-rank adaptation as full fine-tuning plus random noise."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="M1",
    paper="M",
    title="LoRA gradient = full fine-tuning gradient + noise",
    source="abstract",
    statement=(
        "The low-rank adaptation used in LoRA and FLoRA is equivalent to injecting some random "
        "noise into the batch gradients w.r.t. the adapter parameters coming from their full "
        "fine-tuning."
    ),
    hypotheses=(
        r"$W = W_0 + BA$, $A\in\mathbb R^{r\times n}$ i.i.d. $\mathcal N(0,1/r)$, $B=0$ at start",
        "LoRA-FA: $A$ frozen; FLoRA: $A$ resampled every few steps; LoRA: both trained",
    ),
    formalizations=(
        Formalization(
            key="lora-fa-update",
            level="matrix",
            statement=(
                r"With $A$ frozen, one step on $B$ changes $W$ by $-\eta\,G A^TA$, i.e. the full "
                r"fine-tuning update $-\eta G$ plus the noise $-\eta\,G(A^TA - I)$, whose mean is 0."
            ),
            covers="LoRA-FA / FLoRA single-step equivalence",
        ),
    ),
)

"""L5: ideal full-rank adaptation [Corollary 3.5]."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="L5",
    paper="L",
    title="Ideal full-rank adaptation",
    source="poster, Corollary (Ideal Full Rank Adaptation); paper Corollary 3.5",
    statement=(
        r"When $n_{l-1}\to\infty$, $M^{(l)}_\Delta$ strictly converges to 0, i.e. "
        r"$K^{(l)}_{LoRA}(x,x)\equiv K^{(l)}_{ff}(x,x)$ if $r = n_{l-1}$ and "
        r"$\sigma_a^2 = 1/n_{l-1}$."
    ),
    hypotheses=(r"$r = n$", r"$\sigma_a^2 = 1/n$", r"$n\to\infty$"),
    formalizations=(
        Formalization(
            key="operator-norm",
            level="layer",
            statement=(
                r"With $A\in\mathbb R^{n\times n}$ i.i.d. $\mathcal N(0, 1/n)$, "
                r"$\|A^TA - I\|_{op}\to 0$ as $n\to\infty$ (in probability)."
            ),
            covers="'$M_\\Delta$ strictly converges to 0'",
        ),
        Formalization(
            key="kernel-difference",
            level="kernel",
            statement=(
                r"For fixed inputs, $\Delta_r(x,x) = h(x)^T(A^TA - I)h(x)$ normalized by "
                r"$\|h(x)\|^2$ tends to 0 as $n\to\infty$."
            ),
            covers="'$K_{LoRA}(x,x)\\equiv K_{ff}(x,x)$'",
        ),
    ),
)

"""M2: the variance of the injected noise and its decrease with the rank."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="M2",
    paper="M",
    title="Noise variance, decreasing in the rank",
    source="abstract ('we quantify the variance of the injected noise')",
    statement=(
        "The variance of the injected noise is quantified; it is a decreasing function of the rank $r$."
    ),
    hypotheses=(r"$A$ i.i.d. $\mathcal N(0,1/r)$", r"noise $N = G(A^TA - I)$"),
    formalizations=(
        Formalization(
            key="entrywise-variance",
            level="coordinate",
            statement=(
                r"$\mathbb E[N] = 0$ and $\operatorname{Var}(N_{ij}) = \frac{1}{r}"
                r"\left(\|G_{i\cdot}\|^2 + G_{ij}^2\right)$, strictly decreasing in $r$."
            ),
            covers="'quantify the variance', 'decreasing in r'",
        ),
    ),
)

"""M3: a Berry-Esseen bound on the distance between the noise and a Gaussian."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="M3",
    paper="M",
    title="Berry-Esseen bound: noise close to Gaussian",
    source="abstract",
    statement=(
        "A Berry-Esseen type bound on the total variation distance between the noise distribution "
        "and a Gaussian distribution with the same variance."
    ),
    hypotheses=(r"$A$ i.i.d. $\mathcal N(0,1/r)$", r"noise $N = G(A^TA - I)$"),
    formalizations=(
        Formalization(
            key="coordinate-kolmogorov",
            level="coordinate",
            statement=(
                r"For one coordinate $N_{ij}$, the Kolmogorov distance to $\mathcal N(0,\operatorname{Var}N_{ij})$ "
                r"is at most $C\rho/(\sigma^3\sqrt r)$ (Berry-Esseen, $C = 0.4748$)."
            ),
            covers="Berry-Esseen per coordinate",
        ),
    ),
)

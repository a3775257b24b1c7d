"""L4: negative semi-definiteness of $M_\\Delta = A^TA - I$ (poster Theorem).
Exact eigen-structure: :mod:`proofs`; sweeps: :mod:`numerics`."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="L4",
    paper="L",
    title="Negative semi-definiteness of M_Delta",
    source="poster, Theorem ($M_\\Delta^{(l)}$'s Negative Semi-Definiteness)",
    statement=(
        r"When $A^{(l)}\in\mathbb R^{r\times n_{l-1}}$ is initialized with variance $\sigma_a^2$, "
        r"$\sigma_a^2 < 1/n_{l-1}$, and $r\le n_{l-1}$, then $M^{(l)}_\Delta$ is a negative "
        r"semi-definite matrix, with $r$ eigenvalues equal to $\sigma_a^2 n_{l-1}$ and $n_l - r$ "
        r"eigenvalues equal to 0."
    ),
    hypotheses=(
        r"$A\in\mathbb R^{r\times n}$ with i.i.d. entries of mean 0 and variance $\sigma_a^2$",
        r"$\sigma_a^2 < 1/n$",
        r"$1\le r\le n$",
    ),
    formalizations=(
        Formalization(
            key="nsd-almost-surely",
            level="layer",
            statement=(
                r"For every $n$, every $1\le r\le n$ and every $0<\sigma_a^2<1/n$, a random "
                r"$A$ with i.i.d. $\mathcal N(0,\sigma_a^2)$ entries gives $A^TA - I \preceq 0$ "
                r"(almost surely)."
            ),
            covers="'$M_\\Delta$ is a negative semi-definite matrix' under the stated hypotheses",
        ),
        Formalization(
            key="eigenvalues-as-stated",
            level="layer",
            statement=(
                r"The eigenvalues of $A^TA - I$ are $\sigma_a^2 n$ with multiplicity $r$ and $0$ "
                r"with multiplicity $n - r$."
            ),
            covers="'with $r$ eigenvalues equal to $\\sigma_a^2 n$ and $n_l - r$ eigenvalues equal to 0'",
        ),
    ),
)

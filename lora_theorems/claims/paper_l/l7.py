"""L7: information bits and Renyi entropy [Theorem 3.6] (poster eq. 6-7)."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="L7",
    paper="L",
    title="Information bits and Renyi entropy: FF >= LoRA",
    source="poster, Theorem ($IB_{ff}\\ge IB_{LoRA}$ & $H_{\\alpha ff}\\ge H_{\\alpha LoRA}$), eq. (6)-(7); paper Theorem 3.6",
    statement=(
        r"With $\lambda_i$ the eigenvalues of $I_\theta$: "
        r"$IB = \tfrac12\log\det_{pseudo} I_\theta = \tfrac12\sum_{\lambda_i>0}\lambda_i$, "
        r"$H_\alpha = \frac{1}{1-\alpha}\log\sum_i\lambda_i^\alpha$, $H_1$ Shannon, "
        r"$H_\infty = \max_i\lambda_i$. Claim: $IB_{ff}\ge IB_{LoRA}$ and "
        r"$H_{\alpha,ff}\ge H_{\alpha,LoRA}$ whenever $M_\Delta$ is negative semi-definite, i.e. "
        r"$r\le n_{l-1}$ and $\sigma^2\le 1/n_{l-1}$."
    ),
    hypotheses=(r"$M_\Delta \preceq 0$", r"$r\le n$", r"$\sigma_a^2\le 1/n$", r"$\alpha\ge 0$"),
    formalizations=(
        Formalization(
            key="ib-log-pdet",
            level="layer",
            statement=(
                r"If $A^TA \preceq I$ then $\tfrac12\log\det_{pseudo}(A^TA) \le "
                r"\tfrac12\log\det_{pseudo}(I) = 0$."
            ),
            covers="$IB = \\frac12\\log\\det_{pseudo}$ at the layer level",
        ),
        Formalization(
            key="renyi-all-alpha",
            level="layer",
            statement=(
                r"If $A^TA \preceq I$ then $H_\alpha(\operatorname{spec}A^TA) \le H_\alpha(\operatorname{spec} I)$ "
                r"for every $\alpha\ge 0$, with eq. (7) applied to the raw eigenvalues."
            ),
            covers="$H_{\\alpha,ff}\\ge H_{\\alpha,LoRA}$ at the layer level",
        ),
    ),
)

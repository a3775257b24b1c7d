"""L6: NTK and Fisher information [Theorem 2.2] (poster eq. 5)."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="L6",
    paper="L",
    title="NTK and Fisher information",
    source="poster, Theorem (Relationship between NTK and Fisher), eq. (5); paper Theorem 2.2",
    statement=(
        r"At infinite width the Fisher information "
        r"$I_\theta = \mathbb E_x[\nabla_\theta\mathcal L^T\nabla_\theta\mathcal L] "
        r"= \mathbb E[\nabla_F\mathcal L^T K_{ntk}(x,x)\nabla_F\mathcal L]$ (weighted NTK)."
    ),
    hypotheses=("width of $F_\\theta$ tends to infinity",),
    formalizations=(
        Formalization(
            key="spectra-agree",
            level="finite-width",
            statement=(
                r"For a finite network and inputs $x_1..x_N$ with Jacobian $J$ ($N\times P$), the "
                r"nonzero eigenvalues of the Fisher $J^T\Lambda J$ and of the weighted NTK "
                r"$\Lambda^{1/2} J J^T\Lambda^{1/2}$ coincide, with $\Lambda$ the loss Hessian in $F$ "
                r"(MSE: $I$; cross-entropy: $\mathrm{diag}(p) - pp^T$)."
            ),
            covers="eq. (5) as an identity of spectra",
        ),
        Formalization(
            key="trace-identity",
            level="finite-width",
            statement=(
                r"$\operatorname{tr}\mathbb E_x[\nabla_\theta\mathcal L\nabla_\theta\mathcal L^T] = "
                r"\mathbb E_x[\nabla_F\mathcal L^T K(x,x)\nabla_F\mathcal L]$ exactly, at any width "
                r"(the scalar identity eq. (5) can state, since its left side is a $P\times P$ matrix "
                r"and its right side a scalar)."
            ),
            covers="eq. (5) read as a scalar identity",
        ),
    ),
)

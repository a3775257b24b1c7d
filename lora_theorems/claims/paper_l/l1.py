"""L1: the NTK recursion of a fully connected network (poster eq. 8-9) and its
infinite-width properties.  Derivation: :mod:`proofs` (issue 3); numerics: :mod:`numerics.ntk`."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="L1",
    paper="L",
    title="NTK recursion of a fully connected network",
    source="poster, 'An L-layer ANN's NTK', eq. (8)-(9); 'Preliminary' (two infinite-width properties)",
    statement=(
        r"$K^{(1)}_{ff}(x,x') = x^T x'$; "
        r"$K^{(l)}_{ff} = K^{(l-1)}_{ff}\,\dot\Sigma^{(l)} + \Sigma^{(l)}$, "
        r"$\Sigma^{(l)}(x,x') = \mathbb{E}_{f\sim\mathcal N(0,\Sigma^{(l-1)})}[\sigma(f(x))\sigma(f(x'))]$, "
        r"$\dot\Sigma^{(l)}$ the same with $\sigma'$. As the width grows the NTK converges to a "
        r"deterministic kernel (depending only on the initialization variance, the architecture and "
        r"the activation) and stays constant during training."
    ),
    hypotheses=(
        "fully connected network of $L$ layers, NTK parameterization",
        "activation $\\sigma$ with $\\sigma'$ defined almost everywhere (ReLU, erf)",
        "infinite width (for the two limiting properties)",
    ),
    formalizations=(
        Formalization(
            key="recursion",
            level="infinite-width",
            statement=(
                r"For NTK parameterization with weight variance $\sigma_w^2$ and bias variance "
                r"$\sigma_b^2$, the limiting NTK obeys $\Theta^{(1)} = \Sigma^{(1)}$, "
                r"$\Theta^{(l)} = \Theta^{(l-1)}\dot\Sigma^{(l)} + \Sigma^{(l)}$, with $\Sigma$ and "
                r"$\dot\Sigma$ Gaussian expectations under the previous layer's covariance; the poster's "
                r"eq. (8)-(9) coincide with it for $\sigma_w^2 = 1$, $\sigma_b^2 = 0$ up to the input "
                r"normalization $1/d$."
            ),
            covers="eq. (8)-(9): the recursion",
        ),
        Formalization(
            key="closed-forms",
            level="infinite-width",
            statement=(
                r"For ReLU, $\Sigma$ and $\dot\Sigma$ are the arc-cosine kernels of degree 1 and 0; "
                r"for erf, $\Sigma = \frac{2}{\pi}\arcsin\frac{2\Sigma_{12}}{\sqrt{(1+2\Sigma_{11})(1+2\Sigma_{22})}}$ "
                r"and $\dot\Sigma = \frac{4}{\pi}\left[(1+2\Sigma_{11})(1+2\Sigma_{22}) - 4\Sigma_{12}^2\right]^{-1/2}$."
            ),
            covers="the closed forms for ReLU and erf",
        ),
        Formalization(
            key="deterministic-limit",
            level="finite-width",
            statement=(
                r"The empirical NTK of a randomly initialized network converges to the analytic "
                r"kernel as the width $n\to\infty$ (relative error $O(n^{-1/2})$)."
            ),
            covers="'converges to a deterministic limiting kernel'",
        ),
        Formalization(
            key="constant-in-training",
            level="training",
            statement=(
                r"Under gradient descent for a fixed number of steps, the relative change of the "
                r"empirical NTK Gram matrix tends to 0 as the width grows."
            ),
            covers="'keeps constant throughout each training step'",
        ),
    ),
)

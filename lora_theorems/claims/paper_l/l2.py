"""L2: the NTK of LoRA [Lemma 3.1] (poster eq. 10).  Derivation: :mod:`proofs`."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="L2",
    paper="L",
    title="NTK of LoRA",
    source="poster, Lemma (NTK of LoRA), eq. (10); paper Lemma 3.1",
    statement=(
        r"$K^{(1)}_{LoRA} = K^{(1)}_{ff}$, "
        r"$K^{(l)}_{LoRA} = K^{(l-1)}_{LoRA}\,\dot\Sigma^{(l)} + \Sigma^{(l)}_{LoRA}$ with "
        r"$\Sigma^{(l)}_{LoRA}(x,x') = \sigma(y^{(l-1)}(x))^T A^{(l)T} A^{(l)} \sigma(y^{(l-1)}(x'))$."
    ),
    hypotheses=(
        "LoRA on layer $l$: $W^{(l)} = W_0^{(l)} + B^{(l)}A^{(l)}$, $W_0$ frozen",
        "$B^{(l)} = 0$ at initialization",
    ),
    formalizations=(
        Formalization(
            key="layer-contribution",
            level="layer",
            statement=(
                r"At $B=0$, the contribution of the adapter $(A, B)$ of layer $l$ to the empirical NTK "
                r"is $\partial_B F(x)^T\partial_B F(x') = \delta^{(l)}(x)^T\delta^{(l)}(x')\;"
                r"h(x)^T A^TA\, h(x')$ with $h = \sigma(y^{(l-1)})$, and the gradient with respect to $A$ "
                r"vanishes."
            ),
            covers="$\\Sigma_{LoRA} = \\sigma(y)^T A^TA \\sigma(y')$ and the recursion (10)",
        ),
    ),
)

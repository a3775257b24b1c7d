"""L3: the NTK relation between full fine-tuning and LoRA (poster eq. 11).
Derivation: :mod:`proofs`."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="L3",
    paper="L",
    title="NTK relation between FF and LoRA",
    source="poster, Theorem (NTK Relationship between FF and LoRA), eq. (11)",
    statement=(
        r"$K^{(l)}_{LoRA} = K^{(l)}_{ff} + \Delta^{(l)}_r$, "
        r"$\Delta^{(l)}_r = \sigma(y^{(l-1)}(x))^T (A^{(l)T}A^{(l)} - I)\,\sigma(y^{(l-1)}(x'))$; "
        r"its kernel matrix is $M^{(l)}_\Delta = A^{(l)T}A^{(l)} - I$."
    ),
    hypotheses=(
        "infinite width",
        "only layer $l$ differs between the two networks (full paper)",
        "$B^{(l)} = 0$ at initialization",
    ),
    formalizations=(
        Formalization(
            key="one-layer-difference",
            level="layer",
            statement=(
                r"If the FF and LoRA networks share all layers but $l$, where FF trains $W^{(l)}$ and "
                r"LoRA trains $(A^{(l)}, B^{(l)})$ at $B^{(l)}=0$, then the difference of their "
                r"empirical NTKs is $\delta^{(l)}(x)^T\delta^{(l)}(x')\,h(x)^T(A^TA - I)h(x')$."
            ),
            covers="eq. (11) with the one-layer assumption made explicit",
        ),
    ),
)

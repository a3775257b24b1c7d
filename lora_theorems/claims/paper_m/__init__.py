"""Paper M: Malekmohammadi, Farnadi, "On the Implicit Relation between Low-Rank Adaptation
and Differential Privacy", arXiv 2409.17538 (later: "Low-Rank Adaptation Secretly Imitates
Differentially Private SGD")."""

from lora_theorems.registry import Paper

PAPER = Paper(
    order=2,
    id="M",
    title="On the Implicit Relation between Low-Rank Adaptation and Differential Privacy",
    reference="Malekmohammadi, Farnadi. arXiv 2409.17538",
    seeds=("002_96a0c07866082574.txt",),
    notes=(
        "Only the abstract is available; the toolkit states its own formalization of each "
        "claim. Setting: $W = W_0 + BA$, $A\\in\\mathbb R^{r\\times n}$ with i.i.d. "
        "$\\mathcal N(0, 1/r)$ entries (so $\\mathbb E[A^TA] = I$), $B\\in\\mathbb R^{m\\times r}$ "
        "starting at zero, batch-mean gradient $G$ over $b$ examples, learning rate $\\eta$."
    ),
)

"""Paper H: Hu, Düngler, Schölkopf, Sanyal, "LoRA and Privacy: When Random Projections Help
(and When They Don't)", arXiv 2601.21719 (2026)."""

from lora_theorems.registry import Paper

PAPER = Paper(
    order=3,
    id="H",
    title="LoRA and Privacy: When Random Projections Help (and When They Don't)",
    reference="Hu, Düngler, Schölkopf, Sanyal. arXiv 2601.21719 (2026); summary: cope-forml.github.io, blog post dp-lora",
    seeds=(),
    notes=(
        "Statements as the authors' public summary (the blog post dp-lora of cope-forml.github.io) writes "
        "them; it does not define $t_r$ and $\\kappa_m$, so the toolkit derives $t_r$ (Student's t quantile, "
        "forced by $K$) and states its readings of $\\kappa_m$. Setting: LoRA-FA's first step is the "
        "projection mechanism $V\\mapsto MV$, $M = A^TA\\sim W_d(I_d/r, r)$, $A\\in\\mathbb R^{r\\times d}$ "
        "with i.i.d. $\\mathcal N(0,1/r)$ entries, frozen; $B = 0$."
    ),
)

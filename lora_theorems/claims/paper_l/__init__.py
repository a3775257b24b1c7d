"""Paper L: Liang, Hu, Ye, Xiao, Li, "Does Low Rank Adaptation Lead to Lower Robustness
against Training-Time Attacks?", ICML 2025 (PMLR 267:37181-37207), arXiv 2505.12871."""

from lora_theorems.claims.paper_l.probes import PROBES
from lora_theorems.registry import Paper

__all__ = ["PAPER", "PROBES"]

PAPER = Paper(
    order=1,
    id="L",
    title="Does Low Rank Adaptation Lead to Lower Robustness against Training-Time Attacks?",
    reference="Liang, Hu, Ye, Xiao, Li. ICML 2025, PMLR 267:37181-37207; arXiv 2505.12871",
    seeds=("000_cef8e253164e4762.txt", "001_50a06bffd6fd05d1.txt"),
    notes=(
        "Setting: an L-layer fully connected network; LoRA freezes $W^{(l)}$ and learns "
        "$\\Delta W^{(l)} = B^{(l)}A^{(l)}$ with $A^{(l)}\\in\\mathbb R^{r\\times n_l}$, "
        "$B^{(l)}\\in\\mathbb R^{n_{l+1}\\times r}$, $B=0$ at initialization and $A$ random of "
        "variance $\\sigma_a^2$."
    ),
)

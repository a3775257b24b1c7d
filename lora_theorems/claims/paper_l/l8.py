"""L8: attack objectives (poster eq. 3-4) and the paper's practical findings."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="L8",
    paper="L",
    title="Attack objectives and practical findings",
    source="poster, eq. (3)-(4) and 'Summary of Findings'; paper Section 5 (BERT-large, GLUE)",
    statement=(
        r"Untargeted poisoning maximizes $|\nabla_\theta\mathcal L(x_c)^T\nabla_\theta\mathcal L(x_u)|$ "
        r"(eq. 3); backdoor poisoning minimizes $|\nabla_\theta\mathcal L(x_c)^T\nabla_\theta\mathcal L(x_t)|$ "
        r"(eq. 4). LoRA is more vulnerable than full fine-tuning to untargeted poisoning and more "
        r"robust to backdoors; lower rank is more backdoor-robust; a small initialization variance "
        r"of $A$ improves training-time robustness."
    ),
    hypotheses=("BERT-large on GLUE, rank 8 (the paper's experiments)",),
    formalizations=(
        Formalization(
            key="empirical-findings",
            level="experiment",
            statement=(
                "The reported accuracies (label-flip at rate 0.3: LoRA 2-4 points below FF on "
                "CoLA/QNLI/QQP; backdoor at 0.15% on SST-2: LoRA .917 vs FF .543) are reproducible."
            ),
            covers="the practical findings; not checkable without the models and data (stays open)",
        ),
    ),
    notes=(
        "Reproducing the BERT-large experiments needs model weights and data sets this toolkit "
        "cannot download; the claim stays open until a check runs them."
    ),
)

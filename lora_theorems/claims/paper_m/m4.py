"""M4: LoRA dynamics close to DP-SGD full fine-tuning; implicit privacy."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="M4",
    paper="M",
    title="Closeness to DP fine-tuning (implicit privacy)",
    source="abstract; later versions' titles",
    statement=(
        "The dynamics of LoRA and FLoRA are very close to differentially private full fine-tuning "
        "of the adapters, which suggests that low-rank adaptation implicitly provides privacy "
        "w.r.t. the fine-tuning data."
    ),
    hypotheses=("DP-SGD needs fresh, data-independent, Gaussian, secret noise at each step",),
    formalizations=(
        Formalization(
            key="dp-sgd-assumptions",
            level="training",
            statement=(
                "The noise LoRA injects satisfies the assumptions of the DP-SGD guarantee: fresh at "
                "each step, independent of the data, Gaussian, and unknown to the adversary."
            ),
            covers="'implicitly provides privacy'",
        ),
    ),
)

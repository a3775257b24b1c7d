"""Derivations of paper M (SymPy): the LoRA-FA gradient as full fine-tuning plus noise."""

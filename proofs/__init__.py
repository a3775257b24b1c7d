"""Checked derivations (SymPy, with mpmath where SymPy cannot close a step) of what paper L
states about the neural tangent kernel with and without LoRA.

Each public ``*_derivation`` function returns a :class:`lora_theorems.ledger.Derivation`
whose steps carry their own verification (exact simplification to zero, or agreement at
many random points in high precision).  Modules:

- :mod:`lora_theorems.proofs.paper_l.ntk_recursion` -- L1: the NTK recursion and the ReLU / erf closed forms;
- :mod:`lora_theorems.proofs.paper_l.lora_kernel` -- L2, L3: LoRA gradients, :math:`\\Sigma_{LoRA}`, :math:`K_{LoRA}`,
  :math:`\\Delta_r`;
- :mod:`lora_theorems.proofs.paper_l.m_delta` -- L4, L5: the exact eigen-structure of :math:`A^TA - I`.
"""

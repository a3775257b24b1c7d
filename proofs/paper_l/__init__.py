"""Derivations of paper L (SymPy): the NTK recursion, the LoRA kernel and Delta_r, M_Delta."""

"""Derivations of paper H (SymPy): the projection mechanism's identities."""

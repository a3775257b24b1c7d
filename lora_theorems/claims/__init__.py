"""The claims of each paper: one sub-package a paper, one module a claim.

``<paper>/__init__.py`` defines ``PAPER``; ``<paper>/<id>.py`` defines ``CLAIM`` (the
statement as written, hypotheses, formalizations) and the ``@check`` functions that
produce its evidence.  Derivations live in :mod:`proofs`, numerics in :mod:`numerics`.
"""

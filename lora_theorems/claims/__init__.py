"""The claims of each paper: one sub-package a paper, one module a claim.

``<paper>/__init__.py`` defines ``PAPER`` (and, optionally, ``PROBES``: the paper's probe
commands, :mod:`lora_theorems.probes`); ``<paper>/<id>.py`` defines ``CLAIM`` (the statement
as written, hypotheses, formalizations) and the ``@check`` functions that produce its
evidence.  Derivations live in :mod:`lora_theorems.proofs` (the ``proofs/`` folder),
numerics in :mod:`lora_theorems.numerics` (``numerics/``), one sub-package a paper there too.
"""

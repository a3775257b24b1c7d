"""lora-theorems: symbolic-plus-numeric verification of the theorems of LoRA papers.

The public API (see :mod:`lora_theorems.api`)::

    import lora_theorems as lt
    lt.list_claims()                       # the claims, as data
    lt.get_claim("L4")                     # one claim: statement, hypotheses, formalizations
    lt.run_claim("L4", profile="quick", seed=0)   # evidence and the verdict derived from it
    lt.build_ledger(profile="quick", seed=0).to_json()
"""

import os as _os

# In a source checkout, the design's top-level folders proofs/ and numerics/ are this
# package's sub-packages lora_theorems.proofs and lora_theorems.numerics, exactly as an
# installed copy has them (setup.py maps them there): only those two names are added.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_root, "setup.cfg")) and not _os.path.isdir(_os.path.join(__path__[0], "numerics")):
    import importlib.machinery as _machinery
    import sys as _sys

    class _CheckoutFinder:
        """Finds lora_theorems.proofs / lora_theorems.numerics in a source checkout."""

        @staticmethod
        def find_spec(fullname, path=None, target=None):
            if fullname in ("lora_theorems.proofs", "lora_theorems.numerics"):
                folder = _os.path.join(_root, fullname.rsplit(".", 1)[1])
                return _machinery.PathFinder.find_spec(fullname, [_root]) if _os.path.isdir(folder) else None
            return None

    if not any(type(f).__name__ == "_CheckoutFinder" or f is _CheckoutFinder for f in _sys.meta_path):
        _sys.meta_path.append(_CheckoutFinder)

from .api import Ledger, build_ledger, derive, explore_m_delta, get_claim, list_claims, run_claim, validate_backend
from .attack import AttackReport, simulate_attack
from .config import RunConfig
from .ledger import (
    AS_WRITTEN,
    CORRECTED,
    Claim,
    ClaimResult,
    Evidence,
    EvidenceKind,
    Formalization,
    Verdict,
    VerdictResult,
    derive_verdict,
)

__version__ = "0.1.0"

__all__ = [
    "AS_WRITTEN",
    "AttackReport",
    "CORRECTED",
    "Claim",
    "ClaimResult",
    "Evidence",
    "EvidenceKind",
    "Formalization",
    "Ledger",
    "RunConfig",
    "Verdict",
    "VerdictResult",
    "build_ledger",
    "derive",
    "explore_m_delta",
    "derive_verdict",
    "get_claim",
    "list_claims",
    "run_claim",
    "simulate_attack",
    "validate_backend",
    "__version__",
]


def __getattr__(name: str):
    """``lt.report`` (the report writer) and ``lt.write_report``, imported on first use so
    that ``import lora_theorems`` stays fast and does not import matplotlib."""
    if name in ("report", "write_report"):
        import importlib

        report = importlib.import_module(".report", __name__)
        return report if name == "report" else report.write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

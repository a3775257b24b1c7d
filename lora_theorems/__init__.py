"""lora-theorems: symbolic-plus-numeric verification of the theorems of LoRA papers.

The public API (see :mod:`lora_theorems.api`)::

    import lora_theorems as lt
    lt.list_claims()                       # the claims, as data
    lt.get_claim("L4")                     # one claim: statement, hypotheses, formalizations
    lt.run_claim("L4", profile="quick", seed=0)   # evidence and the verdict derived from it
    lt.build_ledger(profile="quick", seed=0).to_json()
"""

from .api import Ledger, build_ledger, derive, explore_m_delta, get_claim, list_claims, run_claim, validate_backend
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
    "validate_backend",
    "__version__",
]

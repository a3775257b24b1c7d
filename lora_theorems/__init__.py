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

# The imports below come after the checkout finder on purpose: anything they import may import
# lora_theorems.numerics / lora_theorems.proofs, which resolve only once the finder is installed.
from .api import Ledger, build_ledger, derive, get_claim, list_claims, run_claim, validate_backend  # noqa: E402
from .config import RunConfig  # noqa: E402
from .ledger import (  # noqa: E402
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
from .probes import probe_exports  # noqa: E402

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
    "derive_verdict",
    "get_claim",
    "list_claims",
    "run_claim",
    "validate_backend",
    "__version__",
    # and each probe's public functions and reports (lt.explore_m_delta, lt.simulate_attack, ...),
    # declared by the papers (lora_theorems.probes)
    *sorted(probe_exports()),
]


def __getattr__(name: str):
    """``lt.report`` (the report writer) and ``lt.write_report``, imported on first use so
    that ``import lora_theorems`` stays fast and does not import matplotlib; the probes'
    functions and reports (``lt.explore_m_delta``, ``lt.simulate_attack``), declared by
    their papers."""
    if name in ("report", "write_report"):
        import importlib

        report = importlib.import_module(".report", __name__)
        return report if name == "report" else report.write_report
    exports = probe_exports()
    if name in exports:
        return exports[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

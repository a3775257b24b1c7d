"""Discovery of papers, claims and checks.

Layout (adding a paper means adding files, not editing existing ones)::

    lora_theorems/claims/<paper package>/__init__.py   PAPER = Paper(...), optionally PROBES = (Probe(...), ...)
    lora_theorems/claims/<paper package>/<claim>.py    CLAIM = Claim(...) and its @check functions

Every sub-package of :mod:`lora_theorems.claims` that defines ``PAPER`` is a paper; every
module inside it that defines ``CLAIM`` is a claim, and the functions in that module
declared with :func:`lora_theorems.checks.check` are its checks.  A paper's probes (its
commands that explore one claim at one point) are read by :mod:`lora_theorems.probes`.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType

from . import claims as _claims_pkg
from .checks import CheckSpec, spec_of
from .ledger import Claim

__all__ = ["Paper", "all_claims", "checks_of", "get_claim", "paper_packages", "papers", "resolve_ids"]


@dataclass(frozen=True)
class Paper:
    """A source document: its letter (the prefix of its claim ids), title and reference.

    ``order`` places the paper in listings and reports (then its id): the papers read in the
    order they were added, so a follow-up paper comes after the one it answers."""

    id: str
    title: str
    reference: str
    seeds: tuple[str, ...] = ()
    notes: str = ""
    order: int = 100


def _natural(claim_id: str) -> tuple:
    m = re.fullmatch(r"([A-Za-z]+)(\d+)", claim_id)
    return (m.group(1), int(m.group(2))) if m else (claim_id, 0)


@functools.cache
def paper_packages() -> tuple[ModuleType, ...]:
    """The paper packages (sub-packages of :mod:`lora_theorems.claims` that define ``PAPER``),
    by ``(order, id)``.  Imports only their ``__init__`` modules (their ``PROBES`` are read from
    there by :mod:`lora_theorems.probes`), not the claim modules."""
    found: list[ModuleType] = []
    for pinfo in pkgutil.iter_modules(_claims_pkg.__path__, _claims_pkg.__name__ + "."):
        if not pinfo.ispkg:
            continue
        pkg = importlib.import_module(pinfo.name)
        paper = getattr(pkg, "PAPER", None)
        if paper is None:
            continue
        if not isinstance(paper, Paper):
            raise RuntimeError(f"{pinfo.name}.PAPER must be a Paper, got {type(paper).__name__}")
        found.append(pkg)
    ids = [pkg.PAPER.id for pkg in found]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"paper id defined twice: {sorted(i for i in ids if ids.count(i) > 1)[0]}")
    return tuple(sorted(found, key=lambda pkg: (pkg.PAPER.order, pkg.PAPER.id)))


@functools.cache
def _discover() -> tuple[tuple[Paper, ...], dict[str, tuple[Claim, ModuleType]]]:
    found_claims: dict[str, tuple[Claim, ModuleType]] = {}
    packages = paper_packages()
    for pkg in packages:
        for cinfo in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
            mod = importlib.import_module(cinfo.name)
            claim = getattr(mod, "CLAIM", None)
            if claim is None:
                continue
            if claim.id in found_claims:
                raise RuntimeError(f"claim id {claim.id} defined twice ({found_claims[claim.id][1].__name__}, {cinfo.name})")
            found_claims[claim.id] = (claim, mod)
    return tuple(pkg.PAPER for pkg in packages), found_claims


def papers() -> tuple[Paper, ...]:
    """All registered papers, by ``(order, id)``."""
    return _discover()[0]


def all_claims() -> tuple[Claim, ...]:
    """All registered claims, ordered by paper and number (L1..L8, M1..M5)."""
    paper_order = {p.id: i for i, p in enumerate(papers())}
    claims = [c for c, _ in _discover()[1].values()]
    return tuple(sorted(claims, key=lambda c: (paper_order.get(c.paper, 99), _natural(c.id))))


def _unknown(claim_id: object) -> ValueError:
    known = ", ".join(c.id for c in all_claims())
    return ValueError(f"unknown claim id {claim_id!r} (known: {known})")


def get_claim(claim_id: str) -> Claim:
    """The claim with id ``claim_id`` (case-insensitive); ``ValueError`` if unknown."""
    key = claim_id.upper() if isinstance(claim_id, str) else claim_id
    entry = _discover()[1].get(key)
    if entry is None:
        raise _unknown(claim_id)
    return entry[0]


def resolve_ids(ids) -> tuple[str, ...]:
    """Validate claim ids and return them canonical, without repeats.

    ``ids``: ``None`` (all claims), one id (``"L4"``, case-insensitive) or an iterable of ids
    (empty: none).  Anything else, or an unknown id, is a ``ValueError`` naming it.
    """
    if ids is None:
        return tuple(c.id for c in all_claims())
    if isinstance(ids, str):
        ids = [ids]
    if isinstance(ids, (bytes, bytearray)):
        raise ValueError(f"claim ids must be str, got {ids!r}")
    try:
        ids = list(ids)
    except TypeError:
        raise ValueError(f"claim ids must be a claim id or a list of them, got {ids!r}") from None
    out = []
    for i in ids:
        if not isinstance(i, str):
            raise _unknown(i)
        cid = get_claim(i).id
        if cid not in out:
            out.append(cid)
    return tuple(out)


def checks_of(claim_id: str) -> tuple[CheckSpec, ...]:
    """The checks declared in the claim's module, in source order."""
    claim = get_claim(claim_id)
    mod = _discover()[1][claim.id][1]
    specs = []
    for obj in vars(mod).values():
        spec = spec_of(obj)
        if spec is not None and getattr(obj, "__module__", None) == mod.__name__:
            claim.formalization(spec.formalization)  # fail early on a typo
            specs.append((obj.__code__.co_firstlineno, spec))
    return tuple(s for _, s in sorted(specs, key=lambda t: t[0]))

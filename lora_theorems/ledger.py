"""The claim ledger: claims as data, evidence as records, verdicts derived by one rule.

A :class:`Claim` holds what a paper says (the statement as written, in LaTeX), its
hypotheses and its :class:`Formalization` s: each a precise reading of the words at one
level (a single layer's matrices, a Gram matrix on finite inputs, the infinite-width
limit, ...).  A formalization is either a reading of the claim *as written* or a
*corrected* statement proposed after the as-written reading failed.

Checks (see :mod:`lora_theorems.checks`) produce :class:`Evidence`; the verdict of a claim
is computed from its evidence by :func:`derive_verdict` and is never typed in.

The verdict rule
----------------
Each formalization has a *reading*: :data:`AS_WRITTEN` (what the words say),
:data:`CORRECTED` (the claim's conclusion kept, under an added hypothesis or with a changed
constant) or :data:`FINDING` (what is true instead: a negation, a bound with no floor, an
extension beyond the words; shown in the report, it never decides a verdict). An as-written
formalization may be marked ``not_checkable`` (this toolkit cannot run it, e.g. it needs
model weights): it is never counted as passed, does not block a verdict on the other
readings, and every verdict reason names it.

Let *W* be the conclusive evidence (``passed`` is ``True`` or ``False``) about the
checkable as-written formalizations of a claim.

1. some record of *W* failed, and every as-written formalization that failed is corrected
   by a corrected formalization (its ``corrects`` names it) whose conclusive evidence all
   passed (at least one record)                    -> ``conditional``, carrying the
   statements of those corrected formalizations;
2. some record of *W* failed, and some failing as-written formalization has no holding
   correction                                      -> ``refuted`` (the reason names the
   readings a holding correction does cover, if any: a partial correction is shown, but a
   claim is conditional only when everything that failed has been corrected);
3. every checkable as-written formalization has at least one record in *W*, and all of
   them passed                                     -> ``verified``;
4. otherwise (nothing decisive yet, or some as-written reading still unchecked)
                                                   -> ``open``.

A failed record must carry a concrete counterexample (enforced when the record is made),
so every ``refuted`` or ``conditional`` verdict points at numbers anyone can re-check.
Evidence with ``passed is None`` (a measured rate, a descriptive table) informs the report
but never decides a verdict. A record cannot pass with a NaN worst margin (a comparison
with NaN decided nothing; a check must count it as the worst case). ``passed`` is strictly ``True``, ``False`` or ``None``: NumPy
booleans are converted when the record is made and anything else is refused, so a check
whose result is a NumPy ``False`` cannot slip through an identity test as "not failed".
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "AS_WRITTEN",
    "CORRECTED",
    "FINDING",
    "READINGS",
    "Claim",
    "ClaimResult",
    "Derivation",
    "Evidence",
    "EvidenceKind",
    "Formalization",
    "Plot",
    "Series",
    "Step",
    "Table",
    "Verdict",
    "VerdictResult",
    "derive_verdict",
    "jsonable",
    "strict_bool",
]

AS_WRITTEN = "as_written"
CORRECTED = "corrected"
FINDING = "finding"
#: The readings a formalization can have, with the words the report uses for each.
READINGS = {
    AS_WRITTEN: "as written",
    CORRECTED: "corrected statement (the claim's conclusion under an added hypothesis or changed constant)",
    FINDING: "finding (what is true instead; shown, never decides the verdict)",
}


def strict_bool(value: Any, what: str = "value") -> bool | None:
    """``value`` as ``True``, ``False`` or ``None``; ``TypeError`` for anything else.

    NumPy booleans become Python booleans: a NumPy ``False`` is not ``False`` under ``is``,
    so without this a failed check could be counted as "not failed".
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"{what} must be True, False or None, got {type(value).__name__} {value!r}")


class Verdict(str, enum.Enum):
    """The four verdicts of the ledger (see the module docstring for the rule)."""

    VERIFIED = "verified"
    REFUTED = "refuted"
    CONDITIONAL = "conditional"
    OPEN = "open"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


class EvidenceKind(str, enum.Enum):
    """What kind of argument a check makes."""

    SYMBOLIC = "symbolic"  #: exact computer algebra (SymPy simplification to zero)
    NUMERIC = "numeric"  #: floating-point computation with a justified tolerance
    HIGH_PRECISION = "high-precision"  #: mpmath at many digits (borderline signs, quadrature)
    STATISTICAL = "statistical"  #: Monte Carlo with a stated false-alarm rate

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


@dataclass(frozen=True)
class Formalization:
    """One precise reading of a claim.

    Parameters
    ----------
    key:
        Short identifier, unique within its claim (e.g. ``"layer-as-written"``).
    level:
        The level the reading speaks at: ``"layer"``, ``"kernel"``, ``"infinite-width"``,
        ``"coordinate"``, ``"row"``, ``"matrix"``, ``"training"``, ...
    statement:
        The precise statement (Markdown with LaTeX).
    reading:
        :data:`AS_WRITTEN`, :data:`CORRECTED` or :data:`FINDING` (see the module docstring).
    covers:
        Which words of the claim this reading formalizes.
    corrects:
        For a :data:`CORRECTED` reading: the keys of the as-written readings it restates
        (keeping their conclusion under an added hypothesis or a changed constant). A claim
        is conditional only when every failing as-written reading is corrected by a holding
        correction; a correction of one reading does not rescue another.
    not_checkable:
        For an as-written reading this toolkit cannot run: why (it is shown in the report,
        never counted as passed, and does not block a verdict on the other readings).
    """

    key: str
    level: str
    statement: str
    reading: str = AS_WRITTEN
    covers: str = ""
    not_checkable: str = ""
    corrects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.reading not in READINGS:
            raise ValueError(f"reading must be one of {', '.join(map(repr, READINGS))}, got {self.reading!r}")
        object.__setattr__(self, "corrects", tuple(self.corrects))
        if self.reading == CORRECTED and not self.corrects:
            raise ValueError(f"corrected formalization {self.key!r} must say which as-written readings it corrects (corrects=...)")
        if self.corrects and self.reading != CORRECTED:
            raise ValueError(f"formalization {self.key!r}: only a corrected reading corrects others")
        if self.not_checkable and self.reading != AS_WRITTEN:
            raise ValueError(f"formalization {self.key!r}: only an as-written reading can be not checkable")

    @property
    def checkable(self) -> bool:
        """False for a reading marked ``not_checkable``."""
        return not self.not_checkable


@dataclass(frozen=True)
class Claim:
    """A claim of a paper, as data.

    ``statement`` is the claim as the source writes it (LaTeX in Markdown), ``source``
    says where (e.g. ``"poster, Theorem (M_Delta negative semi-definite)"``).
    """

    id: str
    paper: str
    title: str
    statement: str
    source: str
    hypotheses: tuple[str, ...] = ()
    formalizations: tuple[Formalization, ...] = ()
    notes: str = ""

    def formalization(self, key: str) -> Formalization:
        """Return the formalization named ``key``; ``ValueError`` if there is none."""
        for f in self.formalizations:
            if f.key == key:
                return f
        known = ", ".join(f.key for f in self.formalizations) or "none"
        raise ValueError(f"claim {self.id} has no formalization {key!r} (known: {known})")

    def __post_init__(self) -> None:
        keys = [f.key for f in self.formalizations]
        if len(keys) != len(set(keys)):
            raise ValueError(f"claim {self.id}: duplicate formalization keys {keys}")
        written = {f.key for f in self.formalizations if f.reading == AS_WRITTEN}
        for f in self.formalizations:
            unknown = [k for k in f.corrects if k not in written]
            if unknown:
                raise ValueError(f"claim {self.id}: {f.key!r} corrects {unknown}, which are not as-written readings of the claim")


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Table:
    """A small table for the report: ``columns`` names, ``rows`` of plain values."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Series:
    """One curve (or point cloud) of a :class:`Plot`."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    yerr: tuple[float, ...] | None = None
    style: str = "line"  #: "line", "points", "step", "hist" (x = bin edges, y = heights)


@dataclass(frozen=True)
class Plot:
    """Data for one figure; :mod:`lora_theorems.report` draws it with matplotlib.

    ``kind`` is ``"lines"`` (draw ``series``) or ``"heatmap"`` (draw ``z`` over the grid
    ``x`` by ``y``, with ``z[i][j]`` at ``(x[j], y[i])``).
    """

    key: str
    title: str
    xlabel: str
    ylabel: str
    kind: str = "lines"
    series: tuple[Series, ...] = ()
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    z: tuple[tuple[float, ...], ...] = ()
    zlabel: str = ""
    logx: bool = False
    logy: bool = False
    caption: str = ""


@dataclass(frozen=True)
class Step:
    """One step of a derivation: an equation, one sentence, and how it was checked.

    ``verified`` is ``True``/``False`` for a checked step and ``None`` for a definition or
    an assumption (which is stated, not proved).
    """

    text: str
    latex: str
    method: str = "definition"
    verified: bool | None = None
    detail: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "verified", strict_bool(self.verified, f"step {self.name or self.text!r}: verified"))


@dataclass(frozen=True)
class Derivation:
    """A sequence of checked steps; at once a proof, evidence and a teaching aid."""

    key: str
    title: str
    steps: tuple[Step, ...]
    conclusion: str = ""

    @property
    def passed(self) -> bool:
        """True when every checked step verified (definitions do not count)."""
        return all(s.verified is not False for s in self.steps)

    def step(self, name: str) -> Step:
        """The step called ``name``; ``KeyError`` if there is none (steps are found by name,
        never by position, so inserting a step cannot change what a check decides)."""
        for st in self.steps:
            if st.name == name:
                return st
        known = ", ".join(st.name for st in self.steps if st.name) or "none"
        raise KeyError(f"derivation {self.key!r} has no step {name!r} (named steps: {known})")

    def verified(self, *names: str) -> bool:
        """True when every named step was checked and verified (a definition is not)."""
        return all(self.step(n).verified is True for n in names)

    def failed_steps(self) -> list[dict[str, Any]]:
        """The steps that failed their check, as plain records for a counterexample."""
        return [
            {"derivation": self.key, "step": i, "text": s.text, "equation": s.latex, "detail": s.detail}
            for i, s in enumerate(self.steps, 1)
            if s.verified is False
        ]


@dataclass(frozen=True)
class Evidence:
    """What one check found.

    ``params`` are the settings of the check, ``region`` the hypothesis region swept,
    ``worst_margin`` the smallest signed slack seen (negative: the statement failed by that
    much), ``counterexample`` the concrete numbers of a failure (plain lists, so anyone can
    re-check them without this toolkit), ``metrics`` measured figures such as throughput,
    ``backend`` the array backend that actually ran (a check without a GPU path runs on
    NumPy whatever was asked, and says so here).
    """

    claim: str
    check: str
    formalization: str
    reading: str
    kind: EvidenceKind
    passed: bool | None
    summary: str
    params: Mapping[str, Any] = field(default_factory=dict)
    region: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    profile: str | None = None
    worst_margin: float | None = None
    counterexample: Mapping[str, Any] | None = None
    false_alarm_rate: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    backend: str = "numpy"  #: the array backend the check actually ran on
    tables: tuple[Table, ...] = ()
    plots: tuple[Plot, ...] = ()
    derivations: tuple[Derivation, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", strict_bool(self.passed, f"evidence {self.check!r}: passed"))
        if self.passed is False and not self.counterexample:
            raise ValueError(
                f"evidence {self.check!r} of claim {self.claim} failed without a counterexample"
            )
        if self.passed is True and self.worst_margin is not None and math.isnan(float(self.worst_margin)):
            raise ValueError(
                f"evidence {self.check!r} of claim {self.claim} passed with a NaN worst margin (NaN decides nothing)"
            )
        if self.kind is EvidenceKind.STATISTICAL and self.passed is not None and self.false_alarm_rate is None:
            raise ValueError(
                f"statistical evidence {self.check!r} of claim {self.claim} must state its false-alarm rate"
            )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (numpy arrays and scalars become lists and floats)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["kind"] = self.kind.value
        d["tables"] = [dataclasses.asdict(t) for t in self.tables]
        d["plots"] = [dataclasses.asdict(p) for p in self.plots]
        d["derivations"] = [dataclasses.asdict(x) for x in self.derivations]
        return jsonable(d)


@dataclass(frozen=True)
class VerdictResult:
    """A verdict, the reason for it, and (for ``conditional``) the corrected statement."""

    verdict: Verdict
    reason: str
    corrected_statement: str | None = None


@dataclass(frozen=True)
class ClaimResult:
    """A claim, the evidence its checks produced, and the verdict derived from it."""

    claim: Claim
    evidence: tuple[Evidence, ...]

    @property
    def verdict(self) -> VerdictResult:
        return derive_verdict(self.claim, self.evidence)

    def to_json(self) -> dict[str, Any]:
        v = self.verdict
        c = self.claim
        return jsonable(
            {
                "id": c.id,
                "paper": c.paper,
                "title": c.title,
                "statement": c.statement,
                "source": c.source,
                "hypotheses": list(c.hypotheses),
                "formalizations": [dataclasses.asdict(f) for f in c.formalizations],
                "verdict": v.verdict.value,
                "verdict_reason": v.reason,
                "corrected_statement": v.corrected_statement,
                "evidence": [e.to_json() for e in self.evidence],
            }
        )


def derive_verdict(claim: Claim, evidence: Iterable[Evidence]) -> VerdictResult:
    """Apply the ledger's verdict rule (module docstring) to ``evidence`` about ``claim``."""
    evidence = [e for e in evidence if e.claim == claim.id]
    # evidence records carry only a formalization key: the claim says what reading that is
    # (a record of a FINDING reading never decides, whatever the record says)
    reading = {f.key: f.reading for f in claim.formalizations}
    uncheckable = [f.key for f in claim.formalizations if f.reading == AS_WRITTEN and not f.checkable]
    note = f"; not checkable here: {', '.join(uncheckable)}" if uncheckable else ""
    written = [
        e for e in evidence
        if reading.get(e.formalization, e.reading) == AS_WRITTEN and e.passed is not None
        and e.formalization not in uncheckable
    ]
    failed = [e for e in written if e.passed is False]
    if not failed:
        if not written:
            return VerdictResult(Verdict.OPEN, "no decisive evidence about the claim as written yet" + note)
        checked = {e.formalization for e in written}
        unchecked = [
            f.key for f in claim.formalizations
            if f.reading == AS_WRITTEN and f.checkable and f.key not in checked
        ]
        if unchecked:
            return VerdictResult(
                Verdict.OPEN,
                f"{len(written)} decisive checks passed, but no decisive evidence yet for the "
                f"as-written reading(s): {', '.join(unchecked)}" + note,
            )
        return VerdictResult(
            Verdict.VERIFIED, f"all {len(written)} decisive checks of the claim as written passed" + note
        )
    by_form: dict[str, list[Evidence]] = {}
    for e in evidence:
        if reading.get(e.formalization, e.reading) == CORRECTED and e.passed is not None:
            by_form.setdefault(e.formalization, []).append(e)
    holding = [k for k, es in by_form.items() if all(e.passed is True for e in es)]
    corrects = {f.key: set(f.corrects) for f in claim.formalizations if f.reading == CORRECTED}
    failed_forms = sorted({e.formalization for e in failed})
    covered = set().union(*(corrects.get(k, set()) for k in holding))
    names = ", ".join(e.check for e in failed)
    uncorrected = [k for k in failed_forms if k not in covered]
    if holding and not uncorrected:
        statements = []
        for key in holding:
            if corrects.get(key, set()) & set(failed_forms):
                statements.append(claim.formalization(key).statement)
        return VerdictResult(
            Verdict.CONDITIONAL,
            f"as written it fails ({names}); the corrected statement holds on all its checks" + note,
            "\n\n".join(statements),
        )
    partial = sorted(covered & set(failed_forms))
    if partial:
        tail = (f"; corrected statements hold for {', '.join(partial)}, but none for "
                f"{', '.join(uncorrected)}")
    else:
        tail = "; no corrected statement verified"
    return VerdictResult(Verdict.REFUTED, f"as written it fails ({names})" + tail + note)


# ----------------------------------------------------------------------------- json


def jsonable(obj: Any) -> Any:
    """Turn ``obj`` (dataclasses, numpy arrays and scalars, tuples, enums) into JSON types.

    Non-finite floats become the strings ``"inf"``, ``"-inf"`` and ``"nan"`` so the output
    is strict JSON; sets become sorted lists, so the output does not depend on the hash seed.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        # sorted by their JSON text, so the output does not depend on the hash seed
        return sorted((jsonable(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x
    if isinstance(obj, complex):
        return {"re": jsonable(obj.real), "im": jsonable(obj.imag)}
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


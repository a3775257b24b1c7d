"""Text renderers shared by the CLI (``show``, ``check``, ``derive``) and the report writer.

One function per object and format, so what ``lora-theorems derive L2`` prints is what the
report's claim page shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .ledger import Claim, ClaimResult, Derivation, Evidence, Table, jsonable

__all__ = [
    "FORMATS",
    "render_derivation",
    "render_table",
    "render_claim",
    "render_evidence",
    "render_claim_table",
    "render_claim_list",
    "format_number",
    "format_value",
    "markdown_cell",
    "render_evidence_table",
    "render_counterexample",
]

FORMATS = ("markdown", "latex", "text")


#: significant digits of a float in prose and parameter lists: the last digits of a float64
#: result can move with the BLAS thread count or the CPU's kernels (2.949615954887945 vs
#: 2.9496159548879453); 12 digits are far inside float64's 15-17 and stable for any
#: well-conditioned computation.  Counterexample JSON keeps every digit instead (a witness
#: must re-check exactly); the checks compute it with one BLAS thread (checks.run_check).
STABLE_DIGITS = 12


def format_number(v: float, digits: int = STABLE_DIGITS) -> str:
    """``v`` with at most ``digits`` significant digits, shortest form (``0.1``, not
    ``0.100000000000``); ``nan``/``inf``/``-inf`` for non-finite values."""
    v = float(v)
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return repr(float(f"{v:.{digits}g}"))


def format_value(v) -> str:
    """A compact, deterministic text form of a table cell (4 significant digits for floats:
    far from the digits that depend on BLAS threads or CPU kernels)."""
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "-"}[v]
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v == 0 or 1e-3 <= abs(v) < 1e5:
            return f"{v:.4g}"
        return f"{v:.3e}"
    return str(v)


def render_table(table: Table, fmt: str = "markdown") -> str:
    """Render a :class:`Table` as a Markdown (pipe) table or aligned text.

    In Markdown every cell, header cells included, is put on one line with ``|`` escaped,
    so header, delimiter and rows always have the same number of columns; a row shorter or
    longer than the header is a ``ValueError``.
    """
    cells = [[format_value(v) for v in row] for row in table.rows]
    head = [str(c) for c in table.columns]
    for row in cells:
        if len(row) != len(head):
            raise ValueError(f"table {table.title!r}: a row has {len(row)} cells for {len(head)} columns")
    if fmt == "markdown":
        lines = [f"**{table.title}**", "", "| " + " | ".join(markdown_cell(h) for h in head) + " |",
                 "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in cells]
        if table.caption:
            lines += ["", table.caption]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(head)]
    lines = [table.title, "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    if table.caption:
        lines.append(table.caption)
    return "\n".join(lines)


def _mark(verified) -> str:
    return {True: "checked", False: "FAILED", None: "stated, not checked by this step"}[verified]


def render_derivation(d: Derivation, fmt: str = "markdown") -> str:
    """Render a derivation step by step in ``markdown``, ``latex`` or ``text``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose markdown, latex or text)")
    out = []
    if fmt == "markdown":
        out.append(f"### {d.title}\n")
        for i, s in enumerate(d.steps, 1):
            method = f"{s.method}" + (f"; {s.detail}" if s.detail else "")
            out.append(f"**Step {i}.** {s.text}\n\n$$\n{s.latex}\n$$\n\n*{_mark(s.verified)}: {method}*\n")
        if d.conclusion:
            out.append(f"**Conclusion.** {d.conclusion}\n")
    elif fmt == "latex":
        out.append(f"\\subsection*{{{d.title}}}")
        out.append("\\begin{enumerate}")
        for s in d.steps:
            method = s.method + (f"; {s.detail}" if s.detail else "")
            out.append(
                f"  \\item {s.text}\n  \\[ {s.latex} \\]\n  \\emph{{{_mark(s.verified)}: {method}}}"
            )
        out.append("\\end{enumerate}")
        if d.conclusion:
            out.append(f"\\paragraph{{Conclusion.}} {d.conclusion}")
    else:
        out.append(d.title)
        out.append("=" * len(d.title))
        for i, s in enumerate(d.steps, 1):
            method = s.method + (f"; {s.detail}" if s.detail else "")
            out.append(f"{i}. {s.text}\n     {s.latex}\n     [{_mark(s.verified)}: {method}]")
        if d.conclusion:
            out.append(f"Conclusion: {d.conclusion}")
    return "\n".join(out)


def render_claim(claim: Claim) -> str:
    """Statement, hypotheses and formalizations of a claim, as Markdown-flavoured text."""
    lines = [f"{claim.id}: {claim.title}", f"source: {claim.source}", "", "statement (as written):", f"  {claim.statement}"]
    if claim.hypotheses:
        lines += ["", "hypotheses:"] + [f"  - {h}" for h in claim.hypotheses]
    lines += ["", "formalizations:"]
    for f in claim.formalizations:
        lines.append(f"  - [{f.key}] ({f.reading}, level: {f.level}) {f.statement}")
        if f.covers:
            lines.append(f"      covers: {f.covers}")
        if getattr(f, "not_checkable", ""):
            lines.append(f"      not checkable by this toolkit (never counted as passed): {f.not_checkable}")
    if claim.notes:
        lines += ["", f"notes: {claim.notes}"]
    return "\n".join(lines)


def render_evidence(e: Evidence) -> str:
    """One evidence record as a few lines of text."""
    status = {True: "PASS", False: "FAIL", None: "INFO"}[e.passed]
    lines = [f"  [{status}] {e.check} ({e.kind.value}; {e.formalization}, {e.reading}; {e.elapsed_s:.2f}s)"]
    lines.append(f"         {e.summary}")
    if e.worst_margin is not None:
        lines.append(f"         worst margin: {format_value(float(e.worst_margin))}")
    if e.false_alarm_rate is not None:
        lines.append(f"         false-alarm rate: {format_value(float(e.false_alarm_rate))}")
    if e.counterexample:
        lines.append(f"         counterexample: {counterexample_line(e.counterexample)}")
    return "\n".join(lines)


def _short(value: Any, budget: int) -> str:
    """``value`` as compact JSON-like text, floats to 6 significant digits, cut at ``budget``."""
    def walk(v):
        if isinstance(v, float):
            return float(f"{v:.6g}") if v == v and abs(v) != float("inf") else str(v)
        if isinstance(v, dict):
            return {str(k): walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        return v

    text = json.dumps(walk(jsonable(value)), allow_nan=False, separators=(", ", ": "))
    return text if len(text) <= budget else text[: max(budget - 3, 1)] + "..."


def counterexample_line(counterexample: Mapping[str, Any], width: int = 160) -> str:
    """A counterexample on one line with its values (``{n: 3, r: 2, A: [[1.0, 0.25], ...]}``):
    scalars in full at 6 significant digits, long values cut with ``...``; every digit is
    in ``lora-theorems ledger --json`` and the report's JSON block."""
    parts = []
    for k, v in jsonable(dict(counterexample)).items():
        parts.append(f"{k}={_short(v, 60)}")
    text = ", ".join(parts)
    if len(text) > width:
        text = text[: width - 3] + "..."
    return "{" + text + "} (every digit: ledger --json)"


def render_result(result: ClaimResult) -> str:
    """Evidence and verdict of one claim."""
    v = result.verdict
    lines = [f"{result.claim.id}: {result.claim.title}"]
    lines += [render_evidence(e) for e in result.evidence] or ["  (no checks yet)"]
    lines.append(f"  verdict: {v.verdict.value} - {v.reason}")
    if v.corrected_statement:
        lines.append(f"  corrected statement: {v.corrected_statement}")
    return "\n".join(lines)


def render_claim_list(claims: Iterable[Claim]) -> str:
    """The ``list`` table without running anything: id, paper, number of formalizations, title."""
    rows = [(c.id, c.paper, str(len(c.formalizations)), c.title) for c in claims]
    head = ("id", "paper", "readings", "title")
    widths = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(3)]
    fmt_row = lambda row: "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3]  # noqa: E731
    return "\n".join([fmt_row(head)] + [fmt_row(r) for r in rows]
                     + ["", "verdicts: lora-theorems list --run (runs the quick checks), or reports/index.md"])


def render_claim_table(results: Iterable[ClaimResult]) -> str:
    """The ``list`` table: id, verdict, number of checks, title."""
    rows = [(r.claim.id, r.verdict.verdict.value, str(len(r.evidence)), r.claim.title) for r in results]
    head = ("id", "verdict", "checks", "title")
    widths = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(3)]
    fmt_row = lambda row: "  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  " + row[3]  # noqa: E731
    return "\n".join([fmt_row(head)] + [fmt_row(r) for r in rows])


# ----------------------------------------------------------------------------- report pieces


def markdown_cell(text: Any) -> str:
    """``text`` on one line, safe inside a Markdown table cell (``|`` escaped)."""
    return " ".join(str(text).split()).replace("|", "\\|")


_EVIDENCE_COLUMNS = ("check", "kind", "formalization", "reading", "result", "worst margin", "false-alarm rate", "seed")


def render_evidence_table(evidence: Iterable[Evidence], fmt: str = "markdown") -> str:
    """The evidence of a claim as one table: check, kind, formalization, reading, result,
    worst margin, false-alarm rate and seed.

    Timings are deliberately not in it: they differ from run to run, and this table is part
    of the byte-reproducible report (timings go to the report's ``run.json``).
    """
    rows = []
    for e in evidence:
        result = {True: "pass", False: "FAIL", None: "info"}[e.passed]
        if fmt == "markdown" and e.passed is False:
            result = "**FAIL**"
        rows.append(
            (
                f"`{e.check}`" if fmt == "markdown" else e.check,
                e.kind.value,
                e.formalization,
                e.reading.replace("_", " "),
                result,
                "-" if e.worst_margin is None else format_value(float(e.worst_margin)),
                "-" if e.false_alarm_rate is None else format_value(float(e.false_alarm_rate)),
                "-" if e.seed is None else str(e.seed),
            )
        )
    return render_table(Table(title="Evidence", columns=_EVIDENCE_COLUMNS, rows=tuple(rows)), fmt)


def _json_block(value: Any, indent: str) -> str:
    """JSON for one top-level value: a matrix (list of lists of scalars) one row per line, a
    list of records one record per line, a long record one key per line."""
    compact = json.dumps(value, allow_nan=False)
    if isinstance(value, list) and len(value) > 1 and all(isinstance(r, (list, dict)) for r in value):
        inner = (",\n" + indent + " ").join(json.dumps(r, allow_nan=False) for r in value)
        return "[" + inner + "]"
    if isinstance(value, dict) and len(value) > 1 and len(compact) > 100:
        inner = (",\n" + indent + " ").join(
            f"{json.dumps(k)}: {json.dumps(v, allow_nan=False)}" for k, v in value.items()
        )
        return "{" + inner + "}"
    return compact


def render_counterexample(counterexample: Mapping[str, Any]) -> str:
    """A counterexample as JSON text anyone can paste into NumPy or mpmath.

    Floats are written with Python's shortest round-trip representation (every digit
    kept), non-finite floats as the strings ``"nan"``/``"inf"``; one top-level key per line
    and matrices one row per line, so the numbers are readable and diff well.
    """
    data = jsonable(dict(counterexample))
    if not data:
        return "{}"
    lines = []
    for i, (k, v) in enumerate(data.items()):
        key = json.dumps(k)
        sep = "," if i < len(data) - 1 else ""
        lines.append(f" {key}: " + _json_block(v, " " * (len(key) + 3)) + sep)
    return "{\n" + "\n".join(lines) + "\n}"

"""The Markdown pages of the report: ``index.md`` and one page per claim.

Pure functions from the ledger (and the file names of the drawn figures) to text.  Nothing
here reads a clock, the environment or the file system, so the same ledger gives the same
bytes; run-dependent facts (date, wall time, per-check timings, throughput) belong to
``run.json`` (see :mod:`lora_theorems.report`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..ledger import (
    AS_WRITTEN,
    CORRECTED,
    FINDING,
    ClaimResult,
    Derivation,
    Evidence,
    EvidenceKind,
    Plot,
    Verdict,
    jsonable,
)
from ..render import (
    STABLE_DIGITS,
    format_value,
    markdown_cell,
    render_counterexample,
    render_derivation,
    render_evidence_table,
    render_table,
)
from .figures import plot_size_note

__all__ = ["FigureRef", "render_index", "render_claim_page", "decisive_evidence"]

#: how strong an argument each kind makes, strongest first (used to pick what to quote)
_KIND_ORDER = {
    EvidenceKind.SYMBOLIC: 0,
    EvidenceKind.HIGH_PRECISION: 1,
    EvidenceKind.NUMERIC: 2,
    EvidenceKind.STATISTICAL: 3,
}
_VERDICT_ORDER = (Verdict.VERIFIED, Verdict.CONDITIONAL, Verdict.REFUTED, Verdict.OPEN)
#: a counterexample longer than this is folded into a collapsible block
_INLINE_COUNTEREXAMPLE_CHARS = 1500

#: how a formalization's reading is named on a claim page
_READING_WORDS = {
    AS_WRITTEN: "as written",
    CORRECTED: "**corrected**",
    FINDING: "*finding*: what is true instead, shown but never deciding the verdict",
}

REPRODUCIBILITY_NOTE = (
    "Every Markdown file and every figure of this report is a function of the seed, the "
    "profile, the backend and the package versions listed here: rerunning the command "
    "below with the same software gives byte-identical `.md` and `.png` files, whatever "
    "the number of BLAS threads (each check runs BLAS on one thread; parameters print "
    "floats to 12 significant digits, tables to 4; counterexamples keep every digit). The one "
    "file that differs between two such runs is [`run.json`](run.json), which holds what "
    "a rerun cannot reproduce: the date, the wall time, each check's time and throughput, "
    "and the SHA-256 of every other file (compare those to confirm a rerun)."
)


class FigureRef:
    """A drawn figure (``path`` relative to the report) or the reason it was not drawn."""

    __slots__ = ("plot", "path", "error")

    def __init__(self, plot: Plot, path: str | None, error: str | None = None) -> None:
        self.plot, self.path, self.error = plot, path, error


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _code(value: Any) -> str:
    text = json.dumps(value, allow_nan=False) if not isinstance(value, str) else value
    return "`" + text.replace("`", "'") + "`"


def _priority(e: Evidence) -> tuple:
    return (_KIND_ORDER.get(e.kind, 9),)


def _first(evidence: Iterable[Evidence]) -> Evidence | None:
    es = sorted(evidence, key=_priority)  # stable: source order within a kind
    return es[0] if es else None


def _head(evidence: list[Evidence]) -> Evidence:
    """The first of non-empty ``evidence`` by :func:`_priority`."""
    return sorted(evidence, key=_priority)[0]


def decisive_evidence(result: ClaimResult) -> str:
    """One line (Markdown) naming the evidence that decides the claim's verdict."""
    v = result.verdict
    written = [e for e in result.evidence if e.reading == AS_WRITTEN and e.passed is not None]
    failed = [e for e in written if e.passed is False]
    if v.verdict in (Verdict.REFUTED, Verdict.CONDITIONAL) and failed:
        e = _head(failed)
        text = f"`{e.check}` ({e.kind.value}) fails: {e.summary}"
        if len(failed) > 1:
            text += f" (+{len(failed) - 1} more failing)"
        if v.verdict is Verdict.CONDITIONAL:
            corrected = [e for e in result.evidence if e.reading == CORRECTED and e.passed is True]
            c = _first(corrected)
            if c is not None:
                text += f"; corrected `{c.formalization}` holds: `{c.check}`: {c.summary}"
        return text
    if written:
        e = _head(written)
        kinds = sorted({x.kind for x in written}, key=lambda k: _KIND_ORDER.get(k, 9))
        return (
            f"{len(written)} decisive check(s) passed ({', '.join(k.value for k in kinds)}); "
            f"`{e.check}`: {e.summary}"
        )
    info = [e for e in result.evidence if e.passed is None]
    if info:
        return f"no decisive evidence yet ({len(info)} descriptive record(s))"
    return "no checks yet"


# ----------------------------------------------------------------------------- index


def render_index(
    results: Sequence[ClaimResult],
    *,
    papers: Sequence[Any],
    seed: int,
    profile: str,
    backend: str,
    versions: Mapping[str, str],
    partial: bool = False,
) -> str:
    """``index.md``: the ledger table, the papers, the run's metadata and how to reproduce it."""
    counts = Counter(r.verdict.verdict for r in results)
    tally = ", ".join(f"{counts[v]} {v.value}" for v in _VERDICT_ORDER if counts[v])
    out = [
        "# Verification report: theorems of LoRA papers",
        "",
        f"Profile **{profile}**, seed **{seed}**, backend **{backend}**. "
        f"{len(results)} claims: {tally}.",
        "",
    ]
    if partial:
        out += [
            "> **Partial report:** only the claims listed below were run "
            f"({', '.join(r.claim.id for r in results)}).",
            "",
        ]
    out += [
        "Each claim is checked *as written*, over the whole hypothesis region it states. The "
        "verdict is derived from the evidence by one rule (`lora_theorems/ledger.py`, "
        "`derive_verdict`): **verified** when every as-written reading has decisive evidence "
        "and all of it passed; **refuted** when some as-written check failed (with a "
        "counterexample) and some failing reading has no corrected statement that holds; "
        "**conditional** when it fails as written but every failing reading is corrected by a "
        "statement that passed all its own checks (a corrected statement names the readings it "
        "corrects; a *finding*, what is true instead, never decides); **open** otherwise.",
        "",
        "| claim | statement (as written) | verdict | decisive evidence |",
        "|---|---|---|---|",
    ]
    for r in results:
        c = r.claim
        out.append(
            f"| [{c.id}]({c.id}.md): {markdown_cell(c.title)} | {markdown_cell(c.statement)} "
            f"| **{r.verdict.verdict.value}** | {markdown_cell(decisive_evidence(r))} |"
        )
    out += ["", "## Papers", ""]
    for p in papers:
        out.append(f"- **{p.id}**: *{_one_line(p.title)}*. {_one_line(p.reference)}.")
    out += [
        "",
        "## Run",
        "",
        "| setting | value |",
        "|---|---|",
        f"| profile | {profile} |",
        f"| seed | {seed} |",
        f"| backend | {backend} |",
    ]
    for name, version in versions.items():
        out.append(f"| {markdown_cell(name)} | {markdown_cell(version)} |")
    out += [
        "",
        "Date, wall time and per-check timings: [`run.json`](run.json).",
        "",
        "## Reproduce",
        "",
        "From the repository root, with the package versions above:",
        "",
        "```bash",
        "pip install .",
        f"lora-theorems report --profile {profile} --seed {seed}"
        + ("" if backend == "numpy" else f" --backend {backend}")
        + " --out DIR",
        "```",
        "",
        REPRODUCIBILITY_NOTE,
        "",
        "One claim alone: `lora-theorems check ID --profile "
        f"{profile} --seed {seed}` prints the same evidence; `lora-theorems ledger --json` "
        "gives every number.",
        "",
    ]
    return "\n".join(out)


# ----------------------------------------------------------------------------- claim page


def _tally(evidence: Sequence[Evidence]) -> str:
    n_pass = sum(e.passed is True for e in evidence)
    n_fail = sum(e.passed is False for e in evidence)
    n_info = sum(e.passed is None for e in evidence)
    parts = []
    if n_pass:
        parts.append(f"{n_pass} passed")
    if n_fail:
        parts.append(f"{n_fail} failed")
    if n_info:
        parts.append(f"{n_info} descriptive")
    return ", ".join(parts) if parts else "no evidence yet"


def _stable(value: Any) -> Any:
    """``value`` with every float rounded to :data:`~lora_theorems.render.STABLE_DIGITS`
    significant digits (the digits that do not move with BLAS threads or CPU kernels)."""
    if isinstance(value, float):
        return float(f"{value:.{STABLE_DIGITS}g}") if value == value and abs(value) != float("inf") else value
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _mapping_lines(name: str, mapping: Mapping[str, Any]) -> list[str]:
    if not mapping:
        return []
    items = [f"{k} = {json.dumps(_stable(jsonable(v)), allow_nan=False)}" for k, v in mapping.items()]
    text = "; ".join(items)
    if len(text) <= 300:
        return [f"- {name}: " + "; ".join(_code(i) for i in items)]
    return [f"- {name}:", "", "  ```text", *("  " + i for i in items), "  ```", ""]


def _figure_lines(ref: FigureRef, number: str, e: Evidence) -> list[str]:
    p = ref.plot
    if ref.path is None:
        return [f"*Figure {number} ({p.key}) could not be drawn: {_one_line(ref.error or '')}*", ""]
    caption = f"**Figure {number}.** {_one_line(p.title)}."
    if p.caption:
        caption += f" {_one_line(p.caption)}"
    caption += f" Data: {plot_size_note(p)}. Check `{e.check}`, seed {e.seed}."
    alt = _one_line(p.title).replace("[", "(").replace("]", ")")
    return [f"![{alt}]({ref.path})", "", caption, ""]


def _counterexample_lines(e: Evidence) -> list[str]:
    text = render_counterexample(e.counterexample or {})
    block = ["```json", text, "```"]
    keys = ", ".join(str(k) for k in e.counterexample or {})
    if len(text) <= _INLINE_COUNTEREXAMPLE_CHARS:
        return [f"Numbers ({keys}):", "", *block, ""]
    return [
        "<details>",
        f"<summary>Numbers ({markdown_cell(keys)}; {len(text)} characters)</summary>",
        "",
        *block,
        "",
        "</details>",
        "",
    ]


def _derivations(result: ClaimResult) -> list[tuple[Derivation, Evidence]]:
    seen: list[Derivation] = []
    out = []
    ordered = sorted(result.evidence, key=lambda e: 0 if e.kind is EvidenceKind.SYMBOLIC else 1)
    for e in ordered:
        for d in e.derivations:
            if d not in seen:
                seen.append(d)
                out.append((d, e))
    return out


def render_claim_page(
    result: ClaimResult,
    figures: Mapping[int, Sequence[FigureRef]],
    *,
    seed: int,
    profile: str,
    backend: str,
    check_docs: Mapping[str, str] | None = None,
) -> str:
    """``<ID>.md``: statement, verdict, formalizations, evidence, counterexamples,
    derivations (rendered exactly as ``lora-theorems derive`` prints them), sweeps and figures.

    ``figures[i]`` are the drawn plots of ``result.evidence[i]``.
    """
    c = result.claim
    v = result.verdict
    check_docs = check_docs or {}
    ev = list(result.evidence)
    out = [
        f"# {c.id}: {_one_line(c.title)}",
        "",
        f"[Index](index.md) · paper {c.paper} · verdict **{v.verdict.value}** · "
        f"profile {profile}, seed {seed}",
        "",
        "## Statement (as written)",
        "",
        *("> " + line if line else ">" for line in c.statement.strip().splitlines()),
        "",
        f"Source: {_one_line(c.source)}.",
        "",
    ]
    if c.hypotheses:
        out += ["Hypotheses:", ""] + [f"- {_one_line(h)}" for h in c.hypotheses] + [""]
    out += ["## Verdict", "", f"**{v.verdict.value}**: {_one_line(v.reason)}.", ""]
    if v.corrected_statement:
        out += ["**Corrected statement** (verified by its own checks):", ""]
        out += ["> " + line if line else ">" for line in v.corrected_statement.strip().splitlines()]
        out.append("")
    if c.notes:
        out += [f"Notes: {_one_line(c.notes)}", ""]

    out += ["## Formalizations", ""]
    for f in c.formalizations:
        mine = [e for e in ev if e.formalization == f.key]
        reading = _READING_WORDS.get(f.reading, f.reading)
        if f.corrects:
            reading += " of " + ", ".join(f"`{k}`" for k in f.corrects)
        out.append(f"- **`{f.key}`** ({reading}; level: {f.level}; evidence: {_tally(mine)}). {_one_line(f.statement)}")
        if f.covers:
            out.append(f"  *Covers:* {_one_line(f.covers)}")
        if getattr(f, "not_checkable", ""):
            out.append(f"  **Not checkable by this toolkit** (never counted as passed): {_one_line(f.not_checkable)}")
    out.append("")

    out += ["## Evidence", ""]
    if not ev:
        out += [
            "No checks yet: the verdict stays **open** until a check produces decisive "
            "evidence about every as-written reading.",
            "",
        ]
    else:
        out += [
            render_evidence_table(ev, "markdown"),
            "",
            "Worst margin: the smallest signed slack seen over the sweep (negative: the "
            "statement failed by that much). Timings: [`run.json`](run.json).",
            "",
        ]

    failed = [e for e in ev if e.passed is False]
    if failed:
        out += ["## Counterexamples", ""]
        for e in failed:
            form = c.formalization(e.formalization) if e.formalization in {f.key for f in c.formalizations} else None
            reading = e.reading.replace("_", " ")
            out += [f"### `{e.check}` ({reading}: `{e.formalization}`)", "", _one_line(e.summary), ""]
            if form is not None:
                out += [f"Fails: {_one_line(form.statement)}", ""]
            out += _counterexample_lines(e)

    derivs = _derivations(result)
    if derivs:
        out += ["## Derivations", ""]
        for d, e in derivs:
            out += [render_derivation(d, "markdown"), ""]
            out += [f"*From check `{e.check}` ({e.kind.value}; formalization `{e.formalization}`).*", ""]

    if ev:
        out += ["## Checks: sweeps and figures", ""]
        fig_no = 0
        for i, e in enumerate(ev):
            status = {True: "pass", False: "FAIL", None: "info"}[e.passed]
            out += [f"### `{e.check}` ({status})", "", _one_line(e.summary), ""]
            doc = check_docs.get(e.check, "")
            if doc:
                out += [f"*What it checks:* {_one_line(doc.split(chr(10) + chr(10))[0])}", ""]
            meta = [f"- formalization `{e.formalization}` ({e.reading.replace('_', ' ')}), {e.kind.value}, seed {e.seed}"]
            if e.worst_margin is not None:
                meta.append(f"- worst margin: {format_value(float(e.worst_margin))}")
            if e.false_alarm_rate is not None:
                meta.append(f"- false-alarm rate: {format_value(float(e.false_alarm_rate))}")
            meta += _mapping_lines("parameters", e.params)
            meta += _mapping_lines("region", e.region)
            if e.counterexample:
                meta.append("- counterexample: see [Counterexamples](#counterexamples)")
            out += meta + [""]
            for t in e.tables:
                out += [render_table(t, "markdown"), ""]
            for ref in figures.get(i, ()):
                fig_no += 1
                out += _figure_lines(ref, str(fig_no), e)

    out += [
        "## Reproduce",
        "",
        "```bash",
        f"lora-theorems check {c.id} --profile {profile} --seed {seed}"
        + ("" if backend == "numpy" else f" --backend {backend}"),
        "```",
        "",
    ]
    return "\n".join(out)

"""The verification report: ``lora-theorems report`` writes Markdown pages and PNG figures.

Layout of a report directory (everything in it is generated)::

    index.md          the ledger table, the papers, the run's settings, how to reproduce
    L1.md ... M5.md   one page per claim
    figures/*.png     the plots the checks attached to their evidence
    README.md         a pointer to index.md (so a repository page shows it)
    run.json          date, wall time, per-check timings and throughput, file hashes,
                      a digest of the source code that produced the report

Reproducibility contract
------------------------
The same seed, profile and backend, with the same package versions (listed in
``index.md``), give **byte-identical** ``.md`` and ``.png`` files.  The pages are pure
functions of the ledger (:mod:`lora_theorems.report.pages`): no dates, timings or
absolute paths; the figures are drawn with fixed style, size and resolution and without
PNG metadata (:mod:`lora_theorems.report.figures`).  Whatever a rerun cannot reproduce (the
date, the wall time, each check's elapsed time and its ``metrics``, e.g. throughput) goes
to ``run.json`` only, which also records the SHA-256 of every other file so two runs can
be compared at a glance.

Atomicity
---------
The output path is validated before any check runs (a ``ValueError`` and nothing written
for an existing file, a path under a file, an unwritable directory, or a non-empty
directory that is not a previous report).  The report is written into a temporary sibling
directory and moved into place with ``os.rename`` only once it is complete; an
interrupted or failed run removes its temporary directory and leaves the previous report
untouched.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable

from .. import api
from ..ledger import jsonable
from ..registry import checks_of, papers
from .figures import draw_plot
from .pages import FigureRef, render_claim_page, render_index

__all__ = ["write_report", "validate_out_dir", "package_versions", "GENERATOR"]

GENERATOR = "lora-theorems report"
_RUN_FILE = "run.json"
_PACKAGES = ("lora-theorems", "numpy", "scipy", "sympy", "mpmath", "matplotlib")

_README = """# Verification report (generated)

This directory is written by `lora-theorems report`; do not edit it by hand.
Start at [index.md](index.md): the ledger of claims and verdicts, with one page per claim.
"""


def package_versions(backend: str = "numpy") -> dict[str, str]:
    """Python and the versions of the packages that shape the report's numbers and figures."""
    out = {"python": platform.python_version()}
    names = _PACKAGES + (("cupy",) if backend == "cupy" else ())
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def source_digest() -> str:
    """SHA-256 over the Python sources of the packages that compute the report (the code
    that produced it, whether or not it runs from a git checkout)."""
    import importlib

    h = hashlib.sha256()
    # by module name, so an installed copy and a source checkout of the same code agree
    for pkg in ("lora_theorems", "lora_theorems.numerics", "lora_theorems.proofs"):
        base = Path(importlib.import_module(pkg).__file__).resolve().parent
        for f in sorted(base.rglob("*.py")):
            if pkg == "lora_theorems" and f.relative_to(base).parts[0] in ("numerics", "proofs"):
                continue  # hashed under their own package name
            name = pkg + "/" + f.relative_to(base).as_posix()
            h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _is_report(path: Path) -> bool:
    try:
        with open(path / _RUN_FILE, encoding="utf-8") as fh:
            return json.load(fh).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def _check_replaceable(target: Path, shown: str) -> None:
    if target.exists() and not target.is_dir():
        raise ValueError(f"output directory {shown!r} is an existing file, not a directory")
    if target.is_dir():
        try:
            empty = not any(target.iterdir())
        except OSError as exc:
            raise ValueError(f"output directory {shown!r} cannot be read ({exc.strerror})") from None
        if not empty and not _is_report(target):
            raise ValueError(
                f"output directory {shown!r} is not empty and holds no earlier report "
                f"(no {_RUN_FILE} written by {GENERATOR}); refusing to replace it"
            )


def validate_out_dir(out_dir: str | os.PathLike) -> Path:
    """Check that ``out_dir`` can receive a report; return its resolved path.

    ``out_dir`` may be missing (it is created, with its parents), an empty directory, or a
    directory holding an earlier report (it is replaced).  ``ValueError`` (one line) if it
    is an existing file, lies under a file, is not writable, or is a non-empty directory
    that holds no earlier report.  Nothing is written.
    """
    if isinstance(out_dir, bytes) or not isinstance(out_dir, (str, os.PathLike)):
        raise ValueError(f"output directory must be a path, got {out_dir!r}")
    shown = os.fspath(out_dir)
    if not shown.strip():
        raise ValueError("output directory must not be empty")
    target = Path(os.path.realpath(os.path.expanduser(shown)))
    if target.parent == target:
        raise ValueError(f"output directory {shown!r} is a file-system root; choose a sub-directory")
    _check_replaceable(target, shown)
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"output directory {shown!r} lies under {str(ancestor)!r}, which is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"output directory {shown!r} cannot be written: {str(ancestor)!r} is not writable")
    # os.access says yes to root even on a read-only file system: try for real, and clean up
    probe = ancestor / f".{target.name}.probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        raise ValueError(
            f"output directory {shown!r} cannot be written: {str(ancestor)!r}: {exc.strerror or exc}"
        ) from None
    return target


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "plot"


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_files(tmp: Path, ledger: api.Ledger, partial: bool, progress: Callable[[str], None]) -> None:
    """Every generated file except ``run.json``, into ``tmp``."""
    figdir = tmp / "figures"
    n_plots = sum(len(e.plots) for r in ledger.results for e in r.evidence)
    done = 0
    used: set[str] = set()
    for r in ledger.results:
        figures: dict[int, list[FigureRef]] = {}
        for i, e in enumerate(r.evidence):
            for p in e.plots:
                done += 1
                progress(f"report: figure {done}/{n_plots} {r.claim.id} {p.key}")
                stem = _safe(f"{r.claim.id}-{e.check}-{p.key}")
                name, k = f"{stem}.png", 1
                while name in used:
                    k += 1
                    name = f"{stem}-{k}.png"
                used.add(name)
                figdir.mkdir(exist_ok=True)
                try:
                    draw_plot(p, figdir / name)
                    figures.setdefault(i, []).append(FigureRef(p, f"figures/{name}"))
                except ValueError as exc:  # malformed plot data: say so on the page
                    figures.setdefault(i, []).append(FigureRef(p, None, str(exc)))
        docs = {}
        try:
            docs = {s.name: s.doc for s in checks_of(r.claim.id)}
        except ValueError:
            pass
        page = render_claim_page(
            r, figures, seed=ledger.seed, profile=ledger.profile, backend=ledger.backend, check_docs=docs
        )
        _write_text(tmp / f"{r.claim.id}.md", page)
    index = render_index(
        ledger.results,
        papers=papers(),
        seed=ledger.seed,
        profile=ledger.profile,
        backend=ledger.backend,
        versions=package_versions(ledger.backend),
        partial=partial,
    )
    _write_text(tmp / "index.md", index)
    _write_text(tmp / "README.md", _README)


def _run_record(tmp: Path, ledger: api.Ledger, started: _dt.datetime, wall_s: float, checks_s: float) -> dict:
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    return jsonable(
        {
            "generator": GENERATOR,
            "format": 1,
            "date": started.isoformat(timespec="seconds"),
            "wall_time_s": round(wall_s, 3),
            "checks_time_s": round(checks_s, 3),
            "seed": ledger.seed,
            "profile": ledger.profile,
            "backend": ledger.backend,
            "claims": [r.claim.id for r in ledger.results],
            "versions": package_versions(ledger.backend),
            "platform": platform.platform(),
            "source_sha256": source_digest(),
            "command": "lora-theorems report --profile {} --seed {}".format(ledger.profile, ledger.seed),
            "reproducible_files": "every file listed in sha256 (all but run.json)",
            "checks": [
                {
                    "claim": e.claim,
                    "check": e.check,
                    "elapsed_s": round(e.elapsed_s, 4),
                    "metrics": dict(e.metrics),
                }
                for r in ledger.results
                for e in r.evidence
            ],
            "sha256": {name: _sha256(tmp / name) for name in files},
        }
    )


def _swap_into_place(tmp: Path, target: Path, shown: str) -> None:
    """Move the finished report ``tmp`` to ``target``, replacing an earlier report."""
    _check_replaceable(target, shown)  # the directory may have changed while the checks ran
    if not target.exists():
        os.rename(tmp, target)
        return
    old = target.parent / f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_report(
    out_dir: str | os.PathLike = "reports",
    *,
    profile: str = "quick",
    seed: int = 0,
    backend: str = "numpy",
    progress: Callable[[str], None] | None = None,
    ids: Iterable[str] | None = None,
) -> Path:
    """Run the checks and write the verification report into ``out_dir``; return its path.

    Parameters
    ----------
    out_dir:
        The report directory (see :func:`validate_out_dir`); an earlier report there is
        replaced atomically once the new one is complete.
    profile, seed, backend:
        As for :func:`lora_theorems.api.build_ledger`; recorded in the report.
    progress:
        ``progress(msg)`` for status lines (the CLI passes a stderr reporter).
    ids:
        Claim ids to include (default: all); a report of some claims says it is partial.

    Raises
    ------
    ValueError
        Bad options or a bad ``out_dir``, raised before any check runs; nothing is written.
    """
    api.validate_run_options(profile, seed, backend)
    claim_ids = api.resolve_ids(ids)
    partial = ids is not None and set(claim_ids) != {c.id for c in api.list_claims()}
    shown = os.fspath(out_dir) if isinstance(out_dir, (str, os.PathLike)) else out_dir
    target = validate_out_dir(out_dir)
    progress = progress or (lambda msg: None)

    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    ledger = api.build_ledger(claim_ids, profile=profile, seed=seed, backend=backend, progress=progress)
    checks_s = time.perf_counter() - t0

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        _write_files(tmp, ledger, partial, progress)
        record = _run_record(tmp, ledger, started, time.perf_counter() - t0, checks_s)
        with open(tmp / _RUN_FILE, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(record, fh, indent=1, sort_keys=True, allow_nan=False)
            fh.write("\n")
        _swap_into_place(tmp, target, shown)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    progress(f"report: wrote {shown} in {time.perf_counter() - t0:.1f}s")
    return target

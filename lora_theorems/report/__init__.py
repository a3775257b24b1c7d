"""The verification report: ``lora-theorems report`` writes Markdown pages and PNG figures.

Layout of a report directory (the generated files; a user's own files in it are kept)::

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

Atomicity, and files the toolkit did not write
---------------------------------------------
The output path is validated before any check runs (a ``ValueError`` and nothing written
for an existing file, a path under a file, an unwritable directory, a non-empty directory
that is not a previous report, or a previous report of another profile unless
``force=True``).  The report is written into a temporary sibling directory
``.DIR.tmp-PID-TOKEN`` and swapped into place by renames only:

1. ``DIR`` -> ``.DIR.old-PID-TOKEN`` (the previous report, with any files a user added);
2. ``.DIR.tmp-PID-TOKEN`` -> ``DIR`` (the new report, complete);
3. every file of the old directory that is not in the old report's manifest (the
   ``files`` list of its ``run.json``; older reports: its ``sha256`` keys) is moved into
   ``DIR``: the toolkit never deletes what it did not write;
4. ``.DIR.old-*`` -> ``.DIR.trash-PID-TOKEN``, which then holds only generated files, and
   is deleted.

A run killed at any instant leaves either the previous or the new report in ``DIR`` and at
most one ``.DIR.old-*`` holding the rest; the next run recovers (restores ``DIR`` from
``.DIR.old-*`` if ``DIR`` is missing, moves a user's files back) and deletes stale
temporaries, but only those that are provably this toolkit's: named as above, with the
process id of a process that no longer runs, and holding generated files only.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import api, runner
from ..config import RunConfig
from ..ledger import jsonable
from ..registry import checks_of, papers
from .figures import draw_plot
from .pages import FigureRef, render_claim_page, render_index

__all__ = ["write_report", "validate_out_dir", "recover_stale", "package_versions", "GENERATOR"]

GENERATOR = "lora-theorems report"
_RUN_FILE = "run.json"
_PACKAGES = ("lora-theorems", "numpy", "scipy", "sympy", "mpmath", "matplotlib", "dp-accounting", "threadpoolctl")
#: the names of the files the writer generates (anything else in a report directory is a user's)
_GENERATED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.md|run\.json|figures/[A-Za-z0-9][A-Za-z0-9._-]*\.png")
#: temporaries of a run, beside the report directory: .DIR.tmp-PID-TOKEN, .DIR.old-..., .DIR.trash-...
_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old|trash|probe)-(?P<pid>[0-9]+)-(?P<token>[0-9a-f]{8})")

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
        init = importlib.import_module(pkg).__file__
        if init is None:  # pragma: no cover - a namespace package: nothing to hash
            continue
        base = Path(init).resolve().parent
        for f in sorted(base.rglob("*.py")):
            if pkg == "lora_theorems" and f.relative_to(base).parts[0] in ("numerics", "proofs"):
                continue  # hashed under their own package name
            name = pkg + "/" + f.relative_to(base).as_posix()
            h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _report_record(path: Path) -> dict | None:
    """The ``run.json`` of the report in ``path``, or ``None`` if it holds no report."""
    try:
        with open(path / _RUN_FILE, encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("generator") == GENERATOR else None


def _is_report(path: Path) -> bool:
    return _report_record(path) is not None


def _manifest(path: Path) -> set[str] | None:
    """The files the toolkit wrote in the report ``path`` (relative POSIX paths, ``run.json``
    included): its ``files`` list, or for reports older than that list the keys of its
    ``sha256`` table; ``None`` if ``path`` holds no report."""
    record = _report_record(path)
    if record is None:
        return None
    files = record.get("files")
    if not isinstance(files, list):
        files = list(record.get("sha256") or {})
    return {f for f in files if isinstance(f, str)} | {_RUN_FILE}


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


def _draw_one(item: tuple[Any, Path]) -> str | None:
    """Draw one figure (in any process); ``None``, or the ``ValueError`` text of malformed plot data."""
    plot, path = item
    try:
        draw_plot(plot, path)
    except ValueError as exc:
        return str(exc)
    return None


class _FigureDrawer:
    """Draws each evidence's figures as soon as the evidence arrives, on the run's own local worker
    processes (:class:`lora_theorems.runner.Workers`), into staging files of ``figdir``;
    :meth:`outcome` later renames one to its final name.  A figure is a pure function of its plot
    data, so where it is drawn does not change its bytes.  Serial runs, and runs on a Dask cluster
    (a remote worker's files would not land in ``figdir``), draw here, at the end."""

    def __init__(self, figdir: Path, workers: runner.Workers):
        self.figdir, self.workers = figdir, workers
        self.jobs: dict[tuple[str, str, int], tuple[Any, Path]] = {}

    def __call__(self, ev: Any) -> None:
        if not self.workers.local_processes or not ev.plots:
            return
        self.figdir.mkdir(exist_ok=True)
        for k, p in enumerate(ev.plots):
            staging = self.figdir / f".staging-{len(self.jobs)}.png"
            self.jobs[(ev.claim, ev.check, k)] = (self.workers.submit(_draw_one, (p, staging)), staging)

    def outcome(self, claim: str, check: str, k: int, plot: Any, path: Path) -> str | None:
        """Figure ``k`` of ``claim/check`` in ``path``: ``None``, or the error text of malformed data."""
        job = self.jobs.get((claim, check, k))
        if job is None:
            return _draw_one((plot, path))
        error = job[0].result()
        if error is None:
            os.replace(job[1], path)
        return error


def _write_files(
    tmp: Path, ledger: api.Ledger, partial: bool, progress: Callable[[str], None], drawer: _FigureDrawer | None = None
) -> None:
    """Every generated file except ``run.json``, into ``tmp`` (figures from ``drawer``, or drawn here)."""
    figdir = tmp / "figures"
    used: set[str] = set()
    planned: list[tuple[int, int, int, Any, str]] = []  # (result, evidence, plot, plot data, file name)
    for ri, r in enumerate(ledger.results):
        for i, e in enumerate(r.evidence):
            for k, p in enumerate(e.plots):
                stem = _safe(f"{r.claim.id}-{e.check}-{p.key}")
                name, n = f"{stem}.png", 1
                while name in used:
                    n += 1
                    name = f"{stem}-{n}.png"
                used.add(name)
                planned.append((ri, i, k, p, name))
    if planned:
        figdir.mkdir(exist_ok=True)
    figures: list[dict[int, list[FigureRef]]] = [{} for _ in ledger.results]
    for done, (ri, i, k, p, name) in enumerate(planned, 1):
        r = ledger.results[ri]
        progress(f"report: figure {done}/{len(planned)} {r.claim.id} {p.key}")
        path = figdir / name
        error = drawer.outcome(r.claim.id, r.evidence[i].check, k, p, path) if drawer else _draw_one((p, path))
        if error is None:
            figures[ri].setdefault(i, []).append(FigureRef(p, f"figures/{name}"))
            _at_stage("figures")
        else:  # malformed plot data: say so on the page
            figures[ri].setdefault(i, []).append(FigureRef(p, None, error))
    for ri, r in enumerate(ledger.results):
        docs = {}
        try:
            docs = {s.name: s.doc for s in checks_of(r.claim.id)}
        except ValueError:
            pass
        page = render_claim_page(
            r, figures[ri], seed=ledger.seed, profile=ledger.profile, backend=ledger.backend, check_docs=docs
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


def _blas_info() -> list[dict]:
    """The BLAS/OpenMP libraries NumPy loaded (name, version, threads), for ``run.json``: the
    checks pin BLAS to one thread, so these do not change the pages, but they say where a run was."""
    try:
        from threadpoolctl import threadpool_info

        keys = ("user_api", "internal_api", "version", "num_threads", "architecture")
        return [{k: i.get(k) for k in keys} for i in threadpool_info()]
    except Exception:
        return []


def _run_record(
    tmp: Path, ledger: api.Ledger, started: _dt.datetime, wall_s: float, checks_s: float, cfg: RunConfig | None = None
) -> dict:
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    return jsonable(
        {
            "generator": GENERATOR,
            "format": 1,
            "date": started.isoformat(timespec="seconds"),
            "wall_time_s": round(wall_s, 3),
            "checks_time_s": round(checks_s, 3),
            # where the checks ran: never in the reproducible files (the pages are the same bytes)
            "execution": {
                "jobs": 1 if cfg is None or cfg.dask is not None else cfg.jobs,
                "dask": cfg is not None and cfg.dask is not None,
                "order": "declared" if cfg is None or (cfg.jobs == 1 and cfg.dask is None) else "longest first",
            },
            "seed": ledger.seed,
            "profile": ledger.profile,
            "backend": ledger.backend,
            "claims": [r.claim.id for r in ledger.results],
            "versions": package_versions(ledger.backend),
            "platform": platform.platform(),
            "source_sha256": source_digest(),
            "command": f"lora-theorems report --profile {ledger.profile} --seed {ledger.seed}",
            "reproducible_files": "every file listed in sha256 (all but run.json)",
            "files": sorted(files + [_RUN_FILE]),
            "blas": _blas_info(),
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


def _previous_costs(target: Path, profile: str) -> dict[str, float] | None:
    """Per-check seconds of the report already in ``target`` if it has the same profile
    (the runner starts the longest checks first); ``None`` otherwise."""
    record = _report_record(target) if target.is_dir() else None
    if not record or record.get("profile") != profile or not isinstance(record.get("checks"), list):
        return None
    out: dict[str, float] = {}
    for c in record["checks"]:
        if isinstance(c, dict) and isinstance(c.get("claim"), str) and isinstance(c.get("check"), str):
            v = c.get("elapsed_s")
            if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf"):
                out[f"{c['claim']}/{c['check']}"] = float(v)
    return out or None


def _at_stage(stage: str) -> None:
    """Called at the moments a kill is most harmful (``"figures"``: while the figures are
    drawn; ``"swap"``: the previous report moved aside, the new one not yet in place;
    ``"foreign"``: the new report in place, a user's files not yet moved back).  A no-op;
    the tests replace it to kill the writer at exactly those moments."""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: a process we may not signal, so it exists
        return True
    return True


def _only_generated(path: Path) -> bool:
    """True if every entry under ``path`` is a file the writer generates (or ``figures/``)."""
    for p in path.rglob("*"):
        rel = p.relative_to(path).as_posix()
        if p.is_symlink():
            return False
        if p.is_dir():
            if rel != "figures":
                return False
        elif not _GENERATED.fullmatch(rel):
            return False
    return True


def _free_name(path: Path) -> Path:
    """``path`` if free, else ``path.kept``, ``path.kept-2``, ... (a user's file is never overwritten)."""
    cand, k = path.with_name(path.name + ".kept"), 1
    while os.path.lexists(cand):
        k += 1
        cand = path.with_name(f"{path.name}.kept-{k}")
    return cand


def _move_foreign(src: Path, dst: Path, manifest: set[str], rel: str = "") -> list[str]:
    """Move every entry of ``src`` that the toolkit did not write (not in ``manifest``) to
    the same place under ``dst``, by renames; return their relative paths."""
    moved = []
    for entry in sorted(os.scandir(src / rel if rel else src), key=lambda e: e.name):
        name = f"{rel}/{entry.name}" if rel else entry.name
        if name in manifest:
            continue
        target = dst / name
        if entry.is_dir(follow_symlinks=False) and any(m.startswith(name + "/") for m in manifest):
            if os.path.lexists(target) and not target.is_dir():
                target = _free_name(target)
            target.mkdir(exist_ok=True)
            moved += _move_foreign(src, dst, manifest, name)
            continue
        if os.path.lexists(target):
            target = _free_name(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(entry.path, target)
        moved.append(name)
    return moved


def _discard_old(old: Path, target: Path, manifest: set[str]) -> list[str]:
    """Steps 3 and 4 of the swap: a user's files from ``old`` into ``target``, then ``old``
    renamed to a ``trash`` temporary (generated files only) and deleted."""
    moved = _move_foreign(old, target, manifest)
    m = _TEMP.fullmatch(old.name)
    trash = old.with_name(f".{m['name']}.trash-{m['pid']}-{m['token']}") if m else old
    os.rename(old, trash)
    shutil.rmtree(trash, ignore_errors=True)
    return moved


def recover_stale(target: str | os.PathLike, progress: Callable[[str], None] | None = None) -> list[str]:
    """Finish or undo what a killed run left beside the report directory ``target``; return
    one line per action.

    Only temporaries that are provably this toolkit's are touched: ``.NAME.tmp-PID-TOKEN``,
    ``.NAME.old-...``, ``.NAME.trash-...`` (and empty ``.NAME.probe-...``) directories next
    to ``target`` whose process ``PID`` no longer runs.  An ``old`` one is the previous
    report: it is renamed back to ``target`` if ``target`` is missing (killed mid-swap),
    otherwise a user's files in it are moved into ``target`` and the rest is deleted.  A
    ``tmp`` or ``trash`` one is deleted only if it holds generated files only.
    """
    target = Path(target)
    say = progress or (lambda msg: None)
    done: list[str] = []
    try:
        entries = sorted(target.parent.iterdir())
    except OSError:
        return done
    mine = []
    for p in entries:
        m = _TEMP.fullmatch(p.name)
        if m and m["name"] == target.name and p.is_dir() and not p.is_symlink() and not _pid_alive(int(m["pid"])):
            mine.append((m["kind"], p))
    order = {"old": 0, "trash": 1, "tmp": 2, "probe": 3}
    for kind, p in sorted(mine, key=lambda kp: (order[kp[0]], kp[1].name)):
        if kind == "old":
            manifest = _manifest(p)
            if manifest is None:
                done.append(f"left {p.name}: it holds no report manifest")
            elif not os.path.lexists(target):
                os.rename(p, target)
                done.append(f"restored the previous report from {p.name} (a run was killed while swapping)")
            elif _is_report(target):
                moved = _discard_old(p, target, manifest)
                done.append(f"finished an interrupted swap: moved {len(moved)} file(s) of yours back, removed {p.name}")
            else:
                done.append(f"left {p.name}: {target.name} is not a report")
        elif kind == "probe":
            try:
                p.rmdir()
            except OSError:
                continue
            done.append(f"removed {p.name}")
        elif _only_generated(p):
            shutil.rmtree(p, ignore_errors=True)
            done.append(f"removed {p.name} (left by a killed run)")
        else:
            done.append(f"left {p.name}: it holds files the report writer does not generate")
    for line in done:
        say(f"report: {line}")
    return done


def _swap_into_place(tmp: Path, target: Path, shown: str) -> list[str]:
    """Move the finished report ``tmp`` to ``target``, replacing an earlier report and keeping
    every file of ``target`` that the earlier report did not write (see the module docstring:
    each step is a rename, and a kill between any two is recovered by :func:`recover_stale`).
    Return the relative paths of the user's files carried over."""
    _check_replaceable(target, shown)  # the directory may have changed while the checks ran
    manifest = _manifest(target) if target.is_dir() else None
    if manifest is None:  # missing or empty (an empty directory is replaced by rename)
        os.rename(tmp, target)
        return []
    m = _TEMP.fullmatch(tmp.name)
    if m is None:  # pragma: no cover - write_report names it
        raise ValueError(f"temporary directory {tmp.name!r} is not named .NAME.tmp-PID-TOKEN")
    old = target.parent / f".{target.name}.old-{m['pid']}-{m['token']}"
    os.rename(target, old)
    _at_stage("swap")
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    _at_stage("foreign")
    return _discard_old(old, target, manifest)


def _resolve_profile(profile: str | None, target: Path, shown: str, force: bool) -> str:
    """The profile to run: as given, or the one of the report already in ``target`` (quick if
    there is none).  A report of another profile is not replaced unless ``force``."""
    record = _report_record(target) if target.is_dir() else None
    held = record.get("profile") if record else None
    if profile is None:
        return held if held in ("quick", "full") else "quick"
    if held is not None and held != profile and not force:
        raise ValueError(
            f"output directory {shown!r} holds a {held}-profile report; refusing to replace it with a "
            f"{profile}-profile one (pass --force / force=True, or choose another output directory)"
        )
    return profile


def write_report(
    out_dir: str | os.PathLike = "reports",
    *,
    profile: str | None = None,
    seed: int | None = None,
    backend: str | None = None,
    progress: Callable[[str], None] | None = None,
    ids: Iterable[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    dask: str | None = None,
    config: RunConfig | None = None,
) -> Path:
    """Run the checks and write the verification report into ``out_dir``; return its path.

    Parameters
    ----------
    out_dir:
        The report directory (see :func:`validate_out_dir`); an earlier report there is
        replaced atomically once the new one is complete, and files in it that the toolkit
        did not write (a user's notes, data) are kept.
    profile:
        ``"quick"`` or ``"full"``; by default the profile of the report already in
        ``out_dir`` (``"quick"`` if there is none).  A report of another profile is
        replaced only with ``force=True``.
    seed, backend:
        As for :func:`lora_theorems.api.build_ledger` (default 0 and ``"numpy"``); recorded
        in the report.
    progress:
        ``progress(msg)`` for status lines (the CLI passes a stderr reporter).
    ids:
        Claim ids to include (default: all); a report of some claims says it is partial.
    force:
        Replace a report of another profile.
    jobs, dask:
        Where the checks run (:mod:`lora_theorems.runner`): ``jobs`` local worker processes
        (default 1: this process) or the Dask scheduler at address ``dask``.  The report is
        the same bytes for any of them; ``run.json`` records which was used.  Parallel runs
        start the longest checks first, estimated from the previous report's timings in
        ``out_dir`` when it has them.  Worker processes are spawned, so a script that calls
        this with ``jobs > 1`` needs the usual ``if __name__ == "__main__":`` guard.
    config:
        A :class:`~lora_theorems.config.RunConfig` instead of ``profile``, ``seed``,
        ``backend``, ``jobs`` and ``dask`` (giving both is a ``ValueError``).

    Raises
    ------
    ValueError
        Bad options or a bad ``out_dir``, raised before any check runs; nothing is written.
    """
    if config is not None:
        if not isinstance(config, RunConfig):
            raise ValueError(f"config must be a RunConfig, got {type(config).__name__}")
        if any(v is not None for v in (profile, seed, backend, jobs, dask)):
            raise ValueError("give either config=RunConfig(...) or profile/seed/backend/jobs/dask, not both")
        profile = config.profile
        cfg = config
    else:
        seed = 0 if seed is None else seed
        backend = "numpy" if backend is None else backend
        jobs = 1 if jobs is None else jobs
        # validated here, before the output directory is touched (one-line ValueErrors)
        cfg = api.validate_run_options("quick" if profile is None else profile, seed, backend, jobs, dask)
    if not isinstance(force, bool):
        raise ValueError(f"force must be True or False, got {force!r}")
    claim_ids = api.resolve_ids(ids)
    partial = ids is not None and set(claim_ids) != {c.id for c in api.list_claims()}
    shown = os.fspath(out_dir) if isinstance(out_dir, (str, os.PathLike)) else out_dir
    target = validate_out_dir(out_dir)
    progress = progress or cfg.progress or (lambda msg: None)
    recover_stale(target, progress)
    profile = _resolve_profile(profile, target, shown, force)

    costs = _previous_costs(target, profile) if cfg.costs is None else cfg.costs
    cfg = dataclasses.replace(cfg, profile=profile, progress=progress, costs=costs)

    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        # one set of workers for the checks and the figures: each evidence's figures are drawn
        # as it arrives, queued behind the checks still to start (they fill the run's idle tail)
        with runner.Workers(cfg) as workers:
            drawer = _FigureDrawer(tmp / "figures", workers)
            ledger = api.build_ledger(claim_ids, config=cfg, workers=workers, on_result=drawer)
            checks_s = time.perf_counter() - t0
            _write_files(tmp, ledger, partial, progress, drawer)
        record = _run_record(tmp, ledger, started, time.perf_counter() - t0, checks_s, cfg)
        with open(tmp / _RUN_FILE, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(record, fh, indent=1, sort_keys=True, allow_nan=False)
            fh.write("\n")
        kept = _swap_into_place(tmp, target, shown)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if kept:
        progress(f"report: kept {len(kept)} file(s) the toolkit did not write: {', '.join(kept[:5])}"
                 + (" ..." if len(kept) > 5 else ""))
    progress(f"report: wrote {shown} in {time.perf_counter() - t0:.1f}s")
    return target

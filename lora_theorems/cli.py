"""The ``lora-theorems`` command: a thin layer over :mod:`lora_theorems.api`.

Its own commands are ``list``, ``show``, ``check``, ``ledger``, ``derive`` and ``report``;
the papers' probes (``m-delta``, ``attack``, ...) add theirs (:mod:`lora_theorems.probes`).
``check``, ``ledger`` and ``report`` run the checks in ``--jobs`` local processes or on a
Dask scheduler (``--dask``); the output does not depend on either.

Every error a user can cause (unknown claim id, bad profile, negative seed, unknown option,
bad output path) prints one line ``lora-theorems: error: ...`` on stderr and exits with
code 2; the API raises ``ValueError`` with the same words.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from . import api
from .config import default_jobs
from .probes import Probe, all_probes, seed_arg
from .progress import stderr_progress
from .render import FORMATS, render_claim, render_claim_list, render_claim_table, render_derivation, render_result

PROG = "lora-theorems"


class UsageError(ValueError):
    """A command-line mistake (unknown option, missing argument)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise UsageError(message)


def _profile(text: str) -> str:
    from .validate import validate_profile

    try:
        return validate_profile(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _backend(text: str) -> str:
    from .config import validate_backend

    try:
        return validate_backend(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _format(text: str) -> str:
    if text not in FORMATS:
        raise argparse.ArgumentTypeError(f"unknown format {text!r} (choose markdown, latex or text)")
    return text


def _print_json(data) -> None:
    """Strict JSON (no NaN literals) on stdout."""
    json.dump(data, sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")


_EXAMPLES_BEFORE = """\
examples:
  lora-theorems list                          the claims: ids and titles (runs nothing)
  lora-theorems list --run                    the same with verdicts (runs the quick checks)
  lora-theorems show L4 --no-run              statement, hypotheses, formalizations
  lora-theorems check L4 M3 --seed 1          evidence and verdicts of two claims
  lora-theorems check L4 --jobs 2             the same checks in two processes (same output)
  lora-theorems ledger --json > ledger.json   every number, as JSON
  lora-theorems derive L2 --format latex      a checked derivation, step by step
"""
_EXAMPLES_AFTER = """\
  lora-theorems report --profile full --seed 0 --out reports

Bad input prints one line 'lora-theorems: error: ...' on stderr and exits with code 2.
'command --help' describes each command's options.
"""

#: the commands of the CLI itself; the probes' commands come from the papers (lora_theorems.probes)
COMMANDS = ("list", "show", "check", "ledger", "derive", "report")


def _epilog(probes: Sequence[Probe]) -> str:
    return _EXAMPLES_BEFORE + "".join(f"  {PROG} {p.example}\n" for p in probes if p.example) + _EXAMPLES_AFTER


def _jobs(text: str) -> int:
    from .config import validate_jobs

    try:
        return validate_jobs(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"jobs must be a positive integer, got {text!r}") from None


def _dask(text: str) -> str:
    from .config import RunConfig

    try:
        return str(RunConfig(dask=text).dask)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _reach_dask(address: str, timeout_s: float = 10.0) -> None:
    """Connect to the scheduler once before any work, so an unreachable or malformed address
    is one line (exit 2) instead of a traceback after the run has started."""
    from .runner import dask_client

    with dask_client(address, timeout_s):
        pass


def _add_run_options(p: argparse.ArgumentParser, profile_default: str | None = "quick", parallel: bool = False) -> None:
    p.add_argument("--profile", type=_profile, default=profile_default, metavar="{quick,full}",
                   help="quick: the CI sweeps, same verdicts (default: %(default)s); full: the committed report's"
                   if profile_default else
                   "quick (CI sweeps) or full; default: the profile of the report already in --out, else quick")
    p.add_argument("--seed", type=seed_arg, default=0, metavar="S",
                   help="non-negative integer seeding every Monte Carlo draw; recorded in the output (default: 0)")
    p.add_argument("--backend", type=_backend, default="numpy", metavar="{numpy,cupy}",
                   help="array library of the numerics: numpy (default) or cupy on a GPU (needs the [gpu] extra)")
    if parallel:
        p.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                       help="run the checks in N local processes (default: this machine's cores, "
                            f"{default_jobs()} here); the output is the same bytes for any N")
        p.add_argument("--dask", type=_dask, default=None, metavar="ADDRESS",
                       help="submit the checks to the Dask distributed scheduler at ADDRESS (e.g. tcp://host:8786; "
                            "needs the [dask] extra); --jobs is then ignored")


def _add_probe_parser(sub, probe: Probe) -> None:
    """One sub-command for a probe a paper declared (:mod:`lora_theorems.probes`)."""
    if probe.name in COMMANDS:
        raise RuntimeError(f"probe {probe.name!r} would hide the CLI's own command of that name")
    p = sub.add_parser(probe.name, help=probe.summary, description=probe.description or None)
    probe.add_arguments(p)
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p.set_defaults(probe=probe)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    probes = all_probes()
    parser = _Parser(prog=PROG, description="Verify the claims of LoRA papers: statements, evidence, verdicts.",
                     epilog=_epilog(probes), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    p = sub.add_parser("list", help="the claims: id, paper, title (runs nothing; --run adds verdicts)",
                       description="The claims of every paper. Runs no check unless --run is given.")
    p.add_argument("--run", action="store_true",
                   help="run the checks (with --profile, --seed, --backend) and show each claim's verdict")
    _add_run_options(p)
    p = sub.add_parser("show", help="statement, formalizations and evidence of one claim",
                       description="Statement, hypotheses and formalizations of one claim, then its evidence "
                                   "and verdict (runs its checks unless --no-run).")
    p.add_argument("id", metavar="ID", help="claim id, e.g. L4 or m3 (case-insensitive)")
    p.add_argument("--no-run", action="store_true", help="statement and formalizations only; runs no check")
    _add_run_options(p)
    p = sub.add_parser("check", help="run the checks of claims, print evidence and verdicts",
                       description="Run the checks of the given claims and print their evidence and verdicts.")
    p.add_argument("ids", nargs="+", metavar="ID", help="claim ids, e.g. L4 M3")
    _add_run_options(p, parallel=True)
    p = sub.add_parser("ledger", help="the whole ledger", description="Run every check; print the ledger.")
    p.add_argument("--json", action="store_true", required=True, help="JSON on stdout (required)")
    _add_run_options(p, parallel=True)
    p = sub.add_parser("derive", help="print a claim's checked derivation step by step",
                       description="The derivations a claim's symbolic checks verified, step by step.")
    p.add_argument("id", metavar="ID", help="claim id, e.g. L2")
    p.add_argument("--format", type=_format, default="markdown", metavar="{markdown,latex,text}",
                   help="output format (default: markdown, as in the report)")
    p.add_argument("--seed", type=seed_arg, default=0, metavar="S", help="non-negative integer (default: 0)")
    for probe in probes:
        _add_probe_parser(sub, probe)
    p = sub.add_parser("report", help="write the verification report (Markdown and figures)",
                       description="Run every check and write the report: index.md, a page per claim, "
                                   "figures/, run.json. An earlier report in --out is replaced atomically; "
                                   "files in it that the toolkit did not write are kept.")
    _add_run_options(p, profile_default=None, parallel=True)
    p.add_argument("--out", default="reports", metavar="DIR", help="output directory (default: reports)")
    p.add_argument("--force", action="store_true",
                   help="replace a report of another profile (refused without it)")
    return parser


def _run_probe(probe: Probe, args: argparse.Namespace) -> int:
    progress = stderr_progress()  # long probes say how far they are; refused ones fail before any work
    try:
        rep = probe.run(args, progress)
    finally:
        progress.close()
    if args.json:
        _print_json(rep.to_json())
    else:
        print(probe.render(rep))
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.command is None:
        names = [*COMMANDS[:-1], *(p.name for p in all_probes()), COMMANDS[-1]]
        raise UsageError(f"a command is required ({', '.join(names)})")
    probe = getattr(args, "probe", None)
    if isinstance(probe, Probe):
        return _run_probe(probe, args)
    if args.command == "derive":
        if args.format not in FORMATS:
            raise ValueError(f"unknown format {args.format!r} (choose markdown, latex or text)")
        ds = api.derive(args.id, seed=args.seed)
        print("\n\n".join(render_derivation(d, args.format) for d in ds))
        return 0
    if args.command == "show" and args.no_run:
        print(render_claim(api.get_claim(args.id)))
        return 0
    if args.command == "list" and not args.run:
        print(render_claim_list(api.list_claims()))
        return 0
    # validate everything before any long work starts
    ids: list[str] | None = [args.id] if args.command == "show" else args.ids if args.command == "check" else None
    api.resolve_ids(ids)
    jobs = getattr(args, "jobs", None)
    dask = getattr(args, "dask", None)
    if jobs is None:
        jobs = default_jobs() if args.command in ("check", "ledger", "report") else 1
    api.validate_run_options(args.profile or "quick", args.seed, args.backend, jobs, dask)
    if dask is not None:
        _reach_dask(dask)
    progress = stderr_progress()
    try:
        if args.command == "report":
            from .report import write_report

            path = write_report(args.out, profile=args.profile, seed=args.seed, backend=args.backend, progress=progress,
                                force=args.force, jobs=jobs, dask=dask)
        else:
            ledger = api.build_ledger(ids, profile=args.profile, seed=args.seed, backend=args.backend, jobs=jobs,
                                      dask=dask, progress=progress)
    finally:
        progress.close()
    if args.command == "report":
        print(path)
    elif args.command == "list":
        print(f"profile={ledger.profile} seed={ledger.seed} backend={ledger.backend}")
        print(render_claim_table(ledger.results))
    elif args.command == "ledger":
        _print_json(ledger.to_json())
    elif args.command == "show":
        print(render_claim(ledger.results[0].claim))
        print()
        print(render_result(ledger.results[0]))
    else:  # check
        print(f"profile={ledger.profile} seed={ledger.seed} backend={ledger.backend}")
        print("\n\n".join(render_result(r) for r in ledger.results))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lora-theorems`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return _run(args)
    except (UsageError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `lora-theorems ledger --json | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

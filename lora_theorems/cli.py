"""The ``lora-theorems`` command: a thin layer over :mod:`lora_theorems.api`.

Every error a user can cause (unknown claim id, bad profile, negative seed, unknown option,
bad output path) prints one line ``lora-theorems: error: ...`` on stderr and exits with
code 2; the API raises ``ValueError`` with the same words.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from . import api
from .progress import stderr_progress
from .render import FORMATS, render_claim, render_claim_table, render_derivation, render_m_delta, render_result

PROG = "lora-theorems"


class UsageError(ValueError):
    """A command-line mistake (unknown option, missing argument)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise UsageError(message)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}") from None
    return value


def _number(kind):
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None

    return parse


def _print_json(data) -> None:
    """Strict JSON (no NaN literals) on stdout."""
    json.dump(data, sys.stdout, indent=1, allow_nan=False)
    sys.stdout.write("\n")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="quick", help="quick (CI) or full (committed reports)")
    p.add_argument("--seed", type=_seed, default=0, help="non-negative integer; recorded in the output")
    p.add_argument("--backend", default="numpy", help="numpy, or cupy on a GPU")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Verify the claims of LoRA papers: statements, evidence, verdicts.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    p = sub.add_parser("list", help="table of claims and verdicts (runs the quick checks)")
    _add_run_options(p)
    p = sub.add_parser("show", help="statement, formalizations and evidence of one claim")
    p.add_argument("id")
    p.add_argument("--no-run", action="store_true", help="statement and formalizations only")
    _add_run_options(p)
    p = sub.add_parser("check", help="run the checks of claims, print evidence and verdicts")
    p.add_argument("ids", nargs="+", metavar="ID")
    _add_run_options(p)
    p = sub.add_parser("ledger", help="the whole ledger")
    p.add_argument("--json", action="store_true", required=True, help="JSON on stdout")
    _add_run_options(p)
    p = sub.add_parser("derive", help="print a claim's checked derivation step by step")
    p.add_argument("id")
    p.add_argument("--format", default="markdown", help="markdown, latex or text")
    p.add_argument("--seed", type=_seed, default=0)
    p = sub.add_parser("m-delta", help="probe claim L4 at one (width, rank, variance)")
    p.add_argument("--width", type=_number(int), required=True, help="n, the input width of the layer")
    p.add_argument("--rank", type=_number(int), required=True, help="r <= n")
    p.add_argument("--variance", type=_number(float), required=True, help="sigma_a^2 > 0")
    p.add_argument("--trials", type=_number(int), default=2000,
                   help="Monte Carlo draws (default 2000); work estimated beyond 2 GiB or 30 minutes is refused")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    p = sub.add_parser("report", help="write the verification report (Markdown and figures)")
    _add_run_options(p)
    p.add_argument("--out", default="reports", help="output directory (default: reports)")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command is None:
        raise UsageError("a command is required (list, show, check, ledger, derive, m-delta, report)")
    if args.command == "derive":
        if args.format not in FORMATS:
            raise ValueError(f"unknown format {args.format!r} (choose markdown, latex or text)")
        ds = api.derive(args.id, seed=args.seed)
        print("\n\n".join(render_derivation(d, args.format) for d in ds))
        return 0
    if args.command == "m-delta":
        progress = stderr_progress()  # long probes say how far they are; refused ones fail before any work
        try:
            rep = api.explore_m_delta(args.width, args.rank, args.variance, trials=args.trials, seed=args.seed,
                                      progress=progress)
        finally:
            progress.close()
        if args.json:
            _print_json(rep.to_json())
        else:
            print(render_m_delta(rep))
        return 0
    if args.command == "show" and args.no_run:
        print(render_claim(api.get_claim(args.id)))
        return 0
    # validate everything before any long work starts
    ids = {"list": None, "ledger": None, "report": None, "show": [args.__dict__.get("id")]}.get(
        args.command, args.__dict__.get("ids")
    )
    api.resolve_ids(ids)
    api.validate_run_options(args.profile, args.seed, args.backend)
    if args.command == "report":
        from .report import write_report

        progress = stderr_progress()
        try:
            path = write_report(args.out, profile=args.profile, seed=args.seed, backend=args.backend, progress=progress)
        finally:
            progress.close()
        print(path)
        return 0
    progress = stderr_progress()
    try:
        ledger = api.build_ledger(ids, profile=args.profile, seed=args.seed, backend=args.backend, progress=progress)
    finally:
        progress.close()
    if args.command == "list":
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
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

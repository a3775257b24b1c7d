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
from collections.abc import Sequence

from . import api
from .progress import stderr_progress
from .render import (
    FORMATS,
    render_claim,
    render_claim_list,
    render_claim_table,
    render_derivation,
    render_m_delta,
    render_result,
)

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
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value}")
    return value


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


_EPILOG = """\
examples:
  lora-theorems list                          the claims: ids and titles (runs nothing)
  lora-theorems list --run                    the same with verdicts (runs the quick checks)
  lora-theorems show L4 --no-run              statement, hypotheses, formalizations
  lora-theorems check L4 M3 --seed 1          evidence and verdicts of two claims
  lora-theorems ledger --json > ledger.json   every number, as JSON
  lora-theorems derive L2 --format latex      a checked derivation, step by step
  lora-theorems m-delta --width 64 --rank 64 --variance 0.014
  lora-theorems attack --attack backdoor --rate 0.05 --rank 4 --variance 0.0625
  lora-theorems report --profile full --seed 0 --out reports

Bad input prints one line 'lora-theorems: error: ...' on stderr and exits with code 2.
'command --help' describes each command's options.
"""


def _add_run_options(p: argparse.ArgumentParser, profile_default: str | None = "quick") -> None:
    p.add_argument("--profile", type=_profile, default=profile_default, metavar="{quick,full}",
                   help="quick: the CI sweeps, same verdicts (default: %(default)s); full: the committed report's"
                   if profile_default else
                   "quick (CI sweeps) or full; default: the profile of the report already in --out, else quick")
    p.add_argument("--seed", type=_seed, default=0, metavar="S",
                   help="non-negative integer seeding every Monte Carlo draw; recorded in the output (default: 0)")
    p.add_argument("--backend", type=_backend, default="numpy", metavar="{numpy,cupy}",
                   help="array library of the numerics: numpy (default) or cupy on a GPU (needs the [gpu] extra)")


def _add_attack_parser(sub) -> None:
    """``lora-theorems attack``: FF vs LoRA under one poisoning attack (claim L8; lora_theorems.attack)."""
    p = sub.add_parser("attack", help="probe claim L8 at one configuration: FF vs LoRA under poisoning",
                       description="FF vs LoRA fine-tuning of a network pretrained on sklearn's digits, under "
                                   "label-flip or backdoor poisoning: clean accuracy, accuracy under attack, ASR, "
                                   "paired differences with intervals, per control reading.")
    p.add_argument("--attack", required=True, metavar="{label-flip,backdoor}", help="the poisoning attack")
    p.add_argument("--rate", type=_number(float), required=True, help="poison rate in [0, 1)")
    p.add_argument("--rank", type=_number(int), required=True, help="LoRA rank, 1..16 (the layer's width)")
    p.add_argument("--variance", type=_number(float), required=True, help="variance of A's entries, > 0")
    p.add_argument("--regime", default="kernel", metavar="{kernel,finite}",
                   help="kernel: linearized fine-tuning (exact); finite: gradient descent (default: kernel)")
    p.add_argument("--activation", default="relu", metavar="{relu,erf}", help="default: relu")
    p.add_argument("--seeds", type=_number(int), default=16, help="paired repetitions (default 16, at most 256)")
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="non-negative integer (default: 0)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog=PROG, description="Verify the claims of LoRA papers: statements, evidence, verdicts.",
                     epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    _add_run_options(p)
    p = sub.add_parser("ledger", help="the whole ledger", description="Run every check; print the ledger.")
    p.add_argument("--json", action="store_true", required=True, help="JSON on stdout (required)")
    _add_run_options(p)
    p = sub.add_parser("derive", help="print a claim's checked derivation step by step",
                       description="The derivations a claim's symbolic checks verified, step by step.")
    p.add_argument("id", metavar="ID", help="claim id, e.g. L2")
    p.add_argument("--format", type=_format, default="markdown", metavar="{markdown,latex,text}",
                   help="output format (default: markdown, as in the report)")
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="non-negative integer (default: 0)")
    p = sub.add_parser("m-delta", help="probe claim L4 at one (width, rank, variance)")
    p.add_argument("--width", type=_number(int), required=True, help="n, the input width of the layer")
    p.add_argument("--rank", type=_number(int), required=True, help="r <= n")
    p.add_argument("--variance", type=_number(float), required=True, help="sigma_a^2 > 0")
    p.add_argument("--trials", type=_number(int), default=2000,
                   help="Monte Carlo draws (default 2000); work estimated beyond 2 GiB or 30 minutes is refused")
    p.add_argument("--seed", type=_seed, default=0, metavar="S", help="non-negative integer (default: 0)")
    p.add_argument("--json", action="store_true", help="JSON on stdout")
    _add_attack_parser(sub)
    p = sub.add_parser("report", help="write the verification report (Markdown and figures)",
                       description="Run every check and write the report: index.md, a page per claim, "
                                   "figures/, run.json. An earlier report in --out is replaced atomically; "
                                   "files in it that the toolkit did not write are kept.")
    _add_run_options(p, profile_default=None)
    p.add_argument("--out", default="reports", metavar="DIR", help="output directory (default: reports)")
    p.add_argument("--force", action="store_true",
                   help="replace a report of another profile (refused without it)")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command is None:
        raise UsageError("a command is required (list, show, check, ledger, derive, m-delta, attack, report)")
    if args.command == "derive":
        if args.format not in FORMATS:
            raise ValueError(f"unknown format {args.format!r} (choose markdown, latex or text)")
        ds = api.derive(args.id, seed=args.seed)
        print("\n\n".join(render_derivation(d, args.format) for d in ds))
        return 0
    if args.command == "attack":
        from .attack import render_attack, simulate_attack

        rep = simulate_attack(args.attack, args.rate, args.rank, args.variance, regime=args.regime,
                              seeds=args.seeds, seed=args.seed, activation=args.activation)
        _print_json(rep.to_json()) if args.json else print(render_attack(rep))
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
    if args.command == "list" and not args.run:
        print(render_claim_list(api.list_claims()))
        return 0
    # validate everything before any long work starts
    ids = {"list": None, "ledger": None, "report": None, "show": [args.__dict__.get("id")]}.get(
        args.command, args.__dict__.get("ids")
    )
    api.resolve_ids(ids)
    api.validate_run_options(args.profile or "quick", args.seed, args.backend)
    if args.command == "report":
        from .report import write_report

        progress = stderr_progress()
        try:
            path = write_report(args.out, profile=args.profile, seed=args.seed, backend=args.backend, progress=progress,
                                force=args.force)
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
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

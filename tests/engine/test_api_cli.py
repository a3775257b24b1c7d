"""The public API and the CLI over it: listing, JSON ledger, and clear errors (exit code 2)."""

import json
import subprocess
import sys

import pytest

import lora_theorems as lt
from lora_theorems import api
from lora_theorems.checks import check_seed
from lora_theorems.cli import main

ALL_IDS = ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "M1", "M2", "M3", "M4", "M5"]


def test_all_claims_registered_in_order():
    ids = [c.id for c in lt.list_claims()]
    assert [i for i in ids if i[0] in "LM"] == ALL_IDS  # papers L and M (other papers may be registered too)
    assert ids[: len(ALL_IDS) + 3] == ALL_IDS + ["H1", "H2", "H3"]  # papers in the order they were added
    for c in lt.list_claims():
        assert c.statement and c.formalizations and c.source


def test_get_claim_is_case_insensitive():
    assert lt.get_claim("l4").id == "L4"


def test_check_seed_depends_on_name_and_run_seed_only():
    assert check_seed(0, "L4", "a") == check_seed(0, "L4", "a")
    assert check_seed(0, "L4", "a") != check_seed(1, "L4", "a")
    assert check_seed(0, "L4", "a") != check_seed(0, "L4", "b")


def test_shared_seed_depends_on_run_seed_and_key_only():
    import numpy as np

    from lora_theorems.checks import CheckContext

    def ctx(own, run):
        return CheckContext(profile="quick", seed=own, rng=np.random.default_rng(own), run_seed=run)

    assert ctx(1, 0).shared_seed("k") == ctx(2, 0).shared_seed("k")
    assert ctx(1, 0).shared_seed("k") != ctx(1, 1).shared_seed("k")
    assert ctx(1, 0).shared_seed("k") != ctx(1, 0).shared_seed("j")


@pytest.mark.claim("L4")
def test_l4_sweep_checks_read_one_sweep(claim_result):
    ev = {e.check: e for e in claim_result("L4").evidence}
    assert ev["nsd_sweep"].params["sweep_seed"] == ev["nsd_probability"].params["sweep_seed"]
    assert ev["nsd_sweep"].params["configs"] == ev["nsd_probability"].params["configs"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_without_running(capsys):
    code, out, _ = run_cli(capsys, "show", "L4", "--no-run")
    assert code == 0 and "L4" in out


def test_ledger_json_parses(capsys):
    code, out, _ = run_cli(capsys, "ledger", "--json", "--seed", "3")
    assert code == 0
    data = json.loads(out)
    assert data["seed"] == 3 and data["profile"] == "quick"
    assert [c["id"] for c in data["claims"]] == [c.id for c in lt.list_claims()]
    for c in data["claims"]:
        assert {"id", "title", "statement", "verdict", "corrected_statement", "evidence"} <= set(c)
        assert c["verdict"] in {"verified", "refuted", "conditional", "open"}
        for e in c["evidence"]:
            assert {"check", "kind", "passed", "counterexample"} <= set(e)


def test_list_table(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for cid in ALL_IDS:
        assert f"\n{cid} " in out


BAD = [
    (["show", "L9"], "unknown claim id 'L9'"),
    (["check", "L4", "Z1"], "unknown claim id 'Z1'"),
    (["check", "L4", "--profile", "slow"], "unknown profile 'slow'"),
    (["check", "L4", "--seed", "-1"], "seed must be a non-negative integer"),
    (["check", "L4", "--seed", "x"], "seed must be a non-negative integer"),
    (["list", "--bogus"], "unrecognized arguments: --bogus"),
    (["ledger"], "required"),
    (["derive", "L4", "--format", "pdf"], "unknown format 'pdf'"),
    (["check", "L4", "--backend", "tpu"], "unknown backend 'tpu'"),
    ([], "a command is required"),
    (["m-delta", "--width", "8", "--rank", "9", "--variance", "0.1"], "rank 9 exceeds width 8"),
    (["m-delta", "--width", "8", "--rank", "2", "--variance", "-1"], "variance must be > 0"),
    (["m-delta", "--width", "8", "--rank", "2", "--variance", "nan"], "variance is NaN"),
    (["m-delta", "--width", "0", "--rank", "1", "--variance", "0.1"], "width must be a positive integer"),
    (["m-delta", "--width", "x", "--rank", "1", "--variance", "0.1"], "expected an integer"),
    # validated everywhere, also where nothing runs (issue 14)
    (["show", "L4", "--no-run", "--seed", "-1"], "seed must be a non-negative integer, got -1"),
    (["show", "L4", "--no-run", "--profile", "bogus"], "unknown profile 'bogus'"),
    (["show", "L4", "--no-run", "--backend", "tpu"], "unknown backend 'tpu'"),
    (["list", "--profile", "bogus"], "unknown profile 'bogus'"),
    (["list", "--seed", "-3"], "seed must be a non-negative integer, got -3"),
    (["derive", "L2", "--seed", "-1"], "seed must be a non-negative integer, got -1"),
    (["report", "--profile", "bogus"], "unknown profile 'bogus'"),
    (["m-delta", "--width", "8", "--rank", "2", "--variance", "0.1", "--seed", "-1"], "seed must be a non-negative"),
]


@pytest.mark.parametrize("argv,words", BAD, ids=[" ".join(a) or "(none)" for a, _ in BAD])
def test_bad_input_one_line_exit_2(capsys, argv, words):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lora-theorems: error: ") and words in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: lt.get_claim("L9"), "unknown claim id 'L9'"),
        (lambda: lt.run_claim("L4", profile="slow"), "unknown profile 'slow'"),
        (lambda: lt.run_claim("L4", seed=-1), "seed must be a non-negative integer, got -1"),
        (lambda: lt.build_ledger(["L4", "Q"]), "unknown claim id 'Q'"),
        (lambda: lt.run_claim("L4", backend="tpu"), "unknown backend 'tpu'"),
        (lambda: lt.explore_m_delta(8, 9, 0.1), "rank 9 exceeds width 8"),
        (lambda: lt.explore_m_delta(8, 2, -1.0), "variance must be > 0"),
        (lambda: lt.explore_m_delta(8, 2, float("nan")), "variance is NaN"),
    ],
)
def test_api_raises_value_error_with_same_words(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value)


def test_console_script_entry_point():
    """The installed ``lora-theorems`` script (python -m form) exits 2 on an unknown id."""
    proc = subprocess.run([sys.executable, "-m", "lora_theorems", "show", "L9"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "lora-theorems: error: unknown claim id 'L9' (known: " + ", ".join(c.id for c in lt.list_claims()) + ")"
    )


@pytest.mark.claim("L4")
def test_m_delta_probe_agrees_with_the_exact_r1_probability(capsys):
    """r = 1: P(NSD) = F_chi2_n(1/sigma^2) exactly; the 0.99 interval of 4000 draws must cover it
    (a false alarm here has probability <= 1%, and the seed makes the outcome fixed)."""
    rep = lt.explore_m_delta(16, 1, 0.9 / 16, trials=4000, seed=1)
    assert rep.ci[0] <= rep.exact_p_nsd <= rep.ci[1]
    code, out, _ = run_cli(capsys, "m-delta", "--width", "16", "--rank", "16", "--variance", "0.06", "--json")
    data = json.loads(out)
    assert code == 0 and data["p_nsd"] < 0.5  # r = n, sigma^2 n = 0.96: the claim's "always NSD" fails


# ----------------------------------------------------------------------------- issue 14: CLI polish


def _no_checks(monkeypatch):
    from lora_theorems import checks

    def boom(*a, **k):
        raise AssertionError("a check ran")

    monkeypatch.setattr(api, "build_ledger", boom)
    monkeypatch.setattr(api, "run_claim", boom)
    monkeypatch.setattr(checks, "run_check", boom)


def test_list_and_show_no_run_run_no_check(capsys, monkeypatch):
    _no_checks(monkeypatch)
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "list --run" in out
    for c in lt.list_claims():
        assert f"\n{c.id} " in out and c.title in out
    code, out, _ = run_cli(capsys, "show", "L4", "--no-run")
    assert code == 0 and lt.get_claim("L4").statement.split()[0] in out


def test_list_run_shows_verdicts(capsys, monkeypatch):
    calls, ledgers = [], []
    real = api.build_ledger

    def one_claim(ids=None, **k):
        calls.append((ids, k["profile"]))
        ledgers.append(real(["L3"], **k))
        return ledgers[-1]

    monkeypatch.setattr(api, "build_ledger", one_claim)
    code, out, _ = run_cli(capsys, "list", "--run", "--seed", "2")
    assert code == 0 and calls == [(None, "quick")]
    row = next(line for line in out.splitlines() if line.startswith("L3 "))
    assert "profile=quick seed=2" in out and ledgers[0].results[0].verdict.verdict.value in row


def test_list_and_show_import_no_heavy_library():
    """``list`` and ``show --no-run`` answer fast because they import neither SymPy, matplotlib,
    SciPy nor dp-accounting (their speed is measured in benchmarks/, not here)."""
    code = (
        "import sys, io, contextlib\n"
        "from lora_theorems.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['list']) == 0 and main(['show', 'M4', '--no-run']) == 0\n"
        "heavy = [m for m in ('sympy', 'matplotlib', 'dp_accounting', 'scipy', 'mpmath') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_lazy_report_attribute():
    code = (
        "import sys\n"
        "import lora_theorems as lt\n"
        "assert 'matplotlib' not in sys.modules and 'lora_theorems.report' not in sys.modules\n"
        "assert lt.write_report is lt.report.write_report\n"
        "print(lt.report.__name__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "lora_theorems.report"
    with pytest.raises(AttributeError):
        lt.no_such_thing  # noqa: B018


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"lora-theorems {lt.__version__}"


def test_every_option_has_help_and_the_top_level_help_has_examples():
    import argparse

    from lora_theorems.cli import build_parser

    parser = build_parser()
    assert "examples:" in parser.epilog and "lora-theorems report --profile full" in parser.epilog
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {c.dest for c in subs._choices_actions} == set(subs.choices)
    for c in subs._choices_actions:
        assert c.help, c.dest
    for name, sub in subs.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.dest)


def test_show_no_run_names_a_not_checkable_reading():
    from lora_theorems.ledger import Claim, Formalization
    from lora_theorems.render import render_claim

    c = Claim(id="L8", paper="L", title="t", statement="s", source="x",
              formalizations=(Formalization("bert", "model", "on BERT", not_checkable="needs BERT weights"),))
    assert "not checkable by this toolkit (never counted as passed): needs BERT weights" in render_claim(c)


# ----------------------------------------------------------------------------- issue 9: probes


def test_probe_commands_print_what_the_public_functions_return(capsys):
    """``m-delta`` and ``attack`` are the papers' probes (lora_theorems.probes): the CLI prints
    the API's report, rendered or as JSON, and nothing else."""
    from lora_theorems.claims.paper_l.probes import render_attack, render_m_delta

    code, out, _ = run_cli(capsys, "m-delta", "--width", "12", "--rank", "3", "--variance", "0.05", "--trials", "300",
                           "--seed", "4")
    assert code == 0 and out == render_m_delta(lt.explore_m_delta(12, 3, 0.05, trials=300, seed=4)) + "\n"
    code, out, _ = run_cli(capsys, "attack", "--attack", "label-flip", "--rate", "0.1", "--rank", "2", "--variance",
                           "0.0625", "--seeds", "2", "--json")
    rep = lt.simulate_attack("label-flip", 0.1, 2, 0.0625, seeds=2)
    assert code == 0 and json.loads(out) == json.loads(json.dumps(rep.to_json()))
    assert render_attack(rep).startswith("L8 attack: label-flip at rate 0.1 (20 of 200 training images)")


def test_progress_line_on_a_terminal_is_closed_only_if_shown():
    import io

    from lora_theorems.progress import stderr_progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    quiet, busy, log = Tty(), Tty(), io.StringIO()
    stderr_progress(quiet).close()
    p = stderr_progress(busy)
    p("halfway")
    p.close()
    q = stderr_progress(log)
    q("halfway")
    q.close()
    assert quiet.getvalue() == ""
    assert busy.getvalue().startswith("\r\x1b[K[") and busy.getvalue().endswith("] halfway\n")
    assert log.getvalue().endswith("] halfway\n") and "\r" not in log.getvalue()

"""The public API and the CLI over it: listing, JSON ledger, and clear errors (exit code 2)."""

import json
import subprocess
import sys

import pytest

import lora_theorems as lt
from lora_theorems.checks import check_seed
from lora_theorems.cli import main

ALL_IDS = ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "M1", "M2", "M3", "M4", "M5"]


def test_all_thirteen_claims_registered_in_order():
    assert [c.id for c in lt.list_claims()] == ALL_IDS
    for c in lt.list_claims():
        assert c.statement and c.formalizations and c.source


def test_get_claim_is_case_insensitive():
    assert lt.get_claim("l4").id == "L4"


def test_check_seed_depends_on_name_and_run_seed_only():
    assert check_seed(0, "L4", "a") == check_seed(0, "L4", "a")
    assert check_seed(0, "L4", "a") != check_seed(1, "L4", "a")
    assert check_seed(0, "L4", "a") != check_seed(0, "L4", "b")


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
    assert [c["id"] for c in data["claims"]] == ALL_IDS
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
        "lora-theorems: error: unknown claim id 'L9' (known: " + ", ".join(ALL_IDS) + ")"
    )

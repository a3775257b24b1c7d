"""``--jobs N`` and ``--dask ADDRESS`` on ``check``, ``ledger`` and ``report`` (issue 11): passed
to the API unchanged, bad values refused in one line (exit 2) before any work, and the
output the same for any degree of parallelism."""

import re

import pytest

from lora_theorems import api, cli
from lora_theorems.config import default_jobs
from lora_theorems.ledger import ClaimResult

RUN_COMMANDS = [["check", "L6"], ["ledger", "--json"], ["report", "--out", "OUT"]]


@pytest.fixture
def calls(monkeypatch, tmp_path):
    """Record what the CLI hands to build_ledger / write_report instead of running checks."""
    import lora_theorems.report as report

    seen = []

    def fake_ledger(ids=None, **kw):
        seen.append(("build_ledger", ids, kw))
        results = tuple(ClaimResult(claim=api.get_claim(i), evidence=()) for i in (ids or []))
        return api.Ledger(seed=kw["seed"], profile=kw["profile"], backend=kw["backend"], results=results)

    def fake_report(out, **kw):
        seen.append(("write_report", out, kw))
        return tmp_path

    monkeypatch.setattr(api, "build_ledger", fake_ledger)
    monkeypatch.setattr(report, "write_report", fake_report)
    return seen


def argv(command, *extra, out="unused"):
    return [out if a == "OUT" else a for a in command] + list(extra)


@pytest.mark.parametrize("command", RUN_COMMANDS, ids=lambda c: c[0])
def test_jobs_defaults_to_the_cores_and_is_passed_on(command, calls, capsys, tmp_path):
    assert cli.main(argv(command, out=str(tmp_path / "r"))) == 0
    assert cli.main(argv(command, "--jobs", "3", out=str(tmp_path / "r"))) == 0
    capsys.readouterr()
    (_, _, first), (_, _, second) = calls
    assert (first["jobs"], first["dask"]) == (default_jobs(), None)
    assert (second["jobs"], second["dask"]) == (3, None)


def test_default_jobs_is_the_cores_this_process_may_use():
    import os

    assert default_jobs() == len(os.sched_getaffinity(0)) >= 1


@pytest.mark.parametrize("command", RUN_COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", "", "2 3"])
def test_bad_jobs_is_one_line_and_exit_2_before_any_work(command, value, calls, capsys, tmp_path):
    assert cli.main(argv(command, "--jobs", value, out=str(tmp_path / "r"))) == 2
    out, err = capsys.readouterr()
    assert out == "" and calls == []
    assert err == f"lora-theorems: error: argument --jobs: jobs must be a positive integer, got {value!r}\n"


@pytest.mark.parametrize("command", [["list"], ["show", "L4"], ["derive", "L2"], ["m-delta", "--width", "4", "--rank", "1",
                                                                                   "--variance", "0.1"]])
def test_commands_that_run_no_checks_take_no_jobs(command, calls, capsys):
    assert cli.main(command + ["--jobs", "2"]) == 2
    assert capsys.readouterr().err == "lora-theorems: error: unrecognized arguments: --jobs 2\n"


def test_an_empty_dask_address_is_refused(calls, capsys):
    assert cli.main(["check", "L6", "--dask", " "]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lora-theorems: error: argument --dask: ") and err.count("\n") == 1 and calls == []


def test_dask_without_distributed_says_how_to_install(calls, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    assert cli.main(["ledger", "--json", "--dask", "tcp://127.0.0.1:8786"]) == 2
    assert capsys.readouterr().err == (
        "lora-theorems: error: argument --dask: --dask needs dask.distributed: pip install 'lora-theorems[dask]'\n"
    )
    assert calls == []


def test_an_unreachable_or_malformed_scheduler_is_one_line_before_any_work(calls, capsys):
    pytest.importorskip("distributed")
    assert cli.main(["check", "L6", "--dask", "no-port-here"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lora-theorems: error: cannot reach the Dask scheduler at 'no-port-here': ")
    assert err.count("\n") == 1 and calls == []
    with pytest.raises(ValueError, match="^cannot reach the Dask scheduler at 'tcp://127.0.0.1:9': .*") as info:
        cli._reach_dask("tcp://127.0.0.1:9", timeout_s=1)  # port 9 (discard): nothing listens
    assert "\n" not in str(info.value)


def _without_timings(text):
    return re.sub(r"; \d+\.\d\ds\)", ")", text)


def test_check_prints_the_same_for_one_and_two_processes(capsys):
    assert cli.main(["check", "L6", "L2", "--jobs", "1"]) == 0
    serial = capsys.readouterr().out
    assert cli.main(["check", "L6", "L2", "--jobs", "2"]) == 0
    parallel = capsys.readouterr().out
    assert "L6:" in serial and "L2:" in serial and _without_timings(parallel) == _without_timings(serial)


def test_check_on_a_dask_cluster_prints_the_same_as_serial(capsys):
    distributed = pytest.importorskip("distributed")
    assert cli.main(["check", "L6", "--jobs", "1"]) == 0
    serial = capsys.readouterr().out
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        assert cli.main(["check", "L6", "--dask", cluster.scheduler_address]) == 0
    assert _without_timings(capsys.readouterr().out) == _without_timings(serial)

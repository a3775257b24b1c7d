"""The verification report: pages, figures, reproducibility, atomicity and bad --out.

Most tests feed the writer a synthetic ledger (a fake claim with every kind of evidence:
a derivation, a failing sweep with a counterexample, tables, line plots, a heat map, a
malformed plot), so they are fast and do not depend on which checks exist yet; one test
writes the report of the real quick ledger end to end.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

import lora_theorems as lt
from lora_theorems import api
from lora_theorems.cli import main
from lora_theorems.ledger import (
    AS_WRITTEN,
    CORRECTED,
    Claim,
    ClaimResult,
    Derivation,
    Evidence,
    EvidenceKind,
    Formalization,
    Plot,
    Series,
    Step,
    Table,
)
from lora_theorems.render import render_counterexample, render_derivation
from lora_theorems.report import validate_out_dir, write_report
from lora_theorems.report.figures import draw_plot

# ----------------------------------------------------------------------------- synthetic ledger

CX_A = [[1.0, 0.25, 0.0], [0.0, 0.5, -0.125]]  # a 2 x 3 matrix A with ||A||_2 > 1


def _fake_claim() -> Claim:
    return Claim(
        id="L4",
        paper="L",
        title="Synthetic claim | with a pipe",
        statement=r"For $r\le n$ and $\sigma_a^2<1/n$, $A^TA - I \preceq 0$ and $|x| \ge 0$.",
        source="test fixture",
        hypotheses=(r"$1\le r\le n$",),
        formalizations=(
            Formalization("nsd", "layer", r"$A^TA-I\preceq 0$ almost surely."),
            Formalization("nsd-corrected", "layer", r"$A^TA-I\preceq 0$ when $\|A\|_2\le 1$.", reading=CORRECTED, corrects=("nsd",)),
        ),
    )


def _fake_result() -> ClaimResult:
    rng = np.random.default_rng(1234)
    edges = tuple(float(v) for v in np.linspace(0.0, 2.0, 21))
    heights = tuple(float(v) for v in rng.random(20))
    deriv = Derivation(
        key="eig",
        title=r"Eigenvalues of $A^TA - I$",
        steps=(
            Step(text="Definition.", latex=r"M_\Delta = A^TA - I"),
            Step(text="Spectrum.", latex=r"\lambda(M_\Delta) = \lambda(A^TA) - 1", method="exact simplification", verified=True),
        ),
        conclusion="The top eigenvalue is $\\|A\\|_2^2 - 1$.",
    )
    lines = Plot(
        key="spectrum",
        title=r"Spectrum of $M_\Delta$ vs Marchenko-Pastur",
        xlabel=r"eigenvalue $\lambda$",
        ylabel="density",
        series=(
            Series("empirical", edges, heights, style="hist"),
            Series("MP law", tuple(edges[:-1]), heights, style="line"),
            Series("P(NSD)", (1.0, 2.0, 3.0), (0.9, 0.5, 0.1), yerr=(0.02, 0.03, 0.02), style="points"),
            Series("cdf", (0.0, 1.0, 2.0), (0.0, 0.5, 1.0), style="step"),
        ),
        caption="4000 draws of A, n = 64.",
    )
    heat = Plot(
        key="ib-heat",
        title="IB over rank x variance",
        xlabel=r"$\sigma_a^2 n$",
        ylabel="rank r",
        kind="heatmap",
        x=(0.1, 0.5, 1.0, 2.0),
        y=(1.0, 2.0, 4.0),
        z=((1.0, 2.0, 3.0, 4.0), (2.0, float("nan"), 1.0, 0.5), (0.0, -1.0, 3.5, 2.0)),
        zlabel="IB_ff - IB_LoRA",
        logx=True,
    )
    bad_math = Plot(key="weird", title=r"$\operatorname{bad}$ label", xlabel=r"$\notacommand$", ylabel="y",
                    series=(Series("s", (1.0, 2.0), (3.0, 4.0)),))
    broken = Plot(key="broken", title="mismatched", xlabel="x", ylabel="y", series=(Series("s", (1.0, 2.0), (1.0,)),))
    ev = (
        Evidence(
            claim="L4", check="derivation", formalization="nsd", reading=AS_WRITTEN, kind=EvidenceKind.SYMBOLIC,
            passed=True, summary="symbolic spectrum", seed=11, derivations=(deriv,), elapsed_s=0.5,
        ),
        Evidence(
            claim="L4", check="nsd_sweep", formalization="nsd", reading=AS_WRITTEN, kind=EvidenceKind.NUMERIC,
            passed=False, summary="lambda_max(A^TA - I) = 0.03 > 0 at n=3, r=2", seed=12,
            params={"n": [3, 8, 64], "trials": 200, "laws": {"gauss", "rademacher", "uniform"}}, region={"sigma2_n": [0.5, 0.99]},
            worst_margin=-0.0312, counterexample={"n": 3, "r": 2, "A": CX_A, "lambda_max": 0.031234567890123},
            metrics={"configs_per_s": 1234.5}, elapsed_s=1.25,
            tables=(Table("Sweep", ("n", "r", "samples", "pass rate", "worst margin"), ((3, 2, 200, 0.4, -0.0312), (64, 8, 200, 1.0, 0.1))),),
            plots=(lines, heat),
        ),
        Evidence(
            claim="L4", check="corrected_mc", formalization="nsd-corrected", reading=CORRECTED,
            kind=EvidenceKind.STATISTICAL, passed=True, summary="holds in 10^4 draws", seed=13,
            false_alarm_rate=1e-3, worst_margin=0.01, plots=(bad_math, broken), elapsed_s=2.0,
        ),
    )
    return ClaimResult(claim=_fake_claim(), evidence=ev)


def _fake_ledger(seed=0, profile="quick", backend="numpy", config=None, **_):
    if config is not None:  # write_report passes its RunConfig
        seed, profile, backend = config.seed, config.profile, config.backend
    return api.Ledger(seed=seed, profile=profile, backend=backend, results=(_fake_result(),))


@pytest.fixture
def fake_ledger(monkeypatch):
    calls = []

    def fake(ids=None, *, config=None, profile="quick", seed=0, backend="numpy", progress=None, **_):
        if config is not None:
            profile, seed, backend, progress = config.profile, config.seed, config.backend, config.progress
        calls.append(ids)
        if progress:
            progress("fake ledger")
        return _fake_ledger(seed=seed, profile=profile, backend=backend)

    monkeypatch.setattr(api, "build_ledger", fake)
    return calls


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- pages


def test_claim_page_has_every_part(tmp_path, fake_ledger):
    out = write_report(tmp_path / "rep", seed=5)
    page = (out / "L4.md").read_text()
    r = _fake_result()
    assert r.verdict.verdict.value == "conditional"  # derived by the rule: fails as written, corrected holds
    assert r.claim.statement in page  # the statement as written, verbatim
    assert "## Corrected" not in page and "**Corrected statement**" in page
    assert r"$A^TA-I\preceq 0$ when $\|A\|_2\le 1$." in page
    # the derivation is rendered with the same renderer `lora-theorems derive` uses
    assert render_derivation(r.evidence[0].derivations[0], "markdown") in page
    # the counterexample's numbers, every digit, re-parse to what the check recorded
    block = re.search(r"```json\n(.*?)\n```", page, re.S).group(1)
    assert block == render_counterexample(r.evidence[1].counterexample)
    cx = json.loads(block)
    assert cx["A"] == CX_A and cx["lambda_max"] == 0.031234567890123
    lam = np.linalg.eigvalsh(np.array(cx["A"]).T @ np.array(cx["A"]) - np.eye(3)).max()
    assert lam > 0  # the synthetic counterexample really is one
    # evidence table: one row per record, with reading, result, margin, false-alarm rate, seed
    assert "| `nsd_sweep` | numeric | nsd | as written | **FAIL** | -0.0312 | - | 12 |" in page
    assert "| `corrected_mc` | statistical | nsd-corrected | corrected | pass | 0.01 | 0.001 | 13 |" in page
    # sweep table and figures with captions stating the data size
    assert "| n | r | samples | pass rate | worst margin |" in page
    assert "![Spectrum of $M_\\Delta$ vs Marchenko-Pastur](figures/L4-nsd_sweep-spectrum.png)" in page
    assert "Data: empirical: 20 bins; MP law: 20 points" in page
    assert "grid 3 x 4 (12 cells)" in page
    # the malformed plot is reported on the page, not silently dropped
    assert "could not be drawn" in page and "1 y values" in page
    # timings are not in the Markdown (they are not reproducible)
    assert "1.25" not in page and "configs_per_s" not in page


def test_index_table_and_metadata(tmp_path, fake_ledger):
    out = write_report(tmp_path / "rep", seed=5, profile="full")
    index = (out / "index.md").read_text()
    assert "Profile **full**, seed **5**, backend **numpy**" in index
    assert "| [L4](L4.md): Synthetic claim \\| with a pipe |" in index
    row = next(line for line in index.splitlines() if line.startswith("| [L4]"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 5  # 4 cells: every pipe inside a cell is escaped
    assert "**conditional**" in row and "`nsd_sweep` (numeric) fails" in row and "corrected `nsd-corrected` holds" in row
    for name in ("numpy", "scipy", "sympy", "mpmath", "matplotlib", "python"):
        assert f"| {name} | " in index
    assert "lora-theorems report --profile full --seed 5 --out DIR" in index
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 5 and run["profile"] == "full" and run["generator"] == "lora-theorems report"
    assert {c["check"]: c["elapsed_s"] for c in run["checks"]}["nsd_sweep"] == 1.25
    assert run["checks"][1]["metrics"] == {"configs_per_s": 1234.5}
    assert re.fullmatch(r"[0-9a-f]{64}", run["source_sha256"])
    # run.json hashes every other file
    files = _tree(out)
    assert set(run["sha256"]) == set(files) - {"run.json"}
    for name, digest in run["sha256"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    # every relative link of every page resolves
    for name, data in files.items():
        if name.endswith(".md"):
            for target in re.findall(r"\]\(([^)#]+)\)", data.decode()):
                assert (out / target).exists(), (name, target)


def test_same_seed_gives_identical_markdown_and_png_bytes(tmp_path, fake_ledger):
    a = _tree(write_report(tmp_path / "a", seed=3))
    b = _tree(write_report(tmp_path / "b", seed=3))
    assert set(a) == set(b)
    assert [n for n in a if n.endswith(".png")], "the synthetic ledger must produce figures"
    for name in a:
        if name != "run.json":
            assert a[name] == b[name], name


_SUBPROCESS_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import test_report as t
from lora_theorems import api
from lora_theorems.report import write_report
api.build_ledger = lambda ids=None, *, progress=None, **k: t._fake_ledger(**k)
write_report(sys.argv[1], seed=3)
"""


def test_identical_bytes_across_processes_and_hash_seeds(tmp_path):
    """Fresh interpreters with different hash seeds (set order!) write the same bytes."""
    import subprocess
    import sys

    script = _SUBPROCESS_SCRIPT.format(tests=str(Path(__file__).parent))
    trees = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"p{hash_seed}"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, MPLBACKEND="pdf")
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, timeout=120)
        trees.append({k: v for k, v in _tree(out).items() if k != "run.json"})
    assert trees[0] == trees[1]
    assert '`laws = ["gauss", "rademacher", "uniform"]`' in trees[0]["L4.md"].decode()


def test_counterexample_text_round_trips_every_digit():
    cx = {
        "witnesses": [{"n": 1, "A": [[1.5]]}, {"n": 2, "A": [[0.1, 0.2], [0.3, 1 / 3]]}],
        "also": {"n=1": [[1.0109]], "n=2": [[1.3535, -0.6657]], "note": "x" * 90},
        "M": np.array([[1.0, 2.0], [3.0, np.pi]]),
        "bad": [float("nan"), float("inf")],
        "x": 0.1,
    }
    back = json.loads(render_counterexample(cx))
    assert back["M"][1][1] == np.pi and back["witnesses"][1]["A"][1][1] == 1 / 3
    assert back["bad"] == ["nan", "inf"] and back["also"]["note"] == "x" * 90


def test_png_has_no_metadata_and_fixed_size(tmp_path):
    r = _fake_result()
    p = draw_plot(r.evidence[1].plots[0], tmp_path / "f.png")
    data = p.read_bytes()
    assert b"tEXt" not in data and b"iTXt" not in data and b"tIME" not in data
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 800 and 300 <= height <= 600


def test_long_titles_wrap_outside_math_only():
    from lora_theorems.report.figures import _wrap

    text = "distance to the Gaussian against rank with the bound $C \\rho / \\sqrt{r}$ and more words here"
    lines = _wrap(text, 30).split("\n")
    assert " ".join(lines) == text and len(lines) > 2
    assert any("$C \\rho / \\sqrt{r}$" in line for line in lines)  # the math span is never split


def test_figures_do_not_depend_on_user_rc(tmp_path):
    import matplotlib

    plot = _fake_result().evidence[1].plots[1]
    first = draw_plot(plot, tmp_path / "a.png").read_bytes()
    with matplotlib.rc_context({"font.size": 20, "axes.prop_cycle": matplotlib.cycler(color=["red"]), "image.cmap": "gray"}):
        second = draw_plot(plot, tmp_path / "b.png").read_bytes()
    assert first == second


@pytest.mark.parametrize(
    "plot,words",
    [
        (Plot("k", "t", "x", "y", kind="pie"), "unknown kind"),
        (Plot("k", "t", "x", "y"), "no series"),
        (Plot("k", "t", "x", "y", series=(Series("s", (1.0,), (1.0,), style="bar"),)), "unknown style"),
        (Plot("k", "t", "x", "y", series=(Series("s", (1.0, 2.0), (1.0, 2.0), style="hist"),)), "bin edges"),
        (Plot("k", "t", "x", "y", kind="heatmap", x=(1.0, 2.0), y=(1.0,), z=((1.0,),)), "rows of"),
    ],
)
def test_malformed_plot_raises_value_error_and_writes_nothing(tmp_path, plot, words):
    with pytest.raises(ValueError, match=words):
        draw_plot(plot, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# ----------------------------------------------------------------------------- atomicity


def test_interrupted_run_leaves_previous_report_untouched(tmp_path, fake_ledger, monkeypatch):
    out = tmp_path / "rep"
    write_report(out, seed=1)
    before = _tree(out)

    def boom(plot, path):
        raise KeyboardInterrupt  # an interruption while the figures are drawn

    monkeypatch.setattr("lora_theorems.report.draw_plot", boom)
    with pytest.raises(KeyboardInterrupt):
        write_report(out, seed=2)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no temporary directory left


def test_failure_during_swap_restores_previous_report(tmp_path, fake_ledger, monkeypatch):
    out = tmp_path / "rep"
    write_report(out, seed=1)
    before = _tree(out)
    real_rename = os.rename
    calls = []

    def flaky(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the move of the new report into place
            raise OSError("disk went away")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", flaky)
    with pytest.raises(OSError):
        write_report(out, seed=2)
    monkeypatch.setattr(os, "rename", real_rename)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_rerun_replaces_previous_report(tmp_path, fake_ledger):
    out = tmp_path / "rep"
    write_report(out, seed=1)
    # a figure an earlier run wrote and this one does not: listed in the old manifest, so it goes
    (out / "figures" / "stale.png").write_bytes(b"old")
    run = json.loads((out / "run.json").read_text())
    run["files"].append("figures/stale.png")
    (out / "run.json").write_text(json.dumps(run))
    write_report(out, seed=2)
    assert not (out / "figures" / "stale.png").exists()
    assert "seed **2**" in (out / "index.md").read_text()


def _add_user_files(out: Path) -> dict[str, bytes]:
    files = {"NOTES.md": b"my notes\n", "mydata/keep.csv": b"a,b\n1,2\n", "figures/mine.png": b"not generated",
             "L4.md.draft": b"draft"}
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    return files


def test_rerun_keeps_files_the_toolkit_did_not_write(tmp_path, fake_ledger):
    out = tmp_path / "rep"
    write_report(out, seed=1)
    mine = _add_user_files(out)
    write_report(out, seed=2)
    tree = _tree(out)
    for name, data in mine.items():
        assert tree.get(name) == data, name
    run = json.loads((out / "run.json").read_text())
    # the manifest lists exactly the generated files, none of the user's
    assert set(run["files"]) == set(tree) - set(mine)
    assert "seed **2**" in tree["index.md"].decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_report_without_files_list_uses_its_hashes_as_manifest(tmp_path, fake_ledger):
    """Reports written before run.json had ``files``: the ``sha256`` keys are what it wrote."""
    out = tmp_path / "rep"
    write_report(out, seed=1)
    run = json.loads((out / "run.json").read_text())
    del run["files"]
    (out / "run.json").write_text(json.dumps(run))
    mine = _add_user_files(out)
    write_report(out, seed=2)
    tree = _tree(out)
    assert all(tree.get(n) == d for n, d in mine.items())


def test_bare_report_keeps_the_profile_the_directory_holds(tmp_path, capsys, fake_ledger, monkeypatch):
    out = tmp_path / "rep"
    write_report(out, profile="full", seed=0)
    before = _tree(out)
    seen = []
    real = api.build_ledger
    monkeypatch.setattr(api, "build_ledger", lambda ids=None, **k: seen.append(k["config"].profile) or real(ids, **k))
    code, _, err = _cli(capsys, "report", "--out", str(out))
    assert code == 0, err
    assert seen == ["full"] and "Profile **full**" in (out / "index.md").read_text()
    # an explicit other profile is refused, before any check runs, and nothing changes
    before = {k: v for k, v in _tree(out).items() if k != "run.json"}
    code, _, err = _cli(capsys, "report", "--out", str(out), "--profile", "quick")
    assert code == 2 and "holds a full-profile report" in err and "--force" in err
    assert len(err.strip().splitlines()) == 1 and seen == ["full"]
    assert {k: v for k, v in _tree(out).items() if k != "run.json"} == before
    code, _, err = _cli(capsys, "report", "--out", str(out), "--profile", "quick", "--force")
    assert code == 0 and seen == ["full", "quick"] and "Profile **quick**" in (out / "index.md").read_text()
    # a new directory defaults to quick
    write_report(tmp_path / "new")
    assert seen[-1] == "quick"


_KILL_SCRIPT = """
import os, sys, time
sys.path.insert(0, {tests!r})
import test_report as t
from lora_theorems import api, report
api.build_ledger = lambda ids=None, *, progress=None, **k: t._fake_ledger(**k)
def pause(stage):
    if stage == sys.argv[2]:
        open(sys.argv[3], "w").close()
        time.sleep(120)
report._at_stage = pause
report.write_report(sys.argv[1], seed=7)
"""


def _killed_at(tmp_path: Path, out: Path, stage: str) -> None:
    """Run the writer in a subprocess and SIGKILL it at ``stage`` (see ``report._at_stage``)."""
    import signal
    import subprocess
    import sys
    import time

    marker = tmp_path / f"at-{stage}"
    script = _KILL_SCRIPT.format(tests=str(Path(__file__).parent))
    proc = subprocess.Popen([sys.executable, "-c", script, str(out), stage, str(marker)],
                            env=dict(os.environ, MPLBACKEND="agg"))
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the writer ended before reaching " + stage
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    marker.unlink()


@pytest.mark.parametrize("stage", ["figures", "swap", "foreign"])
def test_sigkill_at_any_moment_is_recovered_by_the_next_run(tmp_path, fake_ledger, stage):
    out = tmp_path / "rep"
    write_report(out, seed=1)
    mine = _add_user_files(out)
    generated = {k: v for k, v in _tree(out).items() if k not in mine and k != "run.json"}
    _killed_at(tmp_path, out, stage)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "rep")
    assert left and all(n.startswith(".rep.") for n in left), left  # the kill did leave something
    # at the moment of the kill, every user file exists somewhere (in rep or in the old report)
    for name, data in mine.items():
        assert any((d / name).is_file() and (d / name).read_bytes() == data for d in tmp_path.iterdir()), name
    if stage == "figures":
        assert {k: v for k, v in _tree(out).items() if k != "run.json"} == {**generated, **mine}
    if stage == "swap":
        assert not out.exists()  # the previous report is in .rep.old-*
    # the next run recovers and cleans up; recovery alone already restores the report
    actions = __import__("lora_theorems.report", fromlist=["x"]).recover_stale(out)
    assert actions and out.is_dir() and all((out / n).read_bytes() == d for n, d in mine.items())
    write_report(out, seed=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
    tree = _tree(out)
    assert all(tree[n] == d for n, d in mine.items()) and "seed **2**" in tree["index.md"].decode()


def test_stale_cleanup_touches_only_provably_ours(tmp_path, fake_ledger):
    import subprocess
    import sys

    out = tmp_path / "rep"
    write_report(out, seed=1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    live = str(os.getpid())
    keep = {
        f".rep.tmp-{live}-0123abcd": "index.md",  # a running process's temporary
        f".rep.tmp-{dead}-0123abce": "NOTES.txt",  # dead, but holds a file the writer never writes
        f".other.tmp-{dead}-0123abcf": "index.md",  # another report's
        f".rep.tmp-{dead}-xyz": "index.md",  # not our name pattern
    }
    gone = {f".rep.tmp-{dead}-0123abd0": "figures/L4-x.png", f".rep.trash-{dead}-0123abd1": "L4.md"}
    for d, f in {**keep, **gone}.items():
        (tmp_path / d / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / d / f).write_text("x")
    write_report(out, seed=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["rep", *keep])


# ----------------------------------------------------------------------------- bad --out


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _bad_out_cases(tmp_path: Path):
    f = tmp_path / "a-file.txt"
    f.write_text("keep me")
    full = tmp_path / "not-a-report"
    full.mkdir()
    (full / "notes.txt").write_text("keep me too")
    return [
        (str(f), "is an existing file"),
        (str(f / "sub"), "which is a file"),
        (str(full), "refusing to replace"),
        ("/", "root"),
    ]


def test_bad_out_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch):
    def must_not_run(*a, **k):
        raise AssertionError("checks ran before --out was validated")

    monkeypatch.setattr(api, "build_ledger", must_not_run)
    for out, words in _bad_out_cases(tmp_path):
        before = _tree(tmp_path)
        code, stdout, err = _cli(capsys, "report", "--out", out)
        assert code == 2, (out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("lora-theorems: error: ") and words in lines[0], err
        assert stdout == "" and _tree(tmp_path) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file.txt", "not-a-report"]


def test_unwritable_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(api, "build_ledger", lambda *a, **k: pytest.fail("checks ran"))
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # as root, chmod does not stop writes: make the parent look unwritable instead
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    code, _, err = _cli(capsys, "report", "--out", str(locked / "rep"))
    assert code == 2 and "is not writable" in err and len(err.strip().splitlines()) == 1
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(not os.path.isdir("/proc/1"), reason="needs a read-only /proc")
def test_read_only_file_system_is_caught_even_as_root():
    with pytest.raises(ValueError, match="cannot be written"):
        validate_out_dir("/proc/1/lora-report")


def test_empty_existing_directory_and_new_nested_path_are_accepted(tmp_path, fake_ledger):
    (tmp_path / "empty").mkdir()
    assert validate_out_dir(tmp_path / "empty") == (tmp_path / "empty").resolve()
    out = write_report(tmp_path / "new" / "deep" / "rep")
    assert (out / "index.md").is_file()


def test_bad_options_are_checked_before_out(tmp_path):
    with pytest.raises(ValueError, match="unknown profile"):
        write_report(tmp_path / "r", profile="slow")
    assert list(tmp_path.iterdir()) == []


def test_partial_report_says_so(tmp_path, fake_ledger):
    out = write_report(tmp_path / "rep", ids=["l4"])
    assert fake_ledger == [("L4",)]
    assert "**Partial report:** only the claims listed below were run (L4)" in (out / "index.md").read_text()
    full = write_report(tmp_path / "all")
    assert "Partial" not in (full / "index.md").read_text()


# ----------------------------------------------------------------------------- end to end


def test_cli_report_prints_path_and_progress_on_stderr(tmp_path, capsys, fake_ledger):
    code, out, err = _cli(capsys, "report", "--out", str(tmp_path / "rep"), "--seed", "4")
    assert code == 0 and out.strip() == str((tmp_path / "rep").resolve())
    assert "fake ledger" in err and "report: figure 1/" in err and "report: wrote" in err


def test_real_quick_report_end_to_end(tmp_path):
    """The quick report of the real ledger: a page per claim, every figure, reproducible pages.

    The ledger is cached per process (other tests may have run the checks already); the
    second write re-renders the same ledger and must give the same bytes.
    """
    import mpmath

    dps = mpmath.mp.dps
    out = write_report(tmp_path / "rep", profile="quick", seed=0)
    # no check leaves global state behind (M5 once left mp.dps = 50, so L4's witnesses printed
    # 8 digits in a fresh process and 50 when the ledger ran again)
    assert mpmath.mp.dps == dps
    files = _tree(out)
    ids = [c.id for c in lt.list_claims()]
    assert {f"{i}.md" for i in ids} | {"index.md", "README.md", "run.json"} <= set(files)
    index = files["index.md"].decode()
    ledger = api.build_ledger(profile="quick", seed=0)
    for r in ledger.results:
        row = next(line for line in index.splitlines() if line.startswith(f"| [{r.claim.id}]({r.claim.id}.md)"))
        assert f"**{r.verdict.verdict.value}**" in row
        page = files[f"{r.claim.id}.md"].decode()
        for e in r.evidence:
            assert f"`{e.check}`" in page
            if e.counterexample:
                assert render_counterexample(e.counterexample) in page
    n_plots = sum(len(e.plots) for r in ledger.results for e in r.evidence)
    pages = "".join(v.decode() for k, v in files.items() if k.endswith(".md"))
    # every plot is either drawn or reported as not drawn (never silently dropped)
    assert len([n for n in files if n.endswith(".png")]) + pages.count("could not be drawn") == n_plots
    for target in re.findall(r"\]\(([^)#]+)\)", pages):
        assert (out / target).exists(), target
    assert _assert_tables_well_formed(files) >= 2 * len(ids)  # header, delimiter and rows agree
    again = _tree(write_report(tmp_path / "rep2", profile="quick", seed=0))
    assert {k: v for k, v in files.items() if k != "run.json"} == {k: v for k, v in again.items() if k != "run.json"}


@pytest.mark.heavy
def test_real_quick_report_identical_across_fresh_processes(tmp_path):
    """Two fresh ``lora-theorems report`` processes (checks recomputed) give the same bytes."""
    import subprocess
    import sys

    trees = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"r{hash_seed}"
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        subprocess.run([sys.executable, "-m", "lora_theorems", "report", "--out", str(out)], check=True, env=env)
        trees.append({k: v for k, v in _tree(out).items() if k != "run.json"})
    assert trees[0] == trees[1]


# ----------------------------------------------------------------------------- issue 14: rendering, reproducibility


def _table_column_counts(markdown: str) -> list[tuple[int, ...]]:
    """For each pipe table of a page: the number of cells of its header, delimiter and each row
    (a cell boundary is a ``|`` not escaped as ``\\|`` and not inside a code span)."""

    def cells(line: str) -> int:
        line = re.sub(r"`[^`]*`", "code", line)  # pipes in code spans are text on GitHub
        return len(re.findall(r"(?<!\\)\|", line)) - 1

    lines = markdown.splitlines()
    tables, in_code, i = [], False, 0
    while i < len(lines):
        if lines[i].startswith("```"):
            in_code = not in_code
        if not in_code and i + 1 < len(lines) and re.fullmatch(r"\|( *:?-+:? *\|)+", lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            tables.append(tuple(cells(line) for line in lines[i:j]))
            i = j
            continue
        i += 1
    return tables


def _assert_tables_well_formed(files: dict[str, bytes]) -> int:
    n = 0
    for name, data in files.items():
        if name.endswith(".md"):
            text = data.decode()
            for counts in _table_column_counts(text):
                n += 1
                assert len(counts) >= 2 and len(set(counts)) == 1, (name, counts)
            lines = text.splitlines()
            for k, line in enumerate(lines):  # every delimiter row follows a header row
                if re.fullmatch(r"\|(---\|)+", line):
                    assert k > 0 and lines[k - 1].startswith("| "), name
    return n


def test_header_cells_are_escaped():
    from lora_theorems.render import render_table

    t = Table("Sweep", ("n", "mean ||M||_op", "P(|x| > 1)"), ((16, 2.5, 0.1), (32, 2.75, 0.2)))
    text = render_table(t, "markdown")
    assert "| n | mean \\|\\|M\\|\\|_op | P(\\|x\\| > 1) |" in text
    assert set(_table_column_counts(text)[0]) == {3}
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        render_table(Table("bad", ("a", "b", "c"), ((1, 2),)), "markdown")


def test_every_table_of_the_synthetic_report_has_matching_column_counts(tmp_path, fake_ledger):
    files = _tree(write_report(tmp_path / "rep"))
    assert _assert_tables_well_formed(files) >= 4


def test_cli_counterexample_line_shows_values_not_key_names():
    from lora_theorems.render import render_evidence

    e = _fake_result().evidence[1]
    text = render_evidence(e)
    line = next(x for x in text.splitlines() if "counterexample:" in x)
    assert "n=3" in line and "r=2" in line and "lambda_max=0.0312346" in line
    assert "A=[[1.0, 0.25, 0.0], [0.0, 0.5, -0.125]]" in line
    e2 = Evidence(claim="L4", check="c", formalization="nsd", reading=AS_WRITTEN, kind=EvidenceKind.NUMERIC,
                  passed=False, summary="s", counterexample={"A": np.ones((40, 40)), "also": {"x": 1}, "eigenvalues": [0.5]})
    line = next(x for x in render_evidence(e2).splitlines() if "counterexample:" in x)
    assert "eigenvalues=[0.5]" in line and 'also={"x": 1}' in line and "A=[[1.0, 1.0," in line and len(line) < 260


def test_parameters_print_stable_digits_and_findings_are_labelled(tmp_path, monkeypatch):
    """Parameters print 12 significant digits (the last digits of a float64 move with the BLAS
    thread count); a FINDING reading and a not-checkable one are named as such."""
    from lora_theorems.ledger import FINDING

    claim = Claim(
        id="L4", paper="L", title="t", statement="s", source="x",
        formalizations=(
            Formalization("w", "layer", "as written"),
            Formalization("bert", "model", "needs weights", not_checkable="needs BERT weights"),
            Formalization("truth", "layer", "what is true instead", reading=FINDING),
        ),
    )
    ev = (
        Evidence(claim="L4", check="c1", formalization="w", reading=AS_WRITTEN, kind=EvidenceKind.NUMERIC, passed=True,
                 summary="ok", params={"mean": 2.9496159548879453, "third": 1 / 3, "n": 7}),
        Evidence(claim="L4", check="c2", formalization="truth", reading=FINDING, kind=EvidenceKind.NUMERIC,
                 passed=True, summary="fact"),
    )
    monkeypatch.setattr(api, "build_ledger", lambda ids=None, **k: api.Ledger(
        seed=0, profile="quick", backend="numpy", results=(ClaimResult(claim=claim, evidence=ev),)))
    page = (write_report(tmp_path / "rep") / "L4.md").read_text()
    assert "`mean = 2.94961595489`" in page and "`third = 0.333333333333`" in page and "`n = 7`" in page
    assert "2.949615954887" not in page
    assert "**Not checkable by this toolkit** (never counted as passed): needs BERT weights" in page
    assert "- **`truth`** (*finding*" in page and "- **`w`** (as written;" in page


def test_versions_recorded_in_index_and_run_json(tmp_path, fake_ledger):
    from importlib import metadata

    out = write_report(tmp_path / "rep")
    index = (out / "index.md").read_text()
    run = json.loads((out / "run.json").read_text())
    for name in ("dp-accounting", "numpy", "scipy", "sympy", "mpmath", "matplotlib", "threadpoolctl"):
        assert f"| {name} | {metadata.version(name)} |" in index
        assert run["versions"][name] == metadata.version(name)
    assert isinstance(run["blas"], list)


_THREADS_SCRIPT = """
import sys
from lora_theorems.report import write_report
write_report(sys.argv[1], ids=["L5", "M3"], profile="quick", seed=0)
"""


def test_report_bytes_do_not_depend_on_blas_threads(tmp_path):
    """Issue 14: an eigenvalue printed as 2.949615954887945 with one BLAS thread and
    2.9496159548879453 with two.  The quick report of L5 and M3 (the pages that changed),
    written in fresh processes with 1 and 2 BLAS/OpenMP threads, is the same bytes."""
    import subprocess
    import sys

    procs = {}
    for n in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n, MPLBACKEND="agg")
        procs[n] = subprocess.Popen([sys.executable, "-c", _THREADS_SCRIPT, str(tmp_path / f"t{n}")], env=env,
                                    stderr=subprocess.PIPE, text=True)
    for p in procs.values():
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    one, two = ({k: v for k, v in _tree(tmp_path / f"t{n}").items() if k != "run.json"} for n in ("1", "2"))
    assert {"L5.md", "M3.md", "index.md"} <= set(one)
    assert one.keys() == two.keys()
    assert [k for k in one if one[k] != two[k]] == []
    assert _assert_tables_well_formed(one) >= 3


# ----------------------------------------------------------------------------- issue 14: figures


def _figure(plot):
    import matplotlib
    import matplotlib.style

    from lora_theorems.report import figures

    with matplotlib.style.context("default"), matplotlib.rc_context(figures._RC):
        fig = figures._build(plot)
        fig.canvas.draw()
    return fig


def test_heat_map_sign_is_visible_next_to_large_negatives():
    """L7's heat maps: a +0.019 violation next to -99 cells was invisible in a sequential map.
    A diverging map centred at 0 colours it red and every negative cell blue, and every
    positive cell is hatched."""
    z = ((-99.0, -50.0, -1.0), (-0.5, 0.019, float("nan")))
    plot = Plot("h", "LoRA minus FF", "x", "rank", kind="heatmap", x=(0.5, 1.0, 2.0), y=(1.0, 2.0), z=z, zlabel="LoRA - FF")
    fig = _figure(plot)
    ax = fig.axes[0]
    mesh = ax.collections[0]
    norm, cmap = mesh.norm, mesh.cmap
    assert abs(norm(0.0) - 0.5) < 1e-12 and norm(0.019) == 1.0 and norm(-99.0) == 0.0
    red, blue = cmap(norm(0.019)), cmap(norm(-0.5))
    assert red[0] > 2 * red[2] and red[0] > 2 * red[1] and blue[2] > blue[0]  # the violation is red, a negative cell blue
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert [(p.get_x(), p.get_y()) for p in hatched] == [(0.5, 0.5)]  # exactly the one positive cell (j=1, i=1)
    assert "value > 0 (1 of 5 cells" in ax.get_legend().get_texts()[0].get_text()


def test_intervals_are_bands_and_may_be_asymmetric(tmp_path):
    from matplotlib.collections import PolyCollection

    p = np.array([1.0, 0.98, 0.5, 0.0])
    lo, hi = np.array([0.97, 0.93, 0.43, 0.0]), np.array([1.0, 0.995, 0.57, 0.03])
    sym = Series("MC", (0.1, 0.2, 0.3, 0.4), tuple(p), yerr=(0.03, 0.05, 0.07, 0.03), style="points")
    asym = Series("CP", (0.1, 0.2, 0.3, 0.4), tuple(p), yerr=tuple(zip(p - lo, hi - p, strict=True)), style="points")
    exact = Series("exact", (0.1, 0.2, 0.3, 0.4), (1.0, 0.99, 0.52, 0.01))
    fig = _figure(Plot("b", "t", "x", "P", series=(sym, asym, exact)))
    bands = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    ys = bands[1].get_paths()[0].vertices[:, 1]
    assert np.isclose(ys.min(), 0.0) and np.isclose(ys.max(), 1.0)  # lower and upper ends, never below 0 or above 1
    assert np.isclose(np.sort(np.unique(np.round(ys, 12))), np.sort(np.unique(np.r_[lo, hi]))).all()
    draw_plot(Plot("b", "t", "x", "P", series=(asym,)), tmp_path / "b.png")
    with pytest.raises(ValueError, match="half-widths or 2 .below, above. pairs"):
        draw_plot(Plot("b", "t", "x", "y", series=(Series("s", (1.0, 2.0), (1.0, 2.0), yerr=((1, 2, 3), (1, 2, 3))),)),
                  tmp_path / "c.png")


def test_legend_is_outside_the_data_and_styles_do_not_repeat():
    """M3's legend covered the data and repeated colours: six series, six colour+marker pairs,
    the legend below the axes."""
    series = tuple(Series(f"s{i}", (1.0, 2.0, 4.0), (1.0 / (i + 1), 0.5 / (i + 1), 0.25 / (i + 1)),
                          style="points" if i % 2 else "line") for i in range(12))
    fig = _figure(Plot("m", "t", "r", "d", series=series, logx=True, logy=True))
    ax = fig.axes[0]
    styles = [(line.get_color(), line.get_marker()) for line in ax.get_lines()]
    assert len(styles) == 12 and len(set(styles)) == 12
    assert len({c for c, _ in styles[:10]}) == 10
    legend = fig.legends[0].get_window_extent()
    axes = ax.get_window_extent()
    assert legend.y1 <= axes.y0  # entirely below the axes


# ----------------------------------------------------------------------------- issue 11: parallel reports

_PARALLEL_IDS = ["L2", "L6", "M1"]


def test_report_bytes_do_not_depend_on_jobs_or_dask(tmp_path):
    """The quick report of a few claims written serially, with two local worker processes and
    on a two-worker Dask LocalCluster is the same bytes (run.json aside, which says how it ran)."""
    import importlib.util

    trees, records = {}, {}
    for label, kw in (("serial", {"jobs": 1}), ("jobs2", {"jobs": 2})):
        out = write_report(tmp_path / label, ids=_PARALLEL_IDS, profile="quick", seed=0, **kw)
        trees[label] = _tree(out)
        records[label] = json.loads(trees[label].pop("run.json"))
    if importlib.util.find_spec("distributed") is not None:
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            out = write_report(tmp_path / "dask", ids=_PARALLEL_IDS, profile="quick", seed=0,
                               dask=cluster.scheduler_address)
        trees["dask"] = _tree(out)
        records["dask"] = json.loads(trees["dask"].pop("run.json"))
    assert {"L2.md", "L6.md", "M1.md", "index.md"} <= set(trees["serial"])
    for label, tree in trees.items():
        assert tree.keys() == trees["serial"].keys(), label
        assert [k for k in tree if tree[k] != trees["serial"][k]] == [], label
        assert records[label]["sha256"] == records["serial"]["sha256"], label
    assert records["serial"]["execution"] == {"jobs": 1, "dask": False, "order": "declared"}
    assert records["jobs2"]["execution"] == {"jobs": 2, "dask": False, "order": "longest first"}
    if "dask" in records:
        assert records["dask"]["execution"]["dask"] is True


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"jobs": 0}, "jobs must be a positive integer, got 0"),
        ({"jobs": "2"}, "jobs must be a positive integer, got '2'"),
        ({"dask": "  "}, "dask scheduler address must be a non-empty string"),
        ({"config": "quick"}, "config must be a RunConfig, got str"),
        ({"config": api.RunConfig(), "seed": 1}, "give either config"),
        ({"config": api.RunConfig(), "jobs": 2}, "give either config"),
    ],
)
def test_bad_parallel_options_are_refused_before_anything_is_written(tmp_path, kw, msg, monkeypatch):
    monkeypatch.setattr(api, "build_ledger", lambda *a, **k: pytest.fail("checks ran"))
    with pytest.raises(ValueError, match=msg):
        write_report(tmp_path / "rep", **kw)
    assert not (tmp_path / "rep").exists()


def test_config_and_previous_timings_reach_the_runner(tmp_path, monkeypatch):
    """``config=`` is passed on whole; a rerun into a report of the same profile hands the
    previous per-check timings to the runner as cost estimates (longest first)."""
    seen = []

    def fake(ids=None, *, config=None, **_):
        seen.append(config)
        return _fake_ledger(config=config)

    monkeypatch.setattr(api, "build_ledger", fake)
    out = write_report(tmp_path / "rep", config=api.RunConfig(profile="quick", seed=5, jobs=2))
    assert seen[0].seed == 5 and seen[0].jobs == 2 and seen[0].costs is None
    record = json.loads((out / "run.json").read_text())
    assert record["seed"] == 5 and record["execution"]["jobs"] == 2
    record["checks"] = [{"claim": "L4", "check": "c1", "elapsed_s": 7.5, "metrics": {}}]
    (out / "run.json").write_text(json.dumps(record))
    write_report(out, jobs=2)
    assert seen[1].costs == {"L4/c1": 7.5} and seen[1].jobs == 2 and seen[1].seed == 0


def test_figures_drawn_in_worker_processes_are_the_serial_bytes(tmp_path):
    """With worker processes the report draws each evidence's figures on the run's own workers as
    the evidence arrives (issue 11): the same files as drawn here, and the same outcomes, a
    malformed plot's error text included."""
    from lora_theorems.report import _FigureDrawer, _write_files
    from lora_theorems.runner import Workers

    result = _fake_result()
    ledger = api.Ledger(seed=0, profile="quick", backend="numpy", results=(result,))
    trees = {}
    for jobs in (1, 2):
        d = tmp_path / f"j{jobs}"
        d.mkdir()
        with Workers(api.RunConfig(jobs=jobs)) as workers:
            drawer = _FigureDrawer(d / "figures", workers)
            for ev in result.evidence:
                drawer(ev)
            assert len(drawer.jobs) == (sum(len(e.plots) for e in result.evidence) if jobs == 2 else 0)
            _write_files(d, ledger, False, lambda msg: None, drawer)
        trees[jobs] = _tree(d)
    assert trees[1] == trees[2]
    assert not [k for k in trees[2] if ".staging" in k]
    page = trees[2]["L4.md"].decode()
    assert "has 2 x values and 1 y values" in page  # the malformed plot, said on its page

"""The one benchmark run behind ``benchmarks/RESULTS.md`` (issue 11), run by hand, never in tests.

    python benchmarks/bench.py [--rounds 3] [--repeats 3] [--peer-python PATH] [--out FILE]

Every task of issue 11 in one run, contenders interleaved round by round (each round runs each
contender once, in its own fresh process, alternating or rotating which goes first):

* **analytic NTK**: ``analytic_ntk`` vs neural-tangents' ``stax`` kernel_fn, N = 2000 and 5000,
  d = 64, depth 2 and 4, ReLU and erf (``bench_peers.py`` has the contenders);
* **empirical NTK**: ``empirical_ntk`` vs neural-tangents' three ``empirical_ntk_fn``
  implementations and torch.func (``vmap(jacrev)`` + contraction), N = 256, widths 512 and 1024,
  FF and LoRA modes, on the same weights; the kernels must agree to 1e-10 relative;
* **M_Delta sweep**: its achieved FLOP rate as a fraction of the same process's DGEMM rate
  (``bench_m_delta_flops.py``);
* **the report**: ``write_report`` wall time, quick profile ``--rounds`` times and full profile
  ``--full-rounds`` times, ``jobs=1`` vs ``jobs=2``, with CPU seconds, peak memory and the
  hashes of the reproducible files, which must agree across job counts (``bench_report.py``);
  the reports run after every other task (a full report leaves this VM slower for NumPy's
  allocation-heavy work for minutes, which would be measured as the contenders' speed);
* **start-up**: ``lora-theorems list``, ``show L4 --no-run``, ``--version``, ``--help``.

A ratio ours / peer is taken per round (best of ``--repeats`` calls on each side) and shown as
min / median / max over rounds; a target is met when the median meets it.  The file is written
only by a complete run (``--only`` prints its tables and writes nothing unless ``--out`` is given).

Installing the peers:

* torch.func: the ``[bench]`` extra of this project, ``pip install -e '.[bench]'`` (PyTorch
  2.13.0; on this project's machines that pin takes the CPU build from the local disk; elsewhere
  add ``--index-url https://download.pytorch.org/whl/cpu`` to get the CPU build, not CUDA's);
  it runs in this environment (``--torch-python`` to use another);
* neural-tangents 0.6.5 needs JAX 0.4.23 and numpy < 2, so it lives in its own virtual
  environment (outside the repository), passed as ``--peer-python``::

      python3 -m venv /work/peer-venv
      /work/peer-venv/bin/pip install 'jax[cpu]==0.4.23' 'numpy<2' 'scipy<1.13' frozendict threadpoolctl
      /work/peer-venv/bin/pip install --no-deps neural-tangents==0.6.5
      # neural_tangents/experimental/__init__.py imports TensorFlow (empirical_tf):
      sed -i 's/^from .empirical_tf/# from .empirical_tf/' \\
          /work/peer-venv/lib/python3.*/site-packages/neural_tangents/experimental/__init__.py

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, set on some machines for old OpenBLAS builds, slow a
current NumPy: every child runs with both unset (``--keep-openblas-env`` keeps them), and the
NTK workers report the BLAS kernel they used.  Run it on an otherwise idle machine: wall times
move with the load (the file records the load average), ratios from the same rounds much less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_peers as peers  # noqa: E402
import bench_report  # noqa: E402
import cli_startup  # noqa: E402

TASKS = ("analytic", "empirical", "m-delta", "report", "startup")
TARGETS = {  # issue 11's numbers
    "analytic": 1.0,  # ours / neural-tangents, each case's median
    "empirical": 0.05,  # ours / best neural-tangents implementation: >= 20x faster
    "report-quick": 15.0,  # seconds, jobs=2
    "report-full": 120.0,
    "startup": 1.0,  # seconds, worst of any run
}
AGREE = 1e-10  # empirical kernels: max |ours - peer| / max |ours|


def _mmm(xs) -> str:
    return f"{min(xs):.3f} / {statistics.median(xs):.3f} / {max(xs):.3f}"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


class Run:
    """The measurements of one run, filled round by round."""

    def __init__(self, args):
        self.args = args
        self.ntk: dict[str, dict[str, list[float]]] = {}  # task key -> contender -> best time per round
        self.agree: dict[str, dict[str, float]] = {}  # task key -> peer -> difference (round 0)
        self.versions: dict[str, dict] = {}
        self.blas: dict[str, list] = {}
        self.mdelta: list[dict] = []
        self.reports: list[dict] = []
        self.startup: dict[str, list[float]] = {}

    # ------------------------------------------------------------------ one round of each task

    def ntk_round(self, r: int, data: Path, task: dict, contenders: list[str]) -> None:
        key = json.dumps(task, sort_keys=True)
        times = self.ntk.setdefault(key, {c: [] for c in contenders})
        k = r % len(contenders)
        order = contenders[k:] + contenders[:k] if task["kind"] == "empirical" else (contenders if r % 2 == 0 else contenders[::-1])
        tag = abs(hash(key))
        for c in order:
            save = str(data / f"out_{c}_{tag}.npy") if r == 0 else None
            slow_peer = c.startswith("nt") and task["kind"] == "empirical"  # seconds a call
            reps = self.args.peer_empirical_repeats if slow_peer else self.args.repeats
            py = {"ours": sys.executable, "torch": self.args.torch_python}.get(c, self.args.peer_python)
            time.sleep(self.args.settle)  # the previous process's teardown (thread pools, freed memory) settles
            res = peers.run_contender(py, c, task, data, reps, dict(os.environ), save)
            times[c].append(min(res["times"]))
            who = "nt" if c.startswith("nt") else c
            self.versions.setdefault(who, res["versions"])
            self.blas.setdefault(who, res["blas"])
            print(f"round {r} {task} {c}: {min(res['times']):.4f} s", flush=True)
        if r == 0:
            import numpy as np

            ours = np.load(data / f"out_ours_{tag}.npy")
            self.agree[key] = {}
            for c in contenders[1:]:
                other = np.load(data / f"out_{c}_{tag}.npy").reshape(ours.shape)
                if task["kind"] == "analytic":  # entry error relative to sqrt(T_ii T_jj)
                    dg = np.sqrt(np.abs(np.diag(ours)))
                    self.agree[key][c] = float(np.max(np.abs(ours - other) / np.outer(dg, dg)))
                else:
                    self.agree[key][c] = float(np.max(np.abs(ours - other)) / np.max(np.abs(ours)))

    def mdelta_round(self) -> None:
        out = subprocess.run([sys.executable, str(HERE / "bench_m_delta_flops.py"), "--json"],
                             capture_output=True, text=True, check=True)
        self.mdelta.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"m-delta: fractions {[round(row[5], 3) for row in self.mdelta[-1]['rows']]}", flush=True)

    def report_round(self, r: int, profile: str, workdir: Path) -> None:
        for jobs in ((1, 2) if r % 2 == 0 else (2, 1)):
            time.sleep(self.args.settle)
            rec = bench_report.run_once(profile, jobs, workdir)
            rec["round"] = r
            self.reports.append(rec)
            print(f"report {profile} jobs={jobs}: {rec['wall_s']:.1f} s wall, {rec['cpu_s']:.1f} CPU-s", flush=True)

    def dask_report(self, workdir: Path) -> None:
        """The quick report once on a two-worker Dask LocalCluster started here: its bytes must be
        those of the local runs (its wall time includes the cluster's own overhead)."""
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            rec = bench_report.run_once("quick", 2, workdir, dask=cluster.scheduler_address)
        rec["round"] = 0
        self.reports.append(rec)
        print(f"report quick on dask: {rec['wall_s']:.1f} s wall", flush=True)

    def startup_round(self) -> None:
        for argv in cli_startup.COMMANDS:
            self.startup.setdefault(" ".join(argv), []).extend(cli_startup.wall(argv, repeat=3))

    # ------------------------------------------------------------------ the file

    def markdown(self, wall_s: float) -> str:
        a = self.args
        m = peers.machine()
        lines = [
            "# Benchmarks (benchmarks/bench.py)",
            "",
            f"Generated by one run of `python benchmarks/bench.py --rounds {a.rounds} --repeats {a.repeats} "
            f"--full-rounds {a.full_rounds} --settle {a.settle:g}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
            f"{wall_s / 60:.1f} min. Each round runs every contender once in its own process (a warm-up call, "
            "then the best of the repeats), after a pause for the previous process to settle, alternating or rotating "
            "which goes first; a ratio is ours / peer "
            "per round, shown min / median / max over rounds; a target is met when the median meets it. float64 throughout.",
            "",
            f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}; load average at the end "
            f"{' / '.join(f'{x:.1f}' for x in m['load'] or ())} (wall times move with other work on the machine; "
            "ratios from the same rounds much less)",
            "- OpenBLAS environment: "
            + ("kept" if a.keep_openblas_env else "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for every child")
            + "; PYTHONDONTWRITEBYTECODE unset (bytecode cached, as a default Python and `pip install .` do)",
        ]
        for who, v in self.versions.items():
            lines.append(f"- {who}: " + ", ".join(f"{k} {val}" for k, val in v.items()))
        for who, b in self.blas.items():
            if b:
                lines.append(f"- {who} BLAS: " + "; ".join(", ".join(f"{k} {val}" for k, val in d.items()) for d in b))
        body = self._analytic() + self._empirical() + self._mdelta() + self._report() + self._startup()
        return "\n".join(lines + ["", "## Targets (issue 11)", "", *self._targets(), *body, ""])

    def _cases(self, kind: str):
        for key, times in self.ntk.items():
            task = json.loads(key)
            if task["kind"] == kind:
                yield key, task, times

    def _targets(self) -> list[str]:
        rows = ["| target | measured | |", "|---|---|---|"]
        an = [statistics.median(o / p for o, p in zip(t["ours"], t["nt"], strict=True)) for _, _, t in self._cases("analytic")]
        if an:
            rows.append(f"| analytic NTK: ours / neural-tangents <= {TARGETS['analytic']} in every case "
                        f"| worst case median {max(an):.3f} (best {min(an):.3f}) | {_met(max(an) <= TARGETS['analytic'])} |")
        em, agree = [], []
        for key, _, t in self._cases("empirical"):
            nts = [c for c in t if c.startswith("nt")]
            em.append(statistics.median(o / min(t[c][i] for c in nts) for i, o in enumerate(t["ours"])))
            agree.append(max(self.agree[key].values()))
        if em:
            rows.append(f"| empirical NTK: >= {1 / TARGETS['empirical']:.0f}x faster than neural-tangents' best, every case "
                        f"| slowest case {1 / max(em):.0f}x (fastest {1 / min(em):.0f}x) | {_met(max(em) <= TARGETS['empirical'])} |")
            rows.append(f"| empirical NTK: agrees with every peer to {AGREE:g} relative "
                        f"| worst {max(agree):.1e} | {_met(max(agree) <= AGREE)} |")
        for profile in ("quick", "full"):
            w = [x["wall_s"] for x in self.reports if x["profile"] == profile and x["jobs"] == 2 and not x["dask"]]
            if w:
                goal = TARGETS[f"report-{profile}"]
                rows.append(f"| {profile} report with `--jobs 2` <= {goal:.0f} s | median {statistics.median(w):.1f} s "
                            f"({min(w):.1f}-{max(w):.1f}) | {_met(statistics.median(w) <= goal)} |")
        if self.reports:
            hashes = {(x["profile"], json.dumps(x["sha256"], sort_keys=True)) for x in self.reports}
            same = len(hashes) == len({x["profile"] for x in self.reports})
            n_dask = sum(x["dask"] for x in self.reports)
            rows.append("| report bytes the same for `--jobs 1`, `--jobs 2`" + (" and `--dask` (2-worker LocalCluster)" if n_dask else "")
                        + f" | {len(self.reports)} reports compared ({n_dask} on Dask) | {_met(same)} |")
        if self.startup:
            worst = max(max(v) for v in self.startup.values())
            rows.append(f"| `list`, `show L4 --no-run`, `--version`, `--help` < {TARGETS['startup']:.0f} s "
                        f"| worst {worst:.2f} s | {_met(worst < TARGETS['startup'])} |")
        return rows

    def _analytic(self) -> list[str]:
        cases = list(self._cases("analytic"))
        if not cases:
            return []
        out = ["", "## Analytic NTK: `analytic_ntk` vs neural-tangents `stax` kernel_fn (target ratio <= 1.0)", "",
               f"d = 64, sigma_w^2 = {peers.SW2}, sigma_b^2 = {peers.SB2}, NNGP and NTK computed on both sides; "
               "`analytic_ntk` runs its row blocks on up to two threads, XLA uses its own thread pool.", "",
               "| N | depth | phi | ours (s, median) | neural-tangents (s, median) | ratio ours/peer min / median / max "
               "| max diff / sqrt(T_ii T_jj) |", "|---|---|---|---|---|---|---|"]
        for key, task, t in cases:
            ratios = [o / p for o, p in zip(t["ours"], t["nt"], strict=True)]
            out.append(f"| {task['N']} | {task['depth']} | {task['act']} | {statistics.median(t['ours']):.3f} | "
                       f"{statistics.median(t['nt']):.3f} | {_mmm(ratios)} | {self.agree[key]['nt']:.1e} |")
        return out + ["", "The last column compares the two outputs; it is not an accuracy figure for either (the accuracy "
                      "of `analytic_ntk` is tested against 50-digit references: `tests/paper_l/test_analytic_ntk_reference.py`)."]

    def _empirical(self) -> list[str]:
        cases = list(self._cases("empirical"))
        if not cases:
            return []
        out = ["", "## Empirical NTK: `empirical_ntk` vs neural-tangents `empirical_ntk_fn` and torch.func "
               "(target: >= 20x faster than neural-tangents' best)", "",
               f"N = 256, d = 64, two hidden ReLU layers, read-out width 1; LoRA: rank {peers.LORA_RANK} on every layer; "
               f"the same weights for every contender. neural-tangents timed with {self.args.peer_empirical_repeats} call(s) "
               "after the warm-up per round; torch.func (`vmap(jacrev)` per trained block, then sum_b J_b J_b^T) on all cores.", "",
               "| width | mode | ours (s) | nt impl 1 (s) | nt impl 2 (s) | nt impl 3 (s) | torch.func (s) "
               "| ours/best nt min / median / max | speed-up vs best nt | ours/torch min / median / max | speed-up vs torch "
               "| max rel. diff |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, task, t in cases:
            nts = [c for c in t if c.startswith("nt")]
            vs_nt = [o / min(t[c][i] for c in nts) for i, o in enumerate(t["ours"])]
            vs_torch = [o / p for o, p in zip(t["ours"], t["torch"], strict=True)]
            out.append(f"| {task['width']} | {task['mode']} | {statistics.median(t['ours']):.4f} | "
                       + " | ".join(f"{statistics.median(t[c]):.2f}" for c in nts)
                       + f" | {statistics.median(t['torch']):.3f} | {_mmm(vs_nt)} | {1 / statistics.median(vs_nt):.0f}x "
                       f"| {_mmm(vs_torch)} | {1 / statistics.median(vs_torch):.0f}x | {max(self.agree[key].values()):.1e} |")
        return out

    def _mdelta(self) -> list[str]:
        if not self.mdelta:
            return []
        first = self.mdelta[0]
        out = ["", "## The M_Delta sweep's FLOP rate as a fraction of DGEMM (no target: how far from compute-bound)", "",
               "L4's sweep (`sweep_top_eigenvalue`) at one BLAS thread, as inside checks; flops counted as 2 n r^2 (Gram) "
               "+ 4 r^3 / 3 (eigenvalues) per draw, against a 1024^3 DGEMM timed in the same process before and after "
               f"(round 1: {first['dgemm_gflops'][0]:.1f} and {first['dgemm_gflops'][1]:.1f} GFLOP/s).", "",
               "| n | r | draws | seconds (median) | GFLOP/s (median) | fraction of DGEMM min / median / max |",
               "|---|---|---|---|---|---|"]
        for i, (n, r, k, _, _, _) in enumerate(first["rows"]):
            rows = [m["rows"][i] for m in self.mdelta]
            out.append(f"| {n} | {r} | {k} | {statistics.median(x[3] for x in rows):.3f} | "
                       f"{statistics.median(x[4] for x in rows):.2f} | {_mmm([x[5] for x in rows])} |")
        return out + ["", "Small eigensolves (LAPACK's per-call overhead on r x r matrices) bound it at small rank; "
                      "at large rank the Gram GEMM dominates and the fraction rises."]

    def _report(self) -> list[str]:
        if not self.reports:
            return []
        out = ["", "## The report: `write_report(tmp, profile=P, seed=0, jobs=N)`, serial vs two worker processes", "",
               "Each run is a fresh process writing into a temporary directory (never `reports/`); CPU seconds include "
               "the workers; peak memory is the whole process tree's resident set, sampled every 50 ms. "
               "The schedule of a fresh directory comes from the static cost hints (`lora_theorems/runner.py`).", ""]
        for profile in ("quick", "full"):
            runs = [x for x in self.reports if x["profile"] == profile and not x["dask"]]
            if not runs:
                continue
            out += bench_report.summary(runs, [1, 2], profile) + [""]
            on_dask = [x for x in self.reports if x["profile"] == profile and x["dask"]]
            if on_dask:
                out.append(f"{profile} on a 2-worker Dask LocalCluster (started by the benchmark, same machine): "
                           f"{on_dask[0]['wall_s']:.1f} s wall; files identical to the local runs: "
                           f"**{all(x['sha256'] == runs[0]['sha256'] for x in on_dask)}**.")
                out.append("")
            per_claim = runs[0]["per_claim_s"]
            out.append(f"{profile}: check time per claim (first serial run, s): "
                       + ", ".join(f"{c} {s:.1f}" for c, s in per_claim.items())
                       + "; slowest checks: " + ", ".join(f"{n} {s:.1f} s" for s, n in runs[0]["slowest"]) + ".")
            out.append("")
        return out

    def _startup(self) -> list[str]:
        if not self.startup:
            return []
        out = ["", "## Commands that only show things (a fresh interpreter each time)", "",
               "| command | median (s) | worst (s) |", "|---|---|---|"]
        return out + [f"| `lora-theorems {k}` | {statistics.median(v):.3f} | {max(v):.3f} |" for k, v in self.startup.items()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-python", default=os.environ.get("LT_BENCH_PEER_PYTHON", "/work/peer-venv/bin/python"),
                    help="the interpreter of neural-tangents' environment (see the docstring)")
    ap.add_argument("--torch-python", default=sys.executable, help="an interpreter with torch (default: this one, [bench] extra)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-empirical-repeats", type=int, default=1, help="neural-tangents' empirical NTK takes seconds a call")
    ap.add_argument("--full-rounds", type=int, default=1, help="rounds that also time the full report (about 5 min each)")
    ap.add_argument("--only", nargs="+", choices=TASKS, help="run only these tasks (nothing is written unless --out)")
    ap.add_argument("--no-dask", action="store_true", help="skip the quick report on a Dask LocalCluster")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds of pause before each contender's process (a torch.func worker's teardown was "
                         "seen to slow the next process by up to 70%%)")
    ap.add_argument("--keep-openblas-env", action="store_true")
    ap.add_argument("--out", type=Path, help="default: benchmarks/RESULTS.md for a complete run")
    args = ap.parse_args(argv)
    only = set(args.only or TASKS)
    if not args.keep_openblas_env:
        os.environ.pop("OPENBLAS_CORETYPE", None)
        os.environ.pop("OPENBLAS_L2_SIZE", None)
    # a user's Python caches bytecode (and `pip install .` precompiles it); some sandboxes turn
    # that off, which makes every spawned worker recompile the package's sources
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    out = args.out or (HERE / "RESULTS.md" if only == set(TASKS) else None)

    run = Run(args)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lt-bench-") as tmp:
        data = Path(tmp)
        peers.make_data(data)
        # the micro-benchmarks first, the reports last: on this project's VM a full report leaves the
        # machine slower for NumPy's allocation-heavy work for minutes (seen: our empirical NTK 1.7-2x
        # slower in every later round, neural-tangents' XLA arena not), which would be measured here
        for r in range(args.rounds):
            if "analytic" in only:
                for N, depth, act in peers.ANALYTIC:
                    run.ntk_round(r, data, {"kind": "analytic", "N": N, "depth": depth, "act": act}, ["ours", "nt"])
            if "empirical" in only:
                for width, mode in peers.EMPIRICAL:
                    run.ntk_round(r, data, {"kind": "empirical", "width": width, "mode": mode},
                                  ["ours", *(f"nt-{i}" for i in peers.NT_IMPLS), "torch"])
            if "m-delta" in only:
                run.mdelta_round()
            if "startup" in only:
                run.startup_round()
        if "report" in only:
            for r in range(args.rounds):
                run.report_round(r, "quick", data)
            if not args.no_dask:
                run.dask_report(data)
            for r in range(args.full_rounds):
                run.report_round(r, "full", data)
    text = run.markdown(time.perf_counter() - started)
    print(text)
    if out is not None:
        out.write_text(text)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

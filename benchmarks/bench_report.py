"""Wall time and peak memory of the verification report, serial vs local worker processes (issue 11, 14).

Each run writes the report into a fresh temporary directory (never into ``reports/``) in a child
process, ``lora_theorems.report.write_report(out, profile=P, seed=0, jobs=N)``; runs of the
different job counts are interleaved.  For each run this records:

* the wall time of the whole child (imports, checks, figures, files);
* the CPU seconds of the child and its worker processes (user + system): on a machine shared
  with other work, wall time moves with the load and CPU time much less;
* the peak resident memory of the whole process tree (the child and its workers, summed; sampled
  from /proc every 50 ms, so a spike shorter than that can be missed), and the largest single
  process's peak (``ru_maxrss``, exact);
* the SHA-256 of every reproducible file (from ``run.json``): runs of different job counts must agree.

``benchmarks/bench.py`` calls :func:`run_once` for ``benchmarks/RESULTS.md``.  By hand::

    python benchmarks/bench_report.py --profile quick --jobs 1 2 --repeats 3

Linux only (reads /proc).  Output: one line per run, then a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_CHILD = """
import sys
from lora_theorems.report import write_report
dask = sys.argv[4] if len(sys.argv) > 4 else None
write_report(sys.argv[1], profile=sys.argv[2], seed=0, jobs=int(sys.argv[3]), dask=dask)
"""


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/statm") as fh:
                rss[pid] = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(pid)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_once(profile: str, jobs: int, workdir: Path, dask: str | None = None) -> dict:
    """One report in a child process: wall, CPU, peak tree memory, reproducible hashes; on the
    Dask scheduler at ``dask`` when given (its workers' CPU and memory are not counted then)."""
    out = workdir / f"report-{profile}-j{jobs}-{time.monotonic_ns()}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), profile, str(jobs), *([dask] if dask else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, err = proc.communicate()
    finally:  # interrupted: the child (and with it its workers) goes too
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stop.set()
        sampler.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"report failed (exit {proc.returncode}): {err.strip().splitlines()[-1:]}")
    record = json.loads((out / "run.json").read_text())
    return {
        "profile": profile,
        "jobs": jobs,
        "dask": dask is not None,
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "checks_s": record["checks_time_s"],
        "sum_check_s": sum(c["elapsed_s"] for c in record["checks"]),
        "peak_tree_bytes": peak[0],
        "max_process_bytes": after.ru_maxrss * 1024,  # kB on Linux; the largest child ever waited for
        "sha256": record["sha256"],
        "per_claim_s": {cl: sum(c["elapsed_s"] for c in record["checks"] if c["claim"] == cl)
                        for cl in dict.fromkeys(c["claim"] for c in record["checks"])},
        "slowest": sorted(((c["elapsed_s"], f"{c['claim']}/{c['check']}") for c in record["checks"]), reverse=True)[:5],
    }


def summary(runs: list[dict], jobs: list[int], profile: str) -> list[str]:
    """The Markdown table of :func:`main`'s runs: wall min / median / max, speed-up, CPU, memory."""
    base = {j: [r["wall_s"] for r in runs if r["jobs"] == j] for j in jobs}
    lines = ["| profile | jobs | wall min / median / max (s) | speed-up vs jobs=" + str(jobs[0]) + " (median) "
             "| CPU s (median) | sum of check times (s) | peak memory, process tree (MiB) |",
             "|---|---|---|---|---|---|---|"]
    for j in jobs:
        w = base[j]
        sub = [r for r in runs if r["jobs"] == j]
        lines.append(
            f"| {profile} | {j} | {min(w):.1f} / {statistics.median(w):.1f} / {max(w):.1f} | "
            f"{statistics.median(base[jobs[0]]) / statistics.median(w):.2f}x | "
            f"{statistics.median(r['cpu_s'] for r in sub):.0f} | {statistics.median(r['sum_check_s'] for r in sub):.0f} | "
            f"{max(r['peak_tree_bytes'] for r in sub) / 2**20:.0f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=("quick", "full"), default="quick")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write every run to this JSON file")
    ap.add_argument("--from-json", type=Path, help="summarize the runs saved by an earlier --json (nothing is run)")
    args = ap.parse_args(argv)
    runs = json.loads(args.from_json.read_text()) if args.from_json else []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        for rep in range(0 if args.from_json else args.repeats):
            for jobs in args.jobs:
                r = run_once(args.profile, jobs, Path(tmp))
                runs.append(r)
                print(f"[{rep + 1}/{args.repeats}] {args.profile} jobs={jobs}: wall {r['wall_s']:.1f} s, "
                      f"cpu {r['cpu_s']:.1f} s, checks {r['checks_s']:.1f} s (sum of checks {r['sum_check_s']:.1f} s), "
                      f"peak tree {r['peak_tree_bytes'] / 2**20:.0f} MiB, slowest {r['slowest'][:3]}", flush=True)
    same = all(r["sha256"] == runs[0]["sha256"] for r in runs)
    differ = sorted({k for r in runs for k in set(r["sha256"]) | set(runs[0]["sha256"])
                     if r["sha256"].get(k) != runs[0]["sha256"].get(k)})
    print(f"reproducible files identical across all runs: {same}" + (f" (differing: {', '.join(differ)})" if differ else ""))
    table = summary(runs, args.jobs, args.profile)
    print("\n" + "\n".join(table))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

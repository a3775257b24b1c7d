"""The M_Delta sweep's achieved FLOP rate as a fraction of the same run's DGEMM rate (issue 11).

L4's sweeps (``numerics.paper_l.m_delta.sweep_top_eigenvalue``) draw ``A`` (r x n), form the
r x r Gram matrix ``A A^T`` (batched GEMM, ``2 n r^2`` flops) and take its eigenvalues
(Householder tridiagonalization, ``4 r^3 / 3`` flops for eigenvalues only); the n x n matrix
``A^T A - I`` is never formed.  Its rate is counted with those two terms only (drawing the
normals is not floating-point work in this sense), so it is a lower bound on the work done,
and compared with a square DGEMM timed in the same process, both on one BLAS thread (checks run
BLAS on one thread, ``threadpoolctl``).  A fraction near 1 means the sweep is compute-bound on
BLAS; far below 1, it is bound by small-matrix overheads or random-number generation.

``benchmarks/bench.py`` runs it once per round (``--json``: one line of JSON) for
``benchmarks/RESULTS.md``; by hand, ``python benchmarks/bench_m_delta_flops.py`` prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits

from lora_theorems.numerics.paper_l.m_delta import sweep_top_eigenvalue

CASES = ((64, 64), (256, 64), (1024, 16), (1024, 128), (2048, 256))  # (n, r)


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def dgemm_rate(size: int = 1024, repeats: int = 5) -> float:
    """Flops per second of a square float64 GEMM (2 size^3 flops)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    a @ b  # warm-up
    return 2 * size**3 / _best(lambda: a @ b, repeats)


def sweep_rate(n: int, r: int, trials: int, repeats: int = 3) -> tuple[float, float]:
    """(flops per second, seconds) of ``sweep_top_eigenvalue`` at (n, r) over ``trials`` draws."""
    flops = trials * (2 * n * r * r + 4 * r**3 / 3)
    rng = np.random.default_rng(0)
    sweep_top_eigenvalue(rng, n, r, 0.5 / n, max(8, trials // 10), keep_values=False)  # warm-up
    t = _best(lambda: sweep_top_eigenvalue(rng, n, r, 0.5 / n, trials, keep_values=False), repeats)
    return flops / t, t


def measure() -> dict:
    """DGEMM before and after, and each case's (n, r, draws, seconds, GFLOP/s, fraction of DGEMM)."""
    with threadpool_limits(1):
        peak = dgemm_rate()
        rows = []
        for n, r in CASES:
            trials = max(16, int(1e10 / (2 * n * r * r + 4 * r**3 / 3)))  # ~0.2 s of DGEMM work, 0.4-4 s of sweep
            rate, t = sweep_rate(n, r, trials)
            rows.append((n, r, trials, t, rate / 1e9, rate / peak))
        peak_after = dgemm_rate()
    return {"dgemm_gflops": [peak / 1e9, peak_after / 1e9], "rows": rows, "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine()}


def table(m: dict) -> list[str]:
    """The Markdown table of one :func:`measure`."""
    lines = ["| n | r | draws | seconds (best of 3) | GFLOP/s | fraction of DGEMM |", "|---|---|---|---|---|---|"]
    return lines + [f"| {n} | {r} | {k} | {t:.3f} | {g:.2f} | {f:.2f} |" for n, r, k, t, g, f in m["rows"]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print one line of JSON (for bench.py)")
    args = p.parse_args()
    m = measure()
    if args.json:
        print(json.dumps(m))
        return
    print(f"DGEMM 1024^3, one thread: {m['dgemm_gflops'][0]:.2f} GFLOP/s before, {m['dgemm_gflops'][1]:.2f} after")
    print("\n".join(table(m)))


if __name__ == "__main__":
    main()

"""Throughput of the M_Delta sweep and the empirical NTK (run by hand, never in tests).

    OMP_NUM_THREADS=1 python benchmarks/bench_numerics.py [--backend cupy]

Prints a small table: configurations per second for the batched structured path (r x r Gram,
stacked eigvalsh), a Python loop over the same matrices, and the direct n x n reference;
peak array memory per batch; and empirical-NTK Gram matrices per second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lora_theorems.numerics.backend import available_backends, get_xp, synchronize
from lora_theorems.numerics.paper_l.empirical import empirical_ntk, init_fc_params
from lora_theorems.numerics.paper_l.m_delta import m_delta_spectrum_direct, sample_lora_a


def _rate(fn, count, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return count / best


def bench_m_delta(backend: str) -> list[tuple]:
    xp = get_xp(backend)
    rng = np.random.default_rng(0)
    rows = []
    for n, r, batch in ((4, 4, 4096), (32, 1, 4096), (32, 32, 1024), (128, 8, 512), (128, 128, 128), (512, 16, 64)):
        A = sample_lora_a(rng, n, r, 0.9 / n, batch, backend)

        def batched(A=A):
            G = A @ xp.swapaxes(A, -1, -2)
            xp.linalg.eigvalsh(G)
            synchronize(xp)

        def loop(A=A, batch=batch):
            for i in range(min(batch, 256)):
                a = A[i]
                xp.linalg.eigvalsh(a @ a.T)
            synchronize(xp)

        An = np.asarray(A.get() if hasattr(A, "get") else A)[: min(batch, 64)]
        rows.append((
            backend, n, r, batch,
            _rate(batched, batch), _rate(loop, min(batch, 256)), _rate(lambda An=An: m_delta_spectrum_direct(An), len(An), 1),
            A.nbytes / 2**20 + batch * r * r * 8 / 2**20,
        ))
    return rows


def bench_ntk(backend: str) -> list[tuple]:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 3))
    rows = []
    for n in (64, 256, 1024):
        p = init_fc_params(rng, 3, [n, n], lora_layers=(1,), rank=8)
        rows.append((backend, n, _rate(lambda p=p: empirical_ntk(p, X, backend=backend), 1, 3),
                     _rate(lambda p=p: empirical_ntk(p, X, mode="lora", backend=backend), 1, 3)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", action="append", choices=("numpy", "cupy"))
    args = ap.parse_args()
    backends = args.backend or list(available_backends())
    print(f"{'backend':7} {'n':>5} {'r':>5} {'batch':>6} {'batched/s':>11} {'loop/s':>10} {'direct nxn/s':>13} {'MiB':>7}")
    for b in backends:
        for row in bench_m_delta(b):
            print(f"{row[0]:7} {row[1]:5d} {row[2]:5d} {row[3]:6d} {row[4]:11.0f} {row[5]:10.0f} {row[6]:13.0f} {row[7]:7.2f}")
    print(f"\n{'backend':7} {'width':>6} {'FF NTK/s':>10} {'LoRA NTK/s':>11}   (N = 8 inputs, depth 2)")
    for b in backends:
        for row in bench_ntk(b):
            print(f"{row[0]:7} {row[1]:6d} {row[2]:10.1f} {row[3]:11.1f}")


if __name__ == "__main__":
    main()

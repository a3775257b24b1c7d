"""Empirical NTK: ``empirical_ntk`` vs torch.func (``jacrev`` + contraction), side by side (issue 11).

The same network and weights as ``bench_peers.py``'s empirical task (N = 256 inputs, d = 64, two
hidden ReLU layers of width 512 or 1024, read-out width 1, rank-8 adapters on every layer,
sigma_w^2 = 2, sigma_b^2 = 0.1), in FF mode (W and b trained) and LoRA mode (A and B trained).
torch.func's NTK recipe: per-example Jacobians by ``vmap(jacrev(f))`` for each trained block,
contracted block by block (``J_b J_b^T``), float64 on the CPU.  Each round runs both contenders in
their own processes (ours in this environment, torch in ``--peer-python``), alternating which goes
first; a ratio is ours / torch per round.  The kernels are compared on the same weights.

The peer needs PyTorch (CPU build) in its own environment::

    python3 -m venv /work/torch-venv && /work/torch-venv/bin/pip install torch==2.13.0 numpy

Run by hand: ``python benchmarks/bench_torch_func.py [--rounds 3] [--write-results]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SW2, SB2 = 2.0, 0.1
TASKS = [(n, mode) for n in (512, 1024) for mode in ("ff", "lora")]


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _worker(contender: str, width: int, mode: str, data: Path, repeats: int, save: str) -> None:
    import numpy as np

    z = np.load(data / f"empirical_{width}.npz")
    X = z["X"]
    params = [{k: z[f"{k}{layer}"] for k in ("W", "b", "A", "B")} for layer in range(3)]
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    if contender == "ours":
        from lora_theorems.numerics.paper_l.empirical import empirical_ntk

        def call():
            return empirical_ntk(params, X, mode=mode, weight_var=SW2, bias_var=SB2)
    else:
        import torch
        from torch.func import jacrev, vmap

        torch.set_num_threads(os.cpu_count() or 1)
        versions["torch"] = torch.__version__
        sw, sb = math.sqrt(SW2), math.sqrt(SB2)
        fr = [{k: torch.from_numpy(v) for k, v in p.items()} for p in params]
        Xt = torch.from_numpy(X)

        def f(theta, x):  # one input x (d,) -> output (1,)
            h = x
            for layer, p in enumerate(fr):
                if mode == "ff":  # the same network as ours: W trained, the adapter BA kept
                    W, b = theta[2 * layer], theta[2 * layer + 1]
                    W = W + p["B"] @ p["A"]
                else:
                    A, B = theta[2 * layer], theta[2 * layer + 1]
                    W, b = p["W"] + B @ A, p["b"]
                h = (sw / math.sqrt(W.shape[1])) * (x @ W.T) + sb * b
                if layer < len(fr) - 1:
                    x = torch.relu(h)
            return h

        theta = tuple(t for p in fr for t in ((p["W"], p["b"]) if mode == "ff" else (p["A"], p["B"])))
        jac = vmap(jacrev(f), (None, 0))

        def call():
            with torch.no_grad():
                J = jac(theta, Xt)  # per block: (N, 1, *block shape)
                K = torch.zeros((Xt.shape[0], Xt.shape[0]), dtype=torch.float64)
                for Jb in J:
                    Jm = Jb.reshape(Jb.shape[0], -1)
                    K += Jm @ Jm.T
                return K.numpy()

    times = _time(call, repeats)
    np.save(save, np.asarray(call(), dtype=np.float64).reshape(X.shape[0], X.shape[0]))
    print(json.dumps({"times": times, "versions": versions}))


def _run(python: str, contender: str, width: int, mode: str, data: Path, repeats: int, save: str) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--worker", contender, str(width), mode, str(data), str(repeats), save]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-python", default="/work/torch-venv/bin/python")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--write-results", action="store_true", help="put the table in benchmarks/RESULTS.md (section torch-func)")
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        c, w, m, d, r, s = args.worker
        _worker(c, int(w), m, Path(d), int(r), s)
        return

    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import init_fc_params

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        rng = np.random.default_rng(0)  # the same data and weights as bench_peers.py
        X = rng.standard_normal((256, 64))
        for n in (512, 1024):
            p = init_fc_params(rng, 64, [n, n], 1, lora_layers=(0, 1, 2), rank=8, b_scale=0.1)
            np.savez(data / f"empirical_{n}.npz", X=X, **{f"{k}{lay}": v for lay, layer in enumerate(p) for k, v in layer.items()})
        rows, versions = [], {}
        for width, mode in TASKS:
            ratios, ours_t, peer_t, diff = [], [], [], 0.0
            for rnd in range(args.rounds):
                order = ("ours", "torch") if rnd % 2 == 0 else ("torch", "ours")
                res = {}
                for c in order:
                    py = sys.executable if c == "ours" else args.peer_python
                    res[c] = _run(py, c, width, mode, data, args.repeats, str(data / f"K_{c}.npy"))
                    versions[c] = res[c]["versions"]
                a, b = min(res["ours"]["times"]), min(res["torch"]["times"])
                ours_t.append(a)
                peer_t.append(b)
                ratios.append(a / b)
                Ko, Kt = np.load(data / "K_ours.npy"), np.load(data / "K_torch.npy")
                diff = max(diff, float(np.abs(Ko - Kt).max() / np.abs(Kt).max()))
            rows.append((width, mode, float(np.median(ours_t)), float(np.median(peer_t)), sorted(ratios), diff))
            print(rows[-1], flush=True)
    lines = [
        "## Empirical NTK: `empirical_ntk` vs torch.func `vmap(jacrev)` + contraction (benchmarks/bench_torch_func.py)",
        "",
        f"{args.rounds} rounds, best of {args.repeats} calls each, interleaved processes; {time.perf_counter() - started:.0f} s in all. "
        f"ours: {versions.get('ours')}; torch: {versions.get('torch')} (CPU build, all cores). "
        "N = 256, d = 64, two hidden ReLU layers, rank-8 adapters on every layer, float64; the same weights as bench_peers.py.",
        "",
        "| width | mode | ours (s, median) | torch.func (s, median) | ratio ours/torch min / median / max | speed-up (median) | max rel. diff |",
        "|---|---|---|---|---|---|---|",
    ]
    for width, mode, a, b, r, d in rows:
        lines.append(f"| {width} | {mode} | {a:.4f} | {b:.3f} | {r[0]:.3f} / {r[len(r) // 2]:.3f} / {r[-1]:.3f} | {1 / r[len(r) // 2]:.0f}x | {d:.1e} |")
    text = "\n".join(lines)
    print(text)
    if args.write_results:
        sys.path.insert(0, str(HERE))
        from _results import replace_section

        replace_section("torch-func", text)


if __name__ == "__main__":
    main()

"""The NTK contenders of ``benchmarks/bench.py``: ours, neural-tangents and torch.func (issue 11).

This module is not run by hand: ``bench.py`` writes the inputs and calls
``python bench_peers.py --worker CONTENDER TASK DATA REPEATS [SAVE]`` once per contender and round,
each in its own process (ours and torch.func in this project's environment, neural-tangents in
the peer's).  Contenders (same inputs, same weights, float64):

* analytic NTK: ``numerics.ntk.analytic_ntk`` vs neural-tangents' ``stax`` ``kernel_fn``
  (``serial(Dense, phi) * depth + Dense(1)``, NTK parameterization, jitted, x64), N = 2000 and
  5000, d = 64, depth 2 and 4, ReLU and erf, ``sigma_w^2 = 2``, ``sigma_b^2 = 0.1``;
* empirical NTK: ``numerics.empirical.empirical_ntk`` vs neural-tangents' three
  ``empirical_ntk_fn`` implementations (1 Jacobian contraction, 2 NTK-vector products,
  3 structured derivatives; jitted, ``vmap_axes=0``) on the same function and weights,
  N = 256, d = 64, two hidden layers of width 512 and 1024, FF (all W, b) and LoRA
  (A, B of rank 8 on every layer, B != 0, W and b frozen) modes; and torch.func's NTK recipe on
  the same function and weights: per-example Jacobians by ``vmap(jacrev(f))`` for each trained
  block, contracted block by block (``J_b J_b^T``), float64 on the CPU, all cores.

A worker loads the inputs (.npy/.npz written by the driver), makes one warm-up call (JIT
compilation included there), times REPEATS calls, optionally saves its output for the
agreement check, and prints one line of JSON (times, versions, BLAS).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
SW2, SB2 = 2.0, 0.1
ANALYTIC = [(N, depth, act) for N in (2000, 5000) for depth in (2, 4) for act in ("relu", "erf")]
EMPIRICAL = [(n, mode) for n in (512, 1024) for mode in ("ff", "lora")]
NT_IMPLS = (1, 2, 3)
LORA_RANK = 8


# ----------------------------------------------------------------------------- workers


def _blas_info():
    try:
        from threadpoolctl import threadpool_info

        return [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")} for d in threadpool_info()]
    except Exception:  # threadpoolctl missing in the peer's venv
        return []


def _time(fn, repeats):
    fn()  # warm-up (JIT compilation for the peer)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _worker(contender: str, task: dict, data: Path, repeats: int, save: str | None) -> None:
    import numpy as np

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    if contender == "torch":
        import torch

        versions.update(torch=torch.__version__)
    elif contender.startswith("nt"):
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import neural_tangents as nt
        from neural_tangents import stax

        versions.update(jax=jax.__version__, neural_tangents=nt.__version__)
    else:
        import lora_theorems

        versions.update(lora_theorems=lora_theorems.__version__)

    if task["kind"] == "analytic":
        X = np.load(data / f"analytic_X_{task['N']}.npy")
        if contender == "ours":
            from lora_theorems.numerics.paper_l.ntk import analytic_ntk

            def call():
                return analytic_ntk(X, task["depth"], task["act"], SW2, SB2)[1]
        else:
            phi = stax.Relu() if task["act"] == "relu" else stax.Erf()
            layers = []
            for _ in range(task["depth"]):
                layers += [stax.Dense(1, W_std=math.sqrt(SW2), b_std=math.sqrt(SB2)), phi]
            _, _, kernel_fn = stax.serial(*layers, stax.Dense(1, W_std=math.sqrt(SW2), b_std=math.sqrt(SB2)))
            kfn = jax.jit(kernel_fn, static_argnames="get")
            Xj = jnp.asarray(X)

            def call():
                return jax.block_until_ready(kfn(Xj, None, get="ntk"))
    else:
        z = np.load(data / f"empirical_{task['width']}.npz")
        X = z["X"]
        L = 3
        params = [{k: z[f"{k}{l}"] for k in ("W", "b", "A", "B")} for l in range(L)]
        mode = task["mode"]
        if contender == "ours":
            from lora_theorems.numerics.paper_l.empirical import empirical_ntk

            def call():
                return empirical_ntk(params, X, mode=mode, weight_var=SW2, bias_var=SB2)
        elif contender == "torch":
            call = _torch_func_ntk(params, X, mode)
        else:
            impl = int(contender.split("-")[1])
            sw, sb = math.sqrt(SW2), math.sqrt(SB2)
            frozen = [{k: jnp.asarray(v) for k, v in p.items()} for p in params]

            def f(theta, x):
                h = x
                for l, fr in enumerate(frozen):
                    if mode == "ff":  # the same network: W trained, the adapter BA kept
                        W, b = theta[l]
                        W = W + fr["B"] @ fr["A"]
                    else:
                        A, B = theta[l]
                        W, b = fr["W"] + B @ A, fr["b"]
                    h = (sw / math.sqrt(W.shape[1])) * (x @ W.T) + sb * b
                    if l < len(frozen) - 1:
                        x = jax.nn.relu(h)
                return h

            theta = [(fr["W"], fr["b"]) if mode == "ff" else (fr["A"], fr["B"]) for fr in frozen]
            kfn = jax.jit(nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0, implementation=impl))
            Xj = jnp.asarray(X)

            def call():
                return jax.block_until_ready(kfn(Xj, None, theta))

    times = _time(call, repeats)
    if save:
        out = np.asarray(call(), dtype=np.float64)
        np.save(save, out.reshape(out.shape[0], out.shape[1]) if out.ndim == 4 else out)
    print(json.dumps({"times": times, "versions": versions, "blas": _blas_info()}))


def _torch_func_ntk(params, X, mode):
    """torch.func's NTK recipe on the same network: ``vmap(jacrev(f))`` per trained block, then
    ``sum_b J_b J_b^T``; all cores."""
    import torch
    from torch.func import jacrev, vmap

    torch.set_num_threads(os.cpu_count() or 1)
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

    return call


# ----------------------------------------------------------------------------- for the driver


def make_data(data: Path, only: str | None = None) -> None:
    """Write the inputs (seed 0) of the analytic and empirical tasks into ``data``."""
    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import init_fc_params

    rng = np.random.default_rng(0)
    if only in (None, "analytic"):
        for N in sorted({t[0] for t in ANALYTIC}):
            np.save(data / f"analytic_X_{N}.npy", rng.standard_normal((N, 64)))
    if only in (None, "empirical"):
        X = rng.standard_normal((256, 64))
        for n in sorted({t[0] for t in EMPIRICAL}):
            p = init_fc_params(rng, 64, [n, n], 1, lora_layers=(0, 1, 2), rank=LORA_RANK, b_scale=0.1)
            np.savez(data / f"empirical_{n}.npz", X=X, **{f"{k}{l}": v for l, layer in enumerate(p) for k, v in layer.items()})


def run_contender(python: str, contender: str, task: dict, data: Path, repeats: int, env: dict, save: str | None) -> dict:
    """One contender on one task in a fresh ``python`` process: ``{"times", "versions", "blas"}``."""
    cmd = [python, str(HERE), "--worker", contender, json.dumps(task), str(data), str(repeats)]
    if save:
        cmd.append(save)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{contender} {task} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> dict:
    """CPU model, cores, platform and load average of this machine."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "load": load}


if __name__ == "__main__":
    if len(sys.argv) >= 6 and sys.argv[1] == "--worker":
        contender, task, data, repeats, *save = sys.argv[2:]
        _worker(contender, json.loads(task), Path(data), int(repeats), save[0] if save else None)
    else:
        sys.exit("bench_peers.py is run by benchmarks/bench.py (see its docstring)")

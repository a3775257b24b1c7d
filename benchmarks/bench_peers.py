"""Side-by-side timings against neural-tangents, interleaved, written to benchmarks/RESULTS.md (issue 11).

Run by hand, never in tests::

    python benchmarks/bench_peers.py [--rounds 3] [--repeats 3] [--only analytic|empirical]

Contenders (same inputs, same weights, float64, same run, interleaved round by round):

* analytic NTK: ``numerics.ntk.analytic_ntk`` vs neural-tangents' ``stax`` ``kernel_fn``
  (``serial(Dense, phi) * depth + Dense(1)``, NTK parameterization, jitted, x64), N = 2000 and
  5000, d = 64, depth 2 and 4, ReLU and erf, ``sigma_w^2 = 2``, ``sigma_b^2 = 0.1``;
* empirical NTK: ``numerics.empirical.empirical_ntk`` vs neural-tangents' three
  ``empirical_ntk_fn`` implementations (1 Jacobian contraction, 2 NTK-vector products,
  3 structured derivatives; jitted, ``vmap_axes=0``) on the same function and weights,
  N = 256, d = 64, two hidden layers of width 512 and 1024, FF (all W, b) and LoRA
  (A, B of rank 8 on every layer, B != 0, W and b frozen) modes.

Each contender runs in its own subprocess: it loads the inputs (.npy/.npz written by this
driver), makes one warm-up call (JIT compilation included there), times ``--repeats`` calls
and prints JSON.  A round runs every contender of a task once, alternating which goes first;
a task's ratio ours/peer is taken per round (best of the repeats on each side) and reported
as min / median / max over rounds.  Results are compared: empirical kernels must agree to
1e-10 relative (max abs difference / max abs entry).

Installing the peer (a separate virtual environment, outside the repository: neural-tangents
0.6.5 needs JAX 0.4.23 and numpy < 2)::

    python3 -m venv /work/nt-venv
    /work/nt-venv/bin/pip install 'jax[cpu]==0.4.23' 'numpy<2' 'scipy<1.13' frozendict
    /work/nt-venv/bin/pip install --no-deps neural-tangents==0.6.5
    # neural_tangents/experimental/__init__.py imports TensorFlow (empirical_tf):
    sed -i 's/^from .empirical_tf/# from .empirical_tf/' \\
        /work/nt-venv/lib/python3.*/site-packages/neural_tangents/experimental/__init__.py

and pass ``--peer-python /work/nt-venv/bin/python`` (the default).  OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE, set on some machines for old OpenBLAS builds, slow a current NumPy: the
workers run with both unset (``--keep-openblas-env`` keeps them), and each reports the
BLAS kernel it then used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import sections

HERE = Path(__file__).resolve()
SW2, SB2 = 2.0, 0.1
ANALYTIC = [(N, depth, act) for N in (2000, 5000) for depth in (2, 4) for act in ("relu", "erf")]
EMPIRICAL = [(n, mode) for n in (512, 1024) for mode in ("ff", "lora")]
NT_IMPLS = (1, 2, 3)


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
    if contender.startswith("nt"):
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


# ----------------------------------------------------------------------------- driver


def _make_data(data: Path, only: str | None) -> None:
    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import init_fc_params

    rng = np.random.default_rng(0)
    if only in (None, "analytic"):
        for N in sorted({t[0] for t in ANALYTIC}):
            np.save(data / f"analytic_X_{N}.npy", rng.standard_normal((N, 64)))
    if only in (None, "empirical"):
        X = rng.standard_normal((256, 64))
        for n in sorted({t[0] for t in EMPIRICAL}):
            p = init_fc_params(rng, 64, [n, n], 1, lora_layers=(0, 1, 2), rank=8, b_scale=0.1)
            np.savez(data / f"empirical_{n}.npz", X=X, **{f"{k}{l}": v for l, layer in enumerate(p) for k, v in layer.items()})


def _run(python: str, contender: str, task: dict, data: Path, repeats: int, env: dict, save: str | None) -> dict:
    cmd = [python, str(HERE), "--worker", contender, json.dumps(task), str(data), str(repeats)]
    if save:
        cmd.append(save)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{contender} {task} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _machine() -> dict:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-python", default="/work/nt-venv/bin/python")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peer-empirical-repeats", type=int, default=1, help="neural-tangents' empirical NTK takes seconds a call")
    ap.add_argument("--only", choices=("analytic", "empirical"))
    ap.add_argument("--keep-openblas-env", action="store_true")
    ap.add_argument("--out", default=str(HERE.parent / "RESULTS.md"))
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        contender, task, data, repeats, *save = args.worker
        _worker(contender, json.loads(task), Path(data), int(repeats), save[0] if save else None)
        return

    import numpy as np

    env = dict(os.environ)
    if not args.keep_openblas_env:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    ours_py = sys.executable
    rows = []
    versions: dict = {}
    blas: dict = {}
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        _make_data(data, args.only)
        tasks = []
        if args.only in (None, "analytic"):
            tasks += [({"kind": "analytic", "N": N, "depth": d, "act": a}, ["nt"]) for N, d, a in ANALYTIC]
        if args.only in (None, "empirical"):
            tasks += [({"kind": "empirical", "width": n, "mode": m}, [f"nt-{i}" for i in NT_IMPLS]) for n, m in EMPIRICAL]
        results = {json.dumps(t): {c: [] for c in ["ours", *peers]} for t, peers in tasks}
        agreement: dict = {}
        for r in range(args.rounds):
            for task, peers in tasks:
                key = json.dumps(task)
                order = ["ours", *peers] if r % 2 == 0 else [*peers, "ours"]
                for c in order:
                    save = str(data / f"out_{c}_{abs(hash(key))}.npy") if r == 0 else None
                    py = ours_py if c == "ours" else args.peer_python
                    reps = args.repeats if (c == "ours" or task["kind"] == "analytic") else args.peer_empirical_repeats
                    res = _run(py, c, task, data, reps, env, save)
                    results[key][c].append(min(res["times"]))
                    versions.setdefault(c.split("-")[0], res["versions"])
                    blas.setdefault(c.split("-")[0], res["blas"])
                    print(f"round {r} {task} {c}: {min(res['times']):.4f} s", flush=True)
                if r == 0:
                    ours = np.load(data / f"out_ours_{abs(hash(key))}.npy")
                    agreement[key] = {}
                    for c in peers:
                        peer = np.load(data / f"out_{c}_{abs(hash(key))}.npy")
                        if task["kind"] == "analytic":
                            # entry error relative to sqrt(Theta_ii Theta_jj) (Cauchy-Schwarz scale)
                            dg = np.sqrt(np.abs(np.diag(ours)))
                            agreement[key][c] = float(np.max(np.abs(ours - peer) / np.outer(dg, dg)))
                        else:
                            agreement[key][c] = float(np.max(np.abs(ours - peer)) / np.max(np.abs(ours)))
        for task, peers in tasks:
            key = json.dumps(task)
            rows.append((task, peers, results[key], agreement[key]))
    _write(Path(args.out), rows, versions, blas, args, time.time() - started)


def _fmt_ratio(xs):
    return f"{min(xs):.3f} / {statistics.median(xs):.3f} / {max(xs):.3f}"


def _write(out: Path, rows, versions, blas, args, wall) -> None:
    m = _machine()
    lines = [
        "# Side-by-side timings (benchmarks/bench_peers.py)",
        "",
        "Generated by `python benchmarks/bench_peers.py"
        + (f" --only {args.only}" if args.only else "")
        + f" --rounds {args.rounds} --repeats {args.repeats}`; {wall / 60:.1f} min. "
        "Each round runs every contender once in its own process (warm-up, then the best of the repeats), "
        "alternating which goes first; a ratio is ours / peer per round, shown min / median / max over rounds. "
        "float64 throughout.",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['platform']}; load average at the end {m['load']} "
        "(a shared machine: absolute times vary, ratios from the same rounds are what to read)",
        f"- OpenBLAS environment: {'kept' if args.keep_openblas_env else 'OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for the workers'}",
    ]
    for who, v in versions.items():
        lines.append(f"- {who}: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    for who, b in blas.items():
        if b:
            lines.append(f"- {who} BLAS: " + "; ".join(", ".join(f"{k} {val}" for k, val in d.items()) for d in b))
    an = [r for r in rows if r[0]["kind"] == "analytic"]
    if an:
        lines += [
            "",
            "## Analytic NTK: `analytic_ntk` vs neural-tangents `stax` kernel_fn (target ratio <= 1.0)",
            "",
            f"d = 64, sigma_w^2 = {SW2}, sigma_b^2 = {SB2}, both NNGP and NTK computed on both sides; "
            "`analytic_ntk` runs its row blocks on up to two threads, XLA uses its own thread pool.",
            "",
            "| N | depth | phi | ours (s, median) | neural-tangents (s, median) | ratio ours/peer min / median / max | max diff / sqrt(T_ii T_jj) |",
            "|---|---|---|---|---|---|---|",
        ]
        for task, _peers, res, agree in an:
            ratios = [o / p for o, p in zip(res["ours"], res["nt"], strict=True)]
            lines.append(
                f"| {task['N']} | {task['depth']} | {task['act']} | {statistics.median(res['ours']):.3f} | "
                f"{statistics.median(res['nt']):.3f} | {_fmt_ratio(ratios)} | {agree['nt']:.1e} |"
            )
        lines += [
            "",
            "The last column compares the two outputs; it is not an accuracy figure for either (the",
            "accuracy of `analytic_ntk` is tested against 50-digit references: `tests/paper_l/test_analytic_ntk_reference.py`).",
        ]
    em = [r for r in rows if r[0]["kind"] == "empirical"]
    if em:
        lines += [
            "",
            "## Empirical NTK: `empirical_ntk` vs neural-tangents `empirical_ntk_fn` (target ratio <= 0.05, i.e. >= 20x)",
            "",
            "N = 256, d = 64, two hidden ReLU layers, read-out width 1; LoRA: rank 8 on every layer. "
            f"neural-tangents timed with {args.peer_empirical_repeats} call(s) after the warm-up per round.",
            "",
            "| width | mode | ours (s) | nt impl 1 (s) | nt impl 2 (s) | nt impl 3 (s) "
            "| ratio ours/best nt min / median / max | speed-up (median) | max rel. diff |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for task, peers, res, agree in em:
            best = [min(res[c][i] for c in peers) for i in range(len(res["ours"]))]
            ratios = [o / p for o, p in zip(res["ours"], best, strict=True)]
            lines.append(
                f"| {task['width']} | {task['mode']} | {statistics.median(res['ours']):.4f} | "
                + " | ".join(f"{statistics.median(res[c]):.2f}" for c in peers)
                + f" | {_fmt_ratio(ratios)} | {1 / statistics.median(ratios):.0f}x | {max(agree.values()):.1e} |"
            )
    # sections other scripts own (bench_report.py: the report's wall time and memory) are kept
    kept = sections(out)
    lines += [""]
    out.write_text("\n".join(lines) + "".join("\n" + block for block in kept.values()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

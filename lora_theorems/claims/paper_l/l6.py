"""L6: NTK and Fisher information [Theorem 2.2] (poster eq. 5)."""

from lora_theorems.ledger import Claim, Formalization

CLAIM = Claim(
    id="L6",
    paper="L",
    title="NTK and Fisher information",
    source="poster, Theorem (Relationship between NTK and Fisher), eq. (5); paper Theorem 2.2",
    statement=(
        r"At infinite width the Fisher information "
        r"$I_\theta = \mathbb E_x[\nabla_\theta\mathcal L^T\nabla_\theta\mathcal L] "
        r"= \mathbb E[\nabla_F\mathcal L^T K_{ntk}(x,x)\nabla_F\mathcal L]$ (weighted NTK)."
    ),
    hypotheses=("width of $F_\\theta$ tends to infinity",),
    formalizations=(
        Formalization(
            key="spectra-agree",
            level="finite-width",
            statement=(
                r"For a finite network and inputs $x_1..x_N$ with Jacobian $J$ ($N\times P$), the "
                r"nonzero eigenvalues of the Fisher $J^T\Lambda J$ and of the weighted NTK "
                r"$\Lambda^{1/2} J J^T\Lambda^{1/2}$ coincide, with $\Lambda$ the loss Hessian in $F$ "
                r"(MSE: $I$; cross-entropy: $\mathrm{diag}(p) - pp^T$)."
            ),
            covers="eq. (5) as an identity of spectra",
        ),
        Formalization(
            key="trace-identity",
            level="finite-width",
            statement=(
                r"$\operatorname{tr}\mathbb E_x[\nabla_\theta\mathcal L\nabla_\theta\mathcal L^T] = "
                r"\mathbb E_x[\nabla_F\mathcal L^T K(x,x)\nabla_F\mathcal L]$ exactly, at any width "
                r"(the scalar identity eq. (5) can state, since its left side is a $P\times P$ matrix "
                r"and its right side a scalar)."
            ),
            covers="eq. (5) read as a scalar identity",
        ),
    ),
)


# ============================================================================ numerics (issue 4)

from lora_theorems.checks import CheckContext, Outcome, check  # noqa: E402
from lora_theorems.ledger import EvidenceKind, Table  # noqa: E402


def _l6_cases(ctx: CheckContext):
    """Random small networks (P >= N k so the Fisher has room for all N k nonzero eigenvalues)."""

    from lora_theorems.numerics.paper_l.empirical import init_fc_params

    cases = []
    for i in range(ctx.pick(24, 120)):
        act = ("relu", "erf")[i % 2]
        k = (1, 3)[(i // 2) % 2]
        loss = ("mse", "ce")[(i // 4) % 2] if k > 1 else "mse"
        kind = ("expected", "empirical")[(i // 8) % 2]
        mode = ("ff", "lora")[(i // 16) % 2] if i < 32 else ("ff", "lora")[i % 2]
        d = int(ctx.rng.integers(2, 5))
        widths = [int(w) for w in ctx.rng.integers(3, 7, size=int(ctx.rng.integers(1, 3)))]
        N = int(ctx.rng.integers(2, 6))
        p = init_fc_params(ctx.rng, d, widths, k, lora_layers=tuple(range(len(widths) + 1)), rank=2,
                           b_scale=float(ctx.rng.choice([0.0, 0.5])))
        X = ctx.rng.standard_normal((N, d))
        y = ctx.rng.integers(0, k, N) if loss == "ce" else ctx.rng.standard_normal((N, k))
        cases.append(dict(params=p, X=X, y=y, act=act, k=k, loss=loss, kind=kind, mode=mode, N=N,
                          wv=float(ctx.rng.uniform(0.5, 2.0)), bv=float(ctx.rng.choice([0.0, 0.1]))))
    return cases


def _fisher_pair(c):
    from lora_theorems.numerics.paper_l.empirical import empirical_ntk, jacobian, network_output
    from lora_theorems.numerics.paper_l.fisher import fisher_from_jacobian, weight_factor, weighted_ntk

    kw = dict(activation=c["act"], weight_var=c["wv"], bias_var=c["bv"])
    F = network_output(c["params"], c["X"], **kw)
    L = weight_factor(F, c["y"], c["loss"], c["kind"])
    J = jacobian(c["params"], c["X"], mode=c["mode"], **kw)
    K = empirical_ntk(c["params"], c["X"], mode=c["mode"], **kw)
    return J, K, L, fisher_from_jacobian(J, L, c["N"]), weighted_ntk(K, L) / c["N"], F


@check("spectra-agree", kind=EvidenceKind.NUMERIC)
def fisher_ntk_spectra(ctx: CheckContext) -> Outcome:
    """L6: on random finite networks (ReLU/erf, FF and LoRA with B = 0 or not, MSE and cross-entropy,
    expected and empirical Fisher), the top N*k eigenvalues of the P x P Fisher (from a materialized
    Jacobian) equal the eigenvalues of the N*k x N*k weighted NTK (from layer-wise products)."""
    import numpy as np

    eps = np.finfo(float).eps
    worst, ce, rows = 0.0, None, []
    for c in _l6_cases(ctx):
        J, K, L, Fi, W, _ = _fisher_pair(c)
        m = W.shape[0]
        a = np.sort(np.linalg.eigvalsh(Fi))[::-1][:m]
        b = np.sort(np.linalg.eigvalsh(W))[::-1]
        scale = max(abs(a).max(), abs(b).max(), 1e-300)
        # two backward-stable eigensolvers on matrices of size <= P: error <= ~ P eps ||.||; factor 10 headroom
        tol = 10 * J.shape[1] * eps * scale
        err = float(np.abs(a - b).max())
        ratio = err / tol
        rows.append((c["act"], c["mode"], c["loss"], c["kind"], c["N"], c["k"], J.shape[1], f"{err:.2e}", round(ratio, 4)))
        if not ratio <= worst:  # NaN counts as the worst case, never as agreement
            worst = ratio
            ce = {"fisher_top": a.tolist(), "weighted_ntk": b.tolist(), "X": c["X"].tolist()}
    passed = bool(worst <= 1.0)
    verb = "agree" if passed else "differ"
    return Outcome(
        passed=passed,
        summary=f"nonzero spectra of J^T L L^T J / N and L^T K L / N {verb} on {len(rows)} networks (worst error {worst:.2g} x tolerance)",
        params={"tolerance": "10 P eps lambda_max"},
        region={"activations": ["relu", "erf"], "losses": ["mse", "ce"], "fisher": ["expected", "empirical"], "modes": ["ff", "lora"]},
        worst_margin=1.0 - worst,
        counterexample=None if passed else ce,
        tables=(Table(title="Fisher vs weighted NTK spectra",
                      columns=("act", "mode", "loss", "fisher", "N", "k", "P", "max abs err", "err/tol"), rows=tuple(rows[:40])),),
    )


@check("trace-identity", kind=EvidenceKind.NUMERIC)
def fisher_trace_identity(ctx: CheckContext) -> Outcome:
    """L6 (scalar reading of eq. (5)): tr E_x[grad L grad L^T] = E_x[grad_F L^T K(x,x) grad_F L] at finite width,
    the left side from the materialized Jacobian, the right from the layer-wise NTK's diagonal blocks."""
    import numpy as np

    from lora_theorems.numerics.paper_l.fisher import loss_gradient

    eps = np.finfo(float).eps
    worst, ce, n = 0.0, None, 0
    for c in _l6_cases(ctx):
        J, K, _, _, _, F = _fisher_pair(c)
        g = loss_gradient(F, c["y"], c["loss"])
        N, k = g.shape
        grads = np.stack([J[a * k:(a + 1) * k].T @ g[a] for a in range(N)])  # per-sample grad_theta L
        lhs = float(np.mean(np.sum(grads**2, axis=1)))
        rhs = float(np.mean([g[a] @ K[a * k:(a + 1) * k, a * k:(a + 1) * k] @ g[a] for a in range(N)]))
        rel = abs(lhs - rhs) / (max(abs(lhs), 1e-300) * 100 * J.shape[1] * eps)  # sums of P products: error ~ P eps
        n += 1
        if not rel <= worst:  # NaN counts as the worst case, never as agreement
            worst, ce = rel, {"lhs": lhs, "rhs": rhs, "X": c["X"].tolist()}
    passed = bool(worst <= 1.0)
    verdict = "exact to rounding" if passed else "violated"
    return Outcome(
        passed=passed,
        summary=f"trace identity {verdict} on {n} networks (worst {worst:.2g} x tolerance 100 P eps)",
        worst_margin=1.0 - worst,
        counterexample=None if passed else ce,
        region={"networks": n},
    )

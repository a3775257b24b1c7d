"""L5: ideal full-rank adaptation [Corollary 3.5].

Exact Gaussian moments: :mod:`lora_theorems.proofs.paper_l.m_delta`; spectra:
:mod:`lora_theorems.numerics.paper_l.m_delta`; intervals: :mod:`lora_theorems.helpers`.
"""

from __future__ import annotations

from lora_theorems.checks import CheckContext, Outcome, check
from lora_theorems.helpers import FAMILY_ALPHA, Grid, binomial_sweep, decide, mean_ci, normal_quantile
from lora_theorems.ledger import CORRECTED, Claim, EvidenceKind, Formalization, Plot, Series, Table

CLAIM = Claim(
    id="L5",
    paper="L",
    title="Ideal full-rank adaptation",
    source="poster, Corollary (Ideal Full Rank Adaptation); paper Corollary 3.5",
    statement=(
        r"When $n_{l-1}\to\infty$, $M^{(l)}_\Delta$ strictly converges to 0, i.e. "
        r"$K^{(l)}_{LoRA}(x,x)\equiv K^{(l)}_{ff}(x,x)$ if $r = n_{l-1}$ and "
        r"$\sigma_a^2 = 1/n_{l-1}$."
    ),
    hypotheses=(r"$r = n$", r"$\sigma_a^2 = 1/n$", r"$n\to\infty$"),
    formalizations=(
        Formalization(
            key="operator-norm",
            level="layer",
            statement=(
                r"With $A\in\mathbb R^{n\times n}$ i.i.d. $\mathcal N(0, 1/n)$, "
                r"$\|A^TA - I\|_{op}\to 0$ as $n\to\infty$ (in probability)."
            ),
            covers="'$M_\\Delta$ strictly converges to 0'",
        ),
        Formalization(
            key="kernel-difference",
            level="kernel",
            statement=(
                r"For fixed inputs, $\Delta_r(x,x) = h(x)^T(A^TA - I)h(x)$ normalized by "
                r"$\|h(x)\|^2$ tends to 0 as $n\to\infty$."
            ),
            covers="'$K_{LoRA}(x,x)\\equiv K_{ff}(x,x)$'",
        ),
        Formalization(
            key="exact-mean-square",
            level="layer",
            statement=(
                r"With $A\in\mathbb R^{n\times n}$ i.i.d. $\mathcal N(0,1/n)$, $M_\Delta\to0$ in mean square: "
                r"$\mathbb E\|A^TA - I\|_2^2\to0$ as $n\to\infty$."
            ),
            covers="'$M_\\Delta$ strictly converges to 0', read in mean square",
        ),
        Formalization(
            key="corrected-weak-convergence",
            level="layer",
            reading=CORRECTED,
            corrects=('operator-norm', 'exact-mean-square', 'kernel-difference'),
            statement=(
                r"With $A\in\mathbb R^{n\times n}$ i.i.d. $\mathcal N(0,1/n)$: $\mathbb E[A^TA] = I$ exactly, and for "
                r"fixed unit vectors $u, v$ the bilinear form $u^T(A^TA-I)v$ has mean 0 and variance exactly "
                r"$(1+(u\cdot v)^2)/n$, so it tends to 0 at rate $n^{-1/2}$; but the spectrum of $A^TA$ tends to the "
                r"Marchenko-Pastur law on $[0,4]$ and $\|A^TA-I\|_{op}\to 3$ almost surely: $M_\Delta\to0$ "
                r"entrywise / weakly, never in operator norm."
            ),
            covers="the sense in which 'M_Delta converges to 0' holds",
        ),
    ),
)



# ----------------------------------------------------------------------------- grids and draws

#: operator-norm sweep (r = n, sigma_a^2 = 1/n): widths and draws per width
OPNORM_WIDTHS = Grid(quick=(16, 32, 64, 128, 256), full=(16, 32, 64, 128, 256, 512, 1024))
OPNORM_TRIALS = Grid(quick=40, full=100)
#: bilinear-form sweeps: widths of the as-written kernel reading and of the corrected weak convergence
KERNEL_WIDTHS = Grid(quick=(16, 64, 256, 1024, 4096), full=(16, 64, 256, 1024, 4096, 16384))
WEAK_WIDTHS = Grid(quick=(8, 32, 128, 512, 2048), full=(8, 32, 128, 512, 2048, 8192))
BILINEAR_TRIALS = Grid(quick=4000, full=20000)
RHO = 0.6  # u.v of the fixed unit vectors of the bilinear form

# Draws come in blocks of a fixed number of trials, each from its own child SeedSequence of the
# check's seed keyed by (sweep, n, block index): the statistics are a function of the seed alone,
# however the blocks are grouped, and memory stays at one block (the full profile once drew
# 20000 x 16384 x 2 normals, 5.2 GB, at once).
_L5_BLOCK = {"opnorm": 8, "bilinear": 256}


def _blocks(ctx: CheckContext, sweep: str, n: int, trials: int):
    """``(count, generator)`` for each block of ``trials`` draws at width ``n`` of ``sweep``."""
    import numpy as np

    size = _L5_BLOCK[sweep]
    tag = tuple(sweep.encode())
    for b, start in enumerate(range(0, trials, size)):
        ss = np.random.SeedSequence(ctx.seed, spawn_key=(*tag, n, b))
        yield min(size, trials - start), np.random.default_rng(ss)


def _opnorm_draws(ctx: CheckContext, n: int, trials: int):
    """Squared singular values (descending) of ``trials`` draws of A (n x n, i.i.d. N(0, 1/n)) and
    ||A^T A - I||_op = max(s_max^2 - 1, 1 - s_min^2) of each."""
    import numpy as np

    from lora_theorems.numerics.paper_l.m_delta import gram_eigenvalues

    def draw(b, g):
        A = g.standard_normal((b, n, n))
        A /= np.sqrt(n)  # in place: the same values as A / sqrt(n), without a second n x n x b array
        return A

    s2 = np.concatenate([gram_eigenvalues(draw(b, g), ctx.backend) for b, g in _blocks(ctx, "opnorm", n, trials)])
    return s2, np.maximum(s2[:, 0] - 1.0, 1.0 - s2[:, -1])


def _bilinear_q(g, b: int, n: int):
    """``b`` draws of q = u^T (A^T A - I) v (L5, the kernel difference of eq. (10) along fixed unit u, v with
    u.v = RHO), A n x n with i.i.d. N(0, 1/n) entries, from their exact law with n + 1 normals each.

    u = e1 and v = RHO e1 + s e2 (s = sqrt(1 - RHO^2)), so A u = c1 and A v = RHO c1 + s c2 with c1, c2 the
    first two columns of A, i.i.d. N(0, I/n), and q = RHO (|c1|^2 - 1) + s c1.c2.  Given c1, c1.c2 is
    N(0, |c1|^2/n) (rotation invariance of c2), i.e. c1.c2 = |c1| z / sqrt(n) with z ~ N(0, 1) independent
    of c1: the same law as forming A u and A v, from n + 1 normals instead of 2n.  ``g`` needs only
    ``standard_normal``.
    """
    import numpy as np

    c1 = g.standard_normal((b, n)) / np.sqrt(n)
    z = g.standard_normal(b)
    s1 = np.einsum("tn,tn->t", c1, c1)  # |A u|^2
    return RHO * (s1 - 1.0) + float(np.sqrt(1 - RHO**2)) * np.sqrt(s1) * z / np.sqrt(n)


def _bilinear_stats(ctx: CheckContext, widths, trials_of, family_alpha: float = FAMILY_ALPHA, tests: int | None = None):
    """n * E[(u^T (A^T A - I) v)^2] with CLT confidence intervals, u.v = RHO fixed, per width: rows
    ``(n, trials, mean, CI low, CI high, RMS q)``, each interval at ``family_alpha / tests`` (Bonferroni;
    ``tests`` defaults to the number of widths).  Each trial draws q from its exact law with n + 1 normals
    (:func:`_bilinear_q`), the same law as forming A u and A v."""
    import numpy as np

    alpha = family_alpha / (len(widths) if tests is None else tests)
    out = []
    for n in widths:
        trials = trials_of(n)
        q = np.concatenate([_bilinear_q(g, b, n) for b, g in _blocks(ctx, "bilinear", n, trials)])
        ci = mean_ci(n * q * q, alpha)
        out.append((n, trials, ci.mean, ci.low, ci.high, float(np.sqrt(np.mean(q * q)))))
    return RHO, out


def _interval_margin(stats, exact: float) -> float:
    """The smallest distance from ``exact`` to an end of the intervals (negative: outside one)."""
    return min(min(exact - lo, hi - exact) for _, _, _, lo, hi, _ in stats)


# ----------------------------------------------------------------------------- as written


@check("operator-norm", kind=EvidenceKind.STATISTICAL, backends=("numpy", "cupy"))
def operator_norm_growth(ctx: CheckContext) -> Outcome:
    """L5 as written (operator norm): r = n, sigma_a^2 = 1/n; the spectrum of A^T A and ||A^T A - I||_op as n
    grows.  'Converges to 0 in probability' requires P(||M|| > eps) -> 0; we bound P(||M||_op >= 2) from below
    (Clopper-Pearson, Bonferroni over n, family level 1e-3) at every width and compare with the
    Marchenko-Pastur limit 3 (s_max^2 -> 4, s_min^2 -> 0).  A refutation test: it fails when the
    probability stays above 1/2 at every width >= 64 and is otherwise undecided (never passed)."""
    import numpy as np

    from lora_theorems.numerics.paper_l.m_delta import mp_density

    widths, trials = OPNORM_WIDTHS(ctx), OPNORM_TRIALS(ctx)
    rows, cells, norms_mean = [], [], []
    for n in widths:
        s2, op = _opnorm_draws(ctx, n, trials)
        cells.append(({"n": n}, int((op >= 2.0).sum()), trials))
        rows.append([n, trials, round(float(op.mean()), 4), round(float(op.min()), 4), round(float(s2[:, 0].mean()), 4),
                     round(float(s2[:, -1].mean()), 6)])
        norms_mean.append(float(op.mean()))
    cis = binomial_sweep(cells, FAMILY_ALPHA, side="lower")
    lows = [cell.low for cell in cis]
    n_big = widths[-1]
    edges = np.linspace(0.0, 4.0, 41)
    hist, _ = np.histogram(s2.ravel(), bins=edges, density=True)
    mids = 0.5 * (edges[1:] + edges[:-1])
    # decision: at every width >= 64, P(||M||_op >= 2) is above 1/2 with confidence (it should tend
    # to 0): refuted. Otherwise undecided, never passed: no finite sweep shows convergence to 0.
    stays = all(lo > 0.5 for w, lo in zip(widths, lows, strict=True) if w >= 64)
    return decide(
        False if stays else None,
        holds="",
        undecided=f"||A^T A - I||_op = {norms_mean[-1]:.3f} on average at n={n_big}; P(||M||_op >= 2) not bounded above 1/2 "
        "at every n >= 64 (not refuted here; convergence in probability cannot be shown by sampling)",
        fails=f"||A^T A - I||_op does not tend to 0: mean {norms_mean[-1]:.3f} at n={n_big} (limit 3); "
        f"P(||M||_op >= 2) >= {lows[-1]:.3f} there",
        counterexample={
            "n": n_big, "r": n_big, "sigma_a2": 1.0 / n_big, "mean_op_norm": norms_mean[-1],
            "P_op_norm_ge_2_lower_bound": lows[-1], "limit": 3.0,
            "op_norm_mean_by_n": dict(zip([str(w) for w in widths], norms_mean, strict=True)),
            "reason": "s_max(A)^2 -> (1+sqrt(r/n))^2 = 4 (Bai-Yin), so ||A^T A - I||_op -> 3",
        },
        params={"r": "n", "sigma_a2": "1/n", "per_width_alpha": cis.per_cell_alpha},
        region={"n": list(widths)},
        worst_margin=-norms_mean[-1],
        false_alarm_rate=cis.family_alpha,
        tables=(Table(title="r = n, sigma_a^2 = 1/n",
                      columns=("n", "trials", "mean ||M||_op", "min ||M||_op", "mean s_max^2", "mean s_min^2", "CI low P(||M||>=2)"),
                      rows=tuple((*row, round(lo, 4)) for row, lo in zip(rows, lows, strict=True))),),
        plots=(
            Plot(key="l5-opnorm", title=r"$\|A^TA - I\|_{op}$ with $r = n$, $\sigma_a^2 = 1/n$", xlabel="width $n$", ylabel="operator norm", logx=True,
                 series=(Series("Monte Carlo mean", tuple(float(w) for w in widths), tuple(norms_mean), style="points"),
                         Series("Marchenko-Pastur limit", (float(widths[0]), float(widths[-1])), (3.0, 3.0)))),
            Plot(key="l5-mp", title=f"Eigenvalues of $A^TA$ against Marchenko-Pastur, n = r = {n_big}", xlabel="eigenvalue", ylabel="density",
                 series=(Series("histogram", tuple(edges.tolist()), tuple(hist.tolist()), style="hist"),
                         Series("Marchenko-Pastur (ratio 1)", tuple(mids.tolist()), tuple(mp_density(mids, 1.0, 1.0).tolist())))),
        ),
    )


@check("kernel-difference", kind=EvidenceKind.STATISTICAL)
def kernel_difference_rate(ctx: CheckContext) -> Outcome:
    """L5 as written (kernel level): for fixed features h (unit direction), h^T(A^T A - I)h'/(|h||h'|) -> 0:
    n E[q^2] must stay bounded (CLT interval, Bonferroni over n, family level 1e-3, compared with the exact
    1 + rho^2) so the RMS difference decays like n^{-1/2}; plus the real LoRA vs FF kernel of one layer."""
    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import empirical_ntk, init_fc_params

    widths = KERNEL_WIDTHS(ctx)
    rho, st = _bilinear_stats(ctx, widths, lambda n: BILINEAR_TRIALS(ctx))
    exact = 1 + rho**2
    bounded = all(lo <= exact <= hi for _, _, _, lo, hi, _ in st)
    # the real thing: one hidden layer adapted with r = n, sigma_a^2 = 1/n, B = 0; LoRA vs FF contribution of that layer
    X = np.array([[1.0, 0.5, -0.3], [0.2, -1.0, 0.7], [-0.6, 0.4, 1.1]])
    net_rows = []
    for n in ctx.pick((32, 128, 512), (32, 64, 128, 256, 512, 1024)):
        rel = []
        for _ in range(ctx.pick(4, 10)):
            p = init_fc_params(ctx.rng, 3, [n, n], lora_layers=(1,), rank=n, sigma_a2=1.0 / n)
            _, kf = empirical_ntk(p, X, mode=["frozen", "full", "frozen"], per_layer=True)
            _, kl = empirical_ntk(p, X, mode=["frozen", "lora", "frozen"], per_layer=True)
            rel.append(np.linalg.norm(kl[1] - kf[1]) / np.linalg.norm(kf[1]))
        net_rows.append((n, float(np.mean(rel))))
    slope = float(np.polyfit(np.log([r[0] for r in net_rows]), np.log([r[1] for r in net_rows]), 1)[0])
    return decide(
        bounded,
        holds=f"n E[(u^T M v)^2] matches the exact {exact:.2f} at every n (RMS {st[-1][5]:.2e} at n={st[-1][0]}): "
        f"-> 0 like n^(-1/2); network layer kernel: relative |K_LoRA - K_FF| slope {slope:.2f} in log n",
        fails=f"n E[(u^T M v)^2] leaves the exact {exact:.2f} at some n (RMS {st[-1][5]:.2e} at n={st[-1][0]}); "
        f"network layer kernel: relative |K_LoRA - K_FF| slope {slope:.2f} in log n",
        counterexample={"table": [list(r) for r in st], "exact": exact},
        params={"rho": rho, "inputs": X.tolist()},
        region={"n": list(widths)},
        worst_margin=_interval_margin(st, exact),
        false_alarm_rate=FAMILY_ALPHA,
        metrics={"network_rate_exponent": slope},
        tables=(
            Table(title="bilinear form u^T(A^T A - I)v, |u|=|v|=1, u.v=0.6", columns=("n", "trials", "n E[q^2]", "CI low", "CI high", "RMS q"),
                  rows=tuple((a, b, round(c, 4), round(d, 4), round(e, 4), f) for a, b, c, d, e, f in st)),
            Table(title="one-layer kernel contribution, LoRA (B = 0) vs FF, relative Frobenius difference",
                  columns=("n", "mean rel. diff"), rows=tuple(net_rows)),
        ),
    )


# ----------------------------------------------------------------------------- corrected


@check("corrected-weak-convergence", kind=EvidenceKind.STATISTICAL)
def weak_convergence(ctx: CheckContext) -> Outcome:
    """Corrected L5: E[A^T A] = I (entrywise mean of M within CLT intervals) and Var(u^T M v) = (1+rho^2)/n
    (n E[q^2] interval contains 1 + rho^2) at every width; Bonferroni over all n^2 + len(widths) intervals,
    family level 1e-3."""
    import numpy as np

    widths, n = WEAK_WIDTHS(ctx), 8
    tests = n * n + len(widths)  # the n x n entry means and one variance per width
    rho, st = _bilinear_stats(ctx, widths, lambda m: BILINEAR_TRIALS(ctx), FAMILY_ALPHA, tests)
    exact = 1 + rho**2
    ok_var = all(lo <= exact <= hi for _, _, _, lo, hi, _ in st)
    # mean: entries of A^T A - I for n = 8, averaged over draws; each entry's CLT interval must contain 0
    T = ctx.pick(4000, 40000)
    A = ctx.rng.standard_normal((T, n, n)) / np.sqrt(n)
    M = np.swapaxes(A, 1, 2) @ A - np.eye(n)
    z = normal_quantile(FAMILY_ALPHA / tests)
    zs = np.abs(M.mean(0)) / (M.std(0, ddof=1) / np.sqrt(T))
    ok_mean = bool((zs <= z).all())
    return decide(
        ok_var and ok_mean,
        holds=f"E[M_Delta] = 0 (max |z| = {zs.max():.2f} < {z:.2f}) and n Var(u^T M v) = {exact:.2f} at every n",
        fails=f"E[M_Delta] = 0 or n Var(u^T M v) = {exact:.2f} rejected (max |z| = {zs.max():.2f} vs {z:.2f})",
        counterexample={"max_z": float(zs.max()), "table": [list(r) for r in st]},
        params={"rho": rho},
        region={"n": list(widths)},
        worst_margin=_interval_margin(st, exact),
        false_alarm_rate=FAMILY_ALPHA,
    )


# ----------------------------------------------------------------------------- exact parts
# SymPy: exact Gaussian moments of M_Delta (lora_theorems.proofs.paper_l.m_delta); steps are read by name.


def _moments():
    from lora_theorems.proofs.paper_l.m_delta import moments_derivation

    return moments_derivation()


@check("exact-mean-square", kind=EvidenceKind.SYMBOLIC)
def exact_mean_square_norm(ctx: CheckContext) -> Outcome:
    """L5, exact: E||A^TA - I||_F^2 = n r (n+1) sigma^4 + n (r sigma^2 - 1)^2 (Gaussian moments,
    symbolic sizes up to 3x3), = n + 1 at r = n, sigma^2 = 1/n, so E||M_Delta||_2^2 >= (n+1)/n > 1
    for every n: no convergence to 0 in mean square."""
    d = _moments()
    ok = d.verified("frobenius", "mean-square-floor")
    ns = [1, 2, 4, 16, 256, 4096]
    ce = {"n": ns, "r": ns, "sigma_a2": [1 / n for n in ns], "E_frobenius_sq": [n + 1 for n in ns],
          "E_opnorm_sq_lower_bound": [(n + 1) / n for n in ns]}
    return Outcome(
        passed=False if ok else None,
        summary="E||M_Delta||_2^2 >= E||M_Delta||_F^2 / n = (n+1)/n > 1 for every n (exact): M_Delta does not tend to 0 in mean square",
        params={"moment_sizes": "(r,n) up to (3,3), symbolic sigma"},
        region={"r": "n", "sigma_a^2": "1/n", "n": "all"},
        worst_margin=-1.0,
        counterexample=ce if ok else None,
        derivations=(d,),
    )


@check("kernel-difference", kind=EvidenceKind.SYMBOLIC)
def exact_kernel_difference_moments(ctx: CheckContext) -> Outcome:
    """L5, exact: for h independent of A, h^T(A^TA - I)h / ||h||^2 has mean r sigma^2 - 1 = 0 and
    variance 2 r sigma^4 = 2/n at r = n, sigma^2 = 1/n (Gaussian moments), so it tends to 0 in
    probability by Chebyshev: P(|.| > eps) <= 2/(n eps^2)."""
    d = _moments()
    ok = d.verified("mean", "bilinear-variance", "kernel-variance")
    return Outcome(
        passed=ok,
        summary="normalized Delta_r(x,x) has mean 0 and variance 2/n exactly: -> 0 in probability (Chebyshev)",
        params={"moment_sizes": "(r,n) up to (3,3)"},
        region={"r": "n", "sigma_a^2": "1/n"},
        counterexample=None if ok else {"failed_steps": d.failed_steps()},
    )


@check("corrected-weak-convergence", kind=EvidenceKind.SYMBOLIC)
def exact_weak_convergence_moments(ctx: CheckContext) -> Outcome:
    """L5 corrected, exact: E[A^TA] = r sigma^2 I = I at r = n, sigma^2 = 1/n, and
    Var(u^T A^TA v) = r sigma^4 (|u|^2|v|^2 + (u.v)^2) = (1 + (u.v)^2)/n for unit u, v."""
    d = _moments()
    ok = d.verified("mean", "bilinear-variance")
    return Outcome(
        passed=ok,
        summary="E[M_Delta] = 0 and Var(u^T M_Delta v) = (1+(u.v)^2)/n exactly at r = n, sigma^2 = 1/n",
        params={"moment_sizes": "(r,n) up to (3,3)"},
        region={"r": "n", "sigma_a^2": "1/n"},
        counterexample=None if ok else {"failed_steps": d.failed_steps()},
    )

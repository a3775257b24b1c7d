"""M2: the variance of the injected noise and its decrease with the rank.

Exact moments: :mod:`lora_theorems.proofs.paper_m.noise`; Monte Carlo: :mod:`lora_theorems.numerics.paper_m.noise`.
"""

from lora_theorems.checks import CheckContext, Outcome, check
from lora_theorems.ledger import AS_WRITTEN, FINDING, Claim, EvidenceKind, Formalization, Plot, Series, Table

CLAIM = Claim(
    id="M2",
    paper="M",
    title="Noise variance, decreasing in the rank",
    source="abstract ('we quantify the variance of the injected noise')",
    statement=(
        "The variance of the injected noise is quantified; it is a decreasing function of the rank $r$."
    ),
    hypotheses=(r"$A$ i.i.d. $\mathcal N(0,1/r)$", r"noise $N = G(A^\top A - I)$, $G$ independent of $A$"),
    formalizations=(
        Formalization(
            key="entrywise-variance",
            level="coordinate",
            statement=(
                r"$\mathbb E[N] = 0$ and $\operatorname{Var}(N_{ij}) = \frac{1}{r}"
                r"\left(\|G_{i\cdot}\|^2 + G_{ij}^2\right)$: non-increasing in $r$ for every $G$, strictly "
                r"decreasing whenever $G_{i\cdot}\neq 0$."
            ),
            reading=AS_WRITTEN,
            covers="'quantify the variance', 'decreasing in r' (one coordinate)",
        ),
        Formalization(
            key="matrix-covariance",
            level="matrix",
            statement=(
                r"$\operatorname{Cov}(N_{ij}, N_{kl}) = \frac{(GG^\top)_{ik}\delta_{jl} + G_{il}G_{kj}}{r}$, so "
                r"$\operatorname{Cov}(\operatorname{vec}N) = C(G)/r$ with $C(G)\succeq 0$ decreases in the Loewner "
                r"order, and $\mathbb E\|N\|_F^2 = \frac{n+1}{r}\|G\|_F^2$."
            ),
            reading=AS_WRITTEN,
            covers="'the variance' read as the covariance of the whole noise matrix",
        ),
        Formalization(
            key="other-inits",
            level="coordinate",
            statement=(
                r"For $A$ with i.i.d. entries of any law with mean 0, variance $s$ (e.g. $1/n$, or PEFT's "
                r"Kaiming-uniform $\mathcal U(\pm 1/\sqrt n)$, $s = 1/(3n)$) and kurtosis $\kappa = \mu_4/s^2$, "
                r"and the step normalised so that its mean is the full fine-tuning step (dividing by $rs$, which "
                r"is what $lpha/r$ scaling with a tuned learning rate amounts to), the noise "
                r"$N' = G(A^	op A/(rs) - I)$ has $\mathbb E N' = 0$ and "
                r"$\operatorname{Var}N'_{ij} = rac{\|G_{i\cdot}\|^2 + (\kappa-2)G_{ij}^2}{r}$, non-increasing in $r$ "
                r"for every such law. (Unnormalised, $G(A^	op A - I)$ has mean $(rs-1)G$ and a variance that grows "
                r"in $r$ when $s$ does not depend on $r$: a bias, not a failure of the decrease.)"
            ),
            reading=FINDING,
            covers="the claim's conclusion beyond its hypothesis A ~ N(0, 1/r): other initializations",
        ),
    ),
)


def _configs(ctx):
    import numpy as np

    rng = ctx.rng
    G1 = rng.standard_normal((2, 3))
    G2 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # one-hot row (chi-square coordinate) and zero row
    G3 = rng.standard_normal((3, 4)) * np.array([[1.0], [0.1], [3.0]])
    Gs = [G1, G2, G3]
    ranks = ctx.pick([1, 2, 8, 32], [1, 2, 3, 4, 8, 16, 32, 64, 128])
    return Gs, ranks


def _second_moment_test(G, r, trials, rng, z):
    """Sample mean of N_a N_b (exact mean: Cov_ab, since E N = 0) with z-intervals for all pairs."""
    import numpy as np

    from lora_theorems.numerics.paper_m.noise import lora_noise_from_gram, noise_covariance, sample_gram

    # N depends on A only through A^T A ~ Wishart: drawn directly (Bartlett), cost independent of r
    N = lora_noise_from_gram(G, sample_gram(rng, r, G.shape[1], trials)).reshape(trials, -1)
    C = noise_covariance(G, r)
    iu = np.triu_indices(C.shape[0])
    # mean and standard error of every product N_a N_b from two Gram matrices (one GEMM each):
    # sum_t N_a N_b = (N^T N)_ab, sum_t (N_a N_b)^2 = ((N*N)^T (N*N))_ab
    N2 = N * N
    mean = (N.T @ N)[iu] / trials
    sq = (N2.T @ N2)[iu]
    var = np.maximum(sq - trials * mean**2, 0.0) / (trials - 1)
    se = np.sqrt(var / trials)
    exact = C[iu]
    # pairs with zero variance (zero rows of G) must be exactly zero
    degenerate = se == 0
    ok_pairs = np.where(degenerate, np.abs(mean - exact) <= 1e-12, np.abs(mean - exact) <= z * np.where(degenerate, 1, se))
    mean_ok = np.abs(N.mean(axis=0)) <= z * np.maximum(N.std(axis=0, ddof=1) / np.sqrt(trials), 1e-300) + 1e-12
    return ok_pairs, mean_ok, mean, se, exact, iu


#: Checks that read the same cached SymPy derivation (proofs.paper_m.noise.m2_derivation, the costliest
#: step of both): a parallel run keeps them in one worker (:mod:`lora_theorems.runner`), so it runs once.
RUN_TOGETHER = (("m2_exact_moments", "m2_other_inits"),)


@check("entrywise-variance", kind=EvidenceKind.SYMBOLIC)
def m2_exact_moments(ctx: CheckContext) -> Outcome:
    """M2: mean, variance and covariance of N from Gaussian moment identities (SymPy), the general
    (s, mu4) formula, the batch-size dependence and the sign of d Var / dr."""
    from lora_theorems.proofs.paper_m.noise import m2_derivation

    d = m2_derivation()
    return Outcome(
        passed=d.passed,
        summary="E N = 0, Var N_ij = (||G_i||^2 + G_ij^2)/r, Cov as stated, dVar/dr = -(..)/r^2 (exact)",
        params={"m": 2, "(r, n)": [(1, 2), (2, 2), (2, 3), (3, 2)], "general r": "via i.i.d. rows"},
        counterexample=None if d.passed else {"failed": d.failed_steps()},
        derivations=(d,),
    )


@check("entrywise-variance", kind=EvidenceKind.STATISTICAL, name="m2_variance_monte_carlo")
def m2_variance_monte_carlo(ctx: CheckContext) -> Outcome:
    """M2: Monte Carlo of E N and Var N_ij against the closed form, all coordinates of three
    gradients (random, one-hot + zero row, badly scaled) and ranks from 1; z-intervals with
    Bonferroni over every coordinate tested (CLT: N has finite fourth moments)."""
    import numpy as np
    from scipy import stats

    from lora_theorems.numerics.paper_m.noise import noise_variance

    alpha = 1e-3
    Gs, ranks = _configs(ctx)
    trials = ctx.pick(20000, 200000)
    ntests = sum(2 * G.size for G in Gs) * len(ranks)
    z = stats.norm.isf(alpha / (2 * ntests))
    bad = []
    for G in Gs:
        for r in ranks:
            ok_pairs, mean_ok, mean, se, exact, iu = _second_moment_test(G, r, trials, ctx.rng, z)
            diag = iu[0] == iu[1]
            if not (ok_pairs[diag].all() and mean_ok.all()):
                k = int(np.argmin(ok_pairs[diag]))
                bad.append({"G": G.tolist(), "r": r, "coord": int(k), "mc": float(mean[diag][k]), "exact": float(exact[diag][k])})
    # variance-vs-rank plot for coordinate (0, 0) of the first gradient (its own MC draws)
    G = Gs[0]
    rs = [1, 2, 4, 8, 16, 32, 64, 128]
    zz = stats.norm.isf(alpha / (2 * len(rs)))
    mc, err = [], []
    from lora_theorems.numerics.paper_m.noise import lora_noise_from_gram, sample_gram

    for r in rs:
        x = lora_noise_from_gram(G, sample_gram(ctx.rng, r, G.shape[1], trials))[:, 0, 0]
        mc.append(float((x**2).mean()))
        err.append(float(zz * (x**2).std(ddof=1) / np.sqrt(trials)))
    exact = [float(noise_variance(G, r)[0, 0]) for r in rs]
    # monotonicity of the closed form over the swept gradients and r = 1..256
    r_all = np.arange(1, 257)
    mono_ok = True
    for G in Gs:
        v = np.array([noise_variance(G, int(r)) for r in r_all])
        nz = (G**2).sum(axis=1) > 0
        d = np.diff(v, axis=0)
        mono_ok &= bool((d[:, nz, :] < 0).all() and (d[:, ~nz, :] == 0).all())
    ok = bool(not bad and mono_ok)
    return Outcome(
        passed=ok,
        summary=("Var N_ij and E N match the closed form" if not bad else f"Var N_ij or E N off the closed form in {len(bad)} (G, r) cases")
        + f" at {ntests} simultaneous tests; closed form strictly "
        f"decreasing in r on nonzero rows (r = 1..256): {mono_ok}",
        params={"trials": trials, "ranks": ranks},
        region={"G": [G.tolist() for G in Gs]},
        false_alarm_rate=alpha,
        counterexample=None if ok else {"mismatches": bad[:3], "monotone": mono_ok},
        plots=(
            Plot(
                key="m2-variance-vs-rank",
                title="Variance of one noise coordinate vs rank",
                xlabel="rank r",
                ylabel="Var N_00",
                logx=True,
                logy=True,
                series=(
                    Series("closed form (||G_0||^2 + G_00^2)/r", tuple(map(float, rs)), tuple(exact)),
                    Series("Monte Carlo (simultaneous CI)", tuple(map(float, rs)), tuple(mc), tuple(err), "points"),
                ),
            ),
        ),
    )


def _init_laws(n):
    """(name, sampler(rng, shape), variance s, fourth moment mu4) of the initializations compared."""
    import numpy as np

    b = 1 / np.sqrt(n)  # PEFT's Kaiming-uniform with a = sqrt(5): U(-1/sqrt(n), 1/sqrt(n))
    return (
        ("Gaussian, var 1/n", lambda rng, shape: rng.standard_normal(shape) / np.sqrt(n), 1 / n, 3 / n**2),
        ("Kaiming-uniform U(+-1/sqrt n)", lambda rng, shape: rng.uniform(-b, b, shape), b**2 / 3, b**4 / 5),
        ("Rademacher +-1/sqrt n", lambda rng, shape: rng.choice([-b, b], size=shape), 1 / n, 1 / n**2),
    )


@check("other-inits", kind=EvidenceKind.STATISTICAL, name="m2_other_inits")
def m2_other_inits(ctx: CheckContext) -> Outcome:
    """M2 under other initializations (finding): the exact step of the symbolic derivation
    (Var of the mean-normalised noise = (||g||^2 + (kappa - 2) g_j^2)/r), Monte Carlo of every
    coordinate's mean and variance for Gaussian 1/n, Kaiming-uniform and Rademacher A against it
    (z-intervals, Bonferroni), and its decrease in r; the unnormalised mean and variance beside it."""
    import numpy as np
    from scipy import stats

    from lora_theorems.numerics.paper_m.noise import noise_variance_general_init, normalized_noise_variance
    from lora_theorems.proofs.paper_m.noise import m2_derivation

    alpha = 1e-3
    n = 8
    rng = ctx.rng
    G = rng.standard_normal((2, n))
    G[1] = 0.0
    G[1, 3] = 1.5  # a one-hot row: the (kappa - 2) G_ij^2 term matters most there
    ranks = ctx.pick([1, 2, 8, 32], [1, 2, 4, 8, 16, 32, 64, 128])
    trials = ctx.pick(20000, 100000)
    laws = _init_laws(n)
    ntests = 2 * G.size * len(ranks) * len(laws)
    z = stats.norm.isf(alpha / (2 * ntests))
    bad, rows = [], []
    for name, draw, s, mu4 in laws:
        for r in ranks:
            # draws in blocks of at most ~4M entries of A (32 MB), moments accumulated
            s1 = s2 = s4 = 0.0
            block = max(1, min(trials, 4_000_000 // (r * n)))
            done = 0
            while done < trials:
                t = min(block, trials - done)
                A = draw(rng, (t, r, n))
                N = (np.einsum("mn,trn->tmr", G, A) @ A) / (r * s) - G
                N2 = N**2
                # (N^2)^2, not N**4 (a pow per entry, half this check's time): s4 only sets the
                # standard error of the variance test, and moves by a rounding
                s1, s2, s4 = s1 + N.sum(axis=0), s2 + N2.sum(axis=0), s4 + (N2 * N2).sum(axis=0)
                done += t
            exact = normalized_noise_variance(G, r, s, mu4)
            # E N' = 0 exactly, so Var N' = E N'^2: test the mean and the raw second moment
            # (a z-interval each; a coordinate of constant modulus has se 0 and must match to round-off)
            mean, var = s1 / trials, s2 / trials
            se_mean = np.sqrt(np.maximum(var - mean**2, 0.0) * trials / (trials - 1) / trials)
            se_var = np.sqrt(np.maximum(s4 / trials - var**2, 0.0) * trials / (trials - 1) / trials)
            tol = 1e-12 * np.maximum(exact, 1.0)
            ok = (np.abs(mean) <= z * se_mean + tol) & (np.abs(var - exact) <= z * se_var + tol)
            if not ok.all():
                k = np.unravel_index(int(np.argmin(ok)), ok.shape)
                bad.append({"init": name, "r": r, "coord": [int(k[0]), int(k[1])], "mc_var": float(var[k]), "exact": float(exact[k])})
            umean, uvar = noise_variance_general_init(G, r, s, mu4)
            rows.append((name, r, float(var[0, 0]), float(exact[0, 0]), float(exact[1, 3]), float(umean[0, 0] / G[0, 0]), float(uvar[0, 0])))
    # the exact normalised variance is non-increasing in r for every law, on both rows
    r_all = np.arange(1, 257)
    mono = all(
        bool((np.diff(np.array([normalized_noise_variance(G, int(r), s, mu4) for r in r_all]), axis=0) <= 0).all())
        for _, _, s, mu4 in laws
    )
    symbolic = m2_derivation().verified("normalized-any-init")
    ok = not bad and mono and symbolic
    return Outcome(
        passed=bool(ok),
        summary=(
            "mean-normalised noise: Var = (||g||^2 + (kappa-2) g_j^2)/r "
            + ("holds" if symbolic else "FAILS")
            + " symbolically; Monte Carlo "
            + ("agrees" if not bad else f"disagrees in {len(bad)} (init, r) cases")
            + f" at {ntests} simultaneous tests for three inits; decreasing in r: {mono}"
        ),
        params={"n": n, "trials": trials, "ranks": ranks, "inits": [law[0] for law in laws]},
        false_alarm_rate=alpha,
        counterexample=None if ok else {"mismatches": bad[:3], "monotone": mono, "symbolic": symbolic},
        tables=(
            Table(
                title="Noise under three initializations of A (n = 8): normalised variance, and the unnormalised bias and variance",
                columns=(
                    "init",
                    "r",
                    "MC Var N'_00",
                    "exact Var N'_00",
                    "exact Var N'_13 (one-hot row)",
                    "unnormalised E N_00 / G_00",
                    "unnormalised Var N_00",
                ),
                rows=tuple(rows),
            ),
        ),
    )


@check("matrix-covariance", kind=EvidenceKind.STATISTICAL)
def m2_covariance_monte_carlo(ctx: CheckContext) -> Outcome:
    """M2: every entry of Cov(vec N) against the exact formula (z-intervals, Bonferroni over all
    entries), E||N||_F^2 = (n+1)||G||_F^2 / r, and C(G) >= 0 (so Cov decreases in Loewner order)."""
    import numpy as np
    from scipy import stats

    from lora_theorems.numerics.paper_m.noise import noise_covariance

    alpha = 1e-3
    Gs, ranks = _configs(ctx)
    trials = ctx.pick(20000, 200000)
    ntests = sum((G.size * (G.size + 1)) // 2 for G in Gs) * len(ranks)
    z = stats.norm.isf(alpha / (2 * ntests))
    bad, min_eig, frob_gap = [], np.inf, 0.0
    for G in Gs:
        C1 = noise_covariance(G, 1)
        # eigenvalues of C(G): PSD up to round-off of order eps * ||C||
        min_eig = min(min_eig, float(np.linalg.eigvalsh(C1).min() / max(np.abs(C1).max(), 1e-300)))
        m, n = G.shape
        frob_gap = max(frob_gap, float(abs(np.trace(C1) - (n + 1) * (G**2).sum()) / max((G**2).sum(), 1e-300)))
        for r in ranks:
            ok_pairs, *_ = _second_moment_test(G, r, trials, ctx.rng, z)
            if not ok_pairs.all():
                bad.append({"G": G.tolist(), "r": r, "n_bad": int((~ok_pairs).sum())})
    ok = bool(not bad and min_eig >= -1e-12 and frob_gap <= 1e-12)
    entries = f"all {ntests} covariance entries within simultaneous CIs" if not bad else f"{len(bad)} (G, r) cases outside the simultaneous CIs"
    return Outcome(
        passed=ok,
        summary=f"{entries}; min eig of C(G)/max|C| = {min_eig:.1e}; tr C(G) = (n+1)||G||^2 to {frob_gap:.1e}",
        params={"trials": trials, "ranks": ranks},
        false_alarm_rate=alpha,
        counterexample=None if ok else {"mismatches": bad[:3], "min_eig": min_eig, "frob_gap": frob_gap},
    )

"""L1: the NTK recursion of a fully connected network (poster eq. 8-9) and its
infinite-width properties.  Derivation: :mod:`lora_theorems.proofs.paper_l.ntk_recursion`;
numerics: :mod:`lora_theorems.numerics.paper_l.ntk` and :mod:`lora_theorems.numerics.paper_l.empirical`."""

from lora_theorems.checks import CheckContext, Outcome, check
from lora_theorems.ledger import AS_WRITTEN, CORRECTED, Claim, EvidenceKind, Formalization, Plot, Series, Table

CLAIM = Claim(
    id="L1",
    paper="L",
    title="NTK recursion of a fully connected network",
    source="poster, 'An L-layer ANN's NTK', eq. (8)-(9); 'Preliminary' (two infinite-width properties)",
    statement=(
        r"$K^{(1)}_{ff}(x,x') = x^T x'$; "
        r"$K^{(l)}_{ff} = K^{(l-1)}_{ff}\,\dot\Sigma^{(l)} + \Sigma^{(l)}$, "
        r"$\Sigma^{(l)}(x,x') = \mathbb{E}_{f\sim\mathcal N(0,\Sigma^{(l-1)})}[\sigma(f(x))\sigma(f(x'))]$, "
        r"$\dot\Sigma^{(l)}$ the same with $\sigma'$. As the width grows the NTK converges to a "
        r"deterministic kernel (depending only on the initialization variance, the architecture and "
        r"the activation) and stays constant during training."
    ),
    hypotheses=(
        "fully connected network of $L$ layers, NTK parameterization",
        "activation $\\sigma$ with $\\sigma'$ defined almost everywhere (ReLU, erf)",
        "infinite width (for the two limiting properties)",
    ),
    formalizations=(
        Formalization(
            key="recursion",
            level="infinite-width",
            statement=(
                r"For NTK parameterization with weight variance $\sigma_w^2$ and bias variance "
                r"$\sigma_b^2$, the limiting NTK obeys $\Theta^{(1)} = \Sigma^{(1)}$, "
                r"$\Theta^{(l)} = \Theta^{(l-1)}\dot\Sigma^{(l)} + \Sigma^{(l)}$, with $\Sigma$ and "
                r"$\dot\Sigma$ Gaussian expectations under the previous layer's covariance "
                r"($\Sigma^{(l+1)} = \sigma_w^2\mathbb E[\phi(u)\phi(v)] + \sigma_b^2$, "
                r"$\dot\Sigma^{(l+1)} = \sigma_w^2\mathbb E[\phi'(u)\phi'(v)]$), and the NTK of the "
                r"$n_l$ outputs of layer $l$ is $\Theta^{(l)}\otimes I_{n_l}$ (the poster's Kronecker "
                r"factor). The poster's eq. (8)-(9) coincide with it for $\sigma_b^2 = 0$ and "
                r"$\Sigma^{(1)} = x^Tx'$ (no $1/d$ input normalization, i.e. $\sigma_w^2 = d$ in the first "
                r"layer). The second equality of eq. (9) is a separate reading (below)."
            ),
            covers="eq. (8)-(9): the recursion",
        ),
        Formalization(
            key="eq9-neuron-sum",
            level="finite-width",
            statement=(
                r"Poster eq. (9), second equality, as written: "
                r"$\Sigma^{(l)}(x,x') = \mathbb E_{f\sim\mathcal N(0,\Sigma^{(l-1)})}[\sigma(f(x))\sigma(f(x'))] "
                r"= \sum_{j=1}^{n_{l-1}}\sigma(y^{(l-1)}_j(x))\,\sigma(y^{(l-1)}_j(x'))$, the sum over the "
                r"$n_{l-1}$ neurons of the previous layer (checked in expectation, the weakest sense the equality "
                r"can carry: the right side is random, the left deterministic)."
            ),
            reading=AS_WRITTEN,
            covers=(
                "eq. (9)'s '= sum_j sigma(y_j) sigma(y_j')': the poster prints it inside the L-layer NTK block that "
                "defines Sigma^(l), so it is part of the claim's words"
            ),
        ),
        Formalization(
            key="eq9-normalized",
            level="finite-width",
            statement=(
                r"Eq. (9) with the neuron sum normalized: "
                r"$\mathbb E\big[\tfrac{1}{n_{l-1}}\sum_{j=1}^{n_{l-1}}\sigma(y_j(x))\sigma(y_j(x'))\big] = \Sigma^{(l)}(x,x')$ "
                r"exactly when the $y_j$ are the first layer's pre-activations (i.i.d. $\mathcal N(0,\Sigma^{(1)})$), "
                r"and $\tfrac{1}{n_{l-1}}\sum_j \to \Sigma^{(l)}$ as $n_{l-1}\to\infty$ (law of large numbers, "
                r"error $O(n_{l-1}^{-1/2})$)."
            ),
            reading=CORRECTED,
            corrects=('eq9-neuron-sum',),
            covers="eq. (9) with the constant 1/n_(l-1) that makes the sum an estimate of the expectation",
        ),
        Formalization(
            key="closed-forms",
            level="infinite-width",
            statement=(
                r"For ReLU, $\Sigma$ and $\dot\Sigma$ are the arc-cosine kernels of degree 1 and 0; "
                r"for erf, $\Sigma = \frac{2}{\pi}\arcsin\frac{2\Sigma_{12}}{\sqrt{(1+2\Sigma_{11})(1+2\Sigma_{22})}}$ "
                r"and $\dot\Sigma = \frac{4}{\pi}\left[(1+2\Sigma_{11})(1+2\Sigma_{22}) - 4\Sigma_{12}^2\right]^{-1/2}$."
            ),
            covers="the closed forms for ReLU and erf",
        ),
        Formalization(
            key="deterministic-limit",
            level="finite-width",
            statement=(
                r"The empirical NTK of a randomly initialized network converges to the analytic "
                r"kernel as the width $n\to\infty$ (relative error $O(n^{-1/2})$)."
            ),
            covers="'converges to a deterministic limiting kernel'",
        ),
        Formalization(
            key="constant-in-training",
            level="training",
            statement=(
                r"Under gradient descent for a fixed number of steps, the relative change of the "
                r"empirical NTK Gram matrix tends to 0 as the width grows."
            ),
            covers="'keeps constant throughout each training step'",
        ),
    ),
)



@check("recursion", kind=EvidenceKind.SYMBOLIC)
def ntk_recursion_derivation(ctx: CheckContext) -> Outcome:
    """L1 eq. (8)-(9): derive the NTK recursion from K = grad F^T grad F (SymPy, exact).

    The first-layer NTK, the one-layer chain-rule identity of the empirical NTK (explicit
    network with symbolic weights and a generic activation) and the exact Gaussian
    expectation over the new weights (the Kronecker factor) are checked by exact
    simplification; the infinite-width limit is the stated theorem of Jacot et al. (2018).
    """
    import dataclasses

    from lora_theorems.proofs.paper_l.ntk_recursion import recursion_derivation

    full = recursion_derivation()
    # eq. (9)'s neuron sum is its own as-written reading (check eq9_neuron_sum_as_written); its
    # step is not part of the recursion this check certifies
    d = dataclasses.replace(full, steps=tuple(st for st in full.steps if st.name != "eq9-neuron-sum"))
    bad = d.failed_steps()
    checked = sum(s.verified is True for s in d.steps)
    return Outcome(
        passed=d.passed,
        summary=(
            f"recursion derived: {checked} exact steps checked, limit theorem stated; poster eq. (8) matches "
            "with sigma_b = 0 and no 1/d (eq. (9)'s neuron sum: see the eq9 readings)"
            if d.passed
            else f"{len(bad)} derivation steps failed"
        ),
        params={"network": "d=2, widths 2-2, two outputs, generic phi, symbolic weights"},
        region={"activation": "generic (symbolic phi)", "depth": "one layer of the chain rule (induction step)"},
        counterexample={"failed_steps": bad} if bad else None,
        derivations=(d,),
    )


_EQ9_X = ((1.0, 0.5, -0.3), (0.2, -1.0, 0.7), (-0.6, 0.4, 1.1))  # inputs of the eq. (9) checks


def _eq9_rhs_weight(n):
    """The weight of each neuron in the right side of eq. (9) as the poster prints it,
    ``sum_j sigma(y_j) sigma(y_j')``: 1 (no ``1/n_(l-1)``), for a number or a symbol ``n``.
    The as-written check reads the right side through this one function, so a test can give
    it the weight ``1/n`` and watch the check pass (issue 13: a check must be able to move)."""
    return 1


def _eq9_sigma2(X, act):
    """Sigma^(2) in the poster's convention (Sigma^(1) = x.x', no weight or bias variance):
    analytic_ntk with weight_var 1 on inputs scaled by sqrt(d) gives exactly E[phi(u) phi(v)]."""
    import numpy as np

    from lora_theorems.numerics.paper_l.ntk import analytic_ntk

    X = np.asarray(X, dtype=float)
    return analytic_ntk(X * np.sqrt(X.shape[1]), 1, act, 1.0, 0.0)[0]


def _eq9_neuron_sums(ctx, X, act, n, seeds):
    """The poster's sum_j phi(y_j(x)) phi(y_j(x')) over n first-layer neurons, y = W x with
    W_jk ~ N(0, 1) (so Cov y_j = x.x' = Sigma^(1)), one Gram matrix per seed."""
    import numpy as np
    from scipy import special

    phi = (lambda u: np.maximum(u, 0.0)) if act == "relu" else special.erf
    W = ctx.rng.standard_normal((seeds, n, X.shape[1]))
    H = phi(np.einsum("snd,Nd->sNn", W, X))
    return np.einsum("sNn,sMn->sNM", H, H)


@check("eq9-neuron-sum", kind=EvidenceKind.STATISTICAL)
def eq9_neuron_sum_as_written(ctx: CheckContext) -> Outcome:
    """L1 eq. (9) as written: Sigma^(l) = sum_j sigma(y_j) sigma(y_j').  Exact: the sum's
    expectation is n_(l-1) Sigma^(l) (SymPy, symbolic n), so the equality fails for every
    n_(l-1) >= 2; Monte Carlo over first-layer neurons (ReLU, erf) confirms E[sum] / Sigma = n
    with z-intervals (Bonferroni) far from 1.  Minimal counterexample: d = 1, x = x' = 1,
    ReLU, n_1 = 2: Sigma^(2) = E[relu(u)^2] = 1/2, E[sum] = 1."""
    import numpy as np
    import sympy as sp
    from scipy import stats

    from lora_theorems.ledger import Derivation, Step

    u = sp.Symbol("u", real=True)
    nn = sp.Symbol("n_{l-1}", positive=True, integer=True)
    relu2 = sp.integrate(u**2 * sp.exp(-(u**2) / 2) / sp.sqrt(2 * sp.pi), (u, 0, sp.oo))  # E[relu(u)^2], u ~ N(0,1)
    e_sum = nn * relu2
    # eq. (9): E[right side] = Sigma^(2)?  Both sides are rational in n: cancel's normal form is zero exactly
    # when the difference is (a decision, where simplify is a heuristic at 0.08 s)
    holds = sp.cancel(nn * _eq9_rhs_weight(nn) * relu2 - relu2) == 0
    d = Derivation(
        key="L1-eq9",
        title="L1: poster eq. (9), the neuron sum against the expectation",
        steps=(
            Step(
                "The pre-activations y_j of the previous layer's n_(l-1) neurons are i.i.d. with the Gaussian law of f (first hidden layer: exactly).",
                r"y_j(x) \overset{\text{i.i.d.}}{\sim} f(x),\quad f\sim\mathcal N(0,\Sigma^{(l-1)})",
                "definition",
                name="neurons-iid",
            ),
            Step(
                "By linearity the neuron sum has expectation n_(l-1) times the Gaussian expectation Sigma^(l) "
                "(ReLU, x = x', Sigma^(1) = 1: E[relu(u)^2] = 1/2 by exact integration).",
                r"\mathbb E\Big[\sum_{j=1}^{n_{l-1}}\sigma(y_j(x))\sigma(y_j(x))\Big] = n_{l-1}\,\mathbb E[\mathrm{relu}(u)^2] = \frac{n_{l-1}}{2}",
                "exact simplification",
                bool(sp.cancel(e_sum - nn / 2) == 0),
                name="sum-expectation",
            ),
            Step(
                "Eq. (9) as written equates this sum with Sigma^(l): false for every n_(l-1) >= 2 "
                "(the two sides differ by the factor n_(l-1), even in expectation).",
                r"\Sigma^{(l)}(x,x) = \tfrac12 \overset{?}{=} \mathbb E\Big[\sum_{j=1}^{n_{l-1}}\ldots\Big] = \frac{n_{l-1}}{2}",
                "exact simplification",
                bool(holds),
                detail="(n_(l-1) - 1)/2 = 0 only at n_(l-1) = 1",
                name="eq9-as-written",
            ),
        ),
        conclusion="Eq. (9)'s sum is n_(l-1) Sigma^(l) in expectation; the equality needs the factor 1/n_(l-1).",
    )
    X = np.asarray(_EQ9_X)
    widths = ctx.pick((2, 8, 64), (2, 4, 16, 64, 256))
    seeds = ctx.pick(2000, 8000)
    alpha = 1e-3
    z = stats.norm.isf(alpha / (2 * 2 * len(widths)))
    rows, ratio_ok = [], True
    for act in ("relu", "erf"):
        S2 = _eq9_sigma2(X, act)
        for n in widths:
            sums = _eq9_neuron_sums(ctx, X, act, n, seeds)[:, 0, 0] * _eq9_rhs_weight(n)  # eq. (9)'s right side at x = x'
            mean, se = float(sums.mean()), float(sums.std(ddof=1) / np.sqrt(seeds))
            ratio_ok &= abs(mean - n * S2[0, 0]) <= z * se  # E[sum] = n Sigma, within the CI
            rows.append((act, n, float(S2[0, 0]), mean, mean - z * se, mean + z * se, mean / S2[0, 0]))
    # eq. (9) fails at a width when the whole CI of E[sum] excludes Sigma^(2)
    excluded = [r_ for r_ in rows if not (r_[4] <= r_[2] <= r_[5])]
    ok = bool(holds) and not excluded
    return Outcome(
        passed=ok,
        summary=(
            "eq. (9) as written holds"
            if ok
            else f"eq. (9) as written fails: E[sum_j sigma(y_j)^2] = n_(l-1) Sigma^(2) exactly (symbolic), and the "
            f"CI of E[sum] excludes Sigma^(2) at {len(excluded)} of {len(rows)} (activation, n), all with n >= 2; "
            f"E[sum] = n Sigma within the CIs: {bool(ratio_ok)}"
        ),
        params={"inputs": X.tolist(), "seeds": seeds, "convention": "Sigma^(1) = x.x', W ~ N(0, 1)"},
        region={"n_(l-1)": list(widths), "activation": ["relu", "erf"]},
        false_alarm_rate=alpha,
        counterexample=None
        if ok
        else {
            "activation": "relu",
            "d": 1,
            "x": [1.0],
            "x_prime": [1.0],
            "n_(l-1)": 2,
            "Sigma^(1)(x,x)": 1.0,
            "Sigma^(2)(x,x) = E[relu(u)^2]": 0.5,
            "E[sum_j relu(y_j)^2]": 1.0,
            "why": "y_1, y_2 i.i.d. N(0, 1); each relu(y_j)^2 has mean 1/2, so the sum has mean 1 != 1/2",
        },
        derivations=(d,),
        tables=(
            Table(
                "Poster eq. (9): the neuron sum at x = x' (first row of the inputs) against Sigma^(2)",
                ("activation", "n_(l-1)", "Sigma^(2)", "mean of sum", "CI low", "CI high", "mean / Sigma^(2)"),
                tuple(rows),
            ),
        ),
    )


@check("eq9-normalized", kind=EvidenceKind.STATISTICAL)
def eq9_normalized(ctx: CheckContext) -> Outcome:
    """L1 eq. (9) corrected: (1/n) sum_j sigma(y_j(x)) sigma(y_j(x')) over first-layer neurons is
    an unbiased estimate of Sigma^(2) at every width (z-intervals, every Gram entry, Bonferroni)
    and one network's value converges to it (relative Frobenius error falls like n^(-1/2))."""
    import numpy as np
    from scipy import stats

    X = np.asarray(_EQ9_X)
    alpha = 1e-3
    widths = ctx.pick((2, 16, 128), (2, 8, 32, 128, 512))
    seeds = ctx.pick(2000, 8000)
    iu = np.triu_indices(X.shape[0])
    z = stats.norm.isf(alpha / (2 * 2 * len(widths) * len(iu[0])))
    rows, bad = [], []
    errs: dict[str, list[float]] = {}
    for act in ("relu", "erf"):
        S2 = _eq9_sigma2(X, act)
        for n in widths:
            K = _eq9_neuron_sums(ctx, X, act, n, seeds) / n
            mean = K.mean(axis=0)[iu]
            se = K.std(axis=0, ddof=1)[iu] / np.sqrt(seeds)
            inside = np.abs(mean - S2[iu]) <= z * se
            if not inside.all():
                bad.append({"activation": act, "n": n, "entry": int(np.argmin(inside))})
            rel = float(np.mean(np.linalg.norm(K - S2, axis=(1, 2))) / np.linalg.norm(S2))
            errs.setdefault(act, []).append(rel)
            rows.append((act, n, float(np.abs(mean - S2[iu]).max()), rel))
    lw = np.log(np.asarray(widths, dtype=float))
    slopes = {a: float(np.polyfit(lw, np.log(e), 1)[0]) for a, e in errs.items()}
    # sqrt(n) scaling: the mean relative error of an average of n i.i.d. terms is exactly c / sqrt(n)
    # times a factor that tends to 1; a slope within 0.1 of -1/2 is that rate
    rate_ok = all(abs(s + 0.5) <= 0.1 for s in slopes.values())
    ok = bool(not bad and rate_ok)
    return Outcome(
        passed=ok,
        summary=(
            ("E[(1/n) sum] = Sigma^(2) within the CIs at every entry" if not bad else f"(1/n) sum biased in {len(bad)} cases")
            + "; relative error ~ n^slope: "
            + ", ".join(f"{a} {s:.3f}" for a, s in slopes.items())
        ),
        params={"inputs": X.tolist(), "seeds": seeds},
        region={"n_(l-1)": list(widths), "activation": ["relu", "erf"]},
        false_alarm_rate=alpha,
        counterexample=None if ok else {"biased": bad[:3], "slopes": slopes},
        metrics={"slope_" + a: s for a, s in slopes.items()},
        tables=(
            Table(
                "(1/n) sum_j sigma(y_j) sigma(y_j') against Sigma^(2)",
                ("activation", "n", "max |mean - Sigma^(2)|", "mean relative error of one draw"),
                tuple(rows),
            ),
        ),
    )


@check("closed-forms", kind=EvidenceKind.SYMBOLIC)
def relu_erf_closed_forms(ctx: CheckContext) -> Outcome:
    """L1: closed forms of the ReLU (arc-cosine) and erf kernel maps.

    Exact SymPy integration (polar coordinates for ReLU, Gaussian integral plus Price's
    theorem for erf), the stable atan2 forms at 50 digits, and agreement with iterated 2-D
    Gaussian quadrature to 30 digits at random covariance triples (6 quick, 40 full).
    """
    from lora_theorems.proofs.paper_l.ntk_recursion import erf_closed_form_derivation, relu_closed_form_derivation

    n = ctx.pick(6, 40)
    seed = int(ctx.seed)
    ds = (relu_closed_form_derivation(n, seed), erf_closed_form_derivation(n, seed))
    bad = [f for d in ds for f in d.failed_steps()]
    ok = all(d.passed for d in ds)
    return Outcome(
        passed=ok,
        summary=(
            f"ReLU and erf kernel maps derived exactly and confirmed by 2-D quadrature to 30 digits at {n} random points each"
            if ok
            else f"{len(bad)} closed-form steps failed"
        ),
        params={"quadrature_points": n, "quadrature_dps": 40, "digits_required": 30},
        region={"a, b": "(0.05, 4)", "c / sqrt(ab)": "(-0.999, 0.999)"},
        counterexample={"failed_steps": bad} if bad else None,
        derivations=ds,
    )


@check("closed-forms", kind=EvidenceKind.HIGH_PRECISION)
def analytic_ntk_matches_mpmath(ctx: CheckContext) -> Outcome:
    """L1: numerics.ntk.analytic_ntk (float64, lambdified closed forms) against the same
    recursion in mpmath at 50 digits, for ReLU and erf, depths 1-6, several variances, input
    dimensions 1-5 (d = 1: every pair collinear), plus exactly collinear (2x), nearly
    collinear (2.5x, and x + 1e-9 noise) and antipodal rows.

    Tolerance 1e-12 relative: analytic_ntk never forms ab - c^2 by cancellation (it carries
    it from the inputs, see numerics.ntk), so each layer loses a few ulps and after <= 7
    layers the float64 error stays below 1e3 * eps ~ 2e-13.
    """
    import time

    import mpmath
    import numpy as np

    from lora_theorems.numerics.paper_l.ntk import analytic_ntk, analytic_ntk_mpmath

    rng = ctx.rng
    n_sets = ctx.pick(3, 12)
    depths = ctx.pick((1, 3, 6), (1, 2, 3, 4, 5, 6))
    tol = 1e-12
    worst, worst_case, rows, n_eval = 0.0, None, [], 0
    t0 = time.perf_counter()
    for k in range(n_sets):
        N, d = int(rng.integers(2, 5)), (1 if k == 1 else int(rng.integers(1, 6)))  # quick reaches d = 1 too
        X = rng.standard_normal((N, d))
        if k % 3 == 0:
            # collinear (2x exact, 2.5x after rounding), nearly collinear and antipodal rows:
            # the near-diagonal regime where ab - c^2 would cancel
            X = np.vstack([X, 2.0 * X[:1], 2.5 * X[:1], X[:1] + 1e-9 * rng.standard_normal(d), -X[:1]])
        for act in ("relu", "erf"):
            for depth in depths:
                sw2 = float(rng.choice([0.5, 1.0, 2.0]))
                sb2 = float(rng.choice([0.0, 0.1, 1.0]))
                nngp, ntk = analytic_ntk(X, depth, act, sw2, sb2)
                rk, rt = analytic_ntk_mpmath(X, depth, act, sw2, sb2)
                n_eval += 1
                for name, f, r in (("nngp", nngp, rk), ("ntk", ntk, rt)):
                    scale = max(abs(float(v)) for v in r.flat)
                    err = max(abs(float(mpmath.mpf(float(a)) - b)) for a, b in zip(f.flat, r.flat, strict=True)) / scale
                    if err > worst:
                        worst = err
                        worst_case = {"X": X.tolist(), "depth": depth, "activation": act, "weight_var": sw2,
                                      "bias_var": sb2, "kernel": name, "float64": f.tolist(),
                                      "mpmath": [[float(v) for v in row] for row in r]}
                rows.append((act, depth, sw2, sb2, X.shape[0]))
    ok = worst <= tol
    return Outcome(
        passed=ok,
        summary=f"analytic_ntk agrees with the 50-digit recursion: worst relative error {worst:.2e} (need <= {tol:g}) over {n_eval} cases",
        params={"tolerance": tol, "dps": 50, "cases": n_eval},
        region={"activation": ["relu", "erf"], "depth": list(depths), "weight_var": [0.5, 1, 2], "bias_var": [0, 0.1, 1],
                "inputs": "Gaussian rows (d = 1..5), plus collinear, nearly collinear and antipodal pairs"},
        worst_margin=tol - worst,
        counterexample=None if ok else worst_case,
        metrics={"cases_per_s": n_eval / max(time.perf_counter() - t0, 1e-9)},
    )


_L1_FAMILY_ALPHA = 1e-3  # family-wise false-alarm rate of the L1 rate fits (Bonferroni over activations)
_L1_X = ((1.0, 0.5, -0.3), (0.2, -1.0, 0.7), (-0.6, 0.4, 1.1), (0.9, 0.9, 0.1))  # fixed inputs


def _slope_ci(ctx: CheckContext, widths, samples, alpha):
    """Least-squares slope of log(mean error) on log(width), with a percentile bootstrap interval over seeds."""
    import numpy as np

    lw = np.log(np.asarray(widths, dtype=float))
    fit = lambda s: float(np.polyfit(lw, np.log([np.mean(x) for x in s]), 1)[0])  # noqa: E731
    n_boot = ctx.pick(400, 2000)
    sizes = {len(x) for x in samples}
    if len(sizes) == 1:
        # all resamples in one draw: the same index stream as drawing them one width and one replicate at a
        # time (Generator.integers fills in order), and the least-squares slope of every replicate at once
        m = sizes.pop()
        idx = ctx.rng.integers(0, m, (n_boot, len(samples), m))
        y = np.log(np.stack([np.asarray(x)[idx[:, j]].mean(axis=-1) for j, x in enumerate(samples)], axis=1))
        dw = lw - lw.mean()
        boots = ((y - y.mean(axis=1, keepdims=True)) @ dw) / float(dw @ dw)
    else:
        boots = np.asarray([fit([x[ctx.rng.integers(0, len(x), len(x))] for x in samples]) for _ in range(n_boot)])
    return fit(samples), float(np.quantile(boots, alpha / 2)), float(np.quantile(boots, 1 - alpha / 2))


def _slope_t_ci(widths, samples, alpha):
    """Least-squares slope of log(mean error) on log(width), with a two-sided ``1 - alpha`` interval over seeds.

    The slope is sum_w c_w log(m_w) (c_w the least-squares weights, m_w the mean of the independent seeds at
    width w), so its standard error is sqrt(sum_w c_w^2 s_w^2 / (k_w m_w^2)) by the delta method (s_w the
    sample standard deviation of the k_w seeds); the interval takes the Student-t quantile with k - 1 degrees
    of freedom.  (A percentile bootstrap at these tails, 2.5e-4, was too narrow: over 32 full-profile seeds
    its lower half-width for erf was 2.5 standard deviations of the slope across seeds, not 3.5, and full
    seed 22 and quick seeds 26 and 55 refuted a rate that holds.)  No draws."""
    import numpy as np
    from scipy import stats

    lw = np.log(np.asarray(widths, dtype=float))
    means = np.asarray([np.mean(x) for x in samples])
    var_mean = np.asarray([np.var(x, ddof=1) / len(x) for x in samples])
    dw = lw - lw.mean()
    c = dw / float(dw @ dw)
    slope = float(np.polyfit(lw, np.log(means), 1)[0])
    se = float(np.sqrt(np.sum(c**2 * var_mean / means**2)))
    q = float(stats.t.isf(alpha / 2, min(len(x) for x in samples) - 1))
    return slope, slope - q * se, slope + q * se


def _rate_decision(fits) -> tuple[bool | None, str]:
    """L1's two rate checks (deterministic-limit, constant-in-training) from the intervals (:func:`_slope_t_ci`, :func:`_slope_ci`)
    ``fits`` = {activation: (slope, low, high)} of the error's exponent in the width: they need an
    interval below 0 that reaches -1/2 (a decay consistent with O(n^{-1/2})).

    Failure needs evidence: an interval wholly above -1/2 (the error decays more slowly than n^{-1/2},
    or not at all, with confidence).  An interval that reaches -1/2 but also 0 has not shown a decay:
    undecided (passed None, never counted either way), not a failure.  Returns (passed, the activations
    that decide it: the failing ones, else the undecided ones)."""
    slow = [a for a, (_, lo, _) in fits.items() if lo > -0.5]
    if slow:
        return False, ", ".join(slow)
    open_ = [a for a, (_, _, hi) in fits.items() if hi >= 0]
    return (None, ", ".join(open_)) if open_ else (True, "")


def _rate_margin(passed: bool | None, fits) -> float | None:
    """The worst margin of :func:`_rate_decision`: how far every interval's upper end lies below 0 when it
    passes (as before), how far a failing interval's lower end lies above -1/2 (negative), none when undecided."""
    if passed is None:
        return None
    if passed:
        return min(-hi for _, _, hi in fits.values())
    return min(-0.5 - lo for _, lo, _ in fits.values())


@check("deterministic-limit", kind=EvidenceKind.STATISTICAL, backends=("numpy", "cupy"))
def empirical_to_analytic(ctx: CheckContext) -> Outcome:
    """L1 (finite width): the empirical NTK (layer-wise products, numerics.empirical) of random depth-2 ReLU and erf
    networks approaches numerics.ntk.analytic_ntk; the fitted exponent of the relative Frobenius error in the width
    has a t interval (delta method, :func:`_slope_t_ci`) below 0 that reaches -1/2 (consistent with O(n^{-1/2})); it fails when an interval lies
    above -1/2 (slower than n^{-1/2} with confidence) and is undecided when one reaches both -1/2 and 0
    (:func:`_rate_decision`).  Each drawn network is evaluated with both activations (same weights, one draw)."""
    import time

    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import empirical_ntk, init_fc_params
    from lora_theorems.numerics.paper_l.ntk import analytic_ntk

    X = np.asarray(_L1_X)
    widths = ctx.pick((32, 64, 128, 256, 512, 1024), (32, 64, 128, 256, 512, 1024, 2048, 4096))
    seeds = ctx.pick(16, 24)
    alpha = _L1_FAMILY_ALPHA / 2
    acts = ("relu", "erf")
    rows, fits, series, n_nets, t0 = [], {}, [], 0, time.perf_counter()
    thetas = {act: analytic_ntk(X, 2, act, 1.5, 0.1)[1] for act in acts}
    # each random network is evaluated with both activations: the draws (n^2 normals per network, the
    # whole cost) are shared, each activation still gets `seeds` i.i.d. networks per width, and the
    # Bonferroni bound over the two activations needs no independence between them
    errs: dict[str, list[list[float]]] = {act: [] for act in acts}
    for n in widths:
        for act in acts:
            errs[act].append([])
        for _ in range(seeds):
            p = init_fc_params(ctx.rng, 3, [n, n])
            for act in acts:
                K = empirical_ntk(p, X, activation=act, weight_var=1.5, bias_var=0.1, backend=ctx.backend)
                errs[act][-1].append(float(np.linalg.norm(K - thetas[act]) / np.linalg.norm(thetas[act])))
                n_nets += 1
    for act in acts:
        samples = [np.asarray(e) for e in errs[act]]
        for n, e in zip(widths, samples, strict=True):
            rows.append((act, n, seeds, round(float(np.mean(e)), 5), round(float(np.std(e)), 5)))
        fits[act] = _slope_t_ci(widths, samples, alpha)
        series.append(Series(f"{act}", tuple(float(w) for w in widths), tuple(float(np.mean(x)) for x in samples), style="points"))
    ok, which = _rate_decision(fits)
    return Outcome(
        passed=ok,
        summary="relative error ~ n^slope: " + ", ".join(f"{a} {s:.3f} [{lo:.3f}, {hi:.3f}]" for a, (s, lo, hi) in fits.items())
        + {True: "", False: f"; {which}: the interval lies above -1/2 (slower than n^(-1/2))",
           None: f"; undecided ({which}): the interval reaches 0, no decay shown (too few seeds to tell)"}[ok],
        params={"depth": 2, "weight_var": 1.5, "bias_var": 0.1, "seeds": seeds, "inputs": X.tolist()},
        region={"n": list(widths), "activation": ["relu", "erf"]},
        worst_margin=_rate_margin(ok, fits),
        counterexample=None if ok is not False else {"fits": {a: list(v) for a, v in fits.items()}, "table": [list(r) for r in rows]},
        false_alarm_rate=_L1_FAMILY_ALPHA,
        metrics={"rate_" + a: v[0] for a, v in fits.items()} | {"configs_per_s": n_nets / (time.perf_counter() - t0)},
        tables=(Table(title="|K_emp - K_analytic|_F / |K_analytic|_F", columns=("activation", "n", "seeds", "mean", "std"), rows=tuple(rows)),),
        plots=(Plot(key="l1-ntk-convergence", title="Empirical vs analytic NTK", xlabel="width $n$", ylabel=r"$\|K_{emp} - K\|_F / \|K\|_F$",
                    logx=True, logy=True, series=tuple(series)),),
    )


@check("constant-in-training", kind=EvidenceKind.STATISTICAL)
def kernel_drift_in_training(ctx: CheckContext) -> Outcome:
    """L1 (training): full-batch gradient descent on MSE for a fixed number of steps; the relative change of the
    empirical NTK Gram matrix vanishes as the width grows: the bootstrap interval (:func:`_slope_ci`) of the fitted exponent lies
    below 0 and reaches -1/2 (consistent with the proven O(n^{-1/2}) bound, Lee et al. 2019, Thm. 2.1), so a
    change that levels off at a constant (slope near 0 over the range) fails; an interval that reaches both -1/2
    and 0 is undecided, not a failure (:func:`_rate_decision`); Bonferroni over activations.

    The measured exponents (erf about -1, ReLU about -0.9) are steeper than the bound. For a smooth activation
    the first-order change dK = sum_theta (dK/dtheta) dtheta is a sum of n terms of mean zero (each carries one
    read-out weight of random sign) and size n^{-3/2}, so the kernel moves by O(1/n) in a fixed number of steps
    (Dyer & Gur-Ari 2020, 'Asymptotics of wide networks from Feynman diagrams'), while its fluctuation at
    initialization is O(n^{-1/2}) (the deterministic-limit check). ReLU adds the neurons whose activation
    pattern flips during training: a fraction O(n^{-1/2}) of them, each moving the kernel by O(1/n), so its
    drift is O(n^{-1/2}) with a small constant, and the fitted -0.9 is a pre-asymptotic mix of the two terms
    (a one-hidden-layer reference in tests/paper_l/test_claim_l1_numerics.py: erf -0.97, ReLU -0.65 over
    n = 128..2048, ReLU's local slope near -0.55 by n = 16384)."""
    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import empirical_ntk, gd_train, init_fc_params, network_output

    X = np.asarray(_L1_X)
    y = np.array([0.5, -0.5, 1.0, -1.0])
    widths = ctx.pick((32, 64, 128, 256, 512), (32, 64, 128, 256, 512, 1024))
    seeds, steps = ctx.pick(5, 8), ctx.pick(40, 100)
    alpha = _L1_FAMILY_ALPHA / 2
    rows, fits, series = [], {}, []
    for act in ("relu", "erf"):
        samples = []
        for n in widths:
            ch, loss = [], []
            for _ in range(seeds):
                p = init_fc_params(ctx.rng, 3, [n, n])
                K0 = empirical_ntk(p, X, activation=act)
                q = gd_train(p, X, y, lr=0.5 / np.linalg.eigvalsh(K0)[-1], steps=steps, activation=act)
                K1 = empirical_ntk(q, X, activation=act)
                ch.append(np.linalg.norm(K1 - K0) / np.linalg.norm(K0))
                loss.append(float(np.mean((network_output(q, X, activation=act)[:, 0] - y) ** 2)))
            samples.append(np.asarray(ch))
            rows.append((act, n, round(float(np.mean(ch)), 5), round(float(np.mean(loss)), 5)))
        fits[act] = _slope_ci(ctx, widths, samples, alpha)
        series.append(Series(act, tuple(float(w) for w in widths), tuple(float(np.mean(x)) for x in samples), style="points"))
    ok, which = _rate_decision(fits)
    return Outcome(
        passed=ok,
        summary="relative kernel change after training ~ n^slope: " + ", ".join(f"{a} {s:.3f} [{lo:.3f}, {hi:.3f}]" for a, (s, lo, hi) in fits.items())
        + {True: "", False: f"; {which}: the interval lies above -1/2 (the change does not vanish like n^(-1/2))",
           None: f"; undecided ({which}): the interval reaches 0, no decay shown (too few seeds to tell)"}[ok],
        params={"steps": steps, "lr": "0.5 / lambda_max(K0)", "seeds": seeds, "depth": 2},
        region={"n": list(widths)},
        worst_margin=_rate_margin(ok, fits),
        counterexample=None if ok is not False else {"fits": {a: list(v) for a, v in fits.items()}, "table": [list(r) for r in rows]},
        false_alarm_rate=_L1_FAMILY_ALPHA,
        metrics={"rate_" + a: v[0] for a, v in fits.items()},
        tables=(
            Table(
                title="relative NTK change ||K_T - K_0|| / ||K_0|| and final training MSE",
                columns=("activation", "n", "rel. change", "final MSE"),
                rows=tuple(rows),
            ),
        ),
        plots=(
            Plot(key="l1-drift", title="NTK drift during gradient descent", xlabel="width $n$",
                 ylabel=r"$\|K_T - K_0\|_F / \|K_0\|_F$", logx=True, logy=True, series=tuple(series)),
        ),
    )

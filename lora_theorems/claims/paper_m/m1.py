"""M1: low-rank adaptation as full fine-tuning plus random noise.

Exact identities: :mod:`lora_theorems.proofs.paper_m.noise`; training numerics: :mod:`lora_theorems.numerics.paper_m.noise`.
"""

from lora_theorems.checks import CheckContext, Outcome, check
from lora_theorems.helpers import Worst, margin_outcome
from lora_theorems.ledger import AS_WRITTEN, CORRECTED, Claim, EvidenceKind, Formalization, Plot, Series

CLAIM = Claim(
    id="M1",
    paper="M",
    title="LoRA gradient = full fine-tuning gradient + noise",
    source="abstract",
    statement=(
        "The low-rank adaptation used in LoRA and FLoRA is equivalent to injecting some random "
        "noise into the batch gradients w.r.t. the adapter parameters coming from their full "
        "fine-tuning."
    ),
    hypotheses=(
        r"$W = W_0 + BA$, $A\in\mathbb R^{r\times n}$ i.i.d. $\mathcal N(0,1/r)$, $B=0$ at start",
        "LoRA-FA: $A$ frozen; FLoRA: $A$ resampled every $k$ steps (BA merged, B reset); LoRA: both trained",
    ),
    formalizations=(
        Formalization(
            key="lora-fa-update",
            level="matrix",
            statement=(
                r"With $A$ frozen, every step on $B$ changes $W$ by exactly $-\eta\,G A^\top A = -\eta(G + N)$, "
                r"$N = G(A^\top A - I)$, and $\mathbb E[N\mid G] = 0$ when $A$ is independent of $G$."
            ),
            reading=AS_WRITTEN,
            covers="'low-rank adaptation ... is equivalent to injecting ... noise into the batch gradients' (one step, LoRA-FA)",
        ),
        Formalization(
            key="flora-update",
            level="matrix",
            statement=(
                r"FLoRA (A resampled every $k$ steps, $BA$ merged into $W$, $B$ reset): every step changes $W$ by "
                r"exactly $-\eta\,G_t A_{\tau(t)}^\top A_{\tau(t)}$."
            ),
            reading=AS_WRITTEN,
            covers="'... used in FLoRA is equivalent to injecting noise'",
        ),
        Formalization(
            key="plain-lora-update",
            level="matrix",
            statement=(
                r"Plain LoRA (A and B both trained): every step changes $W$ by $-\eta(G + N)$ with the same "
                r"noise model $N = G(A^\top A - I)$."
            ),
            reading=AS_WRITTEN,
            covers="'the low-rank adaptation used in LoRA ... is equivalent' (LoRA trains both factors)",
        ),
        Formalization(
            key="zero-mean-along-training",
            level="training (expectation)",
            statement=(
                r"Along LoRA-FA training the injected noise $N_t = -\Delta W_t/\eta - G_t$ has mean zero "
                r"(over the draw of $A$) at every step $t$, as DP-SGD noise does."
            ),
            reading=AS_WRITTEN,
            covers="'random noise' read as the zero-mean noise of a noisy-gradient method, at every step",
        ),
        Formalization(
            key="fresh-A-zero-mean",
            level="training (expectation)",
            statement=(
                r"The noise is zero-mean exactly when $A$ is independent of the current gradient: at the first "
                r"step after each draw of $A$, hence at every step of FLoRA with $k = 1$, "
                r"$\mathbb E[N_t \mid \text{past}] = 0$; with $A$ frozen (LoRA-FA) and a quadratic loss, "
                r"$\mathbb E N_1 = -\eta\frac{n+1}{r} G_0$."
            ),
            reading=CORRECTED,
            corrects=('zero-mean-along-training',),
            covers="the corrected form of the zero-mean reading",
        ),
        Formalization(
            key="plain-lora-extra-terms",
            level="matrix",
            statement=(
                r"Plain LoRA: $\Delta W = -\eta G A^\top A - \eta BB^\top G + \eta^2 G A^\top B^\top G$ exactly; "
                r"it equals the noisy step $-\eta(G+N)$ only while $B = 0$ (the first step)."
            ),
            reading=CORRECTED,
            corrects=('plain-lora-update',),
            covers="the corrected form of the plain-LoRA reading",
        ),
    ),
    notes=(
        "Only the abstract is available. The single-step identity is exact; what fails is (i) the same "
        "model for plain LoRA once B != 0 and (ii) the zero mean of the noise along LoRA-FA training, "
        "because the gradient at step t >= 1 depends on the frozen A."
    ),
)

# float64 round-off on an update of size eta ||G||: a few hundred ulps of the largest entry
# (products of three O(1) matrices of size <= 16 accumulate ~ 3*16 roundings each).
_RTOL_UPDATE = 1e-12


def _task(ctx, m, n, b):
    from lora_theorems.numerics.paper_m.noise import make_linear_task

    return make_linear_task(ctx.rng, m, n, b)


@check("lora-fa-update", kind=EvidenceKind.SYMBOLIC)
def m1_update_identities(ctx: CheckContext) -> Outcome:
    """M1: SymPy derivation of grad_B, grad_A (generic loss) and of the LoRA-FA, FLoRA and plain
    LoRA updates; E[A^T A] = I from Gaussian moments."""
    from lora_theorems.proofs.paper_m.noise import m1_derivation

    d = m1_derivation()
    ok = d.passed
    return Outcome(
        passed=ok,
        summary="grad_B = G A^T, grad_A = B^T G; LoRA-FA step = -eta(G + G(A^TA - I)), E[A^TA] = I (exact)",
        params={"m": 2, "n": 3, "r": 2, "loss": "undefined function L(W)"},
        counterexample=None if ok else {"failed_steps": d.failed_steps()},
        derivations=(d,),
    )


def _max_rel_gap(run, eta):
    import numpy as np

    pred = -eta * np.einsum("tmn,trn,trk->tmk", run["G"], run["A"], run["A"])
    scale = np.abs(run["dW"]).max()
    return float(np.abs(run["dW"] - pred).max() / scale), pred


@check("lora-fa-update", kind=EvidenceKind.NUMERIC, name="m1_lora_fa_training")
def m1_lora_fa_training(ctx: CheckContext) -> Outcome:
    """M1: train LoRA-FA on least-squares tasks; every step's dW equals -eta G_t A^T A to round-off."""

    from lora_theorems.numerics.paper_m.noise import train_linear

    sizes = ctx.pick([(4, 6, 8, 1), (4, 6, 8, 3), (8, 16, 32, 4)], [(4, 6, 8, 1), (4, 6, 8, 3), (8, 16, 32, 4), (16, 16, 64, 16)])
    steps = ctx.pick(20, 100)
    worst = Worst()
    for m, n, b, r in sizes:
        run = train_linear(_task(ctx, m, n, b), "lora-fa", r=r, eta=0.5, steps=steps, rng=ctx.rng)
        gap, _ = _max_rel_gap(run, 0.5)
        worst.see(gap, {"max_rel_gap": gap})
    summary = "LoRA-FA: max relative gap between dW_t and -eta G_t A^T A over training = {worst:.1e}"
    return margin_outcome(
        worst,
        tolerance=_RTOL_UPDATE,
        holds=summary,
        fails=summary,
        params={"eta": 0.5, "steps": steps, "rtol": _RTOL_UPDATE},
        region={"(m, n, b, r)": sizes},
    )


@check("flora-update", kind=EvidenceKind.NUMERIC)
def m1_flora_training(ctx: CheckContext) -> Outcome:
    """M1: FLoRA (A resampled every k steps) — every step's dW equals -eta G_t A_t^T A_t."""
    from lora_theorems.numerics.paper_m.noise import train_linear

    ks = ctx.pick([1, 3], [1, 2, 5, 10])
    worst = Worst()
    for k in ks:
        for m, n, b, r in [(4, 6, 8, 2), (8, 16, 32, 4)]:
            run = train_linear(_task(ctx, m, n, b), "flora", r=r, eta=0.5, steps=ctx.pick(20, 100), rng=ctx.rng, k=k)
            gap = _max_rel_gap(run, 0.5)[0]
            worst.see(gap, {"max_rel_gap": gap})
    summary = "FLoRA: max relative gap dW_t vs -eta G_t A_t^T A_t = {worst:.1e} (k in " + str(ks) + ")"
    return margin_outcome(
        worst,
        tolerance=_RTOL_UPDATE,
        holds=summary,
        fails=summary,
        params={"eta": 0.5, "rtol": _RTOL_UPDATE},
        region={"k": ks},
    )


def _plain_lora_step(B, A, G, eta):
    """M1, plain LoRA at m = n = r = 1: one gradient step moves both factors,
    ``B' = B - eta G A``, ``A' = A - eta B G``, so ``dW = B'A' - BA`` (scalars)."""
    return (B - eta * G * A) * (A - eta * B * G) - B * A


@check("plain-lora-update", kind=EvidenceKind.NUMERIC)
def m1_plain_lora_counterexample(ctx: CheckContext) -> Outcome:
    """M1: plain LoRA's second step is not -eta G A^T A: the smallest counterexample (m=n=r=1)
    and the gap measured along training."""
    import numpy as np

    from lora_theorems.numerics.paper_m.noise import train_linear

    # m = n = r = 1, B = 1, A = 1, G = 1, eta = 0.1: B' = 0.9, A' = 0.9, dW = 0.81 - 1 = -0.19 != -0.1
    B, A, G, eta = 1.0, 1.0, 1.0, 0.1
    dW = _plain_lora_step(B, A, G, eta)
    noisy = -eta * G * A * A
    run = train_linear(_task(ctx, 8, 16, 32), "lora", r=4, eta=0.5, steps=ctx.pick(40, 200), rng=ctx.rng)
    pred = -0.5 * np.einsum("tmn,trn,trk->tmk", run["G"], run["A"], run["A"])
    rel = np.abs(run["dW"] - pred).max(axis=(1, 2)) / np.abs(run["dW"]).max(axis=(1, 2))
    ok = abs(dW - noisy) <= 1e-12 and rel[1:].max() <= _RTOL_UPDATE
    return Outcome(
        passed=bool(ok),
        summary=f"plain LoRA: dW = {dW:.2f} vs noisy-gradient step {noisy:.2f} at B=A=G=1, eta=0.1; "
        f"along training the relative gap reaches {rel.max():.2f}",
        params={"eta": 0.5, "m": 8, "n": 16, "r": 4},
        worst_margin=float(-abs(dW - noisy)),
        counterexample=None
        if ok
        else {"m": 1, "n": 1, "r": 1, "B": [[B]], "A": [[A]], "G": [[G]], "eta": eta, "dW": dW, "minus_eta_G_AtA": noisy},
        plots=(
            Plot(
                key="m1-plain-lora-gap",
                title="Plain LoRA: size of the extra terms along training",
                xlabel="step t",
                ylabel=r"$\|\Delta W_t + \eta\, G_t A_t^T A_t\|_{\max} \,/\, \|\Delta W_t\|_{\max}$",
                series=(Series("plain LoRA", tuple(float(t) for t in range(len(rel))), tuple(float(v) for v in rel)),),
            ),
        ),
    )


@check("plain-lora-extra-terms", kind=EvidenceKind.NUMERIC)
def m1_plain_lora_extra_terms(ctx: CheckContext) -> Outcome:
    """M1 corrected: along plain-LoRA training dW_t = -eta G A^TA - eta BB^TG + eta^2 G A^T B^T G
    to round-off (the symbolic identity is in the M1 derivation)."""
    import numpy as np

    from lora_theorems.numerics.paper_m.noise import train_linear

    eta = 0.5
    worst = Worst()
    for m, n, b, r in [(4, 6, 8, 2), (8, 16, 32, 4)]:
        run = train_linear(_task(ctx, m, n, b), "lora", r=r, eta=eta, steps=ctx.pick(40, 200), rng=ctx.rng)
        G, A, B = run["G"], run["A"], run["B"]
        pred = (
            -eta * np.einsum("tmn,trn,trk->tmk", G, A, A)
            - eta * np.einsum("tmr,tkr,tkn->tmn", B, B, G)
            + eta**2 * np.einsum("tmn,trn,tkr,tkl->tml", G, A, B, G)
        )
        gap = float(np.abs(run["dW"] - pred).max() / np.abs(run["dW"]).max())
        worst.see(gap, {"max_rel_gap": gap})
    summary = "plain LoRA step = noisy step + extra terms, max relative gap {worst:.1e}"
    return margin_outcome(worst, tolerance=_RTOL_UPDATE, holds=summary, fails=summary, params={"eta": eta, "rtol": _RTOL_UPDATE})


def _noise_mean_mc(ctx, method, r, n, eta, trials, steps, k=1):
    """Monte Carlo of the noise N_t = -dW_t/eta - G_t for the quadratic loss ||W - W*||^2/2
    (W0 = 0, W* = row vector e_1-ish), vectorised over draws of A."""
    import numpy as np

    from lora_theorems.numerics.paper_m.noise import sample_A

    Wstar = np.zeros((1, n))
    Wstar[0, 0] = 1.0
    W = np.zeros((trials, 1, n))
    A = sample_A(ctx.rng, r, n, size=trials)
    means, halfw = [], []
    for t in range(steps):
        if method == "flora" and t > 0 and t % k == 0:
            A = sample_A(ctx.rng, r, n, size=trials)
        G = W - Wstar
        P = np.einsum("trn,trk->tnk", A, A)
        dW = -eta * G @ P
        N = -dW / eta - G
        means.append(N[:, 0, 0].mean())
        halfw.append(N[:, 0, 0].std(ddof=1) / np.sqrt(trials))
        W = W + dW
    return np.array(means), np.array(halfw)


@check("zero-mean-along-training", kind=EvidenceKind.STATISTICAL)
def m1_lora_fa_noise_bias(ctx: CheckContext) -> Outcome:
    """M1: the LoRA-FA noise at step 1 has mean -eta (n+1)/r G_0 (exact) — a Monte Carlo over
    draws of A confirms the bias with a z-interval; smallest case m=n=r=1."""
    from scipy import stats

    from lora_theorems.proofs.paper_m.noise import m1_zero_mean_failure

    alpha = 1e-3  # false-alarm rate of the z-test (CLT; all moments of N are finite)
    trials = ctx.pick(40000, 400000)
    eta, r, n = 0.1, 1, 1
    means, se = _noise_mean_mc(ctx, "lora-fa", r, n, eta, trials, steps=2)
    z = stats.norm.isf(alpha / 2)
    exact = -eta * (n + 1) / r * 1.0 * -1.0  # G_0 = W0 - W* = -1 at the (0,0) entry
    lo, hi = means[1] - z * se[1], means[1] + z * se[1]
    biased = not (lo <= 0.0 <= hi)
    d = m1_zero_mean_failure()
    return Outcome(
        passed=not biased,
        summary=f"LoRA-FA, m=n=r=1, eta=0.1, G_0=-1: E N_1 = {means[1]:.4f} +- {z*se[1]:.4f} "
        f"(exact -eta(n+1)/r G_0 = {exact:.3f}); zero excluded" if biased else "no bias detected",
        params={"trials": trials, "eta": eta, "r": r, "n": n, "m": 1},
        false_alarm_rate=alpha,
        worst_margin=float(-min(abs(lo), abs(hi))) if biased else None,
        counterexample={
            "loss": "L(W) = (W - 1)^2 / 2, W0 = 0 (so G_0 = -1)",
            "m": 1, "n": 1, "r": 1, "eta": eta,
            "A": "a ~ N(0, 1), frozen",
            "exact_E_N1": exact,
            "formula": "E[(1 - eta a^2)(a^2 - 1)] * G_0 = -2 eta G_0",
            "mc_mean_N1": float(means[1]), "mc_ci": [float(lo), float(hi)],
        }
        if biased
        else None,
        derivations=(d,),
    )


@check("fresh-A-zero-mean", kind=EvidenceKind.SYMBOLIC)
def m1_fresh_A_symbolic(ctx: CheckContext) -> Outcome:
    """M1 corrected: E[A^TA] = I (zero-mean noise for A independent of G) and the exact bias
    -eta (n+1)/r G_0 of the frozen-A noise at step 1."""
    from lora_theorems.proofs.paper_m.noise import m1_derivation, m1_zero_mean_failure

    d1, d2 = m1_derivation(), m1_zero_mean_failure()
    ok = d1.passed and d2.passed
    return Outcome(
        passed=ok,
        summary="E[A^TA]=I and E N_1 = -eta(n+1)/r G_0 for frozen A (exact, Gaussian moments)",
        counterexample=None if ok else {"failed": d1.failed_steps() + d2.failed_steps()},
        derivations=(d2,),
    )


@check("fresh-A-zero-mean", kind=EvidenceKind.STATISTICAL, name="m1_flora_k1_unbiased")
def m1_flora_k1_unbiased(ctx: CheckContext) -> Outcome:
    """M1 corrected: with A resampled every step (FLoRA, k = 1) the noise mean is 0 at every step
    (z-intervals, Bonferroni over steps), while frozen A is biased at the same steps."""
    import numpy as np
    from scipy import stats

    alpha = 1e-3
    steps = ctx.pick(5, 20)
    trials = ctx.pick(40000, 400000)
    eta, r, n = 0.1, 1, 1
    mf, sf = _noise_mean_mc(ctx, "flora", r, n, eta, trials, steps, k=1)
    ma, sa = _noise_mean_mc(ctx, "lora-fa", r, n, eta, trials, steps)
    z = stats.norm.isf(alpha / (2 * steps))
    covered = np.abs(mf) <= z * sf
    ok = bool(covered.all())
    ts = tuple(float(t) for t in range(steps))
    return Outcome(
        passed=ok,
        summary=f"FLoRA k=1: noise mean within its {1-alpha:.3f} simultaneous CI at all {steps} steps: {ok}",
        params={"trials": trials, "eta": eta, "r": r, "n": n},
        false_alarm_rate=alpha,
        counterexample=None if ok else {"steps_excluding_zero": np.nonzero(~covered)[0].tolist(), "means": mf.tolist()},
        plots=(
            Plot(
                key="m1-noise-mean",
                title="Mean of the injected noise along training (m=n=r=1, eta=0.1)",
                xlabel="step t",
                ylabel="E N_t (Monte Carlo, simultaneous CI)",
                series=(
                    Series("LoRA-FA (A frozen)", ts, tuple(map(float, ma)), tuple(float(z * v) for v in sa), "points"),
                    Series("FLoRA k=1 (A fresh)", ts, tuple(map(float, mf)), tuple(float(z * v) for v in sf), "points"),
                ),
            ),
        ),
    )

"""M4: LoRA dynamics close to DP-SGD full fine-tuning; implicit privacy.

The DP-SGD guarantee rests on noise that is fresh at each step, independent of the data,
Gaussian, and unknown to the adversary. Each assumption is a formalization here, tested
against what LoRA-FA actually does (numerics: :mod:`lora_theorems.numerics.paper_m.noise`, :mod:`lora_theorems.numerics.paper_m.privacy`).
"""

from lora_theorems.checks import CheckContext, Outcome, check
from lora_theorems.ledger import AS_WRITTEN, Claim, EvidenceKind, Formalization, Table

CLAIM = Claim(
    id="M4",
    paper="M",
    title="Closeness to DP fine-tuning (implicit privacy)",
    source="abstract; later versions' titles",
    statement=(
        "The dynamics of LoRA and FLoRA are very close to differentially private full fine-tuning "
        "of the adapters, which suggests that low-rank adaptation implicitly provides privacy "
        "w.r.t. the fine-tuning data."
    ),
    hypotheses=(
        "DP-SGD needs fresh, data-independent, Gaussian, secret noise at each step",
        "LoRA-FA: A frozen and released with the adapter",
    ),
    formalizations=(
        Formalization(
            key="fresh-noise",
            level="training",
            statement=r"The noise $N_t$ injected at different steps is independent (uncorrelated), as in DP-SGD.",
            reading=AS_WRITTEN,
            covers="'very close to DP-SGD': DP-SGD draws fresh noise each step",
        ),
        Formalization(
            key="data-independent-noise",
            level="training",
            statement=r"The law of the noise does not depend on the data (DP-SGD: $\mathcal N(0,\sigma^2C^2 I)$ for every dataset).",
            reading=AS_WRITTEN,
            covers="'very close to DP-SGD': the noise scale is fixed, not data-dependent",
        ),
        Formalization(
            key="gaussian-noise",
            level="coordinate",
            statement=r"The noise is Gaussian (at the finite rank used).",
            reading=AS_WRITTEN,
            covers="'very close to DP-SGD': the Gaussian mechanism",
        ),
        Formalization(
            key="secret-noise",
            level="training",
            statement=r"The adversary does not know the noise: it cannot remove it from the released update.",
            reading=AS_WRITTEN,
            covers="'implicitly provides privacy' under the usual DP threat model (released model)",
        ),
        Formalization(
            key="implicit-dp",
            level="training",
            statement=(
                r"One LoRA-FA step with per-example clipping is $(\varepsilon,\delta)$-DP for some finite "
                r"$\varepsilon$ and $\delta < 1$ (replace-one neighbouring datasets)."
            ),
            reading=AS_WRITTEN,
            covers="'low-rank adaptation implicitly provides privacy w.r.t. the fine-tuning data'",
        ),
    ),
    notes=(
        "No corrected statement is proposed: the update is a deterministic function of (G, A), A is "
        "frozen and released, the noise scale is proportional to the gradient, and the noise is not "
        "Gaussian at finite rank; none of these can be repaired by restating the claim."
    ),
)


def _lora_fa_two_steps(ctx, trials, r, resample, eta=0.5, m=3, n=5, b=8):
    """Noise N_t = -dW_t/eta - G_t at steps 0 and 1 of LoRA-FA (or FLoRA k=1), one fixed
    least-squares task, many draws of A (vectorised)."""
    import numpy as np

    from lora_theorems.numerics.paper_m.noise import make_linear_task, sample_A

    task = make_linear_task(ctx.rng, m, n, b)
    W = np.broadcast_to(task.W0, (trials, m, n)).copy()
    A = sample_A(ctx.rng, r, n, size=trials)
    out = []
    for t in range(2):
        if resample and t > 0:
            A = sample_A(ctx.rng, r, n, size=trials)
        G = (W @ task.X - task.Y) @ task.X.T / b
        dW = -eta * np.einsum("tmn,trn,trk->tmk", G, A, A)
        out.append(-dW / eta - G)
        W = W + dW
    return out


@check("fresh-noise", kind=EvidenceKind.STATISTICAL)
def m4_noise_correlated_across_steps(ctx: CheckContext) -> Outcome:
    """M4: with A frozen the noise of consecutive steps is strongly correlated (Fisher-z CI);
    with a constant gradient it is identical. FLoRA with k = 1 shown for contrast."""
    import numpy as np
    from scipy import stats

    alpha = 1e-3
    trials = ctx.pick(4000, 40000)
    z = stats.norm.isf(alpha / 2)
    rows, cis = [], {}
    for name, resample in (("LoRA-FA (A frozen)", False), ("FLoRA k=1 (A fresh)", True)):
        N0, N1 = _lora_fa_two_steps(ctx, trials, 2, resample)
        rho = float(np.corrcoef(N0[:, 0, 0], N1[:, 0, 0])[0, 1])
        zf, se = np.arctanh(rho), 1 / np.sqrt(trials - 3)
        lo, hi = float(np.tanh(zf - z * se)), float(np.tanh(zf + z * se))
        rows.append((name, rho, lo, hi))
        cis[name] = (rho, lo, hi)
    rho, lo, hi = cis["LoRA-FA (A frozen)"]
    correlated = lo > 0 or hi < 0
    return Outcome(
        passed=not correlated,
        summary=f"LoRA-FA: corr(N_0, N_1) = {rho:.3f} [{lo:.3f}, {hi:.3f}] (DP-SGD: 0); with a constant gradient N_t is the same matrix every step",
        params={"trials": trials, "r": 2, "m": 3, "n": 5, "eta": 0.5},
        false_alarm_rate=alpha,
        counterexample={
            "exact": "loss L(W) = -<C, W> has constant gradient G = -C, so N_t = G(A^T A - I) is identical at every step",
            "C": [[1.0, 0.0]],
            "r": 1,
            "A": "any fixed a (1x2), e.g. [[0.5, -1.0]]",
            "N_0": [[0.75, 0.5]],
            "N_1": [[0.75, 0.5]],
            "mc_corr_N0_N1_least_squares": rho,
            "mc_ci": [lo, hi],
        }
        if correlated
        else None,
        tables=(Table("Correlation of the noise coordinate (0,0) at steps 0 and 1", ("method", "corr", "CI low", "CI high"), tuple(rows)),),
    )


@check("data-independent-noise", kind=EvidenceKind.STATISTICAL)
def m4_noise_scales_with_data(ctx: CheckContext) -> Outcome:
    """M4: the noise variance follows the gradient of the data: two neighbouring batches with
    gradients (1,0,0) and (2,0,0) give Var N_00 = 2/r and 8/r (Monte Carlo, simultaneous CIs)."""
    import numpy as np
    from scipy import stats

    from lora_theorems.numerics.paper_m.noise import lora_noise, noise_variance, sample_A

    alpha = 1e-3
    r, trials = 4, ctx.pick(20000, 200000)
    z = stats.norm.isf(alpha / 4)
    out = {}
    for name, G in (("D", np.array([[1.0, 0.0, 0.0]])), ("D'", np.array([[2.0, 0.0, 0.0]]))):
        x = lora_noise(G, sample_A(ctx.rng, r, 3, size=trials))[:, 0, 0]
        v, se = float((x**2).mean()), float((x**2).std(ddof=1) / np.sqrt(trials))
        out[name] = (v, v - z * se, v + z * se, float(noise_variance(G, r)[0, 0]))
    separated = out["D"][2] < out["D'"][1]
    return Outcome(
        passed=not separated,
        summary=f"Var N_00: D {out['D'][0]:.3f} [{out['D'][1]:.3f}, {out['D'][2]:.3f}] vs D' {out[chr(68)+chr(39)][0]:.3f} "
        f"[{out[chr(68)+chr(39)][1]:.3f}, {out[chr(68)+chr(39)][2]:.3f}]: the noise law depends on the data",
        params={"r": r, "trials": trials},
        false_alarm_rate=alpha,
        counterexample={
            "G_D": [[1.0, 0.0, 0.0]],
            "G_D_prime": [[2.0, 0.0, 0.0]],
            "r": r,
            "exact_var_D": out["D"][3],
            "exact_var_D_prime": out["D'"][3],
            "mc": {k: list(v[:3]) for k, v in out.items()},
            "extreme": "a batch with G = 0 gets no noise at all (see implicit-dp)",
        }
        if separated
        else None,
    )


@check("gaussian-noise", kind=EvidenceKind.STATISTICAL)
def m4_noise_not_gaussian(ctx: CheckContext) -> Outcome:
    """M4: for g = e_1 the coordinate N_00 = chi^2_r / r - 1 >= -1 always, while the Gaussian of the
    same variance puts Phi(-sqrt(r/2)) below -1; Clopper-Pearson bound on the observed frequency."""
    import numpy as np
    from scipy import stats

    from lora_theorems.numerics.paper_m.berry_esseen import clopper_pearson
    from lora_theorems.numerics.paper_m.noise import lora_noise, sample_A

    alpha = 1e-3
    trials = ctx.pick(5000, 50000)
    rows, worst, cex = [], None, None
    for r in (1, 4, 16):
        G = np.array([[1.0, 0.0, 0.0]])
        x = lora_noise(G, sample_A(ctx.rng, r, 3, size=trials))[:, 0, 0]
        k = int((x < -1).sum())
        _, hi = clopper_pearson(k, trials, alpha / 3)
        gauss = float(stats.norm.cdf(-np.sqrt(r / 2)))
        rows.append((r, k / trials, hi, gauss))
        if hi < gauss and cex is None:
            cex = {"G": G.tolist(), "r": r, "event": "N_00 < -1", "P_noise_upper": hi, "P_gaussian": gauss,
                   "why": "N_00 = chi^2_r / r - 1 >= -1 surely"}
            worst = hi - gauss
    return Outcome(
        passed=cex is None,
        summary="P(N_00 < -1): " + ", ".join(f"r={r}: noise <= {hi:.4f} vs Gaussian {g:.4f}" for r, _, hi, g in rows),
        params={"trials": trials},
        false_alarm_rate=alpha,
        worst_margin=worst,
        counterexample=cex,
        tables=(Table("Lower tail of a noise coordinate vs the Gaussian", ("r", "observed", "CP upper", "Gaussian"), tuple(rows)),),
    )


@check("secret-noise", kind=EvidenceKind.STATISTICAL)
def m4_known_A_attack(ctx: CheckContext) -> Outcome:
    """M4: A ships with the adapter; an adversary who knows A predicts the update -eta G A^T A of
    each candidate dataset and tells neighbouring datasets apart without error."""
    import numpy as np

    from lora_theorems.numerics.paper_m.berry_esseen import clopper_pearson
    from lora_theorems.numerics.paper_m.privacy import known_A_attack

    alpha = 1e-3
    trials = ctx.pick(4000, 40000)
    G_D = np.array([[0.5, -0.25, 0.125, 0.0]])
    G_Dp = G_D + np.array([[0.01, 0.0, 0.0, 0.0]])  # one example changed: a 1% change of the mean gradient
    res = known_A_attack(G_D, G_Dp, r=2, eta=0.1, trials=trials, rng=ctx.rng)
    tpr_lo, _ = clopper_pearson(res["tp"], res["n_pos"], alpha / 2)
    _, fpr_hi = clopper_pearson(res["fp"], res["n_neg"], alpha / 2)
    delta = 1e-5
    eps_lower = float(np.log((tpr_lo - delta) / fpr_hi)) if tpr_lo > delta else 0.0
    perfect = eps_lower > 1.0
    return Outcome(
        passed=not perfect,
        summary=f"adversary knowing A: TPR {res['tpr']:.3f} (>= {tpr_lo:.4f}), FPR {res['fpr']:.3f} (<= {fpr_hi:.4f}); "
        f"certified epsilon >= {eps_lower:.2f} at delta=1e-5 from {trials} trials (exact: infinite)",
        params={"trials": trials, "r": 2, "eta": 0.1},
        false_alarm_rate=alpha,
        counterexample={
            "G_D": G_D.tolist(),
            "G_D_prime": G_Dp.tolist(),
            "r": 2,
            "eta": 0.1,
            "attack": "output D' iff ||dW + eta G_D' A^T A|| < ||dW + eta G_D A^T A||",
            "tpr": res["tpr"],
            "fpr": res["fpr"],
            "epsilon_lower_bound_delta_1e-5": eps_lower,
            "why": "given A, dW = -eta G A^T A is deterministic; (G_D - G_D') A^T != 0 a.s.",
        }
        if perfect
        else None,
    )


@check("implicit-dp", kind=EvidenceKind.NUMERIC)
def m4_zero_gradient_neighbours(ctx: CheckContext) -> Outcome:
    """M4: neighbouring datasets with clipped batch gradients 0 and (1,0): LoRA-FA's update is
    exactly 0 under one and a.s. non-zero under the other, for every draw of A (exact argument,
    illustrated on draws): no finite epsilon with delta < 1, even though the paper-style effective
    noise multiplier gives a finite epsilon."""
    from lora_theorems.numerics.paper_m.privacy import accountant_epsilon, effective_noise_multiplier, zero_gradient_attack

    res = zero_gradient_attack(r=2, eta=0.1, trials=ctx.pick(2000, 20000), rng=ctx.rng, C=1.0)
    sigma = effective_noise_multiplier(2, 2, 1, 2, 1.0)
    eps_claimed = accountant_epsilon(sigma, 1.0, 1, 1e-5)
    broken = res["P_D_zero"] == 1.0 and res["P_Dprime_zero"] == 0.0
    return Outcome(
        passed=not broken,
        summary=f"P_D(update = 0) = {res['P_D_zero']}, P_D'(update = 0) = {res['P_Dprime_zero']}: not (eps, delta)-DP "
        f"for any eps and delta < 1 (the effective-sigma accountant would say eps = {eps_claimed:.2f})",
        params={"r": 2, "eta": 0.1, "C": 1.0, "b": 2},
        counterexample={
            "model": "least squares l(w) = (w.x - y)^2/2 at w = 0, x = (1, 0), clipping C = 1, b = 2",
            "D": "y = -1 and y = +1 (per-example gradients (1,0), (-1,0); G = 0)",
            "D_prime": "y = -1 and y = -1 (G = (1,0))",
            "G_D": res["G_D"],
            "G_D_prime": res["G_D_prime"],
            "P_D_update_zero": res["P_D_zero"],
            "P_Dprime_update_zero": res["P_Dprime_zero"],
            "accountant_epsilon_at_effective_sigma": eps_claimed,
        }
        if broken
        else None,
    )


@check("implicit-dp", kind=EvidenceKind.STATISTICAL, name="m4_membership_inference")
def m4_membership_inference(ctx: CheckContext) -> Outcome:
    """M4/M5 beyond the paper (full profile only; descriptive): loss-threshold membership
    inference on a softmax regression fine-tuned on random labels, for full fine-tuning, LoRA-FA,
    LoRA-FA with clipping and DP-SGD at the effective noise multiplier; attack AUC per method
    with 95% t-intervals over seeds, and the epsilon the accountant gives DP-SGD."""
    import numpy as np
    from scipy import stats

    from lora_theorems.numerics.paper_m.privacy import accountant_epsilon, membership_inference_experiment

    if ctx.quick:
        return Outcome(passed=None, summary="membership-inference experiment runs in the full profile only")
    seeds = 20
    runs = [membership_inference_experiment(ctx.rng) for _ in range(seeds)]
    sigma = runs[0]["sigma_eff"]
    n_members, b, epochs = 100, 25, 60
    eps = accountant_epsilon(sigma, b / n_members, epochs * n_members // b, 1 / (2 * n_members), "pld")
    t = stats.t.isf(0.025, seeds - 1)
    rows = []
    for method in ("full", "lora-fa", "lora-fa+clip", "dp-sgd"):
        auc = np.array([r_[method]["auc"] for r_ in runs])
        acc = np.array([r_[method]["train_acc"] for r_ in runs])
        h = t * auc.std(ddof=1) / np.sqrt(seeds)
        rows.append((method, float(auc.mean()), float(auc.mean() - h), float(auc.mean() + h), float(acc.mean())))
    return Outcome(
        passed=None,
        summary="attack AUC: " + ", ".join(f"{m_} {a:.3f} [{lo:.3f}, {hi:.3f}]" for m_, a, lo, hi, _ in rows)
        + f"; DP-SGD at sigma_eff = {sigma:.2f} has epsilon = {eps:.2f} (delta = 1/(2N))",
        params={"d": 64, "K": 4, "n_members": n_members, "r": 4, "b": b, "epochs": epochs, "lr": 0.5, "C": 1.0, "seeds": seeds,
                "note": "training uses shuffled batches; the accountant assumes Poisson sampling at q = b/N"},
        tables=(
            Table(
                "Loss-threshold membership inference (random labels; AUC 0.5 = no leakage)",
                ("method", "AUC", "CI low", "CI high", "train accuracy"),
                tuple(rows),
                caption="LoRA-FA's lower AUC comes with lower memorisation (train accuracy); it is not a DP guarantee",
            ),
        ),
    )

"""L8: attack objectives (poster eq. 3-4) and the paper's practical findings F1-F4.

The objectives are checked in the form the paper's analysis uses them: the gradient inner
product of eq. (3)-(4) is a loss-weighted entry of the (empirical) NTK, so the FF and LoRA
objectives differ only through their kernels (L2-L3).

The findings are simulated (:mod:`lora_theorems.numerics.paper_l.attacks`, issue 10) on
scikit-learn's bundled digits: a $64\\to16\\to16\\to1$ network pretrained on one task
("digit >= 5") is fine-tuned on another ("digit is even") with FF (all weights) or LoRA on
the middle layer, after label-flip or backdoor poisoning, in two regimes (the exact
linearized model with finite-width kernels, and gradient descent at finite width) and under
four control readings (equal time and learning rate; trained to convergence; matched clean
accuracy; the authors' 10x LoRA learning rate).  The BERT-large numbers stay a reading this
toolkit cannot run.

Statistics (every finding check): effects are paired per seed (same pretrained weights, data,
poisoned indices, trigger, nested $A$).  A *reversal* is selected on screening seeds (the
configuration and reading with the most negative t statistic over the whole grid) and confirmed
on fresh seeds by a one-sided Student-t bound at $\\alpha = 10^{-3}$, so the false-alarm rate of a
counterexample is $10^{-3}$ whatever the grid size.  "Holds everywhere" is an
intersection-union test: every grid cell's one-sided lower bound above 0 at $\\alpha = 10^{-3}$.
Neither: ``passed=None`` with the measured effects.
"""

from __future__ import annotations

import functools
import math

from lora_theorems.checks import CheckContext, Outcome, check
from lora_theorems.ledger import FINDING, Claim, EvidenceKind, Formalization, Plot, Series, Table

ALPHA = 1e-3

CLAIM = Claim(
    id="L8",
    paper="L",
    title="Attack objectives and practical findings",
    source="poster, eq. (3)-(4) and 'Summary of Findings'; paper Section 5 (BERT-large, GLUE)",
    statement=(
        r"Untargeted poisoning maximizes $|\nabla_\theta\mathcal L(x_c)^T\nabla_\theta\mathcal L(x_u)|$ "
        r"(eq. 3); backdoor poisoning minimizes $|\nabla_\theta\mathcal L(x_c)^T\nabla_\theta\mathcal L(x_t)|$ "
        r"(eq. 4). LoRA is more vulnerable than full fine-tuning to untargeted poisoning and more "
        r"robust to backdoors; lower rank is more backdoor-robust; a small initialization variance "
        r"of $A$ improves training-time robustness."
    ),
    hypotheses=(
        "BERT-large on GLUE, rank 8 (the paper's experiments)",
        "the findings are stated without conditions: poison rates of the paper (label flips 0.05-0.35, "
        "backdoors at low rates), any rank, the authors' sweep of the variance of A",
    ),
    formalizations=(
        Formalization(
            key="objective-is-weighted-ntk",
            level="finite-width",
            statement=(
                r"For any network $f_\theta$ with $k$ outputs and a loss $\ell(f, y)$, "
                r"$\nabla_\theta\mathcal L(x_c)^T\nabla_\theta\mathcal L(x_u) = "
                r"\nabla_f\ell(x_c)^T\,K(x_c, x_u)\,\nabla_f\ell(x_u)$ with $K$ the empirical NTK "
                r"($k\times k$ block) of the trained parameters: FF uses $K_{ff}$, LoRA $K_{LoRA}$."
            ),
            covers="eq. (3)-(4): the objectives as kernel quantities (the link to L2-L3)",
        ),
        Formalization(
            key="F1-label-flip",
            level="training",
            statement=(
                "F1. Under label-flip poisoning at any rate in [0.05, 0.35], LoRA's clean test accuracy "
                "drops more than FF's (drop = accuracy trained on clean data minus accuracy trained on "
                "poisoned data), at every rank and variance of A, in the kernel regime and at finite width, "
                "under each control reading."
            ),
            covers="'LoRA is more vulnerable than full fine-tuning to untargeted poisoning'",
        ),
        Formalization(
            key="F2-backdoor",
            level="training",
            statement=(
                "F2. Under backdoor poisoning at low rates, LoRA's attack success rate (share of triggered "
                "non-target test inputs classified as the target) is below FF's, at every rank and variance, "
                "in both regimes, under each control reading."
            ),
            covers="'LoRA is ... more robust to backdoors'",
        ),
        Formalization(
            key="F3-rank",
            level="training",
            statement=(
                "F3. Lower rank, lower ASR under backdoor poisoning and (the trade) a larger accuracy drop under "
                "label flips: for adjacent ranks $r < r'$ at the same variance, rate and reading, "
                r"$\mathrm{ASR}(r) < \mathrm{ASR}(r')$ and $\mathrm{drop}(r) > \mathrm{drop}(r')$."
            ),
            covers="'the rank trades one against the other (lower rank: more backdoor-robust)'",
        ),
        Formalization(
            key="F4-variance",
            level="training",
            statement=(
                r"F4. A smaller variance of $A$ improves robustness: for adjacent variances "
                r"$\sigma^2 < \sigma'^2$ of the sweep ($1/(3n)$, $1/n$, $4/n$, $1/r$) at the same rank, rate and "
                r"reading, LoRA's ASR and its label-flip accuracy drop are smaller at $\sigma^2$."
            ),
            covers="'a small initialization variance of A improves training-time robustness'",
        ),
        Formalization(
            key="empirical-findings",
            level="experiment",
            statement=(
                "The reported accuracies (label-flip at rate 0.3: LoRA 2-4 points below FF on "
                "CoLA/QNLI/QQP; backdoor at 0.15% on SST-2: LoRA .917 vs FF .543) are reproducible."
            ),
            covers="the paper's BERT-large numbers",
            not_checkable="needs BERT-large weights and GLUE data; this toolkit downloads nothing "
                          "(F1-F4 are checked on simulations instead)",
        ),
        Formalization(
            key="F2-converged-kernel",
            level="kernel",
            reading=FINDING,
            statement=(
                "In the kernel regime trained to convergence (ridgeless kernel regression, where the kernel "
                "scale $r\\sigma_a^2$ drops out), LoRA's ASR is below FF's at every rank, variance and "
                "backdoor rate of the sweep."
            ),
            covers="the part of F2 that survives; not a corrected L8: F1 fails in every part of the region",
        ),
    ),
    notes=(
        "Simulated on scikit-learn's bundled digits (no download); the paper's BERT-large numbers are "
        "not checkable here and are marked so. Backdoor rates: the paper's 0.1-0.45% of ~67k SST-2 "
        "examples are 67-300 poisoned examples; with 200 training images the smallest rates that "
        "poison at least 2 images are used (1-5%, 2-10 images)."
    ),
)


@check("objective-is-weighted-ntk", kind=EvidenceKind.NUMERIC)
def objective_as_weighted_ntk(ctx: CheckContext) -> Outcome:
    """L8, eq. (3)-(4): gradient inner products equal loss-weighted NTK entries (FF and LoRA).

    Computed two independent ways on random networks: (a) the materialized parameter
    gradients of the loss (``numerics.empirical.jacobian``), their inner product; (b) the
    layer-wise empirical NTK (``numerics.empirical.empirical_ntk``) weighted by the loss
    gradients in the output.  MSE ($\\nabla_f\\ell = f - y$) and softmax cross-entropy
    ($\\nabla_f\\ell = p - y$).
    """
    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import empirical_ntk, init_fc_params, jacobian, network_output

    trials = ctx.pick(12, 60)
    worst = np.inf
    rows = []
    eps = np.finfo(np.float64).eps
    for t in range(trials):
        k = (1, 3)[t % 2]
        loss = "mse" if k == 1 else "cross-entropy"
        d = int(ctx.rng.integers(2, 6))
        widths = [int(ctx.rng.integers(3, 12)) for _ in range(int(ctx.rng.integers(1, 3)))]
        L = len(widths)
        lora_layer = int(ctx.rng.integers(0, L + 1))
        n_in = ([d] + widths)[lora_layer]
        rank = int(ctx.rng.integers(1, n_in + 1))
        b_scale = (0.0, 0.5)[(t // 2) % 2]
        act = ("relu", "erf")[(t // 4) % 2]
        params = init_fc_params(ctx.rng, d, widths, k, lora_layers=(lora_layer,), rank=rank, b_scale=b_scale)
        X = ctx.rng.standard_normal((2, d))
        f = network_output(params, X, activation=act, bias_var=0.1)
        if loss == "mse":
            y = ctx.rng.standard_normal((2, k))
            g_out = f - y
        else:
            p = np.exp(f - f.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            y = np.eye(k)[ctx.rng.integers(0, k, size=2)]
            g_out = p - y
        for mode in ("ff", "lora"):
            J = jacobian(params, X, mode=mode, activation=act, bias_var=0.1).reshape(2, k, -1)
            grads = np.einsum("ai,aip->ap", g_out, J)  # (a): parameter gradients of the loss
            direct = float(grads[0] @ grads[1])
            K = empirical_ntk(params, X, mode=mode, activation=act, bias_var=0.1).reshape(2, k, 2, k)
            via_kernel = float(g_out[0] @ K[0, :, 1, :] @ g_out[1])  # (b)
            # Both sides are sums of P products; float64 rounding is at most ~P*eps times the
            # Cauchy-Schwarz scale |g_c||g_u|, so 8*P*eps of that scale is a safe bound.
            scale = float(np.linalg.norm(grads[0]) * np.linalg.norm(grads[1])) or 1.0
            bound = 8 * J.shape[-1] * eps
            margin = bound - abs(direct - via_kernel) / scale
            worst = min(worst, margin)
            rows.append((t, loss, act, mode, f"{d}-{'-'.join(map(str, widths))}-{k}", lora_layer, rank, b_scale, direct, via_kernel))
            if margin < 0:
                return Outcome(
                    passed=False,
                    summary=f"trial {t} ({mode}, {loss}): gradient product {direct:.6g} != kernel form {via_kernel:.6g}",
                    worst_margin=margin,
                    counterexample={"params": [{k2: v.tolist() for k2, v in layer.items()} for layer in params],
                                    "X": X.tolist(), "y": y.tolist(), "activation": act, "mode": mode,
                                    "bias_var": 0.1, "direct": direct, "via_kernel": via_kernel},
                )
    return Outcome(
        passed=True,
        summary=(
            f"{len(rows)} network/loss/mode cases: the gradient inner product of eq. (3)-(4) equals "
            f"the loss-weighted NTK entry within float64 rounding (FF and LoRA, B = 0 and B != 0)"
        ),
        params={"trials": trials, "bias_var": 0.1, "inputs": 2},
        region={"d": "2..5", "hidden layers": "1..2", "width": "3..11", "rank": "1..n_in",
                "B scale": [0.0, 0.5], "activation": ["relu", "erf"], "loss": ["mse", "cross-entropy"]},
        worst_margin=worst,
        tables=(Table(
            title="Gradient inner product vs loss-weighted NTK (first 8 cases)",
            columns=("trial", "loss", "activation", "mode", "architecture", "LoRA layer", "rank", "B scale",
                     "grad product", "kernel form"),
            rows=tuple(rows[:8]),
        ),),
    )


# ----------------------------------------------------------------------------- the sweep

#: Checks that read the same cached sweep (:func:`_sweep`, one per regime): a parallel run
#: keeps each group in one worker (:mod:`lora_theorems.runner`), so each sweep runs once.
RUN_TOGETHER = (
    ("f1_label_flip_kernel", "f2_backdoor_kernel", "f3_rank_kernel", "f4_variance_kernel", "f2_converged_kernel"),
    ("f1_label_flip_finite", "f2_backdoor_finite", "f3_rank_finite", "f4_variance_finite"),
)



def _grid(profile: str, regime: str) -> dict:
    """The swept region: ranks, variance rules, poison rates and seeds (quick keeps the corners of
    the grid, with the seeds of full where fewer left quick undecided where full decides)."""
    quick = profile == "quick"
    ranks: tuple[int, ...]
    rules: tuple[str, ...]
    lf: tuple[float, ...]
    bd: tuple[float, ...]
    if regime == "kernel":
        ranks = (1, 4, 8, 16) if quick else (1, 2, 4, 8, 16)
        rules = ("1/(3n)", "1/n", "1/r") if quick else ("1/(3n)", "1/n", "4/n", "1/r")
        lf = (0.05, 0.35) if quick else (0.05, 0.15, 0.25, 0.35)
        bd = (0.01, 0.05) if quick else (0.01, 0.02, 0.05)
        # seeds and confirmation seeds as in full: fewer left quick undecided where full decides
        # (F1-F4 at seeds 1-5, the F2 finding at seeds 0, 1, 3, 4); quick saves on the grid only
        return dict(ranks=ranks, rules=rules, lf=lf, bd=bd, seeds=16, confirm=32)
    ranks = (1, 16) if quick else (1, 4, 16)
    rules = ("1/(3n)", "1/r") if quick else ("1/(3n)", "1/n", "1/r")
    lf = (0.35,) if quick else (0.05, 0.2, 0.35)
    bd = (0.05,) if quick else (0.02, 0.05)
    return dict(ranks=ranks, rules=rules, lf=lf, bd=bd, seeds=6 if quick else 8, confirm=16)


def variance_of(rule: str, rank: int, width: int) -> float:
    """The variance of A under a named rule (authors' c/n with c in {1, 4}, PEFT's 1/(3n), 1/r)."""
    return {"1/(3n)": 1.0 / (3 * width), "1/n": 1.0 / width, "4/n": 4.0 / width, "1/r": 1.0 / rank}[rule]


@functools.lru_cache(maxsize=4)
def _sweep(profile: str, seed: int, regime: str) -> dict:
    """Every configuration of the grid, run once per (profile, seed, regime) and shared by the checks."""
    from lora_theorems.numerics.paper_l import attacks as at

    g = _grid(profile, regime)
    fn = at.kernel_attack if regime == "kernel" else at.finite_attack
    done: dict = {}  # two rules can name one variance (1/n and 1/r at r = n): one run, read under both
    # computed in the order that keeps shared parts in the small caches of the numerics: label flips with
    # the rates innermost (they all read one configuration's clean kernels), backdoors with the rate
    # outermost (its triggered features serve every configuration); listed rate first
    order = [("label-flip", rate, rank, rule) for rank in g["ranks"] for rule in g["rules"] for rate in g["lf"]]
    order += [("backdoor", rate, rank, rule) for rate in g["bd"] for rank in g["ranks"] for rule in g["rules"]]
    for attack, rate, rank, rule in order:
        v = variance_of(rule, rank, at.WIDTH)
        if (attack, rate, rank, v) not in done:
            done[(attack, rate, rank, v)] = fn(attack, rate, rank, v, seeds=g["seeds"], seed=seed)
    return {(attack, rate, rank, rule): done[(attack, rate, rank, variance_of(rule, rank, at.WIDTH))]
            for attack, rates in (("label-flip", g["lf"]), ("backdoor", g["bd"]))
            for rate in rates for rank in g["ranks"] for rule in g["rules"]}


def _valid(run, reading):
    import numpy as np

    keep = np.ones(run.seeds, dtype=bool)
    if isinstance(run.diverged, dict) and reading in run.diverged:
        keep &= ~run.diverged[reading]
    return keep


@functools.lru_cache(maxsize=64)
def _t_quantile(df: int) -> float:
    """The one-sided Student-t quantile at ALPHA with ``df`` degrees of freedom (a few seeds counts: cached)."""
    from scipy.stats import t as student_t

    return float(student_t.ppf(1 - ALPHA, df))


def _t_bounds(d):
    """Mean and one-sided lower/upper Student-t bounds at ALPHA of paired differences ``d``."""
    import numpy as np

    d = np.asarray(d, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return float("nan"), -math.inf, math.inf, 0.0
    m = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(d.size))
    q = _t_quantile(d.size - 1)
    tstat = m / se if se > 0 else (0.0 if m == 0 else math.copysign(math.inf, m))
    return m, m - q * se, m + q * se, tstat


def _decide(cells: dict, confirm, what: str, regime: str) -> Outcome:
    """Two-stage decision over a grid of paired effects (module docstring).

    ``cells``: key -> per-seed effect (positive = the paper's direction). ``confirm(key)``
    reruns a cell on fresh seeds and returns ``(effects, counterexample dict)``.
    """
    stats = {k: _t_bounds(d) for k, d in cells.items()}
    worst_key = min(stats, key=lambda k: (stats[k][3], stats[k][0]))
    m, lo, hi, tstat = stats[worst_key]
    holds = all(s[1] > 0 for s in stats.values())
    n_pos = sum(s[1] > 0 for s in stats.values())
    n_neg = sum(s[2] < 0 for s in stats.values())
    rows = sorted(((str(k), s[0], s[1], s[2]) for k, s in stats.items()), key=lambda r: r[1])
    table = Table(
        title=f"{what} ({regime} regime): paired effects, most negative first (screening seeds)",
        columns=("cell", "mean effect", f"lower ({ALPHA:g})", f"upper ({ALPHA:g})"),
        rows=tuple((c, round(a, 4), round(b, 4), round(u, 4)) for c, a, b, u in rows[:12]),
        caption=f"{len(rows)} cells; positive = the paper's direction",
    )
    counts = f"{n_pos} of {len(stats)} cells significantly in the paper's direction, {n_neg} significantly against"
    params = {"alpha": ALPHA, "cells": len(stats), "regime": regime}
    if tstat < 0:
        eff, cex = confirm(worst_key)
        cm, clo, chi, _ = _t_bounds(eff)
        if chi < 0:
            return Outcome(
                passed=False,
                summary=(f"{what}: reversed at {worst_key} ({regime}); confirmed on fresh seeds: mean effect "
                         f"{cm:+.4f}, one-sided upper bound {chi:+.4f} < 0 ({counts} on screening seeds)"),
                params=params, worst_margin=chi, false_alarm_rate=ALPHA, tables=(table,),
                counterexample={**cex, "mean_effect": cm, "upper_bound": chi, "alpha": ALPHA},
                metrics={"significant_for": n_pos, "significant_against": n_neg, "cells": len(stats)},
            )
    if holds:
        return Outcome(
            passed=True, summary=f"{what}: holds in every cell ({regime}; {counts})", params=params,
            worst_margin=min(s[1] for s in stats.values()), false_alarm_rate=ALPHA, tables=(table,),
            metrics={"significant_for": n_pos, "significant_against": n_neg, "cells": len(stats)},
        )
    return Outcome(
        passed=None,
        summary=(f"{what}: undecided ({regime}): {counts}; the most negative cell {worst_key} has effect "
                 f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}] and did not confirm as a reversal, yet not every cell is "
                 f"significantly positive"),
        params=params, tables=(table,),
        metrics={"significant_for": n_pos, "significant_against": n_neg, "cells": len(stats)},
    )


def _confirm_seed(seed: int) -> int:
    """Fresh seeds for confirmation: a different stream from the screening sweep's."""
    import numpy as np

    return int(np.random.SeedSequence([seed, 0xC0F]).generate_state(1, dtype=np.uint32)[0])


def _rerun(regime, attack, rate, rank, rule, seeds, seed):
    """One configuration on fresh seeds (the confirmation stage of :func:`_decide`)."""
    from lora_theorems.numerics.paper_l import attacks as at

    return _rerun_variance(regime, attack, rate, rank, variance_of(rule, rank, at.WIDTH), seeds, seed)


@functools.lru_cache(maxsize=16)
def _rerun_variance(regime, attack, rate, rank, variance, seeds, seed):
    """:func:`_rerun` by variance, cached: confirmations of different checks (F1-F4) often rerun the same
    configuration (the runs are read, never changed)."""
    from lora_theorems.numerics.paper_l import attacks as at

    fn = at.kernel_attack if regime == "kernel" else at.finite_attack
    return fn(attack, rate, rank, variance, seeds=seeds, seed=seed)


def _cex(run, reading, effects, extra=None):
    from lora_theorems.claims.paper_l.probes import report_from_run

    rep = report_from_run(run)
    r = rep.reading(reading)
    out = {"command": rep.command, "reading": reading, "attack": run.attack, "rate": run.rate, "rank": run.rank,
           "variance": run.variance, "regime": run.regime, "seeds": run.seeds, "seed": run.seed,
           "per_seed_effect": [float(x) for x in effects],
           "ff_clean_acc": r.ff_clean_acc, "lora_clean_acc": r.lora_clean_acc,
           "ff_attacked_acc": r.ff_attacked_acc, "lora_attacked_acc": r.lora_attacked_acc,
           "ff_asr": r.ff_asr, "lora_asr": r.lora_asr, "lora_fits_share": rep.lora_fits}
    out.update(extra or {})
    return out


def _ff_vs_lora(ctx: CheckContext, attack: str, regime: str, what: str) -> Outcome:
    runs = _sweep(ctx.profile, ctx.shared_seed("L8-sweep"), regime)
    g = _grid(ctx.profile, regime)
    cells = {}
    for (a, rate, rank, rule), run in runs.items():
        if a != attack:
            continue
        for rd in run.readings:
            cells[(rate, rank, rule, rd)] = run.effect(rd)[_valid(run, rd)]

    def confirm(key):
        rate, rank, rule, rd = key
        run = _rerun(regime, attack, rate, rank, rule, g["confirm"], _confirm_seed(ctx.shared_seed("L8-sweep")))
        e = run.effect(rd)[_valid(run, rd)]
        return e, _cex(run, rd, e)

    out = _decide(cells, confirm, what, regime)
    plots = _plots(runs, attack, regime, g)
    region = {"rates": list(g["lf"] if attack == "label-flip" else g["bd"]), "ranks": list(g["ranks"]),
              "variances": list(g["rules"]), "readings": list(next(iter(runs.values())).readings),
              "screening seeds": g["seeds"], "confirmation seeds": g["confirm"]}
    return Outcome(passed=out.passed, summary=out.summary, params=out.params, region=region,
                   worst_margin=out.worst_margin, counterexample=out.counterexample,
                   false_alarm_rate=out.false_alarm_rate, metrics=out.metrics, tables=out.tables, plots=plots)


def _plots(runs, attack, regime, g) -> tuple:
    """Accuracy (label flip) or ASR (backdoor) vs rate, FF and LoRA at several ranks; heat maps of the effect."""
    import numpy as np

    rates = g["lf"] if attack == "label-flip" else g["bd"]
    first = next(iter(runs.values()))
    reading = "equal-time"
    metric = "attacked_acc" if attack == "label-flip" else "asr"
    ylabel = "clean test accuracy after poisoning" if attack == "label-flip" else "attack success rate"
    series = []
    for who, rank in [("FF", g["ranks"][-1])] + [("LoRA", r) for r in g["ranks"]]:
        ys, es = [], []
        for rate in rates:
            run = runs[(attack, rate, rank, "1/n" if "1/n" in g["rules"] else g["rules"][0])]
            side = run.ff if who == "FF" else run.lora
            v = side[metric][reading][_valid(run, reading)]
            ys.append(float(np.mean(v)))
            es.append(float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0)
        series.append(Series(label="FF" if who == "FF" else f"LoRA r={rank}", x=tuple(rates), y=tuple(ys),
                             yerr=tuple(es), style="line"))
    plots = [Plot(
        key=f"l8-{attack}-{regime}-vs-rate", title=f"{attack}, {regime} regime, {reading} ({first.activation})",
        xlabel="poison rate", ylabel=ylabel, series=tuple(series),
        caption="seed means with one standard error; LoRA at sigma_a^2 = 1/n",
    )]
    rate = rates[-1]
    for rd in first.readings:
        z = []
        for rule in g["rules"]:
            z.append(tuple(float(np.mean(runs[(attack, rate, rank, rule)].effect(rd)[_valid(runs[(attack, rate, rank, rule)], rd)]))
                           for rank in g["ranks"]))
        plots.append(Plot(
            key=f"l8-{attack}-{regime}-heat-{rd}", kind="heatmap",
            title=f"{'drop LoRA - drop FF' if attack == 'label-flip' else 'ASR FF - ASR LoRA'}: {regime}, {rd}, rate {rate}",
            xlabel="rank", ylabel="variance rule (rows: " + ", ".join(g["rules"]) + ")",
            x=tuple(float(r) for r in g["ranks"]), y=tuple(float(i) for i in range(len(g["rules"]))), z=tuple(z),
            zlabel="effect (positive = paper's direction)",
        ))
    return tuple(plots)


def _within_lora(ctx: CheckContext, regime: str, along: str) -> Outcome:
    """F3 (``along="rank"``) and F4 (``along="variance"``): adjacent pairs within LoRA."""

    from lora_theorems.numerics.paper_l import attacks as at

    seed = ctx.shared_seed("L8-sweep")
    runs = _sweep(ctx.profile, seed, regime)
    g = _grid(ctx.profile, regime)
    pairs = []  # (attack, rate, (rank, rule) low, (rank, rule) high)
    for attack, rates in (("label-flip", g["lf"]), ("backdoor", g["bd"])):
        for rate in rates:
            if along == "rank":
                for rule in g["rules"]:
                    if rule == "1/r":
                        continue  # the variance moves with the rank: not a rank comparison
                    for r0, r1 in zip(g["ranks"], g["ranks"][1:], strict=False):
                        pairs.append((attack, rate, (r0, rule), (r1, rule)))
            else:
                for rank in g["ranks"]:
                    vs = sorted({variance_of(u, rank, at.WIDTH): u for u in g["rules"]}.items())
                    for (_, u0), (_, u1) in zip(vs, vs[1:], strict=False):
                        pairs.append((attack, rate, (rank, u0), (rank, u1)))

    def eff(run_lo, run_hi, rd):
        keep = _valid(run_lo, rd) & _valid(run_hi, rd)
        if run_lo.attack == "backdoor":  # positive: the lower rank / variance has the lower ASR
            return (run_hi.lora["asr"][rd] - run_lo.lora["asr"][rd])[keep]
        drop = {id(r): r.lora["clean_acc"][rd] - r.lora["attacked_acc"][rd] for r in (run_lo, run_hi)}
        if along == "rank":  # F3: lower rank, larger label-flip drop
            return (drop[id(run_lo)] - drop[id(run_hi)])[keep]
        return (drop[id(run_hi)] - drop[id(run_lo)])[keep]  # F4: smaller variance, smaller drop

    cells = {}
    for attack, rate, lo, hi in pairs:
        a, b = runs[(attack, rate) + lo], runs[(attack, rate) + hi]
        for rd in a.readings:
            cells[(attack, rate, lo, hi, rd)] = eff(a, b, rd)

    def confirm(key):
        attack, rate, lo, hi, rd = key
        cs = _confirm_seed(seed)
        a = _rerun(regime, attack, rate, lo[0], lo[1], g["confirm"], cs)
        b = _rerun(regime, attack, rate, hi[0], hi[1], g["confirm"], cs)
        e = eff(a, b, rd)
        ca, cb = _cex(a, rd, eff(a, a, rd)), _cex(b, rd, eff(b, b, rd))
        return e, {"reading": rd, "attack": attack, "rate": rate, "regime": regime,
                   "low": {"rank": a.rank, "variance": a.variance, "command": ca["command"],
                           "lora_asr": ca["lora_asr"], "lora_clean_acc": ca["lora_clean_acc"],
                           "lora_attacked_acc": ca["lora_attacked_acc"]},
                   "high": {"rank": b.rank, "variance": b.variance, "command": cb["command"],
                            "lora_asr": cb["lora_asr"], "lora_clean_acc": cb["lora_clean_acc"],
                            "lora_attacked_acc": cb["lora_attacked_acc"]},
                   "per_seed_effect": [float(x) for x in e]}

    what = "F3 (lower rank: lower ASR, larger label-flip drop)" if along == "rank" else \
        "F4 (smaller variance of A: lower ASR and smaller label-flip drop)"
    out = _decide(cells, confirm, what, regime)
    region = {"pairs": len(pairs), "ranks": list(g["ranks"]), "variances": list(g["rules"]),
              "readings": list(next(iter(runs.values())).readings)}
    return Outcome(passed=out.passed, summary=out.summary, params=out.params, region=region,
                   worst_margin=out.worst_margin, counterexample=out.counterexample,
                   false_alarm_rate=out.false_alarm_rate, metrics=out.metrics, tables=out.tables)


@check("F1-label-flip", kind=EvidenceKind.STATISTICAL)
def f1_label_flip_kernel(ctx: CheckContext) -> Outcome:
    """L8 F1, kernel regime: LoRA's label-flip accuracy drop exceeds FF's (linearized fine-tuning)."""
    return _ff_vs_lora(ctx, "label-flip", "kernel", "F1 (LoRA more vulnerable to label flips)")


@check("F1-label-flip", kind=EvidenceKind.STATISTICAL)
def f1_label_flip_finite(ctx: CheckContext) -> Outcome:
    """L8 F1, finite width: LoRA's label-flip accuracy drop exceeds FF's (gradient descent)."""
    return _ff_vs_lora(ctx, "label-flip", "finite", "F1 (LoRA more vulnerable to label flips)")


@check("F2-backdoor", kind=EvidenceKind.STATISTICAL)
def f2_backdoor_kernel(ctx: CheckContext) -> Outcome:
    """L8 F2, kernel regime: LoRA's backdoor ASR is below FF's."""
    return _ff_vs_lora(ctx, "backdoor", "kernel", "F2 (LoRA more robust to backdoors)")


@check("F2-backdoor", kind=EvidenceKind.STATISTICAL)
def f2_backdoor_finite(ctx: CheckContext) -> Outcome:
    """L8 F2, finite width: LoRA's backdoor ASR is below FF's."""
    return _ff_vs_lora(ctx, "backdoor", "finite", "F2 (LoRA more robust to backdoors)")


@check("F3-rank", kind=EvidenceKind.STATISTICAL)
def f3_rank_kernel(ctx: CheckContext) -> Outcome:
    """L8 F3, kernel regime: lower rank gives lower ASR and a larger label-flip drop."""
    return _within_lora(ctx, "kernel", "rank")


@check("F3-rank", kind=EvidenceKind.STATISTICAL)
def f3_rank_finite(ctx: CheckContext) -> Outcome:
    """L8 F3, finite width: lower rank gives lower ASR and a larger label-flip drop."""
    return _within_lora(ctx, "finite", "rank")


@check("F4-variance", kind=EvidenceKind.STATISTICAL)
def f4_variance_kernel(ctx: CheckContext) -> Outcome:
    """L8 F4, kernel regime: a smaller variance of A gives lower ASR and a smaller label-flip drop."""
    return _within_lora(ctx, "kernel", "variance")


@check("F4-variance", kind=EvidenceKind.STATISTICAL)
def f4_variance_finite(ctx: CheckContext) -> Outcome:
    """L8 F4, finite width: a smaller variance of A gives lower ASR and a smaller label-flip drop."""
    return _within_lora(ctx, "finite", "variance")


@check("F2-converged-kernel", kind=EvidenceKind.STATISTICAL)
def f2_converged_kernel(ctx: CheckContext) -> Outcome:
    """L8 finding: in the kernel regime at convergence LoRA's ASR is below FF's in every cell (IUT)."""
    runs = _sweep(ctx.profile, ctx.shared_seed("L8-sweep"), "kernel")
    cells = {k[1:]: r.effect("converged") for k, r in runs.items() if k[0] == "backdoor"}
    stats = {k: _t_bounds(d) for k, d in cells.items()}
    worst = min(stats, key=lambda k: stats[k][1])
    m, lo, hi, _ = stats[worst]
    n_pos = sum(s[1] > 0 for s in stats.values())
    against = [k for k, s in stats.items() if s[2] < 0]
    summary = (f"converged kernel regime: ASR FF - ASR LoRA has one-sided lower bound > 0 in {n_pos} of "
               f"{len(stats)} cells (rate, rank, variance), {len(against)} significantly reversed; weakest "
               f"{worst}: {m:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    if against:
        k = against[0]
        return Outcome(passed=False, summary=summary, worst_margin=stats[k][2], false_alarm_rate=ALPHA,
                       params={"alpha": ALPHA}, region={"cells": len(stats)},
                       counterexample={"cell": str(k), "mean_effect": stats[k][0], "upper_bound": stats[k][2],
                                       "per_seed_effect": [float(x) for x in cells[k]]})
    ok = n_pos == len(stats)
    return Outcome(passed=True if ok else None,
                   summary=summary + ("" if ok else "; undecided where the bound reaches 0 (too few seeds there)"),
                   worst_margin=lo, false_alarm_rate=ALPHA, params={"alpha": ALPHA}, region={"cells": len(stats)})

"""L7: information bits and Renyi entropy [Theorem 3.6] (poster eq. 6-7).

Every reading the source could mean is checked at three levels: the layer ($A^TA$ against
$I$), the kernel (LoRA against FF empirical NTK Gram matrices of finite networks whose
adapters satisfy $A^TA\\preceq I$, $B=0$) and the Fisher matrix (materialized, MSE and
cross-entropy).  Numerics: :mod:`lora_theorems.numerics.paper_l.information`, :mod:`lora_theorems.numerics.paper_l.empirical`,
:mod:`lora_theorems.numerics.paper_l.fisher`.
"""

from __future__ import annotations

import functools
import math

from lora_theorems.checks import CheckContext, Outcome, check
from lora_theorems.helpers import Grid, Worst, decide
from lora_theorems.ledger import CORRECTED, Claim, EvidenceKind, Formalization, Table

_LEVELS = "at the layer level ($A^TA$ vs $I_n$), the kernel level (empirical NTK Gram matrices of LoRA vs FF on the same inputs) and the Fisher level"

CLAIM = Claim(
    id="L7",
    paper="L",
    title="Information bits and Renyi entropy: FF >= LoRA",
    source="poster, Theorem ($IB_{ff}\\ge IB_{LoRA}$ & $H_{\\alpha ff}\\ge H_{\\alpha LoRA}$), eq. (6)-(7); paper Theorem 3.6",
    statement=(
        r"With $\lambda_i$ the eigenvalues of $I_\theta$: "
        r"$IB = \tfrac12\log\det_{pseudo} I_\theta = \tfrac12\sum_{\lambda_i>0}\lambda_i$, "
        r"$H_\alpha = \frac{1}{1-\alpha}\log\sum_i\lambda_i^\alpha$, $H_1$ Shannon, "
        r"$H_\infty = \max_i\lambda_i$. Claim: $IB_{ff}\ge IB_{LoRA}$ and "
        r"$H_{\alpha,ff}\ge H_{\alpha,LoRA}$ whenever $M_\Delta$ is negative semi-definite, i.e. "
        r"$r\le n_{l-1}$ and $\sigma^2\le 1/n_{l-1}$."
    ),
    hypotheses=(r"$M_\Delta \preceq 0$", r"$r\le n$", r"$\sigma_a^2\le 1/n$", r"$\alpha\ge 0$"),
    formalizations=(
        Formalization(
            key="ib-log-pdet",
            level="layer, kernel, Fisher",
            statement=(
                r"If $M_\Delta\preceq0$ then $\tfrac12\sum_{\lambda>0}\log\lambda$ (log pseudo-determinant) of LoRA "
                r"is $\le$ that of FF, " + _LEVELS + "."
            ),
            covers="$IB = \\frac12\\log\\det_{pseudo}$ (left side of eq. (6))",
        ),
        Formalization(
            key="ib-trace",
            level="layer, kernel, Fisher",
            statement=r"If $M_\Delta\preceq0$ then $\tfrac12\sum_{\lambda>0}\lambda$ of LoRA is $\le$ that of FF, " + _LEVELS + ".",
            covers="$IB = \\frac12\\sum_{\\lambda_i>0}\\lambda_i$ (right side of eq. (6), as written)",
        ),
        Formalization(
            key="renyi-all-alpha",
            level="layer, kernel, Fisher",
            statement=(
                r"If $M_\Delta\preceq0$ then $H_\alpha = \frac1{1-\alpha}\log\sum_{\lambda_i>0}\lambda_i^\alpha$ on the raw "
                r"eigenvalues satisfies $H_{\alpha,ff}\ge H_{\alpha,LoRA}$ for every $\alpha\ge0$ ($\alpha=1$: "
                r"$-\sum\lambda\log\lambda$; $\alpha=\infty$: the limit $-\log\lambda_{\max}$), " + _LEVELS + "."
            ),
            covers="$H_{\\alpha,ff}\\ge H_{\\alpha,LoRA}$ with eq. (7) as written (unnormalized spectrum)",
        ),
        Formalization(
            key="renyi-normalized",
            level="layer, kernel, Fisher",
            statement=(
                r"If $M_\Delta\preceq0$ then the Renyi entropy of the normalized spectrum $p_i=\lambda_i/\sum_j\lambda_j$ "
                r"satisfies $H_{\alpha,ff}\ge H_{\alpha,LoRA}$ for every $\alpha\in[0,\infty]$, " + _LEVELS + "."
            ),
            covers="'$H_1$ corresponds to the Shannon entropy': eq. (7) as a proper Renyi entropy",
        ),
        Formalization(
            key="h-inf-max",
            level="layer, kernel, Fisher",
            statement=r"If $M_\Delta\preceq0$ then $H_\infty = \max_i\lambda_i$ (as written) of LoRA is $\le$ that of FF, " + _LEVELS + ".",
            covers="'$H_\\infty = \\max\\{\\lambda_1,..\\}$'",
        ),
        Formalization(
            key="variance-hypothesis",
            level="layer",
            statement=(
                r"For $A$ with i.i.d. $\mathcal N(0,\sigma_a^2)$ entries, $r\le n$ and $\sigma_a^2\le 1/n$ (the 'i.e.' "
                r"hypothesis, without conditioning on $M_\Delta\preceq0$), $IB_{ff}\ge IB_{LoRA}$ (log-pdet and trace) "
                r"and $\max\lambda_{ff}\ge\max\lambda_{LoRA}$ almost surely."
            ),
            covers="'i.e. $r\\le n_{l-1}$ and $\\sigma^2\\le 1/n_{l-1}$'",
        ),
        Formalization(
            key="corrected-loewner-monotone",
            level="layer, kernel, Fisher",
            reading=CORRECTED,
            corrects=('ib-trace', 'h-inf-max', 'renyi-all-alpha', 'variance-hypothesis'),
            statement=(
                r"If $K_{LoRA}\preceq K_{ff}$ (which $A^TA\preceq I$ gives at the layer level and, with $B=0$, "
                r"for the NTK Gram and Fisher matrices), then: $\tfrac12\operatorname{tr}$ (IB, trace reading), "
                r"$\lambda_{\max}$ ($H_\infty$ as written), $\#\{\lambda>0\}$ ($H_0$), and the power sums "
                r"$\sum\lambda_i^\alpha$ for every $\alpha>0$ are all $\le$ for LoRA; hence the raw $H_\alpha$ of eq. (7) "
                r"satisfies $H_{\alpha,ff}\ge H_{\alpha,LoRA}$ for $0\le\alpha<1$ and the REVERSE, "
                r"$H_{\alpha,ff}\le H_{\alpha,LoRA}$, for $\alpha>1$."
            ),
            covers="which readings make the theorem true, and the corrected direction for alpha > 1",
        ),
        Formalization(
            key="corrected-log-pdet-equal-rank",
            level="kernel, Fisher",
            reading=CORRECTED,
            corrects=('ib-log-pdet',),
            statement=(
                r"If $K_{LoRA}\preceq K_{ff}$ and either $\operatorname{rank}K_{LoRA}=\operatorname{rank}K_{ff}$ or every "
                r"positive eigenvalue of $K_{ff}$ is $\ge1$, then $\log\det_{pseudo}K_{LoRA}\le\log\det_{pseudo}K_{ff}$ "
                r"(without such a condition it fails: the pseudo-determinant is not monotone and not scale invariant)."
            ),
            covers="the log pseudo-determinant reading of IB, corrected",
        ),
        Formalization(
            key="corrected-normalized-layer",
            level="layer",
            reading=CORRECTED,
            corrects=('renyi-normalized',),
            statement=(
                r"At the layer level, for any $A\in\mathbb R^{r\times n}$ (no condition on $\sigma_a^2$), the Renyi "
                r"entropy of the normalized nonzero spectrum of $A^TA$ is $\le\log r\le\log n = H_\alpha(\text{spec}\,I_n)$ "
                r"for every $\alpha\in[0,\infty]$."
            ),
            covers="the normalized reading at the layer level, where it holds",
        ),
    ),
    notes=(
        "Eq. (6) joins two different quantities with '=': half the log pseudo-determinant and half the trace; "
        "both readings are checked. Eq. (7) on raw eigenvalues is not an entropy (it is not scale invariant) and "
        "its limit at alpha = 1 exists only when the eigenvalues sum to 1; the alpha = 1 reading used is -sum lambda log lambda."
    ),
)


# ----------------------------------------------------------------------------- spectra pairs

_RTOL = 1e-9  # positive-eigenvalue cut: far above eigensolver noise (~size eps) and below every genuine eigenvalue kept
_CMP_RTOL = 4 * math.sqrt(2.220446049250313e-16)  # comparison slack ~ 4 sqrt(eps): readings are smooth in the eigenvalues


def _keys(*exact: str, prefix: str | None = None):
    """The reading keys of :func:`~lora_theorems.numerics.paper_l.information.all_readings` a check compares:
    those named, and those starting with ``prefix``."""

    def select(keys: list[str]) -> list[str]:
        return [k for k in keys if k in exact or (prefix is not None and k.startswith(prefix))]

    return select


#: The readings each as-written formalization compares (keys of ``all_readings``).
_READINGS = {
    "ib-log-pdet": _keys("ib:log-pdet"),
    "ib-trace": _keys("ib:trace"),
    "renyi-all-alpha": _keys(prefix="H[raw"),
    "renyi-normalized": _keys(prefix="H[normalized"),
    "h-inf-max": _keys("h-inf:max"),
}

#: Layer sizes and draws per (n, r) of the layer-level pairs, and networks per level.
LAYER_WIDTHS = Grid(quick=(1, 2, 3, 5, 16, 64), full=(1, 2, 3, 4, 5, 8, 16, 32, 64, 128))
LAYER_DRAWS = Grid(quick=6, full=20)
KERNEL_NETWORKS = Grid(quick=40, full=200)
FISHER_NETWORKS = Grid(quick=16, full=60)


def _nsd_a(rng, n, r):
    """A draw of A (r x n) with sigma_a^2 < 1/n, conditioned on A^T A <= I (the stated hypothesis)."""
    import numpy as np

    while True:
        c = float(rng.choice([0.1, 0.5, 0.9, 0.99]))
        A = rng.standard_normal((r, n)) * math.sqrt(c / n)
        if np.linalg.eigvalsh(A @ A.T)[-1] <= 1.0:
            return A


def _layer_pairs(ctx: CheckContext):
    """The layer-level pairs (spec I_n, spec A^T A) of this run: drawn once per (run seed, profile), see :func:`_shared_pairs`."""
    return _shared_pairs("layer", ctx.profile, ctx.shared_seed("L7/layer-pairs"))


def _draw_layer_pairs(ctx: CheckContext):
    import numpy as np

    pairs = [(np.ones(1), np.array([0.25]), {"n": 1, "r": 1, "A": [[0.5]]})]  # the smallest case first
    for n in LAYER_WIDTHS(ctx):
        for r in sorted({1, max(1, n // 2), n}):
            for _ in range(LAYER_DRAWS(ctx)):
                A = np.round(_nsd_a(ctx.rng, n, r), 4)
                if np.linalg.eigvalsh(A @ A.T)[-1] > 1.0:
                    continue
                lam = np.r_[np.linalg.eigvalsh(A @ A.T), np.zeros(n - r)]
                pairs.append((np.ones(n), lam, {"n": n, "r": r, "A": A.tolist()}))
    return pairs


# The region where the log pseudo-determinant and normalized readings break at the kernel and Fisher
# levels (issue 14: a purely random quick sweep reached it on some seeds only): one hidden layer
# (two for the cross-entropy Fisher), a rank-1 adapter on the read-out layer only, B = 0, four or
# five small inputs (scale 0.3).  The LoRA kernel then has rank 1 while the FF kernel has N small
# eigenvalues, whose logs sum below the one LoRA keeps.  Every run includes networks of this
# region drawn from this fixed seed (the same networks for every run seed), besides the random
# networks of the whole hypothesis region drawn from the check's own generator.
_REGION_SEED = 0x4C37
_REGION_NETWORKS = Grid(quick=8, full=16)  # networks per breaking region and level
_REGIONS = ("readout-rank1", "every-layer")


def _region_rng(level: str, region: str):
    import numpy as np

    return np.random.default_rng(np.random.SeedSequence(_REGION_SEED, spawn_key=tuple(f"{level}/{region}".encode())))


def _network(rng, i: int, region: str | None = None):
    """A random network with NSD adapters (B = 0) and inputs X; ``region``: the breaking region above."""
    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import init_fc_params

    depth = 1 + i % 2
    d = int(rng.integers(2, 4))
    widths = [int(w) for w in rng.integers(2, 6, size=depth)]
    N = int(rng.integers(4, 6)) if region == "readout-rank1" else int(rng.integers(2, 6))
    if region == "readout-rank1":
        adapted: tuple[int, ...] = (depth,)
    elif region == "every-layer":
        adapted = tuple(range(depth + 1))
    else:
        adapted = tuple(sorted(set(int(l) for l in rng.choice(depth + 1, size=int(rng.integers(1, depth + 2)), replace=False))))
    p = init_fc_params(rng, d, widths, lora_layers=(), rank=1)
    dims = [d] + widths + [1]
    for l in adapted:
        r = 1 if region == "readout-rank1" else int(rng.integers(1, dims[l] + 1))
        p[l]["A"] = _nsd_a(rng, dims[l], r)
        p[l]["B"] = np.zeros((dims[l + 1], r))
    X = rng.standard_normal((N, d)) * (0.3 if region == "readout-rank1" else float(rng.choice([0.3, 1.0, 3.0])))
    return p, X, adapted


def _sources(ctx: CheckContext, level: str, count: int):
    """``(i, rng, region)`` per network of a level: the breaking-region networks (fixed seed) first, then
    ``count`` networks of the whole hypothesis region from the check's generator (drawn as before)."""
    for region in _REGIONS:
        rng = _region_rng(level, region)  # one stream per region: the quick networks are the first of the full ones
        for i in range(_REGION_NETWORKS(ctx)):
            yield i, rng, region
    for i in range(count):
        yield i, ctx.rng, None


def _kernel_pairs(ctx: CheckContext):
    """The kernel-level pairs (empirical NTK Gram spectra) of this run: drawn once per (run seed, profile)."""
    return _shared_pairs("kernel", ctx.profile, ctx.shared_seed("L7/kernel-pairs"))


def _draw_kernel_pairs(ctx: CheckContext):
    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import empirical_ntk

    pairs = []
    for i, rng, region in _sources(ctx, "kernel", KERNEL_NETWORKS(ctx)):
        p, X, adapted = _network(rng, i, region)
        act = ("relu", "erf")[(i // 2) % 2]
        Kf = empirical_ntk(p, X, mode="ff", activation=act)
        for mode in ("lora", ["lora" if "A" in q else "full" for q in p]):
            Kl = empirical_ntk(p, X, mode=mode, activation=act)
            meta = {"breaking_region": region, "activation": act, "lora_training": mode if isinstance(mode, str) else "adapters + FF elsewhere (eq. 10)",
                    "adapted_layers": list(adapted), "X": X.tolist(), "K_ff": Kf.tolist(), "K_lora": Kl.tolist(),
                    "params": [{k: np.asarray(v).tolist() for k, v in q.items()} for q in p],
                    "loewner_gap_min_eig": float(np.linalg.eigvalsh(Kf - Kl)[0])}
            pairs.append((np.linalg.eigvalsh(Kf), np.linalg.eigvalsh(Kl), meta))
    return pairs


def _fisher_pairs(ctx: CheckContext):
    """The Fisher-level pairs (materialized Fisher spectra, MSE and CE) of this run: drawn once per (run seed, profile)."""
    return _shared_pairs("fisher", ctx.profile, ctx.shared_seed("L7/fisher-pairs"))


def _draw_fisher_pairs(ctx: CheckContext):
    import numpy as np

    from lora_theorems.numerics.paper_l.empirical import jacobian, network_output
    from lora_theorems.numerics.paper_l.fisher import fisher_from_jacobian, weight_factor

    pairs = []
    for i, rng, region in _sources(ctx, "fisher", FISHER_NETWORKS(ctx)):
        p, X, adapted = _network(rng, i, region)
        loss = ("mse", "ce")[i % 2]
        if loss == "ce":  # two-output read-out for cross-entropy
            p[-1]["W"] = rng.standard_normal((2, p[-1]["W"].shape[1]))
            p[-1]["b"] = rng.standard_normal(2)
            if "A" in p[-1]:
                p[-1]["B"] = np.zeros((2, p[-1]["A"].shape[0]))
        F = network_output(p, X)
        y = rng.integers(0, 2, X.shape[0]) if loss == "ce" else rng.standard_normal(F.shape)
        L = weight_factor(F, y, loss, "expected")
        If = fisher_from_jacobian(jacobian(p, X, mode="ff"), L, X.shape[0])
        Il = fisher_from_jacobian(jacobian(p, X, mode="lora"), L, X.shape[0])
        pairs.append((np.linalg.eigvalsh(If), np.linalg.eigvalsh(Il),
                      {"breaking_region": region, "loss": loss, "adapted_layers": list(adapted), "X": X.tolist(),
                       "params": [{k: np.asarray(v).tolist() for k, v in q.items()} for q in p]}))
    return pairs


_PAIRS = {"layer": _layer_pairs, "kernel": _kernel_pairs, "fisher": _fisher_pairs}
_DRAWS = {"layer": _draw_layer_pairs, "kernel": _draw_kernel_pairs, "fisher": _draw_fisher_pairs}


@functools.lru_cache(maxsize=6)
def _shared_pairs(level: str, profile: str, seed: int) -> tuple:
    """The pairs of one level, drawn from ``np.random.default_rng(seed)`` (``seed``: the run's
    ``ctx.shared_seed``), so every check of the run reads the same pairs whichever checks ran before
    and in whichever worker (:data:`RUN_TOGETHER` keeps them in one).  Keyed only by (level, profile,
    seed); the arrays are read-only.  A test that patches what the draws call (the NTK, Jacobian or
    Fisher numerics) must bypass the cache: ``lora_theorems.testing.uncached(monkeypatch, l7, "_shared_pairs")``."""
    import numpy as np

    if level not in _DRAWS:
        raise ValueError(f"unknown L7 level {level!r} (choose layer, kernel or fisher)")
    ctx = CheckContext(profile=profile, seed=seed, rng=np.random.default_rng(seed))
    pairs = _DRAWS[level](ctx)
    for ff, lo, _ in pairs:
        ff.setflags(write=False)
        lo.setflags(write=False)
    return tuple(pairs)


#: Checks that read the same shared pairs (:func:`_shared_pairs`): a parallel run keeps them in one
#: worker (:mod:`lora_theorems.runner`), so each level's pairs are drawn once per run.
RUN_TOGETHER = (
    tuple(f"{form}_{level}" for form in ("ib_log_pdet", "ib_trace", "renyi_all_alpha", "renyi_normalized", "h_inf_max")
          for level in ("layer", "kernel", "fisher")) + ("loewner_monotone_networks", "log_pdet_equal_rank"),
)


def _well_separated(lam) -> bool:
    """Every eigenvalue is either clearly zero (< 1e-12 max: eigensolver noise is ~ size eps max) or clearly
    positive (> 1e-6 max), so the positive part, and with it each reading, is not decided by rounding."""
    import numpy as np

    lam = np.abs(np.asarray(lam, dtype=float))
    top = lam.max() if lam.size else 0.0
    return bool(top > 0 and not ((lam > 1e-12 * top) & (lam < 1e-6 * top)).any())


def _readings(pairs) -> list:
    """The readings (``all_readings``) of both spectra of each pair, ``None`` for a pair whose numerical rank
    is ambiguous (no decision is drawn from it): computed once per check and shared by its comparisons."""
    from lora_theorems.numerics.paper_l.information import ALPHAS, all_readings

    return [(all_readings(ff, ALPHAS, _RTOL), all_readings(lo, ALPHAS, _RTOL)) if _well_separated(ff) and _well_separated(lo)
            else None for ff, lo, _ in pairs]


def _compare(pairs, keys_of, direction: str = "ff>=lora", readings: list | None = None):
    """Worst violation of `reading(ff) >= reading(lora)` over pairs (or the reverse direction);
    ``readings``: the pairs' :func:`_readings`, when the check has them already."""
    worst, counts = Worst(), dict[str, list[int]]()
    for (ff, lo, meta), ab in zip(pairs, _readings(pairs) if readings is None else readings, strict=True):
        if ab is None:
            continue  # numerical rank ambiguous: no decision drawn from this pair
        a, b = ab
        for key in keys_of(list(a)):
            if a[key] == b[key]:  # equal, infinities included: the order holds
                gap = 0.0
            else:
                gap = (b[key] - a[key]) if direction == "ff>=lora" else (a[key] - b[key])
            # an infinite gap decides by its sign; a NaN reading is the worst case, never agreement
            viol = gap if not math.isfinite(gap) else gap - _CMP_RTOL * (1 + abs(a[key]) + abs(b[key]))
            counts.setdefault(key, [0, 0])
            counts[key][1] += 1
            if not viol <= 0:
                counts[key][0] += 1
            worst.see(viol, (key, a[key], b[key], ff, lo, meta))
    return worst.badness, worst.witness, counts


def _holds(worst: float, counts: dict[str, list[int]]) -> bool | None:
    """The decision of a comparison sweep: ``None`` when no pair could be compared (a sweep that saw
    nothing decides nothing), else whether every violation is <= 0 (NaN fails)."""
    if not any(n for _, n in counts.values()):
        return None
    return bool(worst <= 0)


#: The summary of a comparison sweep that could compare no pair (:func:`_holds` is ``None``).
_NOTHING_COMPARED = "undecided: no pair had a clear numerical rank, so nothing was compared"


def _mp_verify(key: str, ff, lo) -> tuple[str, str]:
    """Re-evaluate one reading on the two spectra (positive parts) in mpmath at 50 digits."""
    import mpmath
    import numpy as np

    def pos(x):
        x = np.asarray(x, dtype=float)
        return [mpmath.mpf(float(v)) for v in x[x > _RTOL * max(abs(x).max(), 0.0)]]

    def val(lam):
        if key == "ib:log-pdet":
            return sum(mpmath.log(v) for v in lam) / 2
        if key == "ib:trace":
            return sum(lam) / 2
        if key == "h-inf:max":
            return max(lam)
        sp, a = key[2:-1].split(",")
        if sp == "normalized":
            s = sum(lam)
            lam = [v / s for v in lam]
        a = mpmath.inf if a == "inf" else mpmath.mpf(a)
        if a == 0:
            return mpmath.log(len(lam))
        if a == 1:
            return -sum(v * mpmath.log(v) for v in lam)
        if a == mpmath.inf:
            return -mpmath.log(max(lam))
        return mpmath.log(sum(v**a for v in lam)) / (1 - a)

    with mpmath.workdps(50):
        return mpmath.nstr(val(pos(ff)), 20), mpmath.nstr(val(pos(lo)), 20)


def _reading_outcome(ctx: CheckContext, form: str, level: str) -> Outcome:
    import numpy as np

    pairs = _PAIRS[level](ctx)
    readings = _readings(pairs)
    worst, w, counts = _compare(pairs, _READINGS[form], readings=readings)

    def counterexample() -> dict:
        key, fv, lv, ff, lo, meta = w
        mp_ff, mp_lo = _mp_verify(key, ff, lo)
        ce = {"level": level, "reading": key, "value_ff": fv, "value_lora": lv, "mp50_ff": mp_ff, "mp50_lora": mp_lo,
              "eigenvalues_ff": np.asarray(ff).tolist(), "eigenvalues_lora": np.asarray(lo).tolist(), **meta}
        # the smallest violating case (fewest eigenvalues) is the more readable witness
        small = min((p for p, r in zip(pairs, readings, strict=True) if not _compare([p], lambda ks, k=key: [k], readings=[r])[0] <= 0),
                    key=lambda p: len(p[0]))
        ce["smallest_case"] = {"eigenvalues_ff": np.asarray(small[0]).tolist(), "eigenvalues_lora": np.asarray(small[1]).tolist(),
                               **{k: v for k, v in small[2].items() if k in ("n", "r", "A", "X", "activation", "adapted_layers")}}
        return ce

    rows = tuple((k, v[0], v[1]) for k, v in sorted(counts.items()))
    tested = sum(r is not None for r in readings)
    in_region = sum(bool(meta.get("breaking_region")) for _, _, meta in pairs)
    return decide(
        _holds(worst, counts),
        undecided=_NOTHING_COMPARED,
        holds=lambda: f"{level}: holds on all {tested} pairs with a clear numerical rank "
        f"({len(pairs) - tested} of {len(pairs)} set aside) for {', '.join(sorted(counts))}",
        fails=lambda: f"{level}: {w[0]} of LoRA exceeds FF's ({w[2]:.4g} > {w[1]:.4g}); violations: "
        + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(counts.items()) if v[0]),
        counterexample=counterexample,
        params={"pairs": len(pairs), "pairs_tested": tested, "breaking_region_pairs": in_region,
                "comparison_rtol": _CMP_RTOL, "positive_cut_rtol": _RTOL},
        region={"level": level},
        worst_margin=-worst,
        tables=(Table(title=f"{form} at the {level} level: violations / pairs", columns=("reading", "violations", "pairs"), rows=rows),),
    )


# One named check per (reading, level); each is "LoRA's value must not exceed FF's on every spectrum pair drawn
# within the hypothesis (M_Delta NSD)", violations re-evaluated in mpmath (_reading_outcome).

@check("ib-log-pdet", kind=EvidenceKind.NUMERIC)
def ib_log_pdet_layer(ctx: CheckContext) -> Outcome:
    """L7 as written, IB as half the log pseudo-determinant, at the layer level (spec A^T A against spec I_n): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "ib-log-pdet", "layer")


@check("ib-log-pdet", kind=EvidenceKind.NUMERIC)
def ib_log_pdet_kernel(ctx: CheckContext) -> Outcome:
    """L7 as written, IB as half the log pseudo-determinant, at the kernel level (empirical NTK Gram matrices): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "ib-log-pdet", "kernel")


@check("ib-log-pdet", kind=EvidenceKind.NUMERIC)
def ib_log_pdet_fisher(ctx: CheckContext) -> Outcome:
    """L7 as written, IB as half the log pseudo-determinant, at the Fisher level (materialized Fisher, MSE and CE): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "ib-log-pdet", "fisher")


@check("ib-trace", kind=EvidenceKind.NUMERIC)
def ib_trace_layer(ctx: CheckContext) -> Outcome:
    """L7 as written, IB as half the trace (eq. (6) as written), at the layer level (spec A^T A against spec I_n): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "ib-trace", "layer")


@check("ib-trace", kind=EvidenceKind.NUMERIC)
def ib_trace_kernel(ctx: CheckContext) -> Outcome:
    """L7 as written, IB as half the trace (eq. (6) as written), at the kernel level (empirical NTK Gram matrices): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "ib-trace", "kernel")


@check("ib-trace", kind=EvidenceKind.NUMERIC)
def ib_trace_fisher(ctx: CheckContext) -> Outcome:
    """L7 as written, IB as half the trace (eq. (6) as written), at the Fisher level (materialized Fisher, MSE and CE): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "ib-trace", "fisher")


@check("renyi-all-alpha", kind=EvidenceKind.NUMERIC)
def renyi_all_alpha_layer(ctx: CheckContext) -> Outcome:
    """L7 as written, raw H_alpha of eq. (7), every alpha on the grid, at the layer level (spec A^T A against spec I_n): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "renyi-all-alpha", "layer")


@check("renyi-all-alpha", kind=EvidenceKind.NUMERIC)
def renyi_all_alpha_kernel(ctx: CheckContext) -> Outcome:
    """L7 as written, raw H_alpha of eq. (7), every alpha on the grid, at the kernel level (empirical NTK Gram matrices): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "renyi-all-alpha", "kernel")


@check("renyi-all-alpha", kind=EvidenceKind.NUMERIC)
def renyi_all_alpha_fisher(ctx: CheckContext) -> Outcome:
    """L7 as written, raw H_alpha of eq. (7), every alpha on the grid, at the Fisher level (materialized Fisher, MSE and CE): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "renyi-all-alpha", "fisher")


@check("renyi-normalized", kind=EvidenceKind.NUMERIC)
def renyi_normalized_layer(ctx: CheckContext) -> Outcome:
    """L7 as written, normalized H_alpha, every alpha, at the layer level (spec A^T A against spec I_n): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "renyi-normalized", "layer")


@check("renyi-normalized", kind=EvidenceKind.NUMERIC)
def renyi_normalized_kernel(ctx: CheckContext) -> Outcome:
    """L7 as written, normalized H_alpha, every alpha, at the kernel level (empirical NTK Gram matrices): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "renyi-normalized", "kernel")


@check("renyi-normalized", kind=EvidenceKind.NUMERIC)
def renyi_normalized_fisher(ctx: CheckContext) -> Outcome:
    """L7 as written, normalized H_alpha, every alpha, at the Fisher level (materialized Fisher, MSE and CE): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "renyi-normalized", "fisher")


@check("h-inf-max", kind=EvidenceKind.NUMERIC)
def h_inf_max_layer(ctx: CheckContext) -> Outcome:
    """L7 as written, H_inf = max eigenvalue (as written), at the layer level (spec A^T A against spec I_n): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "h-inf-max", "layer")


@check("h-inf-max", kind=EvidenceKind.NUMERIC)
def h_inf_max_kernel(ctx: CheckContext) -> Outcome:
    """L7 as written, H_inf = max eigenvalue (as written), at the kernel level (empirical NTK Gram matrices): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "h-inf-max", "kernel")


@check("h-inf-max", kind=EvidenceKind.NUMERIC)
def h_inf_max_fisher(ctx: CheckContext) -> Outcome:
    """L7 as written, H_inf = max eigenvalue (as written), at the Fisher level (materialized Fisher, MSE and CE): LoRA <= FF on every pair."""
    return _reading_outcome(ctx, "h-inf-max", "fisher")


@check("variance-hypothesis", kind=EvidenceKind.NUMERIC)
def variance_hypothesis(ctx: CheckContext) -> Outcome:
    """L7 as written with the 'i.e.' hypothesis only (r <= n, sigma_a^2 <= 1/n, no NSD conditioning): the readings
    that hold under NSD (log-pdet, trace, max) are compared on random A; any violation is a counterexample."""
    import numpy as np

    pairs = []
    for n in ctx.pick((1, 2, 4, 16), (1, 2, 3, 4, 8, 16, 64)):
        for r in sorted({1, n}):
            for _ in range(ctx.pick(25, 200)):
                A = np.round(ctx.rng.standard_normal((r, n)) / math.sqrt(n), 4)  # sigma_a^2 = 1/n, the boundary allowed
                lam = np.r_[np.linalg.eigvalsh(A @ A.T), np.zeros(n - r)]
                pairs.append((np.ones(n), lam, {"n": n, "r": r, "sigma_a2": 1.0 / n, "A": A.tolist()}))
    keys = _keys("ib:log-pdet", "ib:trace", "h-inf:max")
    readings = _readings(pairs)
    worst, _, counts = _compare(pairs, keys, readings=readings)

    def counterexample() -> dict:
        small, r = min(((p, r) for p, r in zip(pairs, readings, strict=True) if not _compare([p], keys, readings=[r])[0] <= 0),
                       key=lambda pr: len(pr[0][0]))
        _, sww, _ = _compare([small], keys, readings=[r])
        return {"reading": sww[0], "value_ff": sww[1], "value_lora": sww[2], "eigenvalues_lora": small[1].tolist(), **small[2],
                "mp50": _mp_verify(sww[0], small[0], small[1])}

    return decide(
        _holds(worst, counts),
        undecided=_NOTHING_COMPARED,
        holds="no violation",
        fails=lambda: "violations under sigma_a^2 <= 1/n: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(counts.items())),
        counterexample=counterexample,
        region={"sigma_a2": "1/n", "r": "1, n"},
        worst_margin=-worst,
    )


def _loewner_pairs(ctx: CheckContext, equal_rank: bool = False):
    """Random pairs K_L <= K_F of PSD matrices of varied size, rank and scale."""
    import numpy as np

    out = []
    for _ in range(ctx.pick(150, 2000)):
        m = int(ctx.rng.integers(1, 7))
        rf = int(ctx.rng.integers(1, m + 1))
        G = ctx.rng.standard_normal((m, rf))
        Kf = G @ G.T * 10 ** ctx.rng.uniform(-3, 3)
        Q, _ = np.linalg.qr(ctx.rng.standard_normal((m, m)))
        c = ctx.rng.uniform(0, 1, m)
        if not equal_rank:
            c[ctx.rng.random(m) < 0.3] = 0.0
        C = (Q * c) @ Q.T
        w, V = np.linalg.eigh(Kf)
        R = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
        Kl = R @ C @ R
        out.append((np.linalg.eigvalsh(Kf), np.linalg.eigvalsh(Kl), {"m": m}))
    return out


#: Readings the Loewner order makes smaller for LoRA: trace, max, H_0 and the raw H_alpha with alpha < 1.
_MONO = _keys("ib:trace", "h-inf:max", prefix="H[raw,0")


def _REVERSED(keys: list[str]) -> list[str]:
    """Raw H_alpha with alpha > 1, which the Loewner order makes larger for LoRA (the reversed direction)."""
    return [k for k in keys if k.startswith("H[raw,") and k != "H[raw,1]" and not k.startswith("H[raw,0")]


def _monotone_outcome(pairs, what: str) -> Outcome:
    readings = _readings(pairs)
    w1, x1, c1 = _compare(pairs, _MONO, "ff>=lora", readings)
    w2, x2, c2 = _compare(pairs, _REVERSED, "ff<=lora", readings)
    first = math.isnan(w1) or (not math.isnan(w2) and w1 >= w2)  # NaN is the worst case
    worst, bad = (w1, x1) if first else (w2, x2)
    return decide(
        _holds(worst, {**{"mono:" + k: v for k, v in c1.items()}, **{"rev:" + k: v for k, v in c2.items()}}),
        undecided=_NOTHING_COMPARED,
        holds=f"{what}: trace, max, H_0 and raw H_alpha (alpha<1) ordered FF >= LoRA, raw H_alpha (alpha>1) reversed, on all {len(pairs)} pairs",
        fails=lambda: f"{what}: {bad[0]} breaks the corrected ordering",
        counterexample=lambda: {"reading": bad[0], "ff": bad[1], "lora": bad[2],
                                "eigenvalues_ff": list(map(float, bad[3])), "eigenvalues_lora": list(map(float, bad[4]))},
        params={"pairs": len(pairs)},
        worst_margin=-worst,
    )


@check("corrected-loewner-monotone", kind=EvidenceKind.NUMERIC)
def loewner_monotone_random(ctx: CheckContext) -> Outcome:
    """Corrected L7 on random Loewner pairs K_L <= K_F (sizes 1-6, any rank, scales 1e-3..1e3)."""
    return _monotone_outcome(_loewner_pairs(ctx), "random Loewner pairs")


@check("corrected-loewner-monotone", kind=EvidenceKind.NUMERIC)
def loewner_monotone_networks(ctx: CheckContext) -> Outcome:
    """Corrected L7 on the layer, kernel (NTK Gram) and Fisher spectra of networks with NSD adapters, B = 0;
    the Loewner order K_LoRA <= K_ff itself is checked on every kernel pair."""
    pairs = [*_layer_pairs(ctx), *_kernel_pairs(ctx), *_fisher_pairs(ctx)]
    out = _monotone_outcome(pairs, "layer + kernel + Fisher")
    gaps = [p[2]["loewner_gap_min_eig"] / max(1.0, max(abs(p[0]))) for p in pairs if "loewner_gap_min_eig" in p[2]]
    if min(gaps) < -1e-12:  # K_ff - K_LoRA must be PSD up to eigensolver noise (~N eps)
        return Outcome(passed=False, summary=f"K_ff - K_LoRA has eigenvalue {min(gaps):.3g} < 0",
                       counterexample={"min_relative_eig_of_Kff_minus_Klora": min(gaps)})
    return out


@check("corrected-log-pdet-equal-rank", kind=EvidenceKind.NUMERIC)
def log_pdet_equal_rank(ctx: CheckContext) -> Outcome:
    """Corrected L7 (log pseudo-determinant): holds on Loewner pairs of equal rank, and on pairs whose FF
    positive eigenvalues are all >= 1 (random pairs, network kernel and Fisher pairs meeting the condition)."""

    pairs = _loewner_pairs(ctx, equal_rank=True)
    other = [*_loewner_pairs(ctx), *_kernel_pairs(ctx), *_fisher_pairs(ctx)]
    for ff, lo, _meta in other:
        pf = ff[ff > _RTOL * abs(ff).max()]
        pl = lo[lo > _RTOL * max(abs(lo).max(), 1e-300)]
        if len(pf) == len(pl) or pf.min() >= 1.0:
            pairs.append((ff, lo, {}))
        else:
            pairs.append((ff * (1.0 / pf.min()), lo * (1.0 / pf.min()), {}))  # rescaled so the condition holds
    worst, w, counts = _compare(pairs, _READINGS["ib-log-pdet"])
    return decide(
        _holds(worst, counts),
        undecided=_NOTHING_COMPARED,
        holds=f"log-pdet ordered FF >= LoRA on all {len(pairs)} pairs meeting the condition",
        fails=lambda: f"log-pdet of LoRA exceeds FF's ({w[2]:.4g} > {w[1]:.4g}) on a pair meeting the condition",
        counterexample=lambda: {"eigenvalues_ff": list(map(float, w[3])), "eigenvalues_lora": list(map(float, w[4]))},
        params={"pairs": len(pairs)},
        worst_margin=-worst,
    )


@check("corrected-normalized-layer", kind=EvidenceKind.NUMERIC)
def normalized_layer(ctx: CheckContext) -> Outcome:
    """Corrected L7: normalized Renyi entropies of spec(A^T A) never exceed log n = H_alpha(spec I_n), for A of
    any variance (sigma_a^2 n from 0.1 to 10), every r <= n and every alpha on the grid."""
    import numpy as np

    pairs = []
    for n in ctx.pick((1, 2, 3, 8, 32), (1, 2, 3, 4, 8, 16, 32, 128)):
        for r in sorted({1, max(1, n // 2), n}):
            for c in (0.1, 1.0, 10.0):
                A = ctx.rng.standard_normal((r, n)) * math.sqrt(c / n)
                pairs.append((np.ones(n), np.r_[np.linalg.eigvalsh(A @ A.T), np.zeros(n - r)], {"n": n, "r": r}))
    worst, w, counts = _compare(pairs, _READINGS["renyi-normalized"])
    return decide(
        _holds(worst, counts),
        undecided=_NOTHING_COMPARED,
        holds=f"normalized H_alpha(A^T A) <= log n on all {len(pairs)} draws and alphas",
        fails=lambda: f"normalized {w[0]} of spec A^T A exceeds log n ({w[2]:.4g} > {w[1]:.4g})",
        counterexample=lambda: {"reading": w[0], "eigenvalues_lora": list(map(float, w[4]))},
        worst_margin=-worst,
    )


@check("renyi-all-alpha", kind=EvidenceKind.NUMERIC)
def figure3_heatmaps(ctx: CheckContext) -> Outcome:
    """L7, the paper's Figure 3 recomputed: each reading of IB and $H_\\alpha$ over rank x variance.

    Layer level, $n$ fixed: for every rank $r$ and $\\sigma_a^2 n$ on a grid, the mean over draws of
    (LoRA reading of $\\operatorname{spec}A^TA$) minus (FF reading of $\\operatorname{spec}I_n$).  The
    claim says this difference is $\\le 0$ wherever $\\sigma_a^2\\le 1/n$; positive cells are where a
    reading contradicts it.  Descriptive (``passed=None``): the decisive checks above decide.
    """
    import numpy as np

    from lora_theorems.ledger import Plot
    from lora_theorems.numerics.paper_l.information import all_readings
    from lora_theorems.numerics.paper_l.m_delta import gram_eigenvalues

    n = ctx.pick(32, 64)
    draws = ctx.pick(8, 32)
    ranks = tuple(sorted({1, 2, 4, 8, n // 4, n // 2, n}))
    scales = (0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)  # sigma_a^2 n; the hypothesis region is <= 1
    keys = {
        "ib:log-pdet": r"$IB$ as $\frac{1}{2}\log\,\mathrm{pdet}$",
        "ib:trace": r"$IB$ as $\frac{1}{2}\sum\lambda_i$",
        "H[raw,2]": r"$H_2$ of the raw spectrum",
        "H[normalized,2]": r"$H_2$ of the normalized spectrum",
    }
    ff = all_readings(np.ones(n))
    z: dict[str, list[tuple[float, ...]]] = {k: [] for k in keys}
    for r in ranks:
        row: dict[str, list[float]] = {k: [] for k in keys}
        for c in scales:
            A = ctx.rng.standard_normal((draws, r, n)) * math.sqrt(c / n)
            lam = gram_eigenvalues(A)
            vals = [all_readings(np.r_[lam[i], np.zeros(n - r)]) for i in range(draws)]
            for k in keys:
                row[k].append(float(np.mean([v[k] for v in vals])) - ff[k])
        for k in keys:
            z[k].append(tuple(row[k]))
    plots = tuple(
        Plot(
            key=f"figure3-{k.replace(':', '-').replace('[', '-').replace(']', '').replace(',', '-')}",
            title=f"L7 (Figure 3 recomputed): {label}, LoRA minus FF",
            xlabel=r"$\sigma_a^2 n$",
            ylabel="rank $r$",
            kind="heatmap",
            x=scales,
            y=tuple(float(r) for r in ranks),
            z=tuple(z[k]),
            zlabel="LoRA - FF (claim: $\\leq 0$ for $\\sigma_a^2 n \\leq 1$)",
            caption=f"Layer level, n = {n}, mean of {draws} draws of A per cell; positive cells contradict the claim.",
        )
        for k, label in keys.items()
    )
    inside = [j for j, c in enumerate(scales) if c <= 1.0]
    rows = tuple(
        (label, max(z[k][i][j] for i in range(len(ranks)) for j in inside)) for k, label in keys.items()
    )
    return Outcome(
        passed=None,
        summary=f"Figure 3 recomputed at n = {n} for {len(keys)} readings over {len(ranks)} ranks x {len(scales)} variances",
        params={"n": n, "draws_per_cell": draws},
        region={"rank": list(ranks), "sigma_a^2 n": list(scales)},
        tables=(Table(
            title="Largest mean LoRA - FF inside the hypothesis region (sigma_a^2 n <= 1)",
            columns=("reading", "max over cells"),
            rows=rows,
            caption="Positive: the reading ranks LoRA above FF somewhere the claim says it cannot.",
        ),),
        plots=plots,
    )

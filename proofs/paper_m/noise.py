"""Paper M (claims M1, M2): exact derivations in SymPy.

M1: the gradients of a generic loss with respect to ``B`` and ``A`` for ``W = W0 + B A``, the
effective update of ``W`` under LoRA-FA (A frozen), FLoRA (A resampled, BA merged) and plain
LoRA (both trained, with its extra first- and second-order terms), and the mean of the noise
along LoRA-FA training.

M2: mean, variance and covariance of ``N = G (A^T A - I)`` exactly, from Gaussian moment
identities (each expectation of a polynomial in the entries of ``A`` is computed monomial by
monomial from ``E x^(2k) = s^k (2k-1)!!``), as functions of ``r``, ``n``, the batch size ``b``
and ``G``.

Every step is a :class:`lora_theorems.ledger.Step` whose ``verified`` flag comes from an exact
SymPy simplification to zero (never typed in).
"""

from __future__ import annotations

import functools

import sympy as sp

from lora_theorems.ledger import Derivation, Step

__all__ = ["expect", "m1_derivation", "m2_derivation", "m1_zero_mean_failure"]

EXACT = "exact simplification"


def _mat(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def expect(expr: sp.Expr, variables, moments) -> sp.Expr:
    """``E[expr]`` for ``variables`` i.i.d. and symmetric, ``moments(p)`` = ``E x^p`` (p even).

    ``expr`` is a polynomial in ``variables`` (coefficients may be symbols); the expectation is
    taken monomial by monomial using independence.
    """
    poly = sp.Poly(sp.expand(expr), *variables)
    total = sp.Integer(0)
    for exps, coeff in poly.terms():
        term = coeff
        for p in exps:
            if p % 2:
                term = 0
                break
            if p:
                term *= moments(p)
        total += term
    return sp.expand(total)


def gaussian_moments(s):
    """``E x^p`` for ``x ~ N(0, s)``: ``s^(p/2) (p-1)!!`` (p even)."""
    return lambda p: s ** sp.Rational(p, 2) * sp.factorial2(p - 1)


def _is_zero(expr) -> bool:
    if isinstance(expr, sp.MatrixBase):
        return all(sp.simplify(e) == 0 for e in expr)
    return sp.simplify(expr) == 0


# ----------------------------------------------------------------------------- M1


@functools.cache
def m1_derivation(m: int = 2, n: int = 3, r: int = 2) -> Derivation:
    """M1: gradients and effective updates of LoRA-FA, FLoRA and plain LoRA (exact, generic loss)."""
    f = sp.Function("L")
    W0, B, A, w = _mat("w0", m, n), _mat("b", m, r), _mat("a", r, n), _mat("w", m, n)
    eta = sp.Symbol("eta", positive=True)
    loss = f(*w)
    sub = dict(zip(list(w), list(W0 + B * A), strict=True))
    loss_BA = loss.subs(sub)
    G = sp.Matrix(m, n, lambda i, j: sp.diff(loss, w[i, j]).subs(sub))
    dB = sp.Matrix(m, r, lambda k, l: sp.diff(loss_BA, B[k, l]))
    dA = sp.Matrix(r, n, lambda k, l: sp.diff(loss_BA, A[k, l]))
    steps = [
        Step("The adapted weight is the frozen weight plus a rank-r product.", r"W = W_0 + BA", "definition"),
        Step(
            f"Chain rule for a generic loss L(W) (undefined function of all {m*n} entries, m={m}, n={n}, r={r}).",
            r"\nabla_B \mathcal L = G A^\top,\quad G = \nabla_W\mathcal L",
            EXACT,
            _is_zero(dB - G * A.T),
        ),
        Step("Same for A.", r"\nabla_A \mathcal L = B^\top G", EXACT, _is_zero(dA - B.T * G)),
    ]
    Gs = _mat("g", m, n)
    I = sp.eye(n)
    dW_fa = (B - eta * Gs * A.T) * A - B * A
    steps.append(
        Step(
            "LoRA-FA (A frozen): one step on B moves W by -eta G A^T A.",
            r"\Delta W = (B - \eta G A^\top)A - BA = -\eta\,G A^\top A",
            EXACT,
            _is_zero(dW_fa + eta * Gs * A.T * A),
        )
    )
    steps.append(
        Step(
            "That is the full fine-tuning step plus the injected noise N.",
            r"-\eta G A^\top A = -\eta\,(G + N),\qquad N = G(A^\top A - I)",
            EXACT,
            _is_zero(-eta * Gs * A.T * A + eta * (Gs + Gs * (A.T * A - I))),
        )
    )
    s = sp.Symbol("s", positive=True)
    EP = (A.T * A).applyfunc(lambda e: expect(e, list(A), gaussian_moments(s)))
    steps.append(
        Step(
            "Gaussian moments with A_kj ~ N(0, 1/r): E[A^T A] = r s I = I, so E[N | G] = 0 when A is independent of G.",
            r"\mathbb E[A^\top A] = r\,s\,I \overset{s=1/r}{=} I",
            EXACT,
            _is_zero(EP - r * s * I),
        )
    )
    Wb = sp.Matrix(m, n, lambda i, j: sp.Symbol(f"wb_{i}{j}"))
    A2 = _mat("c", r, n)
    steps.append(
        Step(
            "FLoRA: merging BA into the base weight and restarting B at 0 with a fresh A leaves W unchanged, "
            "so the next steps are LoRA-FA steps with the new A.",
            r"W_{\text{base}} + BA = (W_{\text{base}} + BA) + 0\cdot A'",
            EXACT,
            _is_zero((Wb + B * A) - ((Wb + B * A) + sp.zeros(m, r) * A2)),
        )
    )
    dW_lora = (B - eta * Gs * A.T) * (A - eta * B.T * Gs) - B * A
    extra = -eta * B * B.T * Gs + eta**2 * Gs * A.T * B.T * Gs
    steps.append(
        Step(
            "Plain LoRA (both trained): the update has two extra terms, first and second order in eta; "
            "they vanish only while B = 0 (the first step).",
            r"\Delta W = -\eta G A^\top A - \eta\,B B^\top G + \eta^2\,G A^\top B^\top G",
            EXACT,
            _is_zero(dW_lora - (-eta * Gs * A.T * A + extra)),
        )
    )
    return Derivation(
        key="m1-updates",
        title="M1: LoRA-FA / FLoRA / LoRA updates as noisy full fine-tuning steps",
        steps=tuple(steps),
        conclusion=(
            "LoRA-FA and FLoRA steps are exactly full fine-tuning steps plus N = G(A^T A - I), whose "
            "mean is 0 when A is independent of G; plain LoRA adds -eta BB^T G + eta^2 G A^T B^T G."
        ),
    )


@functools.cache
def m1_zero_mean_failure(cases=((1, 1), (1, 2), (2, 2), (2, 3), (3, 2))) -> Derivation:
    """M1 along training: with A frozen the gradient at step 1 depends on A, and the noise is
    biased.  Quadratic loss ``L = ||W - W*||^2 / 2``: ``G_1 = G_0 (I - eta A^T A)``, so
    ``E N_1 = -eta G_0 (E[(A^T A)^2] - I) = -eta (n + 1)/r G_0``."""
    eta = sp.Symbol("eta", positive=True)
    steps = [
        Step(
            "Quadratic loss: the gradient after one LoRA-FA step is G_0 (I - eta A^T A).",
            r"G_1 = W_1 - W^\star = G_0 - \eta G_0 A^\top A = G_0 (I - \eta P),\quad P = A^\top A",
            "definition",
        )
    ]
    ok = True
    details = []
    for r, n in cases:
        A = _mat("a", r, n)
        P = A.T * A
        EP2 = (P * P).applyfunc(lambda e, A=A, r=r: expect(e, list(A), gaussian_moments(sp.Rational(1, r))))
        good = _is_zero(EP2 - (1 + sp.Rational(n + 1, r)) * sp.eye(n))
        ok &= good
        details.append(f"(r={r}, n={n}): {good}")
    steps.append(
        Step(
            "Wishart second moment, computed from Gaussian moments at several (r, n).",
            r"\mathbb E[(A^\top A)^2] = \left(1 + \tfrac{n+1}{r}\right) I",
            EXACT,
            ok,
            "; ".join(details),
        )
    )
    ok1 = True
    for r, n in cases[:3]:
        A = _mat("a", r, n)
        G0 = _mat("g", 1, n)
        P = A.T * A
        N1 = G0 * (sp.eye(n) - eta * P) * (P - sp.eye(n))
        EN1 = N1.applyfunc(lambda e, A=A, r=r: expect(e, list(A), gaussian_moments(sp.Rational(1, r))))
        ok1 &= _is_zero(EN1 + eta * sp.Rational(n + 1, r) * G0)
    steps.append(
        Step(
            "Hence the noise at step 1 has a non-zero mean, shrinking the update "
            "(smallest case r = n = m = 1: E[(1 - eta a^2)(a^2 - 1)] = -2 eta).",
            r"\mathbb E[N_1] = \mathbb E[G_0(I - \eta P)(P - I)] = -\eta\,\tfrac{n+1}{r}\,G_0 \neq 0",
            EXACT,
            ok1,
            "computed directly from Gaussian moments with symbolic G_0 at " + ", ".join(f"(r={r}, n={n})" for r, n in cases[:3]),
        )
    )
    return Derivation(
        key="m1-zero-mean-fails",
        title="M1: with A frozen, the noise is biased after the first step",
        steps=tuple(steps),
        conclusion="E[N_1] = -eta (n+1)/r G_0: the 'noise' of LoRA-FA is not zero-mean along training.",
    )


# ----------------------------------------------------------------------------- M2


@functools.cache
def m2_derivation(cases=((1, 2), (2, 2), (2, 3), (3, 2))) -> Derivation:
    """M2: mean, variance, covariance of N = G(A^T A - I) from Gaussian moment identities."""
    steps = [
        Step(
            "Coordinate (i, j) of the noise is a sum over the r rows a_k of A.",
            r"N_{ij} = \sum_{k=1}^r (g\cdot a_k)\,a_{kj} - g_j,\quad g = G_{i\cdot}",
            "definition",
        )
    ]
    m = 2
    mean_ok = var_ok = cov_ok = True
    for r, n in cases:
        A = _mat("a", r, n)
        G = _mat("g", m, n)
        mom = gaussian_moments(sp.Rational(1, r))
        N = G * (A.T * A - sp.eye(n))
        avars = list(A)
        mean_ok &= all(expect(e, avars, mom) == 0 for e in N)
        for i in range(m):
            for j in range(n):
                for k in range(m):
                    for l in range(n):
                        if (k, l) < (i, j):
                            continue
                        c = expect(N[i, j] * N[k, l], avars, mom)
                        want = ((G[i, :] * G[k, :].T)[0, 0] * (1 if j == l else 0) + G[i, l] * G[k, j]) / r
                        good = _is_zero(c - want)
                        cov_ok &= good
                        if (i, j) == (k, l):
                            var_ok &= good
    where = ", ".join(f"(r={r}, n={n})" for r, n in cases)
    steps += [
        Step("The noise has mean zero.", r"\mathbb E N = 0", EXACT, mean_ok, f"m=2, {where}, symbolic G"),
        Step(
            "Exact variance (Isserlis).",
            r"\operatorname{Var} N_{ij} = \frac{\|G_{i\cdot}\|^2 + G_{ij}^2}{r}",
            EXACT,
            var_ok,
            f"m=2, {where}, symbolic G",
        ),
        Step(
            "Exact covariance: not isotropic, and proportional to the gradient.",
            r"\operatorname{Cov}(N_{ij}, N_{kl}) = \frac{(GG^\top)_{ik}\,\delta_{jl} + G_{il}G_{kj}}{r}",
            EXACT,
            cov_ok,
            f"m=2, {where}, symbolic G",
        ),
    ]
    # general r: one summand with a ~ N(0, s I) (rows of A are i.i.d., so variances add over k)
    n = 3
    a = sp.Matrix(1, n, lambda i, j: sp.Symbol(f"x_{j}", real=True))
    g = sp.Matrix(1, n, lambda i, j: sp.Symbol(f"h_{j}", real=True))
    s, mu4, rr = sp.symbols("s mu4 r", positive=True)
    X = (g * a.T)[0, 0] * a[0, 0]
    EX = expect(X, list(a), gaussian_moments(s))
    VX = expect(X**2, list(a), gaussian_moments(s)) - EX**2
    gn2 = sum(h**2 for h in g)
    steps.append(
        Step(
            "For symbolic r: the r summands are i.i.d.; one summand with a ~ N(0, sI) has variance "
            "s^2(||g||^2 + g_j^2), so with s = 1/r the sum has variance (||g||^2 + g_j^2)/r.",
            r"\operatorname{Var} N_{ij} = r\,s^2(\|g\|^2 + g_j^2)\big|_{s=1/r} = \frac{\|g\|^2+g_j^2}{r}",
            EXACT,
            _is_zero(VX - s**2 * (gn2 + g[0] ** 2)) and _is_zero((rr * s**2 * (gn2 + g[0] ** 2)).subs(s, 1 / rr) - (gn2 + g[0] ** 2) / rr),
        )
    )
    gen = lambda p: {2: s, 4: mu4}.get(p, sp.Symbol(f"mu{p}"))  # noqa: E731
    VXg = expect(X**2, list(a), gen) - expect(X, list(a), gen) ** 2
    steps.append(
        Step(
            "Any symmetric i.i.d. init with variance s and fourth moment mu4: the mean is (rs - 1)G and the "
            "variance grows like r when s does not scale as 1/r (PEFT's Kaiming-uniform: s = 1/(3n)).",
            r"\mathbb E N = (rs-1)G,\quad \operatorname{Var}N_{ij} = r\left(s^2\|g\|^2 + (\mu_4 - 2s^2)g_j^2\right)",
            EXACT,
            _is_zero(VXg - (s**2 * gn2 + (mu4 - 2 * s**2) * g[0] ** 2)) and _is_zero(expect(X, list(a), gen) - s * g[0]),
        )
    )
    # the mean step normalised: N' = G(A^T A / (r s) - I) = (1/r) sum_k (G a_k a_k^T / s - G)
    kappa = sp.Symbol("kappa", positive=True)
    var_norm = (rr * VXg / (rr * s) ** 2).subs(mu4, kappa * s**2)
    want_norm = (gn2 + (kappa - 2) * g[0] ** 2) / rr
    steps.append(
        Step(
            "Normalise the mean step (divide the update by r s, as alpha/r scaling or any learning-rate "
            "choice that keeps E[step] = full fine-tuning step does): the noise G(A^T A/(rs) - I) has mean 0 "
            "and variance (||g||^2 + (kappa - 2) g_j^2)/r, kappa = mu4/s^2 the kurtosis of one entry of A; "
            "since kappa >= 1 the numerator is (||g||^2 - g_j^2) + (kappa - 1) g_j^2 >= 0, so the variance "
            "decreases in r for every i.i.d. init (constant only when it is 0: Rademacher A and a one-hot row).",
            r"\operatorname{Var}\Big[Gig(	frac{A^	op A}{rs} - Iig)\Big]_{ij} = rac{\|g\|^2 + (\kappa-2)g_j^2}{r},"
            r"\quad \partial_r = -rac{\|g\|^2 + (\kappa-2)g_j^2}{r^2}\le 0",
            EXACT,
            _is_zero(var_norm - want_norm)
            and _is_zero(sp.diff(want_norm, rr) + (gn2 + (kappa - 2) * g[0] ** 2) / rr**2)
            and _is_zero((gn2 + (kappa - 2) * g[0] ** 2) - ((gn2 - g[0] ** 2) + (kappa - 1) * g[0] ** 2)),
            "symbolic s, mu4 = kappa s^2, r; n = 3",
            name="normalized-any-init",
        )
    )
    b, mu, v = sp.symbols("b mu v", positive=True)
    second = (b * (v + mu**2) + b * (b - 1) * mu**2) / b**2
    steps.append(
        Step(
            "Batch size: for G the mean of b i.i.d. per-example gradients (mean mu, variance v per entry), "
            "E[G_ij^2] = mu^2 + v/b, so averaged over the data the noise variance is "
            "(||mu_i||^2 + mu_ij^2 + (tr Sigma_i + Sigma_i,jj)/b)/r.",
            r"\mathbb E\Big[\big(\tfrac1b\textstyle\sum_e x_e\big)^2\Big] = \mu^2 + \frac{v}{b}",
            EXACT,
            _is_zero(second - (mu**2 + v / b)),
        )
    )
    var_r = (gn2 + g[0] ** 2) / rr
    steps.append(
        Step(
            "Decreasing in r: the derivative is -(||g||^2 + g_j^2)/r^2, negative unless the row of G is 0.",
            r"\partial_r \operatorname{Var}N_{ij} = -\frac{\|g\|^2+g_j^2}{r^2} \le 0",
            EXACT,
            _is_zero(sp.diff(var_r, rr) + (gn2 + g[0] ** 2) / rr**2),
        )
    )
    return Derivation(
        key="m2-moments",
        title="M2: exact moments of the LoRA noise G(A^T A - I)",
        steps=tuple(steps),
        conclusion=(
            "E N = 0, Cov(vec N) = C(G)/r with C(G) = I (x) GG^T + commutation term; Var N_ij = "
            "(||G_i||^2 + G_ij^2)/r, E||N||_F^2 = (n+1)||G||_F^2/r: decreasing in r (Loewner order) "
            "because Var A_kj = 1/r; with an r-independent init variance it increases with r."
        ),
    )

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
check (never typed in): either the difference of the two sides expands to the zero polynomial
(``sympy.expand``; expansion is an identity, so ``0`` proves the equation), or both sides are
computed as elements of a polynomial ring ``QQ[...]`` (exact rational coefficients, a canonical
expanded form) and compared there.  Expectations are taken by linearity, monomial by monomial,
with the exact Gaussian moments.
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy.polys.rings import PolyElement, PolyRing

from lora_theorems.ledger import Derivation, Step

__all__ = ["expect", "m1_derivation", "m2_derivation", "m1_zero_mean_failure"]

#: the method of a step whose two sides differ by an expression that expands to 0
EXACT = "exact expansion"
#: the method of a step whose two sides are compared as exact polynomials over QQ
EXACT_POLY = "exact polynomial arithmetic"


def _mat(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def _ring(specs, extra=()):
    """A polynomial ring ``QQ[...]`` over the entries of the named matrices ``specs`` =
    ``[(name, rows, cols), ...]`` (the symbols of :func:`_mat`) and the ``extra`` symbols;
    returns the ring and each matrix as a nested list of its generators."""
    syms = [s for name, rows, cols in specs for s in _mat(name, rows, cols)] + list(extra)
    R = PolyRing(syms, sp.QQ)
    gens = iter(R.gens)
    mats = [[[next(gens) for _ in range(cols)] for _ in range(rows)] for _, rows, cols in specs]
    return R, mats


def _mm(X, Y):
    """Product of two matrices given as nested lists (of ring elements)."""
    return [[sum((X[i][k] * Y[k][j] for k in range(len(Y))), 0 * X[0][0]) for j in range(len(Y[0]))] for i in range(len(X))]


def _tr(X):
    return [list(col) for col in zip(*X, strict=True)]


def _add(X, Y, c=1):
    """``X + c Y`` (nested lists)."""
    return [[x + c * y for x, y in zip(rx, ry, strict=True)] for rx, ry in zip(X, Y, strict=True)]


def _scale(X, c):
    return [[c * x for x in row] for row in X]


def _eye(R, n, c=1):
    return [[R(c) if i == j else R.zero for j in range(n)] for i in range(n)]


def _expect_terms(terms, idx, moment):
    """Group the terms ``(monomial, coefficient)`` of a polynomial by the exponents of the
    variables at positions ``idx``: drop a group with an odd exponent (symmetric law), and
    return ``[(prod_i moment(e_i), {rest monomial: coefficient})]`` for the others, where
    ``rest`` has those exponents set to 0 (independence: E[x^e y^f] = E x^e E y^f)."""
    groups: dict = {}
    for monom, c in terms:
        ea = tuple(monom[i] for i in idx)
        if any(e & 1 for e in ea):
            continue
        rest = list(monom)
        for i in idx:
            rest[i] = 0
        g = groups.setdefault(ea, {})
        key = tuple(rest)
        g[key] = g.get(key, 0) + c
    out = []
    for ea, d in groups.items():
        f = 1
        for e in ea:
            if e:
                f = f * moment(e)
        out.append((f, d))
    return out


def _expect_ring(p: PolyElement, variables, moments) -> PolyElement:
    """``E[p]`` for ``p`` in a ring ``QQ[...]`` and ``variables`` (generators of that ring)
    i.i.d. and symmetric with ``moments(q)`` = ``E x^q`` (q even; a SymPy expression in the
    ring's other generators, e.g. a rational or ``3 s^2``): exact, by linearity."""
    R = p.ring
    idx = [R.gens.index(v) for v in variables]
    cache: dict = {}

    def moment(e):
        if e not in cache:
            cache[e] = R(moments(e))
        return cache[e]

    total = R.zero
    for f, d in _expect_terms(p.items(), idx, moment):
        total += R.from_dict(d) * f
    return total


def expect(expr: sp.Expr, variables, moments) -> sp.Expr:
    """``E[expr]`` for ``variables`` i.i.d. and symmetric, ``moments(p)`` = ``E x^p`` (p even).

    ``expr`` is a polynomial in ``variables`` (coefficients may be symbols); the expectation is
    taken monomial by monomial using independence.
    """
    variables = list(variables)
    poly = sp.Poly(sp.expand(expr), *variables)
    # every variable is averaged out: each group's rest monomial is 1
    total = sum((f * c for f, d in _expect_terms(poly.terms(), range(len(variables)), moments) for c in d.values()), sp.Integer(0))
    return sp.expand(total)


def gaussian_moments(s):
    """``E x^p`` for ``x ~ N(0, s)``: ``s^(p/2) (p-1)!!`` (p even)."""
    return lambda p: s ** sp.Rational(p, 2) * sp.factorial2(p - 1)


def _is_zero(expr) -> bool:
    """Exact: ``expr`` (scalar or Matrix) expands to the zero polynomial."""
    if isinstance(expr, sp.MatrixBase):
        return all(_is_zero(e) for e in expr)
    return sp.expand(expr) == 0


# ----------------------------------------------------------------------------- M1


def _loss_function(m: int, n: int):
    """A generic loss ``L`` of the ``m n`` entries of ``W`` (an undefined function) whose partial
    derivatives are the undefined functions ``L_ij``: the chain rule then gives
    ``sum_ij L_ij(W) dW_ij/dtheta`` directly (a bare ``Function("L")`` gives the same sum with each
    partial written ``Subs(Derivative(L(..., xi, ...), xi), xi, W_ij)``, costlier to build and expand)."""
    partials = [sp.Function(f"L_{i}{j}") for i in range(m) for j in range(n)]

    def fdiff(self, argindex=1):
        return partials[argindex - 1](*self.args)

    return type("L", (sp.Function,), {"fdiff": fdiff})


@functools.cache
def m1_derivation(m: int = 2, n: int = 3, r: int = 2) -> Derivation:
    """M1: gradients and effective updates of LoRA-FA, FLoRA and plain LoRA (exact, generic loss)."""
    f = _loss_function(m, n)
    W0, B, A, w = _mat("w0", m, n), _mat("b", m, r), _mat("a", r, n), _mat("w", m, n)
    W = W0 + B * A
    loss_BA = f(*W)
    sub = dict(zip(list(w), list(W), strict=True))
    G = sp.Matrix(m, n, lambda i, j: sp.diff(f(*w), w[i, j]).xreplace(sub))
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
    # the updates: polynomials in the entries of B, A, G (and a fresh A' = C, a base weight Wb), eta, s
    eta, s = sp.Symbol("eta", positive=True), sp.Symbol("s", positive=True)
    R, (B, A, Gs, A2, Wb) = _ring([("b", m, r), ("a", r, n), ("g", m, n), ("c", r, n), ("wb", m, n)], extra=(eta, s))
    e = R(eta)
    At = _tr(A)
    GAtA = _mm(_mm(Gs, At), A)
    I = _eye(R, n)
    dW_fa = _add(_mm(_add(B, _mm(Gs, At), -e), A), _mm(B, A), -1)
    steps.append(
        Step(
            "LoRA-FA (A frozen): one step on B moves W by -eta G A^T A.",
            r"\Delta W = (B - \eta G A^\top)A - BA = -\eta\,G A^\top A",
            EXACT_POLY,
            dW_fa == _scale(GAtA, -e),
        )
    )
    steps.append(
        Step(
            "That is the full fine-tuning step plus the injected noise N.",
            r"-\eta G A^\top A = -\eta\,(G + N),\qquad N = G(A^\top A - I)",
            EXACT_POLY,
            _scale(GAtA, -e) == _scale(_add(Gs, _mm(Gs, _add(_mm(At, A), I, -1))), -e),
        )
    )
    avars = [x for row in A for x in row]
    mom = gaussian_moments(s)
    EP = [[_expect_ring(x, avars, mom) for x in row] for row in _mm(At, A)]
    steps.append(
        Step(
            "Gaussian moments with A_kj ~ N(0, 1/r): E[A^T A] = r s I = I, so E[N | G] = 0 when A is independent of G.",
            r"\mathbb E[A^\top A] = r\,s\,I \overset{s=1/r}{=} I",
            EXACT_POLY,
            EP == _eye(R, n, r * s),
        )
    )
    merged = _add(Wb, _mm(B, A))
    steps.append(
        Step(
            "FLoRA: merging BA into the base weight and restarting B at 0 with a fresh A leaves W unchanged, "
            "so the next steps are LoRA-FA steps with the new A.",
            r"W_{\text{base}} + BA = (W_{\text{base}} + BA) + 0\cdot A'",
            EXACT_POLY,
            merged == _add(merged, _mm([[R.zero] * r for _ in range(m)], A2)),
        )
    )
    Bt = _tr(B)
    dW_lora = _add(_mm(_add(B, _mm(Gs, At), -e), _add(A, _mm(Bt, Gs), -e)), _mm(B, A), -1)
    extra = _add(_mm(_mm(B, Bt), Gs), _mm(_mm(_mm(Gs, At), Bt), Gs), -e)  # BB^T G - eta G A^T B^T G
    steps.append(
        Step(
            "Plain LoRA (both trained): the update has two extra terms, first and second order in eta; "
            "they vanish only while B = 0 (the first step).",
            r"\Delta W = -\eta G A^\top A - \eta\,B B^\top G + \eta^2\,G A^\top B^\top G",
            EXACT_POLY,
            dW_lora == _scale(_add(GAtA, extra), -e),
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
        R, (A,) = _ring([("a", r, n)])
        avars, mom = [x for row in A for x in row], gaussian_moments(sp.Rational(1, r))
        P = _mm(_tr(A), A)
        EP2 = [[_expect_ring(e, avars, mom) for e in row] for row in _mm(P, P)]
        good = EP2 == _eye(R, n, 1 + sp.Rational(n + 1, r))
        ok &= good
        details.append(f"(r={r}, n={n}): {good}")
    steps.append(
        Step(
            "Wishart second moment, computed from Gaussian moments at several (r, n).",
            r"\mathbb E[(A^\top A)^2] = \left(1 + \tfrac{n+1}{r}\right) I",
            EXACT_POLY,
            ok,
            "; ".join(details),
        )
    )
    ok1 = True
    for r, n in cases[:3]:
        R, (A, G0) = _ring([("a", r, n), ("g", 1, n)], extra=(eta,))
        avars, mom = [x for row in A for x in row], gaussian_moments(sp.Rational(1, r))
        P = _mm(_tr(A), A)
        N1 = _mm(_mm(G0, _add(_eye(R, n), P, -R(eta))), _add(P, _eye(R, n), -1))
        EN1 = [[_expect_ring(e, avars, mom) for e in row] for row in N1]
        ok1 &= EN1 == [[-R(eta * sp.Rational(n + 1, r)) * g for g in row] for row in G0]
    steps.append(
        Step(
            "Hence the noise at step 1 has a non-zero mean, shrinking the update "
            "(smallest case r = n = m = 1: E[(1 - eta a^2)(a^2 - 1)] = -2 eta).",
            r"\mathbb E[N_1] = \mathbb E[G_0(I - \eta P)(P - I)] = -\eta\,\tfrac{n+1}{r}\,G_0 \neq 0",
            EXACT_POLY,
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
        R, (A, G) = _ring([("a", r, n), ("g", m, n)])
        mom = gaussian_moments(sp.Rational(1, r))
        N = _mm(G, _add(_mm(_tr(A), A), _eye(R, n), -1))
        avars = [x for row in A for x in row]
        mean_ok &= all(not _expect_ring(e, avars, mom) for row in N for e in row)
        inv_r = R(sp.Rational(1, r))
        for i in range(m):
            for j in range(n):
                for k in range(m):
                    for l in range(n):
                        if (k, l) < (i, j):
                            continue
                        c = _expect_ring(N[i][j] * N[k][l], avars, mom)
                        want = (sum(G[i][q] * G[k][q] for q in range(n)) * (1 if j == l else 0) + G[i][l] * G[k][j]) * inv_r
                        good = c == want
                        cov_ok &= good
                        if (i, j) == (k, l):
                            var_ok &= good
    where = ", ".join(f"(r={r}, n={n})" for r, n in cases)
    steps += [
        Step("The noise has mean zero.", r"\mathbb E N = 0", EXACT_POLY, mean_ok, f"m=2, {where}, symbolic G"),
        Step(
            "Exact variance (Isserlis).",
            r"\operatorname{Var} N_{ij} = \frac{\|G_{i\cdot}\|^2 + G_{ij}^2}{r}",
            EXACT_POLY,
            var_ok,
            f"m=2, {where}, symbolic G",
        ),
        Step(
            "Exact covariance: not isotropic, and proportional to the gradient.",
            r"\operatorname{Cov}(N_{ij}, N_{kl}) = \frac{(GG^\top)_{ik}\,\delta_{jl} + G_{il}G_{kj}}{r}",
            EXACT_POLY,
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

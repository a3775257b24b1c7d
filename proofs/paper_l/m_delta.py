"""L4, L5 (exact parts): the eigen-structure of ``M_Delta = A^T A - I_n`` and its moments.

- Spectrum: ``det(lambda I_n - (A^T A - I_n)) = (lambda + 1)^(n-r) det((lambda + 1) I_r - A A^T)``
  (Sylvester), so the eigenvalues are ``s_i^2 - 1`` (``s_i`` the singular values of ``A``,
  ``i = 1..r``) and ``-1`` with multiplicity ``n - r``; ``M_Delta <= 0`` iff ``s_max(A) <= 1``.
  The poster's "r eigenvalues sigma_a^2 n and n - r eigenvalues 0" is (approximately) the
  spectrum of ``A^T A``, without the ``- I``.
- Moments for i.i.d. ``N(0, sigma^2)`` entries (what the statistical checks compare with):
  ``E[M] = (r sigma^2 - 1) I``, ``E||M||_F^2 = n r (n + 1) sigma^4 + n (r sigma^2 - 1)^2``,
  ``Var(u^T A^T A v) = r sigma^4 (|u|^2 |v|^2 + (u.v)^2)``.
"""

from __future__ import annotations

import functools

import sympy as sp

from lora_theorems.ledger import Derivation, Step

from .._steps import assumption, exact_step, exact_true_step, is_zero
from .ntk_recursion import gaussian_expectation

__all__ = [
    "spectrum_derivation",
    "moments_derivation",
    "stated_spectrum_counterexample",
    "SIZES",
]

#: (r, n) sizes at which the general identities are expanded exactly
SIZES = ((1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3))


def _A(r: int, n: int) -> sp.Matrix:
    return sp.Matrix(r, n, lambda i, j: sp.Symbol(f"a_{i}{j}", real=True))


@functools.cache
def spectrum_derivation() -> Derivation:
    """L4: characteristic polynomial of ``A^T A - I`` in terms of ``A A^T``, exactly, with
    symbolic entries at the sizes :data:`SIZES`; the NSD criterion; the stated spectrum."""
    lam = sp.Symbol("lambda")
    ok = True
    for r, n in SIZES:
        A = _A(r, n)
        lhs = (lam * sp.eye(n) - (A.T * A - sp.eye(n))).det(method="berkowitz")
        rhs = (lam + 1) ** (n - r) * ((lam + 1) * sp.eye(r) - A * A.T).det(method="berkowitz")
        ok = ok and is_zero(sp.expand(lhs - rhs))
    sizes = ", ".join(f"({r},{n})" for r, n in SIZES)
    steps: list[Step] = [
        assumption(
            "A is r x n with r <= n; its singular values are s_1 >= ... >= s_r >= 0, the eigenvalues of A A^T are s_i^2.",
            r"A\in\mathbb R^{r\times n},\ r\le n,\qquad \operatorname{spec}(AA^T) = \{s_1^2,\dots,s_r^2\}",
        ),
        exact_true_step(
            "Sylvester's determinant identity for the characteristic polynomial (symbolic entries).",
            r"\det\big(\lambda I_n - (A^TA - I_n)\big) = (\lambda+1)^{\,n-r}\,\det\big((\lambda+1)I_r - AA^T\big)",
            ok,
            detail=f"expanded exactly at (r, n) = {sizes}",
            name="sylvester",
        ),
        assumption(
            "Hence the eigenvalues of M_Delta, with multiplicities.",
            r"\operatorname{spec}(A^TA - I_n) = \{s_1^2 - 1,\dots,s_r^2 - 1\}\ \cup\ \{\underbrace{-1,\dots,-1}_{n-r}\}",
            detail="roots of the polynomial above",
        ),
        assumption(
            "So M_Delta is negative semi-definite exactly when the largest singular value of A is at most 1, "
            "whatever the variance of A; the eigenvalue 0 occurs only for s_i = 1.",
            r"A^TA - I\preceq 0\iff s_{\max}(A) = \|A\|_2\le 1",
        ),
    ]
    # the stated spectrum versus the exact one on a concrete A
    ce = stated_spectrum_counterexample()
    A = sp.Matrix(ce["A_exact"])
    ev_M = A.T * A - sp.eye(2)
    steps.append(
        exact_step(
            "Concrete A = [[1/2, 1/2]] (n = 2, r = 1, a draw compatible with sigma_a^2 = 1/4 < 1/n): the exact eigenvalues of M_Delta.",
            sp.Matrix(sorted(ev_M.eigenvals(multiple=True))),
            sp.Matrix([-1, -sp.Rational(1, 2)]),
            eq=r"\operatorname{spec}\Big(\begin{pmatrix}\tfrac14&\tfrac14\\ \tfrac14&\tfrac14\end{pmatrix} - I\Big) = \{-1, -\tfrac12\}"
            r"\ \ne\ \{\sigma_a^2 n, 0\} = \{\tfrac12, 0\}\ \text{(stated)}",
        )
    )
    steps.append(
        exact_step(
            "The stated values are those of A^T A itself: the '- I' was dropped.",
            sp.Matrix(sorted((A.T * A).eigenvals(multiple=True))),
            sp.Matrix([0, sp.Rational(1, 2)]),
            eq=r"\operatorname{spec}(A^TA) = \{0, \tfrac12\} = \{0,\ \sigma_a^2 n\}",
        )
    )
    steps.append(
        assumption(
            "The stated spectrum also contradicts the stated definiteness: r >= 1 eigenvalues sigma_a^2 n > 0 are incompatible with "
            "M_Delta <= 0, and the counts r + (n_l - r) = n_l use n_l where M_Delta is n_{l-1} x n_{l-1}.",
            r"\sigma_a^2 n > 0 \ \Rightarrow\ M_\Delta\not\preceq 0\ \text{if those were its eigenvalues}",
        )
    )
    return Derivation(
        key="L4-m-delta-spectrum",
        title="L4: the exact eigen-structure of M_Delta = A^T A - I",
        steps=tuple(steps),
        conclusion=(
            r"$M_\Delta$ has eigenvalues $s_i(A)^2 - 1$ ($r$ of them) and $-1$ ($n-r$ of them); it is negative "
            r"semi-definite iff $\|A\|_2\le1$. The statement's '$r$ eigenvalues $\sigma_a^2 n$ and $n_l-r$ "
            r"eigenvalues 0' describes (approximately, for $r\ll n$) $A^TA$, not $A^TA - I$; for $r<n$ the exact "
            r"spectrum has $n-r$ eigenvalues $-1$, not 0."
        ),
    )


def stated_spectrum_counterexample() -> dict:
    """Plain numbers (L4): ``A = [[0.5, 0.5]]``, spectrum of ``A^T A - I`` vs the stated one."""
    return {
        "n": 2,
        "r": 1,
        "sigma_a2": 0.25,
        "A": [[0.5, 0.5]],
        "A_exact": [[sp.Rational(1, 2), sp.Rational(1, 2)]],
        "eigenvalues_M_delta": [-1.0, -0.5],
        "stated_eigenvalues": [0.5, 0.0],
        "eigenvalues_AtA": [0.0, 0.5],
    }


@functools.cache
def moments_derivation() -> Derivation:
    """L4/L5: exact Gaussian moments of ``M_Delta`` for i.i.d. ``N(0, sigma^2)`` entries.

    Each identity is a polynomial identity in ``sigma`` and is expanded exactly (Isserlis /
    Gaussian moments) at the sizes :data:`SIZES`.
    """
    sig = sp.Symbol("sigma", positive=True)
    ok_mean = ok_fro = ok_var = True
    for r, n in SIZES:
        Z = _A(r, n)
        zs = tuple(Z)
        M = (sig * Z).T * (sig * Z) - sp.eye(n)
        EM = M.applyfunc(lambda e, zs=zs: gaussian_expectation(e, zs))
        ok_mean = ok_mean and is_zero(EM - (r * sig**2 - 1) * sp.eye(n))
        fro = sum(e**2 for e in M)
        ok_fro = ok_fro and is_zero(
            gaussian_expectation(fro, zs) - (n * r * (n + 1) * sig**4 + n * (r * sig**2 - 1) ** 2)
        )
        if n <= 2:
            u = sp.Matrix(sp.symbols(f"u0:{n}", real=True))
            v = sp.Matrix(sp.symbols(f"v0:{n}", real=True))
            q = ((sig * Z * u).T * (sig * Z * v))[0]
            var = gaussian_expectation(q**2, zs) - gaussian_expectation(q, zs) ** 2
            uu, vv, uv = (u.T * u)[0], (v.T * v)[0], (u.T * v)[0]
            ok_var = ok_var and is_zero(sp.expand(var - r * sig**4 * (uu * vv + uv**2)))
    sizes = ", ".join(f"({r},{n})" for r, n in SIZES)
    n_, r_ = sp.symbols("n r", positive=True, integer=True)
    steps: list[Step] = [
        assumption(
            "A has i.i.d. N(0, sigma^2) entries (A = sigma Z, Z standard Gaussian); expectations of polynomials in Z by Gaussian moments.",
            r"A = \sigma Z,\quad \mathbb E z^2 = 1,\ \mathbb E z^4 = 3",
        ),
        exact_true_step(
            "Mean of M_Delta: zero exactly when r sigma^2 = 1 (sigma_a^2 = 1/r, which is 1/n only for r = n).",
            r"\mathbb E[A^TA - I] = (r\sigma^2 - 1)\,I_n",
            ok_mean,
            detail=f"exact at (r, n) = {sizes}",
            name="mean",
        ),
        exact_true_step(
            "Mean squared Frobenius norm.",
            r"\mathbb E\|A^TA - I\|_F^2 = n\,r\,(n+1)\,\sigma^4 + n\,(r\sigma^2-1)^2",
            ok_fro,
            detail=f"exact at (r, n) = {sizes}",
            name="frobenius",
        ),
        exact_step(
            "At r = n, sigma^2 = 1/n (Corollary L5's setting) this is n + 1, so the mean squared operator norm is at "
            "least (n+1)/n > 1 for every n: M_Delta does not tend to 0 in mean square.",
            (n_ * r_ * (n_ + 1) / n_**2 + n_ * (r_ / n_ - 1) ** 2).subs(r_, n_) / n_,
            (n_ + 1) / n_,
            eq=r"\mathbb E\|M_\Delta\|_2^2\ \ge\ \tfrac1n\,\mathbb E\|M_\Delta\|_F^2 = \tfrac{n+1}{n}\quad(r = n,\ \sigma^2 = 1/n)",
            name="mean-square-floor",
        ),
        exact_true_step(
            "Variance of the bilinear form for fixed u, v (n <= 2 symbolic vectors).",
            r"\operatorname{Var}\big(u^TA^TAv\big) = r\sigma^4\big(\|u\|^2\|v\|^2 + (u\cdot v)^2\big)",
            ok_var,
            detail="exact at (r, n) with n <= 2 and symbolic u, v",
            name="bilinear-variance",
        ),
        exact_step(
            "For a fixed h (independent of A, as sigma(y^(l-1)) is) at r = n, sigma^2 = 1/n: the normalized kernel difference "
            "Delta_r(x,x)/||h||^2 has mean 0 and variance 2/n, so it tends to 0 in probability (Chebyshev).",
            (r_ * (1 / n_) ** 2 * 2).subs(r_, n_),
            2 / n_,
            eq=r"\mathbb E\frac{h^TM_\Delta h}{\|h\|^2} = 0,\qquad \operatorname{Var}\frac{h^TM_\Delta h}{\|h\|^2} = \frac{2}{n}\to0",
            name="kernel-variance",
        ),
    ]
    return Derivation(
        key="L4-L5-m-delta-moments",
        title="L4/L5: exact Gaussian moments of M_Delta (what the statistical checks compare with)",
        steps=tuple(steps),
        conclusion=(
            r"$\mathbb E[M_\Delta] = (r\sigma_a^2-1)I$; at $r=n$, $\sigma_a^2=1/n$ the mean vanishes and the "
            r"normalized diagonal kernel difference tends to 0 in probability, but $\mathbb E\|M_\Delta\|_2^2\ge1+1/n$: "
            r"$M_\Delta$ itself does not converge to 0."
        ),
    )

"""Derivations of paper H (claims H1, H2): exact identities behind the projection mechanism.

- H1: the alignment hypothesis ``rho > t / sqrt(r + t^2)`` is ``rho > K``; the ratio
  ``V^T M V' / V^T M V = rho + sqrt(1 - rho^2) (a.b) / ||a||^2`` (the Student-t variable of
  ``K``); the first term of ``delta_rho`` in closed form (high precision).
- H2: ``Delta^T M Delta = ||A Delta||^2`` (so ``M Delta = 0`` iff ``A Delta = 0``, a proper
  algebraic set of ``A`` when ``Delta != 0``); ``V^T M V`` is symmetric for every ``A`` while
  ``V^T M V' - V'^T M V`` is a non-zero polynomial in ``A`` for a generic pair.
"""

from __future__ import annotations

import functools

import mpmath
import sympy as sp

from lora_theorems.ledger import Derivation
from lora_theorems.proofs._steps import assumption, exact_step, exact_true_step, high_precision_step
from lora_theorems.proofs.paper_l.ntk_recursion import mp_ncdf

__all__ = ["h1_derivation", "h2_derivation"]


@functools.cache
def h1_derivation(points=((0.5, 1), (0.9, 2), (0.95, 4), (0.99, 8), (0.9, 16), (0.3, 32))) -> Derivation:
    """H1: the threshold as ``rho > K``, the Student-t ratio and the closed form
    ``E_{x~chi^2_r}[Phi(-rho sqrt(x)/sqrt(1-rho^2))] = F_{t_r}(-rho sqrt(r/(1-rho^2)))``."""
    rho, t, r, c = sp.symbols("rho t r c", positive=True)
    K = sp.sqrt((1 - rho**2) / r) * t
    steps = [
        assumption("Unit gradients with alignment rho; K as in Theorem 1", r"K = \sqrt{(1-\rho^2)/r}\; t_r(1-\delta')", name="K"),
        exact_step(
            "The threshold is rho > K: both sides' squares differ by a positive factor",
            rho**2 * (r + t**2) - t**2,
            r * (rho**2 - K**2),
            eq=r"\rho^2 (r + t^2) - t^2 = r(\rho^2 - K^2)",
            name="threshold",
        ),
    ]
    n = 3
    a = sp.Matrix(sp.symbols(f"a0:{n}", real=True))
    b = sp.Matrix(sp.symbols(f"b0:{n}", real=True))
    AV, AVp = a, rho * a + c * b  # A V' = rho A V + sqrt(1-rho^2) A u, c = sqrt(1-rho^2)
    steps.append(
        exact_step(
            "With a = AV, b = Au (u unit, orthogonal to V): the ratio is rho plus a Student-t term",
            (AV.T * AVp)[0] / (AV.T * AV)[0],
            rho + c * (a.T * b)[0] / (a.T * a)[0],
            eq=r"\frac{V^T M V'}{V^T M V} = \rho + \sqrt{1-\rho^2}\,\frac{a^Tb}{\|a\|^2} = \rho + \sqrt{\tfrac{1-\rho^2}{r}}\,T,\ T\sim t_r",
            name="ratio",
        )
    )
    pairs = []
    with mpmath.workdps(40):
        for rh, rr in points:
            rh_mp = mpmath.mpf(rh)
            cc = rh_mp / mpmath.sqrt(1 - rh_mp**2)
            k = mpmath.mpf(rr) / 2
            # the constants once, at the precision quad evaluates the integrand (20 bits above the working
            # one), and mp_ncdf for mpmath.ncdf: the same floats as evaluating everything at every node
            with mpmath.extraprec(20):
                ncc, km1, norm = -cc, k - 1, 2**k * mpmath.gamma(k)
            f = lambda x, ncc=ncc, km1=km1, norm=norm: mp_ncdf(ncc * mpmath.sqrt(x)) * x**km1 * mpmath.exp(-x / 2) / norm  # noqa: E731
            lhs = mpmath.quad(f, [0, 1, rr, 4 * rr + 40, mpmath.inf])
            # Student t CDF at -s: (1/2) I_{r/(r+s^2)}(r/2, 1/2)
            s2 = rh_mp**2 * rr / (1 - rh_mp**2)
            rhs = mpmath.betainc(k, mpmath.mpf(1) / 2, 0, rr / (rr + s2), regularized=True) / 2
            pairs.append((lhs, rhs))
    steps.append(
        high_precision_step(
            "First term of delta_rho in closed form: P(V^T M V' < 0) = P(T < -rho sqrt(r/(1-rho^2)))",
            r"\mathbb E_{x\sim\chi^2_r}\big[\Phi(-\rho\sqrt x/\sqrt{1-\rho^2})\big] = F_{t_r}\big(-\rho\sqrt{r/(1-\rho^2)}\big)",
            pairs,
            dps=40,
            digits=20,  # absolute agreement; every value here is >= 1e-9, mpmath quad at 40 digits reaches ~1e-23
            what=f"(rho, r) in {list(points)}",
            name="closed-form",
        )
    )
    return Derivation(
        key="h1-structure",
        title="H1: where t_r, K and delta_rho's first term come from",
        steps=tuple(steps),
        conclusion="t_r is Student's t quantile, rho > threshold iff rho > K, and delta_rho's first term is a Student-t CDF.",
    )


@functools.cache
def h2_derivation(d: int = 3, m: int = 2, r: int = 2) -> Derivation:
    """H2: ``Delta^T M Delta = (A Delta)^T (A Delta)``; ``V^T M V`` symmetric identically; the
    asymmetry ``V^T M V' - V'^T M V`` a non-zero polynomial for ``V = [e1, e2]``, ``V' = [e1, e3]``."""
    A = sp.Matrix(r, d, lambda i, j: sp.Symbol(f"A{i}{j}", real=True))
    M = A.T * A
    Dl = sp.Matrix(d, 1, lambda i, j: sp.Symbol(f"D{i}", real=True))
    V = sp.Matrix(d, m, lambda i, j: sp.Symbol(f"V{i}{j}", real=True))
    Ve = sp.eye(d)[:, :m]
    Vp = sp.Matrix.hstack(sp.eye(d)[:, 0], sp.eye(d)[:, 2]) if d >= 3 else sp.Matrix([[1, 0], [0, 2]])
    asym = sp.expand((Ve.T * M * Vp - Vp.T * M * Ve)[0, 1])
    steps = [
        assumption("M = A^T A with A r x d", r"M = A^TA", name="M"),
        exact_step("Delta^T M Delta = ||A Delta||^2, so M Delta = 0 iff A Delta = 0", (Dl.T * M * Dl)[0], ((A * Dl).T * (A * Dl))[0],
                   eq=r"\Delta^T M \Delta = \|A\Delta\|^2", name="collision"),
        exact_step("V^T M V is symmetric for every A", V.T * M * V, (V.T * M * V).T, eq=r"V^T M V = (V^T M V)^T", name="symmetric"),
        exact_true_step(
            "For V = [e1, e2], V' = [e1, e3] the asymmetry of V^T M V' is a non-zero polynomial in A",
            r"(V^T M V' - V'^T M V)_{12} = " + sp.latex(asym),
            asym != 0,
            detail="a non-zero polynomial vanishes on a Lebesgue-null set, so P(V^T M V' symmetric) = 0",
            name="asymmetric",
        ),
    ]
    return Derivation(
        key="h2-distinguisher",
        title="H2: no collisions, and an exact distinguisher for matrix queries",
        steps=tuple(steps),
        conclusion="P(MV = MV') = 0 for V != V'; the event {V^T Y symmetric} has probability 1 under V and 0 under V'.",
    )

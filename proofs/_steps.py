"""Small helpers that turn an equation into a checked :class:`~lora_theorems.ledger.Step`.

A step is verified either exactly (``sympy.simplify(lhs - rhs) == 0``, tried in a few
increasingly expensive ways) or, where SymPy cannot close it, at random points in high
precision with mpmath.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import mpmath
import sympy as sp

from lora_theorems.ledger import Step

__all__ = ["is_zero", "exact_step", "exact_true_step", "assumption", "high_precision_step", "latex"]


def latex(expr) -> str:
    """LaTeX of a SymPy expression (or a string passed through)."""
    return expr if isinstance(expr, str) else sp.latex(expr)


def is_zero(expr) -> bool:
    """True when ``expr`` (scalar or Matrix) simplifies exactly to zero."""
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e) for e in expr)
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    for f in (sp.expand, sp.cancel, sp.simplify, lambda e: sp.simplify(sp.expand_trig(sp.expand(e)))):
        try:
            if f(expr) == 0:
                return True
        except Exception:  # pragma: no cover - a SymPy routine gave up
            continue
    return False


def exact_step(text: str, lhs, rhs, *, eq: str | None = None, detail: str = "", name: str = "") -> Step:
    """A step ``lhs = rhs`` checked by exact simplification of ``lhs - rhs`` to zero."""
    ok = is_zero(sp.sympify(lhs) - sp.sympify(rhs)) if not isinstance(lhs, sp.MatrixBase) else is_zero(lhs - rhs)
    return Step(
        text=text,
        latex=eq if eq is not None else f"{latex(lhs)} = {latex(rhs)}",
        method="exact simplification",
        verified=bool(ok),
        detail=detail,
        name=name,
    )


def exact_true_step(text: str, eq: str, ok: bool, detail: str = "", name: str = "") -> Step:
    """A step whose exact check (done by the caller, e.g. a list of exact comparisons) gave ``ok``."""
    return Step(text=text, latex=eq, method="exact simplification", verified=bool(ok), detail=detail, name=name)


def assumption(text: str, eq: str, detail: str = "", name: str = "") -> Step:
    """A definition or an assumption: stated, not proved (``verified=None``)."""
    return Step(text=text, latex=eq, method="definition", verified=None, detail=detail, name=name)


def high_precision_step(
    text: str,
    eq: str,
    pairs: Iterable[tuple[mpmath.mpf, mpmath.mpf]],
    *,
    dps: int,
    digits: int,
    what: str = "",
    name: str = "",
) -> Step:
    """A step checked at random points: each ``(lhs, rhs)`` must agree to ``digits`` digits.

    ``pairs`` are computed by the caller at ``dps`` decimal digits; agreement means
    ``|lhs - rhs| <= 10**-digits * max(1, |rhs|)``.
    """
    pairs = list(pairs)
    tol = mpmath.mpf(10) ** (-digits)
    worst = max((abs(l - r) / max(1, abs(r)) for l, r in pairs), default=mpmath.mpf(0))
    ok = bool(pairs) and worst <= tol
    return Step(
        text=text,
        latex=eq,
        method=f"high precision at {len(pairs)} random points",
        verified=ok,
        detail=(f"{what}; " if what else "")
        + f"mpmath at {dps} digits, worst relative difference {mpmath.nstr(worst, 3)} (need <= 1e-{digits})",
        name=name,
    )


def all_exact(checks: Iterable[Callable[[], bool]]) -> bool:
    """True when every thunk returns True (evaluated lazily, stopping at the first False)."""
    return all(c() for c in checks)

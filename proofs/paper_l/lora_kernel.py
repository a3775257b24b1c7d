"""L2, L3: the LoRA layer ``W0 + B A``, its gradients, the LoRA kernel and ``Delta_r``.

Notation.  Layer ``l`` maps ``h = phi(y^(l-1))`` (width ``n``) to ``y^(l) = W h`` (width
``m``); LoRA trains ``A`` (``r x n``) and ``B`` (``m x r``) with ``W = W0 + B A`` and ``W0``
frozen; ``delta = dF/dy^(l)`` is the back-propagated vector of a scalar output ``F``.  The
NTK contribution of a parameter block ``P`` is ``<dF(x)/dP, dF(x')/dP>`` (Frobenius).

Exact results (derived here, any width):

- ``dF/dW = delta h^T``, ``dF/dB = delta (A h)^T``, ``dF/dA = B^T delta h^T``; at ``B = 0``
  the gradient with respect to ``A`` vanishes.
- contributions: FF ``(delta.delta') (h.h')``; LoRA ``(delta.delta') h^T A^T A h'
  + (delta^T B B^T delta') (h.h')``.
- one-layer difference, at the output of layer ``l`` (``delta = e_k``):
  ``K_LoRA^(l) - K_ff^(l) = I_m (x) h^T (A^T A - I) h'`` at ``B = 0`` (eq. 11), plus
  ``B B^T (h.h')`` when ``B != 0``;
- at the output of a deeper network: the difference carries the factor ``delta.delta'``.

The explicit small networks use symbolic weights and a generic activation ``phi``; the
NTK parameterization's ``1/sqrt(n)`` factors are omitted (the poster's convention: eq. (9)
sums over neurons without normalization); they multiply FF and LoRA terms alike.
"""

from __future__ import annotations

import functools

import sympy as sp

from lora_theorems.ledger import Derivation, Step

from .._steps import assumption, exact_step, exact_true_step, is_zero

__all__ = [
    "lora_gradient_derivation",
    "lora_kernel_derivation",
    "lora_difference_derivation",
    "base_case_counterexample",
    "hidden_layer_counterexample",
]

_dphi = sp.Function("phidot")


def _phi_fdiff(self, argindex=1):
    """phi'(z) = phidot(z): the chain rule then yields ``phidot(y) dy/dtheta`` directly, where a bare
    ``Function("phi")`` gives ``Subs(Derivative(phi(xi), xi), xi, y)`` that must be walked and
    replaced after expansion (ntk_recursion._phi_derivatives_to; three times the cost here)."""
    return _dphi(self.args[0])


#: the generic activation phi (printed ``phi``), differentiated to ``phidot``
_phi = type("phi", (sp.Function,), {"fdiff": _phi_fdiff})


def _mat(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def _vec(name: str, n: int) -> sp.Matrix:
    return sp.Matrix([sp.Symbol(f"{name}_{i}", real=True) for i in range(n)])


def _ntk(outs, outs_p, params, at=None):
    """Gram matrix of the gradients of ``outs`` (at x) and ``outs_p`` (at x') over ``params``,
    evaluated at the substitution ``at`` (symbols -> values, e.g. ``B = 0``) after differentiating.

    ``at`` is applied to the two gradient matrices before their product (substitution commutes
    with sums and products), which keeps the product and its expansion small; entries are expanded
    at the top level only (not inside ``phi``/``phidot`` arguments; the steps' exact check,
    ``is_zero``, expands fully when it needs to).
    """
    G = sp.Matrix([[sp.diff(o, p) for p in params] for o in outs])
    Gp = sp.Matrix([[sp.diff(o, p) for p in params] for o in outs_p])
    if at:
        G, Gp = G.xreplace(at), Gp.xreplace(at)
    return (G * Gp.T).applyfunc(lambda e: sp.expand(e, deep=False))


def _head(m: int):
    """A generic scalar head ``G`` of ``m`` arguments (an undefined function) whose partial
    derivatives are the undefined functions ``G_k``: the chain rule then gives
    ``sum_k G_k(y) dy_k/dtheta`` directly (a bare ``Function("G")`` writes each partial as
    ``Subs(Derivative(G(..., xi, ...), xi), xi, y_k)``, costlier to build and expand)."""
    partials = [sp.Function(f"G_{k}") for k in range(m)]

    def fdiff(self, argindex=1):
        return partials[argindex - 1](*self.args)

    return type("G", (sp.Function,), {"fdiff": fdiff})


class _RingMatrix:
    """A small explicit matrix with entries in a polynomial ring ``QQ[...]`` (exact, expanded):
    ``*`` (matrix product, or a ring scalar), ``+``, ``.T`` and flat ``[i]`` as for SymPy matrices."""

    def __init__(self, rows):
        self.rows = rows

    @property
    def T(self):
        return _RingMatrix([list(c) for c in zip(*self.rows, strict=True)])

    def __getitem__(self, i):
        return self.rows[i // len(self.rows[0])][i % len(self.rows[0])]

    def __add__(self, other):
        return _RingMatrix([[a + b for a, b in zip(ra, rb, strict=True)] for ra, rb in zip(self.rows, other.rows, strict=True)])

    def __mul__(self, other):
        if not isinstance(other, _RingMatrix):
            return _RingMatrix([[other * a for a in row] for row in self.rows])
        cols = list(zip(*other.rows, strict=True))
        if len(self.rows[0]) != len(cols[0]):
            raise ValueError("shape mismatch")
        return _RingMatrix([[sum((a * b for a, b in zip(row, col, strict=True)), 0 * row[0]) for col in cols] for row in self.rows])

    __rmul__ = __mul__

    def trace(self):
        return sum((self.rows[i][i] for i in range(len(self.rows))), 0 * self.rows[0][0])


def _ring_matrices(specs):
    """Explicit matrices ``[(name, rows, cols), ...]`` whose entries are the generators of one
    polynomial ring ``QQ[...]``."""
    from sympy.polys.rings import PolyRing

    R = PolyRing([f"{name}_{i}{j}" for name, rows, cols in specs for i in range(rows) for j in range(cols)], sp.QQ)
    gens = iter(R.gens)
    return [_RingMatrix([[next(gens) for _ in range(cols)] for _ in range(rows)]) for _, rows, cols in specs]


def _evaluate(expr, env):
    """Exact value of a matrix expression (Trace, MatMul, MatAdd, Transpose of MatrixSymbols, scalar
    factors) at the explicit matrices ``env`` (MatrixSymbol -> _RingMatrix); a 1 x 1 result is its entry."""
    if isinstance(expr, sp.MatrixSymbol):
        return env[expr]
    if isinstance(expr, sp.Trace):
        return _evaluate(expr.arg, env).trace()
    if isinstance(expr, sp.Transpose):
        return _evaluate(expr.arg, env).T
    if isinstance(expr, sp.MatMul):
        parts = [_evaluate(a, env) if isinstance(a, sp.MatrixExpr) else a for a in expr.args]
        scalars = [p for p in parts if not isinstance(p, _RingMatrix)]
        out = functools.reduce(lambda X, Y: X * Y, [p for p in parts if isinstance(p, _RingMatrix)])
        for c in scalars:
            out = out * out.rows[0][0].ring(c)  # exact: a rational (or a ring element) factor
        return out
    if isinstance(expr, sp.MatAdd):
        return functools.reduce(lambda X, Y: X + Y, [_evaluate(a, env) for a in expr.args])
    raise TypeError(f"cannot evaluate {type(expr).__name__}")


# ----------------------------------------------------------------------------- gradients


@functools.cache
def lora_gradient_derivation() -> Derivation:
    """L2: gradients of a LoRA layer and their NTK contributions (explicit and matrix symbols).

    Explicit: ``m = 2`` outputs, ``n = 3`` inputs, rank ``r = 2``, symbolic entries and a
    generic scalar head ``F = G(y)``; general: SymPy matrix calculus on ``MatrixSymbol`` s
    of symbolic shapes, with the trace identities confirmed exactly at several sizes.
    """
    m, n, r = 2, 3, 2
    W0, A, B = _mat("W0", m, n), _mat("A", r, n), _mat("B", m, r)
    h = _vec("h", n)
    G = _head(m)
    Ys = sp.symbols(f"Y0:{m}", real=True)
    y = (W0 + B * A) * h
    F = G(*y)
    # delta_k = dG/dY_k at Y = y
    delta = sp.Matrix([sp.diff(G(*Ys), Ys[k]).xreplace(dict(zip(Ys, y, strict=True))) for k in range(m)])

    def grad(P):
        return P.applyfunc(lambda p: sp.diff(F, p))

    def same(M1, M2):
        return is_zero((M1 - M2).applyfunc(sp.expand))

    steps: list[Step] = [
        assumption(
            "A LoRA layer: frozen W0 plus the low-rank product BA; F is any scalar function of the layer output and delta its gradient there.",
            r"y = (W_0 + BA)\,h,\quad F = G(y),\quad \delta = \nabla_y G",
        )
    ]
    steps.append(
        exact_true_step(
            "Gradient with respect to B (m = 2, n = 3, r = 2, symbolic entries, generic G).",
            r"\frac{\partial F}{\partial B} = \delta\,(Ah)^T",
            same(grad(B), delta * (A * h).T),
        )
    )
    steps.append(
        exact_true_step(
            "Gradient with respect to A.",
            r"\frac{\partial F}{\partial A} = B^T\delta\,h^T",
            same(grad(A), B.T * delta * h.T),
        )
    )
    Bzero = {b: 0 for b in B}
    steps.append(
        exact_true_step(
            "At initialization B = 0, so the gradient with respect to A vanishes: only B is trained in "
            "the first step, and A enters the kernel only through Ah.",
            r"\frac{\partial F}{\partial A}\Big|_{B=0} = 0",
            is_zero(grad(A).xreplace(Bzero).applyfunc(sp.expand)),
        )
    )
    Wf = _mat("W", m, n)
    yf = Wf * h
    Ff = G(*yf)
    delta_f = sp.Matrix([sp.diff(G(*Ys), Ys[k]).xreplace(dict(zip(Ys, yf, strict=True))) for k in range(m)])
    steps.append(
        exact_true_step(
            "Full fine-tuning of the same layer: the gradient with respect to W.",
            r"\frac{\partial F}{\partial W} = \delta\,h^T",
            is_zero((Wf.applyfunc(lambda p: sp.diff(Ff, p)) - delta_f * h.T).applyfunc(sp.expand)),
        )
    )
    # matrix symbols of general shape
    ms, ns, rs = sp.symbols("m n r", positive=True, integer=True)
    W0s, Bs, As = sp.MatrixSymbol("W_0", ms, ns), sp.MatrixSymbol("B", ms, rs), sp.MatrixSymbol("A", rs, ns)
    hs, ds = sp.MatrixSymbol("h", ns, 1), sp.MatrixSymbol("delta", ms, 1)
    Flin = sp.Trace(ds.T * (W0s + Bs * As) * hs)
    gB, gA, gW = Flin.diff(Bs), Flin.diff(As), Flin.diff(W0s)
    ok_sym = (
        sp.simplify(gB - ds * hs.T * As.T) == sp.ZeroMatrix(ms, rs)
        and sp.simplify(gA - Bs.T * ds * hs.T) == sp.ZeroMatrix(rs, ns)
        and sp.simplify(gW - ds * hs.T) == sp.ZeroMatrix(ms, ns)
    )
    steps.append(
        exact_true_step(
            "The same with matrix symbols of arbitrary shapes m x n, rank r (SymPy matrix calculus on the linearization F = delta^T y).",
            r"\partial_B\,\delta^T(W_0+BA)h = \delta h^TA^T,\quad \partial_A = B^T\delta h^T,\quad \partial_{W} = \delta h^T",
            ok_sym,
        )
    )
    # NTK contributions: Frobenius inner products, trace identities at several sizes
    hps, dps_ = sp.MatrixSymbol("h'", ns, 1), sp.MatrixSymbol("delta'", ms, 1)
    contrib = {
        "B": sp.Trace(gB.T * gB.subs({hs: hps, ds: dps_})),
        "A": sp.Trace(gA.T * gA.subs({hs: hps, ds: dps_})),
        "W": sp.Trace(gW.T * gW.subs({hs: hps, ds: dps_})),
    }
    # evaluated exactly with explicit matrices over the polynomial ring QQ[entries] (_RingMatrix)
    claims = {
        "B": lambda d_, dp, h_, hp, A_, B_: (d_.T * dp)[0] * (h_.T * A_.T * A_ * hp)[0],
        "A": lambda d_, dp, h_, hp, A_, B_: (d_.T * B_ * B_.T * dp)[0] * (h_.T * hp)[0],
        "W": lambda d_, dp, h_, hp, A_, B_: (d_.T * dp)[0] * (h_.T * hp)[0],
    }
    sizes = ((1, 1, 1), (2, 3, 1), (3, 2, 2), (2, 4, 3))
    ok = {k: True for k in contrib}
    for mm, nn, rr in sizes:
        Ae, Be, We, he, hpe, de, dpe = _ring_matrices(
            [("a", rr, nn), ("b", mm, rr), ("w", mm, nn), ("h", nn, 1), ("hp", nn, 1), ("d", mm, 1), ("dp", mm, 1)]
        )
        env = {As: Ae, Bs: Be, hs: he, hps: hpe, ds: de, dps_: dpe, W0s: We}
        for k, expr in contrib.items():
            ok[k] = ok[k] and _evaluate(expr, env) == claims[k](de, dpe, he, hpe, Ae, Be)
    sz = ", ".join(f"({a},{b},{c})" for a, b, c in sizes)
    steps.append(
        exact_true_step(
            "NTK contribution of B (Frobenius inner product of the two gradients).",
            r"\Big\langle \tfrac{\partial F(x)}{\partial B}, \tfrac{\partial F(x')}{\partial B}\Big\rangle = (\delta\cdot\delta')\; h^TA^TA\,h'",
            ok["B"],
            detail=f"trace identity expanded exactly at (m, n, r) = {sz}",
        )
    )
    steps.append(
        exact_true_step(
            "NTK contribution of A: zero at B = 0, otherwise an extra term.",
            r"\Big\langle \tfrac{\partial F(x)}{\partial A}, \tfrac{\partial F(x')}{\partial A}\Big\rangle = (\delta^TBB^T\delta')\;(h\cdot h')",
            ok["A"],
            detail=f"trace identity expanded exactly at (m, n, r) = {sz}",
        )
    )
    steps.append(
        exact_true_step(
            "NTK contribution of W under full fine-tuning.",
            r"\Big\langle \tfrac{\partial F(x)}{\partial W}, \tfrac{\partial F(x')}{\partial W}\Big\rangle = (\delta\cdot\delta')\;(h\cdot h')",
            ok["W"],
            detail=f"trace identity expanded exactly at (m, n, r) = {sz}",
        )
    )
    return Derivation(
        key="L2-lora-gradients",
        title="L2: gradients of a LoRA layer and their NTK contributions",
        steps=tuple(steps),
        conclusion=(
            r"At $B=0$ the adapter of layer $l$ contributes $(\delta\cdot\delta')\,h^TA^TAh'$ to the NTK, "
            r"where full fine-tuning of the same layer contributes $(\delta\cdot\delta')\,h^Th'$: so "
            r"$\Sigma_{LoRA} = h^TA^TAh'$ replaces $\Sigma = h^Th'$, and for $B\ne0$ the $A$-gradient adds "
            r"$(\delta^TBB^T\delta')(h\cdot h')$."
        ),
    )


# ----------------------------------------------------------------------------- small networks


@functools.cache
def _nets():
    """Explicit two-layer networks: d = 2 inputs, n1 = 3 hidden, n2 = 2 outputs, rank 2."""
    d, n1, n2, r = 2, 3, 2, 2
    x, xp = _vec("x", d), _vec("xp", d)
    W1, W0 = _mat("W1", n1, d), _mat("W0", n2, n1)
    A, B = _mat("A", r, n1), _mat("B", n2, r)
    A1, B1 = _mat("A1", 1, d), _mat("B1", n1, 1)
    v = _vec("v", n2)

    def forward(inp, lora1=False):
        W1e = W1 + (B1 * A1 if lora1 else sp.zeros(n1, d))
        y1 = W1e * inp
        h = y1.applyfunc(_phi)
        y2 = (W0 + B * A) * h
        return y1, h, y2

    return dict(d=d, n1=n1, n2=n2, r=r, x=x, xp=xp, W1=W1, W0=W0, A=A, B=B, A1=A1, B1=B1, v=v, forward=forward)


def _chain(N, K1, y1, y1p, Weff):
    """Back-propagated term sum_jj' W_kj W_k'j' phi'(y1_j) phi'(y1'_j') K1_jj' (no 1/n factors)."""
    n1 = y1.shape[0]
    m = Weff.shape[0]
    out = sp.zeros(m, m)
    for k in range(m):
        for kp in range(m):
            out[k, kp] = sp.expand(
                sum(Weff[k, j] * Weff[kp, jp] * _dphi(y1[j]) * _dphi(y1p[jp]) * K1[j, jp] for j in range(n1) for jp in range(n1))
            )
    return out


@functools.cache
def lora_kernel_derivation() -> Derivation:
    """L2 (eq. 10): the LoRA kernel of the layer output, on explicit networks.

    Layer 2 carries an adapter (``B = 0``).  Reading (a), first layer fully trained (the
    base case of eq. 10): ``K_LoRA^(2) = chain(K^(1)) + I (x) Sigma_LoRA``, with the same
    back-propagated term as full fine-tuning.  Reading (b), every layer adapted (standard
    LoRA, all base weights frozen): the base case becomes ``x^T A1^T A1 x'``, not ``x^T x'``.
    """
    N = _nets()
    x, xp, W1, W0, A, B, A1, B1 = (N[k] for k in ("x", "xp", "W1", "W0", "A", "B", "A1", "B1"))
    n2 = N["n2"]
    y1, h, y2 = N["forward"](x)
    y1p, hp, y2p = N["forward"](xp)
    Bz = {b: 0 for b in B}
    steps: list[Step] = [
        assumption(
            "Two-layer network with symbolic weights (d = 2, n_1 = 3, n_2 = 2, r = 2, generic phi); layer "
            "2 is W0 + BA, evaluated at B = 0 after differentiating.",
            r"y^{(1)} = W^{(1)}x,\quad h = \phi(y^{(1)}),\quad y^{(2)} = (W_0 + BA)\,h",
        )
    ]
    K1_ff = _ntk(y1, y1p, list(W1))
    steps.append(
        exact_step(
            "Base case, first layer trained as in FF: the kernel of y^(1) is x^T x' times the identity.",
            K1_ff,
            sp.eye(N["n1"]) * (x.T * xp)[0],
            eq=r"K^{(1)}_{kk'} = \delta_{kk'}\,x^Tx'",
            name="base-case-ff",
        )
    )
    K2 = _ntk(y2, y2p, list(W1) + list(A) + list(B), at=Bz)
    sig_lora = sp.expand((h.T * A.T * A * hp)[0])
    steps.append(
        exact_step(
            "Layer 2 with the adapter (first layer trained as FF): the back-propagated term is the FF one (it "
            "only sees W0 at B = 0) plus the identity times Sigma_LoRA.",
            K2,
            _chain(N, K1_ff, y1, y1p, W0) + sp.eye(n2) * sig_lora,
            eq=r"K^{(2)}_{LoRA,kk'} = \sum_{jj'}W_{0,kj}W_{0,k'j'}\phi'(y_j)\phi'(y'_{j'})K^{(1)}_{jj'} + \delta_{kk'}\,h^TA^TAh'",
            detail="the infinite-width limit of the first term is K^(1) SigmaDot^(2), as in L1",
            name="layer2-adapter",
        )
    )
    # every layer adapted, base frozen
    y1l, hl, y2l = N["forward"](x, lora1=True)
    y1lp, hlp, y2lp = N["forward"](xp, lora1=True)
    Bz1 = {**Bz, **{b: 0 for b in B1}}
    K1_lora = _ntk(y1l, y1lp, list(A1) + list(B1), at=Bz1)
    s1 = sp.expand((x.T * A1.T * A1 * xp)[0])
    steps.append(
        exact_step(
            "Every layer adapted (base weights frozen, B^(1) = 0): the first-layer kernel is x^T A1^T A1 x', not the poster's base case x^T x'.",
            K1_lora,
            sp.eye(N["n1"]) * s1,
            eq=r"K^{(1)}_{LoRA,kk'} = \delta_{kk'}\,x^TA^{(1)T}A^{(1)}x' \;\ne\; \delta_{kk'}\,x^Tx' = K^{(1)}_{ff}",
            name="base-case-every-layer",
        )
    )
    K2l = _ntk(y2l, y2lp, list(A1) + list(B1) + list(A) + list(B), at=Bz1)
    h_at = hl.xreplace(Bz1)
    hp_at = hlp.xreplace(Bz1)
    steps.append(
        exact_step(
            "The recursion step of eq. (10) still holds with that base case: back-propagated LoRA kernel plus the identity times Sigma_LoRA.",
            K2l,
            _chain(N, K1_lora, y1l.xreplace(Bz1), y1lp.xreplace(Bz1), W0) + sp.eye(n2) * sp.expand((h_at.T * A.T * A * hp_at)[0]),
            eq=r"K^{(2)}_{LoRA} = \mathrm{backprop}\big(K^{(1)}_{LoRA}\big) + I\otimes\Sigma^{(2)}_{LoRA}",
            name="recursion-step-every-layer",
        )
    )
    ce = base_case_counterexample()
    # recompute the instance from its printed matrices (not from the values it reports)
    A1v, xv, xpv = sp.Matrix(ce["A1"]), sp.Matrix(ce["x"]), sp.Matrix(ce["x_prime"])
    k1_lora, k1_ff = (xv.T * A1v.T * A1v * xpv)[0], (xv.T * xpv)[0]
    steps.append(
        exact_true_step(
            "A concrete instance: d = 2, r = 1, A1 = [[1, 0]], x = x' = (0, 1).",
            rf"x^TA^{{(1)T}}A^{{(1)}}x' = {k1_lora} \ne {k1_ff} = x^Tx'",
            bool(k1_lora == ce["K1_lora"] and k1_ff == ce["K1_ff"] and k1_lora != k1_ff),
            detail="so eq. (10)'s base case K_LoRA^(1) = K_ff^(1) needs the first layer to be fully trained",
            name="instance",
        )
    )
    return Derivation(
        key="L2-lora-kernel",
        title="L2: the NTK of a network trained with LoRA (eq. 10), on explicit networks",
        steps=tuple(steps),
        conclusion=(
            r"At $B=0$, $K^{(l)}_{LoRA} = \mathrm{backprop}(K^{(l-1)}_{LoRA}) + I\otimes\Sigma^{(l)}_{LoRA}$ with "
            r"$\Sigma^{(l)}_{LoRA} = h^TA^{(l)T}A^{(l)}h'$ and the FF back-propagation (so $\dot\Sigma^{(l)}$ is the "
            r"FF one in the limit): eq. (10)'s step is right. Its base case $K^{(1)}_{LoRA} = K^{(1)}_{ff}$ holds only "
            r"if the first layer is fully trained; with an adapter on the first layer it is "
            r"$x^TA^{(1)T}A^{(1)}x'$."
        ),
    )


def base_case_counterexample() -> dict:
    """Plain numbers: first-layer LoRA kernel vs the poster's base case ``x^T x'`` (L2)."""
    A1 = sp.Matrix([[1, 0]])
    x = sp.Matrix([0, 1])
    return {
        "d": 2,
        "r": 1,
        "A1": [[1, 0]],
        "B1": [[0]],
        "x": [0, 1],
        "x_prime": [0, 1],
        "K1_lora": int((x.T * A1.T * A1 * x)[0]),
        "K1_ff": int((x.T * x)[0]),
    }


# ----------------------------------------------------------------------------- L3


@functools.cache
def lora_difference_derivation() -> Derivation:
    """L3 (eq. 11): ``K_LoRA - K_ff`` on explicit networks, exactly.

    One-layer difference (layer 1 trained in both; layer 2 FF-trained ``W`` vs LoRA
    ``(A, B)``): at the output of layer 2, ``I (x) h^T (A^T A - I) h'`` at ``B = 0`` and
    ``+ B B^T (h.h')`` for ``B != 0``; through a further layer ``F = v^T phi(y^(2))`` the
    difference carries the factor ``delta.delta'`` with ``delta = v * phi'(y^(2))``.
    """
    N = _nets()
    x, xp, W1, W0, A, B, v = (N[k] for k in ("x", "xp", "W1", "W0", "A", "B", "v"))
    n1, n2 = N["n1"], N["n2"]
    y1, h, y2 = N["forward"](x)
    y1p, hp, y2p = N["forward"](xp)
    Bz = {b: 0 for b in B}
    M = A.T * A - sp.eye(n1)
    delta_r = sp.expand((h.T * M * hp)[0])
    steps: list[Step] = [
        assumption(
            "Only layer 2 differs: both networks train W^(1); FF trains W (at W = W0 + BA, the same function), LoRA trains A and B.",
            r"\theta_{ff} = (W^{(1)}, W),\qquad \theta_{LoRA} = (W^{(1)}, A, B),\qquad W = W_0 + BA",
            name="one-layer-difference-assumption",
        )
    ]
    K_ff = _ntk(y2, y2p, list(W1) + list(W0), at=Bz)  # W0 entries as the FF weight, at B = 0
    K_lo = _ntk(y2, y2p, list(W1) + list(A) + list(B), at=Bz)
    steps.append(
        exact_step(
            "At B = 0, at the output of layer l (the last layer of the l-layer network of eq. 11): the difference is "
            "exactly Delta_r on the diagonal (d = 2, n_1 = 3, n_2 = 2, r = 2).",
            K_lo - K_ff,
            sp.eye(n2) * delta_r,
            eq=r"K^{(l)}_{LoRA} - K^{(l)}_{ff} = I_{n_l}\otimes\underbrace{h^T(A^TA - I)\,h'}_{\Delta_r^{(l)}}",
            detail="exact at every width (no limit needed); the earlier-layer terms cancel because both back-propagate through the same W0",
            name="layer-output-B0",
        )
    )
    K_ff_B = _ntk(y2, y2p, list(W1) + list(W0))  # FF at W = W0 + BA (symbolic B)
    K_lo_B = _ntk(y2, y2p, list(W1) + list(A) + list(B))
    steps.append(
        exact_step(
            "For B != 0 (after training starts) the A-gradient adds a non-diagonal term.",
            K_lo_B - K_ff_B,
            sp.eye(n2) * delta_r + B * B.T * sp.expand((h.T * hp)[0]),
            eq=r"K^{(l)}_{LoRA} - K^{(l)}_{ff} = I\otimes h^T(A^TA-I)h' + BB^T\,(h\cdot h')",
            name="layer-output-B-nonzero",
        )
    )
    # deeper network: scalar head through phi
    F = (v.T * y2.applyfunc(_phi))[0]
    Fp = (v.T * y2p.applyfunc(_phi))[0]
    Kf = _ntk([F], [Fp], list(W1) + list(W0) + list(v), at=Bz)
    Kl = _ntk([F], [Fp], list(W1) + list(A) + list(B) + list(v), at=Bz)
    y2z, y2pz = y2.subs(Bz), y2p.subs(Bz)
    dd = sp.expand(sum(v[k] ** 2 * _dphi(y2z[k]) * _dphi(y2pz[k]) for k in range(n2)))
    steps.append(
        exact_step(
            "If layer l is hidden (a further layer F = v^T phi(y^(l)) follows), the difference carries the back-propagation factor delta.delta'.",
            (Kl - Kf)[0, 0],
            sp.expand(dd * delta_r),
            eq=r"K_{LoRA} - K_{ff} = \big(\delta(x)\cdot\delta(x')\big)\,\Delta_r^{(l)},\qquad \delta = v\odot\phi'(y^{(l)})",
            detail="in the infinite-width limit delta.delta' -> prod_{k>l} SigmaDot^(k)",
            name="hidden-layer-factor",
        )
    )
    ce = hidden_layer_counterexample()
    steps.append(
        exact_step(
            "A concrete instance with ReLU (all pre-activations positive): the NTK difference is -4, eq. (11) gives -1.",
            sp.Integer(ce["K_lora_minus_K_ff"]),
            sp.Integer(ce["delta_dot_delta_prime"]) * sp.Integer(ce["Delta_r_eq11"]),
            eq=rf"K_{{LoRA}} - K_{{ff}} = {ce['K_lora_minus_K_ff']} \ne {ce['Delta_r_eq11']} = \Delta_r",
            name="relu-instance",
        )
    )
    steps.append(
        assumption(
            "The sign survives: delta(x).delta(x') is a positive semi-definite kernel, so by the Schur product theorem the Gram "
            "matrix of (delta.delta') Delta_r is negative semi-definite whenever that of Delta_r is.",
            r"[\delta_i\cdot\delta_j]\succeq 0,\ [\Delta_r(x_i,x_j)]\preceq 0 \ \Rightarrow\ [\delta_i\cdot\delta_j\,\Delta_r(x_i,x_j)]\preceq 0",
            detail="Schur (1911); checked numerically by the 'backprop-factor' check",
            name="schur-sign",
        )
    )
    return Derivation(
        key="L3-lora-minus-ff",
        title="L3: K_LoRA - K_ff under the one-layer-difference assumption (eq. 11)",
        steps=tuple(steps),
        conclusion=(
            r"Eq. (11) is exact, at any width, for the kernel of the output of the adapted layer itself, at $B=0$ "
            r"and with only that layer differing. For a deeper network the difference is "
            r"$(\delta\cdot\delta')\,\Delta_r^{(l)}$, and for $B\ne0$ it gains $BB^T(h\cdot h')$."
        ),
    )


def hidden_layer_counterexample() -> dict:
    """Plain numbers (L3): LoRA on a hidden layer; the NTK difference vs eq. (11)'s Delta_r.

    Network ``F = v * relu(W0' relu(W1 x))`` with one unit per layer, ``W0' = W0 + B A``:
    ``x = 1, W1 = 1, W0 = 1, A = 0, B = 0, v = 2``.  FF trains ``(W1, W0, v)``, LoRA trains
    ``(W1, A, B, v)``.  All pre-activations are 1 > 0, so ReLU' = 1.
    """
    x, W1, W0, A, v = 1, 1, 1, 0, 2
    h = max(W1 * x, 0)  # relu
    y2 = W0 * h
    delta = v * (1 if y2 > 0 else 0)
    # gradients (hand-free: the closed forms of lora_gradient_derivation)
    grad_W0 = delta * h  # dF/dW
    grad_B = delta * (A * h)
    grad_A = 0 * delta * h  # B^T delta h^T with B = 0
    k_ff_layer = grad_W0 * grad_W0
    k_lora_layer = grad_B * grad_B + grad_A * grad_A
    return {
        "network": "F = v*relu((W0 + B*A)*relu(W1*x)), one unit per layer, r = 1",
        "x": [1.0],
        "x_prime": [1.0],
        "W1": [[1.0]],
        "W0": [[1.0]],
        "A": [[0.0]],
        "B": [[0.0]],
        "v": [2.0],
        "K_lora_minus_K_ff": k_lora_layer - k_ff_layer,
        "delta_dot_delta_prime": delta * delta,
        "Delta_r_eq11": h * (A * A - 1) * h,
    }

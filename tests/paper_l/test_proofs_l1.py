"""L1 derivations: every step checked, and the closed forms re-checked independently."""

import mpmath
import numpy as np
import pytest
import sympy as sp

from lora_theorems.proofs._steps import is_zero
from lora_theorems.proofs.paper_l.ntk_recursion import (
    A,
    B,
    C,
    S,
    _vanishes,
    erf_closed_form_derivation,
    kernel_map_exprs,
    mp_ncdf,
    quadrature_kernel_maps,
    recursion_derivation,
    relu_closed_form_derivation,
)

pytestmark = pytest.mark.claim("L1")


def test_derivations_all_steps_verified():
    for d in (recursion_derivation(), relu_closed_form_derivation(4, 1), erf_closed_form_derivation(4, 1)):
        assert d.passed
        assert any(s.verified is True for s in d.steps)


def test_is_zero_rejects_wrong_identities():
    x = sp.Symbol("x", real=True)
    assert is_zero(sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1)
    assert not is_zero(sp.sin(x) ** 2 - sp.cos(x) ** 2)
    assert not is_zero(sp.Matrix([[x, 0]]))


def test_vanishes_proves_identities_and_rejects_wrong_ones():
    """_vanishes (the cheap exact check of the closed-form steps) is exact both ways."""
    x, t = sp.Symbol("x", real=True), sp.Symbol("theta", positive=True)
    b = sp.Symbol("b", positive=True)
    assert _vanishes(b * sp.sin(t) ** 2 + b * sp.cos(t) ** 2 - b)  # the Pythagorean remainder
    assert _vanishes(sp.cos(x) * sp.cos(t) + sp.sin(x) * sp.sin(t) - sp.cos(x - t))  # expand_trig
    assert _vanishes(sp.sin(t) ** 4 - sp.cos(t) ** 4 + 2 * sp.cos(t) ** 2 - 1)
    assert not _vanishes(sp.sin(t) ** 2 - sp.cos(t) ** 2)
    assert not _vanishes(sp.cos(x - t) - sp.cos(x) * sp.cos(t))
    assert not _vanishes(sp.Matrix([[x, 0]]))
    assert _vanishes(sp.Matrix([[sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1, 0]]))


@pytest.mark.parametrize("dps", [15, 40, 50])
def test_mp_ncdf_is_mpmath_ncdf_bit_for_bit(dps):
    """mp_ncdf replaces mpmath.ncdf in the quadrature integrands: it must return the same mpf, at the
    working precision and at quad's (20 bits more), on both branches (erfc below 0, erf above)."""
    rng = np.random.default_rng(dps)
    with mpmath.workdps(dps):
        for extra in (0, 20):
            with mpmath.extraprec(extra):
                for v in [0.0, -0.0, 1e-30, -1e-30, 40.0, -40.0, *rng.normal(0, 3, 200)]:
                    x = mpmath.mpf(float(v)) / 3  # an mpf with a full mantissa
                    assert mp_ncdf(x) == mpmath.ncdf(x)
                    assert mp_ncdf(x)._mpf_ == mpmath.ncdf(x)._mpf_


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_closed_forms_against_monte_carlo_free_quadrature(activation):
    """The lambdified closed forms vs quadrature at points outside the derivation's seeds."""
    E, Ed = kernel_map_exprs(activation)
    f = sp.lambdify((A, B, C, S), (E, Ed), modules="mpmath")
    with mpmath.workdps(35):
        for a, b, rho in [(0.3, 2.5, 0.9), (1.0, 1.0, -0.95), (3.0, 0.2, 0.0)]:
            a, b = mpmath.mpf(a), mpmath.mpf(b)
            c = mpmath.mpf(rho) * mpmath.sqrt(a * b)
            e, ed = f(a, b, c, mpmath.sqrt(a * b - c * c))
            qe, qed = quadrature_kernel_maps(activation, a, b, c, dps=35)
            assert abs(e - qe) < mpmath.mpf(10) ** -30
            assert abs(ed - qed) < mpmath.mpf(10) ** -30


def test_erf_known_value():
    # a = b = c = 1/2: E = (2/pi) asin(1/2) = 1/3
    E, _ = kernel_map_exprs("erf")
    val = E.subs({A: sp.Rational(1, 2), B: sp.Rational(1, 2), C: sp.Rational(1, 2), S: 0})
    assert sp.nsimplify(sp.simplify(val)) == sp.Rational(1, 3)


def test_unknown_activation():
    with pytest.raises(ValueError):
        kernel_map_exprs("tanh")


def test_poster_normalization_note():
    """Eq. (9)'s neuron sum is ~ n times the expectation (Monte Carlo, ReLU, n = 20000)."""
    rng = np.random.default_rng(0)
    n = 20000
    u = rng.standard_normal(n)
    s = np.maximum(u, 0) @ np.maximum(u, 0)
    # E[relu(u)^2] = 1/2; the sum is n/2 within 6 standard deviations (sd = sqrt(n*5/4))
    assert abs(s - n / 2) < 6 * np.sqrt(n * 1.25)

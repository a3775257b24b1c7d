"""Paper M, claim M3: the exact law of one noise coordinate against closed forms, the
Berry-Esseen bound recomputed with mpmath, and the whole-matrix counterexample re-checked."""

import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, special, stats

from lora_theorems.numerics.paper_m.berry_esseen import (
    BE_CONSTANT,
    CoordinateLaw,
    abs_third_moment_normal,
    berry_esseen_bound,
    clopper_pearson,
    coordinate_law,
    kolmogorov_distance,
    matrix_rank_distinguisher,
    row_tv_distance,
    tv_distance,
)
from lora_theorems.numerics.paper_m.noise import lora_noise, noise_covariance, sample_A


@pytest.mark.claim("M3")
def test_cdf_special_cases_closed_forms():
    x = np.linspace(-2, 3, 11)
    # c = 0: scaled centred chi-square
    law = CoordinateLaw(gj=1.5, c=0.0, r=3)
    np.testing.assert_allclose(law.cdf(x), stats.chi2.cdf(3 + 3 * x / 1.5, 3), atol=1e-14)
    # gj = 0, r = 2: (c/2) (u1 v1 + u2 v2) is Laplace with scale c/2
    law = CoordinateLaw(gj=0.0, c=2.0, r=2)
    np.testing.assert_allclose(law.cdf(x), stats.laplace(scale=1.0).cdf(x), atol=1e-10)
    np.testing.assert_allclose(law.pdf(x[x != 0]), stats.laplace(scale=1.0).pdf(x[x != 0]), atol=1e-9)


@pytest.mark.claim("M3")
def test_cdf_matches_sampling_dkw():
    rng = np.random.default_rng(3)
    G = np.array([[0.7, -1.2, 0.4]])
    r, trials = 3, 20000
    law = coordinate_law(G, 0, 0, r)
    x = lora_noise(G, sample_A(rng, r, 3, size=trials))[:, 0, 0]
    grid = np.linspace(-3, 3, 61)
    emp = (x[:, None] <= grid).mean(axis=0)
    # DKW: sup |F_emp - F| <= sqrt(log(2/alpha) / (2 n)) with probability 1 - alpha, alpha = 1e-4
    assert np.abs(emp - law.cdf(grid)).max() <= np.sqrt(np.log(2 / 1e-4) / (2 * trials))
    assert law.sigma**2 == pytest.approx((G[0] @ G[0] + G[0, 0] ** 2) / r)


@pytest.mark.claim("M3")
@pytest.mark.parametrize("mu,s", [(0.0, 1.0), (1.3, 0.4), (-2.0, 3.0), (0.5, 0.0)])
def test_abs_third_moment_normal(mu, s):
    if s == 0:
        ref = abs(mu) ** 3
    else:
        ref, _ = integrate.quad(lambda w: abs(w) ** 3 * stats.norm.pdf(w, mu, s), -np.inf, np.inf, epsabs=1e-12)
    assert float(abs_third_moment_normal(mu, s)) == pytest.approx(ref, rel=1e-9)


@pytest.mark.claim("M3")
def test_berry_esseen_bound_matches_mpmath():
    mp.mp.dps = 30
    # theta = 1: Y = u^2 - 1, sigma^2 = 2
    rho = mp.quad(lambda u: abs(u**2 - 1) ** 3 * mp.npdf(u), [-mp.inf, -1, 1, mp.inf])
    for r in (1, 3, 16):
        assert berry_esseen_bound(CoordinateLaw(1.0, 0.0, r)) == pytest.approx(float(BE_CONSTANT * rho / (2**1.5 * mp.sqrt(r))), rel=1e-8)
    # theta = 0: Y = u v, rho = (E|u|^3)^2 = 8 / pi
    assert berry_esseen_bound(CoordinateLaw(0.0, 1.0, 4)) == pytest.approx(BE_CONSTANT * 8 / np.pi / 2, rel=1e-7)


@pytest.mark.claim("M3")
def test_kolmogorov_bracket_against_brute_force():
    law = CoordinateLaw(1.0, 0.0, 4)
    lo, up, _ = kolmogorov_distance(law)
    z = np.linspace(-5, 40, 400001)
    brute = np.abs(stats.chi2.cdf(4 + 4 * z * law.sigma, 4) - stats.norm.cdf(z)).max()
    assert brute <= up + 1e-12
    assert lo >= brute - 1e-10  # the root-located sup is at least every grid value


# ----------------------------------------------------------------------------- independent references
# Densities in closed form (chi-square; variance-gamma: sum_k u_k v_k has density
# |s|^nu K_nu(|s|) / (sqrt(pi) 2^nu Gamma(r/2)), nu = (r-1)/2), crossings of f = phi found by an mpmath
# bisection from a numpy sign scan, and the distances integrated by mpmath on the pieces.


def _std_density(gj, c, r):
    """mpmath density of Z = N_ij / sigma for the two closed-form cases."""
    sigma = mp.sqrt((2 * mp.mpf(gj) ** 2 + mp.mpf(c) ** 2) / r)
    if c == 0:
        k = r * sigma / gj

        def f(z):
            y = r + k * z
            return mp.mpf(0) if y <= 0 else k * y ** (mp.mpf(r) / 2 - 1) * mp.exp(-y / 2) / (2 ** (mp.mpf(r) / 2) * mp.gamma(mp.mpf(r) / 2))

        return f, -r / k
    nu = (mp.mpf(r) - 1) / 2
    scale = sigma * r / c  # Z = (c / (r sigma)) S

    def f(z):
        x = abs(z * scale)
        if x == 0:
            return scale * mp.gamma(nu) / (2 * mp.sqrt(mp.pi) * mp.gamma(mp.mpf(r) / 2)) if nu > 0 else mp.inf
        return scale * x**nu * mp.besselk(nu, x) / (mp.sqrt(mp.pi) * 2**nu * mp.gamma(mp.mpf(r) / 2))

    return f, None


def _reference_distances(gj, c, r):
    """(TV, Kolmogorov) at 20 digits, independent of the toolkit."""
    mp.mp.dps = 20
    f, edge = _std_density(gj, c, r)
    g = lambda z: f(z) - mp.npdf(z)  # noqa: E731
    lo = float(edge) + 1e-12 if edge is not None else -12.0
    zs = np.linspace(lo, 12.0, 1201)  # crossings are >= 0.4 apart in these laws
    vals = [g(mp.mpf(float(z))) for z in zs]
    roots = []
    for a, b, va, vb in zip(zs[:-1], zs[1:], vals[:-1], vals[1:], strict=True):
        if va * vb < 0:
            roots.append(mp.findroot(g, (mp.mpf(float(a)), mp.mpf(float(b))), solver="anderson"))
    # the variance-gamma density has a cusp at 0 (r = 2: Laplace): a knot there keeps the quadrature exact
    inner = sorted(roots + ([] if edge is not None else [mp.mpf(0)]))
    knots = ([mp.mpf(edge)] if edge is not None else [-mp.inf]) + inner + [mp.inf]
    pos = mp.mpf(0)
    for a, b in zip(knots[:-1], knots[1:], strict=True):
        piece = mp.quad(g, [a, b])
        if piece > 0:
            pos += piece
    # TV = int (f - phi)^+ ; Kolmogorov: max |F - Phi| over the roots and the edge
    def Fcdf(z):
        if edge is not None:
            return mp.quad(f, [edge, z])
        return mp.quad(f, [-mp.inf, 0, z]) if z > 0 else mp.quad(f, [-mp.inf, z])  # the cusp at 0 as a knot

    cands = roots + ([mp.mpf(edge)] if edge is not None else [])
    ks = max(abs(Fcdf(z) - mp.ncdf(z)) for z in cands)
    return float(pos), float(ks)


@pytest.mark.claim("M3")
@pytest.mark.parametrize("gj,c,r", [(1.0, 0.0, 1), (1.0, 0.0, 2), (1.0, 0.0, 3), (1.0, 0.0, 8), (0.0, 2.0, 2), (0.0, 1.0, 5)])
def test_tv_and_kolmogorov_exact_against_closed_forms(gj, c, r):
    """TV and Kolmogorov distance against mpmath on the closed-form densities: the old grid TV was a lower
    bound off by 1.2e-3 at r = 1 (0.45297 vs 0.45414); Kolmogorov's bracket must contain the exact value."""
    law = CoordinateLaw(gj, c, r)
    tv_ref, ks_ref = _reference_distances(gj, c, r)
    assert tv_distance(law) == pytest.approx(tv_ref, abs=1e-9)
    lo, up, _ = kolmogorov_distance(law)
    assert lo - 1e-12 <= ks_ref <= up + 1e-12
    assert ks_ref - lo < 1e-9


@pytest.mark.claim("M3")
def test_variance_gamma_density_closed_form():
    law = CoordinateLaw(0.0, 1.0, 5)
    f, _ = _std_density(0.0, 1.0, 5)
    z = np.array([-2.0, -0.3, 0.4, 1.7])
    ref = [float(f(mp.mpf(t))) for t in z]
    np.testing.assert_allclose(law.pdf(z * law.sigma) * law.sigma, ref, rtol=1e-8)


@pytest.mark.claim("M3")
def test_chi_square_kolmogorov_at_the_support_edge():
    """r = 1, 2: F = 0 left of the edge z0 = -sqrt(r/2) and f >= phi right of it near z0, so the sup is Phi(z0)."""
    for r in (1, 2):
        lo, up, z = kolmogorov_distance(CoordinateLaw(1.0, 0.0, r))
        exact = float(mp.ncdf(-mp.sqrt(mp.mpf(r) / 2)))
        assert lo <= exact <= up and exact - lo < 1e-10
        assert z == pytest.approx(-np.sqrt(r / 2), abs=1e-12)


@pytest.mark.claim("M3")
def test_rate_depends_on_whether_g_ij_vanishes():
    """TV ~ r^-1 when G_ij = 0 (symmetric coordinate, no third cumulant), ~ r^-1/2 otherwise."""
    def slope(th):
        a, b = (tv_distance(CoordinateLaw(th, float(np.sqrt(1 - th * th)), r)) for r in (64, 128))
        return np.log(b / a) / np.log(2)

    assert slope(0.0) == pytest.approx(-1.0, abs=0.05)
    assert slope(0.5) == pytest.approx(-0.5, abs=0.05)
    assert slope(1.0) == pytest.approx(-0.5, abs=0.05)


@pytest.mark.claim("M3")
def test_matrix_counterexample_recomputed(claim_result):
    ev = {e.check: e for e in claim_result("M3").evidence}["m3_matrix_tv"]
    cex = ev.counterexample
    assert ev.passed is False and cex is not None
    G, r = np.array(cex["G"]), cex["r"]
    rng = np.random.default_rng(11)
    # LoRA side: N + G = G A^T A is singular for every A (3 x 4)
    for _ in range(50):
        A = rng.standard_normal((r, 4)) / np.sqrt(r)
        sv = np.linalg.svd(lora_noise(G, A) + G, compute_uv=False)
        assert sv[-1] <= 1e-12 * sv[0]
    # Gaussian side: same covariance, Z + G invertible in every draw
    C = noise_covariance(G, r)
    w, V = np.linalg.eigh(C)
    root = V * np.sqrt(np.clip(w, 0, None))
    for _ in range(50):
        Z = (root @ rng.standard_normal(16)).reshape(4, 4)
        sv = np.linalg.svd(Z + G, compute_uv=False)
        assert sv[-1] > 1e-8 * sv[0]
    # and the coordinatewise bound it beats is < 1
    assert cex["be_bound"] < 1 and cex["tv_lower_bound"] > cex["be_bound"]


@pytest.mark.claim("M3")
def test_clopper_pearson_and_distinguisher_validation():
    lo, hi = clopper_pearson(0, 100, 0.05)
    assert lo == 0 and hi == pytest.approx(1 - 0.025 ** (1 / 100), rel=1e-10)
    with pytest.raises(ValueError):
        matrix_rank_distinguisher(np.eye(3), 3, 10, np.random.default_rng(0))
    with pytest.raises(ValueError):
        coordinate_law(np.zeros((1, 3)), 0, 0, 2)


@pytest.mark.claim("M3")
@pytest.mark.parametrize("gj,c,r", [(0.5, 1.0, 4), (1.0, 0.3, 3), (0.0, 1.0, 5)])
def test_cdf_agrees_with_gil_pelaez_inversion(gj, c, r):
    """Independent route: phi(t) = exp(-i gj t) (1 - 2 i gj t / r + c^2 t^2 / r^2)^(-r/2) and
    F(x) = 1/2 - (1/pi) int_0^inf Im[exp(-i t x) phi(t)] / t dt (Gil-Pelaez)."""
    law = CoordinateLaw(gj, c, r)

    def phi(t):
        return np.exp(-1j * gj * t) * (1 - 2j * gj * t / r + c**2 * t**2 / r**2) ** (-r / 2)

    for x in (-0.7, 0.0, 0.4, 1.5):
        integrand = lambda t, x=x: (np.exp(-1j * t * x) * phi(t)).imag / t  # noqa: E731
        val, err = integrate.quad(integrand, 1e-12, np.inf, limit=2000, epsabs=1e-10)
        assert float(law.cdf(x)[0]) == pytest.approx(0.5 - val / np.pi, abs=1e-6)


@pytest.mark.claim("M3")
def test_fast_chi_density_is_scipys_bits():
    """The quadratures' chi_r density skips scipy's dispatch; it must be the same floats (so M3's evidence
    is the same bytes), including 0 off the open support."""
    from lora_theorems.numerics.paper_m.berry_esseen import _chi_pdf

    rng = np.random.default_rng(5)
    for r in (1, 2, 3, 7, 64, 256):
        for s in np.concatenate([rng.uniform(0, 30, 200), [1e-300, 1e-9, 1.0, 0.0, -1.0]]):
            assert _chi_pdf(float(s), r)[0] == stats.chi.pdf(s, r)


@pytest.mark.claim("M3")
def test_memoised_distances_equal_fresh_ones():
    from lora_theorems.numerics.paper_m.berry_esseen import clear_caches

    law = CoordinateLaw(0.5, float(np.sqrt(0.75)), 3)
    first = (tv_distance(law), kolmogorov_distance(law))
    clear_caches()
    assert (tv_distance(law), kolmogorov_distance(law)) == first


@pytest.mark.claim("M3")
@pytest.mark.parametrize("r", [1, 3, 16])
def test_row_tv_in_one_dimension_is_the_coordinate_tv(r):
    """n = 1: the row is the theta = 1 coordinate, whose TV is computed by a different route (crossings)."""
    tv, err = row_tv_distance(1, r)
    assert err < 1e-10
    assert tv == pytest.approx(tv_distance(CoordinateLaw(1.0, 0.0, r)), abs=1e-10)


@pytest.mark.claim("M3")
def test_row_tv_against_a_two_dimensional_grid():
    """n = 2, r = 4: (1/2) int int |f - q| on a trapezoid grid, with the joint density f(x, y) = f_X(x) N(y; 0,
    (x+1)/r) (x = chi^2_r / r - 1) against q = N(0, diag(2/r, 1/r)), plus q's mass at x < -1 where f = 0;
    independent of the crossing formulas (grid error about 1e-6)."""
    from scipy import special

    r = 4
    L = 12 / np.sqrt(r)
    x = np.linspace(-1, L + 1, 6001)
    y = np.linspace(-L, L, 3001)
    qy = stats.norm.pdf(y, scale=np.sqrt(1 / r))
    inner = [stats.norm.pdf(-1, scale=np.sqrt(2 / r))]  # x = -1: f = 0, the y-integral of q is its x-density
    for xi in x[1:]:
        f = stats.chi2.pdf(r * (xi + 1), r) * r * stats.norm.pdf(y, scale=np.sqrt((xi + 1) / r))
        inner.append(np.trapezoid(np.abs(f - stats.norm.pdf(xi, scale=np.sqrt(2 / r)) * qy), y))
    tv = 0.5 * (special.ndtr(-np.sqrt(r / 2)) + np.trapezoid(inner, x))
    assert row_tv_distance(2, r)[0] == pytest.approx(tv, abs=1e-5)


@pytest.mark.claim("M3")
def test_row_tv_is_between_its_projection_and_one_and_decays_like_sqrt_n_over_r():
    """TV(row) >= TV(projection on g) (the theta = 1 coordinate); at r = 256 TV sqrt(r/n) is about 1/3 for
    n = 2, 4, 8 and the local slope in r is -1/2: the row TV is O(sqrt(n / r))."""
    for n in (2, 4, 8):
        for r in (1, 4, 64):
            assert tv_distance(CoordinateLaw(1.0, 0.0, r)) <= row_tv_distance(n, r)[0] < 1
        a, b = row_tv_distance(n, 128)[0], row_tv_distance(n, 256)[0]
        assert np.log(b / a) / np.log(2) == pytest.approx(-0.5, abs=0.02)
        assert b * np.sqrt(256 / n) == pytest.approx(1 / 3, abs=0.03)


def _scipy_quad_vec_law(law, x, which):
    """The exact CDF / density as the code had them: scipy's quad_vec over a per-node integrand."""
    from lora_theorems.numerics.paper_m.berry_esseen import _chi_pdf

    r, gj, c = law.r, law.gj, law.c
    smax = float(np.sqrt(stats.chi2.isf(1e-17, r)))
    if which == "cdf":
        def f(s):
            return special.ndtr((r * x - gj * (s * s - r)) / (c * max(s, 1e-300))) * _chi_pdf(s, r)

        return np.clip(integrate.quad_vec(f, 0.0, smax, epsabs=1e-12, epsrel=1e-12, limit=400)[0], 0.0, 1.0)

    def f(s):
        s = max(s, 1e-300)
        arg = (r * x - gj * (s * s - r)) / (c * s)
        return r / (c * s) * np.exp(-0.5 * arg * arg) / np.sqrt(2 * np.pi) * _chi_pdf(s, r)

    return integrate.quad_vec(f, 0.0, smax, epsabs=1e-12, epsrel=1e-10, limit=400)[0]


@pytest.mark.claim("M3")
@pytest.mark.parametrize("gj,c,r", [(0.5, float(np.sqrt(0.75)), 4), (0.0, 1.0, 2), (0.9, float(np.sqrt(0.19)), 16)])
def test_batched_quadrature_is_quad_vecs_bits(gj, c, r):
    """The CDF and density evaluate quad_vec's Gauss-Kronrod nodes in batches (_quad_vec_batched); the
    panels, error estimates and roundings must be quad_vec's, so the values are the same floats (M3's
    evidence the same bytes): one point (the root finder's calls), a sorted grid wide enough to saturate
    (its rows are evaluated in windows: the crossings' scan, the Kolmogorov grid) and an unsorted vector."""
    law = CoordinateLaw(gj, c, r)
    rng = np.random.default_rng(7)
    grid = np.sinh(np.linspace(-4.4, 4.4, 401)) * law.sigma  # |z| up to 40: ndtr and exp saturate at the ends
    for x in (np.array([0.37 * law.sigma]), np.sort(rng.normal(size=9)) * 3 * law.sigma, grid, rng.permutation(grid)):
        assert law.cdf(x).tobytes() == _scipy_quad_vec_law(law, x, "cdf").tobytes()
        assert law.pdf(x).tobytes() == _scipy_quad_vec_law(law, x, "pdf").tobytes()


@pytest.mark.claim("M3")
@pytest.mark.parametrize("cached", [None, 12])
def test_batched_quadrature_general_integrand(monkeypatch, cached):
    """_quad_vec_batched without the non-negativity shortcut (a sign-changing integrand, so |f| enters the
    rounding-error estimate), with quad_vec's default interval cache and with one so small that panels are
    evicted and recomputed: quad_vec's values and error bit for bit."""
    import sys

    from lora_theorems.numerics.paper_m import berry_esseen as be

    cache_size = be._QV_CACHE_BYTES if cached is None else cached * sys.getsizeof(np.empty(7))
    monkeypatch.setattr(be, "_QV_CACHE_BYTES", cache_size)

    x = np.linspace(0.5, 8.0, 7)  # oscillating: 36 panels, 79 evaluated (with the small cache)

    def f(s):
        return np.sin(x * s) * np.exp(-0.3 * s)

    def fb(s, out):
        np.multiply(s[:, None], x[None, :], out=out)
        np.sin(out, out=out)
        np.multiply(out, np.exp(-0.3 * s)[:, None], out=out)

    ref, ref_err = integrate.quad_vec(f, 0.0, 40.0, epsabs=1e-13, epsrel=1e-12, limit=200, cache_size=cache_size)
    val, err = be._quad_vec_batched(fb, 0.0, 40.0, x.size, epsabs=1e-13, epsrel=1e-12, limit=200)
    assert val.tobytes() == ref.tobytes() and err == ref_err


@pytest.mark.claim("M3")
def test_row_integrand_is_scipys_bits():
    """The row quadrature's integrand skips scipy.stats' dispatch (chi2 / norm logpdf, chi2 cdf / sf); it must
    be the same floats as with scipy.stats (so M3's row evidence is the same bytes)."""
    from lora_theorems.numerics.paper_m.berry_esseen import _row_tv_integrand

    def reference(x, n, r):
        if x <= -1.0:
            return 0.0
        la = float(stats.chi2.logpdf(r * (x + 1.0), r)) + np.log(r)
        lb = float(stats.norm.logpdf(x, scale=np.sqrt(2.0 / r)))
        a, b, m = np.exp(la), np.exp(lb), n - 1
        if m == 0 or x == 0.0:
            return max(a - b, 0.0)
        s1, s2 = (x + 1.0) / r, 1.0 / r
        c = la - lb - 0.5 * m * np.log(x + 1.0)
        k = -r * x / (2.0 * (x + 1.0))
        if k > 0:
            return 0.0 if c <= 0 else float(a * stats.chi2.cdf(c / k / s1, m) - b * stats.chi2.cdf(c / k / s2, m))
        if c >= 0:
            return float(a - b)
        t = c / k
        return float(a * stats.chi2.sf(t / s1, m) - b * stats.chi2.sf(t / s2, m))

    rng = np.random.default_rng(11)
    xs = np.concatenate([rng.uniform(-1.1, 3.0, 150), rng.uniform(-1.0, -0.999, 20), [0.0, -1.0, 1e-300, -1 + 1e-16, 40.0]])
    for n in (1, 2, 8):
        for r in (1, 3, 16, 256):
            for x in xs:
                assert _row_tv_integrand(float(x), n, r) == reference(float(x), n, r)

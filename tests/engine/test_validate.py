"""Input validation shared by the API, the CLI and the numerics (lora_theorems.validate):
every refusal is a ValueError with one line naming the value; every accepted value comes back
as the plain Python type the callers compute with."""

import math
from fractions import Fraction

import numpy as np
import pytest

from lora_theorems.validate import (
    PROFILES,
    validate_finite,
    validate_positive_int,
    validate_profile,
    validate_rank,
    validate_rng,
    validate_rtol,
    validate_seed,
    validate_spectrum,
    validate_variance,
)


def one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text and text
    return text


def test_profiles():
    assert PROFILES == ("quick", "full")
    for p in PROFILES:
        assert validate_profile(p) == p
    for bad in ("Quick", "slow", "", None, 1):
        with pytest.raises(ValueError) as info:
            validate_profile(bad)
        assert one_line(info) == f"unknown profile {bad!r} (choose quick or full)"


@pytest.mark.parametrize("good", [0, 1, 2**63, np.int64(7), np.uint32(3)])
def test_seed_accepts_non_negative_integers_as_python_ints(good):
    out = validate_seed(good)
    assert out == int(good) and type(out) is int


@pytest.mark.parametrize("bad", [-1, True, False, 1.0, "1", None, np.float64(2.0), Fraction(1, 1)])
def test_seed_refuses_everything_else(bad):
    with pytest.raises(ValueError) as info:
        validate_seed(bad)
    assert one_line(info).startswith("seed must be a non-negative integer, got ")


def test_positive_int():
    assert validate_positive_int(1, "n") == 1 and type(validate_positive_int(np.int8(5), "n")) is int
    for bad in (0, -3, True, 2.0, "2", None):
        with pytest.raises(ValueError) as info:
            validate_positive_int(bad, "trials")
        assert one_line(info) == f"trials must be a positive integer, got {bad!r}"


def test_rank_and_width():
    assert validate_rank(3, 3) == (3, 3) and validate_rank(1, 64) == (1, 64)
    with pytest.raises(ValueError) as info:
        validate_rank(9, 8)
    assert one_line(info) == "rank 9 exceeds width 8 (need rank <= width)"
    with pytest.raises(ValueError, match="width must be a positive integer"):
        validate_rank(1, 0)
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        validate_rank(0, 4)


def test_variance():
    assert validate_variance(0) == 0.0 and type(validate_variance(1)) is float
    assert validate_variance(np.float32(0.25)) == 0.25 and validate_variance(Fraction(1, 4)) == 0.25
    assert validate_variance(5e-324, allow_zero=False) == 5e-324  # the smallest subnormal is positive
    cases = [
        (float("nan"), {}, "variance is NaN"),
        (float("inf"), {}, "variance must be finite, got inf"),
        (-float("inf"), {}, "variance must be finite, got -inf"),
        (-1e-300, {}, "variance must be >= 0, got -1e-300"),
        (0.0, {"allow_zero": False}, "variance must be > 0, got 0.0"),
        (-0.0, {"allow_zero": False}, "variance must be > 0, got -0.0"),
        (True, {}, "variance must be a real number, got True"),
        ("0.1", {}, "variance must be a real number, got '0.1'"),
        (1j, {}, "variance must be a real number, got 1j"),
    ]
    for value, kw, words in cases:
        with pytest.raises(ValueError) as info:
            validate_variance(value, **kw)
        assert one_line(info) == words


def test_variance_names_the_argument():
    with pytest.raises(ValueError, match="^sigma_w2 is NaN$"):
        validate_variance(math.nan, "sigma_w2")


def test_finite():
    a = np.array([[1.0, -2.0], [0.0, 1e308]])
    assert validate_finite(a) is a
    for bad in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b[1, 0] = bad
        with pytest.raises(ValueError) as info:
            validate_finite(b, "X")
        assert one_line(info) == "X contains NaN or infinity"
    assert validate_finite([1, 2, 3]) == [1, 2, 3]
    with pytest.raises(ValueError):
        validate_finite(np.array([1 + 0j, complex(0, np.inf)]))


def test_rng():
    g = np.random.default_rng(0)
    assert validate_rng(g) is g
    for bad in (0, None, np.random.RandomState(0), np.random):
        with pytest.raises(ValueError) as info:
            validate_rng(bad)
        assert "must be a numpy.random.Generator (np.random.default_rng(seed))" in one_line(info)


def test_rtol():
    assert validate_rtol(None) is None and validate_rtol(0) == 0.0 and validate_rtol(0.5) == 0.5
    for bad in (1.0, 1, -1e-16, math.nan, math.inf, True, "1e-8"):
        with pytest.raises(ValueError) as info:
            validate_rtol(bad)
        assert one_line(info).startswith("rtol must be a real number in [0, 1), got ")


def test_spectrum():
    np.testing.assert_array_equal(validate_spectrum(2.5), [2.5])
    out = validate_spectrum([3, 1, 2])
    assert out.dtype == np.float64 and out.shape == (3,)
    with pytest.raises(ValueError) as info:
        validate_spectrum(np.eye(2))
    assert one_line(info).startswith("eigenvalues must be a 1-D array, got shape (2, 2)")
    with pytest.raises(ValueError, match="lam contains NaN or infinity"):
        validate_spectrum([1.0, math.nan], "lam")
    with pytest.raises(ValueError, match="must be a 1-D array of real numbers"):
        validate_spectrum(["a"])

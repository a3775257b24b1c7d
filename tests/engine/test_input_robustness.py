"""Issue 14: extreme and malformed input gives a finite right answer or one clear ValueError.

Each test pins one defect the fresh-clone audit found (NaN counted as NSD, silent NaN from
finite input, a tolerance of NaN, a matrix read as a list of eigenvalues, tracebacks instead
of one-line errors, work that cannot fit started anyway).  The expected values are computed
here independently (closed forms, exact scaling by powers of two), not read from the toolkit.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lora_theorems as lt
from lora_theorems.cli import main
from lora_theorems.numerics.paper_l.fisher import fisher_from_jacobian, nonzero_eigenvalues
from lora_theorems.numerics.paper_l.information import all_readings, information_bits, positive_eigenvalues, renyi_entropy
from lora_theorems.numerics.paper_l.m_delta import (
    MEMORY_LIMIT_BYTES,
    TIME_LIMIT_S,
    check_sweep_budget,
    gram_eigenvalues,
    m_delta_spectrum,
    mp_edges,
    mp_top_edge,
    sweep_cost,
    sweep_top_eigenvalue,
)


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("lora-theorems: error: ") and err.count("\n") == 1, err
    return err


# ----------------------------------------------------------------------------- M_Delta: never NaN counted as NSD


def test_cli_m_delta_huge_variance_is_an_error_not_p_nsd_one(capsys):
    # before: P(NSD) = 1.0000 (NaN eigenvalues compared <= 0 as "not > 0"); truth: s_1(A)^2 ~ 1e308 n >> 1
    err = _one_line_error(capsys, ["m-delta", "--width", "8", "--rank", "2", "--variance", "1e308"])
    assert "too large for float64" in err
    assert capsys.readouterr().out == ""


def test_api_m_delta_huge_variance_raises():
    with pytest.raises(ValueError, match="too large for float64"):
        lt.explore_m_delta(8, 2, 1e308)


def test_sweep_never_counts_overflow_as_nsd():
    # sweep_top_eigenvalue on its own (no up-front edge check): an overflowing lambda_max raises
    with pytest.raises(ValueError, match="overflow"):
        sweep_top_eigenvalue(np.random.default_rng(0), 8, 2, 1e308, 10)


def test_large_but_representable_variance_is_right():
    # sigma_a^2 = 1e300, n = 8: s_1^2 ~ 1e300 * chi^2-ish >> 1, so P(NSD) is 0, and lambda_max is finite
    rep = lt.explore_m_delta(8, 2, 1e300, trials=200)
    assert rep.p_nsd == 0.0
    assert math.isfinite(rep.max_top_eigenvalue) and rep.max_top_eigenvalue > 1e299


def test_tiny_variance_is_right():
    # sigma_a^2 = 1e-300: A^T A ~ 1e-300, so M_Delta = -I up to 1e-299: NSD surely
    rep = lt.explore_m_delta(8, 2, 1e-300, trials=200)
    assert rep.p_nsd == 1.0 and rep.max_top_eigenvalue == pytest.approx(-1.0, abs=1e-290)


def test_m_delta_spectrum_of_huge_finite_entries_raises_instead_of_nan():
    # A = 1e200 * ones(2, 3): s_1^2 = 6e400 is not a float64; before: top = [nan, nan]
    with pytest.raises(ValueError, match="overflow"):
        m_delta_spectrum(np.full((2, 3), 1e200))


@pytest.mark.parametrize("scale_log2", [-500, -450, 450, 500])
def test_gram_eigenvalues_extreme_but_representable(scale_log2):
    # A = 2^k * B: s_i(A)^2 = 4^k s_i(B)^2 exactly in real arithmetic; B's values are ordinary floats
    rng = np.random.default_rng(3)
    B = rng.standard_normal((3, 5))
    ref = np.linalg.svd(B, compute_uv=False) ** 2
    got = gram_eigenvalues(np.ldexp(B, scale_log2))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(np.ldexp(got, -2 * scale_log2), ref, rtol=1e-13)


def test_gram_eigenvalues_underflow_to_zero_is_the_float64_answer():
    # s_i^2 ~ 2^-1400 lies below the smallest float64 (2^-1074): 0 is the nearest value, never NaN
    got = gram_eigenvalues(np.ldexp(np.random.default_rng(3).standard_normal((3, 5)), -700))
    assert got.tolist() == [0.0, 0.0, 0.0]
    assert m_delta_spectrum(np.full((2, 3), 1e-200)).top.tolist() == [-1.0, -1.0]


def test_gram_eigenvalues_ordinary_range_unchanged():
    # inside the safe range the computation is the plain A A^T one, bit for bit
    rng = np.random.default_rng(4)
    A = rng.standard_normal((6, 2, 7)) * 0.3
    plain = np.linalg.eigvalsh(A @ np.swapaxes(A, -1, -2))[..., ::-1]
    np.testing.assert_array_equal(gram_eigenvalues(A), plain)


def test_m_delta_spectrum_of_a_vector_is_a_value_error():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., r, n\)"):
        m_delta_spectrum(np.ones(3))  # before: IndexError


def test_sweep_needs_a_generator():
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        sweep_top_eigenvalue(0, 4, 2, 0.1, 10)  # before: AttributeError


def test_mp_edges_overflow():
    with pytest.raises(ValueError, match="overflow"):
        mp_edges(1.0, 1e308)
    with pytest.raises(ValueError, match="too large"):
        mp_top_edge(8, 2, 1e308)


# ----------------------------------------------------------------------------- size guards and progress


def test_cli_refuses_a_batch_beyond_memory(capsys):
    # before: a 25-line MemoryError traceback (one 1e5 x 1e5 matrix is 80 GB)
    err = _one_line_error(capsys, ["m-delta", "--width", "100000", "--rank", "100000", "--variance", "1e-5"])
    assert "memory" in err and "the limit is 2 GiB" in err


def test_cli_refuses_hours_of_work_up_front(capsys):
    # before: width = rank = 3000 ran ~50 minutes in silence
    err = _one_line_error(capsys, ["m-delta", "--width", "3000", "--rank", "3000", "--variance", "1e-4"])
    assert "estimated" in err and "the limit is 30 min" in err


def test_cli_refuses_a_trillion_trials(capsys):
    # before: hung (and would have kept 8 TB of values)
    err = _one_line_error(capsys, ["m-delta", "--width", "8", "--rank", "2", "--variance", "0.1", "--trials", str(10**12)])
    assert "estimated" in err and "limit" in err


def test_api_guard_is_the_same_and_configurable():
    with pytest.raises(ValueError, match="limit"):
        lt.explore_m_delta(8, 2, 0.1, trials=10**12)
    with pytest.raises(ValueError, match="limit"):
        lt.explore_m_delta(64, 64, 0.01, trials=2000, max_seconds=0.001)
    with pytest.raises(ValueError, match="max_seconds"):
        lt.explore_m_delta(8, 2, 0.1, max_seconds=float("nan"))


def test_cost_estimate_scales_as_the_cost_model():
    c1 = sweep_cost(100, 10, 1000)
    c2 = sweep_cost(100, 10, 2000)
    assert c2.flops == 2 * c1.flops and c2.seconds == pytest.approx(2 * c1.seconds)
    assert sweep_cost(1000, 1000, 1).flops == pytest.approx(2e9 + 4e9 + 3e7)
    # one 8000 x 8000 matrix, its copy and two Gram matrices: 8 * 4 * 64e6 bytes = 2.05e9 < 2 GiB
    assert check_sweep_budget(8000, 8000, 1, time_limit=None).batch == 1
    with pytest.raises(ValueError, match="memory"):
        check_sweep_budget(8200, 8200, 1, time_limit=None)
    assert MEMORY_LIMIT_BYTES == 2 * 2**30 and TIME_LIMIT_S == 1800


def test_progress_is_reported_on_long_work(monkeypatch):
    import itertools

    from lora_theorems.numerics.paper_l import m_delta

    # a clock that advances one second per reading: every batch but the last reports (5 batches of <= 4096)
    clock = itertools.count()
    monkeypatch.setattr(m_delta.time, "perf_counter", lambda: float(next(clock)))
    msgs: list[str] = []
    rep = lt.explore_m_delta(8, 2, 0.1, trials=20000, progress=msgs.append)
    assert [m.split(": ")[1].split(" matrices")[0] for m in msgs] == ["4096/20000", "8192/20000", "12288/20000", "16384/20000"]
    assert all("left" in m for m in msgs)
    # progress does not change the result
    assert rep == lt.explore_m_delta(8, 2, 0.1, trials=20000)


def test_progress_must_be_callable():
    with pytest.raises(ValueError, match="callable"):
        lt.explore_m_delta(8, 2, 0.1, progress="stderr")


# ----------------------------------------------------------------------------- information bits and Renyi entropies


def test_renyi_normalized_of_huge_equal_eigenvalues_is_log2():
    # two equal eigenvalues: the normalized spectrum is (1/2, 1/2), H_alpha = log 2 for every alpha; before: NaN
    for alpha in (0.0, 0.5, 1.0, 2.0, math.inf):
        assert renyi_entropy([1e308, 1e308], alpha, spectrum="normalized") == pytest.approx(math.log(2), rel=1e-15)


def test_raw_readings_of_huge_eigenvalues():
    lam = [1e308, 1e308]
    # raw H_2 = -log(2 * 1e616) = -(log 2 + 616 log 10), finite although 1e616 is not a float
    assert renyi_entropy(lam, 2.0) == pytest.approx(-(math.log(2) + 616 * math.log(10)), rel=1e-15)
    assert information_bits(lam, "trace") == 1e308  # (1e308 + 1e308) / 2, formed without overflow
    assert information_bits(lam, "log-pdet") == pytest.approx(308 * math.log(10), rel=1e-15)
    with pytest.raises(ValueError, match="overflows"):
        renyi_entropy(lam, 1.0)  # -sum lambda log lambda = -1.4e311: beyond float64
    with pytest.raises(ValueError, match="overflows"):
        information_bits([1.7e308] * 3, "trace")  # 2.55e308


def test_renyi_alpha_near_float_max_tends_to_the_infinity_limit():
    # H_alpha -> -log lambda_max as alpha -> inf; at alpha = 1e308, alpha * log lambda_max overflowed to NaN/inf
    assert renyi_entropy([math.e, 1.0], 1e308) == pytest.approx(-1.0, rel=1e-15)
    assert renyi_entropy([0.5, 0.25], 1e300, "normalized") == pytest.approx(-math.log(2 / 3), rel=1e-15)


@pytest.mark.parametrize("rtol", [float("nan"), -1.0, math.inf, 1.0, "1e-9", True])
def test_bad_rtol_is_refused(rtol):
    with pytest.raises(ValueError, match="rtol"):
        information_bits([1.0, 2.0], rtol=rtol)  # before: nan gave 0.0, -1 was accepted
    with pytest.raises(ValueError, match="rtol"):
        renyi_entropy([1.0, 2.0], 2.0, rtol=rtol)
    with pytest.raises(ValueError, match="rtol"):
        nonzero_eigenvalues(np.eye(2), rtol=rtol)


def test_rtol_zero_and_default():
    assert information_bits([1.0, 2.0], rtol=0.0) == pytest.approx(0.5 * math.log(2.0))
    assert positive_eigenvalues([2.0, 1e-30], rtol=0.0).tolist() == [2.0, 1e-30]
    assert positive_eigenvalues([2.0, 1e-30]).tolist() == [2.0]


def test_a_matrix_is_not_a_list_of_eigenvalues():
    M = np.diag([4.0, 1.0, 0.25])  # its eigenvalues give log-pdet 0; flattened entries would too, silently
    with pytest.raises(ValueError, match="1-D"):
        information_bits(M)
    with pytest.raises(ValueError, match="1-D"):
        renyi_entropy(M, 2.0)
    with pytest.raises(ValueError, match="1-D"):
        all_readings(M)
    assert information_bits(np.linalg.eigvalsh(M)) == pytest.approx(0.0, abs=1e-15)


def test_non_numeric_spectrum():
    with pytest.raises(ValueError):
        information_bits(["a", "b"])
    with pytest.raises(ValueError, match="NaN or infinity"):
        information_bits([1.0, math.inf])


def test_unknown_reading_named_before_any_work():
    with pytest.raises(ValueError, match="unknown IB reading"):
        information_bits(np.eye(2), "logdet")  # the reading is named, not the shape
    with pytest.raises(ValueError, match="unknown spectrum"):
        renyi_entropy(np.eye(2), 2.0, "norm")


def test_fisher_validation():
    with pytest.raises(ValueError, match="square"):
        nonzero_eigenvalues(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        nonzero_eigenvalues(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    # entries near the float64 maximum: (M + M^T)/2 used to overflow to inf
    assert nonzero_eigenvalues(np.diag([1e308, 1e308])).tolist() == [1e308, 1e308]
    with pytest.raises(ValueError, match="n_samples"):
        fisher_from_jacobian(np.ones((2, 3)), np.eye(2), 0)
    with pytest.raises(ValueError, match="shape"):
        fisher_from_jacobian(np.ones((2, 3)), np.eye(3), 1)


# ----------------------------------------------------------------------------- API and pytest plugin


@pytest.mark.parametrize("ids", [5, [5], b"L4", 3.0, [None]])
def test_build_ledger_bad_ids_is_a_value_error(ids):
    with pytest.raises(ValueError, match="claim id"):
        lt.build_ledger(ids=ids)  # before: TypeError 'int' object is not iterable


def test_resolve_ids_canonical():
    from lora_theorems.api import resolve_ids

    assert resolve_ids(["l4", "L4", "m1"]) == ("L4", "M1")
    assert resolve_ids("l5") == ("L5",)
    assert resolve_ids(iter(["L1"])) == ("L1",)


@pytest.mark.parametrize("opts,words", [(["--lt-profile", "bogus"], "unknown profile 'bogus'"),
                                        (["--lt-seed", "-1"], "seed must be a non-negative integer")])
def test_pytest_plugin_bad_option_is_a_usage_error(tmp_path, opts, words):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["lora_theorems.pytest_plugin"]\n')
    (tmp_path / "test_x.py").write_text(textwrap.dedent("def test_x():\n    pass\n"))
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *opts, str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 4, res.stdout + res.stderr  # pytest's usage-error code, not 3 (internal error)
    assert "INTERNALERROR" not in res.stdout + res.stderr
    assert words in res.stderr

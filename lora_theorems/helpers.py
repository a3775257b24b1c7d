"""Check helpers: the machinery every check needs, written once, so a check reads as its mathematics.

- :data:`FAMILY_ALPHA`: the family-wise false-alarm rate of every statistical check;
- :class:`Grid`: a parameter grid named once, with its value in each profile (``grid(ctx)``);
- :func:`proportion_ci`: an exact (Clopper-Pearson) interval for a binomial proportion,
  two-sided or one-sided;
- :func:`binomial_sweep`: exact intervals over a grid of cells, Bonferroni-corrected so the
  whole grid has family-wise false-alarm rate ``family_alpha``;
- :func:`normal_quantile` and :func:`mean_ci`: CLT intervals for a mean (the statistical
  checks whose quantity is an average rather than a frequency);
- :class:`Worst`: the worst case of a sweep and its witness (NaN counts as the worst case,
  never as agreement);
- :class:`Witnesses`: the first witness seen per key (say per ``(n, r)``) and the smallest key;
- :func:`margin_outcome`: the :class:`~lora_theorems.checks.Outcome` of a "worst margin must
  be >= 0" check, with the summary computed from the result;
- :func:`decide`: the :class:`~lora_theorems.checks.Outcome` of any decisive check, whose
  summary and counterexample follow from ``passed`` (a counterexample only on failure);
- :class:`BoundPoint` / :func:`bound_sweep`: a quantity against a bound over a parameter grid
  (``value <= bound`` at every point), its table rows, the smallest slack and the witness of
  the worst point; :meth:`BoundSweep.outcome` turns it into an
  :class:`~lora_theorems.checks.Outcome` whose summary and counterexample follow from the result;
- :func:`series_by`: the points of a sweep as one plot series per value of a parameter;
- :func:`loglog_slope`: the local exponent ``log(y2/y1) / log(x2/x1)`` of a power law.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .checks import Outcome
from .ledger import Series

if TYPE_CHECKING:
    from .checks import CheckContext

__all__ = [
    "FAMILY_ALPHA",
    "SIDES",
    "BinomialCell",
    "BinomialSweep",
    "BoundPoint",
    "BoundSweep",
    "Grid",
    "MeanInterval",
    "Witnesses",
    "Worst",
    "binomial_sweep",
    "bound_sweep",
    "decide",
    "loglog_slope",
    "margin_outcome",
    "mean_ci",
    "normal_quantile",
    "proportion_ci",
    "series_by",
]

#: Family-wise false-alarm rate of every statistical check of the ledger: the probability,
#: over the Monte Carlo draws, that a check reports a failure the true law does not have.
FAMILY_ALPHA = 1e-3

#: The sides an interval can have: ``"two-sided"`` (each tail ``alpha/2``), ``"lower"`` (a
#: one-sided lower bound at level ``alpha``, upper end 1) and ``"upper"`` (the reverse).
SIDES = ("two-sided", "lower", "upper")

T = TypeVar("T")


@dataclass(frozen=True)
class Grid(Generic[T]):
    """A parameter grid with one value per profile: ``WIDTHS = Grid(quick=(16, 64), full=(16, 64, 256))``,
    read in a check as ``WIDTHS(ctx)``.  The quick value is smaller but must still reach the
    region where the claim breaks (it decides alike)."""

    quick: T
    full: T

    def __call__(self, ctx: CheckContext) -> T:
        """The value for ``ctx.profile`` (``ValueError`` for a profile that is neither)."""
        if ctx.profile == "quick":
            return self.quick
        if ctx.profile == "full":
            return self.full
        raise ValueError(f"unknown profile {ctx.profile!r}; expected 'quick' or 'full'")


def _count(x: Any) -> int | None:
    return int(x) if isinstance(x, numbers.Integral) and not isinstance(x, bool) else None


def proportion_ci(successes: int, trials: int, alpha: float, side: str = "two-sided") -> tuple[float, float]:
    """Exact (Clopper-Pearson) ``1 - alpha`` interval for a binomial proportion.

    Two-sided: each tail ``alpha/2``, ``(B^{-1}(alpha/2; k, n-k+1), B^{-1}(1-alpha/2; k+1, n-k))``
    with ``B^{-1}`` the beta quantile (the textbook form; 0 and 1 at ``k = 0`` and ``k = n``).
    ``side="lower"``: a one-sided lower bound at level ``alpha`` (upper end 1); ``"upper"``:
    the reverse.  ``ValueError`` for counts outside ``0 <= successes <= trials``,
    ``trials >= 1``, ``alpha`` outside (0, 1) or an unknown side.
    """
    from scipy.stats import beta

    k, n = _count(successes), _count(trials)
    if k is None or n is None or n < 1 or not 0 <= k <= n:
        raise ValueError(f"need integers 0 <= successes <= trials, trials >= 1; got {successes}/{trials}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)}; got {side!r}")
    tail = alpha / 2 if side == "two-sided" else alpha
    lo = 0.0 if k == 0 or side == "upper" else float(beta.ppf(tail, k, n - k + 1))
    hi = 1.0 if k == n or side == "lower" else float(beta.ppf(1 - tail, k + 1, n - k))
    return lo, hi


@dataclass(frozen=True)
class BinomialCell:
    """One cell of a binomial sweep: its label, counts and exact interval."""

    label: Mapping[str, Any]
    successes: int
    trials: int
    low: float
    high: float

    @property
    def estimate(self) -> float:
        return self.successes / self.trials


@dataclass(frozen=True)
class BinomialSweep:
    """Exact intervals over a grid, Bonferroni-corrected to family-wise rate ``family_alpha``."""

    cells: tuple[BinomialCell, ...]
    family_alpha: float
    per_cell_alpha: float
    side: str = "two-sided"

    def lowest_upper(self) -> BinomialCell:
        """The cell whose upper bound is smallest (the strongest evidence that p < 1); first on ties."""
        return min(self.cells, key=lambda c: c.high)

    def highest_lower(self) -> BinomialCell:
        """The cell whose lower bound is largest (the strongest evidence that p > 0); first on ties."""
        return max(self.cells, key=lambda c: c.low)

    def __iter__(self):
        return iter(self.cells)

    def __len__(self) -> int:
        return len(self.cells)


def binomial_sweep(
    cells: Iterable[tuple[Mapping[str, Any], int, int]],
    family_alpha: float = FAMILY_ALPHA,
    side: str = "two-sided",
) -> BinomialSweep:
    """Exact intervals for ``(label, successes, trials)`` cells with a Bonferroni correction:
    each cell at ``family_alpha / len(cells)`` (two-sided, or one-sided per ``side``), so the
    probability that *any* interval misses its true proportion is at most ``family_alpha``."""
    cells = list(cells)
    if not cells:
        raise ValueError("a binomial sweep needs at least one cell")
    alpha = family_alpha / len(cells)
    out = tuple(BinomialCell(dict(lab), int(k), int(n), *proportion_ci(int(k), int(n), alpha, side)) for lab, k, n in cells)
    return BinomialSweep(out, family_alpha, alpha, side)


def normal_quantile(alpha: float, side: str = "two-sided") -> float:
    """The standard normal quantile of a ``1 - alpha`` CLT interval: ``Phi^{-1}(1 - alpha/2)``
    two-sided, ``Phi^{-1}(1 - alpha)`` one-sided; ``ValueError`` outside (0, 1)."""
    from scipy.stats import norm

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)}; got {side!r}")
    return float(norm.ppf(1 - (alpha / 2 if side == "two-sided" else alpha)))


@dataclass(frozen=True)
class MeanInterval:
    """A sample mean with its standard error and two-sided CLT interval."""

    mean: float
    se: float
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def mean_ci(samples: Any, alpha: float) -> MeanInterval:
    """Two-sided ``1 - alpha`` CLT interval ``mean +- z se`` for the mean of i.i.d. ``samples``
    (``se`` from the ``ddof=1`` standard deviation); for quantities with finite variance, where
    the normal approximation is the stated basis of the false-alarm rate.  ``ValueError`` for
    fewer than two samples."""
    import numpy as np

    x = np.asarray(samples, dtype=float).ravel()
    if x.size < 2:
        raise ValueError(f"a CLT interval needs at least two samples, got {x.size}")
    z = normal_quantile(alpha)
    m, se = float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))
    return MeanInterval(m, se, m - z * se, m + z * se)


@dataclass
class Worst:
    """The worst case of a sweep: call :meth:`see` with each case's *badness* (larger is
    worse) and its witness; NaN badness is the worst case there is, never agreement.

    ``witness`` may be a callable, evaluated only when the case becomes the worst.  Ties keep
    the first case seen.
    """

    badness: float = -math.inf
    witness: Any = None
    seen: int = 0
    nan: bool = field(default=False)

    def see(self, badness: float, witness: Any | Callable[[], Any] = None) -> None:
        self.seen += 1
        b = float(badness)
        if self.nan:
            return
        if math.isnan(b) or b > self.badness:
            self.nan = math.isnan(b)
            self.badness = b
            self.witness = witness() if callable(witness) else witness


class Witnesses(dict):
    """The first witness found for each key (e.g. ``(n, r)``), in a dict; :meth:`smallest` is the
    witness of the smallest key (the most readable counterexample)."""

    def offer(self, key: Hashable, witness: Any | Callable[[], Any]) -> None:
        """Keep ``witness`` (or the value of a callable) for ``key`` unless one is already kept."""
        if key not in self:
            self[key] = witness() if callable(witness) else witness

    def smallest(self) -> tuple[Any, Any]:
        """``(key, witness)`` with the smallest key; ``ValueError`` when none was found."""
        if not self:
            raise ValueError("no witness was found")
        return min(self.items(), key=lambda kv: kv[0])


def margin_outcome(
    worst: Worst,
    *,
    tolerance: float,
    holds: str,
    fails: str,
    **outcome: Any,
) -> Outcome:
    """The :class:`Outcome` of a check that needs every case's badness ``<= tolerance``.

    ``holds`` / ``fails`` are summary templates, formatted with ``worst`` (the worst
    badness), ``margin`` (``tolerance - worst``), ``tolerance`` and ``seen`` (the number of
    cases); the one used is chosen by the result, so a summary can never claim agreement the
    numbers do not show.
    """
    if worst.seen == 0:
        raise ValueError("a sweep that saw no case decides nothing")
    passed = bool(not worst.nan and worst.badness <= tolerance)
    margin = tolerance - worst.badness if not worst.nan else -math.inf
    text = (holds if passed else fails).format(worst=worst.badness, margin=margin, tolerance=tolerance, seen=worst.seen)
    return Outcome(
        passed=passed,
        summary=text,
        worst_margin=margin,
        counterexample=None if passed else (worst.witness or {"worst_badness": worst.badness}),
        **outcome,
    )


def decide(
    passed: bool | None,
    *,
    holds: str | Callable[[], str],
    fails: str | Callable[[], str],
    counterexample: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None,
    undecided: str | None = None,
    **outcome: Any,
) -> Outcome:
    """The :class:`Outcome` of a decisive check: the summary is ``holds`` or ``fails`` by the result
    (callables are evaluated only for the branch taken, so a failure summary may read the
    witness), and the counterexample is built only when the check failed (``ValueError`` if a
    failure has none: a refutation must point at numbers).

    ``passed=None`` (the sweep saw no case it could decide on) is neither: the outcome is
    descriptive, with the ``undecided`` summary (required then) and no worst margin."""
    if passed is None:
        if not undecided:
            raise ValueError("an undecided check must say why (undecided=...)")
        outcome.pop("worst_margin", None)
        return Outcome(passed=None, summary=undecided, **outcome)
    ok = bool(passed)
    text = holds if ok else fails
    ce = None
    if not ok:
        ce = counterexample() if callable(counterexample) else counterexample
        if not ce:
            raise ValueError("a failed check needs a counterexample")
    return Outcome(passed=ok, summary=text() if callable(text) else text, counterexample=ce, **outcome)


# ----------------------------------------------------------------------------- bound sweeps


@dataclass(frozen=True)
class BoundPoint:
    """One point of a ``value <= bound`` sweep: ``value`` (a certified upper end, any numerical
    error already added) must be at most ``bound``.  Written for claim M3 (paper M's
    Berry-Esseen bound ``C rho / (sigma^3 sqrt r)`` on the distance of a noise coordinate to
    the Gaussian), usable by any bound sweep.

    ``label`` names the point (``{"theta": 0.5, "r": 4}``), ``row`` is its line in the report's
    table, ``witness`` the numbers a counterexample at this point shows (the label is put first).
    """

    label: Mapping[str, Any]
    value: float
    bound: float
    row: tuple[Any, ...] = ()
    witness: Mapping[str, Any] = field(default_factory=dict)

    @property
    def slack(self) -> float:
        """``bound - value`` (negative: the bound fails here by that much)."""
        return self.bound - self.value


@dataclass(frozen=True)
class BoundSweep:
    """The points of a ``value <= bound`` sweep and their worst case (see :func:`bound_sweep`)."""

    points: tuple[BoundPoint, ...]
    worst: Worst

    @property
    def slack(self) -> float:
        """The smallest ``bound - value`` over the sweep; ``-inf`` when some value is NaN."""
        return -math.inf if self.worst.nan else -self.worst.badness

    @property
    def holds(self) -> bool:
        """True when every point has ``value <= bound`` (a NaN anywhere is a failure)."""
        return bool(not self.worst.nan and self.slack >= 0)

    @property
    def counterexample(self) -> dict[str, Any] | None:
        """The worst point's label and witness when the bound fails; ``None`` when it holds."""
        return None if self.holds else dict(self.worst.witness)

    @property
    def rows(self) -> tuple[tuple[Any, ...], ...]:
        """The points' table rows, in sweep order."""
        return tuple(p.row for p in self.points)

    def outcome(self, *, holds: str, fails: str, **outcome: Any) -> Outcome:
        """The check's :class:`Outcome`: passed iff the bound holds everywhere.

        ``holds`` and ``fails`` are summary templates formatted with ``n`` (the number of
        points), ``slack`` (the smallest slack) and, for ``fails``, the worst point's label
        and witness; the template used is chosen by the result.
        """
        ok = self.holds
        text = holds.format(n=len(self.points), slack=self.slack) if ok else fails.format(
            n=len(self.points), slack=self.slack, **(self.counterexample or {})
        )
        return Outcome(passed=ok, summary=text, worst_margin=self.slack, counterexample=self.counterexample, **outcome)


def bound_sweep(points: Iterable[BoundPoint]) -> BoundSweep:
    """Collect ``points`` (in order) and their worst case: the point of smallest slack, first on
    ties; a NaN value or bound is the worst case there is, never agreement.  ``ValueError`` for
    an empty sweep (it would decide nothing)."""
    pts = tuple(points)
    if not pts:
        raise ValueError("a bound sweep needs at least one point")
    worst = Worst()
    for p in pts:
        worst.see(p.value - p.bound, {**p.label, **p.witness})
    return BoundSweep(pts, worst)


def series_by(
    points: Sequence[BoundPoint],
    key: str,
    label: str,
    x: Callable[[BoundPoint], float],
    y: Callable[[BoundPoint], float],
    *,
    style: str = "line",
    only: Iterable[Hashable] | None = None,
) -> tuple[Series, ...]:
    """One :class:`Series` per value of ``point.label[key]`` (in order of first appearance),
    named ``label.format(value)``, with coordinates ``x(point)``, ``y(point)``; ``only``
    restricts to some values of the key."""
    groups: dict[Hashable, list[BoundPoint]] = {}
    for p in points:
        groups.setdefault(p.label[key], []).append(p)
    keep = None if only is None else set(only)
    return tuple(
        Series(label.format(v), tuple(float(x(p)) for p in ps), tuple(float(y(p)) for p in ps), style=style)
        for v, ps in groups.items()
        if keep is None or v in keep
    )


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """The local exponent ``log(y[1]/y[0]) / log(x[1]/x[0])`` of ``y ~ x^s`` between two points
    (claim M3: the decay rate ``r^(-1/2)`` or ``r^(-1)`` of a distance to the Gaussian).

    ``ValueError`` unless both sequences have two entries, all positive, with ``x[0] != x[1]``.
    """
    import numpy as np

    if len(x) != 2 or len(y) != 2:
        raise ValueError(f"a local slope needs two points, got {len(x)} and {len(y)}")
    if not all(v > 0 for v in (*x, *y)) or x[0] == x[1]:
        raise ValueError(f"a log-log slope needs positive values and two distinct x, got x={list(x)}, y={list(y)}")
    return float(np.log(y[1] / y[0]) / np.log(x[1] / x[0]))

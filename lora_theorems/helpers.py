"""Check helpers: the machinery every check needs, written once, so a check reads as its mathematics.

- :data:`FAMILY_ALPHA`: the family-wise false-alarm rate of every statistical check;
- :func:`proportion_ci`: an exact (Clopper-Pearson) interval for a binomial proportion;
- :func:`binomial_sweep`: exact intervals over a grid of cells, Bonferroni-corrected so the
  whole grid has family-wise false-alarm rate ``family_alpha``;
- :class:`Worst`: the worst case of a sweep and its witness (NaN counts as the worst case,
  never as agreement);
- :func:`margin_outcome`: the :class:`~lora_theorems.checks.Outcome` of a "worst margin must
  be >= 0" check, with the summary computed from the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .checks import Outcome

__all__ = [
    "FAMILY_ALPHA",
    "BinomialCell",
    "BinomialSweep",
    "Worst",
    "binomial_sweep",
    "margin_outcome",
    "proportion_ci",
]

#: Family-wise false-alarm rate of every statistical check of the ledger: the probability,
#: over the Monte Carlo draws, that a check reports a failure the true law does not have.
FAMILY_ALPHA = 1e-3


def proportion_ci(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """Exact two-sided ``1 - alpha`` (Clopper-Pearson) interval for a binomial proportion.

    ``scipy.stats.binomtest(...).proportion_ci(method="exact")``; ``ValueError`` for counts
    outside ``0 <= successes <= trials``, ``trials >= 1`` or ``alpha`` outside (0, 1).
    """
    from scipy.stats import binomtest

    if not (isinstance(trials, int) and isinstance(successes, int)) or trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need integers 0 <= successes <= trials, trials >= 1; got {successes}/{trials}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    ci = binomtest(successes, trials).proportion_ci(confidence_level=1 - alpha, method="exact")
    return float(ci.low), float(ci.high)


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

    def lowest_upper(self) -> BinomialCell:
        """The cell whose upper bound is smallest (the strongest evidence that p < 1)."""
        return min(self.cells, key=lambda c: c.high)

    def highest_lower(self) -> BinomialCell:
        """The cell whose lower bound is largest (the strongest evidence that p > 0)."""
        return max(self.cells, key=lambda c: c.low)


def binomial_sweep(
    cells: Iterable[tuple[Mapping[str, Any], int, int]], family_alpha: float = FAMILY_ALPHA
) -> BinomialSweep:
    """Exact intervals for ``(label, successes, trials)`` cells with a Bonferroni correction:
    each cell at ``family_alpha / len(cells)``, so the probability that *any* interval misses
    its true proportion is at most ``family_alpha``."""
    cells = list(cells)
    if not cells:
        raise ValueError("a binomial sweep needs at least one cell")
    alpha = family_alpha / len(cells)
    out = tuple(BinomialCell(dict(lab), int(k), int(n), *proportion_ci(int(k), int(n), alpha)) for lab, k, n in cells)
    return BinomialSweep(out, family_alpha, alpha)


@dataclass
class Worst:
    """The worst case of a sweep: call :meth:`see` with each case's *badness* (larger is
    worse) and its witness; NaN badness is the worst case there is, never agreement.

    ``witness`` may be a callable, evaluated only when the case becomes the worst.
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
    badness), ``tolerance`` and ``seen`` (the number of cases); the one used is chosen by
    the result, so a summary can never claim agreement the numbers do not show.
    """
    if worst.seen == 0:
        raise ValueError("a sweep that saw no case decides nothing")
    passed = bool(not worst.nan and worst.badness <= tolerance)
    text = (holds if passed else fails).format(worst=worst.badness, tolerance=tolerance, seen=worst.seen)
    return Outcome(
        passed=passed,
        summary=text,
        worst_margin=tolerance - worst.badness if not worst.nan else -math.inf,
        counterexample=None if passed else (worst.witness or {"worst_badness": worst.badness}),
        **outcome,
    )

"""Check machinery shared by paper M's claims (candidates for :mod:`lora_theorems.helpers`).

- :class:`BoundPoint` / :func:`bound_sweep`: a quantity against a bound over a parameter grid
  (``value <= bound`` at every point), its table rows, the smallest slack and the witness of
  the worst point; :meth:`BoundSweep.outcome` turns it into an
  :class:`~lora_theorems.checks.Outcome` whose summary and counterexample follow from the result;
- :func:`series_by`: the points of a sweep as one plot series per value of a parameter;
- :func:`loglog_slope`: the local exponent ``log(y2/y1) / log(x2/x1)`` of a power law.

Nothing here knows about M3: a check supplies the points (the mathematics) and reads back the
verdict, so the loops, witnesses and summaries are written once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lora_theorems.checks import Outcome
from lora_theorems.helpers import Worst
from lora_theorems.ledger import Series

__all__ = ["BoundPoint", "BoundSweep", "bound_sweep", "loglog_slope", "series_by"]


@dataclass(frozen=True)
class BoundPoint:
    """One point of a sweep: ``value`` (a certified upper end: any numerical error already added)
    must be at most ``bound``.

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
    """The local exponent ``log(y[1]/y[0]) / log(x[1]/x[0])`` of ``y ~ x^s`` between two points."""
    import numpy as np

    if len(x) != 2 or len(y) != 2:
        raise ValueError(f"a local slope needs two points, got {len(x)} and {len(y)}")
    return float(np.log(y[1] / y[0]) / np.log(x[1] / x[0]))

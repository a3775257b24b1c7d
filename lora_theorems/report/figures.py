"""Drawing :class:`~lora_theorems.ledger.Plot` data as PNG figures, reproducibly.

The checks attach plot *data* to their evidence; this module is the only place that turns
it into pictures.  Two runs with the same data give the same PNG bytes:

- matplotlib's object API with an explicit Agg canvas (no ``pyplot``, no global backend
  switch, nothing shared with a user's interactive session);
- the style is reset to matplotlib's defaults (a user's ``matplotlibrc`` does not leak in)
  and a few fixed settings are applied on top;
- fixed size and resolution (800 px wide, readable at repository-page width);
- PNG metadata is emptied (``metadata={"Software": None}``): the PNG writer of matplotlib
  stores no timestamp, so the bytes depend on the data and the matplotlib version only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np

from ..ledger import Plot, Series

__all__ = ["DPI", "FIG_WIDTH_IN", "draw_plot", "plot_size_note"]

DPI = 100
FIG_WIDTH_IN = 8.0  #: 8 in x 100 dpi = 800 px: the width of a repository page's text column
_LINES_SIZE = (FIG_WIDTH_IN, 4.6)
_HEATMAP_SIZE = (FIG_WIDTH_IN, 5.6)
_RC: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "savefig.dpi": DPI,
    "figure.dpi": DPI,
    "path.simplify": False,  # every data point is drawn; no data-dependent simplification
}
_ANNOTATE_MAX_CELLS = 120  #: heat maps with at most this many cells print their values
_STYLES = ("line", "points", "step", "hist")
#: one colour and one marker per series, in order (tab10 is distinguishable in print and by
#: most colour-blind readers; the marker tells series apart where colours do not)
_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h")  # 11 vs 10 colours: 110 distinct pairs
_DIVERGING = "RdBu_r"  #: heat maps: blue below 0, white at 0, red above


def plot_size_note(plot: Plot) -> str:
    """A one-line description of how much data a plot shows (for its caption)."""
    if plot.kind == "heatmap":
        return f"grid {len(plot.y)} x {len(plot.x)} ({len(plot.y) * len(plot.x)} cells)"
    parts = []
    for s in plot.series:
        n = len(s.y)
        unit = "bins" if s.style == "hist" else "points"
        parts.append(f"{s.label or 'series'}: {n} {unit}")
    return "; ".join(parts)


def _floats(values, what: str) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be numbers ({exc})") from None
    return np.where(np.isfinite(a), a, np.nan)


def _validate_series(s: Series) -> None:
    if s.style not in _STYLES:
        raise ValueError(f"series {s.label!r}: unknown style {s.style!r} (choose {', '.join(_STYLES)})")
    nx, ny = len(s.x), len(s.y)
    if ny == 0:
        raise ValueError(f"series {s.label!r} has no data")
    if s.style == "hist":
        if nx != ny + 1:
            raise ValueError(f"histogram {s.label!r} needs len(x) == len(y) + 1 (bin edges), got {nx} and {ny}")
    elif nx != ny:
        raise ValueError(f"series {s.label!r} has {nx} x values and {ny} y values")
    if s.yerr is not None:
        if len(s.yerr) != ny:
            raise ValueError(f"series {s.label!r} has {len(s.yerr)} error bars for {ny} values")
        shape = np.shape(np.asarray(s.yerr, dtype=object))
        if not (shape == (ny,) or shape == (ny, 2)):
            raise ValueError(f"series {s.label!r}: yerr must be {ny} half-widths or {ny} (below, above) pairs")


def _interval(y: np.ndarray, yerr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of the intervals: ``yerr`` is half-widths or (below, above) pairs."""
    if yerr.ndim == 2:
        return y - yerr[:, 0], y + yerr[:, 1]
    return y - yerr, y + yerr


def _draw_series(ax, s: Series, color, marker: str) -> None:
    """One series.  Intervals (``yerr``) of lines and point series are drawn as a shaded band
    between their ends (joined in x order; point series also keep a thin bar at each point),
    of histograms and steps as error bars."""
    x = _floats(s.x, f"x of {s.label!r}")
    y = _floats(s.y, f"y of {s.label!r}")
    yerr = None if s.yerr is None else _floats(s.yerr, f"yerr of {s.label!r}")
    label = s.label or None
    if s.style == "hist":
        ax.stairs(y, x, fill=True, alpha=0.3, color=color)
        ax.stairs(y, x, color=color, linewidth=1.2, label=label)
        if yerr is not None:
            lo, hi = _interval(y, yerr)
            ax.errorbar((x[:-1] + x[1:]) / 2, y, yerr=(y - lo, hi - y), fmt="none", ecolor=color, capsize=2, lw=0.8)
        return
    if s.style == "step":
        ax.step(x, y, where="post", color=color, linewidth=1.5, label=label)
        if yerr is not None:
            lo, hi = _interval(y, yerr)
            ax.errorbar(x, y, yerr=(y - lo, hi - y), fmt="none", ecolor=color, capsize=2, lw=0.8)
        return
    if yerr is not None:
        lo, hi = _interval(y, yerr)
        order = np.argsort(x, kind="stable")
        ax.fill_between(x[order], lo[order], hi[order], color=color, alpha=0.2, linewidth=0)
        if s.style == "points":  # the measured intervals themselves, over the band that joins them
            ax.errorbar(x, y, yerr=(y - lo, hi - y), fmt="none", ecolor=color, elinewidth=0.8, capsize=2, alpha=0.7)
    if s.style == "points":
        ax.plot(x, y, color=color, label=label, linestyle="none", marker=marker, markersize=4.5)
    else:
        ax.plot(x, y, color=color, label=label, linestyle="-", linewidth=1.5,
                marker=marker if len(x) <= 40 else None, markersize=4)


def _tick_labels(values: np.ndarray) -> tuple[list[int], list[str]]:
    """Grid positions to label (at most 12, evenly thinned) and their texts."""
    step = max(1, -(-len(values) // 12))
    idx = list(range(0, len(values), step))
    return idx, [f"{v:.3g}" for v in values[idx]]


def _draw_heatmap(fig, ax, plot: Plot) -> None:
    """One equal cell per grid point (the grids of sweeps are rarely evenly spaced: ranks
    1, 2, 4, ..., variances on a log scale), labelled with the grid values."""
    x = _floats(plot.x, "heat map x")
    y = _floats(plot.y, "heat map y")
    if len(x) == 0 or len(y) == 0:
        raise ValueError("heat map has an empty grid")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("heat map grid coordinates must be finite")
    rows = [tuple(r) for r in plot.z]
    if len(rows) != len(y) or any(len(r) != len(x) for r in rows):
        raise ValueError(f"heat map z must be {len(y)} rows of {len(x)} values (z[i][j] at (x[j], y[i]))")
    z = np.ma.masked_invalid(_floats(rows, "heat map z"))
    if not z.count():
        raise ValueError("heat map has no finite value")
    from matplotlib.colors import TwoSlopeNorm

    # a diverging map centred at 0, each side scaled to its own extreme: the sign of every
    # cell shows even when one side spans -99 and the other +0.02
    lo, hi = min(float(z.min()), 0.0), max(float(z.max()), 0.0)
    if lo == 0.0 and hi == 0.0:
        lo, hi = -1.0, 1.0
    lo, hi = (lo if lo < 0 else -hi), (hi if hi > 0 else -lo)
    norm = TwoSlopeNorm(vmin=lo, vcenter=0.0, vmax=hi)
    ax.set_facecolor("#d9d9d9")  # cells without a finite value
    mesh = ax.pcolormesh(np.arange(len(x) + 1) - 0.5, np.arange(len(y) + 1) - 0.5, z, cmap=_DIVERGING, norm=norm,
                         shading="flat")
    bar = fig.colorbar(mesh, ax=ax, label=plot.zlabel or None)
    bar.ax.axhline(0.0, color="black", linewidth=1.0)
    positive = {(i, j) for i in range(len(y)) for j in range(len(x)) if z[i, j] is not np.ma.masked and z[i, j] > 0}
    if positive:  # hatched and outlined, so a positive cell is seen even when it is barely red
        from matplotlib.patches import Rectangle

        for i, j in sorted(positive):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="black",
                                   linewidth=1.2))
        ax.plot([], [], linestyle="none", marker="s", markerfacecolor="none", markeredgecolor="black",
                label=f"value > 0 ({len(positive)} of {z.count()} cells, hatched)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    for setter, labeller, values in ((ax.set_xticks, ax.set_xticklabels, x), (ax.set_yticks, ax.set_yticklabels, y)):
        idx, labels = _tick_labels(values)
        setter(idx)
        labeller(labels)
    ax.grid(False)
    if z.size <= _ANNOTATE_MAX_CELLS:
        for i in range(len(y)):
            for j in range(len(x)):
                v = z[i, j]
                if v is np.ma.masked:
                    text, color = "n/a", "black"
                else:
                    text = f"{float(v):.3g}"
                    color = "white" if abs(float(norm(float(v))) - 0.5) > 0.35 else "black"  # dark cells: light text
                if (i, j) in positive:  # on the hatching: dark bold text on a light box
                    ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black", fontweight="bold",
                            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none", "pad": 1.5})
                else:
                    ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)


def _wrap(text: str, width: int) -> str:
    """Break ``text`` into lines of at most ``width`` characters at spaces outside ``$...$``
    (a long title would otherwise run off the figure)."""
    words: list[str] = []
    for token in text.split(" "):
        if words and words[-1].count("$") % 2 == 1:  # inside a math span: keep it whole
            words[-1] += " " + token
        else:
            words.append(token)
    lines: list[str] = []
    for w in words:
        if lines and len(lines[-1]) + 1 + len(w) <= width:
            lines[-1] += " " + w
        else:
            lines.append(w)
    return "\n".join(lines)


def _plain_log_formatter(**kw):
    """matplotlib's log-axis formatter (which decides what to label), printing ``1, 2, 0.01,
    1e+05`` rather than ``2 x 10^0``."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def _num_to_string(self, x, vmin, vmax):
            return f"{x:g}"

    return PlainLogFormatter(**kw)


def _build(plot: Plot):
    """The matplotlib ``Figure`` of ``plot`` (drawn under :func:`draw_plot`'s fixed style)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    heat = plot.kind == "heatmap"
    labelled = [s for s in plot.series if s.label]
    ncols = 2 if len(labelled) > 3 else max(len(labelled), 1)
    legend_rows = -(-len(labelled) // ncols) if labelled else 0
    size = _HEATMAP_SIZE if heat else (_LINES_SIZE[0], _LINES_SIZE[1] + 0.22 * legend_rows)
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if heat:
        _draw_heatmap(fig, ax, plot)  # categorical cells: logx/logy do not apply
    else:
        for i, s in enumerate(plot.series):
            _draw_series(ax, s, _COLORS[i % len(_COLORS)], _MARKERS[i % len(_MARKERS)])
        for log, axis, setter in ((plot.logx, ax.xaxis, ax.set_xscale), (plot.logy, ax.yaxis, ax.set_yscale)):
            if log:
                setter("log")
                # plain numbers (1, 2, 4, 0.01) read better than 2 x 10^0; minor labels only
                # on short ranges, as matplotlib decides by default
                axis.set_major_formatter(_plain_log_formatter(labelOnlyBase=False))
                axis.set_minor_formatter(_plain_log_formatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.6)))
        if labelled:  # below the axes, never over the data
            fig.legend(loc="outside lower center", ncols=ncols, frameon=False)
    ax.set_title(_wrap(plot.title, 80))
    ax.set_xlabel(_wrap(plot.xlabel, 90))
    ax.set_ylabel(_wrap(plot.ylabel, 45))
    return fig


def _render(plot: Plot, path: Path) -> None:
    _build(plot).savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def draw_plot(plot: Plot, path: str | Path) -> Path:
    """Draw ``plot`` into the PNG file ``path``; the same data gives the same bytes.

    ``kind="lines"`` draws each :class:`Series` (``line``, ``points``, ``step``, or ``hist``
    with ``x`` the bin edges), each with its own colour and marker, the legend below the
    axes.  ``yerr`` is either one half-width per point or one ``(below, above)`` pair per
    point (an asymmetric interval such as Clopper-Pearson's: emit ``(p - lo, hi - p)``); for
    ``line`` and ``points`` series it is drawn as a shaded band between the interval ends,
    for ``step`` and ``hist`` as error bars.  ``kind="heatmap"`` draws ``z[i][j]`` at
    ``(x[j], y[i])``, one equal cell per grid point with the axes labelled by the grid
    values (so ``logx``/``logy`` do not apply), a diverging colour map centred at 0 (each
    side scaled to its own extreme, so the sign of every cell shows), positive cells
    hatched and outlined, a colour bar labelled ``zlabel``, grey cells for non-finite values
    and the values printed in the cells when the grid has at most 120 cells.  Labels may use matplotlib mathtext
    (``$\\sigma_a^2 n$``); a label mathtext cannot parse is drawn as plain text.

    Raises ``ValueError`` for malformed data (unknown kind or style, length mismatch,
    empty plot); nothing is written then.
    """
    import matplotlib
    import matplotlib.style

    path = Path(path)
    if plot.kind not in ("lines", "heatmap"):
        raise ValueError(f"plot {plot.key!r}: unknown kind {plot.kind!r} (choose lines or heatmap)")
    if plot.kind == "lines":
        if not plot.series:
            raise ValueError(f"plot {plot.key!r} has no series")
        for s in plot.series:
            _validate_series(s)
    with matplotlib.style.context("default"), matplotlib.rc_context(cast(Any, _RC)):
        try:
            _render(plot, path)
        except ValueError:
            # most likely a label that matplotlib's mathtext cannot parse: draw the labels as
            # plain text; if the data is at fault the second attempt raises again
            try:
                with matplotlib.rc_context({"text.parse_math": False}):
                    _render(plot, path)
            except ValueError as exc:
                path.unlink(missing_ok=True)
                raise ValueError(f"plot {plot.key!r}: {exc}") from None
    return path

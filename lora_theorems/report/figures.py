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

import numpy as np

from ..ledger import Plot, Series

__all__ = ["DPI", "FIG_WIDTH_IN", "draw_plot", "plot_size_note"]

DPI = 100
FIG_WIDTH_IN = 8.0  #: 8 in x 100 dpi = 800 px: the width of a repository page's text column
_LINES_SIZE = (FIG_WIDTH_IN, 4.6)
_HEATMAP_SIZE = (FIG_WIDTH_IN, 5.6)
_RC = {
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
    if s.yerr is not None and len(s.yerr) != ny:
        raise ValueError(f"series {s.label!r} has {len(s.yerr)} error bars for {ny} values")


def _draw_series(ax, s: Series, color) -> None:
    x = _floats(s.x, f"x of {s.label!r}")
    y = _floats(s.y, f"y of {s.label!r}")
    yerr = None if s.yerr is None else _floats(s.yerr, f"yerr of {s.label!r}")
    label = s.label or None
    if s.style == "hist":
        ax.stairs(y, x, fill=True, alpha=0.3, color=color)
        ax.stairs(y, x, color=color, linewidth=1.2, label=label)
        if yerr is not None:
            ax.errorbar((x[:-1] + x[1:]) / 2, y, yerr=yerr, fmt="none", ecolor=color, capsize=2, lw=0.8)
        return
    if s.style == "step":
        ax.step(x, y, where="post", color=color, linewidth=1.5, label=label)
        if yerr is not None:
            ax.errorbar(x, y, yerr=yerr, fmt="none", ecolor=color, capsize=2, lw=0.8)
        return
    if s.style == "points":
        fmt = dict(linestyle="none", marker="o", markersize=4)
    else:
        fmt = dict(linestyle="-", linewidth=1.5, marker="." if len(x) <= 40 else None)
    if yerr is not None:
        ax.errorbar(x, y, yerr=yerr, color=color, capsize=3, elinewidth=0.9, label=label, **fmt)
    else:
        ax.plot(x, y, color=color, label=label, **fmt)


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
    ax.set_facecolor("#d9d9d9")  # cells without a finite value
    mesh = ax.pcolormesh(np.arange(len(x) + 1) - 0.5, np.arange(len(y) + 1) - 0.5, z, cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label=plot.zlabel or None)
    for setter, labeller, values in ((ax.set_xticks, ax.set_xticklabels, x), (ax.set_yticks, ax.set_yticklabels, y)):
        idx, labels = _tick_labels(values)
        setter(idx)
        labeller(labels)
    ax.grid(False)
    if z.size <= _ANNOTATE_MAX_CELLS:
        lo, hi = float(z.min()), float(z.max())
        for i in range(len(y)):
            for j in range(len(x)):
                v = z[i, j]
                if v is np.ma.masked:
                    text, color = "n/a", "black"
                else:
                    text = f"{float(v):.3g}"
                    light = hi > lo and (float(v) - lo) / (hi - lo) > 0.6  # light cells: dark text
                    color = "black" if light else "white"
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


def _render(plot: Plot, path: Path) -> None:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    heat = plot.kind == "heatmap"
    fig = Figure(figsize=_HEATMAP_SIZE if heat else _LINES_SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if heat:
        _draw_heatmap(fig, ax, plot)  # categorical cells: logx/logy do not apply
    else:
        colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, s in enumerate(plot.series):
            _draw_series(ax, s, colors[i % len(colors)])
        for log, axis, setter in ((plot.logx, ax.xaxis, ax.set_xscale), (plot.logy, ax.yaxis, ax.set_yscale)):
            if log:
                setter("log")
                # plain numbers (1, 2, 4, 0.01) read better than 2 x 10^0; minor labels only
                # on short ranges, as matplotlib decides by default
                axis.set_major_formatter(_plain_log_formatter(labelOnlyBase=False))
                axis.set_minor_formatter(_plain_log_formatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.6)))
        if any(s.label for s in plot.series):
            ax.legend(loc="best")
    ax.set_title(_wrap(plot.title, 80))
    ax.set_xlabel(_wrap(plot.xlabel, 90))
    ax.set_ylabel(_wrap(plot.ylabel, 45))
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def draw_plot(plot: Plot, path: str | Path) -> Path:
    """Draw ``plot`` into the PNG file ``path``; the same data gives the same bytes.

    ``kind="lines"`` draws each :class:`Series` (``line``, ``points``, ``step``, or ``hist``
    with ``x`` the bin edges), with error bars when ``yerr`` is given; ``kind="heatmap"``
    draws ``z[i][j]`` at ``(x[j], y[i])``, one equal cell per grid point with the axes
    labelled by the grid values (so ``logx``/``logy`` do not apply), a colour bar labelled
    ``zlabel``, grey cells for non-finite values and the values printed in the cells when
    the grid has at most 120 cells.  Labels may use matplotlib mathtext
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
    with matplotlib.style.context("default"), matplotlib.rc_context(_RC):
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

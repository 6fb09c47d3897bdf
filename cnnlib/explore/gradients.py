"""Gradients: backward passes one output position at a time, and gradient checks against eps.

May import: numpy, matplotlib, ipywidgets, the cnnlib core (:mod:`cnnlib.ops` for the
backward passes we step through, :mod:`cnnlib.gradcheck`, :mod:`cnnlib.losses`,
:mod:`cnnlib.model`), :mod:`cnnlib.explore.picture`, :mod:`cnnlib.explore.explorer` and
:mod:`cnnlib.explore.images` (the digits' colour map, numbers coloured to stand out).

The contract
------------
* What we draw is computed by the core: the full ``dx`` a stepper ends on is
  ``cnnlib.ops``'s backward pass, a gradient check compares ``backward`` with central
  differences on copies of the caller's model (never the model itself), and the pass
  mark is :data:`cnnlib.gradcheck.TOLERANCE`.
* One drawing code path per picture: ``plot_value_grid``, ``plot_eps_sweep`` and
  ``plot_backward_step`` return ``ValueGridPicture(...).fig``, ``EpsSweepPicture(...).fig``
  and ``BackwardStepPicture(...).fig``; :class:`GradCheckExplorer` and
  :class:`BackwardStepper` build the same classes with ``live=True`` and update them.
* A :class:`ValueGrid` is one panel of numbers (an image with its values written in); the
  value-grid and backward-step pictures are made of them. Signed values are red > 0 > blue;
  others (the input x) are drawn as every lesson draws digits, black 0 to white the
  largest (:data:`cnnlib.explore.images.DIGIT_CMAP`). Each number is black or white,
  whichever stands out from its cell.
* Marked cells (the max-pooling winner, the inputs tied with it) get a black rim under a
  light line, as the pooling picture's winners do: they show on black and on white cells,
  and differ by line style, not only by hue, for colour-blind readers.
* Speed: with matplotlib 3.11 a short text costs about 1 ms of CPU per frame, so a live
  picture writes numbers only where they change (the stepper's current window) and
  keeps everything else in the background.
"""
import copy

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from cnnlib import ops
from cnnlib.explore.explorer import Explorer
from cnnlib.explore.images import DIGIT_CMAP, SIGNED_CMAP, ImageNumbers
from cnnlib.explore.picture import (FONT_SIZE, Picture, animate, as_2d, finite_limit, fit_layout,
                                    format_value, no_ticks, set_image, set_text)
from cnnlib.gradcheck import TOLERANCE, relative_error
from cnnlib.losses import SoftmaxCrossEntropy
from cnnlib.model import Sequential

__all__ = ["ValueGrid", "plot_value_grid", "ValueGridPicture", "plot_eps_sweep", "EpsSweepPicture",
           "GradCheckPicture", "plot_backward_step", "BackwardStepPicture", "GradCheckExplorer", "BackwardStepper"]

#: Titles are one point larger than the other text.
TITLE_SIZE = FONT_SIZE + 1
#: A number smaller than this fraction of its panel's largest is rounding noise: written as 0.
NOISE = 1e-12
#: A backward-step panel is about 2 inches wide: numbers fit in cells up to 8 a side.
MAX_STEP_CELLS = 8
#: The marks of a max-pooling window's winner and of the inputs tied with it, as
#: ``cell_boxes`` styles (colour, line style): each is drawn over a black rim.
WINNER_BOX, TIED_BOX = ("yellow", "-"), ("white", "--")
#: The rim under every cell box and its width (points); the box's own line is thinner.
BOX_RIM, BOX_RIM_WIDTH, BOX_WIDTH = "black", 4.0, 1.8


# ----------------------------------------------------------------------------- a grid of numbers

class ValueGrid:
    """One panel: a small 2-D array as coloured cells, with its numbers written in, a frame
    around a window and boxes around single cells.

    Parameters
    ----------
    picture : Picture
        The picture the panel belongs to (whether it is live decides what is animated).
    ax : Axes
    shape : (H, W)
    symmetric : bool
        Colours centred on 0 (red > 0, blue < 0); otherwise :data:`DIGIT_CMAP`, black =
        smallest to white = largest, as digits are drawn.
    n_boxes : int
        How many single cells :meth:`update` may outline (each a coloured line over a
        black rim, :data:`BOX_RIM`).
    numbers : bool
        Write the values in (only for grids up to ``max_numbers`` cells a side).
    moving_values : bool
        In a live picture, animate the cells and their numbers (they change on every
        update); otherwise they are drawn with the background and only the frame, the
        boxes and the title move.

    Notes
    -----
    The frame and the boxes are drawn above the numbers (z-order 4) in a static and in a
    live picture alike, so both draw the same pixels.
    """

    def __init__(self, picture, ax, shape, *, symmetric=True, n_boxes=0, highlight_color="tab:orange",
                 numbers=True, max_numbers=MAX_STEP_CELLS, moving_values=True, title=""):
        self.ax, self.symmetric, self.shape = ax, symmetric, tuple(shape)
        self.image = ax.imshow(np.zeros(shape), cmap=SIGNED_CMAP if symmetric else DIGIT_CMAP,
                               interpolation="nearest")
        # Numbers black or white by their cell's lightness under the colour map.
        self.numbers = (ImageNumbers(picture, self.image, animated=moving_values)
                        if numbers and max(shape) <= max_numbers else None)
        self.highlight = ax.add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=highlight_color,
                                                linewidth=3, visible=False, zorder=4))

        def box(colour, width, zorder):
            return ax.add_patch(Rectangle((-0.42, -0.42), 0.84, 0.84, fill=False, edgecolor=colour, linewidth=width,
                                          joinstyle="miter", visible=False, zorder=zorder))
        self.box_rims = [box(BOX_RIM, BOX_RIM_WIDTH, 4) for _ in range(n_boxes)]
        self.boxes = [box("none", BOX_WIDTH, 4.1) for _ in range(n_boxes)]
        ax.set_xticks(range(shape[1]))
        ax.set_yticks(range(shape[0]))
        ax.tick_params(labelsize=FONT_SIZE, length=0)
        ax.set_title(title, fontsize=TITLE_SIZE)
        if moving_values:
            animate(picture, self.image, *ax.spines.values())       # spines: drawn over the moving image
        animate(picture, self.highlight, *self.box_rims, *self.boxes)

    def update(self, values, *, title=None, fmt="{:.2g}", highlight=None, cell_boxes=(), numbers_where=None):
        """Show new values (same shape).

        Parameters
        ----------
        values : (H, W) array
        highlight : (row, col, height, width), optional
            A frame around those cells (a window).
        cell_boxes : sequence of ((row, col), color, linestyle)
            Single cells to outline, e.g. the winner of a pooling window and its ties.
        numbers_where : (H, W) bool array, optional
            Write numbers only in these cells (default: all).
        """
        values = as_2d("ValueGrid", "values", values)
        if values.shape != self.shape:
            raise ValueError(f"ValueGrid: this panel shows {self.shape} values, got {values.shape}")
        limit = finite_limit(values)
        if self.symmetric:
            clim = (-limit, limit)
        else:
            finite = values[np.isfinite(values)]
            low = float(finite.min()) if finite.size else 0.0
            clim = (min(low, 0.0), max(limit, low + 1e-12))
        set_image(self.image, np.ma.masked_invalid(values), clim)
        if self.numbers is not None:
            # Rounding noise (1e-16 where a sum cancels) is written as the 0 it stands for.
            written = np.where(np.abs(values) < NOISE * limit, 0.0, values)
            written = written if numbers_where is None else np.where(numbers_where, written, np.nan)
            self.numbers.update(written, fmt=fmt)
        self.mark(highlight=highlight, cell_boxes=cell_boxes)
        if title is not None:
            set_text(self.ax.title, title)
        return self

    def mark(self, *, highlight=None, cell_boxes=()):
        """Move the frame and the boxes only (see :meth:`update`): a panel whose values stay
        in the background changes nothing else."""
        if self.highlight.get_visible() != (highlight is not None):
            self.highlight.set_visible(highlight is not None)
        if highlight is not None:
            r, c, h, w = highlight
            self.highlight.set_bounds(c - 0.5, r - 0.5, w, h)
        if len(cell_boxes) > len(self.boxes):
            raise ValueError(f"ValueGrid: this panel has room for {len(self.boxes)} cell boxes, got {len(cell_boxes)}")
        for k, (rim, box) in enumerate(zip(self.box_rims, self.boxes)):
            rim.set_visible(k < len(cell_boxes))
            box.set_visible(k < len(cell_boxes))
            if k < len(cell_boxes):
                (r, c), color, linestyle = cell_boxes[k]
                rim.set_xy((c - 0.42, r - 0.42))
                box.set_xy((c - 0.42, r - 0.42))
                box.set_edgecolor(color)
                box.set_linestyle(linestyle)
        return self


def plot_value_grid(values, *, title=None, symmetric=True, fmt="{:.2g}", highlight=None, cell_boxes=(),
                    figsize=(3, 3)):
    """A small 2-D array as coloured cells with its numbers written in.

    Parameters
    ----------
    values : (H, W) array
    symmetric : bool
        Centre the colours on 0 (red > 0, blue < 0); otherwise a grey scale, black = smallest
        to white = largest (:data:`DIGIT_CMAP`).
    highlight : (row, col, height, width), optional
        A frame drawn around those cells (a window).
    cell_boxes : sequence of ((row, col), color, linestyle)
        Single cells to outline, e.g. the winner of a pooling window (solid) and the
        inputs that tied with it (dashed).

    Returns
    -------
    Figure
        ``ValueGridPicture(...).fig``.

    Examples
    --------
    >>> fig = plot_value_grid(np.array([[1.0, -0.0], [0.25, -2.0]]), highlight=(0, 0, 1, 2))
    >>> [t.get_text() for t in fig.axes[0].texts]          # -0 is written 0
    ['1', '0', '0.25', '-2']
    """
    return ValueGridPicture(values, title=title, symmetric=symmetric, fmt=fmt, highlight=highlight,
                            cell_boxes=cell_boxes, figsize=figsize).fig


class ValueGridPicture(Picture):
    """What :func:`plot_value_grid` draws: one :class:`ValueGrid` in its own figure.
    :meth:`update` takes the same arguments as :meth:`ValueGrid.update`.

    Attributes
    ----------
    grid : ValueGrid
    """

    def __init__(self, values, *, title=None, symmetric=True, fmt="{:.2g}", highlight=None, cell_boxes=(),
                 figsize=(3, 3), live=False):
        values = as_2d("ValueGridPicture", "values", values)
        fig = self._start(figsize, live=live)
        self.grid = ValueGrid(self, fig.add_subplot(), values.shape, symmetric=symmetric, n_boxes=len(cell_boxes),
                              max_numbers=12, title=title or "")
        self.fmt = fmt
        self.update(values, highlight=highlight, cell_boxes=cell_boxes)
        animate(self, self.grid.ax.title)
        fit_layout(fig)

    def update(self, values, *, title=None, highlight=None, cell_boxes=()):
        self.grid.update(values, title=title, fmt=self.fmt, highlight=highlight, cell_boxes=cell_boxes)
        return self


# ----------------------------------------------------------------------------- the eps sweep

def plot_eps_sweep(eps, errors, *, current_eps=None, ax=None, title=None, figsize=(6, 3.8)):
    """Relative error of a finite-difference gradient against the nudge size, log-log.

    Parameters
    ----------
    eps : array (n,)
        The nudges tried (positive, increasing).
    errors : dict
        ``{label: array (n,) of relative errors}``, e.g. ``{"float64": ..., "float32": ...}``.
    current_eps : float, optional
        Marked with a vertical line and a dot on each curve.
    ax : Axes, optional
        Draw into this axes (the caller lays out its figure).

    Returns
    -------
    Figure
        ``EpsSweepPicture(...).fig``.

    Notes
    -----
    Central differences are off by about ``eps**2`` (truncation: the curve is not a line)
    plus ``machine_eps / eps`` (rounding: we divide a tiny difference of two rounded
    numbers by ``eps``). The sum is the classic V: right of the bottom truncation rules,
    left of it rounding does.
    """
    return EpsSweepPicture(eps, errors, current_eps=current_eps, ax=ax, title=title, figsize=figsize).fig


class EpsSweepPicture(Picture):
    """What :func:`plot_eps_sweep` draws. :meth:`update` draws new curves (same labels and
    eps grid); :meth:`mark` moves the current-eps line and dots.

    With ``live=True`` the curves, the marks and the title are animated: moving eps or
    picking another entry redraws only them. The y range grows when new curves need more
    room (a full redraw), and never shrinks. ``legend=False`` leaves the legend to the
    caller (:attr:`legend_handles`): a live picture keeps it off the moving curves.
    """

    FLOOR = 1e-17   # a relative error of exactly 0 cannot go on a log axis: drawn at this floor
    COLORS = {"float64": "tab:blue", "float32": "tab:orange"}
    # Line style and marker tell the curves apart without colour too (colour-blind readers).
    STYLES = {"float64": ("-", "o"), "float32": ("--", "s")}

    def __init__(self, eps, errors, *, current_eps=None, title=None, ax=None, legend=True, figsize=(6, 3.8),
                 live=False):
        eps = np.asarray(eps, dtype=float)
        if eps.ndim != 1 or eps.size < 2 or not (eps > 0).all():
            raise ValueError(f"EpsSweepPicture: eps must be a 1-D array of at least two positive values, "
                             f"got shape {eps.shape}")
        if not errors:
            raise ValueError("EpsSweepPicture: errors must be a dict {label: relative errors (n,)}, got none")
        own_figure = ax is None
        fig = self._start(figsize, live=live, fig=None if own_figure else ax.figure.canvas.figure)
        self.ax = ax = fig.add_subplot() if own_figure else ax
        self.eps = eps
        self.curves, self.dots = {}, {}
        for label in errors:
            linestyle, marker = self.STYLES.get(label, ("-", "o"))
            self.curves[label], = ax.loglog(eps, np.ones_like(eps), linestyle=linestyle, marker=marker, markersize=3,
                                            label=label, color=self.COLORS.get(label), zorder=2.5)
        for label, curve in self.curves.items():
            self.dots[label], = ax.plot(eps[:1], [1.0], curve.get_marker(), markersize=9, color=curve.get_color(),
                                        markeredgecolor="black", visible=False, zorder=3)
        pass_mark = ax.axhline(TOLERANCE, color="gray", linestyle="--", linewidth=1,
                               label=f"pass mark {TOLERANCE:.0e}")
        self.legend_handles = [*self.curves.values(), pass_mark]
        self.eps_line = ax.axvline(eps[0], color="black", linewidth=1, visible=False)
        ax.set_xlabel("eps (size of the nudge)", fontsize=FONT_SIZE)
        ax.set_ylabel("relative error, numeric vs analytic", fontsize=FONT_SIZE)
        # Plain "1e-8" labels and no minor ticks: mathtext labels cost twice the drawing time.
        decade = FuncFormatter(lambda v, _: f"1e{int(round(np.log10(v)))}")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(decade)
            axis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=10))
        ax.tick_params(labelsize=FONT_SIZE)
        if legend:
            ax.legend(handles=self.legend_handles, fontsize=FONT_SIZE, loc="lower left")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(title or "", fontsize=TITLE_SIZE)
        self.update(errors)
        self.mark(current_eps)
        animate(self, *self.curves.values(), ax.title, self.eps_line, *self.dots.values())
        if own_figure:
            fit_layout(fig)

    def update(self, errors, *, title=None):
        """New curves: ``errors`` has the labels and eps grid of the first ones."""
        if set(errors) != set(self.curves):
            raise ValueError(f"EpsSweepPicture: expected errors for {sorted(self.curves)}, got {sorted(errors)}")
        self.errors = {}
        for label, err in errors.items():
            err = np.asarray(err, dtype=float)
            if err.shape != self.eps.shape:
                raise ValueError(f"EpsSweepPicture: errors[{label!r}] has shape {err.shape}, "
                                 f"expected {self.eps.shape} (one per eps)")
            self.errors[label] = err
            self.curves[label].set_ydata(np.maximum(err, self.FLOOR))
        positive = [float(e[e > 0].min()) for e in self.errors.values() if (e > 0).any()]
        low = max(min(positive, default=self.FLOOR) / 10, self.FLOOR / 2)
        bottom = self.ax.get_ylim()[0]
        if not hasattr(self, "_sized") or low < bottom:          # room for the new curves
            self.ax.set_ylim(low, 2)
            self._sized = True
        if title is not None:
            set_text(self.ax.title, title)
        return self

    def mark(self, current_eps, errors_at=None):
        """Mark ``current_eps`` (None: no mark) on the eps axis and with a dot per curve.

        ``errors_at`` (``{label: relative error at current_eps}``) places the dots at
        measured errors; without it they sit on the curves (interpolated between points).
        """
        shown = current_eps is not None
        self.eps_line.set_visible(shown)
        for label, dot in self.dots.items():
            dot.set_visible(shown)
            if shown:
                if errors_at is not None:
                    at = max(float(errors_at[label]), self.FLOOR)
                else:
                    err = np.maximum(self.errors[label], self.FLOOR)
                    at = 10 ** float(np.interp(np.log10(current_eps), np.log10(self.eps), np.log10(err)))
                dot.set_data([current_eps], [at])
        if shown:
            self.eps_line.set_xdata([current_eps, current_eps])
        return self


class GradCheckPicture(Picture):
    """The gradient-check explorer's picture: the eps sweep and a table of the picked entry's
    analytic and numeric derivatives.

    The table's lines that change with eps or the entry are one animated text; the header
    and the explanation below it are drawn once (both in the same monospace font, so the
    columns line up). The legend sits under the table, away from the moving curves (an
    animated legend would make every frame a full redraw).
    """

    COLUMNS = "{:9}{:>14} {:>14}  {:>10}"      # name, analytic, numeric, relative error
    HEADER = "\n\n" + COLUMNS.format("", "analytic", "numeric", "rel. error") + "\n"
    EXPLANATION = ("numeric = (L(w+eps) - L(w-eps)) / (2 eps)\n"
                   "right of the V: truncation (~eps²)\n"
                   "left of the V: rounding (~machine eps / eps)")

    def __init__(self, eps, errors, *, current_eps, title, table, figsize=(9, 3.6), live=False):
        fig = self._start(figsize, live=live)
        ax, text_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
        self.sweep = EpsSweepPicture(eps, errors, current_eps=current_eps, title=title, ax=ax, legend=False,
                                     live=live)
        text_ax.axis("off")
        # No tick locations either: listing the figure's artists (Picture.png does, after each
        # full draw) would make ticks for an axis that is off, marking the figure stale.
        no_ticks(text_ax)
        style = dict(family="monospace", fontsize=FONT_SIZE, va="top", ha="left", transform=text_ax.transAxes)
        self.header = text_ax.text(0, 0.95, self.HEADER + "\n" * 3 + self.EXPLANATION, **style)
        self.table = text_ax.text(0, 0.95, "", **style)
        text_ax.legend(handles=self.sweep.legend_handles, fontsize=FONT_SIZE, loc="lower left")
        self.update(errors, current_eps=current_eps, title=title, table=table)
        animate(self, self.table)
        fit_layout(fig)

    def update(self, errors=None, *, current_eps, title=None, table):
        """New marks and table; new curves (and title) when ``errors`` is given.

        ``table`` maps ``"float64"`` and ``"float32"`` to (analytic, numeric, relative error).
        """
        if errors is not None:
            self.sweep.update(errors, title=title)
        self.sweep.mark(current_eps, {name: e for name, (_, _, e) in table.items()})
        rows = [self.COLUMNS.format(name, format_value(a, "{: .6e}"), format_value(n, "{: .6e}"),
                                    format_value(e, "{:.1e}")) for name, (a, n, e) in table.items()]
        set_text(self.table, f"eps = {current_eps:.0e}\n\n\n" + "\n".join(rows))
        return self


# ----------------------------------------------------------------------------- one backward step

def plot_backward_step(x, dout, contribution, total, *, position, window, kind, winner=None, tied=(),
                       figsize=(9, 3.1)):
    """One output position's share of a backward pass, in four panels.

    Parameters
    ----------
    x : (H, W) array
        The forward input.
    dout : (H_out, W_out) array
        The upstream gradient; ``position`` is framed in it.
    contribution : (H, W) array
        What this one position sends back to ``dx`` (its numbers are written in the window).
    total : (H, W) array
        ``dx`` summed over positions 0..current (the whole ``dx`` at the last step).
    position : (i, j)
    window : (row, col, height, width)
        The input window that position ``(i, j)`` read in the forward pass.
    kind : "conv" or "maxpool"
    winner : (row, col), optional
        For max pooling: the input that won the window (the first maximum).
    tied : sequence of (row, col)
        For max pooling: every input equal to the maximum (ties), winner included.

    Returns
    -------
    Figure
        ``BackwardStepPicture(...).fig``.
    """
    return BackwardStepPicture(x, dout, contribution, total, position=position, window=window, kind=kind,
                               winner=winner, tied=tied, figsize=figsize).fig


class BackwardStepPicture(Picture):
    """What :func:`plot_backward_step` draws: ``dout``, ``x``, this step's share of ``dx``
    and ``dx`` so far. :meth:`update` shows another step (same ``x`` and ``dout``).

    ``total_numbers="all"`` writes every cell of ``dx`` so far; ``"window"`` only the cells
    this step changed (the live stepper's choice: each number costs about 1 ms a frame).
    With ``live=True`` the ``dout`` and ``x`` panels are background (only their frames and
    boxes move); the last two panels' cells and numbers and the step line are animated.

    Attributes
    ----------
    panels : 4 ValueGrid (dout, x, this step, dx so far)
    step_line : Text, what this step does, in words
    """

    KINDS = ("conv", "maxpool")

    def __init__(self, x, dout, contribution, total, *, position, window, kind, winner=None, tied=(),
                 total_numbers="all", figsize=(9, 3.1), live=False):
        x, dout = as_2d("BackwardStepPicture", "x", x), as_2d("BackwardStepPicture", "dout", dout)
        if kind not in self.KINDS:
            raise ValueError(f"BackwardStepPicture: kind must be one of {self.KINDS}, got {kind!r}")
        if total_numbers not in ("all", "window"):
            raise ValueError(f"BackwardStepPicture: total_numbers must be 'all' or 'window', got {total_numbers!r}")
        window_shape = tuple(window[2:])
        if len(window_shape) != 2 or window_shape[0] > x.shape[0] or window_shape[1] > x.shape[1]:
            raise ValueError(f"BackwardStepPicture: window must be (row, col, height, width) inside x {x.shape}, "
                             f"got {window!r}")
        fig = self._start(figsize, live=live)
        self.x, self.dout, self.kind, self.total_numbers = x, dout, kind, total_numbers
        axes = fig.subplots(1, 4)
        n_boxes = int(np.prod(window_shape)) if kind == "maxpool" else 0     # the winner and up to all tied
        what = "dout[i, j] × w" if kind == "conv" else "dout[i, j] to the winner"
        self.panels = [
            ValueGrid(self, axes[0], dout.shape, moving_values=False, title=f"dout ({dout.shape[0]}x{dout.shape[1]})"),
            ValueGrid(self, axes[1], x.shape, symmetric=False, n_boxes=n_boxes, moving_values=False,
                      title=f"input x ({x.shape[0]}x{x.shape[1]})"),
            ValueGrid(self, axes[2], x.shape, title=f"this step: {what}"),
            ValueGrid(self, axes[3], x.shape, title="dx so far")]
        self.panels[0].update(dout)
        self.panels[1].update(x)
        legend = ("orange: the window that out[i, j] read in the forward pass" if kind == "conv" else
                  "orange: the window of out[i, j]   yellow in black: its winner (the first maximum)   "
                  "dashed: tied with it, gets nothing")
        fig.text(0.5, 0.02, legend, ha="center", va="bottom", fontsize=FONT_SIZE)
        self.step_line = fig.suptitle(" ", fontsize=TITLE_SIZE + 1)
        self.update(contribution, total, position=position, window=window, winner=winner, tied=tied)
        animate(self, self.step_line)
        fit_layout(fig)

    def update(self, contribution, total, *, position, window, winner=None, tied=()):
        """Show one step: its share of ``dx``, the running total, and where it came from."""
        i, j = position
        H_out, W_out = self.dout.shape
        if not (0 <= i < H_out and 0 <= j < W_out):
            raise ValueError(f"BackwardStepPicture: position {position} is outside dout {self.dout.shape}")
        if self.kind == "maxpool" and winner is None:
            raise ValueError("BackwardStepPicture: max pooling needs the window's winner (row, col)")
        r0, c0, KH, KW = window
        in_window = np.zeros(self.x.shape, dtype=bool)
        in_window[r0:r0 + KH, c0:c0 + KW] = True
        self.panels[0].mark(highlight=(i, j, 1, 1))
        boxes = []
        if self.kind == "maxpool":
            boxes = [((r, c), *TIED_BOX) for r, c in tied if (r, c) != tuple(winner)]
            boxes.append((tuple(winner), *WINNER_BOX))
        self.panels[1].mark(highlight=window, cell_boxes=boxes)
        self.panels[2].update(contribution, highlight=window, numbers_where=in_window)
        self.panels[3].update(total, highlight=window,
                              numbers_where=None if self.total_numbers == "all" else in_window)
        g = format_value(self.dout[i, j], "{:.3g}")
        # One short line: it is redrawn on every step.
        if self.kind == "conv":
            line = f"out[{i}, {j}]: its window of dx gets dout[{i}, {j}] × w = {g} × w"
        elif len(tied) > 1:
            line = f"out[{i}, {j}]: {len(tied)} inputs tie; only the first gets dout[{i}, {j}] = {g}"
        else:
            line = f"out[{i}, {j}]: the winner alone gets dout[{i}, {j}] = {g}"
        set_text(self.step_line, line)
        return self


# ----------------------------------------------------------------------------- explorers

class _Copy:
    """A copy of the checked model in one dtype, with its batch, loss and backward gradients."""

    def __init__(self, model, x, labels, loss_fn, dtype, param_layers):
        self.net = copy.deepcopy(model).astype(dtype)
        self.x, self.labels = x.astype(dtype), labels
        self.loss_fn = copy.deepcopy(loss_fn)
        self.loss_fn.forward(self.net.forward(self.x), labels)       # a bad model/x/labels fails here, clearly
        self.net.backward(self.loss_fn.backward())
        self.grads = {(i, k): self.net.layers[i].grads[k].astype(np.float64) for i in param_layers
                      for k in self.net.layers[i].params}
        self.layer_inputs = {}

    def layer_input(self, layer_index):
        """What the layers before ``layer_index`` make of x: it does not depend on a nudge in
        that layer, so we compute it once (a nudge in the last layer then costs one small
        forward pass instead of the whole net's)."""
        if layer_index not in self.layer_inputs:
            h = self.x
            for layer in self.net.layers[:layer_index]:
                h = layer.forward(h)
            self.layer_inputs[layer_index] = h.copy()    # a copy: layers may reuse their buffers
        return self.layer_inputs[layer_index]


class GradCheckExplorer(Explorer):
    """One parameter entry: its analytic gradient, finite differences, and the error vs eps.

    Pick a layer, a parameter and an index; slide ``eps``. We nudge that one entry by
    ``±eps`` and compare ``(L(+eps) - L(-eps)) / (2 eps)`` with what ``backward`` gave, in
    float64 and in a float32 copy of the model. The curve of the error against ``eps``
    shows the classic V: truncation on the right, rounding on the left.

    Parameters
    ----------
    model : cnnlib.model.Sequential
        Copied (twice: float64 and float32); the caller's model is never modified.
    x : array (N, ...)
        A batch the model accepts.
    labels : int array (N,)
    loss_fn : optional, default ``SoftmaxCrossEntropy()``
    n_eps : int
        Points on the curve, log-spaced over ``[1e-10, 1e-1]`` (19: two a decade; each
        point costs four forward passes, and a new entry computes its whole curve).

    Attributes
    ----------
    analytic64, analytic32 : the backward pass's value for the picked entry
    numeric64, numeric32 : the central difference at the current eps
    error64, error32 : their relative errors
    sweep : ``{"eps": ..., "float64": ..., "float32": ...}``, the curve
    """

    EPS_MIN, EPS_MAX = 1e-10, 1e-1
    DTYPES = ("float64", "float32")

    def __init__(self, model, x, labels, *, loss_fn=None, n_eps=19):
        if not isinstance(model, Sequential):
            raise ValueError(f"GradCheckExplorer: model must be a cnnlib Sequential, got {type(model).__name__}")
        self._param_layers = [i for i, layer in enumerate(model.layers) if layer.params]
        if not self._param_layers:
            raise ValueError("GradCheckExplorer: the model has no parameters to check")
        x, labels = np.asarray(x), np.asarray(labels)
        if not np.issubdtype(x.dtype, np.floating) or x.ndim < 2:
            raise ValueError(f"GradCheckExplorer: x must be a floating-point batch (N, ...), got dtype "
                             f"{x.dtype} and shape {x.shape}")
        if labels.shape != (x.shape[0],):
            raise ValueError(f"GradCheckExplorer: expected {x.shape[0]} labels (one per image), "
                             f"got shape {labels.shape}")
        try:
            n_eps = ops.check_int("n_eps", n_eps, low=3)
        except ValueError as e:
            raise ValueError(f"GradCheckExplorer: {e}") from None
        loss_fn = SoftmaxCrossEntropy() if loss_fn is None else loss_fn
        self._eps_grid = np.logspace(np.log10(self.EPS_MIN), np.log10(self.EPS_MAX), n_eps)
        self._copies = {name: _Copy(model, x, labels, loss_fn, np.dtype(name), self._param_layers)
                        for name in self.DTYPES}
        self._sweeps = {}
        first = self._param_layers[0]
        self.layer_dropdown = widgets.Dropdown(options=[(f"{i}: {model.layers[i]!r}", i) for i in self._param_layers],
                                               value=first, description="layer")
        self.param_dropdown = widgets.Dropdown(options=list(model.layers[first].params), description="param")
        self.index_slider = widgets.IntSlider(value=0, min=0, max=1, description="index")
        self.eps_slider = widgets.FloatLogSlider(value=1e-6, base=10, min=np.log10(self.EPS_MIN),
                                                 max=np.log10(self.EPS_MAX), step=0.25, description="eps",
                                                 readout_format=".0e")
        self._busy = False
        self._pick_param(refresh=False)
        super().__init__([self.layer_dropdown, self.param_dropdown, self.index_slider, self.eps_slider],
                         title="Gradient check: finite differences vs backward", observe=False)
        self.layer_dropdown.observe(self._on_layer, names="value")
        self.param_dropdown.observe(self._on_param, names="value")
        self.index_slider.observe(self.refresh, names="value")
        self.eps_slider.observe(self.refresh, names="value")

    # -- control logic: a new layer lists its parameters, a new parameter starts at its largest gradient
    def _pick_param(self, refresh=True):
        grad = self._copies["float64"].grads[(self.layer_dropdown.value, self.param_dropdown.value)]
        self._busy = True
        try:
            self.index_slider.max = grad.size - 1
            self.index_slider.value = int(np.argmax(np.abs(grad)))
        finally:
            self._busy = False
        if refresh:
            self.refresh()

    def _on_layer(self, change):
        self._busy = True
        try:
            self.param_dropdown.options = list(self._copies["float64"].net.layers[change["new"]].params)
        finally:
            self._busy = False
        self._pick_param()

    def _on_param(self, change):
        if not self._busy:
            self._pick_param()

    def refresh(self, *args):
        if not self._busy:
            super().refresh(*args)

    # -- the numbers
    def _numeric(self, dtype_name, key, flat_index, eps):
        """``(L(w + eps) - L(w - eps)) / (2 eps)`` for one entry of one copy (restored after)."""
        copy_ = self._copies[dtype_name]
        h = copy_.layer_input(key[0])
        p = copy_.net.layers[key[0]].params[key[1]]
        idx = np.unravel_index(flat_index, p.shape)
        old = p[idx].copy()

        def loss():      # the same numbers as loss_fn.forward(net.forward(x), labels)
            out = h
            for layer in copy_.net.layers[key[0]:]:
                out = layer.forward(out)
            return copy_.loss_fn.forward(out, copy_.labels)
        try:
            p[idx] = old + eps
            f_plus = loss()
            p[idx] = old - eps
            f_minus = loss()
        finally:
            p[idx] = old
        return (f_plus - f_minus) / (2 * eps)

    def _analytic(self, dtype_name, key, flat_index):
        return float(self._copies[dtype_name].grads[key].flat[flat_index])

    def _sweep(self, key, flat_index):
        """The error curves of one entry, computed once."""
        cache_key = (key, flat_index)
        if cache_key not in self._sweeps:
            curves = {"eps": self._eps_grid}
            for name in self.DTYPES:
                a = self._analytic(name, key, flat_index)
                curves[name] = np.array([relative_error(a, self._numeric(name, key, flat_index, e))
                                         for e in self._eps_grid])
            self._sweeps[cache_key] = curves
        return self._sweeps[cache_key]

    def _compute(self):
        """The numbers for the current controls; returns what the picture needs."""
        key = (self.layer_dropdown.value, self.param_dropdown.value)
        index, eps = int(self.index_slider.value), float(self.eps_slider.value)
        self.analytic64, self.analytic32 = (self._analytic(name, key, index) for name in self.DTYPES)
        self.numeric64, self.numeric32 = (self._numeric(name, key, index, eps) for name in self.DTYPES)
        self.error64 = relative_error(self.analytic64, self.numeric64)
        self.error32 = relative_error(self.analytic32, self.numeric32)
        self.sweep = self._sweep(key, index)
        shape = self._copies["float64"].net.layers[key[0]].params[key[1]].shape
        entry = [int(i) for i in np.unravel_index(index, shape)]
        table = {"float64": (self.analytic64, self.numeric64, self.error64),
                 "float32": (self.analytic32, self.numeric32, self.error32)}
        return (key, index), f"layer {key[0]}, {key[1]}{entry}: error vs eps", table, eps

    def _curves(self):
        return {name: self.sweep[name] for name in self.DTYPES}

    def build_picture(self):
        self._shown_entry, title, table, eps = self._compute()
        return GradCheckPicture(self.sweep["eps"], self._curves(), current_eps=eps, title=title, table=table,
                                live=True)

    def update_picture(self):
        entry, title, table, eps = self._compute()
        new_curves = entry != self._shown_entry          # moving eps only moves the marks
        self._shown_entry = entry
        self.picture.update(self._curves() if new_curves else None, current_eps=eps, title=title, table=table)


class BackwardStepper(Explorer):
    """Step through a backward pass one output position at a time (one channel).

    Give ``kernel=`` for a convolution (stride 1, no padding) or ``pool_size=`` for max
    pooling (stride = pool_size). At each step the picture shows which inputs the output
    position ``(i, j)`` read in the forward pass and what it sends back to ``dx``:

    * convolution: ``dout[i, j] * w`` added onto the whole window;
    * max pooling: ``dout[i, j]`` to the window's winner only, the first maximum in
      row-major order, even when several inputs tie.

    The last panel sums the steps so far (its colours show all of it; the numbers are
    written in the current window); at the last step it is the full ``dx``, equal to
    ``cnnlib.ops``'s backward pass.

    Parameters
    ----------
    x : (H, W) array
    dout : (H_out, W_out) array
    kernel : (KH, KW) array, optional
    pool_size : int, optional

    Attributes
    ----------
    position : (i, j); contribution, total : (H, W) arrays; winner, tied : for max pooling
    dx : (H, W) array, the full dx from cnnlib.ops
    """

    def __init__(self, x, dout, *, kernel=None, pool_size=None):
        if (kernel is None) == (pool_size is None):
            raise ValueError("BackwardStepper: give kernel= for a convolution or pool_size= for max pooling "
                             "(exactly one of them)")
        x = as_2d("BackwardStepper", "x", x)
        dout = np.asarray(dout, dtype=np.float64)
        if not (np.isfinite(x).all() and np.isfinite(dout).all()):
            raise ValueError("BackwardStepper: x and dout must be finite")
        if kernel is not None:
            kernel = as_2d("BackwardStepper", "kernel", kernel)
            if kernel.shape[0] > x.shape[0] or kernel.shape[1] > x.shape[1]:
                raise ValueError(f"BackwardStepper: kernel {kernel.shape} is bigger than x {x.shape}")
            self.kind, (KH, KW), stride = "conv", kernel.shape, 1
            _, cache = ops.conv2d_forward(x[None, None], kernel[None, None], np.zeros(1))
        else:
            try:
                pool_size = ops.check_int("pool_size", pool_size, low=1)
            except ValueError as e:
                raise ValueError(f"BackwardStepper: {e}") from None
            if pool_size > min(x.shape):
                raise ValueError(f"BackwardStepper: pool_size must be at most {min(x.shape)} for x of shape "
                                 f"{x.shape}, got {pool_size}")
            self.kind, KH, KW, stride = "maxpool", pool_size, pool_size, pool_size
            _, cache = ops.maxpool2d_forward(x[None, None], kernel_size=KH)
        H_out, W_out = ops.conv_output_size(x.shape[0], KH, stride), ops.conv_output_size(x.shape[1], KW, stride)
        if dout.shape != (H_out, W_out):
            raise ValueError(f"BackwardStepper: dout must have the forward output's shape ({H_out}, {W_out}), "
                             f"got {dout.shape}")
        if self.kind == "conv":
            self.dx = ops.conv2d_backward(dout[None, None], cache)[0][0, 0]
        else:
            self.dx = ops.maxpool2d_backward(dout[None, None], cache)[0, 0]
        self.x, self.dout, self.kernel = x, dout, kernel
        self.KH, self.KW, self.stride = KH, KW, stride
        last = H_out * W_out - 1
        self.step_slider = widgets.IntSlider(value=0, min=0, max=last, description="step")
        self.play = widgets.Play(value=0, min=0, max=last, interval=700, description="play")
        widgets.jslink((self.play, "value"), (self.step_slider, "value"))   # in the browser: play moves the slider
        name = "convolution" if self.kind == "conv" else "max pooling"
        super().__init__([self.play, self.step_slider], title=f"Backward pass of {name}, one output position at a time",
                         observe=False)
        self.step_slider.observe(self.refresh, names="value")

    def _share(self, i, j):
        """What output position (i, j) sends back to dx, and (for pooling) its winner and ties."""
        r0, c0 = i * self.stride, j * self.stride
        share = np.zeros_like(self.x)
        window = self.x[r0:r0 + self.KH, c0:c0 + self.KW]
        if self.kind == "conv":
            share[r0:r0 + self.KH, c0:c0 + self.KW] = self.dout[i, j] * self.kernel
            return share, None, []
        p, q = divmod(int(np.argmax(window)), self.KW)          # the first maximum, row-major
        share[r0 + p, c0 + q] = self.dout[i, j]
        tied = [(r0 + int(a), c0 + int(b)) for a, b in np.argwhere(window == window.max())]
        return share, (r0 + p, c0 + q), tied

    def _compute(self):
        """This step's numbers; returns the keyword arguments of the picture's update."""
        W_out = self.dout.shape[1]
        step = int(self.step_slider.value)
        i, j = divmod(step, W_out)
        self.position = (i, j)
        self.contribution, self.winner, self.tied = self._share(i, j)
        self.total = sum(self._share(*divmod(k, W_out))[0] for k in range(step + 1))
        return dict(position=(i, j), window=(i * self.stride, j * self.stride, self.KH, self.KW),
                    winner=self.winner, tied=self.tied)

    def build_picture(self):
        where = self._compute()
        return BackwardStepPicture(self.x, self.dout, self.contribution, self.total, kind=self.kind,
                                   total_numbers="window", live=True, **where)

    def update_picture(self):
        where = self._compute()
        self.picture.update(self.contribution, self.total, **where)

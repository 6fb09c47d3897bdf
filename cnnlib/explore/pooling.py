"""Pooling: the picture and explorer of lesson 3 (the windows over a map, the input that
won each max-pooling window, and the pooled output).

May import: numpy, matplotlib, ipywidgets, :mod:`cnnlib.ops` (the output and the winners
are what the library's own pooling computes) and the explore modules ``picture``,
``explorer`` and ``images``.

The contract
------------
:class:`PoolingPicture` is drawn once and updated for a new kernel size, stride and mode;
:func:`plot_pooling` returns its first drawing and :class:`PoolingExplorer` updates a live
one. What the picture shows, so that it stays readable:

* The first window (solid orange) and the next one (dashed cyan) are outlined, and their
  two output cells framed alike: that shows the stride. Windows that do not overlap
  (stride >= kernel size) are also all outlined, thinly; overlapping ones would pile their
  outlines up into an unreadable picture, so then only the first two are.
* Each max-pooling winner gets a square mark drawn as a thick black outline with a yellow
  line inside: it stands out on black, white, dark red and dark blue cells alike, for
  colour-blind readers too (the mark differs by lightness, not only by hue).
"""
import ipywidgets as widgets
import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from cnnlib import ops
from cnnlib.explore.explorer import Explorer
from cnnlib.explore.images import DIGIT_CMAP, SIGNED_CMAP, ImageNumbers, as_float_image
from cnnlib.explore.picture import (MAX_ANNOTATED_CELLS, Picture, animate, as_2d, finite_limit, fit_layout, no_ticks,
                                    set_image, set_text)

__all__ = ["pool_map", "plot_pooling", "PoolingPicture", "PoolingExplorer"]

MODES = ("max", "average")
#: The winner mark: a square inset in its cell (side 0.7 of a cell), black outside, yellow inside.
WINNER_SIDE = 0.7
WINNER_EDGE, WINNER_INNER = "black", "yellow"
#: Outlines of the first window and the next one, when windows overlap.
FIRST_WINDOW = dict(edgecolor="tab:orange", linestyle="-")
NEXT_WINDOW = dict(edgecolor="tab:cyan", linestyle="--")
#: Thin outline of every window when they do not overlap: orange on a small map, a faint
#: grey grid on a large one (where the winners are what matters).
WINDOW_COLOUR, LARGE_MAP_WINDOW_COLOUR = "tab:orange", "0.55"
#: Write the output's numbers into its cells up to this many cells. Each number is drawn
#: again on every move (about 0.3-0.6 ms each); beyond this the colours and the input's
#: numbers under the winner marks tell the values.
MAX_OUTPUT_NUMBERS = 48
#: Inches kept free under the input for the legends.
KEY_ROOM = 0.3


def pool_map(x, kernel_size=2, stride=None, mode="max"):
    """Pool one 2-D map with ``cnnlib.ops``, and say which input won each max window.

    Parameters
    ----------
    x : ndarray, shape (H, W)
    kernel_size : int
    stride : int, optional
        Defaults to ``kernel_size``.
    mode : {"max", "average"}

    Returns
    -------
    out : ndarray, shape (H_out, W_out)
    winners : ndarray of int, shape (H_out, W_out, 2), or None
        For max pooling, the input (row, col) that won each window: the first maximum in
        row-major order, as ``ops.maxpool2d_forward`` picks it. None for average pooling.

    Examples
    --------
    >>> out, winners = pool_map(np.array([[1.0, 2.0], [4.0, 3.0]]))
    >>> out.tolist(), winners.tolist()
    ([[4.0]], [[[1, 0]]])
    """
    if mode not in MODES:
        raise ValueError(f"pool_map: mode must be 'max' or 'average', got {mode!r}")
    stride = kernel_size if stride is None else stride
    if mode == "average":
        out, _ = ops.avgpool2d_forward(x[None, None], kernel_size=kernel_size, stride=stride)
        return out[0, 0], None
    out, cache = ops.maxpool2d_forward(x[None, None], kernel_size=kernel_size, stride=stride)   # (1, 1, H_out, W_out)
    p, q = np.divmod(cache[1][0, 0].astype(int), kernel_size)       # winner's offset inside its window: (H_out, W_out)
    rows = np.arange(out.shape[2])[:, None] * stride + p
    cols = np.arange(out.shape[3])[None, :] * stride + q
    return out[0, 0], np.stack([rows, cols], axis=-1)


def _check_window(owner, shape, kernel_size, stride, mode):
    for name, value in (("kernel_size", kernel_size), ("stride", stride)):
        if value is not None:
            ops.check_int(f"{owner}: {name}", value, 1)
    if kernel_size > min(shape):
        raise ValueError(f"{owner}: kernel_size {kernel_size} does not fit the {shape[0]}x{shape[1]} input")
    if mode not in MODES:
        raise ValueError(f"{owner}: mode must be 'max' or 'average', got {mode!r}")


def _squares(rows, cols, half):
    """(n, 4, 2) corners (x, y) of squares of side ``2 * half`` centred on the given cells."""
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)]) * half                       # (4, 2)
    centres = np.stack([np.ravel(cols), np.ravel(rows)], axis=-1).astype(float)          # (n, 2)
    return centres[:, None, :] + corners[None]


def plot_pooling(x, *, kernel_size=2, stride=None, mode="max", title=None):
    """Pooling on one 2-D map: the windows over the input, the winners, and the output.

    Parameters
    ----------
    x : array-like, shape (H, W)
    kernel_size : int
    stride : int, optional
        Defaults to ``kernel_size``.
    mode : {"max", "average"}
    title : str, optional

    Returns
    -------
    Figure
        Windows outlined (the first two only, when they overlap); for max pooling each
        winner (the first maximum in row-major order, as cnnlib picks it) is marked with a
        black-and-yellow square.
    """
    return PoolingPicture(x, kernel_size=kernel_size, stride=stride, mode=mode, title=title).fig


class PoolingPicture(Picture):
    """What :func:`plot_pooling` draws; :meth:`update` takes a new kernel size, stride and mode.

    In a live picture the input panel, its numbers and the outline legend are drawn once;
    the window outlines, the winner marks, the input's title and the whole output panel
    (with the winner legend) are animated. The output panel's width follows the output's
    width, but the input panel stays where it was first laid out (moving it would draw all
    its numbers again).

    Attributes
    ----------
    output : ndarray, shape (H_out, W_out)
    winners : ndarray of int, shape (H_out, W_out, 2), or None
        See :func:`pool_map`.
    overlapping : bool
        Whether the windows overlap (then only the first two are outlined).

    Examples
    --------
    >>> pic = PoolingPicture(np.arange(16.0).reshape(4, 4), live=True)
    >>> pic.update(kernel_size=3, stride=1)
    >>> pic.output.tolist(), pic.overlapping
    ([[10.0, 11.0], [14.0, 15.0]], True)
    """

    def __init__(self, x, *, kernel_size=2, stride=None, mode="max", title=None, figsize=(9, 4.2), live=False,
                 fig=None):
        self.x = x = as_2d("PoolingPicture", "x", x)
        _check_window("PoolingPicture", x.shape, kernel_size, stride, mode)
        fig = self._start(figsize, live=live, fig=fig)
        W_out = ops.conv_output_size(x.shape[1], kernel_size, kernel_size if stride is None else stride)
        self.gridspec = fig.add_gridspec(1, 2, width_ratios=[x.shape[1], max(W_out, 4)])
        ax_in, ax_out = self.axes = [fig.add_subplot(self.gridspec[0, k]) for k in range(2)]
        self.limit = limit = finite_limit(x)
        cmap, vmin = (SIGNED_CMAP, -limit) if x.min() < 0 else (DIGIT_CMAP, 0)
        self.small = small = max(x.shape) <= MAX_ANNOTATED_CELLS
        input_image = ax_in.imshow(x, cmap=cmap, vmin=vmin, vmax=limit, interpolation="nearest")
        if small:   # under the outlines and marks, drawn once
            ImageNumbers(self, input_image, animated=False, zorder=2).update(x)
        self.output_image = ax_out.imshow(np.zeros((1, 1)), cmap=cmap, vmin=vmin, vmax=limit, interpolation="nearest")
        self.output_numbers = None
        for ax in self.axes:
            no_ticks(ax)
            ax.set_title(" ", fontsize=9)

        def outlines(ax, zorder, **style):
            return ax.add_collection(PolyCollection([], closed=True, facecolors="none", zorder=zorder,
                                                    joinstyle="miter", **style))
        self.window_grid = outlines(ax_in, 3, edgecolors=WINDOW_COLOUR if small else LARGE_MAP_WINDOW_COLOUR)
        pair = dict(edgecolors=[FIRST_WINDOW["edgecolor"], NEXT_WINDOW["edgecolor"]],
                    linestyles=[FIRST_WINDOW["linestyle"], NEXT_WINDOW["linestyle"]], linewidths=2.5)
        self.windows = outlines(ax_in, 3.5, **pair)                 # the first window and the next one
        self.output_frames = outlines(ax_out, 3, **pair)            # ... and their output cells
        self.winner_edges = outlines(ax_in, 4, edgecolors=WINNER_EDGE)
        self.winner_lines = outlines(ax_in, 4.1, edgecolors=WINNER_INNER)
        # Legends under the input. The outline legend never changes: it stays in the kept
        # background. The winner legend comes and goes with max pooling; it belongs to the
        # animated output panel (drawing a legend moves its parts, which marks its axes
        # stale: in a kept background that would mean drawing the whole figure again).
        below = dict(bbox_to_anchor=(0, -0.01, 1, 0), bbox_transform=ax_in.transAxes, fontsize=8, frameon=False)
        mark = tuple(Line2D([], [], linestyle="none", marker="s", markersize=9, markerfacecolor="none",
                            markeredgecolor=colour, markeredgewidth=width)
                     for colour, width in ((WINNER_EDGE, 3), (WINNER_INNER, 1.2)))
        self.winner_legend = Legend(ax_out, [mark], ["winner"], loc="upper left", **below)
        lines = [Line2D([], [], linewidth=2.5, color=style["edgecolor"], linestyle=style["linestyle"])
                 for style in (FIRST_WINDOW, NEXT_WINDOW)]
        self.windows_legend = Legend(ax_in, lines, ["first window", "next window"], ncol=2, loc="upper right", **below)
        for ax, legend in ((ax_out, self.winner_legend), (ax_in, self.windows_legend)):
            ax.add_artist(legend)
            legend.set_clip_on(False)          # add_artist clips to the axes; the legends sit below the input
            legend.set_in_layout(False)        # laid out by KEY_ROOM below (one hangs under another panel)
        if title:
            fig.suptitle(title, fontsize=10)
        self.update(kernel_size, stride, mode)
        fit_layout(fig) if live else fig.tight_layout()
        fig.subplots_adjust(bottom=fig.subplotpars.bottom + KEY_ROOM / fig.get_figheight())
        for legend in (self.winner_legend, self.windows_legend):
            legend.set_in_layout(True)         # so that savefig(bbox_inches="tight") keeps them
        self.input_slot_right = ax_in.get_position().x1
        self._size_marks()
        animate(self, self.window_grid, self.windows, self.winner_edges, self.winner_lines, ax_out, ax_in.title)

    def _size_marks(self):
        """Line widths of the winner marks and the window grid in proportion to a cell, once
        the picture is laid out (a 26x26 map has cells a third as wide as an 8x10 one)."""
        fig_w, fig_h = self.fig.get_size_inches()
        box = self.axes[0].get_position()
        H, W = self.x.shape
        cell = min(box.width * fig_w / W, box.height * fig_h / H) * 72                    # points
        edge = float(np.clip(0.12 * cell, 1.2, 4.0))
        self.winner_edges.set_linewidth(edge)
        self.winner_lines.set_linewidth(0.4 * edge)
        self.window_grid.set_linewidth(float(np.clip(0.05 * cell, 0.6, 1.5)))

    def update(self, kernel_size=2, stride=None, mode="max"):
        """Show another kernel size, stride (default: the kernel size) and mode ("max" or "average")."""
        _check_window("PoolingPicture", self.x.shape, kernel_size, stride, mode)
        stride = kernel_size if stride is None else stride
        self.output, self.winners = out, winners = pool_map(self.x, kernel_size, stride, mode)
        H_out, W_out = out.shape
        ax_in, ax_out = self.axes
        shape_changed = self.output_image.get_array().shape != out.shape
        if self.live and shape_changed and hasattr(self, "input_slot_right"):
            # The output panel's slot, as the static picture's grid would give it, but never
            # reaching into the input panel's (which stays put).
            self.gridspec.set_width_ratios([self.x.shape[1], max(W_out, 4)])
            slot = self.gridspec[0, 1].get_position(self.fig)
            left = max(slot.x0, self.input_slot_right + 0.02)
            ax_out.set_position([left, slot.y0, slot.x1 - left, slot.height])
        set_image(self.output_image, out)
        if shape_changed and self.output_numbers is not None:
            self.output_numbers.remove()
            self.output_numbers = None
        if out.size <= MAX_OUTPUT_NUMBERS:
            if self.output_numbers is None:     # inside the animated output panel: drawn with it
                self.output_numbers = ImageNumbers(self, self.output_image, animated=False)
            self.output_numbers.update(out)
        set_text(ax_out.title, f"{mode} pool {kernel_size}x{kernel_size}, stride {stride}: {H_out}x{W_out}")

        # Every window outlined when they tile the input; only the first two when they overlap.
        self.overlapping = stride < kernel_size and out.size > 1
        rows, cols = np.meshgrid(np.arange(H_out), np.arange(W_out), indexing="ij")
        centre = (kernel_size - 1) / 2
        self.window_grid.set_verts([] if self.overlapping else
                                   _squares(rows * stride + centre, cols * stride + centre, kernel_size / 2))
        pair = [(0, 0), (0, 1) if W_out > 1 else (1, 0)][:min(out.size, 2)]      # the next one along the row
        self.windows.set_verts(_squares([r * stride + centre for r, _ in pair], [c * stride + centre for _, c in pair],
                                        kernel_size / 2))
        self.output_frames.set_verts(_squares([r for r, _ in pair], [c for _, c in pair], 0.5))
        overlap = ", overlapping" if self.overlapping else ""
        set_text(ax_in.title, f"input {self.x.shape[0]}x{self.x.shape[1]}: {out.size} windows{overlap}")

        if winners is not None:
            squares = _squares(winners[..., 0], winners[..., 1], WINNER_SIDE / 2)
            self.winner_edges.set_verts(squares)
            self.winner_lines.set_verts(squares)
        for artist in (self.winner_edges, self.winner_lines):
            artist.set_visible(winners is not None)
        for legend, shown in ((self.winner_legend, winners is not None), (self.windows_legend, out.size > 1)):
            if legend.get_visible() != shown:
                legend.set_visible(shown)


class PoolingExplorer(Explorer):
    """Max or average pooling of one 2-D map: the windows, the winners and the output.

    Parameters
    ----------
    x : array-like, shape (H, W)
        A feature map, or an image (uint8 images are scaled to [0, 1]).
    kernel_size : int
    stride : int, optional
        Defaults to ``kernel_size``.
    mode : {"max", "average"}

    Attributes
    ----------
    mode : ToggleButtons ("max" / "average")
    kernel_size, stride : IntSlider
    output : ndarray, shape (H_out, W_out)
        The pooled map last drawn (from ``cnnlib.ops``).
    winners : ndarray of int, shape (H_out, W_out, 2), or None
        For max pooling, the input (row, col) that won each window: the first maximum in
        row-major order. None for average pooling, where every input counts.

    Examples
    --------
    >>> ex = PoolingExplorer(np.array([[1.0, 2.0], [4.0, 3.0]]))
    >>> ex.output.tolist(), ex.winners.tolist()
    ([[4.0]], [[[1, 0]]])
    """

    def __init__(self, x, *, kernel_size=2, stride=None, mode="max"):
        self.x = as_float_image("PoolingExplorer", x)
        _check_window("PoolingExplorer", self.x.shape, kernel_size, stride, mode)
        max_k = min(min(self.x.shape), 6)   # slider range: windows that fit, at most 6x6
        self.mode = widgets.ToggleButtons(options=list(MODES), value=mode, tooltips=["max pooling", "average pooling"],
                                          style={"button_width": "90px"})
        self.kernel_size = widgets.IntSlider(value=kernel_size, min=1, max=max(max_k, kernel_size),
                                             description="kernel")
        self.stride = widgets.IntSlider(value=kernel_size if stride is None else stride, min=1,
                                        max=max(max_k, stride or 1), description="stride")
        super().__init__([self.mode, self.kernel_size, self.stride], title="Pooling explorer")

    def _values(self):
        return {"kernel_size": self.kernel_size.value, "stride": self.stride.value, "mode": self.mode.value}

    def build_picture(self):
        picture = PoolingPicture(self.x, live=True, **self._values())
        self.output, self.winners = picture.output, picture.winners
        return picture

    def update_picture(self):
        self.picture.update(**self._values())
        self.output, self.winners = self.picture.output, self.picture.winners

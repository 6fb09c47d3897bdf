"""Convolution: the pictures and explorers of lesson 2 (a kernel on a digit, the sliding
window step by step, padding and stride).

May import: numpy, matplotlib, ipywidgets, :mod:`cnnlib.ops` (every number shown is
computed by the library's own convolution) and the explore modules ``picture``,
``explorer`` and ``images``.

The contract
------------
Each picture is a :class:`~cnnlib.explore.picture.Picture`: the constructor draws it for
its first values and ``update(...)`` changes the same artists for new ones. The static
``plot_*`` function returns the constructor's figure (for ``plt.show()``); each explorer
builds the same class with ``live=True`` and calls ``update`` on every control move.
Colours follow :mod:`cnnlib.explore.images`: bright means large for images, red/blue
centred on 0 for kernels, products and feature maps.
"""
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.legend import Legend

from cnnlib import ops
from cnnlib.explore.explorer import Explorer
from cnnlib.explore.images import DIGIT_CMAP, SIGNED_CMAP, ImageNumbers, as_float_image, text_colours
from cnnlib.explore.picture import (MAX_ANNOTATED_CELLS, Picture, animate, as_2d, finite_limit, fit_layout,
                                    format_value, no_ticks, set_image, set_text)

__all__ = ["KERNEL_PRESETS", "plot_convolution", "ConvolutionPicture", "plot_sliding_window",
           "SlidingWindowPicture", "plot_conv_geometry", "ConvGeometryPicture", "FilterExplorer",
           "SlidingWindowStepper", "ConvGeometryExplorer"]

#: 3x3 kernels to try on a digit. "vertical edge" answers where brightness changes from
#: left to right (so it finds vertical strokes); "horizontal edge" from top to bottom.
KERNEL_PRESETS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "vertical edge": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "horizontal edge": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "Sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
}
#: What the preset menu shows once a kernel box has been edited by hand.
CUSTOM = "custom"
#: Write a kernel's numbers into its cells up to this size (a side).
MAX_ANNOTATED_KERNEL = 7
#: Write "input x weight = product" into the products panel up to this kernel size.
MAX_ANNOTATED_PRODUCTS = 5
#: Inches a live figure keeps free right of its colour bar: it is laid out once, for its
#: first tick labels, and later ones can be wider ("-0.75" after "2").
COLORBAR_LABEL_ROOM = 0.3
#: Cells of the geometry picture: input (white), out of the windows' reach (pink), padding (grey).
GEOMETRY_CELLS = ListedColormap(["white", (1.0, 0.8, 0.8), "0.78"])
#: Inches kept free under a panel for a legend that hangs below it.
KEY_ROOM = 0.3
#: The frame around "where we are" (the window on the input, its cell in the output).
HIGHLIGHT = dict(fill=False, edgecolor="tab:orange", linewidth=3, zorder=4)


def _conv_single(image, kernel, *, stride=1, padding=0):
    """One image, one kernel: the (H_out, W_out) feature map, computed by ``cnnlib.ops``."""
    out, _ = ops.conv2d_forward(image[None, None], kernel[None, None], np.zeros(1), stride=stride, padding=padding)
    return out[0, 0]                                                 # (1, 1, H_out, W_out) -> (H_out, W_out)


def _positive_int(owner, name, value, low=1):
    return ops.check_int(f"{owner}: {name}", value, low)


def _image_colours(image):
    """imshow arguments for an input image: bright = large when it has no negative values,
    else red/blue centred on 0."""
    if image.min() >= 0:
        return {"cmap": DIGIT_CMAP, "vmin": 0, "vmax": float(image.max()) or 1.0}
    limit = finite_limit(image)
    return {"cmap": SIGNED_CMAP, "vmin": -limit, "vmax": limit}


# ---------------------------------------------------------------- image ⋆ kernel = feature map

def plot_convolution(image, kernel, feature_map, *, titles=None, figsize=(9, 3)):
    """Input, kernel and feature map side by side: ``image ⋆ kernel = feature_map``.

    The input is drawn bright = large (white ink on black); the kernel and the feature map
    use red/blue centred on 0, because their sign matters: red = positive response, blue =
    negative. The kernel's numbers are written into its cells when it is small.

    Parameters
    ----------
    image : array-like, shape (H, W)
    kernel : array-like, shape (KH, KW)
    feature_map : array-like, shape (H_out, W_out)
    titles : three str, optional

    Returns
    -------
    Figure
    """
    return ConvolutionPicture(image, kernel, feature_map, titles=titles, figsize=figsize).fig


class ConvolutionPicture(Picture):
    """What :func:`plot_convolution` draws; :meth:`update` shows new arrays with the same
    artists. In a live picture the kernel and feature-map panels (and the colour bar),
    which change with every kernel edit, are animated; a new image redraws everything.

    Examples
    --------
    >>> pic = ConvolutionPicture(np.eye(5), np.ones((3, 3)), np.full((3, 3), 3.0), live=True)
    >>> pic.update(np.eye(5), -np.ones((3, 3)), np.full((3, 3), -3.0))
    >>> pic.png()[:4]
    b'\\x89PNG'
    """

    def __init__(self, image, kernel, feature_map, *, titles=None, figsize=(9, 3), live=False, fig=None):
        image, kernel, feature_map = self._check(image, kernel, feature_map)
        fig = self._start(figsize, live=live, fig=fig)
        ax_in, ax_k, ax_fm = self.axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 0.75, 1.2]})
        self.input_image = ax_in.imshow(image, cmap=DIGIT_CMAP, interpolation="nearest")
        self.kernel_image = ax_k.imshow(kernel, cmap=SIGNED_CMAP, interpolation="nearest")
        self.kernel_numbers = (ImageNumbers(self, self.kernel_image, fontsize=9, animated=False)
                               if max(kernel.shape) <= MAX_ANNOTATED_KERNEL else None)
        self.map_image = ax_fm.imshow(feature_map, cmap=SIGNED_CMAP, interpolation="nearest")
        self.colorbar = fig.colorbar(self.map_image, ax=ax_fm, fraction=0.046, pad=0.04)
        for ax in self.axes:
            no_ticks(ax)
            ax.set_title(" ", fontsize=9)
        self.update(image, kernel, feature_map, titles=titles)
        if live:
            fit_layout(fig)
            fig.subplots_adjust(right=fig.subplotpars.right - COLORBAR_LABEL_ROOM / fig.get_figwidth())
        else:
            fig.tight_layout()
        animate(self, ax_k, ax_fm, self.colorbar.ax)

    @staticmethod
    def _check(image, kernel, feature_map):
        owner = "ConvolutionPicture"
        return as_2d(owner, "image", image), as_2d(owner, "kernel", kernel), as_2d(owner, "feature_map", feature_map)

    def update(self, image, kernel, feature_map, *, titles=None):
        """Show new arrays (the kernel keeps its shape; the image and map may change size)."""
        image, kernel, feature_map = self._check(image, kernel, feature_map)
        if kernel.shape != self.kernel_image.get_array().shape:
            raise ValueError(f"ConvolutionPicture: the kernel was {self.kernel_image.get_array().shape}, "
                             f"got {kernel.shape}; make a new picture for another kernel size")
        titles = titles or (f"input {image.shape[0]}x{image.shape[1]}",
                            f"kernel {kernel.shape[0]}x{kernel.shape[1]}",
                            f"feature map {feature_map.shape[0]}x{feature_map.shape[1]}")
        if not np.array_equal(self.input_image.get_array(), image):     # a new input redraws the whole figure
            set_image(self.input_image, image, (image.min(), image.max()))
        limit = finite_limit(kernel)
        set_image(self.kernel_image, kernel, (-limit, limit))
        if self.kernel_numbers is not None:
            self.kernel_numbers.update(kernel)
        limit = finite_limit(feature_map)
        set_image(self.map_image, feature_map, (-limit, limit))
        # Three ticks, -max, 0 and max: the scale at a glance, and fewer labels to draw per edit.
        self.colorbar.set_ticks([-limit, 0, limit], labels=[format_value(v, "{:.2g}") for v in (-limit, 0, limit)])
        for ax, title in zip(self.axes, titles):
            set_text(ax.title, title)


# ---------------------------------------------------------------- the sliding window

def plot_sliding_window(image, kernel, step, *, stride=1):
    """One step of the sliding window: where it is, the products, and the output so far.

    Parameters
    ----------
    image : array-like, shape (H, W)
    kernel : array-like, shape (KH, KW)
    step : int
        Which output position we are at, counting row by row from 0 to ``H_out*W_out - 1``.
    stride : int

    Returns
    -------
    Figure

    Notes
    -----
    .. math:: \\text{out}[i, j] = \\sum_{p, q} \\text{image}[i s + p, j s + q] \\; \\text{kernel}[p, q]
    """
    return SlidingWindowPicture(image, kernel, step, stride=stride).fig


class SlidingWindowPicture(Picture):
    """What :func:`plot_sliding_window` draws; :meth:`update` moves to another step.

    The input panel and its numbers are drawn once; in a live picture only its title, the
    window frame and the other two panels are drawn per step.

    Attributes
    ----------
    full_output : ndarray, shape (H_out, W_out)
        The whole output, from ``cnnlib.ops.conv2d_forward``.
    position : (int, int)
        The output position ``(i, j)`` of the current step.
    window, products : ndarray, shape (KH, KW)
        The input under the window and ``window * kernel``; their sum is ``full_output[i, j]``.
    output : ndarray, shape (H_out, W_out)
        The output filled up to the current step (NaN where the window has not been yet).

    Examples
    --------
    >>> pic = SlidingWindowPicture(np.arange(12.0).reshape(3, 4), np.ones((2, 2)), 0, live=True)
    >>> pic.update(4)
    >>> pic.position, float(pic.products.sum())
    ((1, 1), 30.0)
    """

    def __init__(self, image, kernel, step, *, stride=1, figsize=(9, 3.6), live=False, fig=None):
        self.image = image = as_2d("SlidingWindowPicture", "image", image)
        self.kernel = kernel = as_2d("SlidingWindowPicture", "kernel", kernel)
        self.stride = _positive_int("SlidingWindowPicture", "stride", stride)
        (H, W), (KH, KW) = image.shape, kernel.shape
        if KH > H or KW > W:
            raise ValueError(f"SlidingWindowPicture: the kernel {KH}x{KW} does not fit in the image {H}x{W}")
        self.full_output = _conv_single(image, kernel, stride=self.stride)              # (H_out, W_out)
        self.H_out, self.W_out = self.full_output.shape
        fig = self._start(figsize, live=live, fig=fig)
        ax_in, ax_prod, ax_out = self.axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.2, 0.8, 1]})
        input_image = ax_in.imshow(image, interpolation="nearest", **_image_colours(image))
        if max(image.shape) <= MAX_ANNOTATED_CELLS:      # under the window frame, drawn once
            ImageNumbers(self, input_image, animated=False, zorder=2).update(image, fmt="{:.2g}")
        self.window_box = ax_in.add_patch(plt.Rectangle((-0.5, -0.5), KW, KH, **HIGHLIGHT))
        self.products_image = ax_prod.imshow(np.zeros((KH, KW)), cmap=SIGNED_CMAP, interpolation="nearest")
        self.products_texts = None
        if max(kernel.shape) <= MAX_ANNOTATED_PRODUCTS:   # each cell: input × weight = product
            self.products_texts = [ax_prod.text(c, r, "", ha="center", va="center", fontsize=8)
                                   for r in range(KH) for c in range(KW)]
        self.output_image = ax_out.imshow(np.zeros((self.H_out, self.W_out)), cmap=SIGNED_CMAP,
                                          interpolation="nearest")
        self.output_numbers = (ImageNumbers(self, self.output_image, animated=False)
                               if max(self.H_out, self.W_out) <= MAX_ANNOTATED_CELLS else None)
        self.output_box = ax_out.add_patch(plt.Rectangle((-0.5, -0.5), 1, 1, **HIGHLIGHT))
        for ax in self.axes:
            no_ticks(ax)
            ax.set_title(" ", fontsize=9)
        self.update(step)
        fit_layout(fig) if live else fig.tight_layout()
        animate(self, ax_in.title, self.window_box, ax_prod, ax_out)

    def update(self, step):
        """Show step ``step`` (0 to ``H_out*W_out - 1``, row by row)."""
        image, kernel, s = self.image, self.kernel, self.stride
        (KH, KW), H_out, W_out = kernel.shape, self.H_out, self.W_out
        step = ops.check_int(f"SlidingWindowPicture ({H_out}x{W_out} output positions): step", step, 0,
                         H_out * W_out - 1)
        i, j = self.position = divmod(step, W_out)
        self.window = image[i * s:i * s + KH, j * s:j * s + KW]                          # (KH, KW)
        self.products = self.window * kernel                                             # (KH, KW)
        self.output = np.full((H_out, W_out), np.nan)
        self.output.ravel()[:step + 1] = self.full_output.ravel()[:step + 1]

        ax_in, ax_prod, ax_out = self.axes
        set_text(ax_in.title, f"input {image.shape[0]}x{image.shape[1]}, window at row {i * s}, col {j * s}")
        self.window_box.set_xy((j * s - 0.5, i * s - 0.5))
        limit = finite_limit(self.products)
        set_image(self.products_image, self.products, (-limit, limit))
        set_text(ax_prod.title, f"window × kernel\nsum = {format_value(self.products.sum(), '{:.3g}')}")
        if self.products_texts is not None:
            colours = text_colours(self.products_image, self.products)
            for text, (r, c) in zip(self.products_texts, np.ndindex(KH, KW)):
                set_text(text, f"{format_value(self.window[r, c], '{:.3g}')} × "
                               f"{format_value(kernel[r, c], '{:.3g}')}\n"
                               f"= {format_value(self.products[r, c], '{:.3g}')}", color=colours[r, c])
        limit = finite_limit(self.output)
        set_image(self.output_image, self.output, (-limit, limit))
        if self.output_numbers is not None:
            self.output_numbers.update(self.output)
        set_text(ax_out.title, f"output {H_out}x{W_out}: out[{i}, {j}] = {format_value(self.output[i, j], '{:.3g}')}")
        self.output_box.set_xy((j - 0.5, i - 0.5))


# ---------------------------------------------------------------- padding, stride, output size

def plot_conv_geometry(size, kernel_size, padding=0, stride=1):
    """The padded input as a grid, the windows' positions, and the output size.

    Input cells are white, padding cells grey. The first window is outlined in orange,
    the last one dashed in purple, and a dot marks the centre of every window position;
    rows and columns no window reaches (dropped by the floor in the formula) are shaded
    pink. When the kernel does not fit, the picture says so instead of an output grid.

    Returns
    -------
    Figure
    """
    return ConvGeometryPicture(size, kernel_size, padding, stride).fig


class ConvGeometryPicture(Picture):
    """What :func:`plot_conv_geometry` draws. The constructor makes every artist both
    states need (the kernel fits / does not fit) and :meth:`update` moves, resizes, shows
    and hides them. Everything in the panels changes on a move, so in a live picture both
    panels are animated; the kept background holds the legends.

    Attributes
    ----------
    output_size : int or None
        ``floor((size + 2*padding - kernel_size) / stride) + 1``, None when the kernel does not fit.

    Examples
    --------
    >>> ConvGeometryPicture(7, 3, 1, 2, live=True).output_size
    4
    """

    def __init__(self, size, kernel_size, padding=0, stride=1, *, figsize=(9, 4.2), live=False, fig=None):
        fig = self._start(figsize, live=live, fig=fig)
        ax, ax_out = self.axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        # left: the padded input, its grid, the window centres and the first / last window
        self.input_image = ax.imshow(np.zeros((1, 1)), cmap=GEOMETRY_CELLS, vmin=0, vmax=2, interpolation="nearest")
        self.input_grid = ax.add_collection(LineCollection([], colors="0.5", linewidths=0.5))
        self.centres, = ax.plot([], [], "o", color="tab:blue", markersize=4)
        self.first = ax.add_patch(plt.Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="tab:orange",
                                                linewidth=3))
        self.last = ax.add_patch(plt.Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="tab:purple",
                                               linewidth=2, linestyle="--"))
        self.overhang = ax.add_patch(plt.Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="tab:red",
                                                   linewidth=2, linestyle="--"))
        # Cells no window reaches are pink *and* crossed: the cross tells them from the grey
        # padding without colour (colour-blind readers).
        self.unreached, = ax.plot([], [], "x", color="darkred", markersize=5, markeredgewidth=1.2)
        # The legends hang under the input panel but belong to the figure: they stay in the
        # kept background (the panels are redrawn on every move; a legend costs ~7 ms).
        legend = dict(loc="upper left", bbox_to_anchor=(0, -0.02), bbox_transform=ax.transAxes, fontsize=8,
                      frameon=False)
        self.windows_legend = Legend(fig, [self.first, self.last, self.unreached],
                                     ["first window", "last window", "no window reaches"], ncol=3, **legend)
        self.overhang_legend = Legend(fig, [self.overhang], ["kernel (does not fit)"], **legend)
        # right: the output grid (on a light grey panel), one dot per window; or why there is none
        ax_out.set_facecolor("0.93")
        self.output_grid = ax_out.add_collection(LineCollection([], colors="0.4", linewidths=0.8))
        self.output_dots, = ax_out.plot([], [], "o", color="tab:blue", markersize=4)   # one per window
        self.no_output = ax_out.text(0.5, 0.5, "", ha="center", va="center", fontsize=10, color="tab:red",
                                     transform=ax_out.transAxes)
        for a in self.axes:
            no_ticks(a)
            a.set_title(" ", fontsize=9)
        self.update(size, kernel_size, padding, stride)
        fit_layout(fig) if live else fig.tight_layout()
        fig.subplots_adjust(bottom=fig.subplotpars.bottom + KEY_ROOM / fig.get_figheight())
        for box in (self.windows_legend, self.overhang_legend):
            fig.add_artist(box)         # after the layout, which keeps KEY_ROOM for them
        animate(self, ax, ax_out)

    def update(self, size, kernel_size, padding=0, stride=1):
        """Show another input size, kernel size, padding and stride."""
        owner = "ConvGeometryPicture"
        size, kernel_size = _positive_int(owner, "size", size), _positive_int(owner, "kernel_size", kernel_size)
        padding, stride = _positive_int(owner, "padding", padding, low=0), _positive_int(owner, "stride", stride)
        P = size + 2 * padding
        fits = P >= kernel_size
        out = self.output_size = ops.conv_output_size(size, kernel_size, stride, padding) if fits else None
        ax, ax_out = self.axes
        cells = np.zeros((P, P))                                      # input cells: white (0)
        if fits:                                                      # rows / columns no window reaches: pink (1)
            covered = (out - 1) * stride + kernel_size
            cells[covered:, :] = cells[:, covered:] = 1
        border = np.ones((P, P), dtype=bool)
        border[padding:P - padding, padding:P - padding] = False
        cells[border] = 2                                             # padding cells: grey (2)
        set_image(self.input_image, cells)
        rows, cols = np.nonzero(cells == 1)
        self.unreached.set_data(cols, rows)
        edges = np.arange(-0.5, P, 1)
        self.input_grid.set_segments([[(-0.5, t), (P - 0.5, t)] for t in edges]          # rows
                                     + [[(t, -0.5), (t, P - 0.5)] for t in edges])       # columns
        set_text(ax.title, f"input {size}x{size} + padding {padding} = {P}x{P}, kernel {kernel_size}x{kernel_size}, "
                           f"stride {stride}")
        for artist, shown in ((self.centres, fits), (self.first, fits), (self.last, fits), (self.overhang, not fits)):
            artist.set_visible(shown)
        for legend, shown in ((self.windows_legend, fits), (self.overhang_legend, not fits)):
            if legend.get_visible() != shown:
                legend.set_visible(shown)
                self.fig.stale = True   # (an artist added with fig.add_artist does not tell its figure)
        if fits:
            centres = np.arange(out) * stride + (kernel_size - 1) / 2
            cx, cy = np.meshgrid(centres, centres)
            self.centres.set_data(cx.ravel(), cy.ravel())
            last = (out - 1) * stride
            self.first.set_bounds(-0.5, -0.5, kernel_size, kernel_size)
            self.last.set_bounds(last - 0.5, last - 0.5, kernel_size, kernel_size)
            ax.set_xlim(-0.5, P - 0.5)
            ax.set_ylim(P - 0.5, -0.5)
        else:   # show the kernel hanging over the edge
            self.overhang.set_bounds(-0.5, -0.5, kernel_size, kernel_size)
            ax.set_xlim(-0.6, kernel_size - 0.4)
            ax.set_ylim(kernel_size - 0.4, -0.6)

        for artist in (self.output_grid, self.output_dots):
            artist.set_visible(fits)
        self.no_output.set_visible(not fits)
        if fits:
            ax_out.set_axis_on()
            ax_out.set_aspect("equal")
            edges = np.arange(-0.5, out, 1)
            self.output_grid.set_segments([[(-0.5, t), (out - 0.5, t)] for t in edges]
                                          + [[(t, -0.5), (t, out - 0.5)] for t in edges])
            cx, cy = np.meshgrid(np.arange(out), np.arange(out))
            self.output_dots.set_data(cx.ravel(), cy.ravel())
            ax_out.set_xlim(-0.5, out - 0.5)
            ax_out.set_ylim(out - 0.5, -0.5)
            # (plain text, not mathtext: parsing a new formula costs ~30 ms a move)
            set_text(ax_out.title, f"output {out}x{out}\n"
                                   f"⌊({size} + 2·{padding} − {kernel_size}) / {stride}⌋ + 1 = {out}")
        else:
            ax_out.set_axis_off()
            ax_out.set_aspect("auto")
            set_text(self.no_output, f"The kernel ({kernel_size}) does not fit:\nthe padded input is only {P} "
                                     f"wide.\nAdd padding or use a smaller kernel.")
            set_text(ax_out.title, "no output")


# ---------------------------------------------------------------- explorers

class FilterExplorer(Explorer):
    """Pick a digit and a 3x3 kernel; see the input, the kernel and the feature map.

    Parameters
    ----------
    images : array-like, shape (N, H, W) or (H, W)
        uint8 images (scaled to [0, 1]) or float images.
    labels : array-like, shape (N,), optional
        Shown in the input's title.
    kernel : str, default "vertical edge"
        The preset selected at the start (see :data:`KERNEL_PRESETS`).

    Attributes
    ----------
    digit : IntSlider
        The image index (the first control).
    preset : Dropdown
        A preset kernel; choosing one fills the nine boxes.
    kernel_boxes : list of 9 FloatText
        The kernel, row by row; editing one sets the menu to "custom".
    feature_map : ndarray, shape (H - 2, W - 2)
        The last feature map drawn, from ``cnnlib.ops.conv2d_forward``.

    Examples
    --------
    >>> ex = FilterExplorer(np.eye(6)[None] * 255)
    >>> ex.feature_map.shape
    (4, 4)
    >>> ex.preset.value = "identity"
    >>> ex.draw_count
    2
    """

    def __init__(self, images, labels=None, *, kernel="vertical edge"):
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or images.shape[0] == 0:
            raise ValueError(f"FilterExplorer: expected images of shape (N, H, W), got shape {images.shape}")
        if min(images.shape[1:]) < 3:
            raise ValueError(f"FilterExplorer: images of {images.shape[1]}x{images.shape[2]} are smaller "
                             "than the 3x3 kernel")
        self.images = np.stack([as_float_image("FilterExplorer", im) for im in images])     # (N, H, W)
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(images),):
                raise ValueError(f"FilterExplorer: expected one label per image, shape ({len(images)},), "
                                 f"got shape {labels.shape}")
        self.labels = labels
        if kernel not in KERNEL_PRESETS:
            raise ValueError(f"FilterExplorer: unknown kernel {kernel!r}; choose one of {sorted(KERNEL_PRESETS)}")
        self.feature_map = None
        self._filling = False
        # 400 px (not the usual 440) so the slider, the menu and the nine boxes share one row on
        # a laptop; the short label still leaves a track of more than 250 px.
        self.digit = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="digit",
                                       continuous_update=False, layout=widgets.Layout(width="400px"))
        self.preset = widgets.Dropdown(options=list(KERNEL_PRESETS) + [CUSTOM], value=kernel,
                                       description="kernel")
        box_layout = widgets.Layout(width="76px")   # room for 0.1111 (the blur kernel) beside the spin buttons
        self.kernel_boxes = [widgets.FloatText(value=float(v), layout=box_layout, step=0.5)
                             for v in np.ravel(KERNEL_PRESETS[kernel])]
        grid = widgets.GridBox(self.kernel_boxes, layout=widgets.Layout(
            grid_template_columns="repeat(3, 80px)", grid_gap="2px",   # a little wider than the boxes
            flex="0 0 auto"))   # wraps to the next line rather than squeezing its boxes
        self.digit.observe(self.refresh, names="value")
        self.preset.observe(self._on_preset, names="value")
        for box in self.kernel_boxes:
            box.observe(self._on_box, names="value")
        super().__init__([self.digit, self.preset, grid], title="Filter explorer: image ⋆ kernel", observe=False)

    @property
    def kernel(self):
        """The 3x3 kernel in the boxes, as a float array."""
        return np.array([box.value for box in self.kernel_boxes], dtype=np.float64).reshape(3, 3)

    def set_kernel(self, kernel):
        """Fill the nine boxes from a 3x3 array-like and redraw once."""
        kernel = np.asarray(kernel, dtype=np.float64)
        if kernel.shape != (3, 3):
            raise ValueError(f"FilterExplorer: the kernel must be 3x3, got shape {kernel.shape}")
        if not np.isfinite(kernel).all():
            raise ValueError("FilterExplorer: the kernel contains NaN or infinity")
        self._filling = True
        try:
            for box, v in zip(self.kernel_boxes, kernel.ravel()):
                box.value = float(v)
        finally:
            self._filling = False
        self.refresh()

    def _on_preset(self, change):
        if change["new"] != CUSTOM:
            self.set_kernel(KERNEL_PRESETS[change["new"]])

    def _on_box(self, change):
        if self._filling:
            return
        self._filling = True
        try:
            self.preset.value = CUSTOM
        finally:
            self._filling = False
        self.refresh()

    def _picture_args(self):
        image = self.images[self.digit.value]
        self.feature_map = fm = _conv_single(image, self.kernel)
        label = f" (label {self.labels[self.digit.value]})" if self.labels is not None else ""
        return (image, self.kernel, fm), {"titles": (
            f"input #{self.digit.value}{label}", f"kernel: {self.preset.value}",
            f"feature map {fm.shape[0]}x{fm.shape[1]}, range [{fm.min():.2f}, {fm.max():.2f}]")}

    def build_picture(self):
        args, kwargs = self._picture_args()
        return ConvolutionPicture(*args, live=True, **kwargs)

    def update_picture(self):
        args, kwargs = self._picture_args()
        self.picture.update(*args, **kwargs)


class SlidingWindowStepper(Explorer):
    """Step the window over a small image: the window, the products and their sum, the output so far.

    Parameters
    ----------
    image : array-like, shape (H, W)
    kernel : array-like, shape (KH, KW)
    stride : int, default 1

    Attributes
    ----------
    input_image : ndarray, shape (H, W)
        The image as floats (``image`` is the explorer's picture widget).
    step : IntSlider
        Output position, counted row by row from 0 to ``H_out*W_out - 1``.
    position : (i, j)
        The output position of the current step.
    products : ndarray, shape (KH, KW)
        ``window * kernel`` at the current step; ``value`` is their sum.
    output : ndarray, shape (H_out, W_out)
        The output filled up to the current step (NaN where the window has not been yet).

    Examples
    --------
    >>> st = SlidingWindowStepper(np.arange(12.0).reshape(3, 4), np.ones((2, 2)))
    >>> st.step.max, st.position, st.value
    (5, (0, 0), 10.0)
    """

    def __init__(self, image, kernel, *, stride=1):
        self.input_image = as_float_image("SlidingWindowStepper", image)     # (self.image is the picture widget)
        kernel = np.asarray(kernel, dtype=np.float64)
        if kernel.ndim != 2 or 0 in kernel.shape:
            raise ValueError(f"SlidingWindowStepper: expected a 2-D kernel (KH, KW), got shape {kernel.shape}")
        H, W = self.input_image.shape
        if kernel.shape[0] > H or kernel.shape[1] > W:
            raise ValueError(f"SlidingWindowStepper: the kernel {kernel.shape[0]}x{kernel.shape[1]} does not "
                             f"fit in the image {H}x{W}")
        self.kernel = kernel
        self.stride = _positive_int("SlidingWindowStepper", "stride", stride)
        self.H_out = ops.conv_output_size(H, kernel.shape[0], self.stride)
        self.W_out = ops.conv_output_size(W, kernel.shape[1], self.stride)
        self.step = widgets.IntSlider(value=0, min=0, max=self.H_out * self.W_out - 1, description="step",
                                      continuous_update=False)
        super().__init__([self.step], title="Sliding window, one step at a time")

    def _read_picture(self):
        pic = self.picture
        self.position, self.products, self.output = pic.position, pic.products, pic.output
        self.value = float(pic.products.sum())

    def build_picture(self):
        self.picture = SlidingWindowPicture(self.input_image, self.kernel, self.step.value, stride=self.stride,
                                            live=True)
        self._read_picture()
        return self.picture

    def update_picture(self):
        self.picture.update(self.step.value)
        self._read_picture()


class ConvGeometryExplorer(Explorer):
    """Input size, kernel size, padding and stride -> the window positions and the output size.

    Attributes
    ----------
    size, kernel_size, padding, stride : IntSlider
    output_size : int or None
        ``floor((size + 2*padding - kernel_size) / stride) + 1``, or None when the kernel
        does not fit.
    message : HTML
        The formula with the numbers, or why there is no output.

    Examples
    --------
    >>> ex = ConvGeometryExplorer(size=7, kernel_size=3, padding=1, stride=2)
    >>> ex.output_size
    4
    """

    def __init__(self, *, size=7, kernel_size=3, padding=0, stride=1, max_size=16):
        for name, value, low in (("size", size, 1), ("kernel_size", kernel_size, 1), ("padding", padding, 0),
                                 ("stride", stride, 1), ("max_size", max_size, 1)):
            _positive_int("ConvGeometryExplorer", name, value, low)
        if size > max_size:
            raise ValueError(f"ConvGeometryExplorer: size {size} is larger than max_size {max_size}")
        self.size = widgets.IntSlider(value=size, min=1, max=max_size, description="input size")
        self.kernel_size = widgets.IntSlider(value=kernel_size, min=1, max=max(7, kernel_size), description="kernel")
        self.padding = widgets.IntSlider(value=padding, min=0, max=max(3, padding), description="padding")
        self.stride = widgets.IntSlider(value=stride, min=1, max=max(4, stride), description="stride")
        self.message = widgets.HTML()
        self.output_size = None
        super().__init__([self.size, self.kernel_size, self.padding, self.stride],
                         title="Padding, stride and the output size")
        row = self.widget.children.index(self.image)
        self.widget.children = self.widget.children[:row] + (self.message,) + self.widget.children[row:]

    def _values(self):
        n, k, p, s = self.size.value, self.kernel_size.value, self.padding.value, self.stride.value
        if n + 2 * p < k:
            self.message.value = (f"<span style='color:#b00020'>The kernel ({k}) does not fit: the padded input "
                                  f"is only {n} + 2·{p} = {n + 2 * p} wide. Add padding or use a smaller kernel."
                                  "</span>")
        else:
            out = ops.conv_output_size(n, k, s, p)
            self.message.value = (f"H_out = floor(({n} + 2·{p} − {k}) / {s}) + 1 = "
                                  f"floor({n + 2 * p - k} / {s}) + 1 = <b>{out}</b>")
        return n, k, p, s

    def build_picture(self):
        picture = ConvGeometryPicture(*self._values(), live=True)
        self.output_size = picture.output_size
        return picture

    def update_picture(self):
        self.picture.update(*self._values())
        self.output_size = self.picture.output_size

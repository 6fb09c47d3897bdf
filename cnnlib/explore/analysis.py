"""Looking inside a trained model: saliency, layer outputs, the confusion matrix, the learned
filters and the feature maps, as pictures and as explorers.

May import: numpy, matplotlib, ipywidgets, the cnnlib core (models are only run, never
changed: a saliency map overwrites the layers' caches and ``grads`` as a training step
would), :mod:`cnnlib.explore.picture`, :mod:`cnnlib.explore.explorer` and
:mod:`cnnlib.explore.images` (for the digits' colour map).

The contract
------------
* :func:`saliency_map` and :func:`layer_outputs` are plain NumPy: one backward pass with a
  one-hot ``dout``, one forward pass keeping every layer's output.
* Each picture is one class (``FiltersPicture``, ``FeatureMapsPicture``, ...) whose first
  drawing is the lesson's static picture (``plot_filters(w)`` returns
  ``FiltersPicture(w).fig``) and whose ``update(...)`` redraws it for an explorer.
* Pictures place their axes in inches (:func:`axes_at`), not with ``tight_layout``: the
  static and the live drawing have the same layout, and a live figure never has to be
  laid out again when its titles change.
* In a live picture what a control changes (images, their titles and frames) is animated
  (see :func:`cnnlib.explore.picture.animate`): a new image, channel or cell redraws only
  those over the kept background, and they may be hidden or shown without a full redraw.
* Digits are drawn white ink on black, as MNIST stores them and as every lesson shows them
  (:data:`cnnlib.explore.images.DIGIT_CMAP`); saliency maps use :data:`SALIENCY_CMAP`,
  signed maps red > 0 > blue.
* The explorers take all their data as arguments; a model input is either uint8 images
  ``(N, H, W)`` (scaled with :func:`cnnlib.train.to_input`) or float ``(N, C, H, W)``.
"""
import math

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
from matplotlib.patches import Rectangle

from cnnlib.explore.explorer import Explorer
from cnnlib.explore.images import DIGIT_CMAP
from cnnlib.explore.picture import FONT_SIZE, CellNumbers, Picture, animate, no_ticks, set_image, set_text
from cnnlib.losses import softmax
from cnnlib.ops import check_int
from cnnlib.train import to_input

__all__ = ["saliency_map", "layer_outputs", "layer_label", "axes_at",
           "plot_confusion_matrix", "ConfusionMatrixPicture", "plot_filters", "FiltersPicture",
           "plot_feature_maps", "FeatureMapsPicture", "plot_saliency_grid", "SaliencyGridPicture",
           "ChannelPicture", "FeatureMapExplorer", "ConfusionExplorer", "FEATURE_MAP_LAYERS"]

#: Font size (points) of a picture's heading (its suptitle).
TITLE_SIZE = 10
#: Colour map of saliency maps (non-negative, each on its own scale): black 0, bright yellow the largest.
SALIENCY_CMAP = "inferno"
#: Layers whose output is a stack of feature maps (N, C, H, W).
FEATURE_MAP_LAYERS = ("Conv2d", "ReLU", "MaxPool2d", "AvgPool2d")


# ---------------------------------------------------------------------------- model analysis

def model_dtype(model):
    """The dtype of the model's first parameter (inputs are cast to it), float64 if none."""
    for layer in model.layers:
        for p in layer.params.values():
            return p.dtype
    return np.dtype(np.float64)


def as_model_input(owner, model, images):
    """Images -> the model's input ``(N, C, H, W)`` in the model's dtype.

    uint8 images (N, H, W), as ``load_mnist`` returns them, are scaled to [0, 1] with
    :func:`cnnlib.train.to_input`; float arrays must already be ``(N, C, H, W)``.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = to_input(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"{owner}: expected a batch of model inputs (N, C, H, W), e.g. to_input(x_test), "
                         f"got shape {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{owner}: expected float inputs (from to_input) or uint8 images, got dtype {images.dtype}")
    return images.astype(model_dtype(model), copy=False)


def saliency_map(model, image, class_index):
    """How strongly each pixel can move one class score: ``|d logits[c] / d x|``.

    We run the model forward on the single image, then backward with a one-hot ``dout``
    on the logits, so the backward pass returns the gradient of the score of class ``c``
    with respect to every input pixel. Its absolute value is the saliency map.

    Parameters
    ----------
    model : Sequential
    image : ndarray, (C, H, W) or (H, W)
        One model input (float, already scaled), without the batch axis.
    class_index : int
        Which logit to explain (the predicted class, or the true one).

    Returns
    -------
    ndarray, float, (H, W)
        The largest ``|gradient|`` over the input channels at each pixel.

    Notes
    -----
    .. math:: S_{ij} = \\max_c \\left| \\frac{\\partial z_k}{\\partial x_{c,i,j}} \\right|

    The forward and backward passes overwrite the layers' caches and ``grads``, as a
    training step would; do not call it between a backward pass and ``optimizer.step()``.

    >>> from cnnlib.model import build_seed_net
    >>> saliency_map(build_seed_net(rng=0), np.zeros((1, 28, 28)), 3).shape
    (28, 28)
    """
    x = np.asarray(image)
    if x.ndim == 2:
        x = x[None]   # (1, H, W)
    if x.ndim != 3 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"saliency_map: expected one float image of shape (C, H, W) or (H, W), got shape "
                         f"{np.shape(image)} and dtype {np.asarray(image).dtype}")
    logits = model.forward(x[None].astype(model_dtype(model), copy=False))   # (1, K)
    K = logits.shape[1]
    class_index = check_int("saliency_map: class_index", class_index, 0, K - 1)
    dout = np.zeros_like(logits)
    dout[0, class_index] = 1.0
    dx = model.backward(dout, input_grad=True)   # (1, C, H, W)
    return np.abs(dx[0]).max(axis=0)             # (H, W)


def layer_outputs(model, x):
    """Every layer's output for the batch ``x``: a list as long as the model.

    >>> from cnnlib.model import build_seed_net
    >>> [out.shape for out in layer_outputs(build_seed_net(rng=0), np.zeros((2, 1, 28, 28)))]
    [(2, 8, 26, 26), (2, 8, 13, 13), (2, 1352), (2, 10)]
    """
    outputs = []
    for layer in model.layers:
        x = layer.forward(x)
        outputs.append(x)
    return outputs


def layer_label(model, index):
    """A short name for layer ``index``: its repr without the default stride and padding.

    >>> from cnnlib.model import build_lenet
    >>> [layer_label(build_lenet(rng=0), i) for i in (0, 2)]
    ['0: Conv2d(1→8, k=5)', '2: MaxPool2d(k=2, stride=2)']
    """
    return f"{index}: {model.layers[index]!r}".replace(", stride=1, padding=0", "")


# ---------------------------------------------------------------------------- layout in inches

def _size_inches(fig):
    """(width, height) in inches of a figure or sub-figure."""
    return fig.bbox.width / fig.dpi, fig.bbox.height / fig.dpi


def axes_at(fig, left, top, width, height):
    """An Axes placed in inches, measured from the top-left corner of ``fig`` (a figure or
    a sub-figure): the same place in a static and in a live picture, whatever the titles say."""
    W, H = _size_inches(fig)
    return fig.add_axes((left / W, 1 - (top + height) / H, width / W, height / H))


def _heading(picture, fig, title, top, *, animated=True):
    """The picture's heading: a suptitle ``top`` inches below the (sub-)figure's top edge,
    animated in a live picture when it changes with the data.

    (Drawing a text costs about 0.2 ms a character with matplotlib 3.11's text layout, so
    a live picture animates only the texts that change on most moves.)"""
    H = _size_inches(fig)[1]
    text = fig.suptitle(title or "", fontsize=TITLE_SIZE, y=1 - top / H, va="top")
    if animated:
        animate(picture, text)
    return text


def _spines(axes):
    """The frames of these panels: animated with the images in them, so that they are drawn
    on top of them as in a plain drawing (and cheap: about 0.05 ms each)."""
    return [spine for ax in axes for spine in ax.spines.values()]


# ---------------------------------------------------------------------------- confusion matrix

def plot_confusion_matrix(cm, *, ax=None, title=None, figsize=(4.6, 4.2)):
    """A confusion matrix: row = true digit, column = predicted digit, number = count.

    Parameters
    ----------
    cm : ndarray, int, shape (K, K)
        ``cm[i, j]`` = how many examples of class ``i`` the model called ``j``.
    ax : Axes, optional
        Draw into it; default a new figure of ``figsize`` inches.

    Returns
    -------
    Figure
    """
    return ConfusionMatrixPicture(cm, ax=ax, title=title, figsize=figsize).fig


def _square_counts(owner, cm):
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"{owner}: expected a square (K, K) array of counts, got shape {cm.shape}")
    return cm


class ConfusionMatrixPicture(Picture):
    """What :func:`plot_confusion_matrix` draws; :meth:`update` writes new counts (same K).

    The colour is the square root of the count, so that a few mistakes still show next to a
    diagonal of hundreds; zero cells stay blank.
    """

    def __init__(self, cm, *, ax=None, title=None, figsize=(4.6, 4.2), live=False):
        cm = _square_counts("ConfusionMatrixPicture", cm)
        own_figure = ax is None
        self._start(figsize, live=live, fig=None if own_figure else ax.figure)
        self.ax = ax = self.fig.add_subplot() if own_figure else ax
        K = cm.shape[0]
        self.image = ax.imshow(np.sqrt(cm), cmap="Blues", interpolation="nearest")
        self.numbers = CellNumbers(self, ax, cm.shape)
        ax.set_xticks(range(K))
        ax.set_yticks(range(K))
        ax.tick_params(labelsize=FONT_SIZE)
        ax.set(xlabel="predicted", ylabel="true")
        if title:
            ax.set_title(title, fontsize=TITLE_SIZE)
        animate(self, self.image, *_spines([ax]))
        self.update(cm)
        if own_figure:
            self.fig.tight_layout()

    def update(self, cm):
        cm = _square_counts("ConfusionMatrixPicture", cm)
        if cm.shape != self.image.get_array().shape:
            raise ValueError(f"ConfusionMatrixPicture: this picture shows {self.image.get_array().shape} counts, "
                             f"got {cm.shape}")
        root = np.sqrt(cm)
        set_image(self.image, root, (0, float(root.max()) or 1.0))
        # White text where sqrt(n) > 0.6 sqrt(max), i.e. n > 0.36 max: CellNumbers whitens
        # values above 0.6 * limit, so the limit is 0.6 * max.
        self.numbers.update(np.where(cm > 0, cm, np.nan), fmt="{:.0f}", limit=0.6 * max(cm.max(), 1), signed=False)
        return self


# ---------------------------------------------------------------------------- learned filters

def plot_filters(w, *, title=None, cell_size=0.8, max_inputs=8):
    """Convolution kernels as one mosaic, red > 0 > blue, all on one colour scale.

    Parameters
    ----------
    w : ndarray, shape (C_out, C_in, KH, KW)
        A ``Conv2d``'s ``params["w"]``. With one input channel the C_out kernels form one
        row; otherwise row ``o`` shows the kernels of output channel ``o`` for the first
        ``max_inputs`` input channels.
    cell_size : float
        Inches per kernel.

    Returns
    -------
    Figure

    Notes
    -----
    One image with white gaps between the kernels, rather than one Axes per kernel: a
    16x8 grid of Axes takes seconds to lay out, the mosaic a fraction of that.
    """
    return FiltersPicture(w, title=title, cell_size=cell_size, max_inputs=max_inputs).fig


def _filter_weights(w):
    w = np.asarray(w, dtype=float)
    if w.ndim != 4 or 0 in w.shape:
        raise ValueError(f"FiltersPicture: expected weights of shape (C_out, C_in, KH, KW), got {w.shape}")
    return w


class FiltersPicture(Picture):
    """What :func:`plot_filters` draws; :meth:`update` shows new weights of the same shape
    (say, the same layer later in training)."""

    def __init__(self, w, *, title=None, cell_size=0.8, max_inputs=8, live=False):
        w = _filter_weights(w)
        C_out, C_in, KH, KW = w.shape
        self.max_inputs = max_inputs
        mosaic = self._mosaic(w)
        n_rows, n_cols = self._grid_shape
        self._start((n_cols * cell_size + 0.8, n_rows * cell_size * KH / KW + 0.8), live=live)
        ax = self.ax = self.fig.add_subplot()
        cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="white")
        self.image = ax.imshow(mosaic, cmap=cmap, interpolation="nearest")
        ax.set_xticks([c * (KW + 1) + (KW - 1) / 2 for c in range(n_cols)], [str(c) for c in range(n_cols)])
        ax.tick_params(length=0, labelsize=FONT_SIZE)
        ax.set_frame_on(False)
        if C_in == 1:
            ax.set_yticks([])
            ax.set_xlabel("filter", fontsize=FONT_SIZE)
        else:
            ax.set_yticks([r * (KH + 1) + (KH - 1) / 2 for r in range(n_rows)], [str(r) for r in range(n_rows)])
            ax.set_xlabel("input channel" + (f" (first {n_cols} of {C_in})" if n_cols < C_in else ""),
                          fontsize=FONT_SIZE)
            ax.set_ylabel("output channel", fontsize=FONT_SIZE)
        if title:
            ax.set_title(title, fontsize=TITLE_SIZE)
        animate(self, self.image)
        self.update(w)
        self.fig.tight_layout()

    def _mosaic(self, w):
        """The kernels in one (rows * (KH + 1) - 1, cols * (KW + 1) - 1) array, NaN in the gaps."""
        C_out, C_in, KH, KW = w.shape
        grid = w[:, 0][None] if C_in == 1 else w[:, :self.max_inputs]   # (rows, cols, KH, KW); rows = outputs
        n_rows, n_cols = self._grid_shape = grid.shape[:2]
        mosaic = np.full((n_rows * (KH + 1) - 1, n_cols * (KW + 1) - 1), np.nan)
        for r in range(n_rows):
            for c in range(n_cols):
                mosaic[r * (KH + 1):r * (KH + 1) + KH, c * (KW + 1):c * (KW + 1) + KW] = grid[r, c]
        return np.ma.masked_invalid(mosaic)

    def update(self, w):
        w = _filter_weights(w)
        mosaic = self._mosaic(w)
        if mosaic.shape != self.image.get_array().shape:
            raise ValueError(f"FiltersPicture: this picture shows a mosaic of {self.image.get_array().shape}, "
                             f"the weights {w.shape} make {mosaic.shape}")
        limit = float(np.abs(mosaic).max()) or 1.0
        set_image(self.image, mosaic, (-limit, limit))
        return self


# ---------------------------------------------------------------------------- feature maps

def plot_feature_maps(maps, *, fig=None, title=None, n_cols=8, cell_size=0.9, highlight=None):
    """Every channel of one layer's output for one image, on one shared colour scale.

    Parameters
    ----------
    maps : ndarray, shape (C, H, W)
        One image's activations at one layer, e.g. ``model[1].forward(...)[0]``.
        Signed maps (a convolution's output) use red > 0 > blue; non-negative ones
        (after ReLU or pooling) use black = 0 to white = the largest value.
    fig : Figure or SubFigure, optional
        Draw into it; default a new figure (``cell_size`` inches per map).
    highlight : int, optional
        Frame this channel in orange.

    Returns
    -------
    Figure (or the SubFigure passed in)
    """
    return FeatureMapsPicture(maps, fig=fig, title=title, n_cols=n_cols, cell_size=cell_size,
                              highlight=highlight).fig


def _feature_maps_array(maps):
    maps = np.asarray(maps, dtype=float)
    if maps.ndim != 3 or 0 in maps.shape:
        raise ValueError(f"FeatureMapsPicture: expected maps of shape (C, H, W), got {maps.shape}")
    return maps


class FeatureMapsPicture(Picture):
    """What :func:`plot_feature_maps` draws; :meth:`update` shows other maps (the same number
    of channels) or frames another channel.

    The highlight is one orange rectangle (:attr:`frame`) moved from panel to panel: in a
    live picture it and the maps are animated, and the panels' own frames and numbers are
    drawn once."""

    #: Inches: a map's number above it, the heading, the margins.
    LABEL, HEADING, MARGIN, GAP = 0.2, 0.25, 0.1, 0.08

    @classmethod
    def size(cls, n_channels, *, n_cols=8, cell_size=0.9, title=True):
        """(width, height) in inches the picture needs (for a figure made to hold it)."""
        n_cols = min(n_cols, n_channels)
        n_rows = -(-n_channels // n_cols)
        return (n_cols * (cell_size + cls.GAP) + 2 * cls.MARGIN,
                n_rows * (cell_size + cls.LABEL) + (cls.HEADING if title else 0) + 2 * cls.MARGIN)

    def __init__(self, maps, *, fig=None, title=None, n_cols=8, cell_size=0.9, highlight=None, live=False):
        maps = _feature_maps_array(maps)
        C = maps.shape[0]
        self._start(self.size(C, n_cols=n_cols, cell_size=cell_size, title=title is not None), live=live, fig=fig)
        n_cols = min(n_cols, C)
        W, H = _size_inches(self.fig)
        n_rows = -(-C // n_cols)
        top = self.MARGIN + (self.HEADING if title is not None else 0)
        # The cells share what the (sub-)figure offers: they are square, as large as fits.
        cell = min((W - 2 * self.MARGIN) / n_cols - self.GAP, (H - top - self.MARGIN) / n_rows - self.LABEL)
        left0 = (W - n_cols * (cell + self.GAP) + self.GAP) / 2
        self.axes = []
        self.images = []
        for c in range(C):
            r, k = divmod(c, n_cols)
            ax = axes_at(self.fig, left0 + k * (cell + self.GAP), top + r * (cell + self.LABEL) + self.LABEL,
                         cell, cell)
            no_ticks(ax)
            self.images.append(ax.imshow(maps[c], interpolation="nearest", cmap="gray"))
            ax.set_title(str(c), fontsize=FONT_SIZE, pad=2)
            self.axes.append(ax)
        # The heading names the layer: it changes rarely, so it is not animated (a change
        # redraws the whole figure).
        self.title = _heading(self, self.fig, title, self.MARGIN, animated=False) if title is not None else None
        self.frame = Rectangle((0, 0), 0, 0, transform=self.fig.transSubfigure, fill=False,
                                           edgecolor="tab:orange", linewidth=3, visible=False, zorder=5)
        self.fig.add_artist(self.frame)
        # The panels' frames are animated too, only so that they stay on top of their maps.
        animate(self, *self.images, *_spines(self.axes), self.frame)
        self.highlight = None
        self.update(maps, highlight=highlight)

    def update(self, maps, *, highlight=None, title=None):
        maps = _feature_maps_array(maps)
        if maps.shape[0] != len(self.images):
            raise ValueError(f"FeatureMapsPicture: this picture shows {len(self.images)} maps, got {maps.shape[0]}")
        signed = maps.min() < 0
        limit = float(np.abs(maps).max()) or 1.0
        cmap, clim = ("RdBu_r", (-limit, limit)) if signed else ("gray", (0, limit))
        for im, values in zip(self.images, maps):
            if im.get_cmap().name != cmap:
                im.set_cmap(cmap)
            set_image(im, values, clim)
        if highlight != self.highlight:
            framed = highlight is not None and 0 <= highlight < len(self.axes)
            if framed:
                self.frame.set_bounds(*self._image_box(self.axes[highlight], maps.shape[1:]))
            self.frame.set_visible(framed)
            self.highlight = highlight
        if title is not None and self.title is not None:
            set_text(self.title, title)
        return self

    def _image_box(self, ax, shape):
        """Where a map of ``shape`` (H, W) shows in ``ax``, in the (sub-)figure's fractions:
        the cell shrunk to the map's aspect ratio, centred. (``ax.get_position()`` would say
        the same, but asking it marks the figure stale: a full redraw on every move.)"""
        cell = ax.get_position(original=True)
        W_px, H_px = self.fig.bbox.width, self.fig.bbox.height
        scale = min(cell.width * W_px / shape[1], cell.height * H_px / shape[0])     # pixels per map pixel
        width, height = shape[1] * scale / W_px, shape[0] * scale / H_px
        return cell.x0 + (cell.width - width) / 2, cell.y0 + (cell.height - height) / 2, width, height


class ChannelPicture(Picture):
    """The feature-map explorer's picture: an input image beside one channel of a layer's
    output and, with ``show_all``, every channel below them.

    Parameters
    ----------
    image : ndarray, (H, W)
        The input, drawn as the data stores it: white ink on black (:data:`DIGIT_CMAP`).
    maps : ndarray, (C, H_out, W_out)
        The layer's output for that image.
    channel : int
        Which map to show large (and frame in the grid).
    titles : (str, str, str)
        Above the input, above the map (the layer's name), above the grid.

    Notes
    -----
    The large map is drawn on its own scale, and its colour bar is labelled relative to it
    (-max, 0, +max for a signed map; min and max otherwise), with the channel and its
    numbers written under the map. So a new image or channel changes pixels and two short
    texts, never the colour bar's ticks or the layer's name: those are drawn once, with
    the background (a new layer redraws the whole figure).
    """

    WIDTH, TOP, PANEL = 6.0, 2.55, 1.85     # inches: the figure, the two-panel part, one panel

    def __init__(self, image, maps, channel, *, titles=("", "", ""), show_all=False, live=False):
        image = np.asarray(image, dtype=float)
        maps = _feature_maps_array(maps)
        if image.ndim != 2:
            raise ValueError(f"ChannelPicture: expected one 2-D input image (H, W), got shape {image.shape}")
        grid_size = FeatureMapsPicture.size(maps.shape[0], n_cols=8, cell_size=0.62) if show_all else (0, 0)
        self._start((self.WIDTH, self.TOP + grid_size[1]), live=live)
        top = self.fig
        grid_fig = None
        if show_all:
            top, grid_fig = self.fig.subfigures(2, 1, height_ratios=[self.TOP, grid_size[1]])
        P = self.PANEL
        self.ax_in = axes_at(top, 0.45, 0.35, P, P)                 # a title above, two lines of text below
        self.ax_map = axes_at(top, 0.45 + P + 0.75, 0.35, P, P)
        self.cax = axes_at(top, 0.45 + 2 * P + 0.85, 0.35, 0.12, P)
        for ax in (self.ax_in, self.ax_map):
            no_ticks(ax)
        self.input_image = self.ax_in.imshow(image, cmap=DIGIT_CMAP, interpolation="nearest")
        self.map_image = self.ax_map.imshow(maps[0], cmap="gray", interpolation="nearest")
        self.colorbar = self.fig.colorbar(self.map_image, cax=self.cax)
        self.cax.tick_params(labelsize=FONT_SIZE)
        for ax in (self.ax_in, self.ax_map):
            ax.set_title(" ", fontsize=9)
        box = self.ax_map.get_position()
        self.map_text = top.text(box.x0 + box.width / 2, box.y0 - 0.06 / _size_inches(top)[1], "",
                                 ha="center", va="top", fontsize=FONT_SIZE, transform=top.transSubfigure)
        self.grid = (FeatureMapsPicture(maps, fig=grid_fig, title=titles[2], cell_size=0.62, highlight=channel,
                                        live=live) if show_all else None)
        self._signed = None
        animate(self, self.input_image, self.map_image, *_spines([self.ax_in, self.ax_map]), self.ax_in.title,
                self.map_text)
        self.update(image, maps, channel, titles=titles)

    def update(self, image, maps, channel, *, titles=("", "", "")):
        image = np.asarray(image, dtype=float)
        maps = _feature_maps_array(maps)
        if not 0 <= channel < maps.shape[0]:
            raise ValueError(f"ChannelPicture: channel must be in [0, {maps.shape[0]}), got {channel}")
        set_image(self.input_image, image, (image.min(), image.max()))       # as imshow scales it
        values = maps[channel]
        signed = bool(maps.min() < 0)
        if signed:                       # a convolution's output: centred on 0, red > 0 > blue
            limit = float(np.abs(values).max()) or 1.0
            shown, clim = values / limit, (-1, 1)
            words = f"from {values.min():.3g} to {values.max():.3g}"
        else:                            # after ReLU or pooling: black = smallest, white = largest
            low, high = float(values.min()), float(values.max())
            shown, clim = (values - low) / ((high - low) or 1.0), (0, 1)
            words = f"from {low:.3g} to {high:.3g}"
        if signed != self._signed:       # only a new layer can change this: the bar is redrawn
            self.map_image.set_cmap("RdBu_r" if signed else "gray")
            self.map_image.set_clim(*clim)
            ticks, labels = ([-1, 0, 1], ["-max", "0", "+max"]) if signed else ([0, 1], ["min", "max"])
            self.colorbar.set_ticks(ticks, labels=labels)
            self._signed = signed
        set_image(self.map_image, shown, clim)
        set_text(self.ax_in.title, titles[0])
        set_text(self.ax_map.title, titles[1])
        C, H_out, W_out = maps.shape
        set_text(self.map_text, f"channel {channel} of {C}, {H_out}x{W_out}\n{words}")
        if self.grid is not None:
            self.grid.update(maps, highlight=channel, title=titles[2])
        return self


class FeatureMapExplorer(Explorer):
    """Pick an image, a layer and a channel: see the input and that channel's feature map.

    Parameters
    ----------
    model : Sequential (trained)
    images : uint8 (N, H, W) images or float model inputs (N, C, H, W)
    labels : optional (N,) labels, shown in the input's title

    The layer menu lists the layers whose output is a stack of maps (Conv2d, ReLU,
    pooling). Tick "all channels" to see every channel of the layer in a grid, with the
    chosen one framed.
    """

    def __init__(self, model, images, labels=None, *, title="Feature maps"):
        owner = "FeatureMapExplorer"
        self.model = model
        self.images = as_model_input(owner, model, images)
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None and self.labels.shape != (len(self.images),):
            raise ValueError(f"{owner}: expected {len(self.images)} labels, got shape {self.labels.shape}")
        outputs = layer_outputs(model, self.images[:1])
        self.layer_indices = [i for i, layer in enumerate(model.layers)
                              if type(layer).__name__ in FEATURE_MAP_LAYERS and outputs[i].ndim == 4]
        if not self.layer_indices:
            raise ValueError(f"{owner}: the model has no Conv2d, ReLU or pooling layer with feature maps")
        self._channels = {i: outputs[i].shape[1] for i in self.layer_indices}
        self._cache = {}
        first = self.layer_indices[0]
        self.image_slider = widgets.IntSlider(value=0, min=0, max=len(self.images) - 1, description="image",
                                              continuous_update=False)
        # Short labels (no default stride/padding) in a menu as wide as its longest label.
        self.layer_menu = widgets.Dropdown(options=[(layer_label(model, i), i) for i in self.layer_indices],
                                           value=first, description="layer")
        self.channel_slider = widgets.IntSlider(value=0, min=0, max=self._channels[first] - 1,
                                                description="channel", continuous_update=False)
        self.show_all = widgets.Checkbox(value=False, description="all channels", indent=False,
                                         layout=widgets.Layout(width="120px"))
        # Registered before the base class's redraw, so the channel range fits the layer
        # by the time the picture is drawn.
        self.layer_menu.observe(self._fit_channel_range, names="value")
        super().__init__([self.image_slider, self.layer_menu, self.channel_slider, self.show_all], title=title)

    def _fit_channel_range(self, change):
        self.channel_slider.max = self._channels[change["new"]] - 1   # clamps value if needed

    def activations(self, image_index):
        """All layers' outputs for one image (cached: the widgets redraw often)."""
        if image_index not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[image_index] = [out[0] for out in
                                        layer_outputs(self.model, self.images[image_index:image_index + 1])]
        return self._cache[image_index]

    def picture_key(self):
        # All channels: a grid with one cell per channel; one channel: the same two panels.
        return (True, self._channels[self.layer_menu.value]) if self.show_all.value else (False, None)

    def _compute(self):
        i, layer, c = self.image_slider.value, self.layer_menu.value, self.channel_slider.value
        maps = self.activations(i)[layer]   # (C, H, W)
        c = min(c, maps.shape[0] - 1)
        label = f" (label {self.labels[i]})" if self.labels is not None else ""
        titles = (f"input #{i}{label}", f"layer {layer_label(self.model, layer)}",
                  f"all {maps.shape[0]} channels of layer {layer}")
        return self.images[i, 0], maps, c, titles

    def build_picture(self):
        image, maps, c, titles = self._compute()
        return ChannelPicture(image, maps, c, titles=titles, show_all=self.show_all.value, live=True)

    def update_picture(self):
        image, maps, c, titles = self._compute()
        self.picture.update(image, maps, c, titles=titles)


# ---------------------------------------------------------------------------- saliency grid

def plot_saliency_grid(images, saliencies, titles=None, *, fig=None, cell_size=1.2, title=None):
    """Digits (top row) above their saliency maps (bottom row).

    Parameters
    ----------
    images : ndarray, shape (n, H, W)
        The digits, drawn white ink on black (:data:`DIGIT_CMAP`), each on its own scale.
    saliencies : ndarray, shape (n, H, W)
        ``|d score / d pixel|`` for each image (see :func:`saliency_map`); each map has its
        own scale, black = 0 to bright = its largest value (:data:`SALIENCY_CMAP`).
    titles : list of str, optional
        One per column, above the digit.
    title : str, optional
        A heading above the whole picture.

    Returns
    -------
    Figure (or the SubFigure passed in)
    """
    return SaliencyGridPicture(images, saliencies, titles, fig=fig, cell_size=cell_size, title=title).fig


def _saliency_arrays(images, saliencies, *, allow_empty=False):
    images = np.asarray(images, dtype=float)
    saliencies = np.asarray(saliencies, dtype=float)
    if images.ndim != 3 or images.shape != saliencies.shape or (len(images) == 0 and not allow_empty):
        raise ValueError(f"SaliencyGridPicture: expected images and saliencies of the same shape (n, H, W), "
                         f"n >= 1, got {images.shape} and {saliencies.shape}")
    return images, saliencies


class SaliencyGridPicture(Picture):
    """What :func:`plot_saliency_grid` draws: each digit above its saliency map, ``n_cols``
    pairs to a row.

    A live picture made with ``slots`` pairs can show any number of digits from 0 to
    ``slots`` (:meth:`update` hides the images, frames and labels it does not need), so an
    explorer keeps one picture of one size whatever cell is clicked. Everything that
    changes is animated: a click redraws no axes, only what is in them.
    """

    LABEL, HEADING, MARGIN, GAP, ROW_LABEL = 0.34, 0.45, 0.08, 0.06, 0.3    # inches

    def __init__(self, images, saliencies, titles=None, *, slots=None, n_cols=None, cell_size=1.2, title=None,
                 fig=None, live=False):
        images, saliencies = _saliency_arrays(images, saliencies, allow_empty=slots is not None)
        slots = len(images) if slots is None else check_int("SaliencyGridPicture: slots", slots, len(images))
        if slots == 0:
            raise ValueError("SaliencyGridPicture: nothing to show (no images and slots=0)")
        n_cols = min(slots, n_cols or slots)
        n_rows = -(-slots // n_cols)
        heading = self.HEADING if title is not None else 0
        pair = 2 * cell_size + self.GAP + self.LABEL
        self._start((self.ROW_LABEL + n_cols * (cell_size + self.GAP) + 2 * self.MARGIN,
                     heading + n_rows * pair + 2 * self.MARGIN), live=live, fig=fig)
        self.n_cols = n_cols
        self.digits, self.maps, self.digit_axes, self.map_axes, self.row_labels = [], [], [], [], []
        blank = np.zeros(images.shape[1:] if images.size else (1, 1))
        W, H = _size_inches(self.fig)
        for s in range(slots):
            r, k = divmod(s, n_cols)
            left = self.MARGIN + self.ROW_LABEL + k * (cell_size + self.GAP)
            top = self.MARGIN + heading + r * pair + self.LABEL
            ax_digit = axes_at(self.fig, left, top, cell_size, cell_size)
            ax_map = axes_at(self.fig, left, top + cell_size + self.GAP, cell_size, cell_size)
            for ax in (ax_digit, ax_map):
                no_ticks(ax)
            self.digits.append(ax_digit.imshow(blank, cmap=DIGIT_CMAP, interpolation="nearest"))
            self.maps.append(ax_map.imshow(blank, cmap=SALIENCY_CMAP, vmin=0, interpolation="nearest"))
            # y=1.0 pins the title just above its digit. Without it matplotlib moves each
            # title at every full draw to clear whatever is above the axes, and measures a
            # hidden title as the unit box at the figure's corner: the hidden titles of a
            # second row were moved up onto the first row's, where blitting drew them once
            # a cell with more digits showed them (blitting does not place titles again).
            ax_digit.set_title(" ", fontsize=FONT_SIZE, pad=3, y=1.0)
            self.digit_axes.append(ax_digit)
            self.map_axes.append(ax_map)
            if k == 0:    # the row names, left of each row of pairs
                x = (self.MARGIN + self.ROW_LABEL / 2) / W
                self.row_labels.append(tuple(
                    self.fig.text(x, 1 - (y + cell_size / 2) / H, name, rotation=90, ha="center", va="center",
                                  fontsize=FONT_SIZE)
                    for y, name in ((top, "digit"), (top + cell_size + self.GAP, "saliency"))))
        self.title = _heading(self, self.fig, title, self.MARGIN) if title is not None else None
        animate(self, *self.digits, *self.maps, *(ax.title for ax in self.digit_axes),
                *_spines(self.digit_axes + self.map_axes),
                *(text for pair_labels in self.row_labels for text in pair_labels))
        self.update(images, saliencies, titles, title=title)

    @property
    def slots(self):
        return len(self.digits)

    def update(self, images, saliencies, titles=None, *, title=None):
        """Show ``n <= slots`` digits (n may be 0 in a picture made with ``slots``)."""
        images, saliencies = _saliency_arrays(images, saliencies, allow_empty=True)
        n = len(images)
        if n > self.slots:
            raise ValueError(f"SaliencyGridPicture: this picture has room for {self.slots} digits, got {n}")
        if titles is not None and len(titles) != n:
            raise ValueError(f"SaliencyGridPicture: expected {n} titles, got {len(titles)}")
        for k in range(self.slots):
            shown = k < n
            parts = [self.digits[k], self.maps[k], self.digit_axes[k].title,
                     *self.digit_axes[k].spines.values(), *self.map_axes[k].spines.values()]
            if k % self.n_cols == 0:
                parts += self.row_labels[k // self.n_cols]
            for artist in parts:
                if artist.get_visible() != shown:
                    artist.set_visible(shown)
            if not shown:
                continue
            digit, saliency = images[k], saliencies[k]
            set_image(self.digits[k], digit, (digit.min(), digit.max()))      # as imshow scales them
            set_image(self.maps[k], saliency, (0, saliency.max() or 1.0))
            set_text(self.digit_axes[k].title, titles[k] if titles is not None else "")
        if title is not None and self.title is not None:
            set_text(self.title, title)
        return self


# ---------------------------------------------------------------------------- confusion explorer

# Okabe-Ito blue and vermillion: right and wrong stay apart for colour-blind readers too
# (a green/red pair does not).
RIGHT_COLOUR, WRONG_COLOUR = "#0072B2", "#D55E00"


def _blend(hex_color, strength):
    """Mix white with ``hex_color``: strength 0 -> white, 1 -> the colour."""
    rgb = np.array([int(hex_color[k:k + 2], 16) for k in (1, 3, 5)], dtype=float)
    mixed = 255 - strength * (255 - rgb)
    return "#" + "".join(f"{int(round(v)):02x}" for v in mixed)


def _count(n, singular, plural=None):
    """'1 mistake', '2 mistakes'."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"


class ConfusionExplorer(Explorer):
    """A clickable confusion matrix: click a cell to see its digits and their saliency maps.

    Row = true digit, column = predicted digit; the number on each button is the count.
    Off-diagonal cells (mistakes) are red, the diagonal is green, darker = more. Beside the
    matrix, the clicked cell's digits, most confident first, each above its saliency map:
    the gradient of the predicted (or true) class score with respect to the pixels, from
    our own backward pass (:func:`saliency_map`). Matrix and picture sit side by side, so a
    click changes a picture that is on screen.

    Parameters
    ----------
    model : Sequential (trained)
    x : uint8 images (N, H, W) or float model inputs (N, C, H, W)
    y : int labels (N,)
    max_shown : how many digits of a cell to show
    """

    #: Pixels: a count button's width; the row labels' column, as wide as the corner's
    #: heading (68 px in Chromium's DejaVu Sans, the widest of the usual system fonts) and
    #: a few pixels to keep it apart from the first column's number.
    CELL_PX, LABEL_PX = 36, 76
    #: The matrix's corner: rows are the true digit, columns the predicted one.
    CORNER = "true↓ pred→"

    def __init__(self, model, x, y, *, max_shown=8, title="Confusion matrix: click a cell"):
        owner = "ConfusionExplorer"
        self.model = model
        self.x = as_model_input(owner, model, x)
        self.y = np.asarray(y)
        if self.y.shape != (len(self.x),) or not np.issubdtype(self.y.dtype, np.integer):
            raise ValueError(f"{owner}: expected {len(self.x)} integer labels, got shape {self.y.shape} "
                             f"and dtype {self.y.dtype}")
        self.max_shown = check_int(f"{owner}: max_shown", max_shown, 1)
        logits = model.predict(self.x)                     # (N, K)
        self.probs = softmax(logits.astype(np.float64))    # (N, K)
        self.pred = self.probs.argmax(axis=1)
        K = self.n_classes = logits.shape[1]
        if self.y.min() < 0 or self.y.max() >= K:
            raise ValueError(f"{owner}: labels must be in [0, {K}), got {self.y.min()}..{self.y.max()}")
        self.cm = np.bincount(self.y * K + self.pred, minlength=K * K).reshape(K, K)
        off = self.cm * (1 - np.eye(K, dtype=int))
        self.selected = tuple(int(v) for v in np.unravel_index(off.argmax(), off.shape)) if off.any() else (0, 0)

        cell_px, label_px = self.CELL_PX, self.LABEL_PX

        def cell():   # a Layout per button: they are mutable, and the selected one gets a frame
            return widgets.Layout(width=f"{cell_px}px", height="26px", padding="0px")
        diag_max, off_max = max(int(np.diag(self.cm).max()), 1), max(int(off.max()), 1)
        self.buttons = []
        children = [widgets.HTML(f"<small>{self.CORNER}</small>", layout=widgets.Layout(width=f"{label_px}px"))]
        children += [widgets.Label(str(j), layout=widgets.Layout(width=f"{cell_px}px", height="26px"))
                     for j in range(K)]
        for i in range(K):
            children.append(widgets.Label(str(i), layout=widgets.Layout(width=f"{label_px}px")))
            row = []
            for j in range(K):
                n = int(self.cm[i, j])
                strength = math.sqrt(n / (diag_max if i == j else off_max))
                b = widgets.Button(description=str(n), layout=cell(), tooltip=f"true {i}, predicted {j}: {n}")
                b.style.button_color = _blend(RIGHT_COLOUR if i == j else WRONG_COLOUR, strength) if n else "#f5f5f5"
                b.style.text_color = "white" if strength > 0.6 else "black"
                b.on_click(lambda _b, i=i, j=j: self.select(i, j))
                row.append(b)
                children.append(b)
            self.buttons.append(row)
        self.grid = widgets.GridBox(children, layout=widgets.Layout(
            grid_template_columns=f"{label_px}px repeat({K}, {cell_px}px)", grid_gap="2px"))
        self.explain = widgets.ToggleButtons(options=[("predicted class", "pred"), ("true class", "true")],
                                             value="pred", description="saliency of",
                                             style={"button_width": "120px"})
        self._mark(self.selected, True)
        # At most 4 digits to a row (two rows of pairs for the default 8), the picture
        # narrow enough to sit beside the matrix: together about 900 px wide, 540 px tall.
        self._n_cols = 4 if self.max_shown <= 8 else -(-self.max_shown // 2)
        self._cell_size = min(0.9, 4.0 / self._n_cols)
        super().__init__([self.grid, self.explain], title=title, observe=False)
        self.explain.observe(self.refresh, names="value")
        # Matrix and toggle on the left, the picture they change on the right.
        self._left = widgets.VBox([self.grid, self.explain])
        self._row = widgets.HBox([self._left, self.image], layout=widgets.Layout(align_items="flex-start"))
        children = list(self.widget.children)
        start = children.index(self.image) - 1           # the base's row of controls, then the image
        old_row = children[start]
        children[start:start + 2] = [self._row]
        self.widget.children = children
        old_row.close()

    def _mark(self, cell, on):
        b = self.buttons[cell[0]][cell[1]]
        b.style.font_weight = "bold" if on else "normal"
        b.layout.border = "2px solid black" if on else ""

    def select(self, true_class, predicted_class):
        """Show the cell (true_class, predicted_class), as a click on its button does."""
        K = self.n_classes
        if not (0 <= true_class < K and 0 <= predicted_class < K):
            raise ValueError(f"ConfusionExplorer.select: classes must be in [0, {K}), got "
                             f"({true_class}, {predicted_class})")
        self._mark(self.selected, False)
        self.selected = (int(true_class), int(predicted_class))
        self._mark(self.selected, True)
        self.refresh()

    def examples(self, true_class, predicted_class):
        """Indices of the examples in that cell, most confident prediction first."""
        idx = np.flatnonzero((self.y == true_class) & (self.pred == predicted_class))
        confidence = self.probs[idx, predicted_class]
        return idx[np.argsort(-confidence, kind="stable")]

    def _compute(self):
        """(images (n, H, W), saliency maps (n, H, W), titles, heading) of the selected cell."""
        i, j = self.selected
        idx = self.examples(i, j)
        heading = f"true {i}, predicted {j}: " + (_count(len(idx), "correct", "correct") if i == j
                                                   else _count(len(idx), "mistake"))
        shown = idx[:self.max_shown]
        if len(shown) == 0:
            empty = np.zeros((0,) + self.x.shape[2:])
            return empty, empty, [], heading + "\nnothing to show"
        target = {"pred": j, "true": i}[self.explain.value]
        maps = np.stack([saliency_map(self.model, self.x[k], target) for k in shown])   # (n, H, W)
        titles = [f"#{k}\np({j})={self.probs[k, j]:.2f}" for k in shown]
        shown_note = f" (the {len(shown)} most confident)" if len(idx) > len(shown) else ""
        return self.x[shown].max(axis=1), maps, titles, f"{heading}{shown_note}\nsaliency of class {target}"

    def build_picture(self):
        images, maps, titles, heading = self._compute()
        return SaliencyGridPicture(images, maps, titles, slots=self.max_shown, n_cols=self._n_cols,
                                   cell_size=self._cell_size, title=heading, live=True)

    def update_picture(self):
        images, maps, titles, heading = self._compute()
        self.picture.update(images, maps, titles, title=heading)

    def close(self):
        for row in self.buttons:
            for b in row:
                b.close()
        for w in self.grid.children:
            w.close()
        for w in (self._left, self._row):
            w.close()
        super().close()

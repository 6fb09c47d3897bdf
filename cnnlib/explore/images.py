"""Images: digits, weight images and any 2-D array as a picture, and numbers written into
an image's cells.

May import: numpy, matplotlib and :mod:`cnnlib.explore.picture`.

The contract
------------
* Bright means large. Digits are drawn as the data stores them, white ink (255) on a
  black background (0), with :data:`DIGIT_CMAP`; every picture of values that cannot be
  negative (digits, small example images, pooled maps of them) uses the same map.
* Signed arrays (kernels, feature maps, weights) use :data:`SIGNED_CMAP` with a colour
  scale centred on 0: red is positive, blue negative, white 0.
* A number written into a cell is black or white, whichever stands out from that cell's
  colour (:class:`ImageNumbers`), so it reads on any colour map.
* ``show_image``, ``plot_digit_grid`` and ``plot_unit_weights`` are static pictures (no
  explorer redraws them): each returns a pyplot figure for ``plt.show()``.
"""
import numpy as np

from cnnlib.explore.picture import FONT_SIZE, CellNumbers, finite_limit, format_value, new_figure, no_ticks, set_text

__all__ = ["DIGIT_CMAP", "SIGNED_CMAP", "show_image", "plot_digit_grid", "plot_unit_weights", "as_float_image",
           "text_colours", "ImageNumbers"]

#: Colour map of digits and of every non-negative picture: 0 black, the largest value white.
DIGIT_CMAP = "gray"
#: Colour map of signed arrays, used with limits (-m, m): red > 0, white 0, blue < 0.
SIGNED_CMAP = "RdBu_r"
#: A cell whose colour is lighter than this (luminance, 0 black to 1 white) gets black text.
LIGHT_CELL = 0.5


def as_float_image(owner, image):
    """One 2-D image as float64; uint8 pixels (0-255, as MNIST stores them) become [0, 1].

    Parameters
    ----------
    owner : str
        The name the error message starts with (the class or function checking).
    image : array-like, shape (H, W)

    Returns
    -------
    ndarray, shape (H, W), float64

    Examples
    --------
    >>> as_float_image("demo", np.array([[0, 255]], dtype=np.uint8))
    array([[0., 1.]])
    """
    image = np.asarray(image)
    if image.ndim != 2 or 0 in image.shape:
        raise ValueError(f"{owner}: expected one 2-D image of shape (H, W), got shape {image.shape}")
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"{owner}: expected real numbers, got dtype {image.dtype}")
    scaled = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    if not np.isfinite(scaled).all():
        raise ValueError(f"{owner}: the image contains NaN or infinity; replace them before showing it")
    return scaled


def show_image(image, *, ax=None, title=None, cmap=DIGIT_CMAP, symmetric=False, colorbar=False, figsize=(3, 3)):
    """Show one 2-D array (a digit, a kernel, a feature map) as an image.

    Parameters
    ----------
    image : array-like, shape (H, W)
    ax : Axes, optional
        Draw here; by default a new figure of ``figsize`` inches.
    title : str, optional
    cmap : str, default :data:`DIGIT_CMAP`
    symmetric : bool
        Centre the colour scale on 0 (for kernels and feature maps, whose sign matters);
        uses :data:`SIGNED_CMAP` unless another ``cmap`` is given.
    colorbar : bool

    Returns
    -------
    Figure
        The figure drawn into.
    """
    image = np.asarray(image)
    if image.ndim != 2 or 0 in image.shape:
        raise ValueError(f"show_image: expected a non-empty 2-D array (H, W), got shape {image.shape}")
    if ax is None:
        fig = new_figure(figsize, live=False)
        ax = fig.add_subplot()
    kwargs = {}
    if symmetric:
        limit = finite_limit(image)
        kwargs = {"vmin": -limit, "vmax": limit}
        cmap = SIGNED_CMAP if cmap == DIGIT_CMAP else cmap
    im = ax.imshow(image, cmap=cmap, interpolation="nearest", **kwargs)
    no_ticks(ax)
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax.figure


def _grid_figure(n, n_cols, cell_size, extra_height=0.0):
    """A figure of ``n`` image panels, ``n_cols`` a row (all axes off): (fig, axes)."""
    n_cols = max(1, min(n_cols, n))
    n_rows = -(-n // n_cols)
    fig = new_figure((n_cols * cell_size, n_rows * cell_size + extra_height), live=False)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    return fig, axes


def plot_digit_grid(images, labels=None, *, n_cols=10, title=None, cell_size=0.9):
    """A grid of digits, each with its label above it: white ink on black, one colour scale
    for all of them (0 is black, the largest pixel of the grid white).

    Parameters
    ----------
    images : array-like, shape (N, H, W)
        uint8 pixels (0-255) or floats.
    labels : array-like, shape (N,), optional
    n_cols : int
        Digits per row; 10 columns of the default ``cell_size`` make a 9-inch figure.

    Returns
    -------
    Figure
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[0] == 0 or 0 in images.shape[1:]:
        raise ValueError(f"plot_digit_grid: expected images of shape (N, H, W) with N >= 1, got shape {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"plot_digit_grid: got {len(labels)} labels for {len(images)} images; give one per image")
    vmax = 255 if images.dtype == np.uint8 else max(float(images.max()), 0.0) or 1.0
    vmin = min(float(images.min()), 0.0)
    fig, axes = _grid_figure(len(images), n_cols, cell_size)
    for i, image in enumerate(images):
        axes[i].imshow(image, cmap=DIGIT_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
        if labels is not None:
            axes[i].set_title(str(labels[i]), fontsize=FONT_SIZE, pad=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_unit_weights(weights, *, titles=None, n_cols=8, cell_size=1.1, title=None):
    """Weight images of hidden units: what each unit of a first Linear layer "looks for".

    Parameters
    ----------
    weights : array-like, shape (n_units, H, W)
        One image per unit, e.g. ``w[:, :8].T.reshape(8, 28, 28)`` for ``Linear(784, ...)``.
        Each image gets its own colour scale centred on 0: red pixels push the unit up,
        blue ones push it down.
    titles : list of str, optional
        One per unit (default ``"unit i"``).
    n_cols : int
        Units per row; 8 columns of the default ``cell_size`` make an 8.8-inch figure.

    Returns
    -------
    Figure
    """
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 3 or weights.shape[0] == 0 or 0 in weights.shape[1:]:
        raise ValueError(f"plot_unit_weights: expected weights of shape (n_units, H, W), got shape {weights.shape}")
    if titles is not None and len(titles) != len(weights):
        raise ValueError(f"plot_unit_weights: got {len(titles)} titles for {len(weights)} units; give one per unit")
    fig, axes = _grid_figure(len(weights), n_cols, cell_size, extra_height=0.3)
    for i, w in enumerate(weights):
        limit = finite_limit(w)
        axes[i].imshow(w, cmap=SIGNED_CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
        axes[i].set_title(titles[i] if titles is not None else f"unit {i}", fontsize=FONT_SIZE)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def text_colours(image, values):
    """For each value, the text colour that stands out on its cell in ``image``: "black"
    on a light cell, "white" on a dark one (by the cell's luminance under the image's
    colour map and current colour limits).

    Parameters
    ----------
    image : AxesImage
    values : ndarray, shape (H, W)

    Returns
    -------
    ndarray of str, shape (H, W)
    """
    rgba = np.asarray(image.cmap(image.norm(np.asarray(values, dtype=float))))       # (H, W, 4)
    luminance = rgba[..., :3] @ np.array([0.2126, 0.7152, 0.0722])                    # (H, W)
    return np.where(luminance > LIGHT_CELL, "black", "white")


class ImageNumbers(CellNumbers):
    """The numbers written into the cells of an ``imshow`` image, updated in place, each in
    black or white to stand out from its own cell's colour (see :func:`text_colours`).

    Parameters
    ----------
    picture : Picture
    image : AxesImage
        The image the numbers sit on; its shape and colours decide the grid and the text colours.
    animated : bool
        True (the default): in a live picture the texts are animated, drawn over the kept
        background on every frame. False: they are ordinary artists, right for numbers
        that never change (drawn once with the background) or that sit in an axes animated
        as a whole (drawn with it; numbers added later to such an axes must not be animated,
        or nothing would draw them).
    zorder : float, optional
        Texts default to 3; below 3 puts them under window outlines and marks.
    """

    def __init__(self, picture, image, *, fontsize=FONT_SIZE, animated=True, zorder=None):
        super().__init__(picture, image.axes, image.get_array().shape[:2], fontsize=fontsize)
        self.image = image
        for text in (t for row in self.texts for t in row):
            if not animated:
                text.set_animated(False)
            if zorder is not None:
                text.set_zorder(zorder)

    def update(self, values, *, fmt="{:.3g}"):
        """Write ``values`` (shape of the image) into the cells; non-finite values leave their cell empty."""
        values = np.asarray(values, dtype=float)
        colours = text_colours(self.image, np.nan_to_num(values))
        for (r, c), v in np.ndenumerate(values):
            text = self.texts[r][c]
            if np.isfinite(v):
                set_text(text, format_value(v, fmt), color=colours[r, c], visible=True)
            elif text.get_visible():
                text.set_visible(False)


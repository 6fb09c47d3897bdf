"""Colour: a photo as three channels, and a 3-channel convolution drawn channel by channel
(lesson 2).

May import: numpy, matplotlib, Pillow (through ``plt.imread``), :mod:`cnnlib.ops` and the
explore modules ``picture`` and ``images``.

The contract
------------
* A colour image is channels first, as ``Conv2d`` reads it: shape ``(3, H, W)``, floats in
  [0, 1], channel 0 red, 1 green, 2 blue.
* :func:`sample_photo` loads the portrait of Grace Hopper that matplotlib ships (no network).
* :func:`show_rgb` draws such an image; :func:`plot_channel_convolution` draws the sum a
  3-channel kernel computes, ``out = x[0] ⋆ w[0] + x[1] ⋆ w[1] + x[2] ⋆ w[2]``: each
  channel, its kernel slice and its map, and their sum, every map on one colour scale so
  that the picture adds up as the numbers do.
"""
import matplotlib.cbook
import matplotlib.pyplot as plt
import numpy as np

from cnnlib.explore.images import SIGNED_CMAP
from cnnlib.explore.picture import finite_limit, new_figure, no_ticks
from cnnlib.ops import conv2d_forward

__all__ = ["CHANNEL_NAMES", "sample_photo", "show_rgb", "channel_maps", "plot_channel_convolution"]

#: The three channels of an RGB image, in order, and the colour map each is drawn with.
CHANNEL_NAMES = ("red", "green", "blue")
CHANNEL_CMAPS = ("Reds_r", "Greens_r", "Blues_r")
#: The sample photo matplotlib installs with itself (600 x 512 pixels, JPEG).
SAMPLE_PHOTO = "grace_hopper.jpg"


def sample_photo(step=2):
    """The Grace Hopper portrait from matplotlib's sample data, channels first.

    Parameters
    ----------
    step : int
        Keep every ``step``-th row and column (2: 300 x 256 pixels, quick to convolve).

    Returns
    -------
    ndarray, shape (3, H, W), float64 in [0, 1]

    Examples
    --------
    >>> photo = sample_photo(step=4)
    >>> photo.shape, photo.dtype, float(photo.min()) >= 0.0, float(photo.max()) <= 1.0
    ((3, 150, 128), dtype('float64'), True, True)
    """
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"sample_photo: step must be a whole number >= 1 (keep every step-th pixel), got {step!r}")
    path = matplotlib.cbook.get_sample_data(SAMPLE_PHOTO, asfileobj=False)
    pixels = plt.imread(path)                              # (600, 512, 3) uint8
    return pixels[::step, ::step].transpose(2, 0, 1) / 255.0


def _check_rgb(owner, image):
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != 3 or 0 in image.shape:
        raise ValueError(f"{owner}: expected a colour image channels first, shape (3, H, W), got shape {image.shape}"
                         + ("; for an (H, W, 3) image pass image.transpose(2, 0, 1)" if image.shape[-1:] == (3,)
                            else ""))
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        raise ValueError(f"{owner}: expected real numbers, got dtype {image.dtype}")
    if not np.isfinite(image).all():
        raise ValueError(f"{owner}: the image contains NaN or infinity; replace them first")
    return image.astype(np.float64)


def show_rgb(image, *, ax=None, title=None, figsize=(3, 3)):
    """Draw a colour image stored channels first, (3, H, W), values in [0, 1] (clipped).

    Returns
    -------
    Figure
        The figure drawn into (a new one of ``figsize`` inches unless ``ax`` is given).
    """
    image = _check_rgb("show_rgb", image)
    if ax is None:
        ax = new_figure(figsize, live=False).add_subplot()
    ax.imshow(np.clip(image, 0.0, 1.0).transpose(1, 2, 0), interpolation="nearest")   # (H, W, 3)
    no_ticks(ax)
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def channel_maps(image, kernel):
    """Each channel correlated with its own kernel slice: ``maps[c] = image[c] ⋆ kernel[c]``.

    Parameters
    ----------
    image : array-like, shape (3, H, W)
    kernel : array-like, shape (3, KH, KW)

    Returns
    -------
    ndarray, shape (3, H - KH + 1, W - KW + 1)
        One map per channel; their sum is the 3-channel convolution (bias 0).

    Examples
    --------
    >>> image = np.arange(12.0).reshape(3, 2, 2)
    >>> channel_maps(image, np.ones((3, 1, 1)))[:, 0, 0]
    array([0., 4., 8.])
    """
    image = _check_rgb("channel_maps", image)
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 3 or kernel.shape[0] != 3:
        raise ValueError(f"channel_maps: expected one kernel slice per channel, shape (3, KH, KW), "
                         f"got shape {kernel.shape}")
    if kernel.shape[1] > image.shape[1] or kernel.shape[2] > image.shape[2]:
        raise ValueError(f"channel_maps: the {kernel.shape[1]}x{kernel.shape[2]} kernel is larger than the "
                         f"{image.shape[1]}x{image.shape[2]} image")
    # Three separate 1-channel convolutions: channel c and slice c as a batch of one each.
    return np.stack([conv2d_forward(image[None, c:c + 1], kernel[None, c:c + 1], np.zeros(1))[0][0, 0]
                     for c in range(3)])                   # (3, H_out, W_out)


def plot_channel_convolution(image, kernel, *, title=None, figsize=(10, 6.4)):
    """A 3-channel convolution, channel by channel: the channels, the slices, the maps, the sum.

    Three rows of four panels. Top: the photo, then its red, green and blue channels.
    Middle: the kernel's three slices (red positive, blue negative). Bottom: the 3-channel
    convolution's output (the sum), then each channel's own map. The four maps share one
    colour scale, so the sum looks like what it is.

    Parameters
    ----------
    image : array-like, shape (3, H, W)
        Values in [0, 1].
    kernel : array-like, shape (3, KH, KW)
    title : str, optional

    Returns
    -------
    Figure
    """
    maps = channel_maps(image, kernel)                     # (3, H_out, W_out)
    image, kernel = np.asarray(image, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    total = maps.sum(axis=0)                               # (H_out, W_out)
    fig = new_figure(figsize, live=False)
    grid = fig.add_gridspec(3, 4, height_ratios=(1, 0.42, 1))
    show_rgb(image, ax=fig.add_subplot(grid[0, 0]), title="the photo (3 channels)")
    map_limit = max(finite_limit(maps), finite_limit(total))
    kernel_limit = finite_limit(kernel)
    for c, (name, cmap) in enumerate(zip(CHANNEL_NAMES, CHANNEL_CMAPS)):
        ax = fig.add_subplot(grid[0, c + 1])
        ax.imshow(image[c], cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"channel {c}: {name}", fontsize=9)
        ax = fig.add_subplot(grid[1, c + 1])
        ax.imshow(kernel[c], cmap=SIGNED_CMAP, vmin=-kernel_limit, vmax=kernel_limit, interpolation="nearest")
        ax.set_title(f"kernel slice w[{c}]", fontsize=9)
        ax = fig.add_subplot(grid[2, c + 1])
        ax.imshow(maps[c], cmap=SIGNED_CMAP, vmin=-map_limit, vmax=map_limit, interpolation="nearest")
        ax.set_title(f"{name} ⋆ w[{c}]", fontsize=9)
    ax = fig.add_subplot(grid[1, 0])
    ax.axis("off")
    ax.text(0.5, 0.5, "each channel has\nits own kernel slice", ha="center", va="center", fontsize=9,
            transform=ax.transAxes)
    ax = fig.add_subplot(grid[2, 0])
    ax.imshow(total, cmap=SIGNED_CMAP, vmin=-map_limit, vmax=map_limit, interpolation="nearest")
    ax.set_title("output = sum of the 3 maps", fontsize=9)
    for ax in fig.axes:
        no_ticks(ax)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig

"""Static pictures with matplotlib: digits, kernels, feature maps, curves.

The contract
------------
Every ``plot_*`` function draws into an ``ax`` (or a new figure when none is given) and
returns the figure, so a lesson can show it with ``plt.show()`` and a widget can turn it
into PNG bytes with :func:`figure_to_png`. Only this module and :mod:`cnnlib.widgets`
import matplotlib; the core of cnnlib stays NumPy-only.
"""
import io

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["figure_to_png", "show_image", "plot_digit_grid"]


def figure_to_png(fig, *, dpi=80, close=True):
    """Render ``fig`` to PNG bytes (what widgets display), and close it by default."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return buf.getvalue()


def _new_axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def show_image(image, *, ax=None, title=None, cmap="gray", symmetric=False, colorbar=False, figsize=(3, 3)):
    """Show one 2-D array (a digit, a kernel, a feature map) as an image.

    Parameters
    ----------
    symmetric : bool
        Centre the colour scale on 0 (for kernels and feature maps, whose sign matters);
        uses a diverging colour map unless ``cmap`` is given explicitly.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"show_image expects a 2-D array, got shape {image.shape}")
    fig, ax = _new_axes(ax, figsize)
    kwargs = {}
    if symmetric:
        limit = float(np.abs(image).max()) or 1.0
        kwargs = {"vmin": -limit, "vmax": limit}
        cmap = "RdBu_r" if cmap == "gray" else cmap
    im = ax.imshow(image, cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return fig


def plot_digit_grid(images, labels=None, *, n_cols=10, title=None, cell_size=0.9):
    """A grid of 28x28 digits, each with its label above it."""
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("plot_digit_grid: no images to show")
    n_rows = -(-n // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * cell_size, n_rows * cell_size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray_r", interpolation="nearest")
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=8, pad=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig

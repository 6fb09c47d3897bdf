"""Pictures: one class per picture, drawn once and then updated in place.

May import: numpy, matplotlib, Pillow and the cnnlib core. Never ipywidgets (that is
:mod:`cnnlib.explore.explorer`'s job).

The contract
------------
A picture is a small class whose constructor builds a matplotlib figure (axes, images,
lines, texts) and whose ``update(...)`` changes those artists for new values
(``set_data``, ``set_text``, ...). There is one drawing code path:

* a lesson's static picture is the picture's first drawing: ``plot_pooling(x)`` returns
  ``PoolingPicture(x).fig``, a pyplot figure that ``plt.show()`` puts in the notebook;
* an explorer builds the same class with ``live=True``, which draws into a figure
  outside pyplot (:func:`new_figure`: safe from a training thread, never closed by
  ``plt``) and then calls ``update`` on every slider move, turning the figure into PNG
  bytes with :meth:`Picture.png`.

Redrawing only what moved
-------------------------
:meth:`Picture.png` uses matplotlib's documented blitting API: artists marked
``animated`` (see :func:`animate`) are left out of the normal drawing, the rest of the
figure is drawn once and kept (``canvas.copy_from_bbox``), and each later frame restores
that background (``canvas.restore_region``) and draws only the animated artists on top
(``figure.draw_artist``). A change to an artist that is *not* animated marks the figure
stale, and the whole figure is drawn again: a forgotten mark costs time, never a wrong
picture.
"""
import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from PIL import Image as PILImage

__all__ = ["DPI", "FONT_SIZE", "Picture", "new_figure", "figure_to_png", "animate", "set_text", "set_image",
           "no_ticks", "fit_layout", "finite_limit", "as_2d", "CellNumbers", "format_value"]

#: Resolution of the pictures explorers show. At 100 dpi an 8 pt label is 11 px tall on
#: screen; a figure 9 inches wide (900 px) fits a laptop's notebook column with the file
#: browser open (1366x768 screen).
DPI = 100
#: Smallest font size (points) a picture uses: 8 pt = 11 px at :data:`DPI`.
FONT_SIZE = 8
#: zlib level for the PNG bytes: 1 is the fastest (a few ms per picture) and files are at
#: most about 20% bigger than at the default level.
PNG_COMPRESS_LEVEL = 1


def new_figure(figsize, *, live=True):
    """A figure for a picture.

    ``live=True``: a plain :class:`~matplotlib.figure.Figure` on its own Agg canvas, outside
    pyplot (an explorer's figure; safe to draw from a background thread). ``live=False``:
    a pyplot figure, shown by ``plt.show()`` in a lesson.
    """
    if not live:
        return plt.figure(figsize=figsize, dpi=DPI)
    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def figure_to_png(fig, *, close=True):
    """Render a whole figure to PNG bytes with ``savefig`` (cropped to its content)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    if close and plt.fignum_exists(getattr(fig, "number", -1)):
        plt.close(fig)
    return buf.getvalue()


def _canvas_png(canvas):
    """PNG bytes of what an Agg canvas last drew (Pillow, fast zlib level)."""
    width, height = canvas.get_width_height(physical=True)
    rgb = PILImage.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    rgb.save(buf, format="png", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


class Picture:
    """Base class of the pictures: holds ``fig`` and turns it into PNG bytes quickly.

    Subclasses build their artists in ``__init__`` (calling :meth:`_start` first) and
    change them in ``update(...)``.

    Attributes
    ----------
    fig : Figure
    live : bool
        True when drawn for an explorer (blitting on), False for a static lesson picture.
    full_draws : int
        How many :meth:`png` calls had to draw the whole figure (the others drew only the
        animated artists over the kept background).
    """

    def _start(self, figsize, *, live=False, fig=None):
        """Make (or adopt) the figure; call first in a subclass's ``__init__``."""
        self.live = live
        self.fig = fig if fig is not None else new_figure(figsize, live=live)
        self.full_draws = 0
        self._background = None
        self._animated = []
        return self.fig

    def png(self):
        """The figure as PNG bytes, drawing only what changed since the last call."""
        fig = self.fig
        canvas = fig.canvas
        if self._background is None or fig.stale:
            # List the animated artists before drawing: asking an axis without ticks for its
            # children makes ticks, which marks the figure stale; the drawing then clears that.
            self._animated = sorted(fig.findobj(lambda a: a.get_animated()), key=lambda a: a.get_zorder())
            # matplotlib leaves animated artists out of a normal draw, except (before 3.11)
            # animated images of an axes, which would stay in the background after they are
            # hidden or moved: those we hide while the background is drawn.
            shown = [a for a in self._animated if isinstance(a, AxesImage) and a.get_visible()]
            for artist in shown:
                artist.set_visible(False)
            try:
                canvas.draw()
            finally:
                for artist in shown:
                    artist.set_visible(True)
            self._background = canvas.copy_from_bbox(fig.bbox)
            self.full_draws += 1
        else:
            canvas.restore_region(self._background)
        for artist in self._animated:
            if artist.get_visible():
                fig.draw_artist(artist)
        return _canvas_png(canvas)


def animate(picture, *artists):
    """Mark artists that change on every update as animated, in a live picture only (a
    static picture draws everything the ordinary way).

    Keep legends out of it: a legend marks its axes stale while it is drawn, so an
    animated legend would make every frame a full redraw.
    """
    if picture.live:
        for artist in artists:
            artist.set_animated(True)


def set_text(text, value, **style):
    """Change a Text only where something differs (changing a non-animated artist makes
    the whole figure redraw), e.g. ``set_text(ax.title, "stride 2", color="red")``."""
    if text.get_text() != value:
        text.set_text(value)
    for name, v in style.items():
        if getattr(text, f"get_{name}")() != v:
            getattr(text, f"set_{name}")(v)


def set_image(im, values, clim=None):
    """New values for an ``imshow`` image: data, colour limits, and the extent when the
    shape changed."""
    values = np.asarray(values)
    old = im.get_array()
    old_shape = old.shape
    if old_shape != values.shape or not np.array_equal(np.ma.getdata(old), values, equal_nan=values.dtype.kind == "f"):
        im.set_data(values)                 # (setting equal data would still force a full redraw)
    if values.shape[:2] != old_shape[:2]:
        H, W = values.shape[:2]
        im.set_extent((-0.5, W - 0.5, H - 0.5, -0.5))
    if clim is not None and tuple(im.get_clim()) != tuple(clim):
        im.set_clim(*clim)


def no_ticks(ax):
    """An image panel: no ticks, no tick labels."""
    ax.set_xticks([])
    ax.set_yticks([])


def fit_layout(fig, *, pad=0.1, rounds=3):
    """Lay a live figure out once so that nothing sticks out of it.

    A static picture is cropped to its content by ``savefig(bbox_inches="tight")``; a live
    figure is rendered as it is, many times, so we run ``tight_layout`` and then pull the
    subplots in where a title above an aspect-locked panel (or a legend below one) would
    still come closer than ``pad`` inches to the edge.
    """
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    W, H = fig.get_size_inches()
    for _ in range(rounds):
        box = fig.get_tightbbox(renderer)                            # inches
        over = np.maximum((pad - box.x0, box.x1 - (W - pad), pad - box.y0, box.y1 - (H - pad)), 0)
        if over.max() * fig.dpi < 1:
            break
        sp = fig.subplotpars
        left, right = sp.left + over[0] / W, sp.right - over[1] / W
        bottom, top = sp.bottom + over[2] / H, sp.top - over[3] / H
        if not (left < right and bottom < top):
            break
        fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)


def finite_limit(values):
    """The largest |value| among the finite ones (1 when there are none or all are 0)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    limit = float(np.abs(finite).max()) if finite.size else 1.0
    return limit or 1.0


def as_2d(owner, name, array):
    """``array`` as a non-empty 2-D float array, or a ValueError naming ``owner``."""
    array = np.asarray(array, dtype=float)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{owner}: {name} must be a non-empty 2-D array (H, W), got shape {array.shape}")
    return array


def format_value(v, fmt):
    """``fmt.format(v)`` with -0 written as 0 (a cell showing "-0" looks like a bug)."""
    text = fmt.format(v)
    return text[1:] if text.startswith("-") and float(text) == 0 else text


class CellNumbers:
    """The numbers written into the cells of an image panel: one Text per cell, updated in
    place. A cell whose value is not finite shows nothing; a strong value
    (``|v| > 0.6 limit``, or ``v > 0.6 limit`` when ``signed=False``) is written in white
    on its dark cell, the others in black.

    In a live picture the texts are animated (drawn over anything that moves beneath
    them), which costs about 0.2 ms a cell per frame: keep grids small (at most
    :data:`MAX_ANNOTATED_CELLS` a side).
    """

    def __init__(self, picture, ax, shape, *, fontsize=FONT_SIZE):
        self.texts = [[ax.text(c, r, "", ha="center", va="center", fontsize=fontsize) for c in range(shape[1])]
                      for r in range(shape[0])]
        animate(picture, *(t for row in self.texts for t in row))

    def update(self, values, *, fmt="{:.2g}", limit=None, signed=True):
        values = np.asarray(values, dtype=float)
        limit = finite_limit(values) if limit is None else limit
        for (r, c), v in np.ndenumerate(values):
            text = self.texts[r][c]
            if np.isfinite(v):
                strong = abs(v) > 0.6 * limit if signed else v > 0.6 * limit
                set_text(text, format_value(v, fmt), color="white" if strong else "black", visible=True)
            elif text.get_visible():
                text.set_visible(False)

    def remove(self):
        for row in self.texts:
            for text in row:
                text.remove()


#: Write numbers into the cells only up to this many cells a side: larger is unreadable.
MAX_ANNOTATED_CELLS = 12

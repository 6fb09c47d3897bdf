"""Static pictures with matplotlib: digits, kernels, feature maps, curves.

The contract
------------
Every ``plot_*`` function draws into an ``ax`` (or a new figure when none is given) and
returns the figure, so a lesson can show it with ``plt.show()`` and a widget can turn it
into PNG bytes with :func:`figure_to_png`. Only this module and :mod:`cnnlib.widgets`
import matplotlib; the core of cnnlib stays NumPy-only.

Pictures that an explorer redraws on every slider move are built by a small ``*Picture``
class: its constructor creates the axes and artists once (and lays them out once), and
its ``update(...)`` changes those artists in place (``set_data``, ``set_text``, ...).
The static ``plot_*`` function is the constructor's first drawing, so the picture in
the lesson and the live one share one drawing code path. Explorers draw into a
:func:`widget_figure`, whose canvas re-uses the pixels of text it has drawn before.
"""
import io

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

__all__ = ["figure_to_png", "widget_figure", "fit_layout", "canvas_to_png", "encode_png", "show_image",
           "plot_digit_grid"]

WIDGET_DPI = 80   # the resolution explorers render at (and figure_to_png's default)


def figure_to_png(fig, *, dpi=WIDGET_DPI, close=True):
    """Render ``fig`` to PNG bytes (what widgets display), and close it by default."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return buf.getvalue()


class _SpriteRendererAgg(RendererAgg):
    """Agg renderer that keeps the pixels of each text it draws and pastes them when the
    same text is drawn again at the same place in the same style.

    Rendering text with FreeType is the slowest part of drawing our pictures (about half
    a millisecond per number written into a cell), and an explorer redraws mostly the
    same numbers, titles and tick labels. The first time a text is drawn we render it on
    a transparent scratch canvas of the same size, cut out the pixels it touched and keep
    them (a "sprite", ~15% more work than drawing it); afterwards ``draw_image`` blends
    the sprite in. The key holds everything that decides the pixels (string, font, size,
    angle, colour, exact position), so a cached sprite is the text as Agg would draw it
    (blending can differ by one unit of 255 at a pixel). TeX and texts clipped to a path
    are drawn as usual.
    """

    MAX_SPRITES = 4096   # about 1 KB each; cleared when full
    SPRITE_MARGIN = 4    # pixels around a text's box where its anti-aliased edge may still fall

    def __init__(self, width, height, dpi):
        super().__init__(width, height, dpi)
        self._scratch = None
        self._sprites = {}
        self.recording = None      # a list while a _CellText records what it draws

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if ismath == "TeX" or gc.get_clip_path()[0] is not None:
            if self.recording is not None:
                self.recording.append(None)      # not replayable
            return super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
        import matplotlib as mpl
        key = (s, bool(ismath), tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(),
               prop.get_stretch(), prop.get_size_in_points(), prop.get_file(), prop.get_math_fontfamily(), angle,
               x, y, tuple(gc.get_rgb()), gc.get_alpha(), gc.get_forced_alpha(), gc.get_antialiased(),
               mpl.rcParams["text.hinting"], mpl.rcParams["text.hinting_factor"],
               tuple((k, str(v)) for k, v in mpl.rcParams.items() if k.startswith("mathtext.")) if ismath else None,
               None if mtext is None else (tuple(mtext.get_fontfeatures() or ()), mtext.get_language()))
        sprite = self._sprites.get(key)
        if sprite is None:
            sprite = self._render_sprite(gc, x, y, s, prop, angle, ismath, mtext)
            if len(self._sprites) >= self.MAX_SPRITES:
                self._sprites.clear()
            self._sprites[key] = sprite
        clip = gc.get_clip_rectangle()
        clip = None if clip is None else clip.frozen()
        if self.recording is not None:
            self.recording.append((sprite, clip))
        self.paste(sprite, clip)

    def paste(self, sprite, clip):
        """Blend a text's kept pixels in (clipped like the text)."""
        pixels, left, bottom = sprite
        if pixels is not None:
            gc = self.new_gc()
            gc.set_clip_rectangle(clip)
            self.draw_image(gc, left, bottom, pixels)
            gc.restore()

    def _render_sprite(self, gc, x, y, s, prop, angle, ismath, mtext):
        if self._scratch is None:
            self._scratch = RendererAgg(int(self.width), int(self.height), self.dpi)
        scratch = self._scratch
        unclipped = scratch.new_gc()
        unclipped.copy_properties(gc)
        unclipped.set_clip_rectangle(None)
        unclipped.set_clip_path(None)
        RendererAgg.draw_text(scratch, unclipped, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
        unclipped.restore()
        pixels = np.asarray(scratch.buffer_rgba())                   # (H, W, 4), rows top down
        top, left = 0, 0
        window = pixels
        if mtext is not None:     # look for the ink only where the text is (plus a margin)
            box = mtext.get_window_extent(self)
            pad = self.SPRITE_MARGIN
            top = max(int(self.height - box.y1) - pad, 0)
            left = max(int(box.x0) - pad, 0)
            window = pixels[top:max(int(self.height - box.y0) + pad, 0), left:max(int(box.x1) + pad, 0)]
        rows = np.flatnonzero(window[..., 3].any(axis=1))
        cols = np.flatnonzero(window[..., 3].any(axis=0))
        if window is not pixels and (rows.size == 0 or rows[0] == 0 or rows[-1] == window.shape[0] - 1
                                     or cols[0] == 0 or cols[-1] == window.shape[1] - 1):
            top, left, window = 0, 0, pixels           # ink at the edge of the box: look everywhere
            rows = np.flatnonzero(window[..., 3].any(axis=1))
            cols = np.flatnonzero(window[..., 3].any(axis=0))
        if rows.size == 0:
            pixels[...] = 0
            return None, 0, 0
        r0, r1, c0, c1 = top + rows[0], top + rows[-1] + 1, left + cols[0], left + cols[-1] + 1
        sprite = pixels[r0:r1, c0:c1][::-1].copy()                  # draw_image wants rows bottom up
        pixels[...] = 0                                             # the scratch is clear again
        return sprite, int(c0), int(self.height) - int(r1)


class _WidgetCanvas(FigureCanvasAgg):
    """An Agg canvas whose renderer re-uses text pixels (see :class:`_SpriteRendererAgg`)."""

    def get_renderer(self):
        w, h = self.figure.bbox.size
        key = (w, h, self.figure.dpi)
        if getattr(self, "_sprite_key", None) != key:
            self.renderer = _SpriteRendererAgg(w, h, self.figure.dpi)
            self._sprite_key = key
        return self.renderer


def widget_figure(figsize):
    """A figure for an explorer: outside pyplot (never shown or closed by ``plt``, safe to
    draw from a training thread), at :data:`WIDGET_DPI`, on a text-caching Agg canvas."""
    fig = Figure(figsize=figsize, dpi=WIDGET_DPI)
    _WidgetCanvas(fig)
    return fig


def canvas_to_png(canvas):
    """PNG bytes of what ``canvas`` last drew (no re-layout, no second drawing pass)."""
    rgba = np.asarray(canvas.buffer_rgba())                          # (H, W, 4)
    return encode_png(rgba[..., :3])


PNG_ZLIB_LEVEL = 1   # fastest: a widget picture in about 2 ms, at most ~20% bigger than level 6


def encode_png(rgb):
    """An (H, W, 3) uint8 image as PNG bytes: 8-bit RGB, no row filters, zlib level 1.

    Written out here because it is 2-3x faster than a general encoder at the same size
    for our pictures (mostly flat colour): a PNG is a signature and three chunks, each
    ``length, type, data, CRC-32``; the pixel data are the rows, each prefixed by its
    filter type (0 = none), compressed with zlib.

    >>> png = encode_png(np.zeros((2, 3, 3), dtype=np.uint8))
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n", len(png) > 50
    (True, True)
    """
    import struct
    import zlib
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"encode_png: expected an (H, W, 3) uint8 image, got shape {rgb.shape}, dtype {rgb.dtype}")
    H, W, _ = rgb.shape
    rows = np.zeros((H, 1 + 3 * W), dtype=np.uint8)                  # column 0: filter type 0
    rows[:, 1:] = rgb.reshape(H, 3 * W)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)              # 8 bits, RGB, deflate, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), PNG_ZLIB_LEVEL)) + chunk(b"IEND", b""))


# -- small tools for pictures that are updated in place

class _TextLayer(Artist):
    """Texts that do not change, drawn once into a transparent layer and pasted as one image.

    In a live figure, a panel's numbers often sit on top of something that moves (a
    window frame, the winners' marks). Drawn with the kept background they would end up
    under the moving frame; drawn as animated texts they would cost ~0.2 ms each per
    redraw. This artist is animated (so it is drawn over the moving parts, keeping the
    texts on top as in the static picture), but it renders its texts only when one of them
    changes, and otherwise blends the kept layer in with one ``draw_image``.
    """

    def __init__(self, texts):
        super().__init__()
        self.texts = list(texts)
        for text in self.texts:
            text.set_animated(True)      # out of the background ...
            text._cnnlib_layer = self    # ... and drawn by this layer only (see animated_artists)
        self.set_zorder(max((t.get_zorder() for t in self.texts), default=3))
        self.set_animated(True)
        self.set_in_layout(False)        # its texts are laid out themselves; it has no extent of its own
        self._key = self._pixels = None

    def _state(self, renderer):
        return (id(renderer), renderer.width, renderer.height, renderer.dpi,
                tuple((t.get_text(), str(t.get_color()), t.get_visible(), tuple(t.get_position()),
                       t.get_fontsize(), tuple(t.get_transform().get_matrix().ravel())) for t in self.texts))

    def draw(self, renderer):
        if not self.get_visible() or not self.texts:
            return
        key = self._state(renderer)
        if key != self._key:
            scratch = RendererAgg(int(renderer.width), int(renderer.height), renderer.dpi)
            for text in self.texts:
                text.draw(scratch)
            pixels = np.asarray(scratch.buffer_rgba())
            rows = np.flatnonzero(pixels[..., 3].any(axis=1))
            if rows.size:
                cols = np.flatnonzero(pixels[rows[0]:rows[-1] + 1, :, 3].any(axis=0))
                r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
                self._pixels = (pixels[r0:r1, c0:c1][::-1].copy(), int(c0), int(renderer.height) - int(r1))
            else:
                self._pixels = None
            self._key = key
        if self._pixels is not None:
            image, left, bottom = self._pixels
            gc = renderer.new_gc()
            renderer.draw_image(gc, left, bottom, image)
            gc.restore()
        self.stale = False


def animated_artists(fig):
    """The artists a live figure draws over its kept background, in drawing order: the
    animated ones, except texts that a :class:`_TextLayer` draws."""
    found = fig.findobj(lambda a: a.get_animated() and getattr(a, "_cnnlib_layer", None) is None)
    return sorted(found, key=lambda a: a.get_zorder())


def _animate(live, *artists):
    """Mark artists that change on every update as animated (only in a live widget figure:
    a static figure must draw everything the ordinary way)."""
    if live:
        for artist in artists:
            artist.set_animated(True)


def _set_text(text, value, **style):
    """Change a Text only if something differs (a change to a non-animated artist makes the
    whole figure redraw)."""
    if text.get_text() != value:
        text.set_text(value)
    for name, v in style.items():
        if getattr(text, f"get_{name}")() != v:
            getattr(text, f"set_{name}")(v)


def _set_suptitle(fig, title, fontsize=10):
    """Change ``fig``'s suptitle: through its Text once it exists (``fig.suptitle`` marks the
    whole figure stale, even for an animated suptitle)."""
    text = getattr(fig, "_cnnlib_suptitle", None)
    if text is None:
        fig._cnnlib_suptitle = fig.suptitle(title, fontsize=fontsize)
    else:
        _set_text(text, title)
    return fig._cnnlib_suptitle


def _set_image(im, values, clim):
    """New values for an ``imshow`` image: data, colour limits and, if the shape changed, extent."""
    old = im.get_array()
    floats = np.issubdtype(np.asarray(values).dtype, np.floating)
    if old.shape != values.shape or not np.array_equal(np.ma.getdata(old), np.ma.getdata(values), equal_nan=floats) \
            or not np.array_equal(np.ma.getmaskarray(old), np.ma.getmaskarray(values)):
        im.set_data(values)
    if values.shape[:2] != old.shape[:2]:
        H, W = values.shape[:2]
        im.set_extent((-0.5, W - 0.5, H - 0.5, -0.5))
    if tuple(im.get_clim()) != tuple(clim):
        im.set_clim(*clim)


def _no_ticks(ax):
    """No ticks, no tick labels, no axis labels: an image panel. Hiding the axes' x and y
    axis objects draws the same pixels as empty tick lists, and skips measuring them."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.xaxis.set_visible(False)
    ax.yaxis.set_visible(False)


def _empty_axes(ax):
    """Remove what was drawn in ``ax`` and undo the settings drawing changes (limits,
    aspect, axis off): like ``ax.clear()``, which costs ten times more (it rebuilds the
    ticks)."""
    for artist in (*ax.images, *ax.lines, *ax.patches, *ax.collections, *ax.texts):
        artist.remove()
    if ax.legend_ is not None:
        ax.legend_.remove()
    ax.set_aspect("auto")
    ax.set_axis_on()
    ax.set_autoscale_on(True)
    ax.relim()


def fit_layout(fig, *, pad=0.1, rounds=3, tight=True):
    """Lay a live figure out once: ``tight_layout``, then move the subplots' outer edges in
    where something (a title above an aspect-locked panel, a legend below one) would stick
    out of the figure or come closer than ``pad`` inches to its edge.

    Static pictures are cropped to their content by ``savefig(bbox_inches="tight")``; an
    explorer's figure is rendered as it is, many times, so we make it fit once instead.
    ``tight=False`` keeps the figure's own spacing and only pulls in what sticks out.
    """
    if tight:
        fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    W, H = fig.get_size_inches()
    for _ in range(rounds):
        box = fig.get_tightbbox(renderer)                            # inches
        over = np.maximum((pad - box.x0, box.x1 - (W - pad), pad - box.y0, box.y1 - (H - pad)), 0)  # outside
        if over.max() * fig.dpi < 1:
            break
        sp = fig.subplotpars
        left, right = sp.left + over[0] / W, sp.right - over[1] / W
        bottom, top = sp.bottom + over[2] / H, sp.top - over[3] / H
        if not (left < right and bottom < top):
            break
        fig.subplots_adjust(left=left, right=right, bottom=bottom, top=top)


COLORBAR_LABEL_ROOM = 0.3   # inches a live figure keeps free right of its colour bar's labels


def _reserve_right(fig, inches):
    """Move the subplots' right edge left by ``inches``: a live figure is laid out once, for
    its first labels, so we keep room for longer ones later."""
    fig.subplots_adjust(right=fig.subplotpars.right - inches / fig.get_figwidth())


def _finite_limit(values):
    """The largest |value| among the finite ones (1 when there are none or all are 0)."""
    finite = values[np.isfinite(values)]
    limit = float(np.abs(finite).max()) if finite.size else 1.0
    return limit or 1.0


class _CellText(Text):
    """A Text that, on a :func:`widget_figure`, replays what it drew last time (the kept
    pixels of its glyphs) while nothing about it has changed.

    ``Text.draw`` lays the text out on every call (~0.15 ms even when the renderer has the
    pixels cached); a grid of numbers redrawn per slider move pays that for every cell. On
    any other renderer (a static picture) it is an ordinary Text.
    """

    _replay_key = _replay = None

    def _replay_state(self, renderer):
        return (id(renderer), renderer.width, renderer.height, renderer.dpi, self.get_text(), str(self.get_color()),
                self.get_alpha(), tuple(self.get_position()), self.get_fontsize(), self.get_fontweight(),
                self.get_rotation(), self.get_horizontalalignment(), self.get_verticalalignment(),
                tuple(self.get_transform().get_matrix().ravel()), self.get_clip_on())

    def draw(self, renderer):
        if not isinstance(renderer, _SpriteRendererAgg) or renderer.recording is not None:
            return super().draw(renderer)
        if not self.get_visible():
            return
        key = self._replay_state(renderer)
        if key == self._replay_key:
            for sprite, clip in self._replay:
                renderer.paste(sprite, clip)
        else:
            renderer.recording = []
            try:
                super().draw(renderer)
            finally:
                calls, renderer.recording = renderer.recording, None
            self._replay_key, self._replay = (key, calls) if None not in calls else (None, None)
        self.stale = False


def _cell_text(ax, x, y, s, **kwargs):
    """``ax.text`` for a number in a cell, as a :class:`_CellText`."""
    text = _CellText(x, y, s, **kwargs)
    text.set_clip_path(ax.patch)         # as ax.text does
    ax._add_text(text)
    return text


class _CellNumbers:
    """The numbers written into the cells of an image: one Text per cell, updated in place.

    A cell whose value is not finite shows nothing; a strong value (``|v| > 0.6 limit``,
    or ``v > 0.6 limit`` when ``signed=False``) is written in white, the others in black.
    """

    def __init__(self, ax, shape, *, fontsize=8, live=False):
        self.texts = [[_cell_text(ax, c, r, "", ha="center", va="center", fontsize=fontsize)
                       for c in range(shape[1])] for r in range(shape[0])]
        _animate(live, *(t for row in self.texts for t in row))

    def update(self, values, *, fmt, limit, signed=True, minus_zero=False):
        """``minus_zero=False`` writes -0.0 as "0" (as the lessons-1-3 pictures do)."""
        for (r, c), v in np.ndenumerate(values):
            text = self.texts[r][c]
            if np.isfinite(v):
                strong = abs(v) > 0.6 * limit if signed else v > 0.6 * limit
                _set_text(text, _format_value(v if minus_zero else v + 0.0, fmt),
                          color="white" if strong else "black", visible=True)
            elif text.get_visible():
                text.set_visible(False)

    def remove(self):
        for row in self.texts:
            for text in row:
                text.remove()


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


# ============================================================================ lessons 1-3
# Pictures for lessons 1-3 (motivation, convolution, pooling). The explorers in
# cnnlib.widgets draw with these same functions, so the static picture and the live one
# always agree.
__all__ += ["plot_unit_weights", "plot_convolution", "plot_sliding_window", "plot_conv_geometry",
            "plot_pooling", "ConvolutionPicture", "SlidingWindowPicture",
            "ConvGeometryPicture", "PoolingPicture"]

MAX_ANNOTATED_CELLS = 12  # write the numbers into the cells only up to 12x12: larger is unreadable


def _annotate(ax, values, *, fmt="{:.2g}", fontsize=8, limit=None):
    """Write each value of a 2-D array into its cell, dark or light to stay readable."""
    values = np.asarray(values, dtype=float)
    limit = float(np.nanmax(np.abs(values))) if limit is None and np.isfinite(values).any() else (limit or 1.0)
    limit = limit or 1.0
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v):
            strong = abs(v) > 0.6 * limit
            ax.text(c, r, fmt.format(v + 0.0), ha="center", va="center", fontsize=fontsize,   # no "-0"
                    color="white" if strong else "black")


def _symmetric_image(ax, values, title, *, annotate=False, fmt="{:.2g}", fontsize=8, colorbar=False):
    """A signed 2-D array on a diverging map centred on 0 (red > 0, blue < 0)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    limit = float(np.abs(finite).max()) if finite.size else 1.0
    limit = limit or 1.0
    im = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu_r", vmin=-limit, vmax=limit,
                   interpolation="nearest")
    if annotate:
        _annotate(ax, values, fmt=fmt, fontsize=fontsize, limit=limit)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


def _as_2d(owner, name, array):
    array = np.asarray(array, dtype=float)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{owner}: {name} must be a non-empty 2-D array (H, W), got shape {array.shape}")
    return array


def plot_unit_weights(weights, *, titles=None, n_cols=8, cell_size=1.3, title=None):
    """Weight images of hidden units: what each unit of a first Linear layer "looks for".

    Parameters
    ----------
    weights : ndarray, shape (n_units, H, W)
        One image per unit, e.g. ``w[:, :8].T.reshape(8, 28, 28)`` for ``Linear(784, ...)``.
        Each image gets its own colour scale centred on 0: red pixels push the unit up,
        blue ones push it down.
    """
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 3 or weights.shape[0] == 0:
        raise ValueError(f"plot_unit_weights: expected weights of shape (n_units, H, W), got {weights.shape}")
    n = len(weights)
    n_cols = min(n_cols, n)
    n_rows = -(-n // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * cell_size, n_rows * cell_size + 0.3),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            _symmetric_image(ax, weights[i], titles[i] if titles is not None else f"unit {i}")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_convolution(image, kernel, feature_map, *, titles=None, figsize=(9, 3)):
    """Input, kernel and feature map side by side: ``image ⋆ kernel = feature_map``.

    The input is grey (white ink), the kernel and the feature map use a diverging map
    centred on 0, because their sign matters: red = positive response, blue = negative.
    The kernel's numbers are written into its cells when it is small.
    """
    return ConvolutionPicture(plt.figure(figsize=figsize), image, kernel, feature_map, titles=titles).fig


class ConvolutionPicture:
    """What :func:`plot_convolution` draws, kept so that an explorer can redraw it in place.

    ``ConvolutionPicture(fig, image, kernel, feature_map)`` draws into ``fig`` and lays it
    out once; :meth:`update` shows new arrays of the same shapes with the same artists.
    With ``live=True`` (a :func:`widget_figure`) the kernel and feature-map panels, which
    change with every kernel edit, are animated (see :mod:`cnnlib.widgets`).
    """

    def __init__(self, fig, image, kernel, feature_map, *, titles=None, live=False):
        self.fig = fig
        ax_in, ax_k, ax_fm = self.axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 0.75, 1.2]})
        image, kernel, feature_map = self._check(image, kernel, feature_map)
        self.input_image = ax_in.imshow(image, cmap="gray", interpolation="nearest")
        self.kernel_image = ax_k.imshow(kernel, cmap="RdBu_r", interpolation="nearest")
        self.kernel_numbers = _CellNumbers(ax_k, kernel.shape, fontsize=9) if max(kernel.shape) <= 7 else None
        self.map_image = ax_fm.imshow(feature_map, cmap="RdBu_r", interpolation="nearest")
        colorbar = fig.colorbar(self.map_image, ax=ax_fm, fraction=0.046, pad=0.04)
        for ax in self.axes:
            _no_ticks(ax)
            ax.set_title(" ", fontsize=9)
        self.update(image, kernel, feature_map, titles=titles)
        fit_layout(fig) if live else fig.tight_layout()
        if live:    # room for wider colour-bar labels than the first ones ("-0.75" after "2")
            _reserve_right(fig, COLORBAR_LABEL_ROOM)
        _animate(live, ax_k, ax_fm, colorbar.ax)

    @staticmethod
    def _check(image, kernel, feature_map):
        return (_as_2d("plot_convolution", "image", image), _as_2d("plot_convolution", "kernel", kernel),
                _as_2d("plot_convolution", "feature_map", feature_map))

    def update(self, image, kernel, feature_map, *, titles=None):
        image, kernel, feature_map = self._check(image, kernel, feature_map)
        titles = titles or (f"input {image.shape[0]}x{image.shape[1]}",
                            f"kernel {kernel.shape[0]}x{kernel.shape[1]}",
                            f"feature map {feature_map.shape[0]}x{feature_map.shape[1]}")
        _set_image(self.input_image, image, (image.min(), image.max()))   # as imshow scales it
        limit = _finite_limit(kernel)
        _set_image(self.kernel_image, np.ma.masked_invalid(kernel), (-limit, limit))
        if self.kernel_numbers is not None:
            self.kernel_numbers.update(kernel, fmt="{:.3g}", limit=limit)
        limit = _finite_limit(feature_map)
        _set_image(self.map_image, np.ma.masked_invalid(feature_map), (-limit, limit))
        for ax, title in zip(self.axes, titles):
            _set_text(ax.title, title)


def plot_sliding_window(image, kernel, step, *, stride=1):
    """One step of the sliding window: where it is, the products, and the output so far.

    Parameters
    ----------
    image : (H, W) array
    kernel : (KH, KW) array
    step : int
        Which output position we are at, counting row by row from 0 to ``H_out*W_out - 1``.

    Notes
    -----
    .. math:: \\text{out}[i, j] = \\sum_{p, q} \\text{image}[i s + p, j s + q] \\; \\text{kernel}[p, q]
    """
    return SlidingWindowPicture(plt.figure(figsize=(10, 3.6)), image, kernel, step, stride=stride).fig


class SlidingWindowPicture:
    """What :func:`plot_sliding_window` draws, kept so that a stepper can move the window in place.

    :meth:`update` takes the new step. With ``live=True`` the input panel (with its
    numbers) is drawn once; only its title, the window frame and the other two panels
    are redrawn per step.
    """

    def __init__(self, fig, image, kernel, step, *, stride=1, live=False):
        from cnnlib.ops import conv_output_size
        self.fig = fig
        self.image = image = _as_2d("plot_sliding_window", "image", image)
        self.kernel = kernel = _as_2d("plot_sliding_window", "kernel", kernel)
        self.stride = stride
        KH, KW = kernel.shape
        self.H_out = conv_output_size(image.shape[0], KH, stride)
        self.W_out = conv_output_size(image.shape[1], KW, stride)
        ax_in, ax_prod, ax_out = self.axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.2, 0.8, 1]})
        show_image(image, ax=ax_in, title=" ", cmap="Greys")
        if max(image.shape) <= MAX_ANNOTATED_CELLS:
            _CellNumbers(ax_in, image.shape).update(image, fmt="{:.2g}", limit=float(np.abs(image).max()) or 1.0)
        self.window_box = ax_in.add_patch(plt.Rectangle((-0.5, -0.5), KW, KH, fill=False, edgecolor="tab:orange",
                                                        linewidth=3))
        self.products_image = ax_prod.imshow(np.zeros((KH, KW)), cmap="RdBu_r", interpolation="nearest")
        self.products_texts = None
        if max(kernel.shape) <= 5:    # each cell: input × weight = product
            self.products_texts = [ax_prod.text(c, r, "", ha="center", va="center", fontsize=8)
                                   for r in range(KH) for c in range(KW)]
        self.output_image = ax_out.imshow(np.zeros((self.H_out, self.W_out)), cmap="RdBu_r", interpolation="nearest")
        self.output_numbers = (_CellNumbers(ax_out, (self.H_out, self.W_out))
                               if max(self.H_out, self.W_out) <= MAX_ANNOTATED_CELLS else None)
        self.output_box = ax_out.add_patch(plt.Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="tab:orange",
                                                         linewidth=3))
        for ax in (ax_prod, ax_out):
            _no_ticks(ax)
            ax.set_title(" ", fontsize=9)
        _no_ticks(ax_in)
        self.update(step)
        fit_layout(fig) if live else fig.tight_layout()
        _animate(live, ax_in.title, self.window_box, ax_prod, ax_out, *ax_in.spines.values())

    def update(self, step):
        image, kernel, stride = self.image, self.kernel, self.stride
        KH, KW = kernel.shape
        H_out, W_out = self.H_out, self.W_out
        if not 0 <= step < H_out * W_out:
            raise ValueError(f"plot_sliding_window: step must be in [0, {H_out * W_out - 1}], got {step}")
        i, j = divmod(int(step), W_out)
        window = image[i * stride:i * stride + KH, j * stride:j * stride + KW]
        products = window * kernel
        output = np.full((H_out, W_out), np.nan)
        for k in range(step + 1):
            r, c = divmod(k, W_out)
            output[r, c] = np.sum(image[r * stride:r * stride + KH, c * stride:c * stride + KW] * kernel)

        ax_in, ax_prod, ax_out = self.axes
        _set_text(ax_in.title, f"input {image.shape[0]}x{image.shape[1]}, window at row {i * stride}, "
                               f"col {j * stride}")
        self.window_box.set_xy((j * stride - 0.5, i * stride - 0.5))
        limit = _finite_limit(products)
        _set_image(self.products_image, products, (-limit, limit))
        _set_text(ax_prod.title, f"window × kernel\nsum = {products.sum():.3g}")
        if self.products_texts is not None:
            limit = float(np.abs(products).max()) or 1.0
            for text, (r, c) in zip(self.products_texts, np.ndindex(KH, KW)):
                v = products[r, c]
                _set_text(text, f"{window[r, c]:.3g} × {kernel[r, c]:.3g}\n= {v + 0.0:.3g}",
                          color="white" if abs(v) > 0.6 * limit else "black")
        limit = _finite_limit(output)
        _set_image(self.output_image, np.ma.masked_invalid(output), (-limit, limit))
        if self.output_numbers is not None:
            self.output_numbers.update(output, fmt="{:.3g}", limit=limit)
        _set_text(ax_out.title, f"output {H_out}x{W_out}: out[{i}, {j}] = {output[i, j]:.3g}")
        self.output_box.set_xy((j - 0.5, i - 0.5))


def plot_conv_geometry(size, kernel_size, padding=0, stride=1):
    """The padded input as a grid, the windows' positions, and the output size.

    Input cells are white, padding cells grey. The first window is outlined in orange,
    the last one in purple, and a dot marks the centre of every window position; rows
    and columns no window reaches (dropped by the floor in the formula) are shaded red.
    When the kernel does not fit, the picture says so instead of an output grid.
    """
    return ConvGeometryPicture(plt.figure(figsize=(9, 4.4)), size, kernel_size, padding, stride).fig


class ConvGeometryPicture:
    """What :func:`plot_conv_geometry` draws, kept so that an explorer can redraw it in place.

    The constructor makes every artist both states need (the kernel fits / does not fit)
    and :meth:`update` moves, resizes, shows and hides them: no new axes, no new layout.
    """

    def __init__(self, fig, size, kernel_size, padding=0, stride=1, *, live=False):
        from matplotlib.collections import LineCollection
        from matplotlib.legend import Legend
        self.fig = fig
        ax, ax_out = self.axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        # left: the padded input, its grid, the window centres and the first / last window
        self.input_image = ax.imshow(np.ones((1, 1, 3)), interpolation="nearest")
        self.input_grid = [ax.add_collection(LineCollection([], colors="0.5", linewidths=0.5)) for _ in range(2)]
        self.centres, = ax.plot([], [], "o", color="tab:blue", markersize=4)
        self.first = ax.add_patch(plt.Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="tab:orange",
                                                linewidth=3, label="first window"))
        self.last = ax.add_patch(plt.Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="tab:purple",
                                               linewidth=2, linestyle="--", label="last window"))
        self.overhang = ax.add_patch(plt.Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="tab:red",
                                                   linewidth=2, linestyle="--", label="kernel (does not fit)"))
        legend = dict(loc="upper left", bbox_to_anchor=(0, -0.02), fontsize=8, frameon=False)
        self.windows_legend = ax.add_artist(Legend(ax, [self.first, self.last], ["first window", "last window"],
                                                   ncol=2, **legend))
        self.overhang_legend = ax.add_artist(Legend(ax, [self.overhang], ["kernel (does not fit)"], **legend))
        for box in (self.windows_legend, self.overhang_legend):
            box.set_clip_on(False)      # add_artist clips to the axes; the legends sit below them
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(" ", fontsize=9)
        # right: the output grid, one dot per window; or why there is none
        self.output_image = ax_out.imshow(np.full((1, 1, 3), 0.93), interpolation="nearest")
        self.output_grid = ax_out.add_collection(LineCollection([], colors="0.4", linewidths=0.8))
        self.output_dots, = ax_out.plot([], [], "o", color="tab:blue", markersize=4)   # one per window
        self.no_output = ax_out.text(0.5, 0.5, "", ha="center", va="center", fontsize=10, color="tab:red",
                                     transform=ax_out.transAxes)
        ax_out.set_xticks([])
        ax_out.set_yticks([])
        ax_out.set_title(" ", fontsize=9)
        self.update(size, kernel_size, padding, stride)
        fit_layout(fig) if live else fig.tight_layout()

    def update(self, size, kernel_size, padding=0, stride=1):
        from cnnlib.ops import conv_output_size
        P = size + 2 * padding
        fits = P >= kernel_size
        out = conv_output_size(size, kernel_size, stride, padding) if fits else 0
        ax, ax_out = self.axes
        cell = np.ones((P, P))                                      # 1 = input
        cell[:padding, :] = cell[-padding or P:, :] = 0.6           # padding rows
        cell[:, :padding] = cell[:, -padding or P:] = 0.6           # padding columns
        covered = (out - 1) * stride + kernel_size if fits else 0   # how far the windows reach
        if fits and covered < P:
            cell[covered:, :] = np.where(cell[covered:, :] == 1, 0.85, cell[covered:, :])
            cell[:, covered:] = np.where(cell[:, covered:] == 1, 0.85, cell[:, covered:])
        colours = np.zeros((P, P, 3))
        colours[cell == 1] = (1, 1, 1)
        colours[cell == 0.6] = (0.78, 0.78, 0.78)
        colours[cell == 0.85] = (1.0, 0.8, 0.8)
        _set_image(self.input_image, colours, self.input_image.get_clim())
        edges = np.arange(-0.5, P, 1)
        self.input_grid[0].set_segments([[(-0.5, t), (P - 0.5, t)] for t in edges])    # rows
        self.input_grid[1].set_segments([[(t, -0.5), (t, P - 0.5)] for t in edges])    # columns
        _set_text(ax.title, f"input {size}x{size} + padding {padding} = {P}x{P}, kernel {kernel_size}x{kernel_size}, "
                            f"stride {stride}")
        for artist, shown in ((self.centres, fits), (self.first, fits), (self.last, fits),
                              (self.windows_legend, fits), (self.overhang, not fits),
                              (self.overhang_legend, not fits)):
            artist.set_visible(shown)
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

        formula = (f"$H_{{out}} = \\lfloor ({size} + 2 \\cdot {padding} - {kernel_size}) / {stride} \\rfloor + 1$")
        for artist in (self.output_image, self.output_grid, self.output_dots):
            artist.set_visible(fits)
        self.no_output.set_visible(not fits)
        if fits:
            ax_out.set_axis_on()
            ax_out.set_aspect("equal")
            _set_image(self.output_image, np.full((out, out, 3), 0.93), self.output_image.get_clim())
            edges = np.arange(-0.5, out, 1)
            self.output_grid.set_segments([[(-0.5, t), (out - 0.5, t)] for t in edges]
                                          + [[(t, -0.5), (t, out - 0.5)] for t in edges])
            cx, cy = np.meshgrid(np.arange(out), np.arange(out))
            self.output_dots.set_data(cx.ravel(), cy.ravel())
            ax_out.set_xlim(-0.5, out - 0.5)
            ax_out.set_ylim(out - 0.5, -0.5)
            _set_text(ax_out.title, f"output {out}x{out}\n{formula} = {out}")
        else:
            ax_out.set_axis_off()
            ax_out.set_aspect("auto")
            _set_text(self.no_output, f"The kernel ({kernel_size}) does not fit:\nthe padded input is only {P} "
                                      f"wide.\nAdd padding or use a smaller kernel.")
            _set_text(ax_out.title, "no output")


def plot_pooling(x, *, kernel_size=2, stride=None, mode="max", title=None):
    """Pooling on one 2-D map: the windows over the input, the winners, and the output.

    Each window is outlined; for max pooling, the input that won each window (the first
    maximum in row-major order, as cnnlib picks it) is marked with a red square.
    """
    return PoolingPicture(plt.figure(figsize=(9, 4.2)), x, kernel_size=kernel_size, stride=stride, mode=mode,
                          title=title).fig


class PoolingPicture:
    """What :func:`plot_pooling` draws, kept so that an explorer can redraw it in place.

    :meth:`update` takes a new kernel size, stride and mode. With ``live=True`` the input
    panel and its numbers are drawn once; the windows, the winners and the whole output
    panel are animated. The output panel's width follows the output's width, as in the
    static picture, but the input panel stays where it was first laid out (moving it would
    mean drawing all its numbers again).
    """

    def __init__(self, fig, x, *, kernel_size=2, stride=None, mode="max", title=None, live=False):
        from matplotlib.collections import PolyCollection
        from matplotlib.legend import Legend
        self.fig, self.live = fig, live
        self.x = x = _as_2d("plot_pooling", "x", x)
        H_out, W_out = self._output(kernel_size, stride, mode)[0].shape
        self.gridspec = fig.add_gridspec(1, 2, width_ratios=[x.shape[1], max(W_out, 4)])
        ax_in, ax_out = self.axes = [fig.add_subplot(self.gridspec[0, k]) for k in range(2)]
        self.limit = limit = float(np.abs(x).max()) or 1.0
        signed = x.min() < 0
        cmap, vmin = ("RdBu_r", -limit) if signed else ("Greys", 0)
        self.small = small = max(x.shape) <= MAX_ANNOTATED_CELLS
        ax_in.imshow(x, cmap=cmap, vmin=vmin, vmax=limit, interpolation="nearest")
        if small:
            numbers = _CellNumbers(ax_in, x.shape)
            numbers.update(x, fmt="{:.3g}", limit=limit)
            if live:    # on top of the moving windows, but rendered once
                ax_in.add_artist(_TextLayer(t for row in numbers.texts for t in row))
        self.output_image = ax_out.imshow(np.zeros((H_out, W_out)), cmap=cmap, vmin=vmin, vmax=limit,
                                          interpolation="nearest")
        self.output_numbers = None
        for ax in self.axes:
            _no_ticks(ax)
            ax.set_title(" ", fontsize=9)
        _set_text(ax_in.title, f"input {x.shape[0]}x{x.shape[1]}")
        self.windows = ax_in.add_collection(PolyCollection([], closed=True, facecolors="none",
                                                           linewidths=1.5 if small else 0.5, joinstyle="miter"))
        size = max(3, 120 / max(x.shape))
        self.winners, = ax_in.plot([], [], "s", markerfacecolor="none", markeredgecolor="tab:green",
                                   markeredgewidth=1.5 if small else 0.8, markersize=size, label="winner")
        self.legend = ax_in.add_artist(Legend(ax_in, [self.winners], ["winner"], loc="upper left",
                                              bbox_to_anchor=(0, -0.01), fontsize=8, frameon=False))
        self.legend.set_clip_on(False)          # add_artist clips to the axes; the legend sits below them
        if title:
            fig.suptitle(title, fontsize=10)
        self.update(kernel_size, stride, mode)
        if live:   # lay out for both modes: the legend's room stays reserved
            self.legend.set_visible(True)
        fit_layout(fig) if live else fig.tight_layout()
        self.legend.set_visible(mode == "max")
        self.input_slot_right = ax_in.get_position().x1
        _animate(live, self.windows, self.winners, ax_out, *ax_in.spines.values())   # frame over the windows

    def _output(self, kernel_size, stride, mode):
        from cnnlib import ops
        if mode not in ("max", "average"):
            raise ValueError(f"plot_pooling: mode must be 'max' or 'average', got {mode!r}")
        stride = kernel_size if stride is None else stride
        forward = ops.maxpool2d_forward if mode == "max" else ops.avgpool2d_forward
        out, cache = forward(self.x[None, None], kernel_size=kernel_size, stride=stride)
        return out[0, 0], cache, stride

    def update(self, kernel_size=2, stride=None, mode="max"):
        out, cache, stride = self._output(kernel_size, stride, mode)
        x, small, limit = self.x, self.small, self.limit
        H_out, W_out = out.shape
        ax_in, ax_out = self.axes
        if self.live and self.output_image.get_array().shape[1] != W_out:
            # The output panel's slot, as the static picture's grid would give it, but never
            # reaching into the input panel's (which stays put).
            self.gridspec.set_width_ratios([x.shape[1], max(W_out, 4)])
            slot = self.gridspec[0, 1].get_position(self.fig)
            left = max(slot.x0, self.input_slot_right + 0.02)
            ax_out.set_position([left, slot.y0, slot.x1 - left, slot.height])
        shape_changed = self.output_image.get_array().shape != out.shape
        _set_image(self.output_image, out, self.output_image.get_clim())
        if shape_changed and self.output_numbers is not None:
            self.output_numbers.remove()
            self.output_numbers = None
        if max(out.shape) <= MAX_ANNOTATED_CELLS:
            if self.output_numbers is None:
                self.output_numbers = _CellNumbers(ax_out, out.shape)
            self.output_numbers.update(out, fmt="{:.3g}", limit=limit)
        _set_text(ax_out.title, f"{mode} pool {kernel_size}x{kernel_size}, stride {stride}: {H_out}x{W_out}")
        colours = plt.get_cmap("tab10")
        corners = np.array([(0, 0), (1, 0), (1, 1), (0, 1)]) * kernel_size - 0.5         # (4, 2) x, y
        self.windows.set_verts([corners + (j * stride, i * stride) for i in range(H_out) for j in range(W_out)])
        self.windows.set_edgecolor([(colours((i * W_out + j) % 10) if stride < kernel_size else "tab:orange")
                                    if small else "0.55" for i in range(H_out) for j in range(W_out)])
        self.winners.set_visible(mode == "max")
        if mode == "max":
            winner = cache[1][0, 0]
            p, q = np.divmod(winner.astype(int), kernel_size)
            rows = np.arange(H_out)[:, None] * stride + p
            cols = np.arange(W_out)[None, :] * stride + q
            self.winners.set_data(cols.ravel(), rows.ravel())
        if self.legend.get_visible() != (mode == "max"):
            self.legend.set_visible(mode == "max")


# ============================================================================ lessons 4-5
# Pictures for lessons 4-5 (softmax, cross-entropy, backpropagation, gradient checks).
# The explorers in cnnlib.widgets draw with these same functions.
__all__ += ["plot_probabilities", "plot_softmax_stability", "plot_eps_sweep", "plot_value_grid",
            "plot_backward_step", "ProbabilitiesPicture", "StabilityPicture", "EpsSweepPicture",
            "BackwardStepPicture"]

PASS_MARK = 1e-7  # the float64 relative error below which we call a gradient right (cnnlib.gradcheck)


def _format_value(v, fmt):
    """A number for a picture: ``nan`` and ``inf`` spelled out, the rest with ``fmt``."""
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return fmt.format(v)


def plot_probabilities(probs, *, true_class=None, class_labels=None, ax=None, title=None,
                       show_values=True, figsize=(5, 3)):
    """Bar chart of class probabilities, each bar labelled with its value.

    Parameters
    ----------
    probs : 1-D array
        Probabilities (a softmax output).
    true_class : int, optional
        Drawn in orange; the others are blue.
    class_labels : list of str, optional
        Tick labels (default ``0, 1, ...``).
    show_values : bool
        Write each probability above its bar (turn off for small panels with many classes).
    """
    fig, ax = _new_axes(ax, figsize)
    ProbabilitiesPicture(ax, probs, true_class=true_class, class_labels=class_labels, title=title,
                         show_values=show_values)
    return fig


def _probability_vector(owner, probs):
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1 or probs.size == 0:
        raise ValueError(f"{owner}: expected a 1-D array of probabilities, got shape {probs.shape}")
    return probs


class ProbabilitiesPicture:
    """What :func:`plot_probabilities` draws in ``ax``; :meth:`update` moves the bars and
    their labels to new probabilities (same number of classes). With ``live=True`` the bars,
    their labels and the title are animated (the axes, ticks and labels are drawn once)."""

    def __init__(self, ax, probs, *, true_class=None, class_labels=None, title=None, show_values=True,
                 live=False):
        probs = _probability_vector("plot_probabilities", probs)
        self.ax, self.show_values = ax, show_values
        K = probs.size
        colors = ["tab:orange" if k == true_class else "tab:blue" for k in range(K)]
        self.bars = ax.bar(np.arange(K), np.where(np.isfinite(probs), probs, 0.0), color=colors).patches
        self.labels = [ax.text(k, 0.0, "", ha="center", va="bottom", fontsize=8) for k in range(K)]
        ax.set_xticks(np.arange(K))
        ax.set_xticklabels(class_labels if class_labels is not None else [str(k) for k in range(K)])
        ax.set_ylim(0, 1.12)
        ax.set_xlabel("class")
        ax.set_ylabel("probability")
        self.update(probs, title=title)
        _animate(live, *self.bars, *self.labels, ax.title, *ax.spines.values())

    def update(self, probs, *, title=None):
        probs = _probability_vector("plot_probabilities", probs)
        heights = np.where(np.isfinite(probs), probs, 0.0)
        for bar, label, p, h in zip(self.bars, self.labels, probs, heights):
            if bar.get_height() != h:
                bar.set_height(h)
            shown = bool(self.show_values or not np.isfinite(p))
            _set_text(label, _format_value(p, "{:.3f}") if shown else "", visible=shown)
            if shown and label.get_position()[1] != h + 0.02:
                label.set_y(h + 0.02)
        if title:
            if self.ax.title.get_fontsize() != 9:
                self.ax.set_title(title, fontsize=9)
            else:
                _set_text(self.ax.title, title)


def plot_softmax_stability(logits, naive, stable, *, dtype_name="float64", figsize=(10, 3.6)):
    """The naive softmax next to the max-shifted one, with every value written out.

    Parameters
    ----------
    logits : 1-D array
        The (scaled) logits both were computed from.
    naive, stable : 1-D arrays
        ``exp(z) / sum(exp(z))`` and ``exp(z - max z) / sum(exp(z - max z))``. A value that
        is not finite is drawn as a red full-height hatched bar labelled ``nan`` or ``inf``.
    """
    fig = plt.figure(figsize=figsize)
    StabilityPicture(fig, logits, naive, stable, dtype_name=dtype_name)
    return fig


class StabilityPicture:
    """What :func:`plot_softmax_stability` draws; :meth:`update` shows new logits (same
    count) and their two softmaxes with the same bars, labels and axes. Nearly everything
    in it changes with the logits (down to the tick labels), so a live one is redrawn
    whole, but never rebuilt; with ``live=True`` the caller lays it out (after adding its
    suptitle)."""

    def __init__(self, fig, logits, naive, stable, *, dtype_name="float64", live=False):
        self.fig = fig
        K = np.asarray(logits).size
        self.axes = axes = fig.subplots(1, 2, sharey=True)
        self.finite_bars, self.broken_bars, self.labels = [], [], []
        for ax in axes:
            # Each class has a blue bar (finite value) and a red hatched one (nan or inf); one is hidden.
            self.finite_bars.append(ax.bar(np.arange(K), np.zeros(K), color="tab:blue").patches)
            self.broken_bars.append(ax.bar(np.arange(K), np.ones(K), color="none", edgecolor="tab:red",
                                           hatch="//").patches)
            self.labels.append([_cell_text(ax, k, 0.0, "", ha="center", va="bottom", fontsize=9) for k in range(K)])
            ax.set_xticks(np.arange(K))
            ax.set_ylim(0, 1.15)
        axes[0].set_ylabel("probability")
        self.update(logits, naive, stable, dtype_name=dtype_name)
        if not live:
            fig.tight_layout()

    def update(self, logits, naive, stable, *, dtype_name="float64"):
        logits = np.asarray(logits)
        if not np.issubdtype(logits.dtype, np.floating):
            logits = logits.astype(np.float64)      # exp below must overflow in the logits' own dtype
        naive, stable = (np.asarray(a, dtype=float) for a in (naive, stable))
        K = len(self.labels[0])
        if not (logits.ndim == naive.ndim == stable.ndim == 1) or not (logits.size == naive.size == stable.size):
            raise ValueError("plot_softmax_stability: logits, naive and stable must be 1-D arrays of the same "
                             f"length, got shapes {logits.shape}, {naive.shape}, {stable.shape}")
        if logits.size != K:
            raise ValueError(f"plot_softmax_stability: this picture shows {K} logits, got {logits.size}")
        with np.errstate(over="ignore", invalid="ignore"):     # overflow is what we want to show
            exps = (np.exp(logits), np.exp(logits - logits.max()))
        panels = [(naive, "naive: exp(z) / sum exp(z)", "exp(z)", exps[0]),
                  (stable, "max trick: exp(z - max z) / sum exp(z - max z)", "exp(z - max z)", exps[1])]
        for ax, finite_bars, broken_bars, labels, (probs, name, exp_name, e) in zip(
                self.axes, self.finite_bars, self.broken_bars, self.labels, panels):
            ok = np.isfinite(probs)
            for k, p in enumerate(probs):
                finite_bars[k].set_visible(bool(ok[k]))
                broken_bars[k].set_visible(not ok[k])
                if ok[k]:
                    finite_bars[k].set_height(p)
                y = min(p, 1.0) + 0.02 if np.isfinite(p) else 0.5
                _set_text(labels[k], _format_value(p, "{:.6g}"), color="black" if np.isfinite(p) else "tab:red",
                          fontweight="normal" if np.isfinite(p) else "bold")
                labels[k].set_y(y)
            ax.set_xticklabels([f"z{k} = {_format_value(z, '{:.6g}')}" for k, z in enumerate(logits)], fontsize=8)
            with np.errstate(over="ignore", invalid="ignore"):
                total = e.sum()
            ax.set_xlabel(f"{exp_name} = [{', '.join(_format_value(v, '{:.4g}') for v in e)}]\n"
                          f"sum = {_format_value(total, '{:.4g}')}", fontsize=8)
            verdict = "all finite" if ok.all() else f"{(~ok).sum()} of {K} values not finite"
            ax.set_title(f"{name}\n{dtype_name}: {verdict}", fontsize=9, color="black" if ok.all() else "tab:red")


def plot_eps_sweep(eps, errors, *, current_eps=None, ax=None, title=None, figsize=(6, 3.8)):
    """Relative error of a finite-difference gradient against the nudge size, log-log.

    Parameters
    ----------
    eps : 1-D array
        The nudges tried (positive, increasing).
    errors : dict
        ``{label: 1-D array of relative errors}``, e.g. ``{"float64": ..., "float32": ...}``.
    current_eps : float, optional
        Marked with a vertical line and a dot on each curve.

    Notes
    -----
    Central differences are off by about ``eps**2`` (truncation: the curve is not a line)
    plus ``machine_eps / eps`` (rounding: we divide a tiny difference of two rounded
    numbers by ``eps``). The sum is the classic V: right of the bottom truncation rules,
    left of it rounding does.
    """
    fig, ax = _new_axes(ax, figsize)
    EpsSweepPicture(ax, eps, errors, current_eps=current_eps, title=title)
    return fig


class EpsSweepPicture:
    """What :func:`plot_eps_sweep` draws in ``ax``. :meth:`update` draws new curves (same
    labels and eps grid); :meth:`mark` moves the current-eps line and dots. With
    ``live=True`` the line and the dots are animated: moving eps redraws only them."""

    FLOOR = 1e-17  # a relative error of exactly 0 cannot go on a log axis: draw it at this floor

    def __init__(self, ax, eps, errors, *, current_eps=None, title=None, live=False):
        from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
        eps = np.asarray(eps, dtype=float)
        if eps.ndim != 1 or eps.size < 2 or (eps <= 0).any():
            raise ValueError(f"plot_eps_sweep: eps must be a 1-D array of at least two positive values, got {eps!r}")
        self.ax, self.eps = ax, eps
        colors = {"float64": "tab:blue", "float32": "tab:orange"}
        self.curves, self.dots = {}, {}
        for label in errors:
            self.curves[label], = ax.loglog(eps, np.ones_like(eps), "o-", markersize=3, label=label,
                                            color=colors.get(label))
        for label, curve in self.curves.items():   # after every curve, as the dots were drawn
            self.dots[label], = ax.plot(eps[:1], [1.0], "o", markersize=9, color=curve.get_color(),
                                        markeredgecolor="black", visible=False)   # (placed inside the data)
        ax.axhline(PASS_MARK, color="gray", linestyle="--", linewidth=1, label="pass mark 1e-7")
        self.eps_line = ax.axvline(eps[0], color="black", linewidth=1, visible=False)
        ax.set_xlabel("eps (size of the nudge)")
        ax.set_ylabel("relative error, numeric vs analytic")
        # Plain "1e-8" labels and no minor ticks: mathtext labels made each redraw twice as slow.
        label = FuncFormatter(lambda v, _: f"1e{int(round(np.log10(v)))}")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(label)
            axis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=10))
        ax.legend(fontsize=8, loc="lower left")
        ax.grid(True, which="major", alpha=0.3)
        self.update(errors, title=title)
        self.mark(current_eps)
        _animate(live, self.eps_line, *self.dots.values())

    def update(self, errors, *, title=None):
        floor = self.FLOOR
        if set(errors) != set(self.curves):
            raise ValueError(f"plot_eps_sweep: expected errors for {sorted(self.curves)}, got {sorted(errors)}")
        self.errors = {}
        for label, err in errors.items():
            err = np.asarray(err, dtype=float)
            if err.shape != self.eps.shape:
                raise ValueError(f"plot_eps_sweep: errors[{label!r}] has shape {err.shape}, expected {self.eps.shape}")
            self.errors[label] = err
            self.curves[label].set_ydata(np.maximum(err, floor))
        smallest = min((float(e[e > 0].min()) for e in self.errors.values() if (e > 0).any()), default=floor)
        self.ax.set_ylim(max(smallest / 10, floor / 2), 2)
        if title:
            self.ax.set_title(title, fontsize=9)

    def mark(self, current_eps):
        """Mark ``current_eps`` (None: no mark) on the axis and on each curve."""
        shown = current_eps is not None
        self.eps_line.set_visible(shown)
        for label, dot in self.dots.items():
            dot.set_visible(shown)
            if shown:
                err = np.maximum(self.errors[label], self.FLOOR)
                at = float(np.interp(np.log10(current_eps), np.log10(self.eps), np.log10(err)))
                dot.set_data([current_eps], [10 ** at])
        if shown:
            self.eps_line.set_xdata([current_eps, current_eps])


def plot_value_grid(values, *, ax=None, title=None, cmap=None, symmetric=True, fmt="{:.2g}",
                    highlight=None, highlight_color="tab:orange", cell_boxes=(), figsize=(3, 3)):
    """A small 2-D array as coloured cells with its numbers written in.

    Parameters
    ----------
    values : (H, W) array
    symmetric : bool
        Centre the colours on 0 (red > 0, blue < 0); otherwise a grey scale.
    highlight : (row, col, height, width), optional
        A rectangle drawn around those cells (a window).
    cell_boxes : sequence of ((row, col), color, linestyle)
        Single cells to outline, e.g. the winner of a pooling window (solid) and the
        inputs that tied with it (dashed).
    """
    values = _value_grid_array(values)
    fig, ax = _new_axes(ax, figsize)
    grid = _ValueGrid(ax, values.shape, cmap=cmap, symmetric=symmetric, highlight_color=highlight_color,
                      n_boxes=len(cell_boxes))
    grid.update(values, title=title, fmt=fmt, highlight=highlight, cell_boxes=cell_boxes)
    return fig


def _value_grid_array(values):
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"plot_value_grid: expected a non-empty 2-D array, got shape {values.shape}")
    return values


class _ValueGrid:
    """One :func:`plot_value_grid` panel, kept so that its values, window and boxes can change.

    ``live=True`` animates what changes per step: the cells (image and numbers) when
    ``static_values=False``, else only the window frame, the boxes and the title; the
    numbers of static values go into a :class:`_TextLayer`, on top of the moving frame.
    """

    def __init__(self, ax, shape, *, cmap=None, symmetric=True, highlight_color="tab:orange", n_boxes=0,
                 live=False, static_values=False):
        self.ax, self.symmetric = ax, symmetric
        self.image = ax.imshow(np.zeros(shape), cmap=cmap or ("RdBu_r" if symmetric else "Greys"),
                               interpolation="nearest")
        self.numbers = _CellNumbers(ax, shape) if max(shape) <= 12 else None   # bigger grids: unreadable
        self.highlight = ax.add_patch(plt.Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=highlight_color,
                                                    linewidth=3, visible=False))
        self.boxes = [ax.add_patch(plt.Rectangle((-0.35, -0.35), 0.7, 0.7, fill=False, linewidth=2, visible=False))
                      for _ in range(n_boxes)]
        ax.set_xticks(range(shape[1]))
        ax.set_yticks(range(shape[0]))
        ax.tick_params(labelsize=7, length=0)
        if live:
            numbers = [t for row in self.numbers.texts for t in row] if self.numbers is not None else []
            if static_values:
                if numbers:
                    ax.add_artist(_TextLayer(numbers))
            else:
                _animate(live, self.image, *numbers)
            _animate(live, self.highlight, *self.boxes, ax.title, *ax.spines.values())

    def update(self, values, *, title=None, fmt="{:.2g}", highlight=None, cell_boxes=()):
        values = _value_grid_array(values)
        finite = values[np.isfinite(values)]
        limit = float(np.abs(finite).max()) if finite.size else 1.0
        limit = limit or 1.0
        if self.symmetric:
            clim = (-limit, limit)
        else:
            low = float(finite.min()) if finite.size else 0.0
            clim = (min(low, 0.0), max(limit, low + 1e-12))
        _set_image(self.image, np.ma.masked_invalid(values), clim)
        if self.numbers is not None:
            self.numbers.update(values, fmt=fmt, limit=limit, signed=self.symmetric, minus_zero=True)
        self.highlight.set_visible(highlight is not None)
        if highlight is not None:
            r, c, h, w = highlight
            self.highlight.set_bounds(c - 0.5, r - 0.5, w, h)
        if len(cell_boxes) > len(self.boxes):
            raise ValueError(f"plot_value_grid: this panel has room for {len(self.boxes)} cell boxes, "
                             f"got {len(cell_boxes)}")
        for k, box in enumerate(self.boxes):
            box.set_visible(k < len(cell_boxes))
            if k < len(cell_boxes):
                (r, c), color, linestyle = cell_boxes[k]
                box.set_xy((c - 0.35, r - 0.35))
                box.set_edgecolor(color)
                box.set_linestyle(linestyle)
        if title:
            if self.ax.title.get_fontsize() != 9:
                self.ax.set_title(title, fontsize=9)
            else:
                _set_text(self.ax.title, title)


def plot_backward_step(x, dout, contribution, total, *, position, window, kind, winner=None, tied=(),
                       figsize=(13, 3.6)):
    """One output position's share of a backward pass, in four panels.

    Parameters
    ----------
    x : (H, W) array
        The forward input.
    dout : (H_out, W_out) array
        The upstream gradient; ``position`` is highlighted in it.
    contribution : (H, W) array
        What this one position sends back to ``dx``.
    total : (H, W) array
        ``dx`` summed over positions 0..current (the whole ``dx`` at the last step).
    position : (i, j)
    window : (row, col, height, width)
        The input window that position ``(i, j)`` read in the forward pass.
    kind : "conv" or "maxpool"
    winner : (row, col), optional
        For max-pooling: the input that won the window (the first maximum).
    tied : sequence of (row, col)
        For max-pooling: every input equal to the maximum (ties), winner included.
    """
    fig = plt.figure(figsize=figsize)
    BackwardStepPicture(fig, x, dout, kind=kind, window_shape=window[2:]).update(
        contribution, total, position=position, window=window, winner=winner, tied=tied)
    return fig


class BackwardStepPicture:
    """What :func:`plot_backward_step` draws, kept so that a stepper can redraw it per step.

    ``x`` and ``dout`` are fixed; :meth:`update` takes one step's contribution, running
    total, position, window and (for max pooling) winner and ties. With ``live=True`` the
    ``dout`` and ``x`` panels are drawn once (their numbers stay on top of the moving
    window through a text layer); the last two panels' cells, the frames and the titles
    are redrawn per step.
    """

    def __init__(self, fig, x, dout, *, kind, window_shape, live=False):
        self.fig, self.x, self.dout, self.kind = fig, _value_grid_array(x), _value_grid_array(dout), kind
        axes = self.axes = fig.subplots(1, 4)
        n_boxes = int(np.prod(window_shape)) if kind == "maxpool" else 0     # the winner and up to all tied
        self.panels = [_ValueGrid(axes[0], self.dout.shape, live=live, static_values=True),
                       _ValueGrid(axes[1], self.x.shape, symmetric=False, n_boxes=n_boxes, live=live,
                                  static_values=True),
                       _ValueGrid(axes[2], self.x.shape, live=live),
                       _ValueGrid(axes[3], self.x.shape, live=live)]
        self.live, self.laid_out = live, False

    def update(self, contribution, total, *, position, window, winner=None, tied=()):
        x, dout = self.x, self.dout
        i, j = position
        self.panels[0].update(dout, title=f"dout {dout.shape[0]}x{dout.shape[1]}: dout[{i}, {j}] = {dout[i, j]:.3g}",
                              highlight=(i, j, 1, 1))
        boxes = []
        if self.kind == "maxpool":
            boxes = [((r, c), "tab:purple", "--") for r, c in tied if (r, c) != tuple(winner)]
            boxes.append((tuple(winner), "tab:green", "-"))
        self.panels[1].update(x, title=f"input x {x.shape[0]}x{x.shape[1]}: the window out[{i}, {j}] read"
                              + ("\n(green: winner, purple dashed: tied, no gradient)" if len(tied) > 1 else ""),
                              highlight=window, cell_boxes=boxes, fmt="{:.2g}")
        if self.kind == "conv":
            what = f"this step: dout[{i}, {j}] × w\nadded to the window of dx"
        elif len(tied) > 1:
            what = f"this step: {len(tied)} tied maxima,\nonly the first gets dout[{i}, {j}]"
        else:
            what = f"this step: the winner alone\ngets dout[{i}, {j}]"
        self.panels[2].update(contribution, title=what, highlight=window)
        self.panels[3].update(total, title="dx so far (sum of the steps up to here)", highlight=window)
        if not self.laid_out:
            fit_layout(self.fig) if self.live else self.fig.tight_layout()
            self.laid_out = True
        return self


# ============================================================================ lesson 6
# Pictures for lesson 6 (training and looking inside). The lesson-6 explorers in
# cnnlib.widgets draw with these same functions. Functions that may run in a background
# thread (the training dashboard) take their axes from the caller, so they never touch
# pyplot's global figure list.
__all__ += ["plot_curves", "plot_confusion_matrix", "plot_filters", "plot_feature_maps",
            "plot_saliency_grid", "CurvesPicture", "FeatureMapsPicture", "SaliencyGridPicture"]


def _trailing_mean(values, window):
    """Mean of the last ``window`` values at each position (shorter at the start)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - window, 0)
    return (csum[ends] - csum[starts]) / (ends - starts)


def plot_curves(history, *, steps=None, axes=None, label=None, smooth=20, color=None, figsize=(9, 3.2),
                tight=True):
    """Loss and accuracy against epochs: the two pictures that tell how training goes.

    Parameters
    ----------
    history : dict of lists, or None
        Per-epoch numbers as :meth:`cnnlib.train.Trainer.fit` returns them: ``epoch``,
        ``loss``, ``train_acc``, ``val_loss``, ``val_acc`` (NaN when there was no
        validation data). Lists may be empty (nothing trained yet); None draws ``steps`` only.
    steps : dict of lists, optional
        Per-batch numbers: ``t`` (epochs done, fractional), ``loss`` and ``acc``. Drawn
        faint, with their trailing mean over ``smooth`` batches drawn on top.
    axes : pair of Axes, optional
        Draw into these (loss left, accuracy right); default a new figure.
    label : str, optional
        Prefix for the legend entries, to compare several runs in the same axes.
    tight : bool
        Call ``fig.tight_layout()`` (the dashboard skips it: it redraws often).

    Returns
    -------
    Figure
    """
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=figsize)
    fig = axes[0].figure
    CurvesPicture(axes, label=label, smooth=smooth, color=color).update(history, steps=steps)
    if tight:
        fig.tight_layout()
    return fig


class CurvesPicture:
    """What :func:`plot_curves` draws into a pair of axes, kept so that a dashboard can
    extend the curves as training goes: :meth:`update` gives the lines their new data
    (making a line the first time it has data), rescales the axes and redoes the legend
    only when a line appeared."""

    def __init__(self, axes, *, label=None, smooth=20, color=None):
        self.axes = ax_loss, ax_acc = axes
        self.label, self.smooth, self.color = label, smooth, color
        self.lines = {}
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        for ax in axes:
            ax.grid(alpha=0.3)

    def _line(self, name, ax, x, y, *args, **kwargs):
        if name not in self.lines:
            self.lines[name], = ax.plot(x, y, *args, **kwargs)
            self._new_lines = True
        else:
            self.lines[name].set_data(x, y)
        self._updated.add(name)

    def update(self, history, steps=None):
        ax_loss, ax_acc = self.axes
        label, color, smooth = self.label, self.color, self.smooth
        prefix = f"{label}: " if label else ""
        if history is None:
            history = {key: [] for key in ("epoch", "loss", "train_acc", "val_loss", "val_acc")}
        for key in ("epoch", "loss", "train_acc", "val_loss", "val_acc"):
            if key not in history:
                raise ValueError(f"plot_curves: history has no {key!r} list; pass what Trainer.fit returns")
        self._new_lines, self._updated = False, set()
        epochs = np.asarray(history["epoch"], dtype=float)
        if steps is not None and len(steps.get("t", ())):
            t = np.asarray(steps["t"], dtype=float)
            for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
                values = np.asarray(steps[key], dtype=float)
                self._line(f"{key} batches", ax, t, values, color=color or "tab:blue", alpha=0.2, lw=0.8)
                self._line(f"{key} mean", ax, t, _trailing_mean(values, smooth), color=color or "tab:blue", lw=1.5,
                           label=label or f"train (batches, mean of {smooth})")
        elif epochs.size:
            self._line("loss train", ax_loss, epochs, history["loss"], "o-", color=color or "tab:blue",
                       label=f"{prefix}train")
            self._line("acc train", ax_acc, epochs, history["train_acc"], "o-", color=color or "tab:blue",
                       label=f"{prefix}train")
        val_acc = np.asarray(history["val_acc"], dtype=float)
        if epochs.size and np.isfinite(val_acc).any():
            self._line("loss test", ax_loss, epochs, history["val_loss"], "s--", color=color or "tab:orange",
                       label=f"{prefix}test")
            self._line("acc test", ax_acc, epochs, val_acc, "s--", color=color or "tab:orange", label=f"{prefix}test")
        for name, line in self.lines.items():
            if line.get_visible() != (name in self._updated):
                line.set_visible(name in self._updated)
        for ax in self.axes:
            ax.set_autoscale_on(True)
            ax.relim(visible_only=True)
            ax.autoscale_view()
            ax.set_xlim(left=0)
            if self._new_lines and ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8, loc="best")
        ax_loss.set_ylim(bottom=0)
        ax_acc.set_ylim(top=1.0)
        return self


def plot_confusion_matrix(cm, *, ax=None, title=None, figsize=(4.6, 4.2)):
    """A confusion matrix: row = true digit, column = predicted digit, number = count.

    Parameters
    ----------
    cm : ndarray, int, shape (K, K)
        ``cm[i, j]`` = how many examples of class ``i`` the model called ``j``.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"plot_confusion_matrix: expected a square (K, K) array, got shape {cm.shape}")
    fig, ax = _new_axes(ax, figsize)
    K = cm.shape[0]
    # Colour by count on a square-root scale, so small mistakes still show next to the diagonal.
    ax.imshow(np.sqrt(cm), cmap="Blues", interpolation="nearest")
    limit = np.sqrt(cm.max()) or 1.0
    for (i, j), n in np.ndenumerate(cm):
        if n:
            ax.text(j, i, str(int(n)), ha="center", va="center", fontsize=8,
                    color="white" if np.sqrt(n) > 0.6 * limit else "black")
    ax.set_xticks(range(K))
    ax.set_yticks(range(K))
    ax.set(xlabel="predicted", ylabel="true")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_filters(w, *, title=None, cell_size=0.8, max_inputs=8):
    """Convolution kernels as one mosaic, red > 0 > blue, all on one colour scale.

    Parameters
    ----------
    w : ndarray, shape (C_out, C_in, KH, KW)
        A ``Conv2d``'s ``params["w"]``. With one input channel the C_out kernels form one
        row; otherwise row ``o`` shows the kernels of output channel ``o`` for the first
        ``max_inputs`` input channels.

    Notes
    -----
    One image with white gaps between the kernels, rather than one Axes per kernel: a
    16x8 grid of Axes takes seconds to lay out, the mosaic a fraction of that.
    """
    w = np.asarray(w, dtype=float)
    if w.ndim != 4 or 0 in w.shape:
        raise ValueError(f"plot_filters: expected weights of shape (C_out, C_in, KH, KW), got {w.shape}")
    C_out, C_in, KH, KW = w.shape
    grid = w[:, 0][None] if C_in == 1 else w[:, :max_inputs]   # (rows, cols, KH, KW); rows = outputs
    n_rows, n_cols = grid.shape[:2]
    mosaic = np.full((n_rows * (KH + 1) - 1, n_cols * (KW + 1) - 1), np.nan)
    for r in range(n_rows):
        for c in range(n_cols):
            mosaic[r * (KH + 1):r * (KH + 1) + KH, c * (KW + 1):c * (KW + 1) + KW] = grid[r, c]
    limit = float(np.abs(grid).max()) or 1.0
    fig, ax = plt.subplots(figsize=(n_cols * cell_size + 0.6, n_rows * cell_size * KH / KW + 0.6))
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([c * (KW + 1) + (KW - 1) / 2 for c in range(n_cols)], [str(c) for c in range(n_cols)])
    ax.tick_params(length=0, labelsize=7)
    ax.set_frame_on(False)
    if C_in == 1:
        ax.set_yticks([])
        ax.set_xlabel("filter", fontsize=8)
    else:
        ax.set_yticks([r * (KH + 1) + (KH - 1) / 2 for r in range(n_rows)], [str(r) for r in range(n_rows)])
        ax.set_xlabel("input channel" + (f" (first {n_cols} of {C_in})" if n_cols < C_in else ""), fontsize=8)
        ax.set_ylabel("output channel", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_feature_maps(maps, *, fig=None, title=None, n_cols=8, cell_size=0.9, highlight=None):
    """Every channel of one layer's output for one image, on one shared colour scale.

    Parameters
    ----------
    maps : ndarray, shape (C, H, W)
        One image's activations at one layer, e.g. ``model[1].forward(...)[0]``.
        Signed maps (a convolution's output) use red > 0 > blue; non-negative ones
        (after ReLU or pooling) use black = 0 to white = the largest value.
    fig : Figure or SubFigure, optional
        Draw into it (the feature-map explorer passes a sub-figure); default a new figure.
    highlight : int, optional
        Frame this channel in orange.
    """
    maps = _feature_maps_array(maps)
    if fig is None:
        C = maps.shape[0]
        cols = min(n_cols, C)
        fig = plt.figure(figsize=(cols * cell_size, -(-C // cols) * cell_size + 0.4))
    FeatureMapsPicture(fig, maps, title=title, n_cols=n_cols, highlight=highlight)
    return fig


def _feature_maps_array(maps):
    maps = np.asarray(maps, dtype=float)
    if maps.ndim != 3 or 0 in maps.shape:
        raise ValueError(f"plot_feature_maps: expected maps of shape (C, H, W), got {maps.shape}")
    return maps


class FeatureMapsPicture:
    """What :func:`plot_feature_maps` draws into ``fig`` (a figure or sub-figure), kept so that
    an explorer can show another image's maps (same shape) or frame another channel.
    With ``live=True`` the maps and their frames are animated (the titles are drawn once)."""

    def __init__(self, fig, maps, *, title=None, n_cols=8, highlight=None, live=False):
        maps = _feature_maps_array(maps)
        self.fig = fig
        C = maps.shape[0]
        n_cols = min(n_cols, C)
        n_rows = -(-C // n_cols)
        self.axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False)).ravel()
        self.images = []
        for c, ax in enumerate(self.axes):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= C:
                ax.axis("off")
                continue
            self.images.append(ax.imshow(maps[c], interpolation="nearest", cmap="gray"))
            ax.set_title(str(c), fontsize=7, pad=2)
        if title:
            _set_suptitle(fig, title)
        self.highlight = None
        self.update(maps, highlight=highlight)
        if live:
            _animate(live, *self.images, *(spine for ax in self.axes[:C] for spine in ax.spines.values()))

    def update(self, maps, *, highlight=None, title=None):
        import matplotlib as mpl
        maps = _feature_maps_array(maps)
        if maps.shape[0] != len(self.images):
            raise ValueError(f"plot_feature_maps: this picture shows {len(self.images)} maps, got {maps.shape[0]}")
        signed = maps.min() < 0
        limit = float(np.abs(maps).max()) or 1.0
        cmap, clim = ("RdBu_r", (-limit, limit)) if signed else ("gray", (0, limit))
        for im, values in zip(self.images, maps):
            if im.get_cmap().name != cmap:
                im.set_cmap(cmap)
            _set_image(im, values, clim)
        if highlight != self.highlight:
            if self.highlight is not None and self.highlight < len(self.images):
                for spine in self.axes[self.highlight].spines.values():
                    spine.set(color=mpl.rcParams["axes.edgecolor"], linewidth=mpl.rcParams["axes.linewidth"])
            if highlight is not None and 0 <= highlight < len(self.images):
                for spine in self.axes[highlight].spines.values():
                    spine.set(color="tab:orange", linewidth=3)
            self.highlight = highlight
        if title:
            _set_suptitle(self.fig, title)


def plot_saliency_grid(images, saliencies, titles=None, *, fig=None, cell_size=1.2):
    """Digits (top row) above their saliency maps (bottom row).

    Parameters
    ----------
    images : ndarray, shape (n, H, W)
    saliencies : ndarray, shape (n, H, W)
        ``|d score / d pixel|`` for each image (see :func:`cnnlib.widgets.saliency_map`);
        each map has its own scale, black = 0 to bright = its largest value.
    titles : list of str, optional
        One per column, above the digit.
    """
    images, saliencies = _saliency_arrays(images, saliencies)
    if fig is None:
        fig = plt.figure(figsize=(max(len(images), 2) * cell_size, 2 * cell_size + 0.5))
    SaliencyGridPicture(fig, images, saliencies, titles)
    return fig


def _saliency_arrays(images, saliencies):
    images = np.asarray(images, dtype=float)
    saliencies = np.asarray(saliencies, dtype=float)
    if images.ndim != 3 or images.shape != saliencies.shape or len(images) == 0:
        raise ValueError(f"plot_saliency_grid: expected images and saliencies of the same shape (n, H, W), "
                         f"got {images.shape} and {saliencies.shape}")
    return images, saliencies


class SaliencyGridPicture:
    """What :func:`plot_saliency_grid` draws into ``fig``; :meth:`update` shows other digits
    (the same number of them) with the same axes. With ``live=True`` the images and the
    titles are animated (the frames and row labels are drawn once)."""

    def __init__(self, fig, images, saliencies, titles=None, *, live=False):
        images, saliencies = _saliency_arrays(images, saliencies)
        self.fig = fig
        n = len(images)
        axes = self.axes = fig.subplots(2, n, squeeze=False, gridspec_kw={"hspace": 0.08, "wspace": 0.08})
        self.digits = [axes[0, k].imshow(images[k], cmap="gray_r", interpolation="nearest") for k in range(n)]
        self.maps = [axes[1, k].imshow(saliencies[k], cmap="inferno", vmin=0, interpolation="nearest")
                     for k in range(n)]
        for ax in axes.ravel():
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, 0].set_ylabel("digit", fontsize=8)
        axes[1, 0].set_ylabel("saliency", fontsize=8)
        self.update(images, saliencies, titles)
        _animate(live, *self.digits, *self.maps, *(ax.title for ax in axes[0]),
                 *(spine for ax in axes.ravel() for spine in ax.spines.values()))

    def update(self, images, saliencies, titles=None):
        images, saliencies = _saliency_arrays(images, saliencies)
        if len(images) != len(self.digits):
            raise ValueError(f"plot_saliency_grid: this picture shows {len(self.digits)} digits, got {len(images)}")
        for k, (digit, saliency) in enumerate(zip(images, saliencies)):
            _set_image(self.digits[k], digit, (digit.min(), digit.max()))            # as imshow scales them
            _set_image(self.maps[k], saliency, (0, saliency.max()))
            if titles is not None:
                if self.axes[0, k].title.get_fontsize() != 8:
                    self.axes[0, k].set_title(titles[k], fontsize=8)
                else:
                    _set_text(self.axes[0, k].title, titles[k])

"""Checks shared by the tests of cnnlib.explore's pictures and explorers (tests/test_explore_*.py):
an explorer drew without error, what it shows is what matplotlib draws, a move updates the
same figure, nothing meant for tests is visible, the picture fits a laptop screen, and a
static picture draws what the live one does. Test modules import these from here, never
from each other."""
import io

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The notebook area of a 1366x768 laptop screen (JupyterLab, file browser open) is about
#: 640 px tall: an explorer's title, controls and picture should fit in it together.
SCREEN_HEIGHT_PX = 640
#: ... and the pictures are at most 9 inches (900 px at 100 dpi) wide.
MAX_WIDTH_PX = 900
#: Heights of what stands above the picture: the explorer's title and one row of controls
#: (the larger of the two budgets the explorer tests used, so no explorer gets more room).
TITLE_PX, CONTROL_ROW_PX = 30, 40
#: How far (in units of 255) a blitted picture may differ from a plain drawing: rounding
#: in alpha blending, nothing a reader could see.
BLEND_TOLERANCE = 3


# ---------------------------------------------------------------------------- PNG pictures

def decoded(png):
    """A PNG's pixels as an (H, W, 3) int array."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def png_size(png):
    """(width, height) of a PNG in pixels."""
    return Image.open(io.BytesIO(png)).size


def drawn(explorer):
    """The explorer drew a picture and shows no error; returns the PNG bytes."""
    assert explorer.status.value == "", explorer.status.value
    assert explorer.marker.value == f"drawn #{explorer.draw_count}"
    assert explorer.png.startswith(PNG_SIGNATURE)
    return explorer.png


def assert_drawn(explorer, count):
    """The explorer has drawn exactly ``count`` pictures, the last one without error."""
    assert explorer.draw_count == count
    drawn(explorer)


def plainly_drawn(fig):
    """``fig`` drawn the ordinary matplotlib way (no kept background, every artist in its
    z-order), as (H, W, 3) int RGB pixels. It changes the figure (nothing is animated
    after): call it last."""
    for artist in fig.findobj(lambda a: a.get_animated()):
        artist.set_animated(False)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int)


def _assert_shows_plain_drawing(png, fig):
    """``png`` holds the pixels of ``fig`` drawn plainly, up to rounding in blending."""
    shown, plain = decoded(png), plainly_drawn(fig)
    assert shown.shape == plain.shape
    differ = np.abs(shown - plain) > BLEND_TOLERANCE
    assert not differ.any(), f"{differ.sum()} pixels differ"


def assert_like_a_plain_drawing(explorer):
    """What the explorer shows (kept background + animated artists) is what matplotlib
    draws for the same figure, up to rounding in blending (a few units of 255)."""
    _assert_shows_plain_drawing(explorer.png, explorer.fig)


def assert_same_pixels(static_fig, live_picture):
    """The live picture's PNG is the static figure drawn plainly (up to blending rounding)."""
    _assert_shows_plain_drawing(live_picture.png(), static_fig)


def assert_redrawn_in_place(explorer, move, *, full_draws=None):
    """Moving a control (``move()``) draws a new picture into the same figure object;
    ``full_draws``: how many whole-figure draws the explorer has made after the move."""
    fig, png, draws = explorer.fig, explorer.png, explorer.draw_count
    move()
    assert explorer.draw_count == draws + 1 and explorer.marker.value == f"drawn #{draws + 1}"
    assert explorer.status.value == "", explorer.status.value
    assert explorer.fig is fig, "the figure is built once and updated, not made again"
    assert explorer.png != png
    if full_draws is not None:
        assert explorer.full_draw_count == full_draws


# ---------------------------------------------------------------------------- widgets

def walk(widget):
    """The widget and everything inside it."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def _hidden(widget):
    return getattr(getattr(widget, "layout", None), "display", None) == "none"


def visible_texts(explorer):
    """The text (value, description) of every widget a learner can see: a hidden widget is
    left out with everything inside it."""
    def visit(widget):
        if _hidden(widget):
            return
        for name in ("value", "description"):
            value = getattr(widget, name, None)
            if isinstance(value, str):
                yield value
        for child in getattr(widget, "children", ()):
            yield from visit(child)
    return list(visit(explorer.widget))


def assert_no_test_marker_visible(explorer):
    """The draw marker (``drawn #k``, kept for browser tests) is there but hidden, and no
    other widget's text (value, description, placeholder, options) says "drawn", not even
    a widget inside a hidden box."""
    assert explorer.marker.value.startswith("drawn #"), "the hook for browser tests is kept"
    assert explorer.marker.layout.display == "none"
    texts = []
    for widget in walk(explorer.widget):
        if _hidden(widget):
            continue
        for name in ("value", "description", "placeholder"):
            value = getattr(widget, name, None)
            if isinstance(value, str):
                texts.append(value)
        texts += [str(option) for option in getattr(widget, "options", ())]
    assert not [text for text in texts if "drawn" in text]


def controls_px(n_rows):
    """The height of an explorer's title and ``n_rows`` rows of controls, in pixels."""
    return TITLE_PX + n_rows * CONTROL_ROW_PX


def assert_fits_the_screen(explorer, controls_height, *, beside_px=0):
    """The picture, with ``beside_px`` of controls beside it, is at most 900 px wide, and
    with what stands above it (``controls_height`` px: title and controls, see
    :func:`controls_px`) it fits the notebook area of a 1366x768 screen. Returns the
    picture's (width, height)."""
    width, height = png_size(explorer.png)
    assert width + beside_px <= MAX_WIDTH_PX, f"{width} px picture + {beside_px} px beside it"
    assert height + controls_height <= SCREEN_HEIGHT_PX, \
        f"picture {height} px + title and controls {controls_height} px"
    return width, height


# ---------------------------------------------------------------------------- one code path

def _image_values(im):
    """An image's data (NaN written as -1e300: NaN != NaN), its mask, colour limits, colour map."""
    data = np.nan_to_num(np.ma.getdata(im.get_array()), nan=-1e300)
    return (data.tolist(), np.ma.getmaskarray(im.get_array()).tolist(),
            [float(v) for v in im.get_clim()], im.get_cmap().name)


def summary(fig):
    """What a figure shows, leaving out where the layout put things: its size; axes by axes
    the title, images, texts (with colours), collections, patches (in data coordinates),
    lines and legends, each with its visibility; the figure's legends; and, over the whole
    figure, every image, every visible text (tick labels and titles included) and every
    line's data. The static and the live drawing of one picture must agree on it."""
    def colour(c):
        return np.round(np.asarray(c, dtype=float), 3).tolist()

    def legend_texts(artists):
        return [([t.get_text() for t in a.get_texts()], a.get_visible())
                for a in artists if type(a).__name__ == "Legend"]

    def every(kind):
        return fig.findobj(lambda a: type(a).__name__ == kind)

    panels = []
    for ax in fig.axes:
        images = [(_image_values(im), im.get_visible()) for im in ax.images]
        texts = [(t.get_text(), colour(mcolors.to_rgba(t.get_color())), t.get_visible())
                 for t in ax.texts]
        collections = [([np.round(p.vertices, 6).tolist() for p in c.get_paths()], colour(c.get_edgecolor()),
                         c.get_visible()) for c in ax.collections]
        patches = [(np.round(p.get_patch_transform().transform(p.get_path().vertices), 3).tolist(), p.get_visible())
                   for p in ax.patches]
        lines = [(np.asarray(line.get_xydata()).tolist(), line.get_visible()) for line in ax.lines]
        panels.append((ax.get_title(), ax.axison, images, texts, collections, patches, lines,
                       legend_texts(ax.get_children())))
    everywhere = ([_image_values(im) for im in every("AxesImage")],
                  [t.get_text() for t in every("Text") if t.get_visible()],
                  [np.asarray(line.get_xydata()).tolist() for line in every("Line2D")])
    return fig.get_size_inches().tolist(), panels, legend_texts(fig.legends + fig.artists), everywhere


def assert_same_picture(static_fig, live_fig):
    """The static picture (a pyplot figure) and the live one draw the same artists with the
    same values: one code path."""
    assert static_fig in map(plt.figure, plt.get_fignums()), "the static picture is a pyplot figure"
    assert live_fig not in map(plt.figure, plt.get_fignums()), "the live picture stays out of pyplot"
    assert not static_fig.findobj(lambda a: a.get_animated()), "a static picture animates nothing"
    assert live_fig.findobj(lambda a: a.get_animated()), "a live picture marks what moves"
    assert summary(static_fig) == summary(live_fig)

"""Checks shared by the tests of cnnlib.explore's pictures and explorers: what an explorer
shows is what matplotlib draws, a move updates the same figure, nothing meant for tests is
visible, the picture fits a laptop screen, and a static picture draws what the live one does."""
import io

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The notebook area of a 1366x768 laptop screen (JupyterLab, file browser open) is about
#: 640 px tall: an explorer's controls and picture should fit in it together.
SCREEN_HEIGHT_PX = 640
#: ... and the pictures are at most 9 inches (900 px at 100 dpi) wide.
MAX_WIDTH_PX = 900
#: Heights of what stands above the picture (measured in JupyterLab 4, rounded up).
TITLE_PX, CONTROL_ROW_PX = 24, 32


def decoded(png):
    """A PNG's pixels as an (H, W, 3) int array."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def drawn(explorer):
    """The explorer drew a picture and shows no error; returns the PNG bytes."""
    assert explorer.status.value == "", explorer.status.value
    assert explorer.marker.value == f"drawn #{explorer.draw_count}"
    assert explorer.png.startswith(PNG_SIGNATURE)
    return explorer.png


def plainly_drawn(fig):
    """``fig`` drawn the ordinary matplotlib way (no kept background, every artist in its
    z-order), as RGB pixels. It changes the figure: call it last."""
    for artist in fig.findobj(lambda a: a.get_animated()):
        artist.set_animated(False)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int)


def assert_like_a_plain_drawing(explorer):
    """What the explorer shows (kept background + animated artists) is what matplotlib
    draws for the same figure, up to rounding in blending (a few units of 255)."""
    shown = decoded(explorer.png)
    plain = plainly_drawn(explorer.fig)
    assert shown.shape == plain.shape
    assert np.abs(shown - plain).max() <= 3, f"{(np.abs(shown - plain) > 3).sum()} pixels differ"


def assert_redrawn_in_place(explorer, move, expect_full_draws=None):
    """Moving a control draws a new picture into the same figure object."""
    fig, png, draws = explorer.fig, explorer.png, explorer.draw_count
    move()
    assert explorer.draw_count == draws + 1 and explorer.marker.value == f"drawn #{draws + 1}"
    assert explorer.status.value == "", explorer.status.value
    assert explorer.fig is fig, "the figure is built once and updated, not made again"
    assert explorer.png != png
    if expect_full_draws is not None:
        assert explorer.full_draw_count == expect_full_draws


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def visible_words(explorer):
    """Every string a student can see in the explorer's widgets (hidden ones left out)."""
    words = []
    for w in _walk(explorer.widget):
        if getattr(getattr(w, "layout", None), "display", None) == "none":
            continue
        for name in ("value", "description", "placeholder"):
            v = getattr(w, name, None)
            if isinstance(v, str):
                words.append(v)
        words += [str(o) for o in getattr(w, "options", ())]
    return words


def assert_no_test_marker_visible(explorer):
    assert explorer.marker.layout.display == "none"
    assert not [w for w in visible_words(explorer) if "drawn" in w]


def assert_fits_the_screen(explorer, controls_px):
    """The picture is at most 900 px wide, and with its controls (``controls_px`` tall,
    title included) it fits the notebook area of a 1366x768 screen."""
    height, width = decoded(explorer.png).shape[:2]
    assert width <= MAX_WIDTH_PX, f"picture {width} px wide"
    assert height + controls_px <= SCREEN_HEIGHT_PX, f"picture {height} px + controls {controls_px} px"
    return width, height


def summary(fig):
    """What a figure shows, artist by artist (data, colours, texts, visibility), leaving
    out where the layout put things: the static and the live drawing of one picture must
    agree on it."""
    def colour(c):
        return np.round(np.asarray(c, dtype=float), 3).tolist()

    panels = []
    for ax in fig.axes:
        images = [(np.nan_to_num(np.ma.getdata(im.get_array()), nan=-1e300).tolist(),      # (NaN != NaN)
                   [float(v) for v in im.get_clim()], im.get_cmap().name,
                   im.get_visible()) for im in ax.images]
        texts = [(t.get_text(), colour(mcolors.to_rgba(t.get_color())), t.get_visible())
                 for t in ax.texts]
        collections = [([np.round(p.vertices, 6).tolist() for p in c.get_paths()], colour(c.get_edgecolor()),
                         c.get_visible()) for c in ax.collections]
        patches = [(np.round(p.get_patch_transform().transform(p.get_path().vertices), 3).tolist(), p.get_visible())
                   for p in ax.patches]                                          # in data coordinates
        lines = [(np.asarray(line.get_xydata()).tolist(), line.get_visible()) for line in ax.lines]
        legends = [([t.get_text() for t in a.get_texts()], a.get_visible())
                   for a in ax.get_children() if type(a).__name__ == "Legend"]
        panels.append((ax.get_title(), ax.axison, images, texts, collections, patches, lines, legends))
    figure_legends = [([t.get_text() for t in a.get_texts()], a.get_visible()) for a in fig.legends + fig.artists
                      if type(a).__name__ == "Legend"]
    return panels, figure_legends


def assert_same_picture(static_fig, live_fig):
    """The static picture (a pyplot figure) and the live one draw the same artists with the
    same values: one code path."""
    assert static_fig in map(plt.figure, plt.get_fignums()), "the static picture is a pyplot figure"
    assert live_fig not in map(plt.figure, plt.get_fignums()), "the live picture stays out of pyplot"
    assert not static_fig.findobj(lambda a: a.get_animated()), "a static picture animates nothing"
    assert live_fig.findobj(lambda a: a.get_animated()), "a live picture marks what moves"
    assert summary(static_fig) == summary(live_fig)

"""Explorers of lessons 1-3: they draw, react to their controls, compute the right numbers, and
refuse bad input with a clear message."""
import numpy as np
import pytest

from cnnlib import ops
from cnnlib.widgets import (KERNEL_PRESETS, ConvGeometryExplorer, FilterExplorer, PoolingExplorer,
                            SlidingWindowStepper)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def reference_conv(image, kernel, stride=1, padding=0):
    out, _ = ops.conv2d_forward_naive(image[None, None].astype(float), np.asarray(kernel, float)[None, None],
                                      np.zeros(1), stride=stride, padding=padding)
    return out[0, 0]


@pytest.fixture
def digits(rng):
    """Three fake 'digits': uint8 images (as MNIST stores them), each with a different stroke."""
    images = np.zeros((3, 12, 10), dtype=np.uint8)
    images[0, 2:10, 4] = 255            # a vertical stroke
    images[1, 5, 1:9] = 255             # a horizontal stroke
    images[2] = rng.integers(0, 256, size=(12, 10))
    return images


def drawn(explorer):
    assert explorer.status.value.startswith("drawn #"), explorer.status.value
    assert explorer.png.startswith(PNG_SIGNATURE)
    return explorer.png


# ---------------------------------------------------------------- FilterExplorer

def test_filter_explorer_draws_the_feature_map_of_the_first_digit(digits):
    ex = FilterExplorer(digits, labels=np.array([1, 7, 3]))
    drawn(ex)
    assert ex.status.value == "drawn #1"
    assert ex.controls[0] is ex.digit and type(ex.digit).__name__ == "IntSlider"
    assert (ex.digit.min, ex.digit.max) == (0, 2)
    np.testing.assert_allclose(ex.kernel, KERNEL_PRESETS["vertical edge"])
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[0] / 255, ex.kernel))
    assert ex.feature_map.shape == (10, 8)          # non-square: 12x10 -> 10x8
    ex.close()


def test_filter_explorer_digit_slider_changes_the_picture_and_the_numbers(digits):
    ex = FilterExplorer(digits)
    before_png, before_map = ex.png, ex.feature_map.copy()
    ex.digit.value = 1
    assert ex.status.value == "drawn #2"
    assert ex.png != before_png
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[1] / 255, ex.kernel))
    assert not np.allclose(ex.feature_map, before_map)
    # A vertical-edge kernel sees the vertical stroke but not the horizontal one's middle.
    assert np.abs(before_map).max() == pytest.approx(3.0)
    ex.close()


def test_filter_explorer_preset_fills_the_boxes_and_redraws_once(digits):
    ex = FilterExplorer(digits)
    ex.preset.value = "Sobel y"
    assert ex.draw_count == 2                    # nine boxes filled, one redraw
    np.testing.assert_allclose(ex.kernel, KERNEL_PRESETS["Sobel y"])
    ex.preset.value = "identity"
    np.testing.assert_allclose(ex.feature_map, digits[0, 1:-1, 1:-1] / 255)
    assert ex.draw_count == 3
    ex.close()


def test_filter_explorer_editing_a_box_makes_a_custom_kernel(digits):
    ex = FilterExplorer(digits, kernel="identity")
    before = ex.png
    ex.kernel_boxes[4].value = 2.0               # the centre: identity x 2
    assert ex.preset.value == "custom"
    assert ex.draw_count == 2
    assert ex.png != before
    np.testing.assert_allclose(ex.feature_map, 2 * (digits[0, 1:-1, 1:-1] / 255))
    ex.set_kernel(np.ones((3, 3)))
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[0] / 255, np.ones((3, 3))))
    ex.close()


def test_filter_explorer_rejects_bad_input(digits):
    with pytest.raises(ValueError, match=r"expected images of shape \(N, H, W\)"):
        FilterExplorer(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="smaller than the 3x3 kernel"):
        FilterExplorer(np.zeros((1, 2, 8)))
    with pytest.raises(ValueError, match="one label per image"):
        FilterExplorer(digits, labels=[1, 2])
    with pytest.raises(ValueError, match="unknown kernel 'emboss'"):
        FilterExplorer(digits, kernel="emboss")
    ex = FilterExplorer(digits[0])             # a single 2-D image is fine
    with pytest.raises(ValueError, match="must be 3x3"):
        ex.set_kernel(np.ones((2, 2)))
    ex.close()


# ---------------------------------------------------------------- SlidingWindowStepper

def test_stepper_walks_every_output_position(rng):
    image = rng.integers(-3, 4, size=(5, 7)).astype(float)
    kernel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0]])          # non-square 2x3
    st = SlidingWindowStepper(image, kernel)
    expected = reference_conv(image, kernel)                         # (4, 5)
    assert st.step.max == 4 * 5 - 1
    drawn(st)
    for step in (1, 6, 19):
        before = st.png
        st.step.value = step
        i, j = divmod(step, 5)
        assert st.position == (i, j)
        np.testing.assert_allclose(st.products, image[i:i + 2, j:j + 3] * kernel)
        assert st.value == pytest.approx(expected[i, j])
        filled = ~np.isnan(st.output)
        assert filled.sum() == step + 1 and filled.ravel()[:step + 1].all()
        np.testing.assert_allclose(st.output[filled], expected[filled])
        assert st.png != before
    st.close()


def test_stepper_with_stride(rng):
    image = rng.normal(size=(7, 6))
    st = SlidingWindowStepper(image, np.ones((3, 3)), stride=2)
    assert (st.H_out, st.W_out) == (3, 2)
    st.step.value = 5
    assert st.position == (2, 1)
    assert st.value == pytest.approx(image[4:7, 2:5].sum())
    assert not np.isnan(st.output).any()
    st.close()


def test_stepper_rejects_bad_input():
    with pytest.raises(ValueError, match="does not fit in the image 3x3"):
        SlidingWindowStepper(np.zeros((3, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"expected one 2-D image of shape \(H, W\)"):
        SlidingWindowStepper(np.zeros((1, 3, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"2-D kernel \(KH, KW\)"):
        SlidingWindowStepper(np.zeros((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        SlidingWindowStepper(np.full((3, 3), np.nan), np.ones((2, 2)))


# ---------------------------------------------------------------- ConvGeometryExplorer

def test_geometry_explorer_follows_the_formula():
    ex = ConvGeometryExplorer(size=7, kernel_size=3, padding=0, stride=1)
    drawn(ex)
    assert ex.output_size == 5
    for control, value, expected in ((ex.padding, 1, 7), (ex.stride, 2, 4), (ex.kernel_size, 5, 3),
                                     (ex.size, 8, 3)):
        before = ex.png
        control.value = value
        n, k, p, s = ex.size.value, ex.kernel_size.value, ex.padding.value, ex.stride.value
        assert ex.output_size == expected == (n + 2 * p - k) // s + 1
        assert ex.png != before
        assert f"<b>{expected}</b>" in ex.message.value
    assert ex.message in ex.widget.children
    ex.close()


def test_geometry_explorer_says_when_the_kernel_does_not_fit():
    ex = ConvGeometryExplorer(size=4, kernel_size=3)
    ex.kernel_size.value = 6
    assert ex.output_size is None
    assert "does not fit" in ex.message.value and "4 + 2·0 = 4" in ex.message.value
    assert ex.status.value == "drawn #2"          # still a picture, with the reason in it
    ex.padding.value = 1                           # 4 + 2 = 6: fits exactly once
    assert ex.output_size == 1
    ex.close()


def test_geometry_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        ConvGeometryExplorer(stride=0)
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        ConvGeometryExplorer(size=2.5)
    with pytest.raises(ValueError, match="larger than max_size"):
        ConvGeometryExplorer(size=40)


# ---------------------------------------------------------------- PoolingExplorer

def test_pooling_explorer_max_marks_the_winners(rng):
    x = rng.normal(size=(6, 8))
    ex = PoolingExplorer(x)
    drawn(ex)
    expected, _ = ops.maxpool2d_forward_naive(x[None, None], kernel_size=2, stride=2)
    np.testing.assert_allclose(ex.output, expected[0, 0])
    assert ex.winners.shape == (3, 4, 2)
    rows, cols = ex.winners[..., 0], ex.winners[..., 1]
    np.testing.assert_allclose(x[rows, cols], ex.output)          # each winner holds its window's max
    assert ((rows // 2 == np.arange(3)[:, None]) & (cols // 2 == np.arange(4)[None, :])).all()
    ex.close()


def test_pooling_explorer_ties_go_to_the_first_maximum():
    x = np.zeros((4, 4))
    x[1, 1] = x[0, 3] = x[1, 2] = 1.0               # window (0, 1) has two tied maxima
    ex = PoolingExplorer(x)
    assert ex.winners[0, 0].tolist() == [1, 1]
    assert ex.winners[0, 1].tolist() == [0, 3]       # row-major: (0, 3) comes before (1, 2)
    assert ex.winners[1, 0].tolist() == [2, 0]       # all zeros: the top-left one wins
    ex.close()


def test_pooling_explorer_controls_change_the_output(rng):
    x = rng.normal(size=(7, 5))
    ex = PoolingExplorer(x)
    before = ex.png
    ex.mode.value = "average"
    assert ex.png != before and ex.winners is None
    np.testing.assert_allclose(ex.output, ops.avgpool2d_forward_naive(x[None, None])[0][0, 0])
    ex.mode.value = "max"
    ex.kernel_size.value = 3
    ex.stride.value = 2                               # overlapping windows: 7x5 -> 3x2
    assert ex.output.shape == (3, 2)
    np.testing.assert_allclose(ex.output, ops.maxpool2d_forward_naive(x[None, None], kernel_size=3,
                                                                      stride=2)[0][0, 0])
    assert ex.status.value == "drawn #4"
    ex.close()


def test_pooling_explorer_scales_uint8_images_and_rejects_bad_input():
    image = np.zeros((6, 6), dtype=np.uint8)
    image[2, 3] = 255
    ex = PoolingExplorer(image)
    assert ex.output.max() == 1.0
    ex.close()
    with pytest.raises(ValueError, match=r"expected one 2-D image of shape \(H, W\)"):
        PoolingExplorer(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="kernel_size 5 does not fit the 4x4 input"):
        PoolingExplorer(np.zeros((4, 4)), kernel_size=5)
    with pytest.raises(ValueError, match="mode must be 'max' or 'average'"):
        PoolingExplorer(np.zeros((4, 4)), mode="min")


# ---------------------------------------------------------------- fast redraws: one figure, updated in place

def decoded(png):
    """A PNG's pixels as an (H, W, 3) int array."""
    import io
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def plainly_drawn(fig):
    """``fig`` drawn the ordinary matplotlib way (no kept background, no cached text, every
    artist in its z-order), as RGB pixels. It changes the figure: call it last."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from cnnlib.viz import _TextLayer
    for artist in fig.findobj(lambda a: a.get_animated()):
        artist.set_animated(False)
        if isinstance(artist, _TextLayer):
            artist.set_visible(False)         # its texts are now drawn on their own
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(int)


def assert_like_a_plain_drawing(explorer):
    """What the explorer shows (kept background + animated artists + cached text) is what
    matplotlib draws for the same figure, up to rounding in blending (a few units of 255)."""
    shown = decoded(explorer.png)
    plain = plainly_drawn(explorer.fig)
    assert shown.shape == plain.shape
    assert np.abs(shown - plain).max() <= 3, f"{(np.abs(shown - plain) > 3).sum()} pixels differ"


def assert_redrawn_in_place(explorer, move, expect_full_draws=None):
    """Moving a control draws a new picture into the same figure object."""
    fig, png, draws = explorer.fig, explorer.png, explorer.draw_count
    move()
    assert explorer.draw_count == draws + 1 and explorer.status.value == f"drawn #{draws + 1}"
    assert explorer.fig is fig, "the figure is built once and updated, not made again"
    assert explorer.png != png
    if expect_full_draws is not None:
        assert explorer.full_draw_count == expect_full_draws


def test_the_text_caching_canvas_draws_what_agg_draws(rng):
    """Our widget canvas re-uses the pixels of texts it drew before; they must be Agg's own."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from cnnlib.viz import canvas_to_png, widget_figure
    fig = widget_figure((5, 3))
    ax = fig.add_subplot()
    values = rng.normal(size=(6, 7))
    ax.imshow(values, cmap="RdBu_r")
    texts = [ax.text(c, r, f"{v:.2g}", ha="center", va="center", fontsize=8) for (r, c), v in np.ndenumerate(values)]
    ax.set_title("$H_{out}$ = 4: maths text too", fontsize=9)
    ax.set_ylabel("a rotated label")
    canvas = fig.canvas
    for _ in range(3):                          # then pasting cached text, then with a new text
        canvas.draw()
        shown = decoded(canvas_to_png(canvas))
        plain = FigureCanvasAgg(fig)            # (this makes itself the figure's canvas ...)
        plain.draw()
        fig.set_canvas(canvas)                  # (... so we put ours back)
        assert np.abs(shown - np.asarray(plain.buffer_rgba())[..., :3].astype(int)).max() <= 2
        texts[0].set_text("new")
    assert len(canvas.get_renderer()._sprites) > len(texts)


def test_encode_png_round_trips(rng):
    import io
    from PIL import Image
    from cnnlib.viz import encode_png
    rgb = rng.integers(0, 256, size=(5, 7, 3)).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(rgb)))), rgb)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        encode_png(rgb.astype(float))


def test_filter_explorer_updates_its_figure_in_place(digits):
    ex = FilterExplorer(digits)
    assert_redrawn_in_place(ex, lambda: ex.kernel_boxes[0].__setattr__("value", 5.0))
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[0] / 255, ex.kernel))
    kernel_texts = [t.get_text() for t in ex.fig.axes[1].texts]
    assert kernel_texts[0] == "5" and ex.fig.axes[1].get_title() == "kernel: custom"
    assert ex.full_draw_count == 1, "a kernel edit redraws only the kernel and the feature map"
    assert_redrawn_in_place(ex, lambda: ex.digit.__setattr__("value", 2))
    assert ex.fig.axes[0].get_title() == "input #2"
    np.testing.assert_allclose(ex.fig.axes[0].images[0].get_array(), digits[2] / 255)
    assert_like_a_plain_drawing(ex)
    ex.close()


def test_stepper_redraws_only_what_moves(rng):
    image = rng.integers(-3, 4, size=(6, 7)).astype(float)
    st = SlidingWindowStepper(image, np.ones((2, 3)))
    for step in (1, 2, 9):
        assert_redrawn_in_place(st, lambda: st.step.__setattr__("value", step), expect_full_draws=1)
    assert st.fig.axes[2].get_title() == f"output 5x5: out[1, 4] = {st.value:.3g}"
    shown = [t.get_text() for t in st.fig.axes[2].texts if t.get_visible()]
    assert len(shown) == 10                          # steps 0..9 are filled in
    assert_like_a_plain_drawing(st)
    st.close()


def test_geometry_explorer_updates_in_place():
    ex = ConvGeometryExplorer(size=7, kernel_size=3, padding=1, stride=2)
    assert_redrawn_in_place(ex, lambda: ex.kernel_size.__setattr__("value", 6))
    assert ex.output_size == 2 and ex.fig.axes[1].get_title().startswith("output 2x2")
    assert_redrawn_in_place(ex, lambda: ex.size.__setattr__("value", 2))   # 2 + 2 < 6: does not fit
    assert ex.output_size is None and ex.fig.axes[1].get_title() == "no output"
    assert_redrawn_in_place(ex, lambda: ex.size.__setattr__("value", 9))
    assert ex.fig.axes[1].get_title().startswith("output 3x3")
    assert_like_a_plain_drawing(ex)
    ex.close()


def test_pooling_explorer_updates_in_place(rng):
    ex = PoolingExplorer(rng.integers(0, 10, size=(8, 10)).astype(float))
    assert_redrawn_in_place(ex, lambda: ex.kernel_size.__setattr__("value", 3), expect_full_draws=1)
    assert ex.fig.axes[1].images[0].get_array().shape == ex.output.shape == (3, 4)   # stride 2
    assert_redrawn_in_place(ex, lambda: ex.stride.__setattr__("value", 1), expect_full_draws=1)
    np.testing.assert_allclose(ex.fig.axes[1].images[0].get_array(), ex.output)
    assert [t.get_text() for t in ex.fig.axes[1].texts] == [f"{v:.3g}" for v in ex.output.ravel()]
    assert_redrawn_in_place(ex, lambda: ex.mode.__setattr__("value", "average"))
    assert_like_a_plain_drawing(ex)
    ex.close()


@pytest.mark.parametrize("draw, size, n_axes", [
    (lambda x: __import__("cnnlib.viz").viz.plot_convolution(x, np.eye(3), x[1:-1, 1:-1]), (900, 300), 4),
    (lambda x: __import__("cnnlib.viz").viz.plot_sliding_window(x, np.eye(3), 4), (1000, 360), 3),
    (lambda x: __import__("cnnlib.viz").viz.plot_conv_geometry(7, 3, 1, 2), (900, 440), 2),
    (lambda x: __import__("cnnlib.viz").viz.plot_pooling(x, kernel_size=2), (900, 420), 2),
])
def test_static_pictures_keep_their_size_and_axes(draw, size, n_axes, rng):
    """The lessons store '<Figure size WxH with N Axes>': sharing code with the explorers
    must not change it, and a static picture has nothing animated (it would not be drawn)."""
    import matplotlib.pyplot as plt
    fig = draw(rng.normal(size=(6, 8)))
    assert fig in map(plt.figure, plt.get_fignums())
    assert tuple(int(v) for v in fig.get_size_inches() * 100) == size and len(fig.axes) == n_axes
    assert not fig.findobj(lambda a: a.get_animated())


def test_an_explorer_with_only_figure_still_works():
    """The slow protocol (a new figure per change) is still supported, for explorers not converted."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from cnnlib.widgets import Explorer

    class Plain(Explorer):
        def __init__(self):
            self.n = widgets.IntSlider(value=1, min=1, max=5)
            super().__init__([self.n])

        def figure(self):
            fig, ax = plt.subplots(figsize=(2, 2))
            ax.plot(range(self.n.value))
            return fig

    ex = Plain()
    before = drawn(ex)
    ex.n.value = 4
    assert drawn(ex) != before and ex.fig is None and ex.full_draw_count == ex.draw_count == 2
    ex.close()


def test_an_error_while_updating_is_shown_and_the_next_move_rebuilds(digits, monkeypatch):
    ex = FilterExplorer(digits)
    fig, png = ex.fig, ex.png
    monkeypatch.setattr(type(ex._picture), "update", lambda *a, **k: 1 / 0)
    ex.digit.value = 1
    assert ex.status.value == "error: ZeroDivisionError: division by zero" and ex.png == png
    monkeypatch.undo()
    ex.digit.value = 2                               # a half-updated figure is not trusted: a new one
    assert ex.status.value == "drawn #2" and ex.fig is not fig
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[2] / 255, ex.kernel))
    ex.close()

"""Convolution pictures and explorers (lesson 2): they draw, react to their controls, compute
the right numbers, update one figure in place, fit a laptop screen, and refuse bad input
with a clear message."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from explorer_helpers import (CONTROL_ROW_PX, TITLE_PX, assert_fits_the_screen, assert_like_a_plain_drawing,
                              assert_no_test_marker_visible, assert_redrawn_in_place, assert_same_picture, drawn)

from cnnlib.explore import loops
from cnnlib.explore.convolution import (KERNEL_PRESETS, ConvGeometryExplorer, ConvGeometryPicture, ConvolutionPicture,
                                        FilterExplorer, SlidingWindowPicture, SlidingWindowStepper, plot_conv_geometry,
                                        plot_convolution, plot_sliding_window)


def reference_conv(image, kernel, stride=1, padding=0):
    out, _ = loops.conv2d_forward_naive(image[None, None].astype(float), np.asarray(kernel, float)[None, None],
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


# ---------------------------------------------------------------- FilterExplorer

def test_filter_explorer_draws_the_feature_map_of_the_first_digit(digits, close_after):
    ex = FilterExplorer(digits, labels=np.array([1, 7, 3]))
    close_after(ex)
    drawn(ex)
    assert ex.draw_count == 1 and ex.marker.value == "drawn #1"
    assert ex.controls[0] is ex.digit and type(ex.digit).__name__ == "IntSlider"
    assert (ex.digit.min, ex.digit.max) == (0, 2)
    np.testing.assert_allclose(ex.kernel, KERNEL_PRESETS["vertical edge"])
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[0] / 255, ex.kernel))
    assert ex.feature_map.shape == (10, 8)          # non-square: 12x10 -> 10x8
    assert ex.fig.axes[0].get_title() == "input #0 (label 1)"


def test_filter_explorer_digit_slider_changes_the_picture_and_the_numbers(digits, close_after):
    ex = FilterExplorer(digits)
    close_after(ex)
    before_png, before_map = ex.png, ex.feature_map.copy()
    ex.digit.value = 1
    assert ex.marker.value == "drawn #2"
    assert ex.png != before_png
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[1] / 255, ex.kernel))
    assert not np.allclose(ex.feature_map, before_map)
    # A vertical-edge kernel sees the vertical stroke but not the horizontal one's middle.
    assert np.abs(before_map).max() == pytest.approx(3.0)


def test_filter_explorer_preset_fills_the_boxes_and_redraws_once(digits, close_after):
    ex = FilterExplorer(digits)
    close_after(ex)
    ex.preset.value = "Sobel y"
    assert ex.draw_count == 2                    # nine boxes filled, one redraw
    np.testing.assert_allclose(ex.kernel, KERNEL_PRESETS["Sobel y"])
    ex.preset.value = "identity"
    np.testing.assert_allclose(ex.feature_map, digits[0, 1:-1, 1:-1] / 255)
    assert ex.draw_count == 3


def test_filter_explorer_editing_a_box_makes_a_custom_kernel(digits, close_after):
    ex = FilterExplorer(digits, kernel="identity")
    close_after(ex)
    before = ex.png
    ex.kernel_boxes[4].value = 2.0               # the centre: identity x 2
    assert ex.preset.value == "custom"
    assert ex.draw_count == 2
    assert ex.png != before
    np.testing.assert_allclose(ex.feature_map, 2 * (digits[0, 1:-1, 1:-1] / 255))
    ex.set_kernel(np.ones((3, 3)))
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[0] / 255, np.ones((3, 3))))


def test_filter_explorer_rejects_bad_input(digits, close_after):
    with pytest.raises(ValueError, match=r"expected images of shape \(N, H, W\)"):
        FilterExplorer(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="smaller than the 3x3 kernel"):
        FilterExplorer(np.zeros((1, 2, 8)))
    with pytest.raises(ValueError, match="one label per image"):
        FilterExplorer(digits, labels=[1, 2])
    with pytest.raises(ValueError, match="unknown kernel 'emboss'"):
        FilterExplorer(digits, kernel="emboss")
    ex = FilterExplorer(digits[0])             # a single 2-D image is fine
    close_after(ex)
    with pytest.raises(ValueError, match="must be 3x3"):
        ex.set_kernel(np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        ex.set_kernel(np.full((3, 3), np.nan))


def test_filter_explorer_updates_its_figure_in_place(digits, close_after):
    ex = FilterExplorer(digits)
    close_after(ex)
    assert_redrawn_in_place(ex, lambda: ex.kernel_boxes[0].__setattr__("value", 5.0), full_draws=1)
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[0] / 255, ex.kernel))
    kernel_texts = [t.get_text() for t in ex.fig.axes[1].texts]
    assert kernel_texts[0] == "5" and ex.fig.axes[1].get_title() == "kernel: custom"
    assert_redrawn_in_place(ex, lambda: ex.preset.__setattr__("value", "blur"), full_draws=1)
    assert_redrawn_in_place(ex, lambda: ex.digit.__setattr__("value", 2))     # a new input: drawn whole
    assert ex.fig.axes[0].get_title() == "input #2"
    np.testing.assert_allclose(ex.fig.axes[0].images[0].get_array(), digits[2] / 255)
    assert_like_a_plain_drawing(ex)


def test_filter_explorer_colour_bar_shows_the_map_range(digits, close_after):
    ex = FilterExplorer(digits)
    close_after(ex)
    limit = np.abs(ex.feature_map).max()
    colorbar = ex.picture.colorbar
    np.testing.assert_allclose(colorbar.get_ticks(), [-limit, 0, limit])
    assert [t.get_text() for t in colorbar.ax.get_yticklabels()] == [f"{-limit:.2g}", "0", f"{limit:.2g}"]


def test_an_error_while_updating_is_shown_and_the_next_move_rebuilds(digits, monkeypatch, close_after):
    ex = FilterExplorer(digits)
    close_after(ex)
    fig, png = ex.fig, ex.png
    monkeypatch.setattr(type(ex.picture), "update", lambda *a, **k: 1 / 0)
    ex.digit.value = 1
    assert "ZeroDivisionError: division by zero" in ex.status.value and ex.png == png
    monkeypatch.undo()
    ex.digit.value = 2                               # a half-updated figure is not trusted: a new one
    assert ex.status.value == "" and ex.marker.value == "drawn #2" and ex.fig is not fig
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[2] / 255, ex.kernel))


# ---------------------------------------------------------------- SlidingWindowStepper

def test_stepper_walks_every_output_position(rng, close_after):
    image = rng.integers(-3, 4, size=(5, 7)).astype(float)
    kernel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0]])          # non-square 2x3
    st = SlidingWindowStepper(image, kernel)
    close_after(st)
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


def test_stepper_with_stride(rng, close_after):
    image = rng.normal(size=(7, 6))
    st = SlidingWindowStepper(image, np.ones((3, 3)), stride=2)
    close_after(st)
    assert (st.H_out, st.W_out) == (3, 2)
    st.step.value = 5
    assert st.position == (2, 1)
    assert st.value == pytest.approx(image[4:7, 2:5].sum())
    assert not np.isnan(st.output).any()


def test_stepper_rejects_bad_input():
    with pytest.raises(ValueError, match="does not fit in the image 3x3"):
        SlidingWindowStepper(np.zeros((3, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"expected one 2-D image of shape \(H, W\)"):
        SlidingWindowStepper(np.zeros((1, 3, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"2-D kernel \(KH, KW\)"):
        SlidingWindowStepper(np.zeros((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        SlidingWindowStepper(np.full((3, 3), np.nan), np.ones((2, 2)))
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        SlidingWindowStepper(np.zeros((3, 3)), np.ones((2, 2)), stride=0)


def test_stepper_redraws_only_what_moves(rng, close_after):
    image = rng.integers(-3, 4, size=(6, 7)).astype(float)
    st = SlidingWindowStepper(image, np.ones((2, 3)))
    close_after(st)
    for step in (1, 2, 9):
        assert_redrawn_in_place(st, lambda: st.step.__setattr__("value", step), full_draws=1)
    assert st.fig.axes[2].get_title() == f"output 5x5: out[1, 4] = {st.value:.3g}"
    shown = [t.get_text() for t in st.fig.axes[2].texts if t.get_visible()]
    assert len(shown) == 10                          # steps 0..9 are filled in
    assert_like_a_plain_drawing(st)


def test_sliding_window_picture_rejects_bad_input():
    with pytest.raises(ValueError, match=r"SlidingWindowPicture: the kernel 3x1 does not fit in the image 2x5"):
        SlidingWindowPicture(np.zeros((2, 5)), np.ones((3, 1)), 0)
    with pytest.raises(ValueError, match=r"SlidingWindowPicture: image must be a non-empty 2-D array .* \(4,\)"):
        SlidingWindowPicture(np.zeros(4), np.ones((1, 1)), 0)
    pic = SlidingWindowPicture(np.zeros((3, 3)), np.ones((2, 2)), 0, live=True)
    with pytest.raises(ValueError, match=r"\(2x2 output positions\): step must be an integer in \[0, 3\], got 4"):
        pic.update(4)


def test_stepper_writes_numbers_that_stand_out_from_their_cells(close_after):
    """Numbers are black on light cells and white on dark ones, whatever the colour map."""
    image = np.array([[0.0, 3.0], [3.0, 0.0]])              # non-negative: black (0) to white (3)
    st = SlidingWindowStepper(image, np.ones((1, 1)))
    close_after(st)
    colours = {t.get_text(): t.get_color() for t in st.fig.axes[0].texts}
    assert colours == {"0": "white", "3": "black"}


# ---------------------------------------------------------------- ConvGeometryExplorer

def test_geometry_explorer_follows_the_formula(close_after):
    ex = ConvGeometryExplorer(size=7, kernel_size=3, padding=0, stride=1)
    close_after(ex)
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
        assert ex.fig.axes[1].get_title().endswith(f"+ 1 = {expected}")
    assert ex.message in ex.widget.children
    assert ex.widget.children.index(ex.message) < ex.widget.children.index(ex.image)


def test_geometry_explorer_says_when_the_kernel_does_not_fit(close_after):
    ex = ConvGeometryExplorer(size=4, kernel_size=3)
    close_after(ex)
    ex.kernel_size.value = 6
    assert ex.output_size is None
    assert "does not fit" in ex.message.value and "4 + 2·0 = 4" in ex.message.value
    assert ex.marker.value == "drawn #2" and ex.status.value == ""     # still a picture, with the reason in it
    legends = {tuple(t.get_text() for t in a.get_texts()): a.get_visible() for a in ex.fig.artists}
    assert legends == {("first window", "last window", "no window reaches"): False, ("kernel (does not fit)",): True}
    ex.padding.value = 1                           # 4 + 2 = 6: fits exactly once
    assert ex.output_size == 1


def test_geometry_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        ConvGeometryExplorer(stride=0)
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        ConvGeometryExplorer(size=2.5)
    with pytest.raises(ValueError, match="larger than max_size"):
        ConvGeometryExplorer(size=40)
    with pytest.raises(ValueError, match="ConvGeometryPicture: padding must be an integer >= 0, got -1"):
        ConvGeometryPicture(5, 3, -1)


def test_geometry_explorer_updates_in_place(close_after):
    ex = ConvGeometryExplorer(size=7, kernel_size=3, padding=1, stride=2)
    close_after(ex)
    assert_redrawn_in_place(ex, lambda: ex.kernel_size.__setattr__("value", 6), full_draws=1)
    assert ex.output_size == 2 and ex.fig.axes[1].get_title().startswith("output 2x2")
    assert_redrawn_in_place(ex, lambda: ex.size.__setattr__("value", 2))   # 2 + 2 < 6: does not fit
    assert ex.output_size is None and ex.fig.axes[1].get_title() == "no output"
    assert ex.full_draw_count == 2, "the legend changed: drawn whole once"
    assert_redrawn_in_place(ex, lambda: ex.size.__setattr__("value", 9))
    assert ex.fig.axes[1].get_title().startswith("output 3x3")
    assert_redrawn_in_place(ex, lambda: ex.stride.__setattr__("value", 1), full_draws=3)
    assert_like_a_plain_drawing(ex)


def test_geometry_picture_shades_padding_and_the_cells_no_window_reaches():
    pic = ConvGeometryPicture(9, 3, padding=1, stride=3, live=True)    # 11 wide; 3 windows reach 9: two dropped
    cells = pic.input_image.get_array()
    assert cells.shape == (11, 11) and pic.output_size == 3
    assert (cells[0] == 2).all() and (cells[:, 0] == 2).all() and (cells[10] == 2).all()   # padding: grey
    assert (cells[1:9, 1:9] == 0).all()                                 # reached input: white
    assert (cells[9, 1:10] == 1).all() and (cells[1:10, 9] == 1).all()  # input row / column 9 never reached: pink


# ---------------------------------------------------------------- all three: one code path, screen, markers

@pytest.mark.parametrize("draw, picture, size, n_axes", [
    (lambda x: plot_convolution(x, np.eye(3), x[1:-1, 1:-1]),
     lambda x: ConvolutionPicture(x, np.eye(3), x[1:-1, 1:-1], live=True), (900, 300), 4),
    (lambda x: plot_sliding_window(x, np.eye(3), 4), lambda x: SlidingWindowPicture(x, np.eye(3), 4, live=True),
     (900, 360), 3),
    (lambda x: plot_conv_geometry(7, 3, 1, 2), lambda x: ConvGeometryPicture(7, 3, 1, 2, live=True), (900, 420), 2),
])
def test_static_picture_is_the_live_pictures_first_drawing(draw, picture, size, n_axes, rng):
    """The lessons store '<Figure size WxH with N Axes>'; the static picture and the live one
    are the same class: same artists, same values."""
    x = rng.normal(size=(6, 8))
    fig = draw(x)
    assert tuple(int(v) for v in fig.get_size_inches() * 100) == size and len(fig.axes) == n_axes
    assert_same_picture(fig, picture(x).fig)


def test_the_digit_is_white_on_black(digits):
    fig = plot_convolution(digits[0] / 255, np.eye(3), np.zeros((10, 8)))
    im = fig.axes[0].images[0]
    assert im.get_cmap().name == "gray"
    assert im.cmap(im.norm(1.0))[:3] == (1.0, 1.0, 1.0) and im.cmap(im.norm(0.0))[:3] == (0.0, 0.0, 0.0)
    plt.close(fig)


@pytest.mark.parametrize("make, controls_px", [
    (lambda d: FilterExplorer(d), TITLE_PX + 3 * 32),                       # one row: the 3x3 kernel boxes
    (lambda d: SlidingWindowStepper(d[2, :4, :5], np.ones((2, 2))), TITLE_PX + CONTROL_ROW_PX),
    (lambda d: ConvGeometryExplorer(), TITLE_PX + 2 * CONTROL_ROW_PX + 24),  # two rows of sliders, the formula
])
def test_explorers_fit_a_laptop_screen_and_hide_test_markers(make, controls_px, digits, close_after):
    ex = make(digits)
    close_after(ex)
    assert_no_test_marker_visible(ex)
    width, height = assert_fits_the_screen(ex, controls_px)
    assert (width, height) == tuple(int(v) for v in ex.fig.get_size_inches() * 100)    # drawn at 100 dpi, unshrunk
    fonts = [t.get_fontsize() for t in ex.fig.findobj(lambda a: type(a).__name__ == "Text") if t.get_text().strip()]
    assert min(fonts) >= 8, "text at least 8 pt (11 px)"


def test_conv_geometry_marks_unreached_cells_without_colour():
    """Cells no window reaches are crossed, not only pink, so they differ from the grey padding
    for colour-blind readers too (issue 11 item 18): size 8, kernel 3, stride 2 drops the last row
    and column."""
    from cnnlib.explore.convolution import ConvGeometryPicture
    pic = ConvGeometryPicture(8, 3, padding=0, stride=2)
    cols, rows = pic.unreached.get_data()
    assert sorted(set(zip(rows.tolist(), cols.tolist()))) == sorted({(7, c) for c in range(8)} | {(r, 7) for r in range(8)})
    assert pic.unreached.get_marker() == "x"
    pic.update(7, 3, padding=1, stride=2)                     # every cell reached: no crosses
    assert len(pic.unreached.get_data()[0]) == 0


def test_filter_explorer_kernel_boxes_fit_their_grid_columns(digits):
    """The nine boxes fit the grid's columns (84 px boxes in 64 px columns overlapped and cut the
    third column off, seen in Chromium)."""
    ex = FilterExplorer(digits)
    grid = ex.controls[-1]
    column = int(grid.layout.grid_template_columns.removeprefix("repeat(3, ").removesuffix("px)"))
    box = int(ex.kernel_boxes[0].layout.width.removesuffix("px"))
    assert box <= column and box >= 76, (box, column)    # "0.1111" beside the spin buttons, inside its column
    ex.close()

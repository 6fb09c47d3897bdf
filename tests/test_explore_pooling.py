"""Pooling picture and explorer (lesson 3): the output and the winners are the library's,
overlapping windows stay readable, winner marks stand out for colour-blind readers too,
the figure is updated in place and fits a laptop screen."""
import matplotlib.colors as mcolors
import numpy as np
import pytest
from explorer_helpers import (CONTROL_ROW_PX, TITLE_PX, assert_fits_the_screen, assert_like_a_plain_drawing,
                              assert_no_test_marker_visible, assert_redrawn_in_place, assert_same_picture, decoded,
                              drawn)

from cnnlib.explore import loops
from cnnlib.explore.pooling import PoolingExplorer, PoolingPicture, plot_pooling, pool_map


def luminance(colour):
    r, g, b = mcolors.to_rgb(colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# ---------------------------------------------------------------- the numbers

def test_pooling_explorer_max_marks_the_winners(rng, close_after):
    x = rng.normal(size=(6, 8))
    ex = PoolingExplorer(x)
    close_after(ex)
    drawn(ex)
    expected, _ = loops.maxpool2d_forward_naive(x[None, None], kernel_size=2, stride=2)
    np.testing.assert_allclose(ex.output, expected[0, 0])
    assert ex.winners.shape == (3, 4, 2)
    rows, cols = ex.winners[..., 0], ex.winners[..., 1]
    np.testing.assert_allclose(x[rows, cols], ex.output)          # each winner holds its window's max
    assert ((rows // 2 == np.arange(3)[:, None]) & (cols // 2 == np.arange(4)[None, :])).all()
    # ... and the marks in the picture sit on those cells
    centres = [path.vertices[:4].mean(axis=0) for path in ex.picture.winner_edges.get_paths()]
    assert sorted(map(tuple, np.round(centres).astype(int))) == sorted(zip(cols.ravel(), rows.ravel()))


def test_pooling_explorer_ties_go_to_the_first_maximum(close_after):
    x = np.zeros((4, 4))
    x[1, 1] = x[0, 3] = x[1, 2] = 1.0               # window (0, 1) has two tied maxima
    ex = PoolingExplorer(x)
    close_after(ex)
    assert ex.winners[0, 0].tolist() == [1, 1]
    assert ex.winners[0, 1].tolist() == [0, 3]       # row-major: (0, 3) comes before (1, 2)
    assert ex.winners[1, 0].tolist() == [2, 0]       # all zeros: the top-left one wins


def test_pooling_explorer_controls_change_the_output(rng, close_after):
    x = rng.normal(size=(7, 5))
    ex = PoolingExplorer(x)
    close_after(ex)
    before = ex.png
    ex.mode.value = "average"
    assert ex.png != before and ex.winners is None
    np.testing.assert_allclose(ex.output, loops.avgpool2d_forward_naive(x[None, None])[0][0, 0])
    ex.mode.value = "max"
    ex.kernel_size.value = 3
    ex.stride.value = 2                               # overlapping windows: 7x5 -> 3x2
    assert ex.output.shape == (3, 2)
    np.testing.assert_allclose(ex.output, loops.maxpool2d_forward_naive(x[None, None], kernel_size=3,
                                                                        stride=2)[0][0, 0])
    assert ex.marker.value == "drawn #4" and ex.status.value == ""


def test_pool_map_agrees_with_the_naive_loops(rng):
    x = rng.normal(size=(9, 7))
    for k, s in ((2, 2), (3, 1), (3, 2), (1, 1)):
        out, winners = pool_map(x, k, s)
        np.testing.assert_allclose(out, loops.maxpool2d_forward_naive(x[None, None], kernel_size=k, stride=s)[0][0, 0])
        np.testing.assert_allclose(x[winners[..., 0], winners[..., 1]], out)
        out, winners = pool_map(x, k, s, mode="average")
        np.testing.assert_allclose(out, loops.avgpool2d_forward_naive(x[None, None], kernel_size=k, stride=s)[0][0, 0])
        assert winners is None


def test_pooling_explorer_scales_uint8_images_and_rejects_bad_input(close_after):
    image = np.zeros((6, 6), dtype=np.uint8)
    image[2, 3] = 255
    ex = PoolingExplorer(image)
    close_after(ex)
    assert ex.output.max() == 1.0
    with pytest.raises(ValueError, match=r"expected one 2-D image of shape \(H, W\)"):
        PoolingExplorer(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="kernel_size 5 does not fit the 4x4 input"):
        PoolingExplorer(np.zeros((4, 4)), kernel_size=5)
    with pytest.raises(ValueError, match="mode must be 'max' or 'average'"):
        PoolingExplorer(np.zeros((4, 4)), mode="min")
    with pytest.raises(ValueError, match="PoolingPicture: stride must be an integer >= 1, got 0"):
        PoolingPicture(np.zeros((4, 4)), stride=0)
    with pytest.raises(ValueError, match=r"PoolingPicture: x must be a non-empty 2-D array \(H, W\), got shape \(4,\)"):
        PoolingPicture(np.zeros(4))


# ---------------------------------------------------------------- readable pictures (issue 11, items 17 and 18)

def test_overlapping_windows_outline_only_the_first_two(close_after):
    x = np.random.default_rng(0).integers(0, 10, size=(8, 10)).astype(float)
    ex = PoolingExplorer(x, kernel_size=2)
    close_after(ex)
    pic = ex.picture

    def corners(collection):
        return [(p.vertices[:4].min(axis=0).tolist(), p.vertices[:4].max(axis=0).tolist())
                for p in collection.get_paths()]

    assert not pic.overlapping and len(pic.window_grid.get_paths()) == 4 * 5     # tiling: every window outlined
    assert corners(pic.windows) == [([-0.5, -0.5], [1.5, 1.5]), ([1.5, -0.5], [3.5, 1.5])]   # first, next
    ex.kernel_size.value = 6
    ex.stride.value = 1                                                       # the lesson's hard case: 15 windows
    assert ex.output.shape == (3, 5) and pic.overlapping
    assert len(pic.window_grid.get_paths()) == 0                              # no pile of outlines ...
    assert corners(pic.windows) == [([-0.5, -0.5], [5.5, 5.5]), ([0.5, -0.5], [6.5, 5.5])]   # ... the first two
    assert pic.windows.get_linestyle()[0] != pic.windows.get_linestyle()[1]  # told apart by line style too
    frames = [p.vertices[:4].mean(axis=0) for p in pic.output_frames.get_paths()]
    np.testing.assert_allclose(frames, [(0, 0), (1, 0)])                     # their two output cells
    assert pic.windows_legend.get_visible() and pic.winner_legend.get_visible()
    assert ex.fig.axes[0].get_title() == "input 8x10: 15 windows, overlapping"
    assert len(pic.winner_edges.get_paths()) == 15                            # every window's winner still marked
    ex.mode.value = "average"
    assert not pic.winner_legend.get_visible() and not pic.winner_edges.get_visible()
    ex.kernel_size.value = 1
    assert len(pic.window_grid.get_paths()) == 80 and len(pic.output_frames.get_paths()) == 2
    assert not [t for t in ex.fig.axes[1].texts if t.get_visible()], "80 output cells: too many to number"


def test_a_single_window_has_no_next_one():
    pic = PoolingPicture(np.arange(9.0).reshape(3, 3), kernel_size=3, live=True)
    assert len(pic.windows.get_paths()) == len(pic.output_frames.get_paths()) == 1
    assert not pic.windows_legend.get_visible()


@pytest.mark.parametrize("cmap_value", [0.0, 1.0])
@pytest.mark.parametrize("signed", [True, False])
def test_winner_marks_stand_out_by_lightness_on_the_darkest_and_lightest_cells(signed, cmap_value):
    """On every extreme cell colour (dark red, dark blue, black, white), one of the mark's
    two colours differs from the cell by at least half the lightness scale: visible without
    telling red from green."""
    x = np.array([[-1.0, 1.0], [0.5, 0.0]]) if signed else np.array([[0.0, 1.0], [0.5, 0.2]])
    pic = PoolingPicture(x, kernel_size=1, live=True)
    cell = pic.output_image.cmap(cmap_value)
    marks = (pic.winner_edges.get_edgecolor()[0], pic.winner_lines.get_edgecolor()[0])
    assert max(abs(luminance(m) - luminance(cell)) for m in marks) >= 0.5
    assert pic.winner_edges.get_linewidth()[0] > pic.winner_lines.get_linewidth()[0] > 0   # dark rim, light line


def test_winner_marks_are_drawn_on_dark_red_cells():
    """In the PNG, a winner on the darkest red cell shows both the black rim and the yellow line."""
    x = np.array([[-1.0, 0.2, 0.0, 0.0], [0.0, 0.1, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    pic = PoolingPicture(x, kernel_size=2, live=True)
    pixels = decoded(pic.png())
    ax = pic.axes[0]
    to_px = ax.transData.transform
    (x0, y0), (x1, y1) = to_px((1.5, 1.5)), to_px((2.5, 2.5))               # the cell (2, 2): x = 1, the darkest red
    H = pixels.shape[0]
    cell = pixels[int(H - y0) + 1:int(H - y1) - 1, int(x0) + 1:int(x1) - 1]   # (display y points up)
    yellow = (cell[..., 0] > 200) & (cell[..., 1] > 200) & (cell[..., 2] < 80)
    black = cell.max(axis=-1) < 60
    assert yellow.sum() > 20 and black.sum() > 20


def test_non_negative_maps_are_bright_where_large():
    pic = PoolingPicture(np.array([[0.0, 4.0], [1.0, 3.0]]), kernel_size=1, live=True)
    im = pic.axes[0].images[0]
    assert im.get_cmap().name == "gray" and tuple(im.get_clim()) == (0, 4.0)
    colours = {t.get_text(): t.get_color() for t in pic.axes[0].texts}
    assert colours == {"0": "white", "4": "black", "1": "white", "3": "black"}


# ---------------------------------------------------------------- one figure, updated in place

def test_pooling_explorer_updates_in_place(rng, close_after):
    ex = PoolingExplorer(rng.integers(0, 10, size=(8, 10)).astype(float))
    close_after(ex)
    assert_redrawn_in_place(ex, lambda: ex.kernel_size.__setattr__("value", 3), full_draws=1)
    assert ex.fig.axes[1].images[0].get_array().shape == ex.output.shape == (3, 4)   # stride 2
    assert_redrawn_in_place(ex, lambda: ex.stride.__setattr__("value", 1), full_draws=1)
    np.testing.assert_allclose(ex.fig.axes[1].images[0].get_array(), ex.output)
    assert ex.output.shape == (6, 8)
    assert [t.get_text() for t in ex.fig.axes[1].texts] == [f"{v:.3g}" for v in ex.output.ravel()]
    assert_redrawn_in_place(ex, lambda: ex.kernel_size.__setattr__("value", 1), full_draws=1)
    assert_redrawn_in_place(ex, lambda: ex.mode.__setattr__("value", "average"), full_draws=1)
    assert_like_a_plain_drawing(ex)


def test_output_panel_keeps_clear_of_the_input_as_its_width_changes(rng, close_after):
    ex = PoolingExplorer(rng.normal(size=(6, 12)), kernel_size=6)
    close_after(ex)
    input_right = ex.fig.axes[0].get_position().x1
    for k in (1, 2, 6):
        ex.kernel_size.value = k
        ex.stride.value = k
        assert ex.fig.axes[1].get_position().x0 > input_right


def test_static_picture_is_the_live_pictures_first_drawing(rng):
    x = rng.normal(size=(6, 8))
    for kwargs in ({"kernel_size": 2}, {"kernel_size": 3, "stride": 1}, {"kernel_size": 2, "mode": "average"}):
        fig = plot_pooling(x, title="a title", **kwargs)
        assert tuple(int(v) for v in fig.get_size_inches() * 100) == (900, 420) and len(fig.axes) == 2
        assert_same_picture(fig, PoolingPicture(x, title="a title", live=True, **kwargs).fig)


def test_pooling_explorer_fits_a_laptop_screen_and_hides_test_markers(rng, close_after):
    ex = PoolingExplorer(rng.integers(0, 10, size=(8, 10)).astype(float))
    close_after(ex)
    assert_no_test_marker_visible(ex)
    # two rows of controls: the mode buttons and one slider, then the other slider
    width, height = assert_fits_the_screen(ex, TITLE_PX + 2 * CONTROL_ROW_PX)
    assert (width, height) == (900, 420)
    fonts = [t.get_fontsize() for t in ex.fig.findobj(lambda a: type(a).__name__ == "Text") if t.get_text().strip()]
    assert min(fonts) >= 8

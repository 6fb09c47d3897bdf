"""cnnlib.explore.analysis: saliency maps, layer outputs, the lesson-6 pictures (confusion
matrix, filters, feature maps, saliency grid) and their explorers. Everything runs headless:
buttons are clicked with ``.click()``, pictures are read back as PNG bytes."""
import re

import ipywidgets as widgets
import numpy as np
import pytest
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties
from explorer_helpers import (CONTROL_ROW_PX, MAX_WIDTH_PX, PNG_SIGNATURE, SCREEN_HEIGHT_PX, TITLE_PX,
                              assert_fits_the_screen, assert_like_a_plain_drawing, assert_no_test_marker_visible,
                              assert_redrawn_in_place, assert_same_picture, controls_px, png_size, walk)

from cnnlib.data import load_mnist
from cnnlib.explore.analysis import (SALIENCY_CMAP, ChannelPicture, ConfusionExplorer, ConfusionMatrixPicture,
                                     FeatureMapExplorer, FeatureMapsPicture, FiltersPicture, SaliencyGridPicture,
                                     layer_label, layer_outputs, plot_confusion_matrix, plot_feature_maps,
                                     plot_filters, plot_saliency_grid, saliency_map)
from cnnlib.explore.images import DIGIT_CMAP
from cnnlib.gradcheck import numerical_gradient, relative_error
from cnnlib.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from cnnlib.model import Sequential, build_lenet, build_seed_net
from cnnlib.train import to_input


# ---------------------------------------------------------------------------- data

@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), (x_test, y_test) = load_mnist()
    return x_test[:60], y_test[:60]


@pytest.fixture(scope="module")
def lenet():
    return build_lenet(rng=0).astype(np.float32)


def tiny_model(rng=0):
    """Conv -> ReLU -> pool -> linear on 8x8 inputs, float64: small enough to check numerically."""
    return Sequential(Conv2d(1, 2, 3, rng=rng), ReLU(), MaxPool2d(2), Flatten(), Linear(2 * 3 * 3, 4, rng=rng))


# ---------------------------------------------------------------------------- saliency, layer outputs

@pytest.mark.parametrize("class_index", [0, 3])
def test_saliency_map_matches_numerical_gradient(class_index, rng):
    model = tiny_model()
    image = rng.normal(size=(1, 8, 8))
    before = image.copy()
    got = saliency_map(model, image, class_index)
    assert got.shape == (8, 8)
    assert np.array_equal(image, before), "saliency_map must not change the image"

    x = image.copy()
    numeric = numerical_gradient(lambda: model.forward(x[None])[0, class_index], x)   # (1, 8, 8)
    assert relative_error(got, np.abs(numeric[0])) < 1e-7
    assert np.abs(numeric).max() > 0, "a degenerate test: the score does not depend on the image"


def test_saliency_map_takes_2d_images_and_float32_models(digits):
    model = build_seed_net(rng=0).astype(np.float32)
    x = to_input(digits[0][:1])[0]                      # (1, 28, 28)
    a = saliency_map(model, x, 7)
    b = saliency_map(model, x[0], 7)                    # (28, 28) works too
    assert a.shape == b.shape == (28, 28) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert (a >= 0).all() and a.max() > 0


def test_saliency_map_rejects_bad_input():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"class_index must be an integer in \[0, 3\]"):
        saliency_map(model, np.zeros((1, 8, 8)), 4)
    with pytest.raises(ValueError, match="expected one float image"):
        saliency_map(model, np.zeros((2, 1, 8, 8)), 0)
    with pytest.raises(ValueError, match="expected one float image"):
        saliency_map(model, np.zeros((8, 8), dtype=np.uint8), 0)


def test_layer_outputs_are_the_layers_own_outputs(rng):
    model = tiny_model()
    x = rng.normal(size=(2, 1, 8, 8))
    outputs = layer_outputs(model, x)
    assert len(outputs) == len(model.layers)
    h = x
    for layer, out in zip(model.layers, outputs):
        h = layer.forward(h)
        np.testing.assert_array_equal(out, h)
    assert outputs[-1].shape == (2, 4)


def test_layer_labels_are_short_and_whole(lenet):
    labels = [layer_label(lenet, i) for i in range(len(lenet.layers))]
    assert labels[0] == "0: Conv2d(1→8, k=5)" and labels[2] == "2: MaxPool2d(k=2, stride=2)"
    assert max(len(label) for label in labels) <= 28


# ---------------------------------------------------------------------------- feature-map explorer

def test_feature_map_explorer_layers_channels_and_maps(digits, lenet, close_after):
    images, labels = digits
    fm = FeatureMapExplorer(lenet, images[:5], labels[:5])
    close_after(fm)
    assert fm.layer_indices == [0, 1, 2, 3, 4, 5]
    assert fm.marker.value == "drawn #1" and fm.png.startswith(PNG_SIGNATURE)
    assert fm.channel_slider.max == 7                       # Conv2d(1→8)

    fm.layer_menu.value = 3                                 # Conv2d(8→16)
    assert fm.channel_slider.max == 15
    fm.channel_slider.value = 12
    fm.layer_menu.value = 2                                 # back to 8 channels: 12 is clamped
    assert fm.channel_slider.max == 7 and fm.channel_slider.value == 7
    fm.show_all.value = True
    fm.image_slider.value = 4
    assert fm.marker.value == f"drawn #{fm.draw_count}" and fm.status.value == ""
    assert fm.png.startswith(PNG_SIGNATURE)

    # The explorer shows the layers' own outputs for that image.
    x = to_input(images[4:5])
    for i, layer in enumerate(lenet.layers[:6]):
        x = layer.forward(x)
        np.testing.assert_array_equal(fm.activations(4)[i], x[0])


def test_feature_map_explorer_checks_its_input(digits):
    model = build_lenet(rng=0)
    with pytest.raises(ValueError, match="FeatureMapExplorer: expected a batch of model inputs"):
        FeatureMapExplorer(model, np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match="expected 2 labels"):
        FeatureMapExplorer(model, digits[0][:2], digits[1][:3])
    with pytest.raises(ValueError, match="no Conv2d, ReLU or pooling layer"):
        FeatureMapExplorer(Sequential(Flatten(), Linear(784, 10, rng=0)), digits[0][:2])


def test_feature_map_explorer_updates_in_place(digits, lenet, close_after):
    images, labels = digits
    fm = FeatureMapExplorer(lenet, images[:5], labels[:5])
    close_after(fm)
    assert_redrawn_in_place(fm, lambda: setattr(fm.image_slider, "value", 3), full_draws=1)
    assert_redrawn_in_place(fm, lambda: setattr(fm.channel_slider, "value", 5), full_draws=1)
    assert_redrawn_in_place(fm, lambda: setattr(fm.layer_menu, "value", 4))   # ReLU 8x8: a new layer name
    picture = fm.picture
    np.testing.assert_array_equal(picture.input_image.get_array(), to_input(images[3:4])[0, 0])
    maps = fm.activations(3)[4]
    shown = picture.map_image.get_array()                   # the map on its own scale
    np.testing.assert_allclose(shown, (maps[5] - maps[5].min()) / (maps[5].max() - maps[5].min()), rtol=1e-6)
    assert picture.map_image.get_cmap().name == "gray"      # after ReLU: nothing negative
    assert picture.ax_map.get_title() == "layer 4: ReLU()"
    assert picture.map_text.get_text().startswith("channel 5 of 16, 8x8\nfrom 0 to ")
    assert picture.ax_in.get_title() == f"input #3 (label {labels[3]})"
    assert_like_a_plain_drawing(fm)


def test_feature_map_explorer_signed_maps_and_colour_bar(digits, lenet, close_after):
    fm = FeatureMapExplorer(lenet, digits[0][:5])
    close_after(fm)
    picture = fm.picture
    maps = fm.activations(0)[0]                             # Conv2d: signed
    limit = np.abs(maps[0]).max()
    np.testing.assert_allclose(picture.map_image.get_array(), maps[0] / limit, rtol=1e-6)
    assert picture.map_image.get_cmap().name == "RdBu_r" and picture.map_image.get_clim() == (-1, 1)
    assert [t.get_text() for t in picture.cax.get_yticklabels()] == ["-max", "0", "+max"]
    assert f"to {maps[0].max():.3g}" in picture.map_text.get_text()


def test_feature_map_explorer_grid_frames_the_channel(digits, lenet, close_after):
    images, _ = digits
    fm = FeatureMapExplorer(lenet, images[:5])
    close_after(fm)
    fm.show_all.value = True
    grid = fm.picture.grid
    assert len(grid.axes) == 8 and grid.highlight == 0
    assert_redrawn_in_place(fm, lambda: setattr(fm.channel_slider, "value", 6), full_draws=2)
    box = grid.axes[6].get_position(original=True)         # (the other form marks the figure stale)
    assert grid.frame.get_visible() and grid.frame.get_bbox().bounds == pytest.approx(box.bounds)
    assert_redrawn_in_place(fm, lambda: setattr(fm.image_slider, "value", 2), full_draws=2)
    for c, ax in enumerate(grid.axes):
        np.testing.assert_array_equal(ax.images[0].get_array(), fm.activations(2)[0][c])
    assert_like_a_plain_drawing(fm)


def test_feature_map_explorer_fits_the_screen_and_hides_its_marker(digits, lenet, close_after):
    fm = FeatureMapExplorer(lenet, digits[0][:5], digits[1][:5])
    close_after(fm)
    assert_no_test_marker_visible(fm)
    # Menu labels whole: short, and the menu as wide as its longest label.
    assert all(len(label) <= 28 for label, _ in fm.layer_menu.options)
    assert fm.layer_menu.layout.width in (None, "", "max-content", "auto")
    assert png_size(fm.png)[0] <= MAX_WIDTH_PX
    for layer in (0, 3):                                   # 8 and 16 channels in the grid
        fm.layer_menu.value = layer
        fm.show_all.value = True
        assert_fits_the_screen(fm, controls_px(2))     # four controls wrap onto two rows
        fm.show_all.value = False


# ---------------------------------------------------------------------------- confusion explorer

def test_confusion_explorer_counts_and_clicks(digits, close_after):
    images, labels = digits
    model = build_seed_net(rng=0).astype(np.float32)
    ce = ConfusionExplorer(model, images, labels, max_shown=4)
    close_after(ce)
    pred = model.predict(to_input(images)).argmax(axis=1)
    expected = np.zeros((10, 10), dtype=int)
    for t, p in zip(labels, pred):
        expected[t, p] += 1
    np.testing.assert_array_equal(ce.cm, expected)
    assert [[b.description for b in row] for row in ce.buttons] == expected.astype(str).tolist()
    off = expected * (1 - np.eye(10, dtype=int))
    assert ce.cm[ce.selected] == off.max() and ce.selected[0] != ce.selected[1]
    assert ce.marker.value == "drawn #1" and ce.png.startswith(PNG_SIGNATURE)

    t, p = map(int, np.argwhere(off)[-1])                  # another cell with mistakes in it
    ce.buttons[t][p].click()
    assert ce.selected == (t, p) and ce.draw_count == 2
    assert ce.buttons[t][p].style.font_weight == "bold"
    framed = [(i, j) for i in range(10) for j in range(10) if ce.buttons[i][j].layout.border]
    assert framed == [(t, p)], "only the selected cell is framed"
    idx = ce.examples(t, p)
    assert len(idx) == expected[t, p] and (labels[idx] == t).all() and (pred[idx] == p).all()
    confidence = ce.probs[idx, p]
    assert (np.diff(confidence) <= 0).all(), "most confident first"

    ce.explain.value = "true"
    assert ce.draw_count == 3 and ce.marker.value == "drawn #3"
    assert ce.picture.title.get_text().endswith(f"saliency of class {t}")
    empty = tuple(map(int, np.argwhere(expected == 0)[0]))
    ce.select(*empty)                                       # an empty cell draws a note, no error
    assert ce.marker.value == "drawn #4" and ce.status.value == ""
    assert "nothing to show" in ce.picture.title.get_text()
    with pytest.raises(ValueError, match="classes must be in"):
        ce.select(10, 0)


def test_confusion_explorer_says_1_mistake_not_1_mistakes(close_after):
    # Two classes on 2x2 "images": the model calls every example class 0.
    model = Sequential(Flatten(), Linear(4, 2, rng=0))
    model.layers[1].params["w"][:] = 0.0
    model.layers[1].params["b"][:] = [1.0, 0.0]
    x = np.ones((3, 1, 2, 2))
    ce = ConfusionExplorer(model, x, np.array([1, 0, 0]))
    close_after(ce)
    assert ce.selected == (1, 0)
    assert ce.picture.title.get_text().startswith("true 1, predicted 0: 1 mistake\n")
    ce.select(0, 0)
    assert ce.picture.title.get_text().startswith("true 0, predicted 0: 2 correct\n")


def test_confusion_explorer_checks_labels(digits):
    images, labels = digits
    model = build_seed_net(rng=0)
    with pytest.raises(ValueError, match="expected 60 integer labels"):
        ConfusionExplorer(model, images, labels[:10])
    with pytest.raises(ValueError, match="labels must be in"):
        ConfusionExplorer(model, images, labels + 10)
    with pytest.raises(ValueError, match="ConfusionExplorer: max_shown must be an integer >= 1"):
        ConfusionExplorer(model, images, labels, max_shown=0)


def test_confusion_explorer_keeps_one_picture(digits, close_after):
    images, labels = digits
    model = build_seed_net(rng=0).astype(np.float32)
    ce = ConfusionExplorer(model, images, labels, max_shown=3)
    close_after(ce)
    full = [tuple(map(int, c)) for c in np.argwhere(ce.cm >= 3)]          # cells with three digits to show
    first, second = full[0], full[1]
    ce.select(*first)
    picture = ce.picture
    assert_redrawn_in_place(ce, lambda: ce.select(*second), full_draws=1)
    shown = [im.get_array() for im in picture.digits]
    expected = to_input(images[ce.examples(*second)[:3]])[:, 0]
    np.testing.assert_array_equal(np.stack(shown), expected)
    assert picture.title.get_text().startswith(f"true {second[0]}, predicted {second[1]}")
    # An empty cell and a cell with one digit: the same picture, panels hidden, no full redraw.
    empty = tuple(map(int, np.argwhere(ce.cm == 0)[0]))
    assert_redrawn_in_place(ce, lambda: ce.select(*empty), full_draws=1)
    assert not any(im.get_visible() for im in picture.digits + picture.maps)
    one = tuple(map(int, np.argwhere(ce.cm == 1)[0]))
    assert_redrawn_in_place(ce, lambda: ce.select(*one), full_draws=1)
    assert [im.get_visible() for im in picture.digits] == [True, False, False]
    assert_like_a_plain_drawing(ce)


def test_confusion_explorer_fits_beside_its_matrix(digits, close_after):
    images, labels = digits
    ce = ConfusionExplorer(build_seed_net(rng=0).astype(np.float32), images, labels, max_shown=8)
    close_after(ce)
    assert_no_test_marker_visible(ce)
    # The matrix (a column of buttons and the toggle) and the picture share one row.
    row = next(w for w in ce.widget.children if ce.image in getattr(w, "children", ()))
    assert ce.grid in list(walk(row)) and ce.explain in list(walk(row))
    K = ce.n_classes
    matrix_px = ce.LABEL_PX + K * (ce.CELL_PX + 2)
    matrix_height = (K + 1) * 28 + CONTROL_ROW_PX
    width, height = png_size(ce.png)
    assert matrix_px + width <= MAX_WIDTH_PX, f"{matrix_px} px of matrix + {width} px of picture"
    assert TITLE_PX + max(matrix_height, height) <= SCREEN_HEIGHT_PX


def title_overlaps(picture):
    """Pairs (k, l) of slots whose visible digit titles overlap on the canvas, as drawn."""
    renderer = picture.fig.canvas.get_renderer()
    boxes = [(k, ax.title.get_window_extent(renderer)) for k, ax in enumerate(picture.digit_axes)
             if ax.title.get_visible()]
    return [(k, l) for a, (k, box) in enumerate(boxes) for l, other in boxes[a + 1:] if box.overlaps(other)]


def assert_titles_above_their_digits(picture):
    """Every visible digit title sits just above its own digit (within 10 px), none overlap,
    and the hidden slots' titles are hidden."""
    renderer = picture.fig.canvas.get_renderer()
    n = sum(im.get_visible() for im in picture.digits)
    assert [ax.title.get_visible() for ax in picture.digit_axes] == [k < n for k in range(picture.slots)]
    assert title_overlaps(picture) == []
    for ax in picture.digit_axes[:n]:
        title, frame = ax.title.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert frame.y1 - 1 <= title.y0 <= frame.y1 + 10, \
            f"title at {title.y0:.0f} px, its digit's top at {frame.y1:.0f} px"


def test_saliency_grid_titles_stay_on_their_row_when_more_digits_show(rng):
    # Seen in a browser: 4 digits, then 8; the second row's titles were drawn over the first
    # row's (matplotlib had moved the hidden titles there at the first full draw).
    titles = [f"#{k}\np(3)=0.9{k}" for k in range(8)]
    grid = SaliencyGridPicture(rng.random((4, 8, 8)), rng.random((4, 8, 8)), titles[:4], slots=8, n_cols=4,
                               cell_size=0.9, title="four\nsaliency", live=True)
    grid.png()
    assert_titles_above_their_digits(grid)
    grid.update(rng.random((8, 8, 8)), rng.random((8, 8, 8)), titles, title="eight\nsaliency")
    grid.png()
    assert grid.full_draws == 1, "the blitted frame is what we check"
    assert_titles_above_their_digits(grid)
    grid.update(rng.random((3, 8, 8)), rng.random((3, 8, 8)), titles[:3], title="three\nsaliency")
    grid.png()
    assert_titles_above_their_digits(grid)


def test_confusion_explorer_titles_do_not_overlap_after_a_bigger_cell(rng, close_after):
    # A model that calls everything 0: cell (1, 0) holds 4 digits (one row), (0, 0) ten
    # (two rows of the 8 shown).
    model = Sequential(Flatten(), Linear(16, 2, rng=0))
    model.layers[1].params["b"][:] = [5.0, 0.0]
    ce = ConfusionExplorer(model, rng.random((14, 1, 4, 4)), np.array([0] * 10 + [1] * 4), max_shown=8)
    close_after(ce)
    small, big = (1, 0), (0, 0)
    assert ce.cm[small] == 4 and ce.cm[big] == 10
    ce.select(*small)
    assert_titles_above_their_digits(ce.picture)
    ce.select(*big)
    assert ce.status.value == ""
    assert [im.get_visible() for im in ce.picture.digits] == [True] * 8
    assert_titles_above_their_digits(ce.picture)
    ce.select(*small)
    assert_titles_above_their_digits(ce.picture)
    assert_like_a_plain_drawing(ce)


def test_confusion_matrix_corner_fits_on_one_line(digits, close_after):
    # "true \ pred" wrapped in its 44 px column. The corner's text, measured in DejaVu Sans
    # (what Chromium on Debian uses for the widgets' sans-serif, wider than most system
    # fonts) at the size of <small> in a 13 px widget font, fits the label column with a
    # few pixels to spare before the first column's number. (In JupyterLab with Chromium the
    # corner then is one line, 29 px tall, where the old one wrapped onto two.)
    images, labels = digits
    ce = ConfusionExplorer(build_seed_net(rng=0).astype(np.float32), images, labels)
    close_after(ce)
    corner = ce.grid.children[0]
    text = re.sub(r"<[^>]+>", "", corner.value)
    assert "true" in text and "pred" in text and text == ce.CORNER
    width = RendererAgg(10, 10, 72).get_text_width_height_descent(
        text, FontProperties(family="DejaVu Sans", size=13 * 5 / 6), ismath=False)[0]
    assert corner.layout.width == f"{ce.LABEL_PX}px"
    assert width + 4 <= ce.LABEL_PX, f"the corner needs {width:.0f} px and a gap, its column is {ce.LABEL_PX} px"
    assert ce.grid.layout.grid_template_columns.startswith(f"{ce.LABEL_PX}px ")


def test_digits_are_white_ink_on_black_everywhere_in_lesson_6(digits, lenet, close_after):
    # One convention in every lesson: bright = large (DIGIT_CMAP); saliency keeps its own map.
    images, labels = digits
    ce = ConfusionExplorer(build_seed_net(rng=0).astype(np.float32), images, labels, max_shown=4)
    close_after(ce)
    assert {im.get_cmap().name for im in ce.picture.digits} == {DIGIT_CMAP} == {"gray"}
    assert {im.get_cmap().name for im in ce.picture.maps} == {SALIENCY_CMAP}
    ink = ce.picture.digits[0]
    assert ink.cmap(ink.norm(ink.get_array().max()))[:3] == (1, 1, 1), "the ink is white"
    fm = FeatureMapExplorer(lenet, images[:2])
    close_after(fm)
    assert fm.picture.input_image.get_cmap().name == DIGIT_CMAP
    static = plot_saliency_grid(np.zeros((2, 8, 8)), np.ones((2, 8, 8)))
    assert [ax.images[0].get_cmap().name for ax in static.axes] == [DIGIT_CMAP, SALIENCY_CMAP] * 2


# ---------------------------------------------------------------------------- the lesson-6 pictures

def test_plot_confusion_matrix_writes_the_counts():
    cm = np.array([[5, 1, 0], [0, 7, 2], [1, 0, 9]])
    fig = plot_confusion_matrix(cm, title="t")
    texts = sorted(t.get_text() for t in fig.axes[0].texts if t.get_visible() and t.get_text())
    assert texts == sorted(str(n) for n in cm.ravel() if n)                  # zeros stay blank
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), np.sqrt(cm))
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))


def test_plot_filters_lays_kernels_out_in_a_mosaic():
    w = np.zeros((3, 2, 5, 5))
    w[2, 1, 0, 0] = 1.0
    image = plot_filters(w).axes[0].images[0].get_array()
    assert image.shape == (3 * 6 - 1, 2 * 6 - 1)                             # 1-pixel gaps
    assert image[2 * 6, 1 * 6] == 1.0 and image.mask[5, 0]                   # row = output, column = input
    assert plot_filters(np.ones((8, 1, 3, 3))).axes[0].images[0].get_array().shape == (3, 8 * 4 - 1)
    with pytest.raises(ValueError, match="C_out, C_in, KH, KW"):
        plot_filters(np.ones((8, 3, 3)))


def test_plot_feature_maps_and_saliency_grid():
    fig = plot_feature_maps(np.random.default_rng(0).normal(size=(10, 6, 6)), n_cols=4, highlight=3)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 10 and [ax.get_title() for ax in shown] == [str(c) for c in range(10)]
    assert shown[0].images[0].get_cmap().name == "RdBu_r"                    # signed maps: diverging
    frame = [a for a in fig.artists if a.get_visible()]                     # the orange highlight
    assert len(frame) == 1 and frame[0].get_bbox().bounds == pytest.approx(shown[3].get_position().bounds)
    assert plot_feature_maps(np.ones((2, 4, 4))).axes[0].images[0].get_cmap().name == "gray"
    fig = plot_saliency_grid(np.zeros((3, 8, 8)), np.ones((3, 8, 8)), ["a", "b", "c"])
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "a"
    with pytest.raises(ValueError, match="same shape"):
        plot_saliency_grid(np.zeros((3, 8, 8)), np.ones((2, 8, 8)))


@pytest.mark.parametrize("make", [
    lambda live: ConfusionMatrixPicture(np.array([[5, 1], [0, 7]]), title="cm", live=live),
    lambda live: FiltersPicture(np.random.default_rng(1).normal(size=(4, 3, 3, 3)), title="w", live=live),
    lambda live: FeatureMapsPicture(np.random.default_rng(2).normal(size=(5, 6, 6)), title="maps", highlight=2,
                                    live=live),
    lambda live: SaliencyGridPicture(np.random.default_rng(3).random((3, 8, 8)),
                                     np.random.default_rng(4).random((3, 8, 8)), ["a", "b", "c"], title="s",
                                     live=live),
    lambda live: ChannelPicture(np.random.default_rng(5).random((8, 8)),
                                np.random.default_rng(6).normal(size=(4, 6, 6)), 1, titles=("in", "layer", "all"),
                                show_all=True, live=live),
], ids=["confusion", "filters", "feature maps", "saliency grid", "channel"])
def test_one_code_path_static_and_live_draw_the_same(make):
    static, live = make(False), make(True)
    assert not static.live and live.live
    assert static.fig.get_size_inches().tolist() == live.fig.get_size_inches().tolist()
    assert_same_picture(static.fig, live.fig)                # the same artists; live ones animated
    assert static.fig.findobj(lambda a: type(a).__name__ == "AxesImage"), "the picture shows images"
    assert live.png().startswith(PNG_SIGNATURE)


def test_pictures_update_in_place_and_check_their_input(rng):
    maps = FeatureMapsPicture(rng.normal(size=(4, 5, 5)), live=True)
    maps.png()
    new = np.abs(rng.normal(size=(4, 5, 5)))
    maps.update(new, highlight=1)
    maps.png()
    assert maps.full_draws == 1, "new maps and a new frame redraw only what is animated"
    np.testing.assert_array_equal(maps.images[3].get_array(), new[3])
    with pytest.raises(ValueError, match="FeatureMapsPicture: this picture shows 4 maps, got 3"):
        maps.update(new[:3])
    with pytest.raises(ValueError, match=r"FeatureMapsPicture: expected maps of shape \(C, H, W\)"):
        FeatureMapsPicture(np.zeros((4, 4)))
    grid = SaliencyGridPicture(rng.random((2, 6, 6)), rng.random((2, 6, 6)), slots=4, n_cols=2, title="t", live=True)
    grid.png()
    grid.update(rng.random((4, 6, 6)), rng.random((4, 6, 6)), list("abcd"), title="four")
    grid.png()
    assert grid.full_draws == 1 and grid.title.get_text() == "four"
    with pytest.raises(ValueError, match="room for 4 digits, got 5"):
        grid.update(np.zeros((5, 6, 6)), np.zeros((5, 6, 6)))
    with pytest.raises(ValueError, match="expected 1 titles, got 2"):
        grid.update(np.zeros((1, 6, 6)), np.zeros((1, 6, 6)), ["a", "b"])
    filters = FiltersPicture(rng.normal(size=(2, 1, 3, 3)), live=True)
    filters.png()
    filters.update(rng.normal(size=(2, 1, 3, 3)))
    filters.png()
    assert filters.full_draws == 1
    with pytest.raises(ValueError, match="FiltersPicture: this picture shows a mosaic"):
        filters.update(rng.normal(size=(3, 1, 3, 3)))
    cm = ConfusionMatrixPicture(np.eye(3, dtype=int), live=True)
    with pytest.raises(ValueError, match="ConfusionMatrixPicture: this picture shows"):
        cm.update(np.eye(4, dtype=int))
    with pytest.raises(ValueError, match="ChannelPicture: channel must be in"):
        ChannelPicture(np.zeros((4, 4)), np.zeros((2, 3, 3)), 2)


def test_explorer_controls_are_ipywidgets_that_a_benchmark_can_find(digits, lenet, close_after):
    fm = FeatureMapExplorer(lenet, digits[0][:3])
    close_after(fm)
    kinds = (widgets.IntSlider, widgets.Dropdown)
    found = [w for w in walk(fm.widget) if isinstance(w, kinds)]
    assert set(map(id, found)) == {id(fm.image_slider), id(fm.layer_menu), id(fm.channel_slider)}

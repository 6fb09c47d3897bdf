"""Receptive fields (lesson 3): the formula's table, the region a backward pass measures (they
must agree, padding, strides, overlapping pools and non-square inputs included), the picture
and the explorer (controls, one figure updated in place, a laptop screen, bad input)."""
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pytest
from explorer_helpers import (CONTROL_ROW_PX, TITLE_PX, assert_fits_the_screen, assert_like_a_plain_drawing,
                              assert_no_test_marker_visible, assert_redrawn_in_place, assert_same_picture, drawn)

from cnnlib.explore.receptive import (ReceptiveFieldExplorer, ReceptiveFieldPicture, influence_map,
                                      plot_receptive_field, receptive_field_box, receptive_fields)
from cnnlib.layers import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU
from cnnlib.model import build_lenet

STACKS = {
    "lenet": lambda: build_lenet(rng=0)[:6],
    "padded, strided, overlapping": lambda: [Conv2d(1, 2, 3, padding=1, rng=0), ReLU(), MaxPool2d(3, stride=2),
                                             Conv2d(2, 3, 5, stride=2, padding=2, rng=1), AvgPool2d(2),
                                             Conv2d(3, 2, 2, rng=2)],
    "stride 3 then 1x1": lambda: [Conv2d(1, 1, 4, stride=3, rng=0), Conv2d(1, 2, 1, rng=1), MaxPool2d(2, stride=1)],
}


def box_mask(box, shape):
    top, bottom, left, right = box
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def explicit_window(stack, layer, unit, size):
    """The field by brute force, without the formula or a backward pass: follow the windows
    back layer by layer, as sets of positions (rows and columns separately)."""
    rows_cols = [{unit[0]}, {unit[1]}]
    for stage in reversed(list(stack)[:layer + 1]):
        if isinstance(stage, Conv2d):
            k, s, p = stage.kernel_size, stage.stride, stage.padding
        elif isinstance(stage, (MaxPool2d, AvgPool2d)):
            k, s, p = stage.kernel_size, stage.stride, 0
        else:
            continue
        rows_cols = [{i * s - p + q for i in axis for q in range(k)} for axis in rows_cols]
    mask = np.zeros(size, dtype=bool)
    rows = sorted(r for r in rows_cols[0] if 0 <= r < size[0])
    cols = sorted(c for c in rows_cols[1] if 0 <= c < size[1])
    mask[np.ix_(rows, cols)] = True
    return mask


# ---------------------------------------------------------------- the formula and the measurement

def test_lenet_table_follows_the_formula_by_hand():
    rows = receptive_fields(build_lenet(rng=0)[:6], (28, 28))
    # conv 5: r = 1 + 4*1; ReLU: same; pool 2: r = 5 + 1*1, j = 2; conv 5: r = 6 + 4*2; pool 2: r = 14 + 1*2, j = 4
    assert [(row.r, row.jump, row.start, row.size) for row in rows] == [
        (5, 1, 0, (24, 24)), (5, 1, 0, (24, 24)), (6, 2, 0, (12, 12)),
        (14, 2, 0, (8, 8)), (14, 2, 0, (8, 8)), (16, 4, 0, (4, 4))]
    assert [row.index for row in rows] == list(range(6)) and isinstance(rows[1].layer, ReLU)


def test_padding_moves_the_start_into_the_padding():
    rows = receptive_fields([Conv2d(1, 1, 3, padding=1), Conv2d(1, 1, 3, stride=2, padding=1)], (9, 7))
    assert [(row.r, row.jump, row.start, row.size) for row in rows] == [(3, 1, -1, (9, 7)), (5, 2, -2, (5, 4))]
    assert receptive_field_box(rows, 1, (0, 0), (9, 7)) == (0, 3, 0, 3)          # cut to the image
    assert receptive_field_box(rows, 1, (4, 3), (9, 7)) == (6, 9, 4, 7)


@pytest.mark.parametrize("name", list(STACKS))
@pytest.mark.parametrize("size", [(28, 28), (23, 30)])
def test_backward_pass_region_is_the_formulas_box(name, size):
    """The non-zero pattern of d(unit)/d(input) equals the formula's box, and a brute-force
    walk back through the windows, for every layer and a spread of units."""
    stack = STACKS[name]()
    rows = receptive_fields(stack, size)
    checked = 0
    for row in rows:
        H_out, W_out = row.size
        for unit in itertools.product(sorted({0, H_out // 2, H_out - 1}), sorted({0, W_out // 3, W_out - 1})):
            region = influence_map(stack, size, row.index, unit) != 0
            box = box_mask(receptive_field_box(rows, row.index, unit, size), size)
            np.testing.assert_array_equal(region, box, err_msg=f"{name}, layer {row.index}, unit {unit}")
            np.testing.assert_array_equal(region, explicit_window(stack, row.index, unit, size))
            checked += 1
    assert checked >= 3 * len(rows)


def test_influence_is_positive_inside_and_largest_in_the_middle():
    stack = STACKS["lenet"]()
    influence = influence_map(stack, (28, 28), 5, (1, 1))
    assert influence.min() == 0 and (influence >= 0).all()
    inside = influence[4:20, 4:20]
    assert (inside > 0).all()
    assert inside[7:9, 7:9].min() == inside.max() > 10 * inside[0, 0]            # many more paths from the middle


def test_the_real_gradient_stays_inside_the_field():
    """With max pooling and ReLU the gradient of a real unit reaches only part of its field,
    never beyond it: the field is what *can* influence the unit."""
    stack = STACKS["lenet"]()
    digit = np.random.default_rng(3).random((28, 28))
    x = digit[None, None]
    for stage in stack:
        x = stage.forward(x)
    unit = np.unravel_index(np.argmax(x[0, 0]), x.shape[2:])        # a unit ReLU lets through
    assert x[0, 0][unit] > 0
    dout = np.zeros_like(x)
    dout[0, 0][unit] = 1.0
    for stage in reversed(stack):
        dout = stage.backward(dout)
    real = dout[0, 0] != 0
    field = influence_map(stack, (28, 28), 5, unit) != 0
    assert real.any() and not (real & ~field).any() and real.sum() < field.sum()


def test_formula_functions_reject_bad_input():
    stack = STACKS["lenet"]()
    rows = receptive_fields(stack, (28, 28))
    with pytest.raises(ValueError, match="the stack is empty"):
        receptive_fields([], (28, 28))
    with pytest.raises(ValueError, match=r"layer 6, Flatten\(\), is not a convolution, pooling or element-wise"):
        receptive_fields(build_lenet(rng=0), (28, 28))
    with pytest.raises(ValueError, match="input_size must be a pair"):
        receptive_fields(stack, 28)
    with pytest.raises(ValueError, match=r"layer 3, Conv2d.* does not take a 8x1x1 input .*smaller than the kernel"):
        receptive_fields(stack, (6, 6))                                            # 6 -> 2 -> 1: no room for 5x5
    with pytest.raises(ValueError, match=r"unit \(4, 0\) is outside layer 5's 4x4 output"):
        receptive_field_box(rows, 5, (4, 0), (28, 28))
    with pytest.raises(ValueError, match="layer must be an index into the stack, 0 to 5"):
        influence_map(stack, (28, 28), 6, (0, 0))
    with pytest.raises(ValueError, match="unit must be a pair"):
        influence_map(stack, (28, 28), 0, 3)


# ---------------------------------------------------------------- the picture and the explorer

@pytest.fixture
def digit():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 13:16] = 255                         # a vertical stroke
    image[5:8, 6:22] = 200                           # and a bar
    return image


def test_explorer_starts_on_the_last_layer_and_shows_the_field(digit, close_after):
    ex = ReceptiveFieldExplorer(digit, build_lenet(rng=0)[:6])
    close_after(ex)
    drawn(ex)
    assert [index for _, index in ex.layer.options] == [0, 2, 3, 5]                 # ReLUs change no field
    assert ex.layer.value == 5 and (ex.row.value, ex.column.value) == (1, 1)
    assert ex.box == (4, 20, 4, 20)
    np.testing.assert_array_equal(ex.influence != 0, box_mask(ex.box, (28, 28)))
    pic = ex.picture
    shade = pic.shade.get_array()
    assert (shade[..., 3] > 0).sum() == 28 * 28 - 16 * 16                         # shaded outside only
    assert pic.input_frame[0].get_bbox().bounds == (3.5, 3.5, 16, 16)
    assert ex.fig.axes[0].get_title() == "input 28x28: the 16x16 pixels\nthat can reach the unit"
    np.testing.assert_allclose(pic.map_image.get_array(), pic.maps[5][0])


def test_moving_the_unit_moves_the_field_by_the_jump(digit, close_after):
    ex = ReceptiveFieldExplorer(digit, build_lenet(rng=0)[:6])
    close_after(ex)
    before = ex.png
    ex.row.value = 3
    assert ex.png != before and ex.draw_count == 2
    assert ex.box == (12, 28, 4, 20)                                                # 4 rows (the jump) per unit
    ex.column.value = 0
    assert ex.box == (12, 28, 0, 16) and ex.draw_count == 3
    assert ex.fig.axes[2].get_title() == "layer 5 (MaxPool2d), channel 0: 4x4\nunit (3, 0)"


def test_changing_the_layer_keeps_the_field_around_the_same_place(digit, close_after):
    ex = ReceptiveFieldExplorer(digit, build_lenet(rng=0)[:6])
    close_after(ex)
    sizes = []
    for layer in (3, 2, 0):
        draws = ex.draw_count
        ex.layer.value = layer
        assert ex.draw_count == draws + 1, "one picture per layer change, however the sliders move"
        top, bottom, left, right = ex.box
        sizes.append(bottom - top)
        assert abs((top + bottom) / 2 - 12) <= 2 and abs((left + right) / 2 - 12) <= 2
        H_out, W_out = ex.rows[layer].size
        assert (ex.row.max, ex.column.max) == (H_out - 1, W_out - 1)
    assert sizes == [14, 6, 5]
    ex.row.value = 23                                                                 # the 24x24 map's last row
    ex.layer.value = 5                                                                # back to 4x4: clamped
    assert ex.row.value == 3 and ex.row.max == 3 and ex.status.value == ""


def test_explorer_updates_in_place(digit, close_after):
    ex = ReceptiveFieldExplorer(digit, build_lenet(rng=0)[:6])
    close_after(ex)
    assert_redrawn_in_place(ex, lambda: ex.row.__setattr__("value", 2), full_draws=1)   # only what moves
    assert_redrawn_in_place(ex, lambda: ex.column.__setattr__("value", 0), full_draws=1)
    assert_redrawn_in_place(ex, lambda: ex.layer.__setattr__("value", 0))
    assert ex.fig.axes[2].get_xlim() == (-0.5, 23.5)
    assert_like_a_plain_drawing(ex)


def test_static_picture_is_the_live_pictures_first_drawing(digit):
    stack = STACKS["padded, strided, overlapping"]()
    for kwargs in ({}, {"layer": 3, "unit": (0, 6)}, {"layer": 0, "unit": (27, 0)}):
        fig = plot_receptive_field(digit, stack, title="a title", **kwargs)
        assert len(fig.axes) == 3
        assert_same_picture(fig, ReceptiveFieldPicture(digit, stack, title="a title", live=True, **kwargs).fig)
        plt.close(fig)


def test_a_field_cut_by_the_border_says_so(digit):
    stack = STACKS["padded, strided, overlapping"]()
    pic = ReceptiveFieldPicture(digit, stack, layer=3, unit=(0, 0), live=True)
    row = pic.rows[3]
    assert pic.box[:2] == (0, row.r + row.start) and row.start < 0
    assert pic.axes[0].get_title().endswith(f"(of {row.r}x{row.r}; the rest is padding)")


def test_an_error_while_updating_is_shown_and_the_next_move_rebuilds(digit, monkeypatch, close_after):
    ex = ReceptiveFieldExplorer(digit, build_lenet(rng=0)[:6])
    close_after(ex)
    fig, png = ex.fig, ex.png
    monkeypatch.setattr(type(ex.picture), "update", lambda *a, **k: 1 / 0)
    ex.row.value = 0
    assert "ZeroDivisionError" in ex.status.value and ex.png == png
    monkeypatch.undo()
    ex.row.value = 2
    assert ex.status.value == "" and ex.fig is not fig and ex.box == (8, 24, 4, 20)


def test_explorer_rejects_bad_input(digit):
    stack = build_lenet(rng=0)[:6]
    with pytest.raises(ValueError, match="expected one 2-D image"):
        ReceptiveFieldExplorer(np.zeros((1, 28, 28)), stack)
    with pytest.raises(ValueError, match="layer 1 .*is element-wise; pick a convolution or pooling"):
        ReceptiveFieldExplorer(digit, stack, layer=1)
    with pytest.raises(ValueError, match="layer must be an index into the stack"):
        ReceptiveFieldExplorer(digit, stack, layer=-1)
    with pytest.raises(ValueError, match=r"unit \(0, 12\) is outside layer 2's 12x12 output"):
        ReceptiveFieldExplorer(digit, stack, layer=2, unit=(0, 12))
    with pytest.raises(ValueError, match="no convolution or pooling layer"):
        ReceptiveFieldExplorer(digit, [ReLU()])
    with pytest.raises(ValueError, match=r"Linear.*does not take a 1x28x28 input"):
        ReceptiveFieldExplorer(digit, [Linear(784, 10, rng=0)])
    with pytest.raises(ValueError, match=r"Flatten\(\), is not a convolution"):
        ReceptiveFieldExplorer(digit, [Conv2d(1, 2, 3, rng=0), Flatten()])


def test_explorer_fits_a_laptop_screen_and_hides_test_markers(digit, close_after):
    ex = ReceptiveFieldExplorer(digit, build_lenet(rng=0)[:6])
    close_after(ex)
    assert_no_test_marker_visible(ex)
    # two rows of controls: the layer menu and a slider, then the other slider
    width, height = assert_fits_the_screen(ex, TITLE_PX + 2 * CONTROL_ROW_PX)
    assert (width, height) == (900, 350)
    fonts = [t.get_fontsize() for t in ex.fig.findobj(lambda a: type(a).__name__ == "Text") if t.get_text().strip()]
    assert min(fonts) >= 8

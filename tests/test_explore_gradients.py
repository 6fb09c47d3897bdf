"""Gradient pictures and explorers (cnnlib.explore.gradients): value grids, the eps sweep,
the gradient-check explorer and the backward stepper.

Each explorer is built from small data, its controls are changed as a learner would, and we
check the hidden draw marker, that a new PNG was drawn, and the numbers the picture shows
against cnnlib's own functions computed here independently (the loop versions, numerical_gradient).
"""
import numpy as np
import pytest
from explorer_helpers import (CONTROL_ROW_PX, TITLE_PX, assert_drawn, assert_fits_the_screen,
                              assert_like_a_plain_drawing, assert_no_test_marker_visible, assert_redrawn_in_place,
                              assert_same_picture, assert_same_pixels)

from cnnlib import ops
from cnnlib.explore import loops
from cnnlib.explore.gradients import (BackwardStepper, BackwardStepPicture, EpsSweepPicture, GradCheckExplorer,
                                      ValueGridPicture, plot_backward_step, plot_eps_sweep, plot_value_grid)
from cnnlib.explore.images import DIGIT_CMAP, SIGNED_CMAP
from cnnlib.gradcheck import TOLERANCE, numerical_gradient
from cnnlib.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from cnnlib.losses import SoftmaxCrossEntropy
from cnnlib.model import Sequential

X = np.array([[0, 0, 1, 2, 0, 0],
              [0, 0, 3, 1, 0, 0],
              [0, 0, 0, 0, 5, 5],
              [1, 0, 0, 0, 5, 2],
              [0, 0, 2, 2, 1, 0],
              [0, 0, 2, 2, 0, 3]], dtype=float)
KERNEL = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, -2.0], [1.0, 0.0, -1.0]])


def visible_texts(ax):
    return [t.get_text() for t in ax.texts if t.get_visible()]


# ----------------------------------------------------------------------------- value grids

def test_plot_value_grid_writes_every_number_and_frames_the_window():
    values = np.array([[1.0, -0.5, 0.0], [2.0, -0.0, 1e-17]])
    fig = plot_value_grid(values, title="a grid", highlight=(0, 1, 2, 2),
                          cell_boxes=[((1, 0), "tab:green", "-")])
    ax = fig.axes[0]
    # -0 and rounding noise next to a 2 are written as the 0 they stand for
    assert visible_texts(ax) == ["1", "-0.5", "0", "2", "0", "0"]
    frame, rim, box = [p for p in ax.patches if p.get_visible()]
    assert frame.get_bbox().bounds == (0.5, -0.5, 2, 2)
    assert box.get_edgecolor()[:3] == pytest.approx((0.172, 0.627, 0.172), abs=1e-3)   # tab:green
    assert rim.get_edgecolor()[:3] == (0, 0, 0) and rim.get_bbox().bounds == box.get_bbox().bounds
    assert rim.get_linewidth() > box.get_linewidth() and rim.get_zorder() < box.get_zorder()
    assert ax.get_title() == "a grid"
    np.testing.assert_array_equal(ax.images[0].get_array(), values)


def test_value_grid_picture_static_and_live_draw_the_same():
    values = np.arange(12.0).reshape(3, 4) - 5
    static = plot_value_grid(values, highlight=(1, 1, 2, 2))
    live = ValueGridPicture(values, highlight=(1, 1, 2, 2), live=True)
    assert_same_picture(static, live.fig)
    assert_same_pixels(static, live)


@pytest.mark.parametrize("values", [np.ones(3), np.ones((0, 2)), np.ones((2, 2, 2))])
def test_value_grid_rejects_non_2d(values):
    with pytest.raises(ValueError, match=r"ValueGridPicture: values must be a non-empty 2-D array \(H, W\)"):
        plot_value_grid(values)


def test_value_grid_rejects_a_new_shape_and_too_many_boxes():
    picture = ValueGridPicture(np.ones((2, 2)), cell_boxes=[((0, 0), "k", "-")])
    with pytest.raises(ValueError, match=r"ValueGrid: this panel shows \(2, 2\) values, got \(3, 3\)"):
        picture.update(np.ones((3, 3)))
    with pytest.raises(ValueError, match="room for 1 cell boxes, got 2"):
        picture.update(np.ones((2, 2)), cell_boxes=[((0, 0), "k", "-"), ((1, 1), "k", "-")])


# ----------------------------------------------------------------------------- eps sweep

def test_plot_eps_sweep_draws_curves_marks_and_the_pass_mark():
    eps = np.logspace(-8, -1, 8)
    err = np.array([1e-6, 1e-7, 1e-8, 1e-9, 0.0, 1e-7, 1e-5, 1e-3])
    fig = plot_eps_sweep(eps, {"float64": err}, current_eps=1e-5, title="one entry")
    ax = fig.axes[0]
    curve = ax.lines[0]
    np.testing.assert_array_equal(curve.get_ydata(), np.maximum(err, EpsSweepPicture.FLOOR))   # 0 on the floor
    assert TOLERANCE in [line.get_ydata()[0] for line in ax.lines]                              # the pass mark
    dot = ax.lines[1]
    assert dot.get_visible() and dot.get_xdata()[0] == 1e-5
    assert dot.get_ydata()[0] == pytest.approx(1e-9, rel=1e-9)         # on the curve
    assert ax.get_title() == "one entry" and ax.get_legend() is not None
    assert ax.get_ylim()[0] == pytest.approx(1e-10)                    # a decade below the smallest error


def test_eps_sweep_static_and_live_draw_the_same():
    eps = np.logspace(-8, -1, 8)
    errors = {"float64": np.logspace(-3, -10, 8), "float32": np.logspace(0, -3, 8)}
    static = plot_eps_sweep(eps, errors, current_eps=1e-5)
    live = EpsSweepPicture(eps, errors, current_eps=1e-5, live=True)
    assert_same_picture(static, live.fig)
    assert_same_pixels(static, live)


@pytest.mark.parametrize("eps, errors, message", [
    (np.array([1e-3]), {"float64": np.ones(1)}, "at least two positive values"),
    (np.array([0.0, 1e-3]), {"float64": np.ones(2)}, "at least two positive values"),
    (np.array([1e-4, 1e-3]), {}, "got none"),
    (np.array([1e-4, 1e-3]), {"float64": np.ones(3)}, r"has shape \(3,\), expected \(2,\)"),
])
def test_eps_sweep_rejects_bad_input(eps, errors, message):
    with pytest.raises(ValueError, match="EpsSweepPicture: .*" + message):
        plot_eps_sweep(eps, errors)


# ----------------------------------------------------------------------------- GradCheckExplorer

def small_net_and_data():
    rng = np.random.default_rng(3)
    net = Sequential(Conv2d(1, 2, 3, rng=rng), ReLU(), MaxPool2d(2), Flatten(), Linear(2 * 3 * 3, 4, rng=rng))
    net[0].params["b"][:] = [0.1, -0.05]
    x = rng.standard_normal((2, 1, 8, 8))
    labels = np.array([1, 3])
    return net, x, labels


def analytic_grads(net, x, labels):
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(net.forward(x), labels)
    net.backward(loss_fn.backward())
    return {(i, k): g.copy() for i, layer in enumerate(net.layers) for k, g in layer.grads.items()}


def test_gradcheck_explorer_numbers_match_cnnlib(close_after):
    net, x, labels = small_net_and_data()
    before = {name: p.copy() for name, p in net.named_parameters()}
    explorer = GradCheckExplorer(net, x, labels)
    close_after(explorer)
    assert_drawn(explorer, 1)
    # it starts on layer 0's w, at the entry with the largest gradient
    grads = analytic_grads(net, x, labels)
    dw = grads[(0, "w")]
    assert (explorer.layer_dropdown.value, explorer.param_dropdown.value) == (0, "w")
    assert explorer.index_slider.value == int(np.argmax(np.abs(dw)))
    assert explorer.index_slider.max == dw.size - 1
    assert explorer.analytic64 == pytest.approx(dw.flat[explorer.index_slider.value], rel=1e-12)
    # the numeric value is cnnlib's central difference at the same entry and eps
    idx = np.unravel_index(explorer.index_slider.value, dw.shape)
    loss_fn = SoftmaxCrossEntropy()
    numeric = numerical_gradient(lambda: loss_fn.forward(net.forward(x), labels), net[0].params["w"],
                                 eps=1e-6, indices=[idx])
    assert explorer.numeric64 == pytest.approx(numeric[idx], rel=1e-9)
    assert explorer.error64 < 1e-7
    # the caller's model is untouched: same values, still float64
    for name, p in net.named_parameters():
        np.testing.assert_array_equal(p, before[name])
        assert p.dtype == np.float64


def test_gradcheck_explorer_eps_sweep_is_a_v(close_after):
    net, x, labels = small_net_and_data()
    explorer = GradCheckExplorer(net, x, labels)
    close_after(explorer)
    sweep = explorer.sweep
    eps, err64, err32 = sweep["eps"], sweep["float64"], sweep["float32"]
    assert eps[0] == pytest.approx(1e-10) and eps[-1] == pytest.approx(1e-1)
    best = int(np.argmin(err64))
    assert 1e-8 <= eps[best] <= 1e-3                       # the bottom of the V
    assert err64[best] < 1e-8
    assert err64[0] > 100 * err64[best]                   # rounding on the left
    assert err64[-1] > 100 * err64[best]                  # truncation on the right
    assert err32.min() > 10 * err64.min()                 # float32 is far less exact
    assert err32[0] > 0.5                                 # eps=1e-10 is lost when added to a float32


def test_gradcheck_explorer_eps_slider(close_after):
    net, x, labels = small_net_and_data()
    explorer = GradCheckExplorer(net, x, labels)
    close_after(explorer)
    explorer.eps_slider.value = 1e-10
    assert_drawn(explorer, 2)
    assert explorer.numeric32 == 0.0 or explorer.error32 > 0.5    # the nudge vanished in float32
    explorer.eps_slider.value = 1e-2
    assert_drawn(explorer, 3)
    assert explorer.error32 < 1e-2                        # float32 needs a big eps
    assert explorer.error64 > 1e-9                        # ... which float64 pays for in truncation


def test_gradcheck_explorer_switches_layer_and_param(close_after):
    net, x, labels = small_net_and_data()
    explorer = GradCheckExplorer(net, x, labels)
    close_after(explorer)
    assert [value for _, value in explorer.layer_dropdown.options] == [0, 4]
    explorer.layer_dropdown.value = 4
    assert explorer.draw_count == 2                       # one redraw, not one per control it updates
    grads = analytic_grads(net, x, labels)
    assert explorer.param_dropdown.value == "w"
    assert explorer.index_slider.max == grads[(4, "w")].size - 1
    explorer.param_dropdown.value = "b"
    assert explorer.draw_count == 3
    db = grads[(4, "b")]
    assert explorer.index_slider.max == db.size - 1
    assert explorer.index_slider.value == int(np.argmax(np.abs(db)))
    assert explorer.analytic64 == pytest.approx(db[explorer.index_slider.value], rel=1e-12)
    explorer.index_slider.value = 0
    assert explorer.analytic64 == pytest.approx(db[0], rel=1e-12)
    assert explorer.error64 < 1e-7
    assert_drawn(explorer, 4)


def test_gradcheck_explorer_rejects_bad_input():
    net, x, labels = small_net_and_data()
    with pytest.raises(ValueError, match="Sequential"):
        GradCheckExplorer([net[0]], x, labels)
    with pytest.raises(ValueError, match="no parameters"):
        GradCheckExplorer(Sequential(ReLU(), Flatten()), x, labels)
    with pytest.raises(ValueError, match="expected 2 labels"):
        GradCheckExplorer(net, x, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="floating-point"):
        GradCheckExplorer(net, x.astype(np.int64), labels)
    with pytest.raises(ValueError, match="labels must be in"):
        GradCheckExplorer(net, x, np.array([0, 9]))
    with pytest.raises(ValueError, match="GradCheckExplorer: n_eps must be an integer >= 3, got 2"):
        GradCheckExplorer(net, x, labels, n_eps=2)


def test_gradcheck_explorer_moving_eps_redraws_only_the_marks(close_after):
    net, x, labels = small_net_and_data()
    explorer = GradCheckExplorer(net, x, labels)
    close_after(explorer)
    sweep_ax = explorer.picture.sweep.ax
    curve = sweep_ax.lines[0].get_ydata().copy()
    assert_redrawn_in_place(explorer, lambda: setattr(explorer.eps_slider, "value", 1e-3), full_draws=1)
    np.testing.assert_array_equal(sweep_ax.lines[0].get_ydata(), curve)          # same entry, same curve
    table = explorer.picture.table.get_text()
    assert table.startswith("eps = 1e-03")
    assert f"{explorer.analytic64: .6e}" in table and f"{explorer.numeric32: .6e}" in table
    # the dots sit at the errors measured at this eps (what the table says)
    dots = explorer.picture.sweep.dots
    assert dots["float64"].get_ydata()[0] == pytest.approx(max(explorer.error64, EpsSweepPicture.FLOOR))
    assert dots["float32"].get_ydata()[0] == pytest.approx(max(explorer.error32, EpsSweepPicture.FLOOR))
    # another entry: new curves and title, still without redrawing the whole figure
    assert_redrawn_in_place(explorer, lambda: setattr(explorer.index_slider, "value", 0), full_draws=1)
    assert not np.array_equal(sweep_ax.lines[0].get_ydata(), curve)
    assert sweep_ax.get_title() == "layer 0, w[0, 0, 0, 0]: error vs eps"
    assert_like_a_plain_drawing(explorer)


def test_gradcheck_explorer_computes_each_sweep_once(close_after, monkeypatch):
    net, x, labels = small_net_and_data()
    explorer = GradCheckExplorer(net, x, labels)
    close_after(explorer)
    start, calls = explorer.index_slider.value, []
    original = GradCheckExplorer._numeric
    monkeypatch.setattr(GradCheckExplorer, "_numeric", lambda self, *a: calls.append(a) or original(self, *a))
    explorer.eps_slider.value = 1e-4                       # the curve is cached: two new points only
    assert len(calls) == 2
    explorer.index_slider.value = start + 1                # a new curve: 2 dtypes x n_eps, plus the 2 points
    assert len(calls) == 2 + 2 + 2 * len(explorer.sweep["eps"])
    explorer.index_slider.value = start                    # back to a curve we have: two points again
    assert len(calls) == 2 + 2 + 2 * len(explorer.sweep["eps"]) + 2


def test_gradcheck_explorer_fits_a_laptop(close_after):
    net, x, labels = small_net_and_data()
    explorer = GradCheckExplorer(net, x, labels)
    close_after(explorer)
    assert_no_test_marker_visible(explorer)
    # two menus and two sliders: two rows in a 900 px column
    assert_fits_the_screen(explorer, TITLE_PX + 2 * CONTROL_ROW_PX)


# ----------------------------------------------------------------------------- BackwardStepper

def test_backward_stepper_conv_spreads_dout_times_w(close_after):
    dout = np.arange(1.0, 17.0).reshape(4, 4) / 10
    stepper = BackwardStepper(X, dout, kernel=KERNEL)
    close_after(stepper)
    assert_drawn(stepper, 1)
    stepper.step_slider.value = 6                          # output position (1, 2)
    assert_drawn(stepper, 2)
    assert stepper.position == (1, 2)
    expected = np.zeros_like(X)
    expected[1:4, 2:5] = dout[1, 2] * KERNEL
    np.testing.assert_allclose(stepper.contribution, expected)
    assert stepper.step_slider.max == 15


def test_backward_stepper_conv_total_is_cnnlibs_dx(close_after):
    dout = np.random.default_rng(1).standard_normal((4, 4))
    stepper = BackwardStepper(X, dout, kernel=KERNEL)
    close_after(stepper)
    stepper.step_slider.value = stepper.step_slider.max
    out, cache = loops.conv2d_forward_naive(X[None, None], KERNEL[None, None], np.zeros(1))
    dx, _, _ = loops.conv2d_backward_naive(dout[None, None], cache)
    np.testing.assert_allclose(stepper.total, dx[0, 0])
    np.testing.assert_allclose(stepper.dx, dx[0, 0])


def test_backward_stepper_maxpool_tie_goes_to_the_first(close_after):
    dout = np.arange(1.0, 10.0).reshape(3, 3)
    stepper = BackwardStepper(X, dout, pool_size=2)
    close_after(stepper)
    # step 0: window X[0:2, 0:2] is all zeros, four tied maxima
    assert stepper.tied == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert stepper.winner == (0, 0)
    expected = np.zeros_like(X)
    expected[0, 0] = 1.0
    np.testing.assert_array_equal(stepper.contribution, expected)
    assert stepper.fig.get_suptitle() == "out[0, 0]: 4 inputs tie; only the first gets dout[0, 0] = 1"
    # step 7: window X[4:6, 2:4] is four 2s: still only the first
    stepper.step_slider.value = 7
    assert_drawn(stepper, 2)
    assert stepper.winner == (4, 2) and len(stepper.tied) == 4
    assert stepper.contribution.sum() == dout[2, 1] and stepper.contribution[4, 2] == dout[2, 1]
    # the picture boxes the winner in green and the three others in purple, dashed
    boxes = [b for b in stepper.picture.panels[1].boxes if b.get_visible()]
    corners = {(round(b.get_x() + 0.42), round(b.get_y() + 0.42)): b.get_linestyle() for b in boxes}
    assert corners == {(2, 4): "-", (3, 4): "--", (2, 5): "--", (3, 5): "--"}     # (col, row)
    # step 1: a unique maximum (the 3)
    stepper.step_slider.value = 1
    assert stepper.winner == (1, 2) and stepper.tied == [(1, 2)]
    assert stepper.fig.get_suptitle() == "out[0, 1]: the winner alone gets dout[0, 1] = 2"


def test_backward_stepper_maxpool_total_is_cnnlibs_dx(close_after):
    dout = np.random.default_rng(2).standard_normal((3, 3))
    stepper = BackwardStepper(X, dout, pool_size=2)
    close_after(stepper)
    stepper.step_slider.value = 8
    _, cache = loops.maxpool2d_forward_naive(X[None, None])
    dx = loops.maxpool2d_backward_naive(dout[None, None], cache)[0, 0]
    np.testing.assert_array_equal(stepper.total, dx)
    assert np.count_nonzero(stepper.total) == 9            # one winner per window, ties or not


def test_backward_stepper_pictures_differ_between_steps(close_after):
    stepper = BackwardStepper(X, np.ones((3, 3)), pool_size=2)
    close_after(stepper)
    first = stepper.png
    stepper.step_slider.value = 4
    assert stepper.png != first


@pytest.mark.parametrize("kwargs, message", [
    ({"x": X, "dout": np.ones((4, 4))}, "exactly one of them"),
    ({"x": X, "dout": np.ones((4, 4)), "kernel": KERNEL, "pool_size": 2}, "exactly one of them"),
    ({"x": X, "dout": np.ones((3, 3)), "kernel": KERNEL}, r"shape \(4, 4\)"),
    ({"x": X[None], "dout": np.ones((4, 4)), "kernel": KERNEL}, "2-D array"),
    ({"x": X[:2, :2], "dout": np.ones((1, 1)), "kernel": KERNEL}, "bigger than x"),
    ({"x": X, "dout": np.ones((3, 3)), "pool_size": 0}, "pool_size must be an integer"),
    ({"x": X, "dout": np.ones((3, 3)), "pool_size": 2.0}, "pool_size must be an integer"),
    ({"x": X, "dout": np.ones((3, 3)), "pool_size": 7}, "pool_size must be at most 6"),
    ({"x": np.full((6, 6), np.nan), "dout": np.ones((3, 3)), "pool_size": 2}, "finite"),
])
def test_backward_stepper_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match="BackwardStepper: .*" + message):
        BackwardStepper(**kwargs)


@pytest.mark.parametrize("kind", ["conv", "maxpool"])
def test_backward_stepper_updates_in_place(kind, close_after):
    if kind == "conv":
        stepper = BackwardStepper(X, np.arange(1.0, 17.0).reshape(4, 4) / 10, kernel=KERNEL)
    else:
        stepper = BackwardStepper(X, np.arange(1.0, 10.0).reshape(3, 3), pool_size=2)
    close_after(stepper)
    for step in (1, 2, stepper.step_slider.max):
        assert_redrawn_in_place(stepper, lambda: setattr(stepper.step_slider, "value", step), full_draws=1)
    step_ax, total_ax = stepper.fig.axes[2:]
    np.testing.assert_allclose(total_ax.images[0].get_array(), stepper.dx)          # the last step: all of dx
    # Numbers only in the window this step wrote to (each costs about 1 ms a frame); the
    # colours show the rest.
    r0, c0 = stepper.position[0] * stepper.stride, stepper.position[1] * stepper.stride
    window = (slice(r0, r0 + stepper.KH), slice(c0, c0 + stepper.KW))
    assert visible_texts(total_ax) == [f"{v:.2g}" for v in stepper.total[window].ravel()]
    assert visible_texts(step_ax) == [f"{v:.2g}" for v in stepper.contribution[window].ravel()]
    assert_like_a_plain_drawing(stepper)


@pytest.mark.parametrize("make", [
    lambda: BackwardStepper(X, np.arange(1.0, 17.0).reshape(4, 4) / 10, kernel=KERNEL),
    lambda: BackwardStepper(np.random.default_rng(0).random((8, 8)), np.ones((4, 4)), pool_size=2),
])
def test_backward_stepper_fits_a_laptop(make, close_after):
    stepper = make()
    close_after(stepper)
    assert_no_test_marker_visible(stepper)
    width, height = assert_fits_the_screen(stepper, TITLE_PX + CONTROL_ROW_PX)   # play and the step slider
    assert width <= 900 and height <= 500


def test_backward_step_static_writes_all_of_dx_and_matches_the_live_drawing():
    """One code path: the lesson's figure is the stepper's picture, with every cell of dx written."""
    dout = np.arange(1.0, 17.0).reshape(4, 4) / 10
    step = np.zeros_like(X)
    step[3:6, 3:6] = dout[3, 3] * KERNEL
    _, cache = ops.conv2d_forward(X[None, None], KERNEL[None, None], np.zeros(1))
    dx = ops.conv2d_backward(dout[None, None], cache)[0][0, 0]
    args = dict(position=(3, 3), window=(3, 3, 3, 3), kind="conv")
    static = plot_backward_step(X, dout, step, dx, **args)
    assert len(visible_texts(static.axes[3])) == 36
    assert len(visible_texts(static.axes[2])) == 9                          # the window of this step
    live = BackwardStepPicture(X, dout, step, dx, live=True, **args)
    assert_same_picture(static, live.fig)
    assert_same_pixels(static, live)


def test_backward_step_draws_x_as_digits_are_drawn_and_marks_the_winner_for_all_readers():
    """One digit convention everywhere: the input x is white ink on black (DIGIT_CMAP, big =
    bright), the gradients keep their signed map; each number stands out from its cell; the
    winner is a yellow line over a black rim (seen on black and white cells, and without
    telling colours apart), the inputs tied with it dashed."""
    dout = np.ones((3, 3))
    x = X.copy()
    x[0, 1] = x[1, 0] = 5.0                        # window (0, 0, 2, 2): 5 twice, the first wins
    picture = BackwardStepPicture(x, dout, x * 0, x * 0, position=(0, 0), window=(0, 0, 2, 2), kind="maxpool",
                                  winner=(0, 1), tied=[(0, 1), (1, 0)])
    dout_panel, x_panel, step_panel, total_panel = picture.panels
    assert x_panel.image.get_cmap().name == DIGIT_CMAP == "gray"
    assert {p.image.get_cmap().name for p in (dout_panel, step_panel, total_panel)} == {SIGNED_CMAP}
    colour = x_panel.image.cmap(x_panel.image.norm(x.max()))
    assert colour[:3] == (1, 1, 1), "the largest input is white"
    texts = x_panel.numbers.texts
    assert texts[0][1].get_text() == "5" and texts[0][1].get_color() == "black"     # on a white cell
    assert texts[0][0].get_text() == "0" and texts[0][0].get_color() == "white"     # on a black cell
    rims = {(b.get_x(), b.get_y()): b for b in x_panel.box_rims if b.get_visible()}
    boxes = {(b.get_x(), b.get_y()): b for b in x_panel.boxes if b.get_visible()}
    assert rims.keys() == boxes.keys() == {(1 - 0.42, 0 - 0.42), (0 - 0.42, 1 - 0.42)}   # (x=col, y=row)
    winner, tied = boxes[(1 - 0.42, -0.42)], boxes[(-0.42, 1 - 0.42)]
    assert (winner.get_edgecolor()[:3], winner.get_linestyle()) == ((1, 1, 0), "-")       # yellow, solid
    assert tied.get_linestyle() == "--"
    for rim in rims.values():
        assert rim.get_edgecolor()[:3] == (0, 0, 0) and rim.get_linewidth() > winner.get_linewidth()
        assert rim.get_zorder() < winner.get_zorder(), "the rim is drawn under the mark"
    legend = [t.get_text() for t in picture.fig.texts if "winner" in t.get_text()]
    assert legend and "yellow" in legend[0] and "green" not in legend[0] and "purple" not in legend[0]


def test_backward_step_picture_rejects_bad_input():
    with pytest.raises(ValueError, match="BackwardStepPicture: kind must be one of"):
        plot_backward_step(X, np.ones((3, 3)), X, X, position=(0, 0), window=(0, 0, 2, 2), kind="avgpool")
    with pytest.raises(ValueError, match="BackwardStepPicture: max pooling needs the window's winner"):
        plot_backward_step(X, np.ones((3, 3)), X, X, position=(0, 0), window=(0, 0, 2, 2), kind="maxpool")
    with pytest.raises(ValueError, match=r"BackwardStepPicture: position \(3, 0\) is outside dout \(3, 3\)"):
        plot_backward_step(X, np.ones((3, 3)), X, X, position=(3, 0), window=(0, 0, 2, 2), kind="maxpool",
                           winner=(0, 0))


# ----------------------------------------------------------------------------- the lessons' figures

@pytest.mark.parametrize("draw, size, n_axes", [
    (lambda: plot_eps_sweep(np.logspace(-8, -1, 8), {"float64": np.ones(8)}), (600, 380), 1),
    (lambda: plot_backward_step(X, np.ones((3, 3)), X * 0, X * 0, position=(0, 0), window=(0, 0, 2, 2),
                                kind="maxpool", winner=(0, 0), tied=[(0, 0), (0, 1)]), (900, 310), 4),
])
def test_static_pictures_keep_their_size_and_axes(draw, size, n_axes):
    """The lessons store '<Figure size WxH with N Axes>'; a static picture has nothing animated."""
    fig = draw()
    assert tuple(int(round(v)) for v in fig.get_size_inches() * 100) == size and len(fig.axes) == n_axes
    assert not fig.findobj(lambda a: a.get_animated())


def test_eps_sweep_curves_differ_by_more_than_colour():
    """float64 and float32 curves differ in line style and marker, not only in colour (issue 11 item 18)."""
    from cnnlib.explore.gradients import EpsSweepPicture
    eps = np.logspace(-8, -1, 5)
    pic = EpsSweepPicture(eps, {"float64": eps, "float32": eps * 10})
    c64, c32 = pic.curves["float64"], pic.curves["float32"]
    assert c64.get_linestyle() != c32.get_linestyle() and c64.get_marker() != c32.get_marker()

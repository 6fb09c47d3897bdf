"""Explorers of lessons 4-5: they draw, they respond to their controls, their numbers are right.

Each explorer is built from small data, its controls are changed as a learner would, and we
check the status marker, that a new PNG was drawn, and the numbers the picture shows
against cnnlib's own functions computed here independently.
"""
import warnings

import numpy as np
import pytest

from cnnlib import ops
from cnnlib.gradcheck import numerical_gradient
from cnnlib.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from cnnlib.losses import SoftmaxCrossEntropy, softmax
from cnnlib.model import Sequential
from cnnlib.widgets import BackwardStepper, GradCheckExplorer, SoftmaxExplorer, StabilityLab

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"




def assert_drawn(explorer, count):
    assert explorer.status.value == f"drawn #{count}", explorer.status.value
    assert explorer.draw_count == count
    assert explorer.png.startswith(PNG_MAGIC)


# ----------------------------------------------------------------------------- SoftmaxExplorer

def test_softmax_explorer_shows_softmax_and_loss(close_after):
    explorer = SoftmaxExplorer([2.0, 1.0, 0.1, -1.0], true_class=1)
    close_after(explorer)
    assert_drawn(explorer, 1)
    expected = softmax(np.array([2.0, 1.0, 0.1, -1.0]))
    np.testing.assert_allclose(explorer.probs, expected)
    assert explorer.loss == pytest.approx(-np.log(expected[1]))
    assert len(explorer.logit_sliders) == 4


def test_softmax_explorer_follows_a_logit_slider(close_after):
    explorer = SoftmaxExplorer([2.0, 1.0, 0.1], true_class=1)
    close_after(explorer)
    first_png, first_loss = explorer.png, explorer.loss
    explorer.logit_sliders[1].value = 5.0        # make the true class the most likely
    assert_drawn(explorer, 2)
    np.testing.assert_allclose(explorer.probs, softmax(np.array([2.0, 5.0, 0.1])))
    assert explorer.loss < first_loss
    assert explorer.probs.argmax() == 1
    assert explorer.png != first_png


def test_softmax_explorer_temperature(close_after):
    explorer = SoftmaxExplorer([3.0, 1.0, -2.0], true_class=0)
    close_after(explorer)
    explorer.temperature_slider.value = 10.0     # hot: close to uniform
    np.testing.assert_allclose(explorer.probs, softmax(np.array([3.0, 1.0, -2.0]) / 10.0))
    assert explorer.probs.max() - explorer.probs.min() < 0.2
    explorer.temperature_slider.value = 0.1      # cold: nearly one-hot
    assert explorer.temperature == pytest.approx(0.1)
    assert explorer.probs[0] > 0.999999
    assert explorer.loss == pytest.approx(-np.log(softmax(np.array([30.0, 10.0, -20.0]))[0]))
    assert explorer.draw_count == 3


@pytest.mark.parametrize("logits, true_class, message", [
    ([[1.0, 2.0]], 0, "1-D array of 2 to 10"),
    ([1.0], 0, "1-D array of 2 to 10"),
    (list(range(11)), 0, "1-D array of 2 to 10"),
    ([1.0, np.nan], 0, "finite"),
    (["a", "b"], 0, "numbers"),
    ([1.0, 2.0], 2, r"in \[0, 1\]"),
    ([1.0, 2.0], -1, r"in \[0, 1\]"),
    ([1.0, 2.0], 1.0, "integer class index"),
])
def test_softmax_explorer_rejects_bad_input(logits, true_class, message):
    with pytest.raises(ValueError, match=message):
        SoftmaxExplorer(logits, true_class)


def test_softmax_explorer_rejects_wrong_number_of_labels():
    with pytest.raises(ValueError, match="2 class_labels for 3 logits"):
        SoftmaxExplorer([1.0, 2.0, 3.0], 0, class_labels=["cat", "dog"])


# ----------------------------------------------------------------------------- StabilityLab

def test_stability_lab_overflows_only_the_naive_softmax(close_after):
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # the widget must not leak RuntimeWarnings
        lab = StabilityLab([2.0, 3.0, -1.0])
        close_after(lab)
        assert_drawn(lab, 1)
        assert not lab.overflowed
        np.testing.assert_allclose(lab.naive, lab.stable)
        lab.scale_slider.value = 3.0             # logits x 1000: exp(3000) overflows float64
        assert_drawn(lab, 2)
    np.testing.assert_allclose(lab.scaled_logits, [2000.0, 3000.0, -1000.0])
    assert lab.overflowed
    assert np.isnan(lab.naive[1])                # inf / inf
    assert np.isfinite(lab.stable).all()
    np.testing.assert_allclose(lab.stable, softmax(np.array([2000.0, 3000.0, -1000.0])))


def test_stability_lab_float32_overflows_sooner(close_after):
    lab = StabilityLab([2.0, 3.0, -1.0])
    close_after(lab)
    lab.scale_slider.value = 1.5                 # max logit about 95: fine in float64 ...
    assert not lab.overflowed
    lab.dtype_dropdown.value = "float32"         # ... but exp(95) > float32's 3.4e38
    assert_drawn(lab, 3)
    assert lab.scaled_logits.dtype == np.float32 and lab.stable.dtype == np.float32
    assert lab.overflowed
    assert np.isfinite(lab.stable).all() and lab.stable.sum() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"logits": [1.0]}, "2 to 10"),
    ({"logits": [1.0, np.inf]}, "finite"),
    ({"logits": [1.0, 2.0], "max_log10_scale": 0}, "max_log10_scale"),
])
def test_stability_lab_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StabilityLab(**kwargs)


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
    assert explorer.status.value == "drawn #4"


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


# ----------------------------------------------------------------------------- BackwardStepper

X = np.array([[0, 0, 1, 2, 0, 0],
              [0, 0, 3, 1, 0, 0],
              [0, 0, 0, 0, 5, 5],
              [1, 0, 0, 0, 5, 2],
              [0, 0, 2, 2, 1, 0],
              [0, 0, 2, 2, 0, 3]], dtype=float)
KERNEL = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, -2.0], [1.0, 0.0, -1.0]])


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
    out, cache = ops.conv2d_forward_naive(X[None, None], KERNEL[None, None], np.zeros(1))
    dx, _, _ = ops.conv2d_backward_naive(dout[None, None], cache)
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
    # step 7: window X[4:6, 2:4] is four 2s: still only the first
    stepper.step_slider.value = 7
    assert_drawn(stepper, 2)
    assert stepper.winner == (4, 2) and len(stepper.tied) == 4
    assert stepper.contribution.sum() == dout[2, 1] and stepper.contribution[4, 2] == dout[2, 1]
    # step 1: a unique maximum (the 3)
    stepper.step_slider.value = 1
    assert stepper.winner == (1, 2) and stepper.tied == [(1, 2)]


def test_backward_stepper_maxpool_total_is_cnnlibs_dx(close_after):
    dout = np.random.default_rng(2).standard_normal((3, 3))
    stepper = BackwardStepper(X, dout, pool_size=2)
    close_after(stepper)
    stepper.step_slider.value = 8
    _, cache = ops.maxpool2d_forward_naive(X[None, None])
    dx = ops.maxpool2d_backward_naive(dout[None, None], cache)[0, 0]
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
    ({"x": np.full((6, 6), np.nan), "dout": np.ones((3, 3)), "pool_size": 2}, "finite"),
])
def test_backward_stepper_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BackwardStepper(**kwargs)


# ----------------------------------------------------------------------------- fast redraws

from test_widgets_lessons_1_3 import assert_like_a_plain_drawing, assert_redrawn_in_place  # noqa: E402


def test_softmax_explorer_moves_its_bars_in_place(close_after):
    explorer = SoftmaxExplorer([2.0, 1.0, 0.1], true_class=1)
    close_after(explorer)
    assert_redrawn_in_place(explorer, lambda: setattr(explorer.logit_sliders[0], "value", -3.0), expect_full_draws=1)
    ax = explorer.fig.axes[0]
    np.testing.assert_allclose([bar.get_height() for bar in ax.patches], explorer.probs)
    assert [t.get_text() for t in ax.texts] == [f"{p:.3f}" for p in explorer.probs]
    assert ax.get_title().endswith(f"loss = -ln p = {explorer.loss:.3f}")
    assert_like_a_plain_drawing(explorer)


def test_stability_lab_updates_in_place(close_after):
    lab = StabilityLab([2.0, 3.0, -1.0])
    close_after(lab)
    assert_redrawn_in_place(lab, lambda: setattr(lab.scale_slider, "value", 3.0))
    naive_ax = lab.fig.axes[0]
    assert naive_ax.get_title().endswith("2 of 3 values not finite")
    hatched = [bar for bar in naive_ax.patches if bar.get_visible() and bar.get_hatch()]
    assert len(hatched) == 2                                       # the two nan bars
    assert lab.fig.get_suptitle().startswith("logits × 1000")
    assert_like_a_plain_drawing(lab)


def test_gradcheck_explorer_moving_eps_redraws_only_the_marks(close_after):
    net, x, labels = small_net_and_data()
    explorer = GradCheckExplorer(net, x, labels)
    close_after(explorer)
    curve = explorer.fig.axes[0].lines[0].get_ydata().copy()
    assert_redrawn_in_place(explorer, lambda: setattr(explorer.eps_slider, "value", 1e-3), expect_full_draws=1)
    np.testing.assert_array_equal(explorer.fig.axes[0].lines[0].get_ydata(), curve)   # same entry, same curve
    assert "eps = 1e-03" in explorer.fig.axes[1].texts[0].get_text()
    assert_redrawn_in_place(explorer, lambda: setattr(explorer.index_slider, "value", 0))
    assert not np.array_equal(explorer.fig.axes[0].lines[0].get_ydata(), curve)      # a new entry's curve
    assert_like_a_plain_drawing(explorer)


def test_gradcheck_explorer_computes_each_sweep_once(close_after, monkeypatch):
    net, x, labels = small_net_and_data()
    explorer = GradCheckExplorer(net, x, labels)
    close_after(explorer)
    calls = []
    original = GradCheckExplorer._numeric
    monkeypatch.setattr(GradCheckExplorer, "_numeric", lambda self, *a: calls.append(a) or original(self, *a))
    explorer.eps_slider.value = 1e-4                       # the curve is cached: two new points only
    assert len(calls) == 2
    explorer.index_slider.value = 1                        # a new curve: 2 dtypes x n_eps, plus the 2 points
    assert len(calls) == 2 + 2 + 2 * len(explorer.sweep["eps"])


@pytest.mark.parametrize("kind", ["conv", "maxpool"])
def test_backward_stepper_updates_in_place(kind, close_after):
    if kind == "conv":
        stepper = BackwardStepper(X, np.arange(1.0, 17.0).reshape(4, 4) / 10, kernel=KERNEL)
    else:
        stepper = BackwardStepper(X, np.arange(1.0, 10.0).reshape(3, 3), pool_size=2)
    close_after(stepper)
    for step in (1, 2, stepper.step_slider.max):
        assert_redrawn_in_place(stepper, lambda: setattr(stepper.step_slider, "value", step), expect_full_draws=1)
    total_ax = stepper.fig.axes[3]
    np.testing.assert_allclose(total_ax.images[0].get_array(), stepper.dx)          # the last step: all of dx
    assert [t.get_text() for t in total_ax.texts] == [f"{v:.2g}" for v in stepper.total.ravel()]
    assert_like_a_plain_drawing(stepper)


@pytest.mark.parametrize("draw, size, n_axes", [
    (lambda: __import__("cnnlib.viz").viz.plot_probabilities([0.2, 0.8], true_class=1), (500, 300), 1),
    (lambda: __import__("cnnlib.viz").viz.plot_softmax_stability([1.0, 800.0], [0.0, np.nan], [0.0, 1.0]),
     (1000, 360), 2),
    (lambda: __import__("cnnlib.viz").viz.plot_eps_sweep(np.logspace(-8, -1, 8), {"float64": np.ones(8)}),
     (600, 380), 1),
    (lambda: __import__("cnnlib.viz").viz.plot_backward_step(X, np.ones((3, 3)), X * 0, X * 0, position=(0, 0),
                                                            window=(0, 0, 2, 2), kind="maxpool", winner=(0, 0),
                                                            tied=[(0, 0), (0, 1)]), (1300, 360), 4),
])
def test_static_pictures_keep_their_size_and_axes(draw, size, n_axes):
    """The lessons store '<Figure size WxH with N Axes>'; a static picture has nothing animated."""
    fig = draw()
    assert tuple(int(v) for v in fig.get_size_inches() * 100) == size and len(fig.axes) == n_axes
    assert not fig.findobj(lambda a: a.get_animated())

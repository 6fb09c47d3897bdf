"""Softmax pictures and explorers (cnnlib.explore.softmax): they draw, respond to their
controls, show the right numbers, and redraw in place.

Each explorer is built from small data, its controls are changed as a learner would, and we
check the hidden draw marker, that a new PNG was drawn, and the numbers the picture shows
against cnnlib's own functions computed here independently. The checks shared by every
explorer (in place, one code path, nothing for tests visible, fits a laptop) are in
tests/explorer_helpers.py.
"""
import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from explorer_helpers import (assert_drawn, assert_fits_the_screen, assert_like_a_plain_drawing,
                              assert_no_test_marker_visible, assert_redrawn_in_place, assert_same_picture,
                              assert_same_pixels, controls_px, decoded)

from cnnlib.explore.softmax import (ProbabilitiesPicture, SoftmaxExplorer, StabilityLab, StabilityPicture,
                                    naive_softmax, plot_probabilities, plot_softmax_stability, probability_text)
from cnnlib.losses import log_softmax, softmax

#: Sliders are 340 px wide: two share a row of a 900 px notebook column.
SLIDERS_PER_ROW = 2


def pixel_at(png, ax, x_data, y_data, lift_px=0):
    """The RGB colour at data point (x, y) of ``ax``, ``lift_px`` pixels higher."""
    x_px, y_px = ax.transData.transform((x_data, y_data))
    pixels = decoded(png)
    return pixels[pixels.shape[0] - int(round(y_px + lift_px)), int(round(x_px))]


# ----------------------------------------------------------------------------- small pieces

def test_probability_text_never_writes_a_misleading_zero():
    assert probability_text(0.25) == "0.250"
    assert probability_text(3.2e-9) == "3.2e-09"         # not "0.000": it is not zero
    assert probability_text(0.0) == "0.000"
    assert probability_text(-0.0) == "0.000"             # never "-0.000"
    assert probability_text(float("inf")) == "inf"


def test_naive_softmax_overflows_silently_and_matches_otherwise():
    z = np.array([1.0, 2.0, -3.0])
    np.testing.assert_allclose(naive_softmax(z), softmax(z))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        broken = naive_softmax(np.array([1000.0, 0.0]))
    assert np.isnan(broken[0]) and broken[1] == 0.0


# ----------------------------------------------------------------------------- pictures

def test_plot_probabilities_draws_bars_values_and_true_class():
    p = np.array([0.1, 0.6, 0.3])
    fig = plot_probabilities(p, true_class=1, class_labels=["cat", "dog", "eel"], title="three classes")
    ax = fig.axes[0]
    bars = [patch for patch in ax.patches]
    np.testing.assert_allclose([b.get_height() for b in bars], p)
    assert [t.get_text() for t in ax.texts] == ["0.100", "0.600", "0.300"]
    assert bars[1].get_facecolor() != bars[0].get_facecolor()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "eel"]
    assert ax.get_xticklabels()[1].get_fontweight() == "bold"
    assert ax.get_title() == "three classes"


def test_plot_probabilities_into_a_callers_axes():
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    assert plot_probabilities([0.5, 0.5], ax=axes[1], title="right") is fig
    assert axes[1].get_title() == "right" and len(axes[1].patches) == 2 and not axes[0].patches


def test_plot_probabilities_show_values_off_still_writes_the_true_class():
    fig = plot_probabilities(np.full(10, 0.1), true_class=3, show_values=False)
    shown = [t.get_text() for t in fig.axes[0].texts if t.get_visible()]
    assert shown == ["0.100"]


@pytest.mark.parametrize("probs, kwargs, message", [
    ([[0.5, 0.5]], {}, r"1-D array of probabilities \(K,\), got shape \(1, 2\)"),
    ([], {}, r"got shape \(0,\)"),
    ([0.5, 0.5], {"true_class": 2}, r"true_class must be an integer in \[0, 1\]"),
    ([0.5, 0.5], {"class_labels": ["a"]}, "1 class_labels for 2 probabilities"),
])
def test_probabilities_picture_rejects_bad_input(probs, kwargs, message):
    with pytest.raises(ValueError, match="ProbabilitiesPicture.*" + message):
        ProbabilitiesPicture(probs, **kwargs)


def test_probabilities_picture_static_and_live_draw_the_same():
    """One code path: the lesson's figure and the explorer's live picture are the same drawing."""
    p = softmax(np.array([2.0, 1.0, 0.1, -1.0]))
    static = plot_probabilities(p, true_class=1, title="same")
    live = ProbabilitiesPicture(p, true_class=1, title="same", live=True)
    assert tuple(static.get_size_inches()) == tuple(live.fig.get_size_inches())
    assert_same_picture(static, live.fig)
    assert_same_pixels(static, live)


def test_stability_picture_draws_broken_values_as_red_bars():
    z = np.array([10000.0, 10010.0, 10.0])
    fig = plot_softmax_stability(z, naive_softmax(z), softmax(z))
    naive_ax, stable_ax = fig.axes
    hatched = [bar for bar in naive_ax.patches if bar.get_visible() and bar.get_hatch()]
    assert len(hatched) == 2                                          # two nan
    assert not [bar for bar in stable_ax.patches if bar.get_visible() and bar.get_hatch()]
    assert naive_ax.get_title().endswith("2 of 3 values not finite")
    texts = [t.get_text() for t in naive_ax.texts]
    assert texts.count("nan") == 2 and "z1\n10010" in texts
    assert any(t.startswith("exp(z) = [inf, inf, 2.203e+04]") for t in texts)
    assert "0.999955" in [t.get_text() for t in stable_ax.texts]


def test_stability_picture_fits_ten_logits():
    z = np.linspace(-3, 4, 10) * 316.2
    picture = StabilityPicture(z, naive_softmax(z), softmax(z), live=True)
    assert picture.fig.get_size_inches()[0] <= 9
    # Ten logits: at most five characters each, so neighbours do not overlap.
    renderer = picture.fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in picture.logit_labels[0]]
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:]))
    picture.png()


def test_stability_picture_static_and_live_draw_the_same():
    z = np.array([2000.0, 3000.0, -1000.0])
    static = plot_softmax_stability(z, naive_softmax(z), softmax(z), title="same")
    live = StabilityPicture(z, naive_softmax(z), softmax(z), title="same", live=True)
    assert_same_picture(static, live.fig)
    assert_same_pixels(static, live)


def test_stability_picture_rejects_mismatched_arrays():
    with pytest.raises(ValueError, match=r"StabilityPicture: .* got shapes \(3,\), \(2,\), \(3,\)"):
        StabilityPicture(np.ones(3), np.ones(2), np.ones(3))
    picture = StabilityPicture(np.ones(3), np.ones(3) / 3, np.ones(3) / 3)
    with pytest.raises(ValueError, match="shows 3 logits, got 4"):
        picture.update(np.ones(4), np.ones(4), np.ones(4))


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


def test_softmax_explorer_writes_a_zero_loss_as_0(close_after):
    """Issue 11 item 17: p = 1 gives loss -ln 1 = -0.0, which printed as "-0.000"."""
    explorer = SoftmaxExplorer([10.0, -10.0], true_class=0)
    close_after(explorer)
    explorer.temperature_slider.value = 0.1      # p[0] = 1 - 1e-87, exactly 1.0 in float64
    assert explorer.probs[0] == 1.0
    title = explorer.picture.ax.get_title()
    assert "-0.000" not in title
    assert title.endswith("p(true class 0) = 1.000,  loss = -ln p = 0.000")


@pytest.mark.parametrize("logits, small", [([10.0, -10.0], "1.4e-87"),       # tiny, not zero
                                           ([1000.0, -1000.0], "0.000")])    # underflows to exactly 0
def test_softmax_explorer_keeps_the_true_class_visible_at_zero(logits, small, close_after):
    """Issue 11 item 17: when p(true class) reaches 0 its bar vanishes; the triangle on the
    axis and its value stay, and the loss stays finite."""
    explorer = SoftmaxExplorer(logits, true_class=1)
    close_after(explorer)
    explorer.temperature_slider.value = 0.1
    picture = explorer.picture
    assert picture.bars[1].get_height() < 1e-80
    label = picture.labels[1]
    assert label.get_visible() and label.get_text() == small
    assert explorer.loss == pytest.approx(-log_softmax(np.array(logits) / 0.1)[1])
    assert math.isfinite(explorer.loss) and explorer.loss > 199
    assert picture.true_marker.get_visible()
    # The triangle is drawn: the pixel 4 px above the axis under class 1 is orange.
    r, g, b = pixel_at(explorer.png, picture.ax, 1, 0.0, lift_px=4)
    assert r > 200 and 90 < g < 170 and b < 60, (r, g, b)
    # ... and the value is written above it, clear of the triangle.
    renderer = picture.fig.canvas.get_renderer()
    assert label.get_window_extent(renderer).y0 >= picture.ax.transData.transform((1, 0))[1] + 8


@pytest.mark.parametrize("logits, true_class, message", [
    ([[1.0, 2.0]], 0, "1-D array of 2 to 10"),
    ([1.0], 0, "1-D array of 2 to 10"),
    (list(range(11)), 0, "1-D array of 2 to 10"),
    ([1.0, np.nan], 0, "finite"),
    (["a", "b"], 0, "numbers"),
    ([1.0, 2.0], 2, r"in \[0, 1\]"),
    ([1.0, 2.0], -1, r"in \[0, 1\]"),
    ([1.0, 2.0], 1.0, "true_class must be an integer in"),
])
def test_softmax_explorer_rejects_bad_input(logits, true_class, message):
    with pytest.raises(ValueError, match=message):
        SoftmaxExplorer(logits, true_class)


def test_softmax_explorer_rejects_wrong_number_of_labels():
    with pytest.raises(ValueError, match="2 class_labels for 3 logits"):
        SoftmaxExplorer([1.0, 2.0, 3.0], 0, class_labels=["cat", "dog"])


def test_softmax_explorer_moves_its_bars_in_place(close_after):
    explorer = SoftmaxExplorer([2.0, 1.0, 0.1], true_class=1)
    close_after(explorer)
    for value in (-3.0, 4.0, 0.5):
        assert_redrawn_in_place(explorer, lambda: setattr(explorer.logit_sliders[0], "value", value),
                                full_draws=1)
    ax = explorer.fig.axes[0]
    np.testing.assert_allclose([bar.get_height() for bar in explorer.picture.bars], explorer.probs)
    assert [t.get_text() for t in explorer.picture.labels] == [f"{p:.3f}" for p in explorer.probs]
    assert ax.get_title().endswith(f"loss = -ln p = {explorer.loss:.3f}")
    assert_like_a_plain_drawing(explorer)


@pytest.mark.parametrize("n_logits", [2, 4, 10])
def test_softmax_explorer_fits_a_laptop(n_logits, close_after):
    explorer = SoftmaxExplorer(list(np.linspace(-2, 2, n_logits)), true_class=0)
    close_after(explorer)
    assert_no_test_marker_visible(explorer)
    # a slider per logit and one for T
    assert_fits_the_screen(explorer, controls_px(math.ceil((n_logits + 1) / SLIDERS_PER_ROW)))


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
    assert lab.fig.get_suptitle() == "exp overflows float32 above 88.7"


@pytest.mark.parametrize("kwargs, message", [
    ({"logits": [1.0]}, "2 to 10"),
    ({"logits": [1.0, np.inf]}, "finite"),
    ({"logits": [1.0, 2.0], "max_log10_scale": 0}, "max_log10_scale"),
])
def test_stability_lab_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StabilityLab(**kwargs)


def test_stability_lab_updates_in_place(close_after):
    lab = StabilityLab([2.0, 3.0, -1.0])
    close_after(lab)
    # Below the overflow only animated artists change: no full redraw.
    for value in (0.5, 1.0, 1.5):
        assert_redrawn_in_place(lab, lambda: setattr(lab.scale_slider, "value", value), full_draws=1)
    naive_ax = lab.fig.axes[0]
    assert [t.get_text() for t in lab.picture.logit_labels[0]] == ["z0\n63.2456", "z1\n94.8683", "z2\n-31.6228"]
    # The verdict in the title changes once: one full redraw.
    assert_redrawn_in_place(lab, lambda: setattr(lab.scale_slider, "value", 3.0), full_draws=2)
    assert naive_ax.get_title().endswith("2 of 3 values not finite")
    hatched = [bar for bar in naive_ax.patches if bar.get_visible() and bar.get_hatch()]
    assert len(hatched) == 2                                       # the two nan bars
    assert lab.fig.get_suptitle() == "exp overflows float64 above 709.8"
    assert_like_a_plain_drawing(lab)


def test_stability_lab_fits_a_laptop(close_after):
    lab = StabilityLab(np.linspace(-3, 4, 10))
    close_after(lab)
    lab.scale_slider.value = 2.5
    assert_no_test_marker_visible(lab)
    assert_fits_the_screen(lab, controls_px(1))                    # a slider and a menu


# ----------------------------------------------------------------------------- the lessons' figures

@pytest.mark.parametrize("draw, size, n_axes", [
    (lambda: plot_probabilities([0.2, 0.8], true_class=1), (500, 300), 1),
    (lambda: plot_softmax_stability([1.0, 800.0], [0.0, np.nan], [0.0, 1.0]), (900, 360), 2),
])
def test_static_pictures_keep_their_size_and_axes(draw, size, n_axes):
    """The lessons store '<Figure size WxH with N Axes>'; a static picture has nothing animated."""
    fig = draw()
    assert tuple(int(v) for v in fig.get_size_inches() * 100) == size and len(fig.axes) == n_axes
    assert not fig.findobj(lambda a: a.get_animated())
    assert plt.fignum_exists(fig.number)                 # a pyplot figure: plt.show() shows it


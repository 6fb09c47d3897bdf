"""Lesson 7's explorers: activation and gradient statistics of a plain deep net (checked against
the variance argument and against a float64 forward/backward written out here), their picture
and DepthExplorer; augmented digits (the same draw as cnnlib.augment), their picture and
AugmentExplorer (controls, one figure updated in place, a laptop screen, bad input)."""
import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pytest
from explorer_helpers import (assert_fits_the_screen, assert_like_a_plain_drawing, assert_no_test_marker_visible,
                              assert_redrawn_in_place, assert_same_picture, controls_px, decoded, drawn)

from cnnlib.augment import Augment, warp
from cnnlib.explore.deeper import (ACTIVATIONS, INITS, AugmentExplorer, AugmentPicture, DepthExplorer, LayerStats,
                                   LayerStatsPicture, init_std, layer_statistics, plot_augmented_digits,
                                   plot_layer_stats)

#: The standard deviation of ReLU(z) for z ~ N(0, 1): sqrt(E[z^2; z > 0] - E[z; z > 0]^2) = sqrt(1/2 - 1/(2 pi)).
RELU_STD = np.sqrt(0.5 - 1 / (2 * np.pi))


def per_layer_factor(values):
    """The geometric mean of the ratio from one layer to the next."""
    values = np.asarray(values)
    return float(np.exp(np.mean(np.log(values[1:] / values[:-1]))))


# ---------------------------------------------------------------- the statistics against the variance argument

def test_he_keeps_the_activations_spread_over_20_relu_layers():
    stats = layer_statistics(20, "he")
    # layer 1's pre-activation has variance fan_in * (2 / fan_in) * E[x^2] = 2: its output is a ReLU of N(0, 2)
    assert stats.act_std[0] == pytest.approx(np.sqrt(2) * RELU_STD, rel=0.05)
    ratios = stats.act_std / stats.act_std[0]
    assert ratios.min() > 0.5 and ratios.max() < 2, ratios            # a finite width wobbles, within a factor 2
    assert per_layer_factor(stats.act_std) == pytest.approx(1, abs=0.03)
    # the weight gradients stay within a factor 10 of each other as well
    assert stats.grad_std.max() / stats.grad_std.min() < 10


def test_small_init_collapses_the_activations_by_orders_of_magnitude():
    stats, he = layer_statistics(20, "small"), layer_statistics(20, "he")
    # every layer multiplies the spread by 0.01 * sqrt(width / 2): 0.057 for width 64
    assert per_layer_factor(stats.act_std) == pytest.approx(0.01 * np.sqrt(64 / 2), rel=0.05)
    assert stats.act_std[-1] / stats.act_std[0] < 1e-20
    # and every weight gradient is tiny: more than 20 orders of magnitude below He's
    assert (stats.grad_std / he.grad_std.min()).max() < 1e-20
    # the net's output is then the same for every input: the loss is log(10) (uniform probabilities)
    assert stats.loss == pytest.approx(np.log(10), abs=1e-3)


def test_xavier_suits_a_linear_net_and_he_suits_relu():
    xavier_linear = layer_statistics(20, "xavier", activation="none")
    assert per_layer_factor(xavier_linear.act_std) == pytest.approx(1, abs=0.03)
    assert xavier_linear.act_std[0] == pytest.approx(1, rel=0.05)           # Var = width * (1 / width) * 1
    # without ReLU's halving, He doubles the variance at each layer ...
    assert per_layer_factor(layer_statistics(20, "he", activation="none").act_std) == \
        pytest.approx(np.sqrt(2), rel=0.03)
    # ... and with ReLU, Xavier halves it
    assert per_layer_factor(layer_statistics(20, "xavier").act_std) == pytest.approx(1 / np.sqrt(2), rel=0.03)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_batchnorm_keeps_every_layer_normalised_whatever_the_init(activation):
    runs = [layer_statistics(20, init, activation=activation, batchnorm=True) for init in INITS]
    expected = RELU_STD if activation == "relu" else 1.0                      # ReLU of N(0, 1), or N(0, 1) itself
    for stats in runs:
        assert stats.batchnorm and np.all(np.abs(stats.act_std / expected - 1) < 0.07), stats.act_std
        if activation == "none":
            np.testing.assert_allclose(stats.act_mean, 0, atol=1e-5)
            np.testing.assert_allclose(stats.act_std, 1, atol=2e-3)            # eps = 1e-5 shaves a little
    # batch norm undoes the weights' scale: the three inits give the same outputs (up to eps)
    np.testing.assert_allclose(runs[0].act_std, runs[2].act_std, rtol=5e-3)
    np.testing.assert_allclose(runs[1].act_std, runs[2].act_std, rtol=5e-3)


def test_init_std_follows_the_formulas():
    assert init_std("small", 30, 70) == 0.01
    assert init_std("xavier", 30, 70) == pytest.approx(np.sqrt(2 / 100))
    assert init_std("he", 30, 70) == pytest.approx(np.sqrt(2 / 30))


# ---------------------------------------------------------------- the statistics against a forward/backward by hand

def by_hand(depth, init, width, n, seed, activation):
    """The same net in float64, drawn in the same order from the same seed, run by plain NumPy."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, width))
    labels = rng.integers(0, 10, size=n)
    ws = [rng.standard_normal((width, width)) * init_std(init, width, width) for _ in range(depth)]
    head = rng.standard_normal((width, 10)) * init_std(init, width, 10)
    hs, zs, h = [x], [], x
    for w in ws:
        zs.append(h @ w)
        h = np.maximum(zs[-1], 0) if activation == "relu" else zs[-1]
        hs.append(h)
    logits = h @ head
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), labels]).mean()
    dlogits = p.copy()
    dlogits[np.arange(n), labels] -= 1
    d = dlogits / n @ head.T                                                   # dL/da of the last hidden layer
    grad_std, act_grad_std = np.zeros(depth), np.zeros(depth)
    for l in reversed(range(depth)):
        act_grad_std[l] = d.std()
        dz = d * (zs[l] > 0) if activation == "relu" else d
        grad_std[l] = (hs[l].T @ dz).std()
        d = dz @ ws[l].T
    act = np.array([h.std() for h in hs[1:]])
    mean = np.array([h.mean() for h in hs[1:]])
    return mean, act, grad_std, act_grad_std, loss


@pytest.mark.parametrize("init, activation", [("he", "relu"), ("xavier", "none"), ("small", "relu")])
def test_statistics_equal_a_float64_forward_and_backward_by_hand(init, activation):
    stats = layer_statistics(4, init, width=7, n=5, rng=3, activation=activation)
    mean, act, grad, act_grad, loss = by_hand(4, init, 7, 5, 3, activation)
    np.testing.assert_allclose(stats.act_mean, mean, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(stats.act_std, act, rtol=1e-4)
    np.testing.assert_allclose(stats.grad_std, grad, rtol=1e-3)
    np.testing.assert_allclose(stats.act_grad_std, act_grad, rtol=1e-3)
    assert stats.loss == pytest.approx(loss, rel=1e-5)
    assert (stats.depth, stats.width, stats.n) == (4, 7, 5)


def test_the_same_seed_gives_the_same_numbers_and_another_seed_others():
    a, b, c = layer_statistics(5, "he", rng=1), layer_statistics(5, "he", rng=1), layer_statistics(5, "he", rng=2)
    np.testing.assert_array_equal(a.act_std, b.act_std)
    np.testing.assert_array_equal(a.grad_std, b.grad_std)
    assert not np.array_equal(a.act_std, c.act_std)


def test_layer_statistics_rejects_bad_input():
    with pytest.raises(ValueError, match=r"depth must be an integer >= 1, got 0"):
        layer_statistics(0, "he")
    with pytest.raises(ValueError, match=r"depth must be an integer >= 1, got 2.5"):
        layer_statistics(2.5, "he")
    with pytest.raises(ValueError, match=r"init must be one of 'small', 'xavier', 'he', got 'kaiming'"):
        layer_statistics(3, "kaiming")
    with pytest.raises(ValueError, match=r"activation must be one of 'relu', 'none', got 'tanh'"):
        layer_statistics(3, "he", activation="tanh")
    with pytest.raises(ValueError, match=r"batchnorm must be True or False, got 'yes'"):
        layer_statistics(3, "he", batchnorm="yes")
    with pytest.raises(ValueError, match=r"width must be an integer >= 2"):
        layer_statistics(3, "he", width=1)
    with pytest.raises(ValueError, match=r"n must be an integer >= 2"):
        layer_statistics(3, "he", n=1)
    with pytest.raises(ValueError, match=r"init must be one of"):
        init_std("uniform", 3, 3)


# ---------------------------------------------------------------- the statistics picture

def test_static_layer_stats_picture_is_the_live_pictures_first_drawing():
    for stats in (layer_statistics(12, "small"), layer_statistics(3, "he", batchnorm=True)):
        fig = plot_layer_stats(stats, max_depth=15)
        assert_same_picture(fig, LayerStatsPicture(stats, max_depth=15, live=True).fig)
        plt.close(fig)


def test_layer_stats_picture_draws_the_numbers_on_log_axes():
    stats = layer_statistics(12, "small")
    pic = LayerStatsPicture(stats, live=True)
    ax_act, ax_grad = pic.axes
    assert ax_act.get_yscale() == ax_grad.get_yscale() == "log"
    x, y = pic.act_line.get_data()
    np.testing.assert_array_equal(x, np.arange(1, 13))
    np.testing.assert_array_equal(y, stats.act_std)
    np.testing.assert_array_equal(pic.grad_line.get_data()[1], stats.grad_std)
    for ax, values in ((ax_act, stats.act_std), (ax_grad, stats.grad_std)):
        low, high = ax.get_ylim()
        assert low < values.min() and values.max() < high
        assert np.log10(low) == int(np.log10(low)) and np.log10(high) == int(np.log10(high))    # whole decades
    assert ax_act.get_ylim()[1] > stats.input_std                              # the input's line is on the axes
    assert pic.act_text.get_text() == f"output std, last / first layer: ×{stats.act_std[-1] / stats.act_std[0]:.2g}"
    assert pic.fig._suptitle.get_text() == "64 units a layer, small (0.01) init, ReLU"


def test_a_layer_that_underflowed_is_left_out_and_counted():
    stats = layer_statistics(6, "small")
    act = stats.act_std.copy()
    act[4:] = 0.0                                                              # as float32 does past 1e-45
    pic = LayerStatsPicture(dataclasses.replace(stats, act_std=act), live=True)
    y = pic.act_line.get_data()[1]
    assert np.isnan(y[4:]).all() and np.isfinite(y[:4]).all()
    assert pic.act_text.get_text() == "output std: 2 layer(s) exactly 0 (underflow)"


def test_layer_stats_picture_rejects_bad_input():
    stats = layer_statistics(5, "he")
    with pytest.raises(ValueError, match="expected the LayerStats that layer_statistics returns, got dict"):
        plot_layer_stats({"act_std": [1, 2]})
    with pytest.raises(ValueError, match=r"max_depth must be an integer >= 5"):
        plot_layer_stats(stats, max_depth=3)
    pic = LayerStatsPicture(stats, live=True)
    with pytest.raises(ValueError, match="6 layers do not fit an axis of 5; build the picture with max_depth=6"):
        pic.update(layer_statistics(6, "he"))
    assert isinstance(pic.stats, LayerStats) and pic.stats.depth == 5


# ---------------------------------------------------------------- DepthExplorer

def test_depth_explorer_shows_the_statistics_of_its_settings(close_after):
    ex = DepthExplorer(depth=8, init="xavier", max_depth=12)
    close_after(ex)
    drawn(ex)
    expected = layer_statistics(8, "xavier")
    np.testing.assert_array_equal(ex.stats.act_std, expected.act_std)
    np.testing.assert_array_equal(ex.picture.act_line.get_data()[1], expected.act_std)
    assert ex.fig.axes[0].get_xlim() == (0.5, 12.5)                           # the slider's whole range
    ex.batchnorm.value = True
    ex.activation.value = "none"
    expected = layer_statistics(8, "xavier", activation="none", batchnorm=True)
    np.testing.assert_array_equal(ex.stats.act_std, expected.act_std)
    measured = ex.stats
    ex.depth.value = 9
    ex.depth.value = 8                                                         # back: measured once, shown again
    assert ex.stats is measured and ex.draw_count == 5
    assert ex.fig._suptitle.get_text() == "64 units a layer, Xavier init, no activation, batch norm"


def test_depth_explorer_moves_the_depth_in_place_and_keeps_a_picture_per_kind_of_net(close_after):
    ex = DepthExplorer(depth=20, init="small")
    close_after(ex)
    # the axes were laid out for the deepest net: a depth move redraws the curves only
    assert_redrawn_in_place(ex, lambda: ex.depth.__setattr__("value", 10), full_draws=1)
    assert_redrawn_in_place(ex, lambda: ex.depth.__setattr__("value", 30), full_draws=1)
    assert len(ex.picture.act_line.get_data()[0]) == 30
    small_fig = ex.fig
    ex.init.value = "he"
    assert ex.fig is not small_fig and ex.status.value == ""
    full = ex.full_draw_count
    ex.init.value = "small"                                                    # kept: no new figure
    assert ex.fig is small_fig and ex.full_draw_count == full
    assert_like_a_plain_drawing(ex)


def test_depth_explorer_fits_a_laptop_screen_and_hides_test_markers(close_after):
    ex = DepthExplorer()
    close_after(ex)
    assert_no_test_marker_visible(ex)
    # two rows of controls: the depth slider and the init menu; the activation menu and the checkbox
    width, height = assert_fits_the_screen(ex, controls_px(2))
    assert width == 900
    fonts = [t.get_fontsize() for t in ex.fig.findobj(lambda a: type(a).__name__ == "Text") if t.get_text().strip()]
    assert min(fonts) >= 8


def test_depth_explorer_shows_an_error_and_the_next_move_rebuilds(monkeypatch, close_after):
    ex = DepthExplorer(depth=5)
    close_after(ex)
    png = ex.png
    monkeypatch.setattr(LayerStatsPicture, "update", lambda *a, **k: 1 / 0)
    ex.depth.value = 6
    assert "ZeroDivisionError" in ex.status.value and ex.png == png
    monkeypatch.undo()
    ex.depth.value = 7
    assert ex.status.value == "" and len(ex.picture.act_line.get_data()[0]) == 7


def test_depth_explorer_rejects_bad_input():
    with pytest.raises(ValueError, match=r"DepthExplorer: depth must be an integer in \[1, 30\], got 31"):
        DepthExplorer(depth=31)
    with pytest.raises(ValueError, match=r"DepthExplorer: init must be one of 'small', 'xavier', 'he'"):
        DepthExplorer(init="He")
    with pytest.raises(ValueError, match=r"DepthExplorer: activation must be one of 'relu', 'none'"):
        DepthExplorer(activation="sigmoid")
    with pytest.raises(ValueError, match=r"DepthExplorer: seed must be an integer >= 0"):
        DepthExplorer(seed=np.random.default_rng(0))


# ---------------------------------------------------------------- augmented digits

@pytest.fixture
def digits():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[0, 4:24, 13:16] = 255                       # a one
    images[1, 6:9, 6:22] = 255                         # a bar on top ...
    images[1, 6:24, 19:22] = 255                       # ... and down the right: a seven
    images[2, 8:20, 8:20] = 180                        # a square
    images[2, 11:17, 11:17] = 0
    return images


def test_the_copies_are_the_augment_draw_of_the_repeated_digits(digits):
    pic = AugmentPicture(digits, Augment(shift=3, rotate=30, scale=(0.8, 1.2), rng=7), copies=4)
    expected = Augment(shift=3, rotate=30, scale=(0.8, 1.2), rng=7)(np.repeat(digits / 255.0, 4, axis=0))
    np.testing.assert_array_equal(pic.augmented.reshape(12, 28, 28), expected)
    again = Augment(shift=3, rotate=30, scale=(0.8, 1.2), rng=7).sample(12)
    np.testing.assert_array_equal(pic.params["angle"].ravel(), again["angle"])
    np.testing.assert_array_equal(pic.params["shift"].reshape(12, 2), again["shift"])
    # the copy of digit 1 with angle a, scale s and shift t is warp of that digit by them
    a, s, t = pic.params["angle"][1, 2], pic.params["scale"][1, 2], pic.params["shift"][1, 2]
    np.testing.assert_array_equal(pic.augmented[1, 2], warp(digits[1:2] / 255.0, angle=a, scale=s, shift=t)[0])


def test_the_mosaic_holds_originals_and_copies_with_their_labels(digits):
    pic = AugmentPicture(digits, copies=2, rng=5, live=True)
    rows, cols = pic._rows, pic._cols
    for i in range(3):
        np.testing.assert_array_equal(pic.mosaic[rows[i]:rows[i] + 28, :28], digits[i] / 255.0)
        for c in range(2):
            np.testing.assert_array_equal(pic.mosaic[rows[i]:rows[i] + 28, cols[c + 1]:cols[c + 1] + 28],
                                          pic.augmented[i, c])
    assert np.isnan(pic.mosaic[:28, 28:cols[1]]).all()                        # the gap after the originals
    originals, copies = (im.get_array() for im in pic.ax.images)
    assert copies is pic.image.get_array()
    assert originals.dtype == copies.dtype == np.uint8 and originals.shape == copies.shape == pic.mosaic.shape + (4,)
    np.testing.assert_array_equal(originals[rows[1]:rows[1] + 28, :28, 0], digits[1])   # 0..255 grey, exactly
    assert (originals[:28, :28, 3] == 255).all() and (copies[:28, :28, 3] == 0).all()   # copies: clear there
    np.testing.assert_array_equal(copies[rows[2]:rows[2] + 28, cols[2]:cols[2] + 28, 0],
                                  np.round(pic.augmented[2, 1] * 255))
    assert (originals[:28, 28:cols[1], 3] == 0).all() and (copies[:28, 28:cols[1], 3] == 0).all()   # the gap
    angle, scale = pic.params["angle"][2, 1], pic.params["scale"][2, 1]
    expected = f"{angle:+.0f}° ×{scale:.2f}".replace("-", "−")
    assert pic.labels[2 * 2 + 1].get_text() == expected


def test_no_augmentation_copies_the_digits_exactly(digits):
    pic = AugmentPicture(digits, Augment(shift=0, rotate=0, scale=(1, 1)), copies=3)
    for c in range(3):
        np.testing.assert_array_equal(pic.augmented[:, c], digits / 255.0)
    assert {label.get_text() for label in pic.labels} == {"0° ×1.00"}


def test_static_augment_picture_is_the_live_pictures_first_drawing(digits):
    for kwargs in ({}, {"copies": 8, "title": "a title"}, {"numbers": False}):
        fig = plot_augmented_digits(digits, rng=3, **kwargs)
        assert_same_picture(fig, AugmentPicture(digits, rng=3, live=True, **kwargs).fig)
        plt.close(fig)


def test_augment_pictures_fit_a_laptop_screen_for_every_size(digits):
    many = np.repeat(digits, 2, axis=0)                                        # six digits
    for images, copies in ((digits[:1], 1), (digits, 5), (many, 8), (many, 1)):
        pic = AugmentPicture(images, copies=copies, live=True)
        width, height = decoded(pic.png()).shape[1::-1]
        assert width <= 900 and height <= 640 - controls_px(3), (len(images), copies, width, height)
        inside = pic.fig.get_tightbbox(pic.fig.canvas.get_renderer())
        W, H = pic.fig.get_size_inches()
        assert inside.x0 >= 0 and inside.y0 >= 0 and inside.x1 <= W and inside.y1 <= H, "nothing cut off"


def test_augment_picture_rejects_bad_input(digits):
    with pytest.raises(ValueError, match=r"got one image \(28, 28\); use image\[None\]"):
        plot_augmented_digits(digits[0])
    with pytest.raises(ValueError, match="got 7 digits; show at most 6, e.g. images\\[:6\\]"):
        plot_augmented_digits(np.zeros((7, 28, 28)))
    with pytest.raises(ValueError, match=r"copies must be an integer in \[1, 8\], got 9"):
        plot_augmented_digits(digits, copies=9)
    with pytest.raises(ValueError, match="augment must be a cnnlib.augment.Augment, got dict"):
        plot_augmented_digits(digits, {"shift": 2})
    bad = digits / 255.0
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="the digits contain NaN or infinity"):
        plot_augmented_digits(bad)


# ---------------------------------------------------------------- AugmentExplorer

def test_augment_explorer_draws_what_its_controls_say(digits, close_after):
    ex = AugmentExplorer(digits, copies=3, seed=4)
    close_after(ex)
    drawn(ex)
    expected = Augment(shift=2, rotate=10, scale=(0.9, 1.1), rng=4)(np.repeat(digits / 255.0, 3, axis=0))
    np.testing.assert_array_equal(ex.picture.augmented.reshape(9, 28, 28), expected)
    ex.rotate.value = 30
    ex.scale.value = (0.7, 1.0)
    assert repr(ex.augment) == "Augment(shift=2, rotate=30, scale=(0.7, 1))"
    assert np.abs(ex.picture.params["angle"]).max() <= 30 and ex.picture.params["scale"].max() <= 1.0
    assert np.abs(ex.picture.params["angle"]).max() > 10                      # the wider range is used


def test_the_same_seed_draws_the_same_copies_and_new_draw_moves_it_on(digits, close_after):
    ex = AugmentExplorer(digits)
    close_after(ex)
    first = ex.png
    ex.new_draw.click()
    assert ex.seed.value == 1 and ex.png != first and ex.draw_count == 2
    ex.seed.value = 0
    assert ex.png == first                                                    # seeded: the same picture again
    ex.seed.value = ex.seed.max
    ex.new_draw.click()
    assert ex.seed.value == 0 and ex.png == first


@pytest.mark.parametrize("numbers", [False, True])
def test_augment_explorer_redraws_only_the_copies_in_place(digits, close_after, numbers):
    ex = AugmentExplorer(digits, numbers=numbers)
    close_after(ex)
    assert_redrawn_in_place(ex, lambda: ex.seed.__setattr__("value", 5), full_draws=1)
    assert_redrawn_in_place(ex, lambda: ex.shift.__setattr__("value", 4.0), full_draws=1)
    assert_redrawn_in_place(ex, lambda: ex.new_draw.click(), full_draws=1)
    assert_redrawn_in_place(ex, lambda: ex.numbers.__setattr__("value", not numbers), full_draws=1)
    assert all(label.get_visible() == (not numbers) for label in ex.picture.labels)
    assert_like_a_plain_drawing(ex)


def test_augment_explorer_fits_a_laptop_screen_and_hides_test_markers(digits, close_after):
    ex = AugmentExplorer(np.concatenate([digits, digits[:1]]), copies=5, numbers=True)
    close_after(ex)
    assert_no_test_marker_visible(ex)
    # three rows of controls: shift and rotation; scale and seed; the button and the checkbox
    assert_fits_the_screen(ex, controls_px(3))
    fonts = [t.get_fontsize() for t in ex.fig.findobj(lambda a: type(a).__name__ == "Text") if t.get_text().strip()]
    assert min(fonts) >= 8


def test_augment_explorer_rejects_bad_input(digits):
    with pytest.raises(ValueError, match="Augment: rotate is the largest degrees either way, so it must be 0 or more"):
        AugmentExplorer(digits, rotate=-5)
    with pytest.raises(ValueError, match=r"Augment: scale must be \(low, high\) with 0 < low <= high"):
        AugmentExplorer(digits, scale=(1.2, 0.8))
    with pytest.raises(ValueError, match=r"AugmentExplorer: seed must be an integer in \[0, 999\]"):
        AugmentExplorer(digits, seed=-1)
    with pytest.raises(ValueError, match="AugmentExplorer: rotate goes up to 45 on its slider, got 60"):
        AugmentExplorer(digits, rotate=60)
    with pytest.raises(ValueError, match="AugmentExplorer: shift goes up to 6 on its slider, got 8"):
        AugmentExplorer(digits, shift=8)
    with pytest.raises(ValueError, match=r"AugmentExplorer: scale must lie within 0.5-1.5 .*got \(0.4, 1\)"):
        AugmentExplorer(digits, scale=(0.4, 1))
    with pytest.raises(ValueError, match="AugmentExplorer: numbers must be True or False, got 1"):
        AugmentExplorer(digits, numbers=1)
    with pytest.raises(ValueError, match=r"AugmentExplorer: expected digits of shape \(N, H, W\)"):
        AugmentExplorer(np.zeros((2, 1, 28, 28)))

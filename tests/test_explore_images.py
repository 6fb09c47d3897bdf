"""Images (lessons 1-3): digits white on black everywhere, signed arrays red/blue around 0,
numbers that stand out from their cells, and clear errors for bad input."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnlib.explore.images import (DIGIT_CMAP, ImageNumbers, as_float_image, plot_digit_grid, plot_unit_weights,
                                   show_image, text_colours)
from cnnlib.explore.picture import Picture


def white_ink_on_black(im):
    """The image maps its smallest value to black and its largest to white."""
    lo, hi = im.get_clim()
    return im.cmap(im.norm(lo))[:3] == (0.0, 0.0, 0.0) and im.cmap(im.norm(hi))[:3] == (1.0, 1.0, 1.0)


@pytest.fixture
def digits(rng):
    images = np.zeros((12, 28, 28), dtype=np.uint8)
    images[:, 4:24, 13:15] = 255                     # a "1" in each
    images[:, 10, 8:20] = rng.integers(100, 256, size=12)[:, None]
    return images


# ---------------------------------------------------------------- one convention for digits (issue 11, item 1)

def test_digit_grid_draws_white_ink_on_black_with_one_scale(digits):
    fig = plot_digit_grid(digits, np.arange(12) % 10, n_cols=10)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 12 and len(fig.axes) == 20              # two rows of ten, eight left empty
    assert all(im.get_cmap().name == DIGIT_CMAP == "gray" for im in images)
    assert all(tuple(im.get_clim()) == (0, 255) for im in images)  # 0 black, 255 white, in every cell
    assert all(white_ink_on_black(im) for im in images)
    assert [ax.get_title() for ax in fig.axes[:12]] == [str(v) for v in np.arange(12) % 10]
    assert fig.get_size_inches()[0] <= 9


def test_show_image_draws_digits_white_on_black_and_signed_arrays_around_zero(digits):
    fig = show_image(digits[0], title="a one")
    im = fig.axes[0].images[0]
    assert im.get_cmap().name == "gray" and white_ink_on_black(im) and fig.axes[0].get_title() == "a one"
    kernel = np.array([[-2.0, 0.5], [1.0, 0.0]])
    fig, axes = plt.subplots(1, 2)
    assert show_image(kernel, ax=axes[1], symmetric=True, colorbar=True) is fig
    im = axes[1].images[0]
    assert im.get_cmap().name == "RdBu_r" and tuple(im.get_clim()) == (-2.0, 2.0)
    assert len(fig.axes) == 3                                      # the colour bar
    show_image(kernel, ax=axes[0], symmetric=True, cmap="PuOr")
    assert axes[0].images[0].get_cmap().name == "PuOr"


def test_unit_weights_each_get_a_scale_centred_on_zero(rng):
    weights = rng.normal(size=(10, 5, 4)) * np.arange(1, 11)[:, None, None]
    fig = plot_unit_weights(weights, n_cols=8, title="units")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 10
    for w, im in zip(weights, images):
        limit = np.abs(w).max()
        assert im.get_cmap().name == "RdBu_r" and np.allclose(im.get_clim(), (-limit, limit))
    assert fig.axes[3].get_title() == "unit 3" and fig.get_suptitle() == "units"
    assert fig.get_size_inches()[0] <= 9, "8 units a row fit 9 inches"


def test_static_pictures_reject_bad_input(digits):
    with pytest.raises(ValueError, match=r"show_image: expected a non-empty 2-D array \(H, W\), got shape \(2, 3, 4\)"):
        show_image(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"plot_digit_grid: expected images of shape \(N, H, W\).*\(28, 28\)"):
        plot_digit_grid(digits[0])
    with pytest.raises(ValueError, match="got 2 labels for 12 images"):
        plot_digit_grid(digits, [1, 2])
    with pytest.raises(ValueError, match=r"plot_unit_weights: expected weights of shape \(n_units, H, W\)"):
        plot_unit_weights(np.zeros((0, 3, 3)))
    with pytest.raises(ValueError, match="got 1 titles for 2 units"):
        plot_unit_weights(np.zeros((2, 3, 3)), titles=["a"])


def test_as_float_image_scales_uint8_and_refuses_what_is_not_an_image():
    np.testing.assert_array_equal(as_float_image("t", np.array([[0, 51, 255]], dtype=np.uint8)), [[0, 0.2, 1]])
    assert as_float_image("t", np.array([[1, -2]])).dtype == np.float64          # ints other than uint8: as they are
    with pytest.raises(ValueError, match=r"t: expected one 2-D image of shape \(H, W\), got shape \(3,\)"):
        as_float_image("t", np.zeros(3))
    with pytest.raises(ValueError, match="t: expected real numbers, got dtype <U1"):
        as_float_image("t", np.array([["a"]]))
    with pytest.raises(ValueError, match="NaN or infinity"):
        as_float_image("t", np.array([[np.inf]]))


# ---------------------------------------------------------------- numbers in cells

def test_text_colours_stand_out_from_any_colour_map():
    fig, ax = plt.subplots()
    values = np.array([[0.0, 1.0]])
    for cmap, expected in (("gray", ["white", "black"]), ("Greys", ["black", "white"])):
        im = ax.imshow(values, cmap=cmap, vmin=0, vmax=1)
        assert text_colours(im, values).tolist() == [expected]
    im = ax.imshow(np.array([[-1.0, 0.0, 1.0]]), cmap="RdBu_r", vmin=-1, vmax=1)
    assert text_colours(im, np.array([[-1.0, 0.0, 1.0]])).tolist() == [["white", "black", "white"]]


class _Live(Picture):
    def __init__(self):
        self._start((2, 2), live=True)


def test_image_numbers_follow_the_values_and_can_stay_out_of_the_animation():
    pic = _Live()
    ax = pic.fig.add_subplot()
    im = ax.imshow(np.zeros((2, 2)), cmap="gray", vmin=0, vmax=1)
    moving = ImageNumbers(pic, im)
    still = ImageNumbers(pic, im, animated=False, zorder=2)
    assert all(t.get_animated() for row in moving.texts for t in row)
    assert not any(t.get_animated() for row in still.texts for t in row)
    assert all(t.get_zorder() == 2 for row in still.texts for t in row)
    moving.update(np.array([[0.0, 1.0], [np.nan, -0.0]]), fmt="{:.2g}")
    texts = moving.texts
    assert [texts[0][0].get_text(), texts[0][1].get_text(), texts[1][1].get_text()] == ["0", "1", "0"]   # no "-0"
    assert (texts[0][0].get_color(), texts[0][1].get_color()) == ("white", "black")
    assert not texts[1][0].get_visible()                             # NaN: an empty cell
    moving.update(np.array([[1.0, 1.0], [1.0, 1.0]]))
    assert texts[1][0].get_visible() and texts[0][0].get_color() == "black"

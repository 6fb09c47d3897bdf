"""Colour (lesson 2): the sample photo channels first, a 3-channel kernel as three
one-channel correlations added up (by hand and against conv2d_forward), the pictures draw
exactly those arrays, and bad input is refused clearly."""
import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image

from cnnlib.explore.colour import (CHANNEL_NAMES, SAMPLE_PHOTO, channel_maps, plot_channel_convolution,
                                   sample_photo, show_rgb)
from cnnlib.ops import conv2d_forward

# A 2x3 image with three channels and a 2x2 kernel slice per channel, small enough to do by hand.
IMAGE = np.array([[[1, 2, 3], [4, 5, 6]],          # red
                  [[0, 1, 0], [1, 0, 1]],          # green
                  [[2, 2, 2], [0, 0, 0]]], float)  # blue
KERNEL = np.array([[[1, 0], [0, 0]],               # red: the window's top-left pixel
                   [[0, 0], [0, 1]],               # green: its bottom-right pixel
                   [[1, 1], [-1, -1]]], float)     # blue: top row minus bottom row


# ---------------------------------------------------------------- the photo

def test_sample_photo_is_the_jpeg_channels_first_in_0_1():
    pixels = np.asarray(Image.open(matplotlib.cbook.get_sample_data(SAMPLE_PHOTO, asfileobj=False)))  # (600, 512, 3)
    full = sample_photo(step=1)
    assert full.shape == (3, 600, 512) and full.dtype == np.float64
    np.testing.assert_array_equal(full[:, 123, 45], pixels[123, 45] / 255.0)
    np.testing.assert_array_equal(full[1], pixels[..., 1] / 255.0)
    small = sample_photo()                                        # every 2nd pixel by default
    assert small.shape == (3, 300, 256)
    np.testing.assert_array_equal(small[:, 7, 9], full[:, 14, 18])
    assert sample_photo(step=4).shape == (3, 150, 128)
    assert 0.0 <= full.min() and full.max() <= 1.0


@pytest.mark.parametrize("step", [0, -2, 1.5, True, "2"])
def test_sample_photo_refuses_a_bad_step(step):
    with pytest.raises(ValueError, match=r"sample_photo: step must be a whole number >= 1"):
        sample_photo(step=step)


# ---------------------------------------------------------------- the sum of per-channel correlations

def test_channel_maps_by_hand_and_their_sum_is_the_3_channel_convolution():
    maps = channel_maps(IMAGE, KERNEL)
    np.testing.assert_array_equal(maps, [[[1, 2]], [[0, 1]], [[4, 4]]])
    out, _ = conv2d_forward(IMAGE[None], KERNEL[None], np.zeros(1))    # (1, 1, 1, 2)
    np.testing.assert_array_equal(out[0, 0], [[5, 7]])
    np.testing.assert_allclose(maps.sum(axis=0), out[0, 0])


def test_channel_maps_sum_equals_conv2d_forward_on_random_non_square_input(rng):
    image, kernel = rng.random((3, 9, 13)), rng.normal(size=(3, 4, 2))
    before = image.copy(), kernel.copy()
    maps = channel_maps(image, kernel)
    assert maps.shape == (3, 6, 12)
    out, _ = conv2d_forward(image[None], kernel[None], np.zeros(1))
    np.testing.assert_allclose(maps.sum(axis=0), out[0, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(image, before[0])
    np.testing.assert_array_equal(kernel, before[1])


def test_grey_edges_cancel_in_a_red_minus_blue_kernel():
    sobel_y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], float)
    grey = np.repeat(np.tril(np.ones((6, 7)))[None], 3, axis=0)     # the same edge in every channel
    maps = channel_maps(grey, np.stack([sobel_y, np.zeros((3, 3)), -sobel_y]))
    assert np.abs(maps[0]).max() > 0
    np.testing.assert_array_equal(maps.sum(axis=0), 0)


@pytest.mark.parametrize("image,kernel,message", [
    (np.zeros((4, 5, 3)), np.zeros((3, 2, 2)),
     r"shape \(3, H, W\), got shape \(4, 5, 3\); .* image.transpose\(2, 0, 1\)"),
    (np.zeros((4, 5)), np.zeros((3, 2, 2)), r"channels first, shape \(3, H, W\), got shape \(4, 5\)"),
    (np.zeros((3, 4, 5)), np.zeros((2, 2)), r"one kernel slice per channel, shape \(3, KH, KW\), got shape \(2, 2\)"),
    (np.zeros((3, 4, 5)), np.zeros((1, 2, 2)), r"shape \(3, KH, KW\), got shape \(1, 2, 2\)"),
    (np.zeros((3, 4, 5)), np.zeros((3, 5, 2)), r"the 5x2 kernel is larger than the 4x5 image"),
    (np.full((3, 4, 5), np.nan), np.zeros((3, 2, 2)), r"NaN or infinity"),
    (np.full((3, 4, 5), "a"), np.zeros((3, 2, 2)), r"expected real numbers"),
])
def test_channel_maps_refuses_bad_input_naming_it(image, kernel, message):
    with pytest.raises(ValueError, match=f"channel_maps: .*{message}"):
        channel_maps(image, kernel)


# ---------------------------------------------------------------- the pictures

def test_show_rgb_draws_the_channels_last_and_clipped():
    image = np.array([[[0.2, 1.5]], [[0.4, 0.0]], [[-0.1, 0.6]]])       # (3, 1, 2)
    fig = show_rgb(image, title="two pixels")
    ax, = fig.axes
    np.testing.assert_array_equal(ax.images[0].get_array(), [[[0.2, 0.4, 0.0], [1.0, 0.0, 0.6]]])
    assert ax.get_title() == "two pixels" and not ax.get_xticks().size
    with pytest.raises(ValueError, match=r"show_rgb: expected a colour image channels first"):
        show_rgb(np.zeros((5, 5)))


def test_channel_convolution_picture_shows_channels_slices_maps_and_their_sum():
    fig = plot_channel_convolution(IMAGE, KERNEL, title="by hand")
    by_title = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    for c, name in enumerate(CHANNEL_NAMES):
        np.testing.assert_array_equal(by_title[f"channel {c}: {name}"].images[0].get_array(), IMAGE[c])
        np.testing.assert_array_equal(by_title[f"kernel slice w[{c}]"].images[0].get_array(), KERNEL[c])
    maps = [by_title[f"{name} ⋆ w[{c}]"].images[0] for c, name in enumerate(CHANNEL_NAMES)]
    total = by_title["output = sum of the 3 maps"].images[0]
    np.testing.assert_array_equal([m.get_array() for m in maps], [[[1, 2]], [[0, 1]], [[4, 4]]])
    np.testing.assert_array_equal(total.get_array(), [[5, 7]])
    # one colour scale for the four maps, centred on 0 and wide enough for the largest (the sum's 7)
    assert {m.get_clim() for m in maps + [total]} == {(-7.0, 7.0)}
    np.testing.assert_array_equal(by_title["the photo (3 channels)"].images[0].get_array(),
                                  np.clip(IMAGE, 0, 1).transpose(1, 2, 0))
    assert fig._suptitle.get_text() == "by hand"


def test_channel_convolution_picture_refuses_a_bad_kernel():
    with pytest.raises(ValueError, match=r"channel_maps: expected one kernel slice per channel"):
        plot_channel_convolution(IMAGE, np.zeros((2, 2)))

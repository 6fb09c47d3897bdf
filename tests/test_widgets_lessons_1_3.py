"""Explorers of lessons 1-3: they draw, react to their controls, compute the right numbers, and
refuse bad input with a clear message."""
import numpy as np
import pytest

from cnnlib import ops
from cnnlib.widgets import (KERNEL_PRESETS, ConvGeometryExplorer, FilterExplorer, PoolingExplorer,
                            SlidingWindowStepper)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def reference_conv(image, kernel, stride=1, padding=0):
    out, _ = ops.conv2d_forward_naive(image[None, None].astype(float), np.asarray(kernel, float)[None, None],
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


def drawn(explorer):
    assert explorer.status.value.startswith("drawn #"), explorer.status.value
    assert explorer.png.startswith(PNG_SIGNATURE)
    return explorer.png


# ---------------------------------------------------------------- FilterExplorer

def test_filter_explorer_draws_the_feature_map_of_the_first_digit(digits):
    ex = FilterExplorer(digits, labels=np.array([1, 7, 3]))
    drawn(ex)
    assert ex.status.value == "drawn #1"
    assert ex.controls[0] is ex.digit and type(ex.digit).__name__ == "IntSlider"
    assert (ex.digit.min, ex.digit.max) == (0, 2)
    np.testing.assert_allclose(ex.kernel, KERNEL_PRESETS["vertical edge"])
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[0] / 255, ex.kernel))
    assert ex.feature_map.shape == (10, 8)          # non-square: 12x10 -> 10x8
    ex.close()


def test_filter_explorer_digit_slider_changes_the_picture_and_the_numbers(digits):
    ex = FilterExplorer(digits)
    before_png, before_map = ex.png, ex.feature_map.copy()
    ex.digit.value = 1
    assert ex.status.value == "drawn #2"
    assert ex.png != before_png
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[1] / 255, ex.kernel))
    assert not np.allclose(ex.feature_map, before_map)
    # A vertical-edge kernel sees the vertical stroke but not the horizontal one's middle.
    assert np.abs(before_map).max() == pytest.approx(3.0)
    ex.close()


def test_filter_explorer_preset_fills_the_boxes_and_redraws_once(digits):
    ex = FilterExplorer(digits)
    ex.preset.value = "Sobel y"
    assert ex.draw_count == 2                    # nine boxes filled, one redraw
    np.testing.assert_allclose(ex.kernel, KERNEL_PRESETS["Sobel y"])
    ex.preset.value = "identity"
    np.testing.assert_allclose(ex.feature_map, digits[0, 1:-1, 1:-1] / 255)
    assert ex.draw_count == 3
    ex.close()


def test_filter_explorer_editing_a_box_makes_a_custom_kernel(digits):
    ex = FilterExplorer(digits, kernel="identity")
    before = ex.png
    ex.kernel_boxes[4].value = 2.0               # the centre: identity x 2
    assert ex.preset.value == "custom"
    assert ex.draw_count == 2
    assert ex.png != before
    np.testing.assert_allclose(ex.feature_map, 2 * (digits[0, 1:-1, 1:-1] / 255))
    ex.set_kernel(np.ones((3, 3)))
    np.testing.assert_allclose(ex.feature_map, reference_conv(digits[0] / 255, np.ones((3, 3))))
    ex.close()


def test_filter_explorer_rejects_bad_input(digits):
    with pytest.raises(ValueError, match=r"expected images of shape \(N, H, W\)"):
        FilterExplorer(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="smaller than the 3x3 kernel"):
        FilterExplorer(np.zeros((1, 2, 8)))
    with pytest.raises(ValueError, match="one label per image"):
        FilterExplorer(digits, labels=[1, 2])
    with pytest.raises(ValueError, match="unknown kernel 'emboss'"):
        FilterExplorer(digits, kernel="emboss")
    ex = FilterExplorer(digits[0])             # a single 2-D image is fine
    with pytest.raises(ValueError, match="must be 3x3"):
        ex.set_kernel(np.ones((2, 2)))
    ex.close()


# ---------------------------------------------------------------- SlidingWindowStepper

def test_stepper_walks_every_output_position(rng):
    image = rng.integers(-3, 4, size=(5, 7)).astype(float)
    kernel = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0]])          # non-square 2x3
    st = SlidingWindowStepper(image, kernel)
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
    st.close()


def test_stepper_with_stride(rng):
    image = rng.normal(size=(7, 6))
    st = SlidingWindowStepper(image, np.ones((3, 3)), stride=2)
    assert (st.H_out, st.W_out) == (3, 2)
    st.step.value = 5
    assert st.position == (2, 1)
    assert st.value == pytest.approx(image[4:7, 2:5].sum())
    assert not np.isnan(st.output).any()
    st.close()


def test_stepper_rejects_bad_input():
    with pytest.raises(ValueError, match="does not fit in the image 3x3"):
        SlidingWindowStepper(np.zeros((3, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"expected one 2-D image of shape \(H, W\)"):
        SlidingWindowStepper(np.zeros((1, 3, 3)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"2-D kernel \(KH, KW\)"):
        SlidingWindowStepper(np.zeros((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        SlidingWindowStepper(np.full((3, 3), np.nan), np.ones((2, 2)))


# ---------------------------------------------------------------- ConvGeometryExplorer

def test_geometry_explorer_follows_the_formula():
    ex = ConvGeometryExplorer(size=7, kernel_size=3, padding=0, stride=1)
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
    assert ex.message in ex.widget.children
    ex.close()


def test_geometry_explorer_says_when_the_kernel_does_not_fit():
    ex = ConvGeometryExplorer(size=4, kernel_size=3)
    ex.kernel_size.value = 6
    assert ex.output_size is None
    assert "does not fit" in ex.message.value and "4 + 2·0 = 4" in ex.message.value
    assert ex.status.value == "drawn #2"          # still a picture, with the reason in it
    ex.padding.value = 1                           # 4 + 2 = 6: fits exactly once
    assert ex.output_size == 1
    ex.close()


def test_geometry_explorer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        ConvGeometryExplorer(stride=0)
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        ConvGeometryExplorer(size=2.5)
    with pytest.raises(ValueError, match="larger than max_size"):
        ConvGeometryExplorer(size=40)


# ---------------------------------------------------------------- PoolingExplorer

def test_pooling_explorer_max_marks_the_winners(rng):
    x = rng.normal(size=(6, 8))
    ex = PoolingExplorer(x)
    drawn(ex)
    expected, _ = ops.maxpool2d_forward_naive(x[None, None], kernel_size=2, stride=2)
    np.testing.assert_allclose(ex.output, expected[0, 0])
    assert ex.winners.shape == (3, 4, 2)
    rows, cols = ex.winners[..., 0], ex.winners[..., 1]
    np.testing.assert_allclose(x[rows, cols], ex.output)          # each winner holds its window's max
    assert ((rows // 2 == np.arange(3)[:, None]) & (cols // 2 == np.arange(4)[None, :])).all()
    ex.close()


def test_pooling_explorer_ties_go_to_the_first_maximum():
    x = np.zeros((4, 4))
    x[1, 1] = x[0, 3] = x[1, 2] = 1.0               # window (0, 1) has two tied maxima
    ex = PoolingExplorer(x)
    assert ex.winners[0, 0].tolist() == [1, 1]
    assert ex.winners[0, 1].tolist() == [0, 3]       # row-major: (0, 3) comes before (1, 2)
    assert ex.winners[1, 0].tolist() == [2, 0]       # all zeros: the top-left one wins
    ex.close()


def test_pooling_explorer_controls_change_the_output(rng):
    x = rng.normal(size=(7, 5))
    ex = PoolingExplorer(x)
    before = ex.png
    ex.mode.value = "average"
    assert ex.png != before and ex.winners is None
    np.testing.assert_allclose(ex.output, ops.avgpool2d_forward_naive(x[None, None])[0][0, 0])
    ex.mode.value = "max"
    ex.kernel_size.value = 3
    ex.stride.value = 2                               # overlapping windows: 7x5 -> 3x2
    assert ex.output.shape == (3, 2)
    np.testing.assert_allclose(ex.output, ops.maxpool2d_forward_naive(x[None, None], kernel_size=3,
                                                                      stride=2)[0][0, 0])
    assert ex.status.value == "drawn #4"
    ex.close()


def test_pooling_explorer_scales_uint8_images_and_rejects_bad_input():
    image = np.zeros((6, 6), dtype=np.uint8)
    image[2, 3] = 255
    ex = PoolingExplorer(image)
    assert ex.output.max() == 1.0
    ex.close()
    with pytest.raises(ValueError, match=r"expected one 2-D image of shape \(H, W\)"):
        PoolingExplorer(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="kernel_size 5 does not fit the 4x4 input"):
        PoolingExplorer(np.zeros((4, 4)), kernel_size=5)
    with pytest.raises(ValueError, match="mode must be 'max' or 'average'"):
        PoolingExplorer(np.zeros((4, 4)), mode="min")

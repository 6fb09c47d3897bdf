"""cnnlib.explore.preprocess: resampling, stroke drawing and MNIST-style preprocessing of drawings."""
import numpy as np
import pytest

from cnnlib.explore.preprocess import center_of_mass, draw_stroke, preprocess_digit, preprocess_steps, resize


def ink_box(image):
    """(height, width) of the non-zero pixels' bounding box."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def seven(size=280, width=20, offset=(0, 0), scale=1.0):
    """A '7' drawn with two strokes, as the canvas would rasterise it."""
    dx, dy = offset
    pts1 = [(60, 50), (220, 50)]
    pts2 = [(220, 50), (180, 130), (130, 240)]
    raster = np.zeros((size, size))
    for pts in (pts1, pts2):
        raster = draw_stroke(raster, [(x * scale + dx, y * scale + dy) for x, y in pts], width=width * scale)
    return raster


# ------------------------------------------------------------------ resize
def test_resize_shrinks_by_block_means():
    image = np.arange(24, dtype=float).reshape(4, 6)
    expected = np.array([[(0 + 1 + 2 + 6 + 7 + 8) / 6, (3 + 4 + 5 + 9 + 10 + 11) / 6],
                         [(12 + 13 + 14 + 18 + 19 + 20) / 6, (15 + 16 + 17 + 21 + 22 + 23) / 6]])
    np.testing.assert_allclose(resize(image, 2, 2), expected)


def test_resize_shrinks_by_fractional_areas():
    # 3 -> 2: output pixel 0 covers input [0, 1.5): all of pixel 0, half of pixel 1.
    np.testing.assert_allclose(resize(np.array([[3.0, 6.0, 9.0]]), 1, 2), [[(3 + 0.5 * 6) / 1.5, (0.5 * 6 + 9) / 1.5]])


def test_resize_enlarges_bilinearly_between_pixel_centres():
    np.testing.assert_allclose(resize(np.array([[0.0, 4.0]]), 1, 4), [[0.0, 1.0, 3.0, 4.0]])
    np.testing.assert_allclose(resize(np.array([[0.0], [8.0]]), 4, 1), [[0.0], [2.0], [6.0], [8.0]])


@pytest.mark.parametrize("shape,out", [((7, 5), (3, 2)), ((5, 7), (11, 13)), ((1, 9), (4, 3)), ((20, 3), (20, 3))])
def test_resize_keeps_constants_and_mean_brightness(shape, out, rng):
    np.testing.assert_allclose(resize(np.full(shape, 0.7), *out), np.full(out, 0.7))
    image = rng.random(shape)
    result = resize(image, *out)
    assert result.shape == out
    assert result.min() >= image.min() - 1e-12 and result.max() <= image.max() + 1e-12
    if out[0] <= shape[0] and out[1] <= shape[1]:      # area averaging keeps the mean exactly
        np.testing.assert_allclose(result.mean(), image.mean())


def test_resize_rejects_bad_sizes():
    with pytest.raises(ValueError, match="non-empty 2-D"):
        resize(np.zeros((2, 2, 2)), 1, 1)
    with pytest.raises(ValueError, match="at least 1x1"):
        resize(np.zeros((2, 2)), 0, 1)


# ------------------------------------------------------------------ centre of mass, strokes
def test_center_of_mass_literal():
    image = np.zeros((4, 6))
    image[1, 2] = 1.0
    image[3, 5] = 3.0
    assert center_of_mass(image) == (2.5, 4.25)
    with pytest.raises(ValueError, match="no ink"):
        center_of_mass(np.zeros((3, 3)))


def test_draw_stroke_horizontal_line_and_input_untouched():
    raster = np.zeros((9, 12))
    out = draw_stroke(raster, [(2, 4.5), (10, 4.5)], width=3)
    assert not raster.any(), "draw_stroke must not modify its input"
    np.testing.assert_array_equal(out[3:6, 2:10], 1.0)         # rows 3-5 fully inside the 3-px line
    np.testing.assert_array_equal(out[[0, 1, 7, 8]], 0.0)       # 2+ px away: untouched
    assert out.max() == 1.0 and out.min() == 0.0
    np.testing.assert_allclose(out, out[::-1])                  # symmetric about the line


def test_draw_stroke_keeps_brighter_value_and_clips_to_canvas():
    raster = draw_stroke(np.zeros((10, 10)), [(5, 5)], width=4)
    again = draw_stroke(raster, [(5, 5)], width=2)
    np.testing.assert_array_equal(again, raster)                # a thinner dot on top changes nothing
    edge = draw_stroke(np.zeros((10, 10)), [(-3, 5), (2, 5)], width=4)
    assert edge[:, :5].any() and not edge[:, 5:].any()
    off = draw_stroke(np.zeros((10, 10)), [(-50, -50), (-40, -45)], width=4)
    assert not off.any()


def test_draw_stroke_errors():
    with pytest.raises(ValueError, match="at least one"):
        draw_stroke(np.zeros((5, 5)), [], width=3)
    with pytest.raises(ValueError, match="2-D"):
        draw_stroke(np.zeros(5), [(1, 1)], width=3)
    with pytest.raises(ValueError, match="NaN"):
        draw_stroke(np.zeros((5, 5)), [(1, np.nan)], width=3)


# ------------------------------------------------------------------ MNIST-style preprocessing
def test_mnist_digits_enlarged_ten_times_come_back_exactly():
    """Our conventions are MNIST's own: crop, 20-px box, centre of mass at (14, 14)."""
    from cnnlib.data import load_mnist
    (x_train, _), _ = load_mnist()
    for image in x_train[:200]:
        big = np.kron(image.astype(np.float64) / 255.0, np.ones((10, 10)))   # (280, 280), as if drawn
        np.testing.assert_allclose(preprocess_digit(big), image / 255.0, atol=1e-6)


def test_preprocessed_digit_is_float32_in_unit_range_with_20px_box():
    digit = preprocess_digit(seven())
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() >= 0.0 and digit.max() <= 1.0 and digit.max() > 0.99
    assert max(ink_box(digit)) == 20
    cy, cx = center_of_mass(digit)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_aspect_ratio_is_kept():
    tall = np.zeros((300, 200))
    tall[50:250, 80:130] = 1.0                                    # 200 x 50 block -> 20 x 5
    steps = preprocess_steps(tall)
    assert steps["scaled"].shape == (20, 5)
    assert ink_box(steps["digit"]) == (20, 5)
    wide = np.zeros((100, 400))
    wide[40:70, 10:370] = 255                                     # 30 x 360 -> 2 x 20 (rounded)
    assert preprocess_steps(wide.astype(np.uint8))["scaled"].shape == (2, 20)


def test_position_and_size_on_the_canvas_do_not_matter():
    reference = preprocess_digit(seven())
    moved = preprocess_digit(seven(offset=(-40, 25)))
    np.testing.assert_allclose(moved, reference, atol=1e-9)
    # Drawn at half size (thinner line too): the same digit up to resampling differences.
    small = preprocess_digit(seven(scale=0.5))
    assert np.abs(small - reference).mean() < 0.03
    assert np.corrcoef(small.ravel(), reference.ravel())[0, 1] > 0.97


def test_uint8_and_float_inputs_agree():
    raster = seven()
    as_uint8 = np.round(raster * 255).astype(np.uint8)
    np.testing.assert_allclose(preprocess_digit(as_uint8), preprocess_digit(as_uint8 / 255.0), atol=1e-6)


def test_tiny_drawing_is_enlarged_to_20px():
    image = np.zeros((28, 28))
    image[3:6, 20:22] = 1.0                                       # a 3 x 2 blob in a corner
    steps = preprocess_steps(image)
    assert steps["scaled"].shape == (20, 13)
    assert ink_box(steps["digit"]) == (20, 13)


def test_lopsided_digit_stays_inside_the_field():
    image = np.zeros((200, 200))
    image[10:190, 20:30] = 0.05                                   # faint stem
    image[10:40, 20:190] = 1.0                                    # heavy bar at the top: mass far up
    steps = preprocess_steps(image)
    top, left = steps["offset"]
    assert steps["scaled"].shape[0] == 20
    cy = center_of_mass(steps["scaled"])[0]
    assert 14 - cy > 8.5                  # centring would push the box off the bottom edge ...
    assert top == 28 - 20                 # ... so it stops at the edge
    np.testing.assert_allclose(steps["digit"].sum(), steps["scaled"].sum(), rtol=1e-6)  # no ink lost


def test_ink_threshold_ignores_faint_noise():
    image = seven()
    noisy = image.copy()
    noisy[5, 5] = noisy[270, 3] = 0.03                            # specks far from the digit
    assert preprocess_steps(noisy)["cropped"].shape != preprocess_steps(image)["cropped"].shape
    np.testing.assert_allclose(preprocess_digit(noisy, ink_threshold=0.05),
                               preprocess_digit(image, ink_threshold=0.05))


@pytest.mark.parametrize("image,message", [
    (np.zeros((280, 280)), "canvas is empty"),
    (np.zeros((28, 28, 3)), "colour image"),
    (np.zeros(784), "2-D grayscale"),
    (np.zeros((0, 5)), "empty"),
    (np.full((10, 10), 2.0), r"\[0, 1\].*divide by 255"),
    (np.full((10, 10), np.nan), "NaN"),
    (np.full((10, 10), 300, dtype=np.int32), "0..255"),
    (np.array([["a"]]), "numeric"),
])
def test_bad_images_get_clear_errors(image, message):
    with pytest.raises(ValueError, match=message):
        preprocess_digit(image)


def test_dark_ink_on_white_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="white ink on a black"):
        preprocess_digit(1.0 - seven())

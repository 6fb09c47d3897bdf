"""Tests for cnnlib.augment: warp (the affine resampling) and Augment (its random parameters)."""
import re
import subprocess
import sys

import numpy as np
import pytest

from cnnlib.augment import Augment, warp
from cnnlib.data import load_mnist
from cnnlib.train import to_input


@pytest.fixture(scope="module")
def digits():
    (x_train, _), _ = load_mnist()
    return to_input(x_train[:32], dtype=np.float64)   # (32, 1, 28, 28) in [0, 1]


def shifted_by_slicing(x, dy, dx):
    """Whole-pixel shift with zero fill, written with slices: content moves down dy, right dx."""
    out = np.zeros_like(x)
    H, W = x.shape[-2:]
    src_rows = slice(max(0, -dy), H - max(0, dy))
    dst_rows = slice(max(0, dy), H - max(0, -dy))
    src_cols = slice(max(0, -dx), W - max(0, dx))
    dst_cols = slice(max(0, dx), W - max(0, -dx))
    out[..., dst_rows, dst_cols] = x[..., src_rows, src_cols]
    return out


# ---------------------------------------------------------------------------- warp: exact cases

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("shape", [(3, 5, 7), (3, 2, 5, 7)])
def test_the_zero_transform_returns_the_input_exactly(dtype, shape):
    x = (np.random.default_rng(0).random(shape) * 200).astype(dtype)
    before = x.copy()
    out = warp(x, angle=0.0, scale=1.0, shift=(0.0, 0.0))
    assert out.dtype == x.dtype and out.shape == x.shape
    np.testing.assert_array_equal(out, x)
    assert out is not x and not np.shares_memory(out, x)
    np.testing.assert_array_equal(x, before)   # input untouched


def test_augment_with_zero_limits_returns_the_input_exactly(digits):
    out = Augment(shift=0, rotate=0, scale=(1, 1), rng=0)(digits)
    np.testing.assert_array_equal(out, digits)


@pytest.mark.parametrize("dy, dx", [(1, 0), (0, 1), (-2, 0), (0, -3), (2, -1), (-1, 2), (6, 9)])
def test_an_integer_shift_equals_a_zero_filled_shift_by_slicing(dy, dx):
    x = np.random.default_rng(1).random((4, 1, 6, 9))   # non-square, odd width
    np.testing.assert_array_equal(warp(x, shift=(dy, dx)), shifted_by_slicing(x, dy, dx))


def test_each_image_gets_its_own_shift():
    x = np.random.default_rng(2).random((3, 5, 5))
    shifts = np.array([[1, 0], [0, -1], [-2, 2]])
    out = warp(x, shift=shifts)
    for i, (dy, dx) in enumerate(shifts):
        np.testing.assert_array_equal(out[i], shifted_by_slicing(x[i], dy, dx))


@pytest.mark.parametrize("angle, k", [(90, 1), (-90, -1), (180, 2), (270, 3), (450, 1)])
def test_quarter_turns_of_a_square_image_equal_rot90(angle, k):
    # Our convention: positive angles turn the picture counter-clockwise on screen, as np.rot90 does.
    x = np.random.default_rng(3).random((2, 3, 6, 6))
    np.testing.assert_array_equal(warp(x, angle=angle), np.rot90(x, k=k, axes=(-2, -1)))


def test_a_half_turn_of_a_non_square_image_flips_both_axes():
    x = np.random.default_rng(4).random((2, 5, 8))
    np.testing.assert_array_equal(warp(x, angle=180), x[:, ::-1, ::-1])


def test_a_half_pixel_shift_shares_each_pixel_between_two_neighbours():
    x = np.zeros((1, 3, 4))
    x[0, 1, 1] = 1.0
    expected = np.array([[[0.0, 0.0, 0.0, 0.0],
                          [0.0, 0.5, 0.5, 0.0],
                          [0.0, 0.0, 0.0, 0.0]]])
    np.testing.assert_array_equal(warp(x, shift=(0, 0.5)), expected)
    np.testing.assert_array_equal(warp(x, shift=(0.25, 0)),
                                  [[[0, 0, 0, 0], [0, 0.75, 0, 0], [0, 0.25, 0, 0]]])


def test_scaling_by_two_about_the_centre_by_hand():
    # 5x5 image, centre (2, 2). Output pixel q reads the input at 2 + (q - 2) / 2:
    # q = 0 -> 1, q = 1 -> 1.5, q = 2 -> 2, q = 3 -> 2.5, q = 4 -> 3 (along each axis).
    x = np.zeros((1, 5, 5))
    x[0, 2, 2] = 1.0
    line = np.array([0.0, 0.5, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(warp(x, scale=2.0)[0], np.outer(line, line), atol=1e-12)


@pytest.mark.parametrize("angle", [30, -20, 7])
def test_a_rotation_turns_a_blob_about_the_centre_counter_clockwise(angle):
    # A smooth blob 8 px right of the centre of a 33x33 image; turned by `angle` degrees
    # counter-clockwise on screen (rows point down), its centre of mass goes to
    # c + 8 * (-sin(angle), cos(angle)) in (row, col).
    rows, cols = np.indices((33, 33))
    c = 16.0
    x = np.exp(-((rows - c) ** 2 + (cols - c - 8) ** 2) / (2 * 2.0 ** 2))[None]
    out = warp(x, angle=angle)[0]
    centre = ((rows * out).sum() / out.sum(), (cols * out).sum() / out.sum())
    theta = np.deg2rad(angle)
    np.testing.assert_allclose(centre, (c - 8 * np.sin(theta), c + 8 * np.cos(theta)), atol=0.02)


# ---------------------------------------------------------------------------- mass and dtype

def test_mass_is_roughly_conserved_by_small_moves(digits):
    moved = warp(digits, angle=np.linspace(-10, 10, len(digits)),
                 shift=np.random.default_rng(5).uniform(-2, 2, (len(digits), 2)))
    ratio = moved.sum(axis=(1, 2, 3)) / digits.sum(axis=(1, 2, 3))
    assert np.all(np.abs(ratio - 1) < 0.03), ratio


@pytest.mark.parametrize("scale", [0.9, 1.1])
def test_scaling_changes_the_mass_by_the_area_factor(digits, scale):
    ratio = warp(digits, scale=scale).sum(axis=(1, 2, 3)) / digits.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(ratio, scale ** 2, rtol=0.03)


def test_default_augmentation_keeps_the_digits_mass_and_inside_the_image(digits):
    out = Augment(rng=0)(digits)
    ratio = out.sum(axis=(1, 2, 3)) / digits.sum(axis=(1, 2, 3))
    assert np.all((ratio > 0.9 ** 2 - 0.03) & (ratio < 1.1 ** 2 + 0.03)), ratio
    assert out.min() >= 0 and out.max() <= 1 + 1e-12   # bilinear mixing never leaves [0, 1]


def test_uint8_images_are_rounded_and_stay_uint8():
    x = np.zeros((1, 1, 3, 4), dtype=np.uint8)
    x[0, 0, 1, 1] = 255
    out = warp(x, shift=(0, 0.5))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0, 1], [0, 128, 128, 0])   # 127.5 rounds to even: 128


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_augment_keeps_float_dtype_and_shape(digits, dtype):
    x = digits.astype(dtype)
    for images in (x, x[:, 0]):
        out = Augment(rng=0)(images)
        assert out.dtype == dtype and out.shape == images.shape


# ---------------------------------------------------------------------------- randomness

def test_same_seed_same_output_and_a_stream_of_new_draws(digits):
    a, b = Augment(rng=7), Augment(rng=7)
    first_a, first_b = a(digits), b(digits)
    np.testing.assert_array_equal(first_a, first_b)
    second_a = a(digits)
    assert not np.array_equal(first_a, second_a)   # each call draws new parameters
    assert not np.array_equal(Augment(rng=8)(digits), first_a)


def test_a_generator_can_be_passed_and_is_used():
    rng = np.random.default_rng(3)
    expected = Augment(rng=np.random.default_rng(3)).sample(5)
    got = Augment(rng=rng).sample(5)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])


def test_every_image_gets_its_own_parameters(digits):
    one = np.repeat(digits[:1], 16, axis=0)
    out = Augment(rng=0)(one)
    flat = out.reshape(16, -1)
    assert len({row.tobytes() for row in flat}) == 16   # 16 copies of a digit, 16 different results
    params = Augment(rng=0).sample(16)
    for key, values in params.items():
        assert len(np.unique(values.reshape(16, -1), axis=0)) == 16, key


def test_parameters_stay_within_their_limits_and_fill_them():
    params = Augment(shift=2, rotate=10, scale=(0.9, 1.1), rng=0).sample(4000)
    angle, scale, shift = params["angle"], params["scale"], params["shift"]
    assert angle.shape == scale.shape == (4000,) and shift.shape == (4000, 2)
    assert np.abs(angle).max() <= 10 and np.abs(angle).max() > 9.9
    assert scale.min() >= 0.9 and scale.max() <= 1.1 and scale.min() < 0.91 and scale.max() > 1.09
    assert np.abs(shift).max() <= 2 and np.abs(shift).max() > 1.99
    assert abs(angle.mean()) < 0.5 and np.abs(shift.mean(axis=0)).max() < 0.1   # centred on no change


def test_augment_leaves_the_caller_array_alone(digits):
    before = digits.copy()
    out = Augment(rng=0)(digits)
    np.testing.assert_array_equal(digits, before)
    assert not np.shares_memory(out, digits)


# ---------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("images, words", [
    (np.zeros((28, 28)), "image[None]"),
    (np.zeros(5), "(N, H, W) or (N, C, H, W)"),
    (np.zeros((1, 1, 1, 28, 28)), "(N, H, W) or (N, C, H, W)"),
    (np.zeros((0, 28, 28)), "empty batch"),
    (np.full((2, 4, 4), np.nan), "NaN or infinity"),
    (np.full((2, 4, 4), np.inf), "NaN or infinity"),
    (np.array([[["a"]]]), "dtype"),
])
def test_bad_images_are_refused_by_warp_and_augment(images, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        warp(images)
    with pytest.raises(ValueError, match=re.escape(words)):
        Augment(rng=0)(images)


@pytest.mark.parametrize("kwargs, words", [
    ({"shift": -1}, "shift is the largest pixels either way, so it must be 0 or more, got -1.0"),
    ({"rotate": -5}, "rotate is the largest degrees either way, so it must be 0 or more"),
    ({"shift": float("nan")}, "shift"),
    ({"rotate": "ten"}, "rotate must be a number of degrees"),
    ({"shift": True}, "shift must be a number"),
    ({"scale": (1.1, 0.9)}, "0 < low <= high"),
    ({"scale": (0, 1)}, "0 < low <= high"),
    ({"scale": 1.1}, "scale must be a pair (low, high)"),
    ({"scale": (0.9, 1.0, 1.1)}, "scale must be a pair (low, high)"),
])
def test_bad_augment_settings_are_refused_with_what_to_do(kwargs, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        Augment(**kwargs)


@pytest.mark.parametrize("kwargs, words", [
    ({"scale": 0.0}, "scale must be positive"),
    ({"scale": [1.0, -1.0]}, "scale must be positive"),
    ({"angle": [1.0, 2.0, 3.0]}, "angle must be a number or one per image (shape (2,))"),
    ({"shift": (1.0, 2.0, 3.0)}, "shift must be 2 numbers or one per image (shape (2, 2))"),
    ({"angle": float("nan")}, "angle contains NaN"),
    ({"shift": "up"}, "shift must be a number or an array of numbers"),
])
def test_bad_warp_parameters_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        warp(np.zeros((2, 4, 4)), **kwargs)


def test_sample_wants_a_whole_number_of_images():
    with pytest.raises(ValueError, match="at least 1"):
        Augment(rng=0).sample(0)


def test_augment_imports_numpy_only():
    # The core floor: no scipy (nor the upper floor's packages) behind cnnlib.augment.
    code = ("import sys, cnnlib.augment; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'matplotlib', 'ipywidgets', 'tqdm')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

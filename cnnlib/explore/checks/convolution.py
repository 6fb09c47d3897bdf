"""Checks on sliding windows: one image convolved with one kernel (lesson 2), max pooling of one map (lesson 3).

May import: NumPy, the cnnlib core (for the reference answers) and the checks' own
``_runner`` and ``_compare``.

The contract
------------
Each check runs the learner's function on hidden 2-D cases, non-square images and
kernels included, compares with :mod:`cnnlib.ops` and prints one "✓" line or raises
:class:`~cnnlib.explore.checks.CheckFailed` naming the case and the likely slip
(height and width swapped, off by one, a flipped kernel, the average instead of the
maximum, a running maximum started at 0, an input written into).
"""
import numpy as np

from cnnlib import ops
from cnnlib.explore.checks._compare import compare, inputs_unchanged
from cnnlib.explore.checks._runner import call, fail, passed, reports_output

__all__ = ["check_conv2d_single", "check_maxpool"]


def _check_2d_shape(exercise, got, expected_shape, case, off_by_one_hint):
    """Fail with a plain-words reason when ``got`` is not a 2-D array of ``expected_shape``."""
    if got is None:
        fail(exercise, f"the result is None ({case}) - did you forget to `return` it?")
    try:
        shape = np.shape(got)
    except ValueError:   # ragged nested lists
        fail(exercise, f"the result should be a 2-D NumPy array ({case}), got a ragged {type(got).__name__}")
    expected_shape = tuple(expected_shape)
    if shape == expected_shape:
        return
    if len(shape) != 2:
        fail(exercise, f"the result should be a 2-D array of shape {expected_shape} ({case}), "
                       f"got shape {shape}")
    if shape == expected_shape[::-1]:
        fail(exercise, f"the result has shape {shape}, expected {expected_shape} ({case}): height and width "
                       "are swapped - rows (axis 0) come from the height H, columns (axis 1) from the width W")
    if all(abs(a - b) <= 1 for a, b in zip(shape, expected_shape)):
        fail(exercise, f"the result has shape {shape}, expected {expected_shape} ({case}): off by one - "
                       f"{off_by_one_hint}")
    fail(exercise, f"the result has shape {shape}, expected {expected_shape} ({case})")


def _not_transposed(exercise, got, expected, case):
    """A square result that equals the transposed answer: rows and columns mixed up."""
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return          # compare() names the wrong type
    if (got.shape == expected.shape == expected.shape[::-1] and not np.allclose(expected, expected.T)
            and np.allclose(got, expected.T)):
        fail(exercise, f"your result is the right one transposed ({case}): height and width are swapped - "
                       "index the output as out[i, j] with i the row (down) and j the column (across)")


@reports_output
def check_conv2d_single(fn):
    """Lesson 2: ``fn(image, kernel)`` -> the valid cross-correlation of one image with one kernel.

    ``image`` is ``(H, W)``, ``kernel`` is ``(KH, KW)``; the result is
    ``(H - KH + 1, W - KW + 1)``. The reference is :func:`cnnlib.ops.conv2d_forward`.
    """
    exercise = "conv2d_single"
    rng = np.random.default_rng(2024)
    shapes = [((5, 5), (3, 3)), ((6, 9), (3, 3)), ((7, 4), (2, 3)), ((4, 6), (1, 1)), ((8, 5), (4, 2)),
              ((3, 3), (3, 3))]
    for (H, W), (KH, KW) in shapes:
        image = rng.normal(size=(H, W))
        kernel = rng.normal(size=(KH, KW))
        case = f"image {H}x{W}, kernel {KH}x{KW}"
        expected = ops.conv2d_forward(image[None, None], kernel[None, None], np.zeros(1))[0][0, 0]
        args = (image.copy(), kernel.copy())
        got = call(exercise, fn, *args, case=case)
        inputs_unchanged(exercise, (image, kernel), args, case)
        _check_2d_shape(exercise, got, expected.shape, case,
                        "a KH-tall window fits at H - KH + 1 rows (range(H - KH + 1)), and likewise for W")
        try:
            got_array = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            fail(exercise, f"the feature map should be a NumPy array of numbers ({case}), got {type(got).__name__}")
        flipped = ops.conv2d_forward(image[None, None], kernel[None, None, ::-1, ::-1].copy(), np.zeros(1))[0][0, 0]
        if max(KH, KW) > 1 and not np.allclose(flipped, expected) and np.allclose(got_array, flipped):
            fail(exercise, f"your result is the convolution with the kernel flipped ({case}); like every deep "
                           "learning library, cnnlib computes cross-correlation: window * kernel, no flip")
        _not_transposed(exercise, got, expected, case)
        compare(exercise, got, expected, what="the feature map", case=case)
    return passed(exercise, f"all {len(shapes)} hidden cases match cnnlib.ops.conv2d_forward, including "
                            "non-square images and kernels")


@reports_output
def check_maxpool(fn):
    """Lesson 3: ``fn(x, kernel_size, stride)`` -> max pooling of one 2-D map ``x`` of shape (H, W).

    Windows that do not fit at the bottom or right edge are dropped. The reference is
    :func:`cnnlib.ops.maxpool2d_forward`.
    """
    exercise = "maxpool"
    rng = np.random.default_rng(7)
    cases = [((4, 4), 2, 2), ((6, 9), 2, 2), ((7, 5), 3, 2), ((5, 8), 2, 1), ((9, 6), 3, 3), ((3, 4), 1, 1)]
    for (H, W), k, s in cases:
        x = rng.normal(size=(H, W)) - 1.0      # mostly negative: a maximum started at 0 shows up
        case = f"x {H}x{W}, kernel_size={k}, stride={s}"
        expected = ops.maxpool2d_forward(x[None, None], kernel_size=k, stride=s)[0][0, 0]
        arg = x.copy()
        got = call(exercise, fn, arg, k, s, case=case)
        inputs_unchanged(exercise, (x,), (arg,), case)
        _check_2d_shape(exercise, got, expected.shape, case,
                        "there are (H - kernel_size) // stride + 1 windows down and the same across; "
                        "rows and columns that do not fill a whole window are dropped")
        try:
            got_array = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            fail(exercise, f"the pooled map should be a NumPy array of numbers ({case}), got {type(got).__name__}")
        average = ops.avgpool2d_forward(x[None, None], kernel_size=k, stride=s)[0][0, 0]
        if k > 1 and np.allclose(got_array, average):
            fail(exercise, f"your result is the average of each window ({case}); max pooling keeps the "
                           "largest value")
        if np.allclose(got_array, np.maximum(expected, 0)) and (expected < 0).any():
            fail(exercise, f"windows whose values are all negative come out as 0 ({case}); start the "
                           "running maximum at the window's first value (or use window.max()), not at 0")
        _not_transposed(exercise, got, expected, case)
        compare(exercise, got, expected, what="the pooled map", case=case)
    return passed(exercise, f"all {len(cases)} hidden cases match cnnlib.ops.maxpool2d_forward, including "
                            "non-square maps, overlapping windows and negative values")




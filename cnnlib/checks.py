"""Exercise checks: run a learner's function on hidden cases and say in plain words what is wrong.

The contract
------------
* Each ``check_*`` function takes the learner's function (or answer), runs it against
  cnnlib's own reference on cases the learner does not see, and either prints one line
  starting with ``"✓"`` and returns True, or raises :class:`CheckFailed` whose message
  starts with ``"✗"`` and says what went wrong: not written yet, an exception, the wrong
  type, the wrong shape, or the first wrong value and where it is.
* Checks never modify the learner's inputs and never depend on global state; their
  hidden cases come from fixed seeds, so a check gives the same verdict everywhere.
"""
import numpy as np

__all__ = ["CheckFailed"]


class CheckFailed(AssertionError):
    """A learner's answer is not right yet; the message says why, in plain words."""


def _fail(exercise, message):
    raise CheckFailed(f"✗ {exercise}: {message}")


def _passed(exercise, detail):
    print(f"✓ {exercise}: {detail}")
    return True


def _call(exercise, fn, *args, **kwargs):
    """Call the learner's function, turning its exceptions into a plain-words verdict."""
    if not callable(fn):
        _fail(exercise, f"expected a function, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        _fail(exercise, "not written yet - replace the `raise NotImplementedError` line with your code")
    except CheckFailed:
        raise
    except Exception as e:
        _fail(exercise, f"your function raised {type(e).__name__}: {e}")


def _compare(exercise, got, expected, *, what="the result", rtol=1e-6, atol=1e-8, case=""):
    """Check type, shape and values of ``got`` against ``expected``; name the first difference."""
    where = f" ({case})" if case else ""
    expected = np.asarray(expected)
    if got is None:
        _fail(exercise, f"{what} is None{where} - did you forget to `return` it?")
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(exercise, f"{what} should be a NumPy array{where}, got {type(got).__name__}")
    if got.shape != expected.shape:
        _fail(exercise, f"{what} has shape {got.shape}{where}, expected {expected.shape}")
    if not np.isfinite(got).all():
        _fail(exercise, f"{what} contains NaN or infinity{where}")
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(exercise, f"{what} is wrong at index {idx}{where}: got {got[idx]:.6g}, expected "
                        f"{expected[idx]:.6g} ({int(bad.sum())} of {bad.size} values differ)")
    return True


# ============================================================================ lessons 1-3
from cnnlib import ops as _ops  # noqa: E402

__all__ += ["check_mlp_param_count", "check_output_shape", "check_conv2d_single", "check_maxpool"]


def _check_2d_shape(exercise, got, expected_shape, case, off_by_one_hint):
    """Fail with a plain-words reason when ``got`` is not a 2-D array of ``expected_shape``."""
    if got is None:
        _fail(exercise, f"the result is None ({case}) - did you forget to `return` it?")
    try:
        shape = np.shape(got)
    except ValueError:   # ragged nested lists
        _fail(exercise, f"the result should be a 2-D NumPy array ({case}), got a ragged {type(got).__name__}")
    expected_shape = tuple(expected_shape)
    if shape == expected_shape:
        return
    if len(shape) != 2:
        _fail(exercise, f"the result should be a 2-D array of shape {expected_shape} ({case}), "
                        f"got shape {shape}")
    if shape == expected_shape[::-1]:
        _fail(exercise, f"the result has shape {shape}, expected {expected_shape} ({case}): height and width "
                        "are swapped - rows (axis 0) come from the height H, columns (axis 1) from the width W")
    if all(abs(a - b) <= 1 for a, b in zip(shape, expected_shape)):
        _fail(exercise, f"the result has shape {shape}, expected {expected_shape} ({case}): off by one - "
                        f"{off_by_one_hint}")
    _fail(exercise, f"the result has shape {shape}, expected {expected_shape} ({case})")


def _not_transposed(exercise, got, expected, case):
    """A square result that equals the transposed answer: rows and columns mixed up."""
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return          # _compare names the wrong type
    if (got.shape == expected.shape == expected.shape[::-1] and not np.allclose(expected, expected.T)
            and np.allclose(got, expected.T)):
        _fail(exercise, f"your result is the right one transposed ({case}): height and width are swapped - "
                        "index the output as out[i, j] with i the row (down) and j the column (across)")


def _inputs_unchanged(exercise, originals, passed, case):
    for name, original, given in zip(("first", "second"), originals, passed):
        if not np.array_equal(original, given):
            _fail(exercise, f"your function changed its {name} argument ({case}); build a new output "
                            "array instead of writing into the input")


def _as_whole_number(exercise, value, what, case):
    """``value`` as a Python int, or a plain-words failure (float like 13.5, a string, ...)."""
    if value is None:
        _fail(exercise, f"{what} is None ({case}) - did you forget to `return` it?")
    if isinstance(value, (bool, np.bool_)):
        _fail(exercise, f"{what} should be a whole number ({case}), got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        if float(value).is_integer():
            _fail(exercise, f"{what} should be an int ({case}), got the float {value!r}; "
                            "use // (floor division) or int(...)")
        _fail(exercise, f"{what} should be a whole number ({case}), got {value!r}: a size cannot be "
                        "fractional; windows that do not fit are dropped, so use // (floor division)")
    _fail(exercise, f"{what} should be a whole number ({case}), got {type(value).__name__} {value!r}")


def check_mlp_param_count(fn):
    """Lesson 1: ``fn(input_shape, hidden_sizes, n_classes)`` -> the MLP's number of parameters.

    The MLP is Flatten, then a Linear layer (weights + biases) to each hidden size in turn,
    then a Linear layer to ``n_classes``; ``input_shape`` is ``(C, H, W)``. The reference
    is :attr:`cnnlib.model.Sequential.n_params` of that very network.
    """
    from cnnlib.layers import Flatten, Linear
    from cnnlib.model import Sequential

    exercise = "mlp_param_count"
    cases = [((1, 28, 28), [100], 10), ((3, 32, 48), [64, 32], 10), ((1, 5, 7), [], 3),
             ((3, 20, 12), [50], 7), ((2, 9, 4), [16, 8, 4], 5)]
    for input_shape, hidden, n_classes in cases:
        sizes = [int(np.prod(input_shape))] + list(hidden) + [n_classes]
        model = Sequential(Flatten(), *[Linear(a, b, rng=0) for a, b in zip(sizes[:-1], sizes[1:])])
        expected = model.n_params
        case = f"input_shape={input_shape}, hidden_sizes={hidden}, n_classes={n_classes}"
        got = _as_whole_number(exercise, _call(exercise, fn, input_shape, list(hidden), n_classes),
                               "the count", case)
        if got == expected:
            continue
        weights_only = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        C, H, W = input_shape
        if got == weights_only:
            _fail(exercise, f"got {got:,} ({case}), which is the weights alone; each Linear layer also has "
                            f"one bias per output unit - expected {expected:,}")
        wrong_inputs = {"H*H*C (the width is missing)": C * H * H, "W*W*C (the height is missing)": C * W * W,
                        "H*W (the channels are missing)": H * W}
        for reason, n_in in wrong_inputs.items():
            wrong = [n_in] + sizes[1:]
            if n_in != sizes[0] and got == sum(a * b + b for a, b in zip(wrong[:-1], wrong[1:])):
                _fail(exercise, f"got {got:,} ({case}): the first layer seems to see {reason} inputs; "
                                f"a flattened (C, H, W) image has C*H*W = {sizes[0]:,} numbers - "
                                f"expected {expected:,}")
        _fail(exercise, f"got {got:,}, expected {expected:,} ({case}); layer sizes are {sizes}, and a "
                        "Linear(n_in, n_out) layer has n_in*n_out weights + n_out biases")
    return _passed(exercise, f"all {len(cases)} hidden networks counted right, including non-square "
                             "inputs and one with no hidden layer")


def check_output_shape(fn):
    """Lesson 2: ``fn(H, W, KH, KW, stride, padding)`` -> ``(H_out, W_out)`` of a convolution.

    The reference is :func:`cnnlib.ops.conv_output_size` along each axis.
    """
    exercise = "output_shape"
    cases = [(28, 28, 5, 5, 1, 0), (28, 20, 3, 3, 1, 1), (7, 9, 2, 3, 2, 0), (32, 48, 5, 3, 2, 2),
             (10, 6, 3, 3, 3, 0), (13, 11, 4, 2, 3, 1), (5, 8, 5, 1, 1, 0)]
    for H, W, KH, KW, stride, padding in cases:
        case = f"H={H}, W={W}, KH={KH}, KW={KW}, stride={stride}, padding={padding}"
        expected = (_ops.conv_output_size(H, KH, stride, padding), _ops.conv_output_size(W, KW, stride, padding))
        got = _call(exercise, fn, H, W, KH, KW, stride, padding)
        if got is None:
            _fail(exercise, f"the result is None ({case}) - did you forget to `return` it?")
        if not isinstance(got, (tuple, list, np.ndarray)) or len(got) != 2:
            _fail(exercise, f"return a pair (H_out, W_out) ({case}), got {got!r}")
        got = tuple(_as_whole_number(exercise, v, "each size", case) for v in got)
        if got == expected:
            continue
        if got == expected[::-1]:
            _fail(exercise, f"got {got}, expected {expected} ({case}): height and width are swapped - "
                            "H_out comes from H and KH, W_out from W and KW")
        once = ((H + padding - KH) // stride + 1, (W + padding - KW) // stride + 1)
        if padding and got == once:
            _fail(exercise, f"got {got}, expected {expected} ({case}): padding is added on both sides, "
                            "so the padded size is H + 2*padding")
        if any(g - e in (-1, 1) for g, e in zip(got, expected)):
            _fail(exercise, f"got {got}, expected {expected} ({case}): off by one - the first window sits "
                            "at 0, then one more window per stride that still fits: "
                            "(H + 2*padding - KH) // stride + 1")
        _fail(exercise, f"got {got}, expected {expected} ({case}); "
                        "H_out = (H + 2*padding - KH) // stride + 1, and the same for W")
    return _passed(exercise, f"all {len(cases)} hidden cases right, including non-square images and kernels, "
                             "strides that leave a remainder, and padding")


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
        expected = _ops.conv2d_forward(image[None, None], kernel[None, None], np.zeros(1))[0][0, 0]
        args = (image.copy(), kernel.copy())
        got = _call(exercise, fn, *args)
        _inputs_unchanged(exercise, (image, kernel), args, case)
        _check_2d_shape(exercise, got, expected.shape, case,
                        "a KH-tall window fits at H - KH + 1 rows (range(H - KH + 1)), and likewise for W")
        flipped = _ops.conv2d_forward(image[None, None], kernel[None, None, ::-1, ::-1].copy(), np.zeros(1))[0][0, 0]
        if max(KH, KW) > 1 and not np.allclose(flipped, expected) and np.allclose(np.asarray(got, float), flipped):
            _fail(exercise, f"your result is the convolution with the kernel flipped ({case}); like every deep "
                            "learning library, cnnlib computes cross-correlation: window * kernel, no flip")
        _not_transposed(exercise, got, expected, case)
        _compare(exercise, got, expected, what="the feature map", case=case)
    return _passed(exercise, f"all {len(shapes)} hidden cases match cnnlib.ops.conv2d_forward, including "
                             "non-square images and kernels")


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
        expected = _ops.maxpool2d_forward(x[None, None], kernel_size=k, stride=s)[0][0, 0]
        arg = x.copy()
        got = _call(exercise, fn, arg, k, s)
        _inputs_unchanged(exercise, (x,), (arg,), case)
        _check_2d_shape(exercise, got, expected.shape, case,
                        "there are (H - kernel_size) // stride + 1 windows down and the same across; "
                        "rows and columns that do not fill a whole window are dropped")
        try:
            got_array = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            _fail(exercise, f"the pooled map should be a NumPy array of numbers ({case}), got {type(got).__name__}")
        average = _ops.avgpool2d_forward(x[None, None], kernel_size=k, stride=s)[0][0, 0]
        if k > 1 and np.allclose(got_array, average):
            _fail(exercise, f"your result is the average of each window ({case}); max pooling keeps the "
                            "largest value")
        if np.allclose(got_array, np.maximum(expected, 0)) and (expected < 0).any():
            _fail(exercise, f"windows whose values are all negative come out as 0 ({case}); start the "
                            "running maximum at the window's first value (or use window.max()), not at 0")
        _not_transposed(exercise, got, expected, case)
        _compare(exercise, got, expected, what="the pooled map", case=case)
    return _passed(exercise, f"all {len(cases)} hidden cases match cnnlib.ops.maxpool2d_forward, including "
                             "non-square maps, overlapping windows and negative values")



# ============================================================================ lessons 4-5


# ============================================================================ lesson 6

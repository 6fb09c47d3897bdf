"""Exercise checks: run a learner's function on hidden cases and say in plain words what is wrong.

The contract
------------
* Each ``check_*`` function takes the learner's function (or answer), runs it against
  cnnlib's own reference on cases the learner does not see, and either prints one line
  starting with ``"✓"`` and returns None (so a notebook cell shows only that line), or
  raises :class:`CheckFailed` whose message starts with ``"✗"`` and says what went wrong,
  naming the case: not written yet, an exception (and the line of the learner's code that
  raised it), the wrong type, the wrong shape, or the first wrong value and where it is.
* In IPython a :class:`CheckFailed` shows only its message, no traceback through this
  module (``_render_traceback_``); it is raised without a chained context.
* Checks never modify the learner's inputs and never depend on global state; their
  hidden cases come from fixed seeds, so a check gives the same verdict everywhere.
"""
import os
import traceback

import numpy as np

__all__ = ["CheckFailed"]


class CheckFailed(AssertionError):
    """A learner's answer is not right yet; the message says why, in plain words.

    IPython shows an exception with a ``_render_traceback_`` method by printing the lines
    it returns, so a failed check shows the plain-words message alone, without frames
    from inside this module.

    >>> CheckFailed("✗ demo: the result is None")._render_traceback_()
    ['✗ demo: the result is None']
    """

    def _render_traceback_(self):
        return str(self).splitlines()


def _fail(exercise, message):
    raise CheckFailed(f"✗ {exercise}: {message}") from None


def _passed(exercise, detail):
    """Print the check's "✓" line. Returns None, so a check cell shows nothing more."""
    print(f"✓ {exercise}: {detail}")


_LIBRARY_DIRS = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep
                      for m in (np, os, traceback))


def _learner_line(error):
    """Where in the learner's own code ``error`` was raised: "line 3: `e / s`", or ""."""
    this_file = os.path.abspath(__file__)
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        path = os.path.abspath(frame.filename)
        if path == this_file or path.startswith(_LIBRARY_DIRS) or frame.filename.startswith("<frozen"):
            continue
        code = (frame.line or "").strip()
        return f"line {frame.lineno}: `{code}`" if code else f"line {frame.lineno}"
    return ""


def _call(exercise, fn, *args, case="", **kwargs):
    """Call the learner's function, turning its exceptions into a plain-words verdict.

    ``case`` names the hidden case (e.g. "on a batch of shape (5, 4)"); every failure
    mentions it, so the learner can rebuild the input that broke their code.
    """
    where = f" ({case})" if case else ""
    if not callable(fn):
        _fail(exercise, f"expected a function, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        _fail(exercise, "not written yet - replace the `raise NotImplementedError` line with your code")
    except CheckFailed:
        raise
    except Exception as e:
        line = _learner_line(e)
        message = f"your function raised {type(e).__name__}{where}: {e}"
        if line:
            message += f"\n  in your code, {line}"
        if isinstance(e, ValueError) and "broadcast" in str(e):
            message += ("\n  Two arrays' shapes do not line up. After a reduction such as .sum() or "
                        ".max(), check your axis= and use keepdims=True, so that an (N, C) batch "
                        "divided by its row sums stays (N, C) / (N, 1)")
        _fail(exercise, message)


def _as_result(exercise, got, expected_shape, case="", *, what="the result"):
    """The learner's result as a float64 array of the expected shape, or a plain-words failure."""
    where = f" ({case})" if case else ""
    if got is None:
        _fail(exercise, f"your function returned None{where} - did you forget to `return` {what}?")
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(exercise, f"{what} should be a NumPy array{where}, got {type(got).__name__}")
    if got.shape != tuple(expected_shape):
        _fail(exercise, f"{what} has shape {got.shape}{where}, expected {tuple(expected_shape)}")
    return got


def _compare(exercise, got, expected, *, what="the result", rtol=1e-6, atol=1e-8, case=""):
    """Check type, shape and values of ``got`` against ``expected``; name the first difference."""
    where = f" ({case})" if case else ""
    expected = np.asarray(expected)
    try:
        got_is_int = np.issubdtype(np.asarray(got).dtype, np.integer)
    except (TypeError, ValueError):
        got_is_int = False
    got = _as_result(exercise, got, expected.shape, case, what=what)
    if not np.isfinite(got).all():
        _fail(exercise, f"{what} contains NaN or infinity{where}")
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        hint = ""
        if (got_is_int or np.array_equal(got, np.round(got))) and not np.array_equal(expected, np.round(expected)):
            hint = ("; your values are all whole numbers - is your output array an int array? "
                    "An array made by np.zeros(shape, dtype=int), or np.zeros_like() of an int array, "
                    "cuts off the decimals of everything you store in it: make it a float array")
        _fail(exercise, f"{what} is wrong at index {idx}{where}: got {got[idx]:.6g}, expected "
                        f"{expected[idx]:.6g} ({int(bad.sum())} of {bad.size} values differ){hint}")
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
        got = _as_whole_number(exercise, _call(exercise, fn, input_shape, list(hidden), n_classes, case=case),
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
    return _passed(exercise, f"all {len(cases)} test networks (not shown) counted right, including non-square "
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
        got = _call(exercise, fn, H, W, KH, KW, stride, padding, case=case)
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
        got = _call(exercise, fn, *args, case=case)
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
        got = _call(exercise, fn, arg, k, s, case=case)
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
# Exercises of lesson 4 (softmax, the cross-entropy gradient) and lesson 5 (ReLU and
# max-pool backward). The reference answers come from cnnlib itself.
import warnings  # noqa: E402

__all__ += ["check_softmax", "check_cross_entropy_grad", "check_relu_backward", "check_maxpool_backward"]


def _quietly(exercise, fn, *args, case=""):
    """Call the learner's function with NumPy's overflow warnings silenced (we judge the result)."""
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore", divide="ignore",
                                                under="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return _call(exercise, fn, *args, case=case)


def _fmt_array(a):
    return np.array2string(np.asarray(a, dtype=float), precision=4, separator=", ", suppress_small=False,
                           max_line_width=10_000)


def check_softmax(fn):
    """Check ``fn(z)``: probabilities along the last axis, for a 1-D vector or an (N, C) batch (C classes).

    Hidden cases include huge logits (``[10000, 10010, 10]``), very negative ones and a
    batch whose rows have very different scales, so only a softmax that subtracts each
    row's own maximum passes.
    """
    from cnnlib.losses import softmax
    exercise = "softmax"
    rng = np.random.default_rng(4)
    cases = [
        ("a small vector [1, 2, 3]", np.array([1.0, 2.0, 3.0])),
        ("a random batch of shape (5, 4)", rng.standard_normal((5, 4))),
        ("huge logits [10000, 10010, 10]", np.array([10000.0, 10010.0, 10.0])),
        ("very negative logits [-1000, -1001, -1002]", np.array([-1000.0, -1001.0, -1002.0])),
        ("a batch whose rows have very different scales [[0, 1, 2], [10000, 10001, 10002]]",
         np.array([[0.0, 1.0, 2.0], [10000.0, 10001.0, 10002.0]])),
        ("a batch of shape (3, 10) with logits around 500", 500 + 3 * rng.standard_normal((3, 10))),
    ]
    for case, z in cases:
        z_before = z.copy()
        got = _as_result(exercise, _quietly(exercise, fn, z, case=f"on {case}"), z.shape, f"on {case}")
        if not np.array_equal(z, z_before):
            _fail(exercise, f"your function changed its input z in place (on {case}); compute on a new array, "
                            "e.g. `shifted = z - z.max(...)` instead of `z -= ...`")
        if not np.isfinite(got).all():
            _fail(exercise, f"on {case} your softmax returned {_fmt_array(got)}: exp() overflowed (inf) "
                            "or gave 0/0 (nan). Subtract each row's maximum before exponentiating: "
                            "softmax(z) = softmax(z - max(z)), and then every exponent is at most 0")
        expected = softmax(z)
        if z.ndim == 2:
            sums = got.sum(axis=-1)
            if not np.allclose(sums, 1.0, atol=1e-6):
                across = z.shape[0] > 1 and np.allclose(got, softmax(z, axis=0), rtol=1e-6, atol=1e-9)
                hint = ("you normalised down the columns (axis 0); each ROW is one example: use axis=-1 "
                        "with keepdims=True" if across else
                        "normalise each row separately: `e / e.sum(axis=-1, keepdims=True)`")
                _fail(exercise, f"on {case} the rows sum to {_fmt_array(sums)}, not 1: {hint}")
        elif not np.isclose(got.sum(), 1.0, atol=1e-6):
            _fail(exercise, f"on {case} the probabilities sum to {got.sum():.6g}, not 1: divide exp(z) by its sum")
        _compare(exercise, got, expected, what="the result", rtol=1e-6, atol=1e-12, case=f"on {case}")
    return _passed(exercise, f"right on {len(cases)} hidden cases, huge and tiny logits included")


def check_cross_entropy_grad(fn):
    """Check ``fn(logits, labels)``: the gradient of the MEAN cross-entropy, ``(softmax - onehot) / N``."""
    from cnnlib.losses import SoftmaxCrossEntropy, softmax
    exercise = "cross-entropy gradient"
    rng = np.random.default_rng(5)
    cases = [
        ("one example, logits [[1, 2, 3]], label 0", np.array([[1.0, 2.0, 3.0]]), np.array([0])),
        ("a batch of 4 examples with 5 classes", rng.standard_normal((4, 5)), np.array([0, 4, 2, 2])),
        ("a batch of 8 examples with 10 classes", 3 * rng.standard_normal((8, 10)), rng.integers(0, 10, 8)),
        ("huge logits [[10000, 10010, 10], [0, -1000, 5]]",
         np.array([[10000.0, 10010.0, 10.0], [0.0, -1000.0, 5.0]]), np.array([0, 1])),
    ]
    for case, logits, labels in cases:
        before = (logits.copy(), labels.copy())
        got = _as_result(exercise, _quietly(exercise, fn, logits, labels, case=f"on {case}"), logits.shape, f"on {case}")
        if not (np.array_equal(logits, before[0]) and np.array_equal(labels, before[1])):
            _fail(exercise, f"your function changed its inputs in place (on {case}); work on a copy")
        loss_fn = SoftmaxCrossEntropy()
        loss_fn.forward(logits, labels)
        expected = loss_fn.backward()
        N = logits.shape[0]
        if not np.isfinite(got).all():
            _fail(exercise, f"on {case} the gradient contains NaN or inf: compute the probabilities with "
                            "a stable softmax (subtract the row maximum)")
        if np.allclose(got, expected, rtol=1e-6, atol=1e-10):
            continue
        onehot = np.eye(logits.shape[1])[labels]
        p = softmax(logits)
        diagnoses = [
            (expected * N, f"your gradient is N = {N} times too big: the loss is the MEAN over the batch, "
                           "so divide by N"),
            (-expected, "your gradient has the wrong sign: it is (onehot - p); the gradient is p - onehot"),
            (-expected * N, f"your gradient has the wrong sign and is N = {N} times too big: use (p - onehot) / N"),
            (p / N, "you forgot to subtract 1 at the true class: the gradient is (p - onehot) / N"),
            (p, "you returned the probabilities themselves: subtract the one-hot labels and divide by N"),
            ((p - onehot) / logits.size, "you divided by N*C (the number of entries); divide by N, the "
                                          "number of examples"),
        ]
        if N > 1:
            every_row = p.copy()
            every_row[:, labels] -= 1          # the classic indexing slip: every row, every label's column
            diagnoses.append((every_row / N, "you subtracted 1 in every row at every label's column "
                                             "(`grad[:, labels] -= 1`); subtract it only at each row's own "
                                             "label: `grad[np.arange(N), labels] -= 1`"))
        for wrong, message in diagnoses:
            if wrong.shape == got.shape and np.allclose(got, wrong, rtol=1e-6, atol=1e-10):
                _fail(exercise, f"on {case}: {message}")
        _compare(exercise, got, expected, what="the gradient", rtol=1e-6, atol=1e-10, case=f"on {case}")
    return _passed(exercise, f"matches (softmax - onehot) / N on {len(cases)} hidden cases")


def check_relu_backward(fn):
    """Check ``fn(dout, x)``: ``dout`` where ``x > 0``, 0 elsewhere, as a NEW array.

    At exactly ``x == 0`` we pass no gradient (the convention cnnlib and the frameworks use).
    The check fails, saying so, when the function writes into ``dout``: the caller may
    still need it (a branch, a skip connection, the gradient check itself).
    """
    from cnnlib.ops import relu_backward
    exercise = "ReLU backward"
    rng = np.random.default_rng(6)
    cases = [
        ("x = [-2, -0.5, 0, 0.5, 2]", np.array([-2.0, -0.5, 0.0, 0.5, 2.0]), np.array([1.0, 2.0, 3.0, 4.0, 5.0])),
        ("a (2, 3, 4, 5) batch of feature maps", rng.standard_normal((2, 3, 4, 5)),
         rng.standard_normal((2, 3, 4, 5))),
        ("a (6, 7) array with negative dout", rng.standard_normal((6, 7)), -np.abs(rng.standard_normal((6, 7)))),
    ]
    for case, x, dout in cases:
        x_before, dout_before = x.copy(), dout.copy()
        got = _as_result(exercise, _quietly(exercise, fn, dout, x, case=f"on {case}"), x.shape, f"on {case}")
        if not np.array_equal(dout, dout_before):
            _fail(exercise, f"your function changed dout in place (on {case}): it set entries of the "
                            "caller's gradient to 0. The caller may still need dout (a skip connection, "
                            "the gradient check): return a new array (don't assign into dout)")
        if not np.array_equal(x, x_before):
            _fail(exercise, f"your function changed x in place (on {case}); return a new array")
        expected = relu_backward(dout, x > 0)
        if np.allclose(got, expected, rtol=1e-12, atol=0):
            continue
        for wrong, message in [
            (np.where(x >= 0, dout, 0.0), "at x == 0 you passed the gradient on; we use slope 0 there "
                                          "(mask `x > 0`, as cnnlib does)"),
            ((x > 0).astype(float), "you returned the mask itself: multiply it by dout"),
            (np.where(dout > 0, dout, 0.0), "you masked by the sign of dout; the mask comes from the "
                                            "forward input: `x > 0`"),
            (np.where(x > 0, x, 0.0), "you returned relu(x), the forward output; backward returns dout "
                                      "where x > 0"),
            (np.where(x > 0, 0.0, dout), "the mask is inverted: pass dout where x > 0, zero elsewhere"),
        ]:
            if np.allclose(got, wrong, rtol=1e-12, atol=0):
                _fail(exercise, f"on {case}: {message}")
        _compare(exercise, got, expected, what="dx", rtol=1e-12, atol=0, case=f"on {case}")
    return _passed(exercise, f"right on {len(cases)} hidden cases, and dout is left untouched")


def _maxpool_reference(x, k, stride):
    from cnnlib.ops import maxpool2d_backward, maxpool2d_forward
    _, cache = maxpool2d_forward(x, kernel_size=k, stride=stride)
    return lambda dout: maxpool2d_backward(dout, cache)


def _all_ties_maxpool_backward(dout, x, k, stride):
    """The classic wrong answer: every input equal to its window's maximum gets the gradient."""
    dx = np.zeros_like(x)
    for i, j in np.ndindex(*dout.shape[2:]):
        rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
        window = x[:, :, rows, cols]
        mask = window == window.max(axis=(2, 3), keepdims=True)
        dx[:, :, rows, cols] += mask * dout[:, :, i:i + 1, j:j + 1]
    return dx


def _winners(x, k, stride, shape):
    """(n, c, i, j, p, q) for every window: its first maximum sits at offset (p, q)."""
    for n, c, i, j in np.ndindex(*shape):
        window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
        yield (n, c, i, j) + divmod(int(np.argmax(window)), k)


def _wrong_maxpool_backwards(dout, x, k, stride):
    """Typical slips, each with the words that explain it."""
    no_stride, overwrite = np.zeros_like(x), np.zeros_like(x)
    for n, c, i, j, p, q in _winners(x, k, stride, dout.shape):
        no_stride[n, c, i + p, j + q] += dout[n, c, i, j]
        overwrite[n, c, i * stride + p, j * stride + q] = dout[n, c, i, j]
    slips = [(_all_ties_maxpool_backward(dout, x, k, stride),
              "where several inputs tie for a window's maximum you gave the gradient to ALL of them. The "
              "forward pass used one value, so only one input may get it: the first maximum (`np.argmax` "
              "of the flattened window). Giving it to every tie multiplies the gradient on flat regions, "
              "e.g. the zeros after a ReLU"),
             (no_stride, "the gradient lands at row i + p instead of i * stride + p (and the same for "
                         "columns): window (i, j) starts at row i * stride, column j * stride. This is "
                         "lesson 5's Bug 1, the forgotten stride")]
    if stride < k:
        slips.append((overwrite, "where windows overlap, one input can win two windows; its gradient is "
                                 "the SUM of both windows' dout. Use `+=`, not `=`"))
    return slips


def check_maxpool_backward(fn):
    """Check ``fn(dout, x, k, stride)``: the gradient of k x k max pooling with the given stride.

    ``x`` is ``(N, C, H, W)``, ``dout`` is ``(N, C, H_out, W_out)`` with
    ``H_out = (H - k) // stride + 1``. Window ``(i, j)`` starts at row ``i * stride``,
    column ``j * stride``; its ``dout`` goes to ONE input: the first maximum in row-major
    order (what ``np.argmax`` of the flattened window returns), even when several inputs
    tie, as the zeros after a ReLU often do. When ``stride < k`` the windows overlap and an
    input that wins several windows receives the sum of their gradients. Hidden cases
    include ties, overlapping windows, odd sizes (a last row or column that does not fill a
    window gets no gradient) and non-square inputs.
    """
    exercise = "max-pool backward"
    rng = np.random.default_rng(7)
    relu_like = np.maximum(rng.standard_normal((2, 3, 6, 8)), 0)    # many windows of tied zeros
    flat = np.ones((1, 1, 4, 4))
    flat[0, 0, 2:, 2:] = [[3.0, 3.0], [1.0, 3.0]]
    cases = [
        ("one 4x4 image, 2x2 windows, stride 2, no ties", rng.permutation(16).reshape(1, 1, 4, 4).astype(float),
         2, 2),
        ("a (2, 3, 6, 8) batch after ReLU, 2x2 windows, stride 2: many windows are all zeros (ties)",
         relu_like, 2, 2),
        ("a 4x4 image with tied maxima in every window, 2x2 windows, stride 2", flat, 2, 2),
        ("a (2, 2, 7, 5) batch, 2x2 windows, stride 2: odd sizes, the last row and column are not pooled",
         rng.standard_normal((2, 2, 7, 5)), 2, 2),
        ("a (1, 2, 9, 6) batch with 3x3 windows, stride 3", rng.standard_normal((1, 2, 9, 6)), 3, 3),
        ("a (2, 2, 7, 8) batch with 3x3 windows, stride 2: the windows overlap",
         rng.standard_normal((2, 2, 7, 8)), 3, 2),
        ("a (1, 3, 5, 6) batch with 2x2 windows, stride 1: the windows overlap",
         rng.standard_normal((1, 3, 5, 6)), 2, 1),
    ]
    for case, x, k, stride in cases:
        H_out, W_out = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
        dout = rng.standard_normal((x.shape[0], x.shape[1], H_out, W_out))
        x_before, dout_before = x.copy(), dout.copy()
        got = _as_result(exercise, _quietly(exercise, fn, dout, x, k, stride, case=f"on {case}"), x.shape,
                         f"on {case}")
        if not np.array_equal(dout, dout_before) or not np.array_equal(x, x_before):
            _fail(exercise, f"your function changed {'dout' if not np.array_equal(dout, dout_before) else 'x'} "
                            f"in place (on {case}); return a new array")
        expected = _maxpool_reference(x, k, stride)(dout)
        if np.allclose(got, expected, rtol=1e-12, atol=1e-15):
            continue
        for wrong, message in _wrong_maxpool_backwards(dout, x, k, stride):
            if np.allclose(got, wrong, rtol=1e-12, atol=1e-15):
                _fail(exercise, f"on {case}: {message}")
        if not np.isclose(got.sum(), dout.sum(), rtol=1e-9, atol=1e-12):
            _fail(exercise, f"on {case}: dx should add up to the same total as dout ({dout.sum():.4f}), since each "
                            f"window passes its gradient to exactly one input; yours adds up to {got.sum():.4f}")
        _compare(exercise, got, expected, what="dx", rtol=1e-12, atol=1e-15, case=f"on {case}")
    return _passed(exercise, f"right on {len(cases)} hidden cases: ties, overlapping windows and odd sizes "
                             "included")



# ============================================================================ lesson 6
__all__ += ["check_minibatches", "check_momentum_step"]


def _run_minibatches(exercise, fn, x, y, batch_size, seed, case):
    """Call the learner's minibatch function and return its batches as a list of (xb, yb)."""
    x_copy, y_copy = x.copy(), y.copy()
    result = _call(exercise, fn, x, y, batch_size, np.random.default_rng(seed), case=case)
    if result is None:
        _fail(exercise, f"your function returned None ({case}) - return a list of (xb, yb) pairs "
                        "(or `yield` them)")
    batches = _call(exercise, list, result, case=case)   # a generator runs (and may raise) only here
    if not (np.array_equal(x, x_copy) and np.array_equal(y, y_copy)):
        _fail(exercise, f"your function changed x or y in place ({case}); shuffle an index array "
                        "(order = rng.permutation(N)) and take x[idx], y[idx] instead")
    for k, item in enumerate(batches):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            _fail(exercise, f"batch {k} should be a pair (xb, yb) ({case}), got {type(item).__name__}")
        xb, yb = np.asarray(item[0]), np.asarray(item[1])
        if xb.shape[1:] != x.shape[1:] or yb.ndim != 1 or len(xb) != len(yb):
            _fail(exercise, f"batch {k} has xb of shape {xb.shape} and yb of shape {yb.shape} ({case}); "
                            f"expected (n, {', '.join(map(str, x.shape[1:]))}) and (n,) with the same n")
    return [(np.asarray(xb), np.asarray(yb)) for xb, yb in batches]


def _order(batches):
    return np.concatenate([yb for _, yb in batches]) if batches else np.array([], dtype=int)


def check_minibatches(fn):
    """Check ``fn(x, y, batch_size, rng) -> [(xb, yb), ...]``: one shuffled, seeded epoch.

    Every example must appear exactly once, with its own label, in batches of
    ``batch_size`` (the last one holds what is left over), in an order drawn from ``rng``
    (the same seed gives the same order; another seed, another order).
    """
    exercise = "minibatches"
    cases = [(10, 4, 0, (2,)), (64, 16, 1, (1, 2, 2)), (7, 7, 2, (3,)), (5, 8, 3, (2,)), (33, 8, 4, (1, 2, 2))]
    for N, batch_size, seed, feature_shape in cases:
        case = f"N={N} examples, batch_size={batch_size}"
        # Example i has the label y[i] = i and an x filled with i + 0.5: pairs are traceable.
        y = np.arange(N)
        x = np.broadcast_to((y + 0.5).reshape(-1, *[1] * len(feature_shape)), (N, *feature_shape)).copy()
        batches = _run_minibatches(exercise, fn, x, y, batch_size, seed, case)
        order = _order(batches)
        # Shuffling only the order of the batches leaves each batch a sorted run of neighbours.
        # (Allowing any order inside a batch would also catch about 1 in 1,000 honest shuffles
        # of 10 examples; sorted runs, about 1 in a million.)
        if len(batches) > 1 and not np.array_equal(order, y) and all(
                len(yb) and np.array_equal(yb, np.arange(yb[0], yb[0] + len(yb))) for _, yb in batches):
            _fail(exercise, f"each batch still holds neighbouring examples ({case}): shuffle the examples, "
                            "not only the order of the batches")
        sizes = [len(yb) for _, yb in batches]
        expected_sizes = [batch_size] * (N // batch_size) + ([N % batch_size] if N % batch_size else [])
        if sizes != expected_sizes:
            if sum(sizes) == N - N % batch_size and N % batch_size:
                _fail(exercise, f"the batch sizes are {sizes}, expected {expected_sizes} ({case}): the last "
                                f"{N % batch_size} examples are left out - keep a smaller last batch")
            if sorted(sizes) == sorted(expected_sizes):
                _fail(exercise, f"the batch sizes are {sizes}, expected {expected_sizes} ({case}): the smaller "
                                "batch of left-over examples comes last")
            _fail(exercise, f"the batch sizes are {sizes}, expected {expected_sizes} ({case})")
        counts = np.bincount(order.astype(int), minlength=N) if order.size and order.min() >= 0 else None
        if counts is None or len(counts) != N or (counts != 1).any():
            missing = [] if counts is None else np.flatnonzero(counts[:N] == 0).tolist()
            twice = [] if counts is None else np.flatnonzero(counts > 1).tolist()
            _fail(exercise, f"every example must appear exactly once per epoch ({case}): "
                            f"missing {missing[:5]}, repeated {twice[:5]} - draw one permutation of all "
                            "N indices and cut it into batches: rng.choice(N, N) draws with replacement by default "
                            "(some indices twice, others never); use rng.permutation(N)")
        for k, (xb, yb) in enumerate(batches):
            expected_xb = x[yb.astype(int)]
            if not np.array_equal(xb, expected_xb):
                bad = int(np.flatnonzero((xb != expected_xb).reshape(len(xb), -1).any(axis=1))[0])
                _fail(exercise, f"batch {k} pairs the label of example {int(yb[bad])} with the image of "
                                f"example {int(np.ravel(xb[bad])[0] - 0.5)} ({case}): x and y were shuffled "
                                "differently - index both with the same indices")
        if N >= 32:
            if np.array_equal(order, y):
                _fail(exercise, f"the examples come in their original order ({case}): shuffle them with "
                                "rng.permutation(N), so that every epoch sees different batches")
            again = _order(_run_minibatches(exercise, fn, x, y, batch_size, seed, case))
            if not np.array_equal(order, again):
                _fail(exercise, f"two calls with the same seed gave different orders ({case}): draw the shuffle "
                                "from the rng argument (rng.permutation), not from np.random")
            other = _order(_run_minibatches(exercise, fn, x, y, batch_size, seed + 100, case))
            if np.array_equal(order, other):
                _fail(exercise, f"two different seeds gave the same order ({case}): the shuffle must come "
                                "from the rng argument")
    return _passed(exercise, "every example exactly once per epoch, with its own label, shuffled by the "
                             "rng you are given, in full batches and one smaller last batch")


class _Holder:
    """Just enough of a layer for cnnlib.optim.SGD: one parameter and its gradient."""

    def __init__(self, param):
        self.params = {"p": param.copy()}
        self.grads = {"p": np.zeros_like(param)}


def check_momentum_step(fn):
    """Check ``fn(param, grad, velocity, lr, momentum) -> (new_param, new_velocity)``.

    One step of SGD with momentum, :math:`v \\leftarrow \\mu v - \\eta g`,
    :math:`\\theta \\leftarrow \\theta + v`, compared over several steps with
    :class:`cnnlib.optim.SGD`. The function must return new arrays, not change its inputs.
    """
    from cnnlib.optim import SGD

    exercise = "momentum step"
    rng = np.random.default_rng(6)
    cases = [((3, 4), 0.1, 0.9), ((5,), 0.05, 0.5), ((2, 3), 0.2, 0.0)]
    for shape, lr, momentum in cases:
        holder = _Holder(rng.normal(size=shape))
        reference = SGD(holder, lr=lr, momentum=momentum)
        param, velocity = holder.params["p"].copy(), np.zeros(shape)
        expected_velocity = np.zeros(shape)
        for step in range(1, 4):
            case = f"step {step}, lr={lr}, momentum={momentum}"
            grad = rng.normal(size=shape)
            holder.grads["p"][...] = grad
            reference.step()
            expected_param = holder.params["p"]
            expected_velocity = momentum * expected_velocity - lr * grad
            given = [param.copy(), grad.copy(), velocity.copy()]
            result = _call(exercise, fn, param, grad, velocity, lr, momentum, case=case)
            for name, before, now in zip(("param", "grad", "velocity"), given, (param, grad, velocity)):
                if not np.array_equal(before, now):
                    _fail(exercise, f"your function changed its argument `{name}` in place ({case}); "
                                    "return new arrays, e.g. new_velocity = momentum * velocity - lr * grad")
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                _fail(exercise, f"return the pair (new_param, new_velocity) ({case}), got "
                                f"{type(result).__name__}")
            new_param, new_velocity = result
            try:
                swapped = (np.allclose(np.asarray(new_param, dtype=float), expected_velocity)
                           and np.allclose(np.asarray(new_velocity, dtype=float), expected_param)
                           and not np.allclose(expected_param, expected_velocity))
            except (TypeError, ValueError):
                swapped = False
            if swapped:
                _fail(exercise, f"you returned (new_velocity, new_param) ({case}); both are right, but the "
                                "order is (new_param, new_velocity)")
            try:
                new_param = np.asarray(new_param, dtype=float)
                new_velocity = np.asarray(new_velocity, dtype=float)
            except (TypeError, ValueError):
                _fail(exercise, f"new_param and new_velocity should be NumPy arrays ({case})")
            if new_param.shape == shape and np.allclose(new_param, param - (expected_param - param)):
                _fail(exercise, f"the parameter moved uphill ({case}): v = μv − ηg already holds the minus "
                                "sign, so the update is param + v")
            if new_param.shape == shape and np.allclose(new_param, param + velocity) and \
                    not np.allclose(velocity, expected_velocity):
                _fail(exercise, f"the parameter moved by the old velocity ({case}): update the velocity "
                                "first, then add the new one to the parameter")
            if step > 1 and momentum > 0 and new_param.shape == shape and \
                    np.allclose(new_param, param - lr * grad):
                _fail(exercise, f"step 1 was right but step {step} is plain SGD ({case}): the velocity must "
                                "carry over from step to step (momentum * velocity - lr * grad)")
            _compare(exercise, new_param, expected_param, what="new_param", case=case)
            if new_velocity.shape == shape and np.allclose(new_velocity, -expected_velocity) \
                    and np.abs(expected_velocity).max() > 0:
                _fail(exercise, f"new_velocity has the opposite sign ({case}): in this lesson v = μv − ηg "
                                "points downhill and param + v is the update")
            _compare(exercise, new_velocity, expected_velocity, what="new_velocity", case=case)
            param, velocity = new_param, new_velocity
    return _passed(exercise, "three steps each with momentum 0.9, 0.5 and 0 match cnnlib.optim.SGD")

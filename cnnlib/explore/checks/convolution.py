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
from cnnlib.explore.checks._cases import Part, case_rng, judge, unchanged
from cnnlib.explore.checks._compare import compare, inputs_unchanged
from cnnlib.explore.checks._runner import call, fail, passed, reports_output

__all__ = ["check_conv2d_forward", "check_conv2d_single", "check_maxpool", "check_maxpool_forward"]


# ============================================================================ words for a broadcasting error
# A ValueError about broadcasting in a sliding-window exercise almost always means a window
# cut short at the edge (no padding, or too many windows) meeting a full-size kernel.
def _conv_broadcast_hint(padding, batch=True):
    """What a broadcasting error in a convolution exercise gets (``batch``: x is (N, C, H, W))."""
    if not batch:
        return ("A window and the kernel do not line up: window (i, j) is image[i:i + KH, j:j + KW], and there are "
                "H - KH + 1 windows down and W - KW + 1 across, so check your loops' ranges")
    window = "x_padded[:, :, i*stride:i*stride + KH, j*stride:j*stride + KW]"
    if padding:
        return ("A window and the kernel do not line up: pad x first with np.pad(x, ((0, 0), (0, 0), (padding, "
                "padding), (padding, padding))) and slice the windows from the padded array: window (i, j) is "
                + window)
    return (f"A window and the kernel do not line up: window (i, j) is {window.replace('x_padded', 'x')}; check your "
            "output size, (H - KH)//stride + 1 windows down, and the axes you sum over")


def _pool_broadcast_hint(batch=True):
    """What a broadcasting error in a max-pooling exercise gets (``batch``: x is (N, C, H, W))."""
    window = "x[:, :, i*stride:i*stride + k, j*stride:j*stride + k]" if batch else \
        "x[i*stride:i*stride + k, j*stride:j*stride + k]"
    return (f"The windows do not line up: a window is {window}; check your output size, (H - k)//stride + 1 "
            "windows down and (W - k)//stride + 1 across")


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
        got = call(exercise, fn, *args, case=case, broadcast_hint=_conv_broadcast_hint(0, batch=False))
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
        got = call(exercise, fn, arg, k, s, case=case, broadcast_hint=_pool_broadcast_hint(batch=False))
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



# ============================================================================ my_cnn.py: batches
def _conv_forward_cases(rng, hidden):
    """``(description, x, w, b, stride, padding)``: the kinds of case every draw has, float32 last."""
    def draw(lo, hi):
        return int(rng.integers(lo, hi + 1)) if hidden else None

    def case(what, N, C, F, H, W, KH, KW, stride, padding, dtype=np.float64):
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        w = rng.standard_normal((F, C, KH, KW)).astype(dtype)
        b = rng.standard_normal(F).astype(dtype)
        desc = (f"{what}: x {x.shape}, w {w.shape}, stride={stride}, padding={padding}"
                + (", float32" if dtype == np.float32 else ""))
        return desc, x, w, b, stride, padding

    if not hidden:
        return [case("one image, one channel, one filter", 1, 1, 1, 5, 5, 3, 3, 1, 0),
                case("a batch with 3 channels and 4 filters, padding 1", 2, 3, 4, 6, 7, 3, 3, 1, 1),
                case("stride 2 and padding 1", 2, 2, 3, 7, 8, 3, 3, 2, 1),
                case("non-square 2x3 kernels, stride 2", 3, 2, 2, 6, 7, 2, 3, 2, 0),
                case("float32 in, float32 out", 2, 3, 2, 6, 6, 3, 3, 1, 1, np.float32)]
    k = draw(2, 3)
    return [case("one image, one channel, one filter", 1, 1, 1, draw(4, 6), draw(4, 6), k, k, 1, 0),
            case("a batch with several channels and filters, padding 1", draw(2, 3), draw(2, 3), draw(2, 4),
                 draw(5, 7), draw(5, 8), 3, 3, 1, 1),
            case("stride 2 and padding", 2, draw(2, 3), draw(2, 3), draw(6, 9), draw(6, 9), 3, 3, 2, draw(1, 2)),
            case("non-square kernels, stride 2", draw(2, 3), 2, 2, draw(5, 7), draw(6, 8), 2, 3, 2, 0),
            case("float32 in, float32 out", 2, draw(2, 3), 2, draw(5, 7), draw(5, 7), 3, 3, 1, 1, np.float32)]


def _conv_shape_hints(x, w, stride, padding, expected_shape):
    """Wrong output shapes and what each says about the code."""
    (N, C, H, W), (F, _, KH, KW) = x.shape, w.shape
    hints = {}
    if padding:
        hints[(N, F, (H - KH) // stride + 1, (W - KW) // stride + 1)] = (
            "the padding is ignored: add `padding` rows and columns of zeros on every side of each image "
            "first (np.pad with ((0, 0), (0, 0), (padding, padding), (padding, padding)))")
    if stride > 1:
        hints[(N, F, H + 2 * padding - KH + 1, W + 2 * padding - KW + 1)] = (
            "the stride is ignored: window (i, j) starts at row i * stride, column j * stride, and there "
            "are (H + 2 * padding - KH) // stride + 1 windows down")
    hints[(N, F) + expected_shape[2:][::-1]] = "height and width are swapped: H_out comes from H and KH"
    hints[(N, C) + expected_shape[2:]] = ("one map per input channel: the channels are summed together, and "
                                          "there is one output map per filter, F in all")
    hints.pop(tuple(expected_shape), None)
    return hints


@reports_output
def check_conv2d_forward(fn, *, seed=None):
    """my_cnn.py, lesson 2: ``fn(x, w, b, stride, padding)`` -> the batched convolution.

    ``x`` is ``(N, C, H, W)``, ``w`` is ``(F, C, KH, KW)``, ``b`` is ``(F,)``; the result is
    ``(N, F, H_out, W_out)``. The reference is :func:`cnnlib.ops.conv2d_forward`. Cases
    cover a batch, several channels and filters, stride 2, padding, non-square kernels and
    float32 (which must stay float32).

    Parameters
    ----------
    fn : callable
        The learner's ``conv2d_forward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "conv2d_forward"
    hidden = seed is not None
    cases = _conv_forward_cases(case_rng(seed, 21), hidden)
    for desc, x, w, b, stride, padding in cases:
        args = (x.copy(), w.copy(), b.copy())
        result = call(exercise, fn, *args, stride, padding, case=desc, quiet=True,
                      broadcast_hint=_conv_broadcast_hint(padding))
        unchanged(exercise, [("x", x, args[0]), ("w", w, args[1]), ("b", b, args[2])], desc)
        x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))

        def conv(weights, bias=b64):
            return ops.conv2d_forward(x64, weights, bias, stride=stride, padding=padding)[0]
        expected = conv(w64)
        slips = [(conv(w64[:, :, ::-1, ::-1].copy()),
                  "it is the convolution with each kernel flipped; like every deep-learning library we compute "
                  "cross-correlation: x_padded[n, c, i*stride + p, j*stride + q] * w[f, c, p, q], no flip"),
                 (conv(w64, np.zeros_like(b64)), "the bias is missing: add b[f] to every value of map f"),
                 (conv(w64) + b64.sum() - b64[:, None, None], "each map got the sum of all the biases: map f "
                                                               "gets b[f] alone")]
        if w.shape[2] == w.shape[3]:
            slips.append((conv(w64.transpose(0, 1, 3, 2).copy()),
                          "it is the result with each kernel transposed (height and width swapped): w[f, c, p, q] "
                          "multiplies the pixel p rows down and q columns across the window"))
        shapes = _conv_shape_hints(x, w, stride, padding, expected.shape)
        judge(exercise, [Part("the output", result, expected, x.dtype, slips, shapes,
                              start="np.zeros((N, F, H_out, W_out), dtype=x.dtype)")], desc)
    return passed(exercise, f"right on {len(cases)} {'hidden ' if hidden else ''}cases: a batch, several "
                            "channels and filters, stride 2, padding, non-square kernels and float32")


def _pool_forward_cases(rng, hidden):
    """``(description, x, k, stride)``, float32 last."""
    def draw(lo, hi):
        return int(rng.integers(lo, hi + 1))

    def case(what, shape, k, stride, dtype=np.float64, relu=False):
        x = rng.standard_normal(shape) - 0.5        # mostly negative: a maximum started at 0 shows
        if relu:
            x = np.maximum(x, 0)
        x = x.astype(dtype)
        return (f"{what}: x {x.shape}, k={k}, stride={stride}" + (", float32" if dtype == np.float32 else ""),
                x, k, stride)

    if not hidden:
        return [case("one image", (1, 1, 4, 4), 2, 2),
                case("a batch after ReLU, many tied zeros", (2, 3, 6, 8), 2, 2, relu=True),
                case("odd sizes: the last row and column fill no window", (2, 2, 7, 5), 2, 2),
                case("overlapping 3x3 windows, stride 2", (1, 2, 7, 8), 3, 2),
                case("overlapping windows, stride 1, float32", (2, 3, 5, 6), 2, 1, np.float32)]
    return [case("one image", (1, 1, 2 * draw(2, 3), 2 * draw(2, 3)), 2, 2),
            case("a batch after ReLU, many tied zeros", (draw(2, 3), draw(2, 3), draw(4, 7), draw(4, 8)), 2, 2,
                 relu=True),
            case("odd sizes: the last row and column fill no window", (2, 2, 2 * draw(2, 3) + 1, 2 * draw(2, 3) + 1),
                 2, 2),
            case("overlapping 3x3 windows, stride 2", (draw(1, 2), 2, draw(6, 9), draw(6, 9)), 3, 2),
            case("overlapping windows, stride 1, float32", (2, draw(2, 3), draw(4, 6), draw(4, 6)), 2, 1,
                 np.float32)]


@reports_output
def check_maxpool_forward(fn, *, seed=None):
    """my_cnn.py, lesson 3: ``fn(x, k, stride)`` -> max pooling of a batch ``(N, C, H, W)``.

    The result is ``(N, C, H_out, W_out)`` with ``H_out = (H - k) // stride + 1``; the
    reference is :func:`cnnlib.ops.maxpool2d_forward`. Cases cover a batch, ties, odd
    sizes, overlapping windows and float32.

    Parameters
    ----------
    fn : callable
        The learner's ``maxpool_forward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "maxpool_forward"
    hidden = seed is not None
    cases = _pool_forward_cases(case_rng(seed, 31), hidden)
    for desc, x, k, stride in cases:
        arg = x.copy()
        result = call(exercise, fn, arg, k, stride, case=desc, quiet=True, broadcast_hint=_pool_broadcast_hint())
        unchanged(exercise, [("x", x, arg)], desc)
        x64 = x.astype(np.float64)
        expected = ops.maxpool2d_forward(x64, kernel_size=k, stride=stride)[0]
        slips = [(ops.avgpool2d_forward(x64, kernel_size=k, stride=stride)[0],
                  "it is the average of each window; max pooling keeps the largest value"),
                 (np.maximum(expected, 0), "windows whose values are all negative come out as 0: start the "
                                           "running maximum at the window's first value (or use .max()), not 0")]
        N, C, H, W = x.shape
        shapes = {}
        if stride != k:
            shapes[(N, C, (H - k) // k + 1, (W - k) // k + 1)] = (
                f"the windows step by k = {k} instead of stride = {stride}: window (i, j) starts at row "
                "i * stride, column j * stride")
        if stride > 1:
            shapes[(N, C, H - k + 1, W - k + 1)] = "the stride is ignored: windows start every `stride` pixels"
        shapes[(N, C) + expected.shape[2:][::-1]] = "height and width are swapped"
        shapes.pop(expected.shape, None)
        judge(exercise, [Part("the output", result, expected, x.dtype, slips, shapes,
                              start="np.zeros((N, C, H_out, W_out), dtype=x.dtype)")], desc)
    return passed(exercise, f"right on {len(cases)} {'hidden ' if hidden else ''}cases: a batch, ties, odd "
                            "sizes, overlapping windows and float32")

"""Checks on backward passes (lesson 5): ReLU backward and max-pool backward.

May import: NumPy, the cnnlib core (for the reference answers) and the checks' own
``_runner`` and ``_compare``.

The contract
------------
The learner's backward function gets ``dout`` and the forward input and must return a
NEW array ``dx``, leaving both untouched. Hidden cases include exact zeros (ReLU), tied
maxima (the zeros after a ReLU), overlapping windows and odd sizes (max pooling); a
failure names the case and the typical slip: gradient at ``x == 0``, the mask returned
or inverted, every tie given the gradient, the stride forgotten, ``=`` where overlapping
windows need ``+=``.
"""
import numpy as np

from cnnlib.ops import conv2d_backward, conv2d_forward, maxpool2d_backward, maxpool2d_forward, relu_backward
from cnnlib.explore.checks._cases import Part, case_rng, judge, tolerances, unchanged
from cnnlib.explore.checks._compare import as_result, compare, distinct, dtype_of
from cnnlib.explore.checks._runner import call, count, fail, passed, reports_output

__all__ = ["check_conv2d_backward", "check_linear_backward", "check_linear_forward", "check_maxpool_backward",
           "check_relu_backward", "check_relu_forward"]

# What a ValueError about broadcasting gets in the two window exercises: a window or a dout
# value of the wrong shape meets another array.
POOL_BACKWARD_BROADCAST_HINT = (
    "A window and its gradient do not line up: window (i, j) is x[:, :, i*stride:i*stride + k, j*stride:j*stride + k] "
    "and its gradient is dout[:, :, i, j], one value per image and channel (dout[:, :, i:i + 1, j:j + 1] keeps the "
    "axes to multiply a window with); there are (H - k)//stride + 1 windows down, as many as dout has rows")
CONV_BACKWARD_BROADCAST_HINT = (
    "A window and its gradient do not line up: pad x first as the forward pass does, np.pad(x, ((0, 0), (0, 0), "
    "(padding, padding), (padding, padding))), add window (i, j)'s gradient into dx_padded[:, :, i*stride:i*stride "
    "+ KH, j*stride:j*stride + KW], and crop the padding off dx at the end")


@reports_output
def check_relu_backward(fn, *, seed=None):
    """Check ``fn(dout, x)``: ``dout`` where ``x > 0``, 0 elsewhere, as a NEW array of dout's dtype.

    At exactly ``x == 0`` we pass no gradient (the convention cnnlib and the frameworks use).
    The check fails, saying so, when the function writes into ``dout``: the caller may
    still need it (a branch, a skip connection, the gradient check itself).

    Parameters
    ----------
    fn : callable
        The learner's ``relu_backward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "relu_backward"
    hidden = seed is not None
    rng = case_rng(seed, 6)
    shape = tuple(int(n) for n in rng.integers(2, 6, size=4)) if hidden else (2, 3, 4, 5)
    rows, cols = (int(rng.integers(3, 8)), int(rng.integers(3, 8))) if hidden else (6, 7)
    cases = [
        ("x = [-2, -0.5, 0, 0.5, 2]", np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
         rng.standard_normal(5) if hidden else np.array([1.0, 2.0, 3.0, 4.0, 5.0])),
        (f"a {shape} batch of feature maps", rng.standard_normal(shape), rng.standard_normal(shape)),
        (f"a ({rows}, {cols}) array with negative dout", rng.standard_normal((rows, cols)),
         -np.abs(rng.standard_normal((rows, cols)))),
        ("a (3, 4, 5) float32 array with exact zeros",
         np.maximum(rng.standard_normal((3, 4, 5)), 0).astype(np.float32) - np.float32(0.5) * (rng.random((3, 4, 5)) < 0.3),
         rng.standard_normal((3, 4, 5)).astype(np.float32)),
    ]
    for case, x, dout in cases:
        x_before, dout_before = x.copy(), dout.copy()
        result = call(exercise, fn, dout, x, case=f"on {case}", quiet=True)
        got = as_result(exercise, result, x.shape, f"on {case}")
        if not np.array_equal(dout, dout_before):
            fail(exercise, f"your function changed dout in place (on {case}): it set entries of the "
                           "caller's gradient to 0. The caller may still need dout (a skip connection, "
                           "the gradient check): return a new array (don't assign into dout)")
        if not np.array_equal(x, x_before):
            fail(exercise, f"your function changed x in place (on {case}); return a new array")
        expected = relu_backward(dout, x > 0)
        if np.allclose(got, expected, rtol=1e-12, atol=0) and dtype_of(result) == dout.dtype:
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
                fail(exercise, f"on {case}: {message}")
        judge(exercise, [Part("dx", result, expected, dout.dtype, start="np.zeros_like(dout)")], f"on {case}")
    return passed(exercise, f"right on {len(cases)} {'hidden ' if hidden else ''}cases, float32 included, and "
                            "dout is left untouched")


def _maxpool_reference(x, k, stride):
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
    no_stride, overwrite, last = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    for n, c, i, j, p, q in _winners(x, k, stride, dout.shape):
        no_stride[n, c, i + p, j + q] += dout[n, c, i, j]
        overwrite[n, c, i * stride + p, j * stride + q] = dout[n, c, i, j]
        window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
        p_last, q_last = divmod(k * k - 1 - int(np.argmax(window.ravel()[::-1])), k)
        last[n, c, i * stride + p_last, j * stride + q_last] += dout[n, c, i, j]
    slips = [(_all_ties_maxpool_backward(dout, x, k, stride),
              "where several inputs tie for a window's maximum you gave the gradient to ALL of them. The "
              "forward pass used one value, so only one input may get it: the first maximum (`np.argmax` "
              "of the flattened window). Giving it to every tie multiplies the gradient on flat regions, "
              "e.g. the zeros after a ReLU"),
             (last, "where several inputs tie for a window's maximum you gave the gradient to the LAST of them "
                    "(a `>=` in a running maximum, or a search from the end); it goes to the FIRST maximum in "
                    "row-major order, the one `np.argmax` of the flattened window returns"),
             (no_stride, "the gradient lands at row i + p instead of i * stride + p (and the same for "
                         "columns): window (i, j) starts at row i * stride, column j * stride. This is "
                         "lesson 5's Bug 1, the forgotten stride")]
    if stride < k:
        slips.append((overwrite, "where windows overlap, one input can win two windows; its gradient is "
                                 "the SUM of both windows' dout. Use `+=`, not `=`"))
    return slips


def _maxpool_backward_cases(rng, hidden):
    """``(description, x, k, stride)``: the kinds of case every draw has (ties, odd sizes, overlaps), float32 last."""
    def draw(lo, hi):
        return int(rng.integers(lo, hi + 1))

    if hidden:
        N, C, H, W = draw(2, 3), draw(2, 3), 2 * draw(2, 4), 2 * draw(2, 4)
        odd, big, lap = (draw(2, 3), 2, 2 * draw(2, 3) + 1, 2 * draw(2, 3) + 1), (1, 2, 3 * draw(2, 3), 3 * draw(2, 3)), \
            (2, 2, draw(6, 9), draw(6, 9))
        one = rng.permutation(16).reshape(1, 1, 4, 4).astype(float)
    else:
        (N, C, H, W), odd, big, lap = (2, 3, 6, 8), (2, 2, 7, 5), (1, 2, 9, 6), (2, 2, 7, 8)
        one = rng.permutation(16).reshape(1, 1, 4, 4).astype(float)
    relu_like = np.maximum(rng.standard_normal((N, C, H, W)), 0)    # many windows of tied zeros
    flat = np.ones((1, 1, 4, 4))
    flat[0, 0, 2:, 2:] = [[3.0, 3.0], [1.0, 3.0]]
    if hidden:
        flat = flat * (rng.random() + 0.5)
    small = (1, 3, 5, 6) if not hidden else (1, draw(2, 3), draw(4, 6), draw(4, 6))
    f32 = (2, 2, 6, 7) if not hidden else (2, draw(2, 3), draw(5, 7), draw(5, 8))
    return [
        ("one 4x4 image, 2x2 windows, stride 2, no ties", one, 2, 2),
        (f"a {(N, C, H, W)} batch after ReLU, 2x2 windows, stride 2: many windows are all zeros (ties)",
         relu_like, 2, 2),
        ("a 4x4 image with tied maxima in every window, 2x2 windows, stride 2", flat, 2, 2),
        (f"a {odd} batch, 2x2 windows, stride 2: odd sizes, the last row and column are not pooled",
         rng.standard_normal(odd), 2, 2),
        (f"a {big} batch with 3x3 windows, stride 3", rng.standard_normal(big), 3, 3),
        (f"a {lap} batch with 3x3 windows, stride 2: the windows overlap", rng.standard_normal(lap), 3, 2),
        (f"a {small} batch with 2x2 windows, stride 1: the windows overlap", rng.standard_normal(small), 2, 1),
        (f"a {f32} float32 batch after ReLU with 3x3 windows, stride 2: ties and overlaps",
         np.maximum(rng.standard_normal(f32), 0).astype(np.float32), 3, 2),
    ]


@reports_output
def check_maxpool_backward(fn, *, seed=None):
    """Check ``fn(dout, x, k, stride)``: the gradient of k x k max pooling with the given stride.

    ``x`` is ``(N, C, H, W)``, ``dout`` is ``(N, C, H_out, W_out)`` with
    ``H_out = (H - k) // stride + 1``. Window ``(i, j)`` starts at row ``i * stride``,
    column ``j * stride``; its ``dout`` goes to ONE input: the first maximum in row-major
    order (what ``np.argmax`` of the flattened window returns), even when several inputs
    tie, as the zeros after a ReLU often do. When ``stride < k`` the windows overlap and an
    input that wins several windows receives the sum of their gradients. Hidden cases
    include ties, overlapping windows, odd sizes (a last row or column that does not fill a
    window gets no gradient), non-square inputs and float32 (dx stays float32).

    Parameters
    ----------
    fn : callable
        The learner's ``maxpool_backward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "maxpool_backward"
    hidden = seed is not None
    rng = case_rng(seed, 7)
    cases = _maxpool_backward_cases(rng, hidden)
    for case, x, k, stride in cases:
        H_out, W_out = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
        dout = rng.standard_normal((x.shape[0], x.shape[1], H_out, W_out)).astype(x.dtype)
        x_before, dout_before = x.copy(), dout.copy()
        result = call(exercise, fn, dout, x, k, stride, case=f"on {case}", quiet=True,
                      broadcast_hint=POOL_BACKWARD_BROADCAST_HINT)
        got = as_result(exercise, result, x.shape, f"on {case}")
        if not np.array_equal(dout, dout_before) or not np.array_equal(x, x_before):
            fail(exercise, f"your function changed {'dout' if not np.array_equal(dout, dout_before) else 'x'} "
                           f"in place (on {case}); return a new array")
        x64, dout64 = x.astype(np.float64), dout.astype(np.float64)
        expected = _maxpool_reference(x64, k, stride)(dout64)
        rtol, atol = tolerances(x.dtype, np.abs(expected).max())
        if np.allclose(got, expected, rtol=rtol, atol=atol) and dtype_of(result) == x.dtype:
            continue
        for wrong, message in _wrong_maxpool_backwards(dout64, x64, k, stride):
            if np.allclose(got, wrong, rtol=rtol, atol=atol) and not np.allclose(wrong, expected, rtol=rtol, atol=atol):
                fail(exercise, f"on {case}: {message}")
        if not np.isclose(got.sum(), dout64.sum(), rtol=max(rtol, 1e-9), atol=max(atol, 1e-12)):
            yours, total = distinct(got.sum(), dout64.sum())
            fail(exercise, f"on {case}: dx should add up to the same total as dout ({total}), since each "
                           f"window passes its gradient to exactly one input; yours adds up to {yours}")
        judge(exercise, [Part("dx", result, expected, x.dtype, start="np.zeros_like(x)")], f"on {case}")
    return passed(exercise, f"right on {len(cases)} {'hidden ' if hidden else ''}cases: ties, overlapping windows, "
                            "odd sizes and float32 included")


# ============================================================================ my_cnn.py: ReLU and Linear
def _float32_note(dtype):
    return ", float32" if dtype == np.float32 else ""


@reports_output
def check_relu_forward(fn, *, seed=None):
    """my_cnn.py, lesson 5: ``fn(x)`` -> ``max(x, 0)`` element by element, a NEW array of x's dtype.

    Parameters
    ----------
    fn : callable
        The learner's ``relu_forward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "relu_forward"
    hidden = seed is not None
    rng = case_rng(seed, 51)
    shape = tuple(int(n) for n in rng.integers(2, 6, size=4)) if hidden else (2, 3, 4, 5)
    cases = [("x = [-2, -0.5, 0, 0.5, 2]", np.array([-2.0, -0.5, 0.0, 0.5, 2.0]) * (rng.random() + 0.5 if hidden else 1)),
             (f"a batch of feature maps of shape {shape}", rng.standard_normal(shape)),
             ("a (6, 7) array, float32", rng.standard_normal((6, 7)).astype(np.float32))]
    for case, x in cases:
        arg = x.copy()
        result = call(exercise, fn, arg, case=case, quiet=True)
        unchanged(exercise, [("x", x, arg)], case)
        x64 = x.astype(np.float64)
        expected = np.maximum(x64, 0)
        slips = [((x64 > 0).astype(float), "you returned the mask x > 0; return the values: max(x, 0)"),
                 (np.abs(x64), "you returned |x|; negative values become 0, not positive"),
                 (np.minimum(x64, 0), "you kept the negative values; ReLU keeps the positive ones"),
                 (np.where(x64 > 0, 0.0, x64), "the mask is inverted: keep x where x > 0")]
        judge(exercise, [Part("the output", result, expected, x.dtype, slips, start="np.zeros_like(x)")], case)
    return passed(exercise, f"right on {len(cases)} {'hidden ' if hidden else ''}cases, float32 included, and "
                            "x is left untouched")


def _linear_cases(rng, hidden):
    """``(description, x, w, b, dout)``: a batch, a square w (D == M), float32 last."""
    def case(what, N, D, M, dtype=np.float64):
        x, w = rng.standard_normal((N, D)).astype(dtype), rng.standard_normal((D, M)).astype(dtype)
        b, dout = rng.standard_normal(M).astype(dtype), rng.standard_normal((N, M)).astype(dtype)
        return f"{what}: x {x.shape}, w {w.shape}{_float32_note(dtype)}", x, w, b, dout

    if not hidden:
        return [case("one example", 1, 3, 2), case("a batch", 4, 5, 3), case("a batch, w square", 3, 4, 4),
                case("a batch", 5, 6, 3, np.float32)]
    d = int(rng.integers(3, 7))
    return [case("one example", 1, int(rng.integers(2, 5)), int(rng.integers(2, 5))),
            case("a batch", int(rng.integers(3, 7)), int(rng.integers(4, 8)), int(rng.integers(2, 4))),
            case("a batch, w square", int(rng.integers(2, 6)), d, d),
            case("a batch", int(rng.integers(3, 7)), int(rng.integers(4, 8)), int(rng.integers(2, 5)),
                 np.float32)]


@reports_output
def check_linear_forward(fn, *, seed=None):
    """my_cnn.py, lesson 5: ``fn(x, w, b)`` -> ``x @ w + b``; x ``(N, D)``, w ``(D, M)``, b ``(M,)``.

    Parameters
    ----------
    fn : callable
        The learner's ``linear_forward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "linear_forward"
    hidden = seed is not None
    cases = _linear_cases(case_rng(seed, 52), hidden)
    for case, x, w, b, _ in cases:
        args = (x.copy(), w.copy(), b.copy())
        result = call(exercise, fn, *args, case=case, quiet=True)
        unchanged(exercise, [("x", x, args[0]), ("w", w, args[1]), ("b", b, args[2])], case)
        x64, w64, b64 = (a.astype(np.float64) for a in (x, w, b))
        expected = x64 @ w64 + b64
        slips = [(x64 @ w64, "the bias is missing: add b (one value per output, broadcast over the batch)")]
        if w.shape[0] == w.shape[1]:
            slips.append((x64 @ w64.T + b64, "you used w.T: w has shape (D, M), so x @ w is already (N, M)"))
        shapes = {(x.shape[0], w.shape[0]): "you used w.T: w has shape (D, M), so x @ w is (N, M)"}
        shapes.pop(expected.shape, None)
        judge(exercise, [Part("the output", result, expected, x.dtype, slips, shapes,
                              start="np.zeros((N, M), dtype=x.dtype)")], case)
    return passed(exercise, f"right on {len(cases)} {'hidden ' if hidden else ''}cases, float32 included")


@reports_output
def check_linear_backward(fn, *, seed=None):
    """my_cnn.py, lesson 5: ``fn(dout, x, w)`` -> ``(dx, dw, db)`` of ``out = x @ w + b``.

    ``dx = dout @ w.T`` ``(N, D)``, ``dw = x.T @ dout`` ``(D, M)``, ``db = dout.sum(axis=0)``
    ``(M,)``. A failure names the wrong gradient and the slip (dw transposed, db not
    summed over the batch, a mean instead of a sum, w where w.T belongs).

    Parameters
    ----------
    fn : callable
        The learner's ``linear_backward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "linear_backward"
    hidden = seed is not None
    cases = _linear_cases(case_rng(seed, 53), hidden)
    for case, x, w, _, dout in cases:
        args = (dout.copy(), x.copy(), w.copy())
        result = call(exercise, fn, *args, case=case, quiet=True)
        unchanged(exercise, [("dout", dout, args[0]), ("x", x, args[1]), ("w", w, args[2])], case)
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            fail(exercise, f"return the three gradients (dx, dw, db) ({case}), got {type(result).__name__}"
                           + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""))
        d64, x64, w64 = (a.astype(np.float64) for a in (dout, x, w))
        (N, D), M = x.shape, w.shape[1]
        dx, dw, db = d64 @ w64.T, x64.T @ d64, d64.sum(axis=0)
        parts = [
            Part("dx", result[0], dx, x.dtype,
                 [(d64 @ w64, "you used w where w.T belongs: dx = dout @ w.T")] if D == M else [],
                 {(N, M): "dx has the shape of dout; dx = dout @ w.T has one value per input, (N, D)"},
                 start="np.zeros_like(x)"),
            Part("dw", result[1], dw, x.dtype,
                 [(dw.T, "dw is transposed: you computed dout.T @ x, shape (M, D); dw = x.T @ dout has w's "
                         "shape (D, M)"),
                  (dw / N, f"dw is the mean over the batch (divided by N = {N}); add the examples' "
                           "contributions up: dw = x.T @ dout"),
                  (np.outer(x64[0], d64[0]), "dw holds the first example only: x.T @ dout adds up every "
                                             "example of the batch")],
                 {(M, D): "dw is transposed: you computed dout.T @ x; dw = x.T @ dout has w's shape (D, M)"},
                 start="np.zeros_like(w)"),
            Part("db", result[2], db, x.dtype,
                 [(d64.mean(axis=0), f"db is the mean over the batch; it is the sum: dout.sum(axis=0), not "
                                     f"divided by N = {N}"),
                  (d64[0], "db is the first example's dout only: sum over the batch, dout.sum(axis=0)")],
                 {(1, M): "db should be 1-D, shape (M,): dout.sum(axis=0) without keepdims",
                  (N, M): "db was not summed over the batch: db = dout.sum(axis=0), one value per output",
                  (N,): "db was summed over the wrong axis: sum over the batch (axis 0), one value per output"},
                 start="np.zeros(M, dtype=x.dtype)"),
        ]
        for part in parts:
            part.shapes.pop(part.expected.shape, None)
        judge(exercise, parts, case)
    return passed(exercise, f"dx, dw and db right on {len(cases)} {'hidden ' if hidden else ''}cases, a square "
                            "w and float32 included")


# ============================================================================ my_cnn.py: conv backward
def _conv_grads(dout, x, w, stride, padding, *, kernel=None, step=None, crop="both"):
    """``(dx, dw, db)`` of the convolution, in float64, with a slip planted on request.

    ``kernel``: the kernel dx uses instead of ``w`` (transposed, flipped); ``step``: the
    step between windows instead of ``stride``; ``crop="start"``: dx taken from the padded
    gradient's top-left corner instead of its middle.
    """
    dout, x, w = (np.asarray(a, dtype=np.float64) for a in (dout, x, w))
    kernel = w if kernel is None else kernel
    step = stride if step is None else step
    (N, C, H, W), (F, _, KH, KW), (H_out, W_out) = x.shape, w.shape, dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for p in range(KH):             # kernel offset (p, q) meets x_pad[:, :, i*step + p, j*step + q]
        for q in range(KW):
            rows, cols = slice(p, p + step * (H_out - 1) + 1, step), slice(q, q + step * (W_out - 1) + 1, step)
            dx_pad[:, :, rows, cols] += np.einsum("nfij,fc->ncij", dout, kernel[:, :, p, q])
            dw[:, :, p, q] = np.einsum("nfij,ncij->fc", dout, x_pad[:, :, rows, cols])
    start = padding if crop == "both" else 0
    return dx_pad[:, :, start:start + H, start:start + W], dw, dout.sum(axis=(0, 2, 3))


def _shifted(dout, axis, by):
    """``dout`` moved by one row (axis 2) or column (axis 3), a zero line filling the gap:
    what an off-by-one slice such as ``dout[:, :, 1:]`` gives."""
    out = np.zeros_like(dout)
    src = [slice(None)] * 4
    dst = [slice(None)] * 4
    src[axis], dst[axis] = (slice(1, None), slice(None, -1)) if by > 0 else (slice(None, -1), slice(1, None))
    out[tuple(dst)] = dout[tuple(src)]
    return out


def _conv_backward_slips(dout, x, w, stride, padding):
    """``{"dx": [...], "dw": [...], "db": [...]}``: typical wrong gradients and their words."""
    dout, x, w = (np.asarray(a, dtype=np.float64) for a in (dout, x, w))
    N = x.shape[0]
    dx, dw, db = _conv_grads(dout, x, w, stride, padding)
    slips = {"dx": [], "dw": [], "db": []}
    if w.shape[2] == w.shape[3]:
        transposed = w.transpose(0, 1, 3, 2)
        slips["dx"].append((_conv_grads(dout, x, w, stride, padding, kernel=transposed)[0],
                            "it is what the kernel transposed gives (height and width swapped: w[f, c, q, p] "
                            "where w[f, c, p, q] belongs): the pixel at kernel offset (p, q) gets "
                            "dout[n, f, i, j] * w[f, c, p, q]"))
        slips["dw"].append((dw.transpose(0, 1, 3, 2),
                            "it is the right dw transposed (height and width of the kernel swapped): dw[f, c, p, q] "
                            "collects x_padded[n, c, i*stride + p, j*stride + q] * dout[n, f, i, j]"))
    flips = [(w[:, :, ::-1, ::-1], "the kernel flipped in both directions"),
             (w[:, :, ::-1, :], "the kernel flipped upside down"), (w[:, :, :, ::-1], "the kernel flipped left-right")]
    for kernel, how in flips:
        slips["dx"].append((_conv_grads(dout, x, w, stride, padding, kernel=kernel)[0],
                            f"it is what {how} gives. Spread each dout[n, f, i, j] back over its window with the "
                            "same w[f, c, p, q] the forward pass used (written as a full convolution, that is the "
                            "kernel flipped in both directions exactly once)"))
    slips["dw"].append((dw[:, :, ::-1, ::-1], "it is the right dw flipped in both directions: dw[f, c, p, q] "
                                              "belongs to the same offset (p, q) as w[f, c, p, q]"))
    if stride > 1:
        no_stride = _conv_grads(dout, x, w, stride, padding, step=1)
        words = (f"the stride ({stride}) is ignored: window (i, j) starts at row i * stride + p of the padded "
                 "input, not i + p")
        slips["dx"].append((no_stride[0], words))
        slips["dw"].append((no_stride[1], words))
    if padding:
        slips["dx"].append((_conv_grads(dout, x, w, stride, padding, crop="start")[0],
                            f"dx was cut from the padded gradient's top-left corner; the padding ({padding}) "
                            "sits on every side: keep dx_padded[:, :, padding:padding + H, padding:padding + W]"))
    for axis, line in ((2, "row"), (3, "column")):
        for by in (1, -1):
            moved = _shifted(dout, axis, by)
            wrong_dx, wrong_dw, _ = _conv_grads(moved, x, w, stride, padding)
            words = (f"it is what dout moved by one {line} gives (an off-by-one slice or range of dout, such as "
                     f"dout[:, :, 1:] or a loop to H_out - 1): every (i, j) of dout belongs to window (i, j)")
            slips["dx"].append((wrong_dx, words))
            slips["dw"].append((wrong_dw, words))
    slips["dw"] += [(dw / N, f"dw is the mean over the batch (divided by N = {N}); add up the images' "
                             "contributions"),
                    (_conv_grads(dout[:1], x[:1], w, stride, padding)[1],
                     "dw holds the first image only: add up the contributions of every image of the batch"),
                    (_conv_grads(dout[-1:], x[-1:], w, stride, padding)[1],
                     "dw holds the last image only (an `=` where `+=` belongs, in the loop over images?): add "
                     "up the contributions of every image of the batch")]
    slips["db"] += [(db / N, f"db is divided by N = {N}; it is the sum of dout over the batch and the positions"),
                    (dout.mean(axis=(0, 2, 3)), "db is a mean; it is the SUM of dout over the batch and the "
                                                "positions: dout.sum(axis=(0, 2, 3))"),
                    (dout[0].sum(axis=(1, 2)), "db holds the first image only: sum over the batch as well, "
                                               "dout.sum(axis=(0, 2, 3))"),
                    (dout[-1].sum(axis=(1, 2)), "db holds the last image only: sum over the batch as well, "
                                                "dout.sum(axis=(0, 2, 3))"),
                    (dout.sum(axis=0)[:, 0, 0], "db holds one position only: sum over every (i, j) as well, "
                                                "dout.sum(axis=(0, 2, 3))")]
    return slips


def _conv_backward_cases(rng, hidden):
    """``(description, dout, x, w, stride, padding)``, float32 last."""
    def draw(lo, hi):
        return int(rng.integers(lo, hi + 1))

    def case(what, N, C, F, H, W, KH, KW, stride, padding, dtype=np.float64):
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        w = rng.standard_normal((F, C, KH, KW)).astype(dtype)
        H_out, W_out = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
        dout = rng.standard_normal((N, F, H_out, W_out)).astype(dtype)
        desc = (f"{what}: x {x.shape}, w {w.shape}, stride={stride}, padding={padding}{_float32_note(dtype)}")
        return desc, dout, x, w, stride, padding

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


@reports_output
def check_conv2d_backward(fn, *, seed=None):
    """my_cnn.py, lesson 5: ``fn(dout, x, w, stride, padding)`` -> ``(dx, dw, db)`` of the convolution.

    ``dx`` has x's shape ``(N, C, H, W)`` (the padding cropped off), ``dw`` w's shape
    ``(F, C, KH, KW)`` and ``db`` is ``(F,)``; dw and db add up over the batch and every
    position. The reference is :func:`cnnlib.ops.conv2d_backward`. A failure names the
    wrong gradient, the first wrong value and, for the usual slips, the cause: the kernel
    transposed or flipped, the stride ignored, the padding not cropped from dx, an
    off-by-one slice of dout, dw or db not added up over the batch or the positions.

    Parameters
    ----------
    fn : callable
        The learner's ``conv2d_backward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "conv2d_backward"
    hidden = seed is not None
    cases = _conv_backward_cases(case_rng(seed, 54), hidden)
    for desc, dout, x, w, stride, padding in cases:
        args = (dout.copy(), x.copy(), w.copy())
        result = call(exercise, fn, *args, stride, padding, case=desc, quiet=True,
                      broadcast_hint=CONV_BACKWARD_BROADCAST_HINT)
        unchanged(exercise, [("dout", dout, args[0]), ("x", x, args[1]), ("w", w, args[2])], desc)
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            fail(exercise, f"return the three gradients (dx, dw, db) ({desc}), got {type(result).__name__}"
                           + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""))
        d64, x64, w64 = (a.astype(np.float64) for a in (dout, x, w))
        _, cache = conv2d_forward(x64, w64, np.zeros(w.shape[0]), stride=stride, padding=padding)
        expected = conv2d_backward(d64, cache)
        slips = _conv_backward_slips(dout, x, w, stride, padding)
        (N, C, H, W), F, (H_out, W_out) = x.shape, w.shape[0], dout.shape[2:]
        dx_shapes = {(N, C, H + 2 * padding, W + 2 * padding):
                     f"dx still has the padding: crop {count(padding, 'row')} and {count(padding, 'column')} from "
                     "every side of the padded gradient (dx_padded[:, :, padding:padding + H, padding:padding + W])"}
        dw_shapes = {(N, F) + w.shape[1:]: "dw was not summed over the batch: add up every image's "
                                           "contribution (one dw of w's shape)",
                     w.shape[:2] + w.shape[2:][::-1]: "dw's kernel height and width are swapped"}
        db_shapes = {(N, F): "db was not summed over the batch: dout.sum(axis=(0, 2, 3))",
                     (F, H_out, W_out): "db was not summed over the positions (i, j): dout.sum(axis=(0, 2, 3))",
                     (N, F, H_out, W_out): "db is dout itself: sum it over the batch and positions, "
                                           "dout.sum(axis=(0, 2, 3))"}
        starts = ("np.zeros_like(x)", "np.zeros_like(w)", "np.zeros(F, dtype=x.dtype)")
        parts = [Part(name, got, exp, x.dtype, slips[name], shapes, start=start)
                 for name, got, exp, shapes, start in zip(("dx", "dw", "db"), result, expected,
                                                          (dx_shapes, dw_shapes, db_shapes), starts)]
        for part in parts:
            part.shapes.pop(part.expected.shape, None)
        judge(exercise, parts, desc)
    return passed(exercise, f"dx, dw and db right on {len(cases)} {'hidden ' if hidden else ''}cases: a batch, "
                            "several channels and filters, stride 2, padding, non-square kernels and float32")

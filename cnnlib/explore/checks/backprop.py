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

from cnnlib.ops import maxpool2d_backward, maxpool2d_forward, relu_backward
from cnnlib.explore.checks._compare import as_result, compare, distinct
from cnnlib.explore.checks._runner import call, fail, passed, reports_output

__all__ = ["check_maxpool_backward", "check_relu_backward"]


@reports_output
def check_relu_backward(fn):
    """Check ``fn(dout, x)``: ``dout`` where ``x > 0``, 0 elsewhere, as a NEW array.

    At exactly ``x == 0`` we pass no gradient (the convention cnnlib and the frameworks use).
    The check fails, saying so, when the function writes into ``dout``: the caller may
    still need it (a branch, a skip connection, the gradient check itself).
    """
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
        result = call(exercise, fn, dout, x, case=f"on {case}", quiet=True)
        got = as_result(exercise, result, x.shape, f"on {case}")
        if not np.array_equal(dout, dout_before):
            fail(exercise, f"your function changed dout in place (on {case}): it set entries of the "
                           "caller's gradient to 0. The caller may still need dout (a skip connection, "
                           "the gradient check): return a new array (don't assign into dout)")
        if not np.array_equal(x, x_before):
            fail(exercise, f"your function changed x in place (on {case}); return a new array")
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
                fail(exercise, f"on {case}: {message}")
        compare(exercise, result, expected, what="dx", rtol=1e-12, atol=0, case=f"on {case}")
    return passed(exercise, f"right on {len(cases)} hidden cases, and dout is left untouched")


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


@reports_output
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
        result = call(exercise, fn, dout, x, k, stride, case=f"on {case}", quiet=True)
        got = as_result(exercise, result, x.shape, f"on {case}")
        if not np.array_equal(dout, dout_before) or not np.array_equal(x, x_before):
            fail(exercise, f"your function changed {'dout' if not np.array_equal(dout, dout_before) else 'x'} "
                           f"in place (on {case}); return a new array")
        expected = _maxpool_reference(x, k, stride)(dout)
        if np.allclose(got, expected, rtol=1e-12, atol=1e-15):
            continue
        for wrong, message in _wrong_maxpool_backwards(dout, x, k, stride):
            if np.allclose(got, wrong, rtol=1e-12, atol=1e-15):
                fail(exercise, f"on {case}: {message}")
        if not np.isclose(got.sum(), dout.sum(), rtol=1e-9, atol=1e-12):
            yours, total = distinct(got.sum(), dout.sum())
            fail(exercise, f"on {case}: dx should add up to the same total as dout ({total}), since each "
                           f"window passes its gradient to exactly one input; yours adds up to {yours}")
        compare(exercise, result, expected, what="dx", rtol=1e-12, atol=1e-15, case=f"on {case}")
    return passed(exercise, f"right on {len(cases)} hidden cases: ties, overlapping windows and odd sizes "
                            "included")

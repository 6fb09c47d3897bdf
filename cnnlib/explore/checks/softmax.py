"""Checks on the classifier's output (lesson 4): a stable softmax and the mean cross-entropy's gradient.

May import: NumPy, the cnnlib core (for the reference answers) and the checks' own
``_runner`` and ``_compare``.

The contract
------------
Hidden cases include huge logits (``[10000, 10010, 10]``), very negative ones and a batch
whose rows have very different scales, so only a softmax that subtracts each row's own
maximum passes. A failure names the case and the mistake it looks like: overflow, the
wrong axis, no division, integers where probabilities should be, a gradient N times too
big, the wrong sign, the one-hot forgotten or subtracted in every row.
"""
import numpy as np

from cnnlib.losses import SoftmaxCrossEntropy, softmax
from cnnlib.explore.checks._compare import as_result, compare, distinct, dtype_of, fmt_array, integer_hint
from cnnlib.explore.checks._runner import call, fail, passed, reports_output

__all__ = ["check_cross_entropy_grad", "check_softmax"]


@reports_output
def check_softmax(fn):
    """Check ``fn(z)``: probabilities along the last axis, for a 1-D vector or an (N, Q) batch (Q classes).

    Hidden cases include huge logits (``[10000, 10010, 10]``), very negative ones and a
    batch whose rows have very different scales, so only a softmax that subtracts each
    row's own maximum passes.
    """
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
        result = call(exercise, fn, z, case=f"on {case}", quiet=True)
        got = as_result(exercise, result, z.shape, f"on {case}")
        if not np.array_equal(z, z_before):
            fail(exercise, f"your function changed its input z in place (on {case}); compute on a new array, "
                           "e.g. `shifted = z - z.max(...)` instead of `z -= ...`")
        expected = softmax(z)
        dtype = dtype_of(result)
        if np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_):
            fail(exercise, f"on {case} your softmax returned integers ({fmt_array(got)}, an array of {dtype}), "
                           "but probabilities lie between 0 and 1: look for a cast to int (.astype(int), "
                           "dtype=int) or integer division (// instead of /)")
        hint = integer_hint(dtype, got, expected)
        if hint:
            fail(exercise, f"on {case} your softmax returned {fmt_array(got)}: {hint}")
        if not np.isfinite(got).all():
            fail(exercise, f"on {case} your softmax returned {fmt_array(got)}: exp() overflowed (inf) "
                           "or gave 0/0 (nan). Subtract each row's maximum before exponentiating: "
                           "softmax(z) = softmax(z - max(z)), and then every exponent is at most 0")
        if z.ndim == 2:
            sums = got.sum(axis=-1)
            if not np.allclose(sums, 1.0, atol=1e-6):
                across = z.shape[0] > 1 and np.allclose(got, softmax(z, axis=0), rtol=1e-6, atol=1e-9)
                hint = ("you normalised down the columns (axis 0); each ROW is one example: use axis=-1 "
                        "with keepdims=True" if across else
                        "normalise each row separately: `e / e.sum(axis=-1, keepdims=True)`")
                fail(exercise, f"on {case} the rows sum to {fmt_array(sums, should_be=1.0)}, not 1: {hint}")
        elif not np.isclose(got.sum(), 1.0, atol=1e-6):
            fail(exercise, f"on {case} the probabilities sum to {distinct(got.sum(), 1.0)[0]}, not 1: divide "
                           "exp(z) by its sum")
        compare(exercise, result, expected, what="the result", rtol=1e-6, atol=1e-12, case=f"on {case}")
    return passed(exercise, f"right on {len(cases)} hidden cases, huge and tiny logits included")


@reports_output
def check_cross_entropy_grad(fn):
    """Check ``fn(logits, labels)``: the gradient of the MEAN cross-entropy, ``(p - t) / N`` (t: the one-hot labels)."""
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
        result = call(exercise, fn, logits, labels, case=f"on {case}", quiet=True)
        got = as_result(exercise, result, logits.shape, f"on {case}")
        if not (np.array_equal(logits, before[0]) and np.array_equal(labels, before[1])):
            fail(exercise, f"your function changed its inputs in place (on {case}); work on a copy")
        loss_fn = SoftmaxCrossEntropy()
        loss_fn.forward(logits, labels)
        expected = loss_fn.backward()
        N = logits.shape[0]
        if not np.isfinite(got).all():
            fail(exercise, f"on {case} the gradient contains NaN or inf: compute the probabilities with "
                           "a stable softmax (subtract the row maximum)")
        if np.allclose(got, expected, rtol=1e-6, atol=1e-10):
            continue
        onehot = np.eye(logits.shape[1])[labels]
        p = softmax(logits)
        diagnoses = [
            (expected * N, f"your gradient is N = {N} times too big: the loss is the MEAN over the batch, "
                           "so divide by N"),
            (-expected, "your gradient has the wrong sign: it is (t - p); the gradient is p - t, with t the one-hot labels"),
            (-expected * N, f"your gradient has the wrong sign and is N = {N} times too big: use (p - t) / N"),
            (p / N, "you forgot to subtract 1 at the true class: the gradient is (p - t) / N"),
            (p, "you returned the probabilities themselves: subtract the one-hot labels and divide by N"),
            ((p - onehot) / logits.size, "you divided by N*Q (the number of entries); divide by N, the "
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
                fail(exercise, f"on {case}: {message}")
        compare(exercise, result, expected, what="the gradient", rtol=1e-6, atol=1e-10, case=f"on {case}")
    return passed(exercise, f"matches (p - t) / N on {len(cases)} hidden cases")




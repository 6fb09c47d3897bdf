"""Checks on the classifier's output (lesson 4): a stable softmax and the mean cross-entropy's gradient.

May import: NumPy, the cnnlib core (for the reference answers) and the checks' own
``_runner`` and ``_compare``.

The contract
------------
Hidden cases include huge logits (``[10000, 10010, 10]``), very negative ones and a batch
whose rows have very different scales, so only a softmax that subtracts each row's own
maximum passes. The loss's huge case picks labels whose probability underflows to 0
(``[0, -1000, 5]`` with label 1), so only a loss computed from log-probabilities
(``z - max - log(sum(exp(z - max)))``), never from ``log(p)``, passes. A failure names the
case and the mistake it looks like: overflow, the log of an underflowed probability, the
wrong axis, no division, integers where probabilities should be, a gradient N times too
big, the wrong sign, the one-hot forgotten or subtracted in every row.
"""
import numpy as np

from cnnlib.losses import SoftmaxCrossEntropy, softmax
from cnnlib.explore.checks._cases import Part, case_rng, judge, unchanged
from cnnlib.explore.checks._compare import as_result, compare, distinct, dtype_of, fmt_array, integer_hint
from cnnlib.explore.checks._runner import call, count, fail, passed, reports_output

__all__ = ["check_cross_entropy_grad", "check_softmax", "check_softmax_cross_entropy"]

# Lesson 4's words for a ValueError about broadcasting: its arrays are (N, Q) batches and their row sums.
BROADCAST_HINT = ("Two arrays' shapes do not line up. After a reduction such as .sum() or .max(), check your axis= "
                  "and use keepdims=True, so that an (N, Q) batch divided by its row sums stays (N, Q) / (N, 1)")

# The fix for a loss taken as log(p): exp(-1005) is 0 in floating point, and log(0) is -inf.
LOG_SOFTMAX_FIX = ("Compute the log-probabilities directly, log_softmax = z - max - log(sum(exp(z - max))) row by "
                   "row, and take the loss from them; never take the log of a probability that can underflow to 0")


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
        result = call(exercise, fn, z, case=f"on {case}", quiet=True, broadcast_hint=BROADCAST_HINT)
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
        result = call(exercise, fn, logits, labels, case=f"on {case}", quiet=True,
                      broadcast_hint=BROADCAST_HINT)
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





def _softmax_ce_cases(rng, hidden):
    """``(description, logits, labels)``: small, a batch, float32, huge logits last.

    In the huge case every label picks a class about 1000 below its row's maximum: its
    probability, about exp(-1000), underflows to 0 in float64, while its log-probability
    (about -1000) and the loss are finite.
    """
    def draw(lo, hi):
        return int(rng.integers(lo, hi + 1))

    N, Q = (4, 5) if not hidden else (draw(3, 6), draw(3, 7))
    N2, Q2 = (8, 10) if not hidden else (draw(6, 10), 10)
    huge = np.array([[1000.0, 1010.0, 10.0], [0.0, -1000.0, 5.0], [-10.0, 990.0, 0.0]])
    huge_labels = np.array([2, 1, 0])
    if hidden:
        huge = huge + rng.integers(-20, 21, size=(3, 1))
    return [
        ("one example, logits [[1, 2, 3]], label 0", np.array([[1.0, 2.0, 3.0]]), np.array([0])),
        (f"a batch of {N} examples with {Q} classes", rng.standard_normal((N, Q)), rng.integers(0, Q, N)),
        (f"a batch of {N2} examples with {Q2} classes, float32",
         (3 * rng.standard_normal((N2, Q2))).astype(np.float32), rng.integers(0, Q2, N2)),
        (f"huge logits {huge.tolist()}, labels {huge_labels.tolist()}", huge, huge_labels),
    ]


@reports_output
def check_softmax_cross_entropy(fn, *, seed=None):
    """my_cnn.py, lesson 4: ``fn(logits, labels)`` -> ``(loss, dlogits)``.

    ``loss`` is the mean over the batch of ``-log p[n, labels[n]]`` with ``p`` the softmax
    of each row; ``dlogits = (p - t) / N`` ``(N, Q)``, t the one-hot labels, with the
    logits' dtype. The reference is :class:`cnnlib.losses.SoftmaxCrossEntropy`. Cases
    include float32 and logits like 1000 whose labels' probabilities underflow to 0: only a
    loss computed from log-probabilities, ``z - max - log(sum(exp(z - max)))``, stays right.

    Parameters
    ----------
    fn : callable
        The learner's ``softmax_cross_entropy``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "softmax_cross_entropy"
    hidden = seed is not None
    cases = _softmax_ce_cases(case_rng(seed, 41), hidden)
    for case, logits, labels in cases:
        case = f"on {case}"
        args = (logits.copy(), labels.copy())
        result = call(exercise, fn, *args, case=case, quiet=True, broadcast_hint=BROADCAST_HINT)
        unchanged(exercise, [("logits", logits, args[0]), ("labels", labels, args[1])], case)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            fail(exercise, f"return the pair (loss, dlogits) ({case}), got {type(result).__name__}"
                           + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""))
        loss, grad = result
        if np.ndim(loss) != 0:
            fail(exercise, f"the loss should be one number, the mean over the batch ({case}); got an array of "
                           f"shape {np.shape(loss)}: take .mean() of the per-example losses")
        x64 = logits.astype(np.float64)
        loss_fn = SoftmaxCrossEntropy()
        expected_loss = loss_fn.forward(x64, labels)
        expected_grad = loss_fn.backward()
        N = logits.shape[0]
        p, onehot = softmax(x64), np.eye(logits.shape[1])[labels]
        got_loss, got_grad = np.asarray(loss, dtype=float) if np.ndim(loss) == 0 else loss, grad
        try:
            loss_finite, grad_finite = np.isfinite(float(loss)), np.isfinite(np.asarray(grad, dtype=float)).all()
        except (TypeError, ValueError):
            loss_finite = grad_finite = True        # not numbers: judge() names what they are
        underflows = p[np.arange(N), labels] == 0   # the label's probability is exp(-1000) or so
        if not grad_finite and np.abs(x64).max() > 500:
            fail(exercise, f"the {'loss' if not loss_finite else 'gradient'} contains NaN or infinity ({case}): "
                           "exp(1000) overflows. Subtract each row's maximum from its logits first (softmax does "
                           "not change). " + LOG_SOFTMAX_FIX)
        tiny = f"{count(int(underflows.sum()), 'label')} here {'has a' if underflows.sum() == 1 else 'have'} " \
               "probability about exp(-1000), which underflows to 0"
        if not loss_finite and underflows.any():
            fail(exercise, f"the loss is {float(loss)} ({case}); the right loss is finite "
                           f"({expected_loss:.6g}): {tiny}, and log(0) is -inf (subtracting the maximum does not "
                           "change that). " + LOG_SOFTMAX_FIX)
        if loss_finite and underflows.any() and float(loss) < expected_loss * (1 - 1e-6):
            yours, right = distinct(float(loss), expected_loss)
            fail(exercise, f"the loss is {yours}, expected {right} ({case}): {tiny}, so the log of a probability "
                           "with an eps added (log(p + eps)) or clipped (np.clip) is cut off far too low. "
                           + LOG_SOFTMAX_FIX)
        parts = [
            Part("the loss", got_loss, expected_loss, logits.dtype,
                 [(expected_loss * N, f"the loss is the SUM over the batch; it is the mean: divide by N = {N}")],
                 keep_dtype=False),
            Part("dlogits", got_grad, expected_grad, logits.dtype,
                 [(expected_grad * N, f"dlogits is N = {N} times too big: the loss is the MEAN over the batch, so "
                                      "its gradient is (p - t) / N"),
                  (p, "dlogits is p, the probabilities: subtract the one-hot labels t and divide by N, (p - t) / N"),
                  (p / N, "dlogits is p / N: subtract the one-hot labels t first, (p - t) / N"),
                  (-expected_grad, "dlogits has the wrong sign: it is (p - t) / N, not (t - p) / N"),
                  ((p - onehot) / logits.size, "dlogits is divided by N*Q (every entry); divide by N, the number "
                                               "of examples")],
                 start="np.zeros_like(logits)"),
        ]
        judge(exercise, parts, case)
    return passed(exercise, f"loss and dlogits right on {len(cases)} {'hidden ' if hidden else ''}cases, logits "
                            "like 1000 and float32 included")

"""Checks on the layers of deeper nets (lesson 7): batch normalisation and dropout, forward and backward.

May import: NumPy and the checks' own ``_cases``, ``_compare`` and ``_runner``. The
reference answers are computed here, in float64, from the formulas lesson 7 derives (the
definitions PyTorch documents for ``BatchNorm2d`` and ``Dropout`` in training mode), so the
checks need no cnnlib layer at all.

The contract
------------
* ``batchnorm_forward(x, gamma, beta, eps) -> (out, cache)`` normalises each channel of
  ``x`` (N, C, H, W) with the mean and the *biased* variance over (N, H, W), then scales
  by ``gamma`` and shifts by ``beta`` (C,). :func:`check_batchnorm_forward` names the
  slip: unbiased variance, statistics over the wrong axes, eps outside the root or ignored,
  gamma and beta left out or swapped.
* ``batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta)``: :func:`check_batchnorm_backward`
  takes both functions, runs the learner's forward to get the cache (and says so when the
  forward is wrong: check that first), then names the first wrong gradient and the slip:
  the mean and variance treated as constants, one of their two paths missing, gamma
  forgotten, x where x_hat belongs, a mean where the sum belongs.
* ``dropout_forward(x, p, rng) -> (out, cache)`` zeroes each element with probability
  ``p`` and divides the rest by ``1 - p`` (inverted dropout). The mask is the learner's
  own draw from ``rng``, so the check reads it off the output (its inputs have no zeros)
  and judges the rate, the scale (the 1/(1-p) forgotten, multiplied by 1 - p, divided by
  p), the use of ``rng`` (same seed, same mask; another seed, another) and p = 0.
* ``dropout_backward(dout, cache) -> dx`` must use the forward's mask and scale.
"""
import numpy as np

from cnnlib.explore.checks._cases import Part, case_rng, judge, unchanged
from cnnlib.explore.checks._compare import as_result, dtype_of, not_a_tuple
from cnnlib.explore.checks._runner import call, fail, passed, reports_output

__all__ = ["check_batchnorm_backward", "check_batchnorm_forward", "check_dropout_backward", "check_dropout_forward"]

#: The axes batch norm averages over for each channel of (N, C, H, W): every image, every position.
BN_AXES = (0, 2, 3)

BN_BROADCAST_HINT = ("gamma, beta and each channel's mean have one value per channel, shape (C,); to combine them "
                     "with x of shape (N, C, H, W) give them the shape (1, C, 1, 1): gamma[None, :, None, None], or "
                     "x.mean(axis=(0, 2, 3), keepdims=True)")


# ============================================================================ batch norm
def _channel(v):
    return np.asarray(v, dtype=np.float64)[None, :, None, None]


def _bn_forward(x, gamma, beta, eps, *, axes=BN_AXES, ddof=0, eps_outside=False):
    """Batch norm's training-mode output in float64, with a slip planted on request.

    Returns ``(out, x_hat, std)``; ``std`` is ``sqrt(var + eps)`` (the divisor).
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    with np.errstate(divide="ignore", invalid="ignore"):      # a slip's eps = 0 on a constant channel: 0/0
        x_hat = (x - mean) / std
    return _channel(gamma) * x_hat + _channel(beta), x_hat, std


def _bn_backward(dout, x_hat, std, gamma, *, mean_path=True, var_path=True, use_gamma=True):
    """``(dx, dgamma, dbeta)`` of batch norm in float64, with a slip planted on request.

    With ``dx_hat = dout * gamma`` and the averages over (N, H, W) per channel,
    ``dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / std``: the two subtracted
    terms are the paths through the batch mean and the batch variance.
    """
    dout = np.asarray(dout, dtype=np.float64)
    dx_hat = dout * _channel(gamma) if use_gamma else dout
    dx = dx_hat.copy()
    if mean_path:
        dx = dx - dx_hat.mean(axis=BN_AXES, keepdims=True)
    if var_path:
        dx = dx - x_hat * (dx_hat * x_hat).mean(axis=BN_AXES, keepdims=True)
    return dx / std, (dout * x_hat).sum(axis=BN_AXES), dout.sum(axis=BN_AXES)


def _bn_cases(rng, hidden):
    """``(case, x, gamma, beta, eps)``: odd sizes, C != W (so a gamma of shape (C,) cannot
    broadcast by luck), few values per channel (unbiased variance differs clearly), a large
    eps, a constant channel (variance 0: only eps keeps it finite), float32."""
    def draw(shape, dtype=np.float64, *, scale=2.0, shift=3.0, constant_channel=None):
        x = rng.normal(size=shape) * scale + shift
        if constant_channel is not None:
            x[:, constant_channel] = round(float(rng.uniform(-2, 2)), 2)
        C = shape[1]
        gamma = np.round(rng.uniform(0.5, 2.0, size=C), 3) * rng.choice([-1, 1], size=C)
        beta = np.round(rng.uniform(-1.0, 1.0, size=C), 3)
        return x.astype(dtype), gamma.astype(dtype), beta.astype(dtype)

    if hidden:
        n, h, w = (int(v) for v in rng.integers(2, 5, size=3))
        c = int(rng.integers(2, 5))
        w = w if w != c else w + 1
        shapes = [(n, c, h, w), (int(rng.integers(2, 4)), 3, 2, 5), (n + 1, 2, h, 4)]
    else:
        shapes = [(2, 3, 2, 4), (3, 2, 3, 5), (4, 3, 2, 2)]
    cases = []
    x, g, b = draw(shapes[0])
    cases.append((f"x of shape {shapes[0]}, eps=1e-05", x, g, b, 1e-5))
    x, g, b = draw(shapes[1], scale=0.3, shift=-1.0)
    cases.append((f"x of shape {shapes[1]} with small variances, eps=0.01", x, g, b, 0.01))
    x, g, b = draw(shapes[2], constant_channel=1)
    cases.append((f"x of shape {shapes[2]} whose channel 1 holds one value everywhere (variance 0), eps=1e-05",
                  x, g, b, 1e-5))
    x, g, b = draw(shapes[0], np.float32)
    cases.append((f"x of shape {shapes[0]}, float32, eps=1e-05", x, g, b, 1e-5))
    return cases


def _bn_forward_slips(x, gamma, beta, eps, M):
    slips = [
        (_bn_forward(x, gamma, beta, eps, ddof=1)[0],
         f"you used the unbiased variance (divided by M - 1 = {M - 1}): batch norm divides by M = N*H*W = {M}, "
         "np.var's default (ddof=0)"),
        (_bn_forward(x, gamma, beta, eps, eps_outside=True)[0],
         "eps sits outside the square root: divide by np.sqrt(var + eps), not np.sqrt(var) + eps"),
        (_bn_forward(x, gamma, beta, eps, axes=(0,))[0],
         "the mean and variance were taken over the batch axis only (one per channel AND position); batch norm "
         "for images takes one per channel, over the images and every position: axis=(0, 2, 3)"),
        (_bn_forward(x, gamma, beta, eps, axes=(1, 2, 3))[0],
         "the mean and variance were taken per image (over channels and positions); batch norm takes them per "
         "channel, over the batch and every position: axis=(0, 2, 3)"),
        (_bn_forward(x, gamma, beta, eps, axes=(2, 3))[0],
         "the mean and variance were taken per image and channel (over positions only); batch norm shares them "
         "across the batch: axis=(0, 2, 3)"),
        (_bn_forward(x, gamma, beta, eps, axes=(0, 1, 2, 3))[0],
         "one mean and variance for the whole batch; batch norm takes one per channel: axis=(0, 2, 3)"),
        (_bn_forward(x, np.ones_like(gamma), np.zeros_like(beta), eps)[0],
         "the output is x_hat itself: scale by gamma and shift by beta, out = gamma * x_hat + beta"),
        (_bn_forward(x, beta, gamma, eps)[0],
         "gamma and beta are swapped: out = gamma * x_hat + beta (gamma scales, beta shifts)"),
    ]
    slips.append((_bn_forward(x, gamma, beta, 0.0)[0],
                  "eps is missing: divide by np.sqrt(var + eps); eps keeps a channel whose values are all equal "
                  "(variance 0) from dividing 0 by 0"))
    if eps != 1e-5:
        slips.append((_bn_forward(x, gamma, beta, 1e-5)[0],
                      f"you used eps = 1e-5, not the eps argument ({eps:g}): use the eps you are given"))
    return slips


def _call_bn_forward(exercise, fn, x, gamma, beta, eps, case):
    """Run the learner's forward on copies; return ``(out, cache)`` after checking the pair's form."""
    args = (x.copy(), gamma.copy(), beta.copy())
    result = call(exercise, fn, *args, eps, case=case, quiet=True, broadcast_hint=BN_BROADCAST_HINT)
    unchanged(exercise, [("x", x, args[0]), ("gamma", gamma, args[1]), ("beta", beta, args[2])], case)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(exercise, f"return the pair (out, cache) ({case}), got {type(result).__name__}"
                       + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
                       + ": out is the normalised batch, cache whatever your backward pass needs")
    return result


def _bn_out_part(x, gamma, beta, eps, out):
    M = x.shape[0] * x.shape[2] * x.shape[3]
    expected = _bn_forward(x, gamma, beta, eps)[0]
    return Part("out", out, expected, x.dtype, _bn_forward_slips(x, gamma, beta, eps, M),
                {x.shape[1:]: "out lost the batch axis: keep x's shape (N, C, H, W)"}, start="np.zeros_like(x)")


@reports_output
def check_batchnorm_forward(fn, *, seed=None):
    """my_cnn.py, lesson 7: ``fn(x, gamma, beta, eps) -> (out, cache)``, batch norm in training mode.

    ``out = gamma * (x - mean) / sqrt(var + eps) + beta`` with each channel's mean and
    biased variance over (N, H, W). Only ``out`` is checked here; the cache is the
    learner's own (:func:`check_batchnorm_backward` uses it).

    Parameters
    ----------
    fn : callable
        The learner's ``batchnorm_forward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "batchnorm_forward"
    hidden = seed is not None
    cases = _bn_cases(case_rng(seed, 71), hidden)
    for case, x, gamma, beta, eps in cases:
        out, _ = _call_bn_forward(exercise, fn, x, gamma, beta, eps, case)
        got = np.asarray(out, dtype=np.float64) if isinstance(out, np.ndarray) else None
        if got is not None and got.shape == x.shape and not np.isfinite(got).all() and np.ptp(x[:, 1]) == 0:
            fail(exercise, f"out contains NaN or infinity ({case}): a channel whose values are all equal has "
                           "variance 0, and x - mean = 0 divided by sqrt(0) is 0/0. That is what eps is for: "
                           "divide by np.sqrt(var + eps)")
        judge(exercise, [_bn_out_part(x, gamma, beta, eps, out)], case)
    return passed(exercise, f"out right on {len(cases)} {'hidden ' if hidden else ''}cases (a channel of "
                            "variance 0, a large eps and float32 included)")


@reports_output
def check_batchnorm_backward(forward, backward, *, seed=None):
    """my_cnn.py, lesson 7: ``backward(dout, cache) -> (dx, dgamma, dbeta)`` of batch norm in training mode.

    ``forward`` is the learner's ``batchnorm_forward``: its cache is what ``backward``
    receives, so the forward pass must be right first (the check says so otherwise). With
    ``dx_hat = dout * gamma`` and averages over (N, H, W) per channel,
    ``dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps)``,
    ``dgamma = sum(dout * x_hat)``, ``dbeta = sum(dout)``.

    Parameters
    ----------
    forward, backward : callable
        The learner's ``batchnorm_forward`` and ``batchnorm_backward``.
    seed : None or int
        None: the lesson's cases; an int: other values and sizes drawn from it (hidden tests).
    """
    exercise = "batchnorm_backward"
    hidden = seed is not None
    rng = case_rng(seed, 72)
    cases = _bn_cases(rng, hidden)
    for case, x, gamma, beta, eps in cases:
        out, cache = _call_bn_forward(exercise, forward, x, gamma, beta, eps, case)
        if not _bn_out_part(x, gamma, beta, eps, out).right():
            fail(exercise, f"batchnorm_forward's out is not right yet ({case}), and batchnorm_backward is checked "
                           "on the cache your forward pass returns: make check_batchnorm_forward pass first")
        dout = (rng.normal(size=x.shape) * 1.5).astype(x.dtype)
        dout_given = dout.copy()
        result = call(exercise, backward, dout_given, cache, case=case, quiet=True, broadcast_hint=BN_BROADCAST_HINT)
        unchanged(exercise, [("dout", dout, dout_given)], case)
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            fail(exercise, f"return the three gradients (dx, dgamma, dbeta) ({case}), got {type(result).__name__}"
                           + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""))
        _, x_hat, std = _bn_forward(x, gamma, beta, eps)
        dx, dgamma, dbeta = _bn_backward(dout, x_hat, std, gamma)
        d64, x64 = dout.astype(np.float64), x.astype(np.float64)
        N, C, H, W = x.shape
        M = N * H * W
        constants = "the batch mean and variance are computed from x too, so"
        parts = [
            Part("dx", result[0], dx, x.dtype,
                 [(_bn_backward(dout, x_hat, std, gamma, mean_path=False, var_path=False)[0],
                   f"you treated the mean and the variance as constants (dx = dout * gamma / std): {constants} "
                   "every x of a channel reaches every output through them. dx = (dx_hat - mean(dx_hat) - x_hat * "
                   "mean(dx_hat * x_hat)) / std, with dx_hat = dout * gamma and the means over (N, H, W)"),
                  (_bn_backward(dout, x_hat, std, gamma, var_path=False)[0],
                   f"the path through the variance is missing: {constants} subtract x_hat * mean(dx_hat * x_hat) "
                   "too, before dividing by std"),
                  (_bn_backward(dout, x_hat, std, gamma, mean_path=False)[0],
                   f"the path through the mean is missing: {constants} subtract mean(dx_hat) too, before "
                   "dividing by std"),
                  (_bn_backward(dout, x_hat, std, gamma, use_gamma=False)[0],
                   "gamma is missing: the gradient reaching x_hat is dx_hat = dout * gamma (out = gamma * x_hat "
                   "+ beta)"),
                  (_bn_backward(dout, x_hat, std, gamma)[0] * std / np.sqrt(x64.var(axis=BN_AXES, keepdims=True,
                                                                                  ddof=1) + eps),
                   f"dx is divided by the unbiased standard deviation (M - 1 = {M - 1}); use the forward's "
                   "sqrt(var + eps), var biased (divided by M = N*H*W)")],
                 {(C,): "dx has one value per channel; it has x's shape (N, C, H, W)"},
                 start="np.zeros_like(x)"),
            Part("dgamma", result[1], dgamma, x.dtype,
                 [(dbeta, "dgamma is sum(dout), which is dbeta: dgamma = (dout * x_hat).sum(axis=(0, 2, 3)); "
                          "return (dx, dgamma, dbeta) in that order"),
                  ((d64 * x64).sum(axis=BN_AXES), "you multiplied dout by x; gamma scales the NORMALISED x: "
                                                  "dgamma = (dout * x_hat).sum(axis=(0, 2, 3))"),
                  (dgamma / M, f"dgamma is a mean (divided by M = N*H*W = {M}); it is the sum: every position "
                               "of every image adds its share")],
                 {(1, C, 1, 1): "dgamma should have gamma's shape (C,): sum without keepdims",
                  (C, H, W): "dgamma was summed over the batch only: sum over axis=(0, 2, 3), one value per channel",
                  (N, C): "dgamma was summed over positions only: sum over axis=(0, 2, 3)"},
                 start="np.zeros_like(gamma)"),
            Part("dbeta", result[2], dbeta, x.dtype,
                 [(dgamma, "dbeta is sum(dout * x_hat), which is dgamma: dbeta = dout.sum(axis=(0, 2, 3)); return "
                           "(dx, dgamma, dbeta) in that order"),
                  (dbeta / M, f"dbeta is a mean (divided by M = N*H*W = {M}); it is the sum: "
                              "dout.sum(axis=(0, 2, 3))")],
                 {(1, C, 1, 1): "dbeta should have beta's shape (C,): sum without keepdims",
                  (C, H, W): "dbeta was summed over the batch only: sum over axis=(0, 2, 3), one value per channel",
                  (N, C): "dbeta was summed over positions only: sum over axis=(0, 2, 3)"},
                 start="np.zeros_like(beta)"),
        ]
        for part in parts:
            part.shapes.pop(part.expected.shape, None)
        judge(exercise, parts, case)
    return passed(exercise, f"dx, dgamma and dbeta right on {len(cases)} {'hidden ' if hidden else ''}cases, from "
                            "the cache of your batchnorm_forward (a channel of variance 0 and float32 included)")


# ============================================================================ dropout
def _dropout_cases(rng, hidden):
    """``(case, x, p)``: x with no zeros (a zero in the output then means "dropped"), large
    enough that the dropped share is within a few hundredths of p, three values of p
    (0.5 cannot tell p from 1 - p), and float32."""
    def draw(shape, dtype=np.float64):
        x = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        return x.astype(dtype)
    if hidden:
        ps = [round(float(rng.uniform(0.1, 0.3)), 2), round(float(rng.uniform(0.6, 0.8)), 2), 0.5]
        shapes = [(int(rng.integers(40, 60)), 8, 6, 6), (int(rng.integers(300, 500)), 20), (32, 4, 7, 9)]
    else:
        ps = [0.2, 0.75, 0.5]
        shapes = [(50, 8, 6, 6), (400, 30), (32, 4, 7, 9)]
    cases = [(f"x of shape {shape}, p={p}", draw(shape), p) for shape, p in zip(shapes, ps)]
    cases.append((f"x of shape {shapes[0]}, float32, p={ps[0]}", draw(shapes[0], np.float32), ps[0]))
    return cases


def _call_dropout_forward(exercise, fn, x, p, seed, case):
    given = x.copy()
    result = call(exercise, fn, given, p, np.random.default_rng(seed), case=case, quiet=True)
    unchanged(exercise, [("x", x, given)], case)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(exercise, f"return the pair (out, cache) ({case}), got {type(result).__name__}"
                       + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
                       + ": out is x with some values dropped, cache what the backward pass needs (the mask)")
    not_a_tuple(exercise, result[0], x.shape, case, what="out")
    return result


def _dropout_out(exercise, x, p, out, case):
    """Judge one forward output; return the kept mask (bool, x's shape)."""
    got = as_result(exercise, out, x.shape, case, what="out")
    if not np.isfinite(got).all():
        fail(exercise, f"out contains NaN or infinity ({case}) though x is finite: divide by 1 - p, never by p "
                       "or by the mask")
    kept = got != 0
    dropped = 1.0 - kept.mean()
    n = x.size
    tolerance = 5 * np.sqrt(p * (1 - p) / n) + 0.01           # 5 standard deviations of the dropped share
    if dropped == 0:
        fail(exercise, f"no value was dropped ({case}): zero each value with probability p, e.g. keep = "
                       "rng.random(x.shape) >= p")
    if abs(dropped - (1 - p)) <= tolerance < abs(dropped - p):
        fail(exercise, f"{dropped:.1%} of the values were dropped, about 1 - p = {1 - p:.0%} ({case}): p is the "
                       "probability to DROP a value, so keep one when rng.random() >= p (keep probability 1 - p)")
    if abs(dropped - p) > tolerance:
        fail(exercise, f"{dropped:.1%} of the values were dropped, expected about p = {p:.0%} ({case}): draw one "
                       "uniform number per value from rng, rng.random(x.shape), and drop the value where it is "
                       "below p")
    x64 = x.astype(np.float64)
    expected = np.where(kept, x64 / (1 - p), 0.0)
    slips = [(np.where(kept, x64, 0.0), "the kept values are x itself: divide them by 1 - p (inverted dropout), so "
                                        "that out has the same expected value as x and nothing changes at test time"),
             (np.where(kept, x64 * (1 - p), 0.0), "the kept values were multiplied by 1 - p; divide by it: "
                                                  "out = x * keep / (1 - p)"),
             (np.where(kept, x64 / p, 0.0), "the kept values were divided by p; p is the share dropped, the share "
                                            "kept is 1 - p: out = x * keep / (1 - p)")]
    judge(exercise, [Part("out", out, expected, x.dtype, slips, start="np.zeros_like(x)")], case)
    return kept


@reports_output
def check_dropout_forward(fn, *, seed=None):
    """my_cnn.py, lesson 7: ``fn(x, p, rng) -> (out, cache)``, inverted dropout in training mode.

    Each value of ``x`` is dropped (set to 0) with probability ``p`` and the others are
    divided by ``1 - p``; the mask comes from ``rng`` (a ``np.random.Generator``). The
    mask is the learner's own draw, so the check reads it off ``out`` (x has no zeros) and
    judges the share dropped, the kept values, the use of ``rng`` and ``p = 0``.

    Parameters
    ----------
    fn : callable
        The learner's ``dropout_forward``.
    seed : None or int
        None: the lesson's cases; an int: other values, sizes and p drawn from it (hidden tests).
    """
    exercise = "dropout_forward"
    hidden = seed is not None
    rng = case_rng(seed, 73)
    cases = _dropout_cases(rng, hidden)
    for k, (case, x, p) in enumerate(cases):
        draw_seed = int(rng.integers(1_000_000))
        out, _ = _call_dropout_forward(exercise, fn, x, p, draw_seed, case)
        kept = _dropout_out(exercise, x, p, out, case)
        if k == 0:
            again, _ = _call_dropout_forward(exercise, fn, x, p, draw_seed, case)
            if not np.array_equal(np.asarray(again) != 0, kept):
                fail(exercise, f"two calls with the same rng seed dropped different values ({case}): draw the mask "
                               "from the rng argument (rng.random(x.shape)), not from np.random")
            other, _ = _call_dropout_forward(exercise, fn, x, p, draw_seed + 1, case)
            if np.array_equal(np.asarray(other) != 0, kept):
                fail(exercise, f"two different rng seeds dropped the same values ({case}): the mask must be drawn "
                               "from the rng you are given, anew on every call")
    x = cases[0][1]
    case = f"x of shape {x.shape}, p=0"
    out, _ = _call_dropout_forward(exercise, fn, x, 0.0, 0, case)
    judge(exercise, [Part("out", out, x, x.dtype, start="np.zeros_like(x)")], case + ": nothing is dropped, out = x")
    return passed(exercise, f"drops about p of the values and scales the rest by 1/(1 - p) on {len(cases)} "
                            f"{'hidden ' if hidden else ''}cases; the mask comes from rng; p = 0 and float32 included")


@reports_output
def check_dropout_backward(forward, backward, *, seed=None):
    """my_cnn.py, lesson 7: ``backward(dout, cache) -> dx`` of inverted dropout.

    ``forward`` is the learner's ``dropout_forward`` (it must be right first); ``dx`` is
    ``dout`` where the forward kept the value, divided by ``1 - p``, and 0 where it dropped
    it: the forward's own mask, from the cache.

    Parameters
    ----------
    forward, backward : callable
        The learner's ``dropout_forward`` and ``dropout_backward``.
    seed : None or int
        None: the lesson's cases; an int: other values, sizes and p drawn from it (hidden tests).
    """
    exercise = "dropout_backward"
    hidden = seed is not None
    rng = case_rng(seed, 74)
    cases = _dropout_cases(rng, hidden)
    for case, x, p in cases:
        out, cache = _call_dropout_forward(exercise, forward, x, p, int(rng.integers(1_000_000)), case)
        try:
            kept = _dropout_out("dropout_forward", x, p, out, case)
        except AssertionError:
            fail(exercise, f"dropout_forward is not right yet ({case}), and dropout_backward is checked on the "
                           "cache your forward pass returns: make check_dropout_forward pass first")
        dout = rng.normal(size=x.shape).astype(x.dtype)
        dout_given = dout.copy()
        dx = call(exercise, backward, dout_given, cache, case=case, quiet=True)
        unchanged(exercise, [("dout", dout, dout_given)], case)
        d64 = dout.astype(np.float64)
        expected = np.where(kept, d64 / (1 - p), 0.0)
        got = as_result(exercise, dx, x.shape, case, what="dx") if dtype_of(dx) is not None else None
        if got is not None and np.isfinite(got).all() and np.abs(got[~kept]).max(initial=0) > 0 and \
                (got[kept] == 0).any() and not np.allclose(got, d64):
            fail(exercise, f"dx is not 0 where the forward pass dropped the value, and 0 where it kept one ({case}): "
                           "the backward pass must use the forward's mask (keep it in the cache), not draw a new "
                           "one")
        slips = [(d64, "dx is dout itself: a dropped value passed no gradient, so dx = dout * mask / (1 - p) with "
                       "the forward's mask"),
                 (np.where(kept, d64, 0.0), "the mask is applied but not the scale: the forward divided by 1 - p, "
                                            "so dx = dout * keep / (1 - p) too"),
                 (np.where(kept, d64 * (1 - p), 0.0), "dx was multiplied by 1 - p; divide by it, as the forward did")]
        judge(exercise, [Part("dx", dx, expected, x.dtype, slips, start="np.zeros_like(dout)")], case)
    return passed(exercise, f"dx uses the forward's mask and its 1/(1 - p) on {len(cases)} "
                            f"{'hidden ' if hidden else ''}cases, float32 included")

"""Checks on the training loop (lesson 6): one shuffled epoch of minibatches, one momentum step.

May import: NumPy, the cnnlib core (for the reference answers) and the checks' own
``_runner`` and ``_compare``.

The contract
------------
:func:`check_minibatches` accepts a list or a generator of ``(xb, yb)`` pairs; a generator
is read at most a few batches past a full epoch, so one that never stops (a forgotten
``start += batch_size``) is named, not followed forever. :func:`check_momentum_step`
compares three steps with :class:`cnnlib.optim.SGD`. Failures name the case and the slip:
examples lost, repeated or unpaired from their labels, the shuffle not drawn from the
given ``rng``, the velocity's sign or carry-over, the returned pair's order.
"""
import numpy as np

from cnnlib.optim import SGD, Adam
from cnnlib.explore.checks._cases import Part, case_rng, judge, unchanged
from cnnlib.explore.checks._compare import compare
from cnnlib.explore.checks._runner import call, consume, count, fail, passed, reports_output

__all__ = ["check_adam_step", "check_minibatches", "check_momentum_step", "check_sgd_momentum_step"]

# How many batches past a full epoch we read from a generator before calling it endless.
EXTRA_BATCHES = 3


def _runaway_generator(exercise, batches, n_batches, case):
    """Fail for a generator that gave ``len(batches)`` batches where an epoch has ``n_batches``."""
    read, epoch = len(batches), count(n_batches, "batch", "batches")
    try:
        same = all(np.array_equal(np.asarray(batches[0][1]), np.asarray(b[1])) for b in batches[1:])
    except (TypeError, IndexError, ValueError):
        same = False
    if same:
        fail(exercise, f"your generator gives the same batch again and again ({case}): one epoch has "
                       f"{epoch} and we stopped reading after {read}. The start of the next batch "
                       "never moves - did you forget `start += batch_size` in the loop? (Or loop with "
                       "`for start in range(0, N, batch_size)`.)")
    fail(exercise, f"your generator does not stop ({case}): one epoch has {epoch} and we stopped "
                   f"reading after {read}. End the loop after the last example: `while start < N:` with "
                   "`start += batch_size` inside it, or `for start in range(0, N, batch_size)`")


def _run_minibatches(exercise, fn, x, y, batch_size, seed, case):
    """Call the learner's minibatch function and return its batches as a list of (xb, yb).

    A generator is read at most ``EXTRA_BATCHES`` batches past a full epoch.
    """
    x_copy, y_copy = x.copy(), y.copy()
    result = call(exercise, fn, x, y, batch_size, np.random.default_rng(seed), case=case)
    if result is None:
        fail(exercise, f"your function returned None ({case}) - return a list of (xb, yb) pairs "
                       "(or `yield` them)")
    if not hasattr(result, "__iter__"):
        fail(exercise, f"your function returned {type(result).__name__} ({case}); return a list of (xb, yb) "
                       "pairs (or `yield` them)")
    n_batches = -(-len(y) // batch_size)
    limit = n_batches + EXTRA_BATCHES
    batches = consume(exercise, result, limit, case=case, learner=fn)    # a generator runs (and may raise) here
    if len(batches) >= limit and not isinstance(result, (list, tuple)):
        _runaway_generator(exercise, batches, n_batches, case)
    if not (np.array_equal(x, x_copy) and np.array_equal(y, y_copy)):
        fail(exercise, f"your function changed x or y in place ({case}); shuffle an index array "
                       "(order = rng.permutation(N)) and take x[idx], y[idx] instead")
    for k, item in enumerate(batches):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            fail(exercise, f"batch {k} should be a pair (xb, yb) ({case}), got {type(item).__name__}")
        xb, yb = np.asarray(item[0]), np.asarray(item[1])
        if xb.shape[1:] != x.shape[1:] or yb.ndim != 1 or len(xb) != len(yb):
            fail(exercise, f"batch {k} has xb of shape {xb.shape} and yb of shape {yb.shape} ({case}); "
                           f"expected (n, {', '.join(map(str, x.shape[1:]))}) and (n,) with the same n")
    return [(np.asarray(xb), np.asarray(yb)) for xb, yb in batches]


def _order(batches):
    return np.concatenate([yb for _, yb in batches]) if batches else np.array([], dtype=int)


@reports_output
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
            fail(exercise, f"each batch still holds neighbouring examples ({case}): shuffle the examples, "
                           "not only the order of the batches")
        sizes = [len(yb) for _, yb in batches]
        expected_sizes = [batch_size] * (N // batch_size) + ([N % batch_size] if N % batch_size else [])
        if sizes != expected_sizes:
            if sum(sizes) == N - N % batch_size and N % batch_size:
                left = "example is" if N % batch_size == 1 else f"{N % batch_size} examples are"
                fail(exercise, f"the batch sizes are {sizes}, expected {expected_sizes} ({case}): the last {left} "
                               "left out - keep a smaller last batch")
            if sorted(sizes) == sorted(expected_sizes):
                fail(exercise, f"the batch sizes are {sizes}, expected {expected_sizes} ({case}): the smaller "
                               "batch of left-over examples comes last")
            fail(exercise, f"the batch sizes are {sizes}, expected {expected_sizes} ({case})")
        counts = np.bincount(order.astype(int), minlength=N) if order.size and order.min() >= 0 else None
        if counts is None or len(counts) != N or (counts != 1).any():
            missing = [] if counts is None else np.flatnonzero(counts[:N] == 0).tolist()
            twice = [] if counts is None else np.flatnonzero(counts > 1).tolist()
            fail(exercise, f"every example must appear exactly once per epoch ({case}): "
                           f"missing {missing[:5]}, repeated {twice[:5]} - draw one permutation of all "
                           "N indices and cut it into batches: rng.choice(N, N) draws with replacement by default "
                           "(some indices twice, others never); use rng.permutation(N)")
        for k, (xb, yb) in enumerate(batches):
            expected_xb = x[yb.astype(int)]
            if not np.array_equal(xb, expected_xb):
                bad = int(np.flatnonzero((xb != expected_xb).reshape(len(xb), -1).any(axis=1))[0])
                fail(exercise, f"batch {k} pairs the label of example {int(yb[bad])} with the image of "
                               f"example {int(np.ravel(xb[bad])[0] - 0.5)} ({case}): x and y were shuffled "
                               "differently - index both with the same indices")
        if N >= 32:
            if np.array_equal(order, y):
                fail(exercise, f"the examples come in their original order ({case}): shuffle them with "
                               "rng.permutation(N), so that every epoch sees different batches")
            again = _order(_run_minibatches(exercise, fn, x, y, batch_size, seed, case))
            if not np.array_equal(order, again):
                fail(exercise, f"two calls with the same seed gave different orders ({case}): draw the shuffle "
                               "from the rng argument (rng.permutation), not from np.random")
            other = _order(_run_minibatches(exercise, fn, x, y, batch_size, seed + 100, case))
            if np.array_equal(order, other):
                fail(exercise, f"two different seeds gave the same order ({case}): the shuffle must come "
                               "from the rng argument")
    return passed(exercise, "every example exactly once per epoch, with its own label, shuffled by the "
                            "rng you are given, in full batches and one smaller last batch")


class _Holder:
    """Just enough of a layer for cnnlib.optim.SGD: one parameter and its gradient."""

    def __init__(self, param):
        self.params = {"p": param.copy()}
        self.grads = {"p": np.zeros_like(param)}


@reports_output
def check_sgd_momentum_step(fn, *, seed=None):
    """Check ``fn(param, grad, velocity, lr, momentum) -> (new_param, new_velocity)``.

    One step of SGD with momentum, :math:`v \\leftarrow \\mu v - \\eta g`,
    :math:`\\theta \\leftarrow \\theta + v`, compared over several steps with
    :class:`cnnlib.optim.SGD`. The function must return new arrays of the inputs' dtype
    (float32 stays float32), not change its inputs.

    Parameters
    ----------
    fn : callable
        The learner's ``sgd_momentum_step``.
    seed : None or int
        None: the lesson's cases; an int: other values, sizes and hyper-parameters drawn
        from it (hidden tests).
    """
    exercise = "sgd_momentum_step"
    hidden = seed is not None
    rng = case_rng(seed, 6)
    if hidden:
        cases = [(tuple(int(n) for n in rng.integers(2, 6, size=2)), round(float(rng.uniform(0.05, 0.3)), 3),
                  round(float(rng.uniform(0.5, 0.95)), 2), np.float64),
                 ((int(rng.integers(3, 8)),), round(float(rng.uniform(0.01, 0.1)), 3),
                  round(float(rng.uniform(0.2, 0.6)), 2), np.float64),
                 (tuple(int(n) for n in rng.integers(2, 5, size=2)), round(float(rng.uniform(0.1, 0.3)), 3), 0.0,
                  np.float64),
                 ((int(rng.integers(3, 7)), 2), round(float(rng.uniform(0.05, 0.2)), 3),
                  round(float(rng.uniform(0.5, 0.95)), 2), np.float32)]
    else:
        cases = [((3, 4), 0.1, 0.9, np.float64), ((5,), 0.05, 0.5, np.float64), ((2, 3), 0.2, 0.0, np.float64),
                 ((4, 2), 0.1, 0.9, np.float32)]
    for shape, lr, momentum, dtype in cases:
        holder = _Holder(rng.normal(size=shape).astype(dtype).astype(np.float64))
        reference = SGD(holder, lr=lr, momentum=momentum)
        param, velocity = holder.params["p"].astype(dtype), np.zeros(shape, dtype=dtype)
        expected_velocity = np.zeros(shape)
        for step in range(1, 4):
            case = f"step {step}, lr={lr}, momentum={momentum}" + (", float32" if dtype == np.float32 else "")
            grad = rng.normal(size=shape).astype(dtype)
            holder.grads["p"][...] = grad
            reference.step()
            expected_param = holder.params["p"]
            expected_velocity = momentum * expected_velocity - lr * grad
            given = [param.copy(), grad.copy(), velocity.copy()]
            result = call(exercise, fn, param, grad, velocity, lr, momentum, case=case)
            for name, before, now in zip(("param", "grad", "velocity"), given, (param, grad, velocity)):
                if not np.array_equal(before, now):
                    fail(exercise, f"your function changed its argument `{name}` in place ({case}); "
                                   "return new arrays, e.g. new_velocity = momentum * velocity - lr * grad")
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                fail(exercise, f"return the pair (new_param, new_velocity) ({case}), got "
                               f"{type(result).__name__}")
            new_param, new_velocity = raw_param, raw_velocity = result
            try:
                swapped = (np.allclose(np.asarray(new_param, dtype=float), expected_velocity)
                           and np.allclose(np.asarray(new_velocity, dtype=float), expected_param)
                           and not np.allclose(expected_param, expected_velocity))
            except (TypeError, ValueError):
                swapped = False
            if swapped:
                fail(exercise, f"you returned (new_velocity, new_param) ({case}); both are right, but the "
                               "order is (new_param, new_velocity)")
            try:
                new_param = np.asarray(new_param, dtype=float)
                new_velocity = np.asarray(new_velocity, dtype=float)
            except (TypeError, ValueError):
                fail(exercise, f"new_param and new_velocity should be NumPy arrays ({case})")
            if new_param.shape == shape and np.allclose(new_param, param - (expected_param - param)):
                fail(exercise, f"the parameter moved uphill ({case}): v = μv − ηg already holds the minus "
                               "sign, so the update is param + v")
            if new_param.shape == shape and np.allclose(new_param, param + velocity) and \
                    not np.allclose(velocity, expected_velocity):
                fail(exercise, f"the parameter moved by the old velocity ({case}): update the velocity "
                               "first, then add the new one to the parameter")
            if step > 1 and momentum > 0 and new_param.shape == shape and \
                    np.allclose(new_param, param - lr * grad):
                fail(exercise, f"step 1 was right but step {step} is plain SGD ({case}): the velocity must "
                               "carry over from step to step (momentum * velocity - lr * grad)")
            judge(exercise, [Part("new_param", raw_param, expected_param, dtype, start="np.zeros_like(param)")], case)
            if new_velocity.shape == shape and np.allclose(new_velocity, -expected_velocity) \
                    and np.abs(expected_velocity).max() > 0:
                fail(exercise, f"new_velocity has the opposite sign ({case}): in this lesson v = μv − ηg "
                               "points downhill and param + v is the update")
            judge(exercise, [Part("new_velocity", raw_velocity, expected_velocity, dtype,
                                  start="np.zeros_like(velocity)")], case)
            param, velocity = new_param.astype(dtype), new_velocity.astype(dtype)
    return passed(exercise, f"three steps on each of {len(cases)} {'hidden ' if hidden else ''}cases (momentum 0 "
                            "and float32 included) match cnnlib.optim.SGD")


#: The name my_cnn.py uses; ``check_momentum_step`` is the same check under lesson 6's older name.
check_momentum_step = check_sgd_momentum_step


def _adam_param(param, m_new, v_new, t, lr, beta1, beta2, eps, *, correct=(True, True), sqrt=True, eps_inside=False):
    """Adam's new parameter from the new m and v, with a slip planted on request."""
    m_hat = m_new / (1 - beta1 ** t) if correct[0] else m_new
    v_hat = v_new / (1 - beta2 ** t) if correct[1] else v_new
    scale = np.sqrt(v_hat + eps) if eps_inside else (np.sqrt(v_hat) if sqrt else v_hat) + eps
    return param - lr * m_hat / scale


@reports_output
def check_adam_step(fn, *, seed=None):
    """my_cnn.py, lesson 6: ``fn(param, grad, m, v, t, lr, beta1, beta2, eps) -> (param_new, m_new, v_new)``.

    One bias-corrected Adam step, compared over four steps (t = 1, 2, 3, 4) with
    :class:`cnnlib.optim.Adam`; each step starts from the right state, so a failure names
    the first wrong part (m_new, v_new, then param_new, which is computed from them) and
    the slip: a moment's (1 - beta) missing or swapped, |grad| for grad**2, the
    bias-corrected m_hat or v_hat returned as the moment, no bias correction, t off by one,
    the square root missing, eps inside the root, the step's sign.

    Parameters
    ----------
    fn : callable
        The learner's ``adam_step``.
    seed : None or int
        None: the lesson's cases; an int: other values, sizes and hyper-parameters drawn
        from it (hidden tests).
    """
    exercise = "adam_step"
    hidden = seed is not None
    rng = case_rng(seed, 61)
    if hidden:
        cases = [(tuple(int(n) for n in rng.integers(2, 6, size=2)), round(float(rng.uniform(0.005, 0.05)), 4),
                  0.9, 0.999, 1e-8, np.float64),
                 ((int(rng.integers(3, 8)),), round(float(rng.uniform(0.05, 0.2)), 3),
                  round(float(rng.uniform(0.7, 0.9)), 2), round(float(rng.uniform(0.95, 0.995)), 3), 1e-6, np.float64),
                 ((int(rng.integers(2, 5)), 3), round(float(rng.uniform(0.005, 0.05)), 4), 0.9, 0.999, 1e-8,
                  np.float32)]
    else:
        cases = [((3, 4), 0.01, 0.9, 0.999, 1e-8, np.float64), ((5,), 0.1, 0.8, 0.99, 1e-6, np.float64),
                 ((2, 3), 0.01, 0.9, 0.999, 1e-8, np.float32)]
    for shape, lr, beta1, beta2, eps, dtype in cases:
        holder = _Holder(rng.normal(size=shape).astype(dtype).astype(np.float64))
        reference = Adam(holder, lr=lr, betas=(beta1, beta2), eps=eps)
        m, v = np.zeros(shape), np.zeros(shape)
        for t in range(1, 5):
            case = (f"step t={t}, lr={lr}, beta1={beta1}, beta2={beta2}, eps={eps:g}"
                    + (", float32" if dtype == np.float32 else ""))
            param = holder.params["p"].astype(dtype)
            grad = rng.normal(size=shape).astype(dtype)
            given = [param.copy(), grad.copy(), m.astype(dtype), v.astype(dtype)]
            args = [a.copy() for a in given]
            result = call(exercise, fn, *args, t, lr, beta1, beta2, eps, case=case, quiet=True)
            unchanged(exercise, list(zip(("param", "grad", "m", "v"), given, args)), case)
            if not isinstance(result, (tuple, list)) or len(result) != 3:
                fail(exercise, f"return the three arrays (param_new, m_new, v_new) ({case}), got "
                               f"{type(result).__name__}" + (f" of length {len(result)}"
                                                             if isinstance(result, (tuple, list)) else ""))
            p64, g64, m64, v64 = (a.astype(np.float64) for a in given)
            holder.params["p"][...] = p64
            holder.grads["p"][...] = g64
            reference._m[(0, "p")], reference._v[(0, "p")] = m64.copy(), v64.copy()
            reference.steps = t - 1
            reference.step()
            m_new, v_new = reference._m[(0, "p")].copy(), reference._v[(0, "p")].copy()

            def slip(**kwargs):
                return _adam_param(p64, m_new, v_new, t, lr, beta1, beta2, eps, **kwargs)
            param_slips = [
                (slip(correct=(False, False)), "no bias correction: divide m_new by (1 - beta1**t) and v_new by "
                                               "(1 - beta2**t) before the step; without it the first steps are far "
                                               "too small or too big"),
                (slip(correct=(True, False)), "only m is bias-corrected: v_hat = v_new / (1 - beta2**t) too"),
                (slip(correct=(False, True)), "only v is bias-corrected: m_hat = m_new / (1 - beta1**t) too"),
                (_adam_param(p64, m_new, v_new, t + 1, lr, beta1, beta2, eps),
                 f"the bias correction uses t + 1 = {t + 1}: t is already the number of this step (1 for the "
                 "first), so use beta1**t and beta2**t"),
                (slip(sqrt=False), "the square root is missing: divide by sqrt(v_hat) + eps, not v_hat + eps"),
                (slip(eps_inside=True), "eps sits inside the square root: it is sqrt(v_hat) + eps"),
                (2 * p64 - holder.params["p"], "the step goes uphill: param_new = param - lr * m_hat / (...)"),
            ]
            if t > 1:
                param_slips.append((_adam_param(p64, m_new, v_new, t - 1, lr, beta1, beta2, eps),
                                    f"the bias correction uses t - 1 = {t - 1}: t is already the number of this "
                                    "step (1 for the first), so use beta1**t and beta2**t"))
            raw_moments = ("return the raw moments m and v; the bias-corrected m_hat and v_hat are only for the "
                           "update")
            m_hat_slip = (m_new / (1 - beta1 ** t), f"it is the bias-corrected m_hat = m_new / (1 - beta1**t): "
                                                    f"{raw_moments}")
            v_hat_slip = (v_new / (1 - beta2 ** t), f"it is the bias-corrected v_hat = v_new / (1 - beta2**t): "
                                                    f"{raw_moments}")
            m_slips = [(beta1 * m64 + g64, "m_new = beta1 * m + (1 - beta1) * grad: the (1 - beta1) is missing"),
                       ((1 - beta1) * m64 + beta1 * g64, "beta1 and (1 - beta1) are swapped: m_new = beta1 * m + "
                                                         "(1 - beta1) * grad")]
            v_slips = [(beta2 * v64 + (1 - beta2) * np.abs(g64), "v averages the SQUARED gradient: grad**2"),
                       (beta2 * v64 + g64 ** 2, "v_new = beta2 * v + (1 - beta2) * grad**2: the (1 - beta2) is "
                                                "missing")]
            param_part = Part("param_new", result[0], holder.params["p"], dtype, param_slips,
                              start="np.zeros_like(param)")
            # At t = 1 (m = v = 0) m_hat equals beta1 * m + grad, the (1 - beta1) slip, and v_hat the
            # (1 - beta2) slip. A right param_new says the learner's m_hat was right, so the moment
            # returned is m_hat; a wrong one says m_new itself was wrong.
            if param_part.right():
                m_slips.insert(0, m_hat_slip)
                v_slips.insert(0, v_hat_slip)
            else:
                m_slips.append(m_hat_slip)
                v_slips.append(v_hat_slip)
            # The moments first: param_new is computed from them, so a wrong moment is the cause.
            judge(exercise, [Part("m_new", result[1], m_new, dtype, m_slips, start="np.zeros_like(m)"),
                             Part("v_new", result[2], v_new, dtype, v_slips, start="np.zeros_like(v)"),
                             param_part], case)
            m, v = m_new, v_new
    return passed(exercise, f"four steps (t = 1 to 4) on each of {len(cases)} {'hidden ' if hidden else ''}cases "
                            "match cnnlib.optim.Adam, bias correction and float32 included")

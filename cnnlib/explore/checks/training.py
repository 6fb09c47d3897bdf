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

from cnnlib.optim import SGD
from cnnlib.explore.checks._compare import compare
from cnnlib.explore.checks._runner import call, consume, fail, passed, reports_output

__all__ = ["check_minibatches", "check_momentum_step"]

# How many batches past a full epoch we read from a generator before calling it endless.
EXTRA_BATCHES = 3


def _runaway_generator(exercise, batches, n_batches, case):
    """Fail for a generator that gave ``len(batches)`` batches where an epoch has ``n_batches``."""
    read = len(batches)
    try:
        same = all(np.array_equal(np.asarray(batches[0][1]), np.asarray(b[1])) for b in batches[1:])
    except (TypeError, IndexError, ValueError):
        same = False
    if same:
        fail(exercise, f"your generator gives the same batch again and again ({case}): one epoch has "
                       f"{n_batches} batches and we stopped reading after {read}. The start of the next batch "
                       "never moves - did you forget `start += batch_size` in the loop? (Or loop with "
                       "`for start in range(0, N, batch_size)`.)")
    fail(exercise, f"your generator does not stop ({case}): one epoch has {n_batches} batches and we stopped "
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
                fail(exercise, f"the batch sizes are {sizes}, expected {expected_sizes} ({case}): the last "
                               f"{N % batch_size} examples are left out - keep a smaller last batch")
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
def check_momentum_step(fn):
    """Check ``fn(param, grad, velocity, lr, momentum) -> (new_param, new_velocity)``.

    One step of SGD with momentum, :math:`v \\leftarrow \\mu v - \\eta g`,
    :math:`\\theta \\leftarrow \\theta + v`, compared over several steps with
    :class:`cnnlib.optim.SGD`. The function must return new arrays, not change its inputs.
    """
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
            compare(exercise, raw_param, expected_param, what="new_param", case=case)
            if new_velocity.shape == shape and np.allclose(new_velocity, -expected_velocity) \
                    and np.abs(expected_velocity).max() > 0:
                fail(exercise, f"new_velocity has the opposite sign ({case}): in this lesson v = μv − ηg "
                               "points downhill and param + v is the update")
            compare(exercise, raw_velocity, expected_velocity, what="new_velocity", case=case)
            param, velocity = new_param, new_velocity
    return passed(exercise, "three steps each with momentum 0.9, 0.5 and 0 match cnnlib.optim.SGD")

"""Lesson 6 exercise checks: right answers pass, stubs and typical mistakes fail in plain words."""
import numpy as np
import pytest

from check_helpers import fails_with, passes
from cnnlib.explore.checks import check_minibatches, check_momentum_step


# ---------------------------------------------------------------------------- minibatches

def good_minibatches(x, y, batch_size, rng):
    order = rng.permutation(len(y))
    return [(x[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(y), batch_size)]


def generator_minibatches(x, y, batch_size, rng):
    order = rng.permutation(len(y))
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def stub_minibatches(x, y, batch_size, rng):
    raise NotImplementedError


def stub_generator(x, y, batch_size, rng):
    raise NotImplementedError
    yield  # noqa: makes it a generator: it raises only when iterated


def unshuffled(x, y, batch_size, rng):
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)]


def global_random(x, y, batch_size, rng):
    order = np.random.permutation(len(y))
    return [(x[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(y), batch_size)]


def shuffled_separately(x, y, batch_size, rng):
    ox, oy = rng.permutation(len(y)), rng.permutation(len(y))
    return [(x[ox[i:i + batch_size]], y[oy[i:i + batch_size]]) for i in range(0, len(y), batch_size)]


def drops_last(x, y, batch_size, rng):
    order = rng.permutation(len(y))
    return [(x[order[i:i + batch_size]], y[order[i:i + batch_size]])
            for i in range(0, len(y) - batch_size + 1, batch_size)]


def with_replacement(x, y, batch_size, rng):
    order = rng.integers(0, len(y), size=len(y))
    return [(x[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(y), batch_size)]


def in_place(x, y, batch_size, rng):
    order = rng.permutation(len(y))
    x[...], y[...] = x[order], y[order]
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)]


def batch_order_only(x, y, batch_size, rng):
    batches = unshuffled(x, y, batch_size, rng)
    return [batches[k] for k in rng.permutation(len(batches))]


def forgot_return(x, y, batch_size, rng):
    good_minibatches(x, y, batch_size, rng)


@pytest.mark.parametrize("fn", [good_minibatches, generator_minibatches])
def test_minibatches_accepts_lists_and_generators(fn, capsys):
    passes(check_minibatches, fn, capsys, "minibatches")


@pytest.mark.parametrize("fn", [stub_minibatches, stub_generator])
def test_minibatches_stub_says_not_written_yet(fn):
    fails_with(check_minibatches, fn, "not written yet")


@pytest.mark.parametrize("fn, message", [
    (unshuffled, "original order"),
    (global_random, "same seed gave different orders"),
    (shuffled_separately, "x and y were shuffled differently"),
    (drops_last, "left out"),
    (with_replacement, "exactly once per epoch"),
    (in_place, "changed x or y in place"),
    (batch_order_only, "neighbouring examples"),
    (forgot_return, "returned None"),
])
def test_minibatches_names_the_mistake(fn, message):
    assert fails_with(check_minibatches, fn, message).startswith("✗ minibatches:")


def test_one_example_left_out_is_named_in_the_singular():
    """range(0, N - 1, batch_size) loses the last batch only when it holds one example (N=33, batch_size=8)."""
    def one_short(x, y, batch_size, rng):
        order = rng.permutation(len(y))
        return [(x[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(y) - 1, batch_size)]
    fails_with(check_minibatches, one_short, "(N=33 examples, batch_size=8): the last example is left out")


def test_an_epoch_of_one_batch_is_named_in_the_singular():
    def endless_when_one_batch(x, y, batch_size, rng):
        if len(y) > batch_size:
            yield from good_minibatches(x, y, batch_size, rng)
            return
        while True:                     # forgot: start += batch_size, in the one-batch case
            yield x, y
    fails_with(check_minibatches, endless_when_one_batch, "(N=7 examples, batch_size=7): one epoch has 1 batch and")


def test_minibatches_catches_a_wrong_seed_use():
    """Ignoring the rng and always seeding 0 gives the same order for every seed."""
    def fixed_seed(x, y, batch_size, rng):
        return good_minibatches(x, y, batch_size, np.random.default_rng(0))
    fails_with(check_minibatches, fixed_seed, "different seeds gave the same order")


def test_minibatches_rejects_non_pairs():
    fails_with(check_minibatches, lambda x, y, b, rng: [x[i:i + b] for i in range(0, len(y), b)],
               "should be a pair (xb, yb)")


# ---------------------------------------------------------------------------- momentum

def good_momentum(param, grad, velocity, lr, momentum):
    velocity = momentum * velocity - lr * grad
    return param + velocity, velocity


def stub_momentum(param, grad, velocity, lr, momentum):
    raise NotImplementedError


def opposite_convention(param, grad, velocity, lr, momentum):
    velocity = momentum * velocity + lr * grad
    return param - velocity, velocity


def no_carry(param, grad, velocity, lr, momentum):
    velocity = -lr * grad
    return param + velocity, velocity


def uphill(param, grad, velocity, lr, momentum):
    velocity = momentum * velocity - lr * grad
    return param - velocity, velocity


def old_velocity(param, grad, velocity, lr, momentum):
    return param + velocity, momentum * velocity - lr * grad


def mutates(param, grad, velocity, lr, momentum):
    velocity *= momentum
    velocity -= lr * grad
    return param + velocity, velocity


def only_param(param, grad, velocity, lr, momentum):
    return param - lr * grad


def wrong_scale(param, grad, velocity, lr, momentum):
    velocity = momentum * velocity - lr * (1 - momentum) * grad
    return param + velocity, velocity


def test_momentum_passes_a_right_answer(capsys):
    passes(check_momentum_step, good_momentum, capsys, "sgd_momentum_step")


def test_momentum_stub_says_not_written_yet():
    fails_with(check_momentum_step, stub_momentum, "not written yet")


@pytest.mark.parametrize("fn, message", [
    (opposite_convention, "opposite sign"),
    (no_carry, "carry over"),
    (uphill, "uphill"),
    (old_velocity, "old velocity"),
    (mutates, "in place"),
    (only_param, "return the pair (new_param, new_velocity)"),
    (wrong_scale, "new_param is wrong at index"),
])
def test_momentum_names_the_mistake(fn, message):
    assert fails_with(check_momentum_step, fn, message).startswith("✗ sgd_momentum_step:")


def test_checks_reject_non_functions():
    fails_with(check_momentum_step, 3, "expected a function")
    fails_with(check_minibatches, None, "expected a function")


def test_minibatches_wants_the_smaller_batch_last():
    def remainder_first(x, y, batch_size, rng):
        order = rng.permutation(len(y))
        cut = len(y) % batch_size
        starts = [0] + list(range(cut, len(y), batch_size)) if cut else range(0, len(y), batch_size)
        bounds = list(starts) + [len(y)]
        return [(x[order[a:b]], y[order[a:b]]) for a, b in zip(bounds[:-1], bounds[1:])]
    fails_with(check_minibatches, remainder_first, "comes last")


def test_momentum_names_a_swapped_pair():
    def swapped(param, grad, velocity, lr, momentum):
        new_velocity = momentum * velocity - lr * grad
        return new_velocity, param + new_velocity
    fails_with(check_momentum_step, swapped, "you returned (new_velocity, new_param)", "step 1")


def test_minibatches_with_replacement_points_to_permutation():
    message = fails_with(check_minibatches, with_replacement, "rng.choice(N, N) draws with replacement by default",
                         "rng.permutation(N)")
    assert "without replace=False" not in message


def test_a_crash_in_minibatches_names_the_case():
    def crashes(x, y, batch_size, rng):
        return [(x[:batch_size], y[:batch_size + 1][batch_size + 100])]
    fails_with(check_minibatches, crashes, "IndexError (N=10 examples, batch_size=4)")


def test_minibatches_accepts_an_honest_shuffle_drawn_another_way(capsys):
    # A correct solution need not call rng.permutation: any seeded shuffle of all the
    # examples must pass (the "neighbouring examples" heuristic must not fire on it).
    def argsort_shuffle(x, y, batch_size, rng):
        order = np.argsort(rng.random(len(y)))
        return [(x[order[i:i + batch_size]], y[order[i:i + batch_size]]) for i in range(0, len(y), batch_size)]

    passes(check_minibatches, argsort_shuffle, capsys, "minibatches")

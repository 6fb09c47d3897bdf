"""Lesson 7 exercise checks (batch norm and dropout, forward and backward): the right
answers pass, the stubs and every planted slip fail, each in its own words."""
import numpy as np
import pytest

from check_helpers import fails_with, not_written, passes
from cnnlib.explore.checks import (check_batchnorm_backward, check_batchnorm_forward, check_dropout_backward,
                                   check_dropout_forward)
from cnnlib.gradcheck import relative_error


# The right answers (notebooks/my_cnn.py gets the same ones as the teacher's solutions once lesson 7 lands).
def bn_forward(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    std = np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + eps)
    x_hat = (x - mean) / std
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None], (x_hat, gamma, std)


def bn_backward(dout, cache):
    x_hat, gamma, std = cache
    dx_hat = dout * gamma[None, :, None, None]
    dx = (dx_hat - dx_hat.mean(axis=(0, 2, 3), keepdims=True)
          - x_hat * (dx_hat * x_hat).mean(axis=(0, 2, 3), keepdims=True)) / std
    return dx, (dout * x_hat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def do_forward(x, p, rng):
    mask = ((rng.random(x.shape) >= p) / (1 - p)).astype(x.dtype)
    return x * mask, mask


def do_backward(dout, cache):
    return dout * cache


SEEDS = [None, 0, 7, 7101]


# ---------------------------------------------------------------------------- the teacher's answers

@pytest.mark.parametrize("seed", SEEDS)
def test_teacher_solutions_pass_visible_and_hidden_cases(seed, capsys):
    check_batchnorm_forward(bn_forward, seed=seed)
    check_batchnorm_backward(bn_forward, bn_backward, seed=seed)
    check_dropout_forward(do_forward, seed=seed)
    check_dropout_backward(do_forward, do_backward, seed=seed)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["✓ batchnorm_forward", "✓ batchnorm_backward",
                                                      "✓ dropout_forward", "✓ dropout_backward"], lines
    assert all(("hidden" in line) == (seed is not None) for line in lines), lines


def test_the_checked_batchnorm_gradient_agrees_with_finite_differences():
    """The formula the check compares with (and the teacher's solution) is the true gradient."""
    rng = np.random.default_rng(3)
    x, gamma, beta = rng.normal(size=(3, 2, 2, 3)) * 2 + 1, rng.normal(size=2), rng.normal(size=2)
    dout = rng.normal(size=x.shape)
    dx, dgamma, dbeta = bn_backward(dout, bn_forward(x, gamma, beta, 1e-5)[1])

    def numeric(array):
        grad, h = np.zeros_like(array), 1e-6
        for i in np.ndindex(array.shape):
            old = array[i]
            array[i] = old + h
            plus = (bn_forward(x, gamma, beta, 1e-5)[0] * dout).sum()
            array[i] = old - h
            minus = (bn_forward(x, gamma, beta, 1e-5)[0] * dout).sum()
            array[i] = old
            grad[i] = (plus - minus) / (2 * h)
        return grad
    for analytic, array in ((dx, x), (dgamma, gamma), (dbeta, beta)):
        assert relative_error(analytic, numeric(array)) < 1e-7


def test_the_stubs_say_not_written_yet():
    fails_with(check_batchnorm_forward, not_written, "✗ batchnorm_forward", "not written yet")
    fails_with(lambda fn: check_batchnorm_backward(bn_forward, fn), not_written, "✗ batchnorm_backward",
               "not written yet")
    fails_with(check_dropout_forward, not_written, "✗ dropout_forward", "not written yet")
    fails_with(lambda fn: check_dropout_backward(do_forward, fn), not_written, "✗ dropout_backward", "not written yet")


# ---------------------------------------------------------------------------- batch norm forward

def _bn(x, gamma, beta, eps, *, axes=(0, 2, 3), ddof=0, eps_outside=False, affine=True, swap=False):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    x_hat = (x - mean) / std
    if swap:
        gamma, beta = beta, gamma
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None] if affine else x_hat
    return out.astype(x.dtype), (x_hat, gamma, std)


FORWARD_SLIPS = {
    "unbiased variance": (lambda x, g, b, eps: _bn(x, g, b, eps, ddof=1), ["out is wrong", "unbiased variance",
                                                                          "ddof=0"]),
    "eps outside": (lambda x, g, b, eps: _bn(x, g, b, eps, eps_outside=True), ["eps sits outside the square root"]),
    "batch axis only": (lambda x, g, b, eps: _bn(x, g, b, eps, axes=(0,)), ["batch axis only", "axis=(0, 2, 3)"]),
    "per image": (lambda x, g, b, eps: _bn(x, g, b, eps, axes=(1, 2, 3)), ["per image", "axis=(0, 2, 3)"]),
    "per image and channel": (lambda x, g, b, eps: _bn(x, g, b, eps, axes=(2, 3)), ["positions only"]),
    "whole batch": (lambda x, g, b, eps: _bn(x, g, b, eps, axes=(0, 1, 2, 3)), ["one mean and variance for the whole"]),
    "no gamma and beta": (lambda x, g, b, eps: _bn(x, g, b, eps, affine=False), ["x_hat itself", "gamma * x_hat + beta"]),
    "gamma and beta swapped": (lambda x, g, b, eps: _bn(x, g, b, eps, swap=True), ["gamma and beta are swapped"]),
    "eps ignored": (lambda x, g, b, eps: _bn(x, g, b, 1e-5), ["not the eps argument (0.01)"]),
    "no eps": (lambda x, g, b, eps: _bn(x, g, b, 0.0), ["eps is missing", "np.sqrt(var + eps)"]),
}


@pytest.mark.parametrize("slip", FORWARD_SLIPS, ids=list(FORWARD_SLIPS))
@pytest.mark.parametrize("seed", [None, 11])
def test_batchnorm_forward_slips_are_named(slip, seed):
    fn, words = FORWARD_SLIPS[slip]
    with np.errstate(all="ignore"):
        fails_with(lambda f: check_batchnorm_forward(f, seed=seed), fn, "✗ batchnorm_forward", *words)


def test_batchnorm_forward_shape_dtype_and_pair_slips():
    fails_with(check_batchnorm_forward, lambda x, g, b, eps: _bn(x, g, b, eps)[0], "return the pair (out, cache)")
    fails_with(check_batchnorm_forward, lambda x, g, b, eps: (x * g + b, None), "✗ batchnorm_forward",
               "(1, C, 1, 1)")                                    # gamma of shape (C,) against (N, C, H, W)
    fails_with(check_batchnorm_forward, lambda x, g, b, eps: (_bn(x.astype(np.float64), g.astype(np.float64),
                                                                  b.astype(np.float64), eps)[0], None),
               "out is a float64 array", "float32")

    def in_place(x, g, b, eps):
        out, cache = _bn(x, g, b, eps)
        x -= x.mean()
        return out, cache
    fails_with(check_batchnorm_forward, in_place, "changed its argument `x` in place")


# ---------------------------------------------------------------------------- batch norm backward

def _bn_back(dout, cache, *, mean_path=True, var_path=True, use_gamma=True, dgamma_of=None, order="xgb",
             mean_sums=False, keepdims=False):
    x_hat, gamma, std = cache
    dx_hat = dout * gamma[None, :, None, None] if use_gamma else dout
    dx = dx_hat
    if mean_path:
        dx = dx - dx_hat.mean(axis=(0, 2, 3), keepdims=True)
    if var_path:
        dx = dx - x_hat * (dx_hat * x_hat).mean(axis=(0, 2, 3), keepdims=True)
    dx = dx / std
    reduce = np.mean if mean_sums else np.sum
    dgamma = reduce(dout * (x_hat if dgamma_of is None else dgamma_of), axis=(0, 2, 3), keepdims=keepdims)
    dbeta = reduce(dout, axis=(0, 2, 3), keepdims=keepdims)
    return (dx, dbeta, dgamma) if order == "xbg" else (dx, dgamma, dbeta)


def _forward_keeping_x(x, gamma, beta, eps):
    out, cache = _bn(x, gamma, beta, eps)
    return out, (*cache, x)


BACKWARD_SLIPS = {
    "mean and variance as constants": (lambda d, c: _bn_back(d, c, mean_path=False, var_path=False),
                                       ["dx is wrong (dgamma and dbeta are right)", "as constants"]),
    "no variance path": (lambda d, c: _bn_back(d, c, var_path=False), ["path through the variance is missing"]),
    "no mean path": (lambda d, c: _bn_back(d, c, mean_path=False), ["path through the mean is missing"]),
    "gamma forgotten": (lambda d, c: _bn_back(d, c, use_gamma=False), ["gamma is missing", "dout * gamma"]),
    "dgamma and dbeta swapped": (lambda d, c: _bn_back(d, c, order="xbg"),
                                 ["dgamma is wrong (dx is right)", "which is dbeta", "in that order"]),
    "means instead of sums": (lambda d, c: _bn_back(d, c, mean_sums=True), ["dgamma is wrong", "is a mean"]),
    "keepdims": (lambda d, c: _bn_back(d, c, keepdims=True), ["dgamma should have gamma's shape (C,)"]),
}


@pytest.mark.parametrize("slip", BACKWARD_SLIPS, ids=list(BACKWARD_SLIPS))
@pytest.mark.parametrize("seed", [None, 12])
def test_batchnorm_backward_slips_are_named(slip, seed):
    fn, words = BACKWARD_SLIPS[slip]
    fails_with(lambda f: check_batchnorm_backward(lambda *a: _bn(*a), f, seed=seed), fn, "✗ batchnorm_backward",
               *words)


def test_batchnorm_backward_x_for_x_hat_and_dbeta_alone():
    def x_not_x_hat(dout, cache):
        x_hat, gamma, std, x = cache
        return _bn_back(dout, (x_hat, gamma, std), dgamma_of=x)
    fails_with(lambda f: check_batchnorm_backward(_forward_keeping_x, f), x_not_x_hat,
               "dgamma is wrong", "NORMALISED x")

    def dbeta_mean(dout, cache):
        dx, dgamma, dbeta = _bn_back(dout, cache)
        return dx, dgamma, dbeta / (dout.shape[0] * dout.shape[2] * dout.shape[3])
    fails_with(lambda f: check_batchnorm_backward(lambda *a: _bn(*a), f), dbeta_mean,
               "dbeta is wrong (dx and dgamma are right)", "dbeta is a mean")


def test_batchnorm_backward_needs_a_right_forward_first():
    fails_with(lambda f: check_batchnorm_backward(lambda x, g, b, eps: _bn(x, g, b, eps, ddof=1), f), bn_backward,
               "✗ batchnorm_backward", "batchnorm_forward's out is not right yet", "check_batchnorm_forward")


def test_batchnorm_backward_first_wrong_value_is_shown():
    def off(dout, cache):
        dx, dgamma, dbeta = _bn_back(dout, cache)
        dx = dx.copy()
        dx[0, 1, 0, 1] += 0.5
        return dx, dgamma, dbeta
    fails_with(lambda f: check_batchnorm_backward(lambda *a: _bn(*a), f), off, "dx is wrong at index (0, 1, 0, 1)",
               "1 of 48 values differs")


# ---------------------------------------------------------------------------- dropout

def _dropout(x, p, rng, *, drop_when_below=True, scale="divide", source=None):
    u = (source or rng).random(x.shape)
    keep = u >= p if drop_when_below else u < p
    factor = {"divide": 1 / (1 - p), "none": 1.0, "multiply": 1 - p, "by p": 1 / p if p else 1.0}[scale]
    mask = (keep * factor).astype(x.dtype)
    return x * mask, mask


DROPOUT_FORWARD_SLIPS = {
    "no scaling": (lambda x, p, rng: _dropout(x, p, rng, scale="none"), ["the kept values are x itself",
                                                                        "divide them by 1 - p"]),
    "multiplied by 1 - p": (lambda x, p, rng: _dropout(x, p, rng, scale="multiply"), ["multiplied by 1 - p"]),
    "divided by p": (lambda x, p, rng: _dropout(x, p, rng, scale="by p"), ["divided by p"]),
    "p as keep probability": (lambda x, p, rng: _dropout(x, p, rng, drop_when_below=False),
                              ["about 1 - p", "probability to DROP"]),
    "np.random": (lambda x, p, rng: _dropout(x, p, rng, source=np.random.default_rng()),
                  ["same rng seed dropped different values", "not from np.random"]),
    "nothing dropped": (lambda x, p, rng: (x / (1 - p), None), ["no value was dropped"]),
    "wrong rate": (lambda x, p, rng: _dropout(x, p / 2, rng), ["expected about p"]),
    "float64 mask": (lambda x, p, rng: (x * ((rng.random(x.shape) >= p) / (1 - p)), None),
                     ["out is a float64 array", "float32"]),
}


@pytest.mark.parametrize("slip", DROPOUT_FORWARD_SLIPS, ids=list(DROPOUT_FORWARD_SLIPS))
@pytest.mark.parametrize("seed", [None, 13])
def test_dropout_forward_slips_are_named(slip, seed):
    fn, words = DROPOUT_FORWARD_SLIPS[slip]
    fails_with(lambda f: check_dropout_forward(f, seed=seed), fn, "✗ dropout_forward", *words)


def test_dropout_forward_same_mask_every_call_and_p_zero():
    def same_mask(x, p, rng):            # ignores rng: the same mask whatever rng it is given
        return _dropout(x, p, rng, source=np.random.default_rng(0))
    fails_with(check_dropout_forward, same_mask, "two different rng seeds dropped the same values")

    def drops_at_p_zero(x, p, rng):
        out, mask = _dropout(x, max(p, 0.1), rng)
        return out, mask
    fails_with(check_dropout_forward, drops_at_p_zero, "p=0", "nothing is dropped")


DROPOUT_BACKWARD_SLIPS = {
    "no mask": (lambda dout, mask: dout.copy(), ["dx is dout itself", "the forward's mask"]),
    "mask without scale": (lambda dout, mask: dout * (mask != 0), ["the mask is applied but not the scale"]),
    "multiplied by 1 - p": (lambda dout, mask: dout * (mask != 0) / mask.max(), ["multiplied by 1 - p"]),
    "a new mask": (lambda dout, mask: dout * np.random.default_rng(99).permutation(mask.ravel()).reshape(mask.shape),
                   ["must use the forward's mask", "not draw a new one"]),
}


@pytest.mark.parametrize("slip", DROPOUT_BACKWARD_SLIPS, ids=list(DROPOUT_BACKWARD_SLIPS))
@pytest.mark.parametrize("seed", [None, 14])
def test_dropout_backward_slips_are_named(slip, seed):
    fn, words = DROPOUT_BACKWARD_SLIPS[slip]
    fails_with(lambda f: check_dropout_backward(_dropout, f, seed=seed), fn, "✗ dropout_backward", *words)


def test_dropout_backward_needs_a_right_forward_and_keeps_dout():
    fails_with(lambda f: check_dropout_backward(lambda x, p, rng: _dropout(x, p, rng, scale="none"), f), do_backward,
               "dropout_forward is not right yet", "check_dropout_forward")

    def in_place(dout, mask):
        dout *= mask
        return dout
    fails_with(lambda f: check_dropout_backward(_dropout, f), in_place, "changed its argument `dout` in place")


def test_checks_run_the_learner_with_cnnlib_locked_out():
    def calls_cnnlib(x, gamma, beta, eps):
        from cnnlib import ops
        ops.relu_forward(x)
        return _bn(x, gamma, beta, eps)
    fails_with(check_batchnorm_forward, calls_cnnlib, "your function called cnnlib.ops.relu_forward")


def test_passing_lines(capsys):
    out = passes(check_dropout_forward, do_forward, capsys, "dropout_forward")
    assert "p = 0 and float32 included" in out
    out = passes(check_batchnorm_forward, bn_forward, capsys, "batchnorm_forward")
    assert "variance 0" in out

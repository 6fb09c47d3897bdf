"""Checks of my_cnn.py's functions (issue 10 item 2): the teacher's solutions pass on the visible and
hidden cases, stubs say "not written yet", each planted mistake fails with its own words, calls into
cnnlib and endless loops are stopped, in-place edits are caught; check_my_net names the layer and
gradient of a planted bug."""
import importlib.util
import pathlib
import time
import types

import numpy as np
import pytest

import cnnlib.ops
from check_helpers import fails_with
from cnnlib.explore.checks import (check_adam_step, check_conv2d_backward, check_conv2d_forward, check_linear_backward,
                                   check_linear_forward, check_maxpool_backward, check_maxpool_forward,
                                   check_momentum_step, check_my_net, check_relu_backward, check_relu_forward,
                                   check_sgd_momentum_step, check_softmax_cross_entropy)
from cnnlib.explore.checks import _runner
from cnnlib.explore.checks._compare import not_a_tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_my_cnn():
    spec = importlib.util.spec_from_file_location("my_cnn_teacher", ROOT / "notebooks" / "my_cnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


my_cnn = _load_my_cnn()

# check -> the teacher's function it checks
CHECKS = {check_conv2d_forward: "conv2d_forward", check_conv2d_backward: "conv2d_backward",
          check_maxpool_forward: "maxpool_forward", check_maxpool_backward: "maxpool_backward",
          check_relu_forward: "relu_forward", check_relu_backward: "relu_backward",
          check_linear_forward: "linear_forward", check_linear_backward: "linear_backward",
          check_softmax_cross_entropy: "softmax_cross_entropy", check_sgd_momentum_step: "sgd_momentum_step",
          check_adam_step: "adam_step"}
IDS = list(CHECKS.values())


def with_seed(check, seed):
    return lambda fn: check(fn, seed=seed)


# ----------------------------------------------------------------------------- every check

@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_teacher_solution_passes_visible_and_hidden_cases(check, capsys):
    fn = getattr(my_cnn, CHECKS[check])
    check(fn)
    for seed in (0, 1, 2, 7, 12345):
        check(fn, seed=seed)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all(line.startswith("✓") for line in lines), lines
    assert "hidden" not in lines[0] and all("hidden" in line for line in lines[1:]), lines


@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_stub_says_not_written_yet(check):
    def stub(*args):
        raise NotImplementedError("Exercise: write your code here")
    fails_with(check, stub, "not written yet")
    fails_with(with_seed(check, 3), stub, "not written yet")


@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_verdicts_name_the_function_of_my_cnn(check, capsys):
    """"✓ relu_backward: ..." and "✗ relu_backward: ...": the name the learner writes, not "ReLU backward"."""
    name = CHECKS[check]
    check(getattr(my_cnn, name))
    assert capsys.readouterr().out.startswith(f"✓ {name}: ")

    def stub(*args):
        raise NotImplementedError
    assert fails_with(check, stub).startswith(f"✗ {name}: not written yet")


@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_hidden_seeds_draw_other_cases(check):
    """The first input the function sees differs between the lesson's cases and each hidden seed,
    and the same seed gives the same cases."""
    teacher = getattr(my_cnn, CHECKS[check])

    def first_input(seed):
        seen = []

        def recorder(*args):
            seen.append([np.array(a, copy=True) for a in args if isinstance(a, np.ndarray)])
            return teacher(*args)
        check(recorder, seed=seed)
        return seen

    visible, hidden_a, hidden_b, again = first_input(None), first_input(5), first_input(6), first_input(5)
    assert len(visible) > 1

    def same(a, b):
        return len(a) == len(b) and all(len(x) == len(y) and all(u.shape == v.shape and np.array_equal(u, v)
                                                                 for u, v in zip(x, y)) for x, y in zip(a, b))
    assert not same(visible, hidden_a) and not same(hidden_a, hidden_b)
    assert same(hidden_a, again)


@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_a_function_that_calls_cnnlib_fails_saying_so(check):
    teacher = getattr(my_cnn, CHECKS[check])

    def delegates(*args):
        cnnlib.ops.relu_forward(np.zeros(2))
        return teacher(*args)
    fails_with(check, delegates, "your function called cnnlib.ops.relu_forward: write it yourself with NumPy")


@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_an_endless_loop_is_stopped(check, monkeypatch):
    monkeypatch.setattr(_runner, "TIME_LIMIT_SECONDS", 0.3)

    def endless(*args):
        while True:
            pass
    start = time.monotonic()
    fails_with(check, endless, "ran for more than 0.3 s", "loop that never ends")
    assert time.monotonic() - start < 15      # stopped, not endless (loose: the machine may be busy)


@pytest.mark.parametrize("check", CHECKS, ids=IDS)
def test_writing_into_an_argument_is_caught(check):
    teacher = getattr(my_cnn, CHECKS[check])

    def scribbles(*args):
        result = teacher(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        args[0][...] = 7        # every function's first argument is an array
        return result
    fails_with(check, scribbles, "in place")


def test_the_old_momentum_name_is_the_same_check():
    assert check_momentum_step is check_sgd_momentum_step


@pytest.mark.parametrize("check", [check_conv2d_backward, check_softmax_cross_entropy, check_adam_step,
                                   check_conv2d_forward, check_maxpool_backward], ids=lambda check: check.__name__)
def test_float32_must_stay_float32(check):
    teacher = getattr(my_cnn, CHECKS[check])

    def widens(*args):
        result = teacher(*[a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == np.float32 else a
                           for a in args])
        return result
    fails_with(check, widens, "is a float64 array", "the inputs are float32", "float32 in, float32 out")


def widened(fn):
    """``fn`` computing in float64 whatever it is given: float32 in, float64 out."""
    return lambda *args: fn(*[a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype == np.float32 else a
                              for a in args])


@pytest.mark.parametrize("check, start", [
    (check_conv2d_forward, "np.zeros((N, F, H_out, W_out), dtype=x.dtype)"),
    (check_maxpool_forward, "np.zeros((N, C, H_out, W_out), dtype=x.dtype)"),
    (check_maxpool_backward, "np.zeros_like(x)"),
    (check_softmax_cross_entropy, "np.zeros_like(logits)"),
    (check_adam_step, "np.zeros_like(m)"),
], ids=lambda item: getattr(item, "__name__", None))
def test_a_float64_result_is_told_what_to_start_from(check, start):
    """np.zeros_like(x) is the advice only where the result has x's shape; a result of a new shape is
    told np.zeros(its shape, dtype=x.dtype)."""
    message = fails_with(check, widened(getattr(my_cnn, CHECKS[check])), "is a float64 array", f"Start from {start} ")
    if start != "np.zeros_like(x)":
        assert "np.zeros_like(x)" not in message


@pytest.mark.parametrize("check, fn", [
    (check_conv2d_forward, lambda x, w, b, stride=1, padding=0: (my_cnn.conv2d_forward(x, w, b, stride, padding),
                                                                 (x, w, b, stride, padding))),
    (check_maxpool_forward, lambda x, k, stride: (my_cnn.maxpool_forward(x, k, stride), {"x": x, "k": k})),
    (check_relu_forward, lambda x: (my_cnn.relu_forward(x), x)),      # same shapes: np.asarray makes (2, ...)
    (check_relu_backward, lambda dout, x: (my_cnn.relu_backward(dout, x), x > 0)),
], ids=lambda item: getattr(item, "__name__", None))
def test_a_forward_pass_that_returns_out_and_a_cache_is_told_to_return_the_array(check, fn):
    fails_with(check, fn, "returned a tuple of 2 items", "Return only the output array, not (out, cache)")


def test_a_nested_list_of_the_right_shape_is_not_called_a_tuple():
    assert not_a_tuple("demo", [[1.0, 2.0], [3.0, 4.0]], (2, 2)) is None
    assert not_a_tuple("demo", ([1.0, 2.0], [3.0, 4.0]), (2, 2)) is None
    assert not_a_tuple("demo", (np.zeros((2, 2)), np.zeros(3)), (2, 3)) is None      # first item the wrong shape
    with pytest.raises(AssertionError, match="not \\(dx, cache\\)"):
        not_a_tuple("demo", (np.zeros((2, 2)), np.zeros(3)), (2, 2), what="dx")


def test_one_wrong_value_is_counted_in_the_singular():
    def one_off(x, w, b, stride=1, padding=0):
        out = my_cnn.conv2d_forward(x, w, b, stride, padding).copy()
        out[0, 0, 0, 0] += 1
        return out
    fails_with(check_conv2d_forward, one_off, "(1 of 9 values differs)")


def test_a_float32_value_that_prints_the_same_shows_the_digits_that_differ():
    def off_a_little(x, w, b, stride=1, padding=0):
        out = my_cnn.conv2d_forward(x, w, b, stride, padding)
        if out.dtype == np.float32:
            out = out.copy()
            out[0, 0, 0, 0] *= np.float32(1.001)
        return out
    message = fails_with(check_conv2d_forward, off_a_little, "float32", "the output is wrong at index (0, 0, 0, 0)")
    got, expected = message.split("got ")[1].split(", expected ")
    assert got.split()[0] != expected.split()[0].rstrip("(")


# ----------------------------------------------------------------------------- conv2d
def conv_forward(x, w, b, stride=1, padding=0):
    return my_cnn.conv2d_forward(x, w, b, stride, padding)


@pytest.mark.parametrize("fn, words", [
    (lambda x, w, b, stride=1, padding=0: conv_forward(x, w[:, :, ::-1, ::-1].copy(), b, stride, padding), "flipped"),
    (lambda x, w, b, stride=1, padding=0: conv_forward(x, w, 0 * b, stride, padding), "the bias is missing"),
    (lambda x, w, b, stride=1, padding=0: conv_forward(x, w, b, stride, 0), "the padding is ignored"),
    (lambda x, w, b, stride=1, padding=0: conv_forward(x, w, b, 1, padding), "the stride is ignored"),
    (lambda x, w, b, stride=1, padding=0: conv_forward(x, w.transpose(0, 1, 3, 2).copy(), b, stride, padding),
     "kernel transposed"),
])
def test_conv2d_forward_names_the_mistake(fn, words):
    fails_with(check_conv2d_forward, fn, "✗ conv2d_forward:", words)


LESSON_4_BROADCAST = "use keepdims=True, so that an (N, Q) batch divided by its row sums"


def test_conv2d_forward_windows_cut_short_are_told_to_pad_x_first():
    """Windows sliced from the unpadded x are cut short at the edge and do not broadcast with the kernel."""
    def unpadded(x, w, b, stride=1, padding=0):
        F, C, KH, KW = w.shape
        N, _, H, W = x.shape
        H_out, W_out = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
        out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)
        for i in range(H_out):
            for j in range(W_out):
                window = x[:, None, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                out[:, :, i, j] = (window * w).sum(axis=(2, 3, 4)) + b
        return out
    message = fails_with(check_conv2d_forward, unpadded, "raised ValueError", "padding 1",
                         "pad x first with np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))",
                         "slice the windows from the padded array")
    assert LESSON_4_BROADCAST not in message


def test_conv2d_backward_broadcast_error_gets_the_window_words():
    def unpadded(dout, x, w, stride=1, padding=0):
        dx = np.zeros_like(x)
        KH, KW = w.shape[2:]
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                dx[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW] += np.einsum(
                    "nf,fcpq->ncpq", dout[:, :, i, j], w)
        return my_cnn.conv2d_backward(dout, x, w, stride, padding)
    message = fails_with(check_conv2d_backward, unpadded, "raised ValueError", "pad x first", "dx_padded[:, :, "
                         "i*stride:i*stride + KH, j*stride:j*stride + KW]", "crop the padding")
    assert LESSON_4_BROADCAST not in message


def conv_backward(dout, x, w, stride=1, padding=0, *, bug=None):
    """The teacher's conv2d_backward, with a bug planted on request."""
    F, C, KH, KW = w.shape
    H_out, W_out = dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(x_pad, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]
    db = dout.sum(axis=(0, 2, 3))
    dw = np.tensordot(dout, windows, axes=([0, 2, 3], [0, 2, 3]))
    if bug == "dw last image":
        dw = np.tensordot(dout[-1:], windows[-1:], axes=([0, 2, 3], [0, 2, 3]))
    if bug == "db per image":
        db = dout.sum(axis=(2, 3))
    dout_dx = dout
    if bug == "dout off by one":
        dout_dx = np.zeros_like(dout)
        dout_dx[:, :, :-1] = dout[:, :, 1:]
    step = 1 if bug == "no stride" else stride
    dx_pad = np.zeros_like(x_pad)
    for p in range(KH):
        for q in range(KW):
            kernel = w[:, :, q, p] if bug == "transposed" else w[:, :, KH - 1 - p, KW - 1 - q] if bug == "flipped" \
                else w[:, :, p, q]
            back = np.tensordot(dout_dx, kernel, axes=([1], [0]))
            dx_pad[:, :, p:p + step * H_out:step, q:q + step * W_out:step] += back.transpose(0, 3, 1, 2)
    if bug == "not cropped":
        return dx_pad, dw, db
    dx = dx_pad[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]]
    return dx, dw, db


def planted(bug):
    def fn(dout, x, w, stride=1, padding=0):
        return conv_backward(dout, x, w, stride, padding, bug=bug)
    return fn


def test_the_conv_backward_helper_is_right_without_a_bug(capsys):
    check_conv2d_backward(planted(None))
    assert capsys.readouterr().out.startswith("✓ conv2d_backward")


@pytest.mark.parametrize("bug, words", [
    ("transposed", ["dx is wrong (dw and db are right)", "kernel transposed", "w[f, c, q, p]"]),
    ("flipped", ["dx is wrong (dw and db are right)", "flipped in both directions"]),
    ("no stride", ["dx is wrong (dw and db are right)", "the stride (2) is ignored"]),
    ("not cropped", ["dx is wrong (dw and db are right)", "dx still has the padding", "crop 1 row and 1 column "]),
    ("dout off by one", ["dx is wrong (dw and db are right)", "off-by-one slice or range of dout"]),
    ("dw last image", ["dw is wrong (dx and db are right)", "last image only"]),
    ("db per image", ["db is wrong (dx and dw are right)", "not summed over the batch"]),
])
def test_conv2d_backward_names_the_gradient_and_the_mistake(bug, words):
    fails_with(check_conv2d_backward, planted(bug), "✗ conv2d_backward:", *words)


def test_conv2d_backward_planted_bugs_fail_the_hidden_cases_too():
    for bug in ("transposed", "dout off by one", "no stride"):
        fails_with(with_seed(check_conv2d_backward, 4), planted(bug), "dx is wrong")


def test_conv2d_backward_names_the_first_wrong_value_of_an_unknown_mistake():
    def slightly_off(dout, x, w, stride=1, padding=0):
        dx, dw, db = my_cnn.conv2d_backward(dout, x, w, stride, padding)
        return dx, dw + 0.01, db
    fails_with(check_conv2d_backward, slightly_off, "dw is wrong at index (0, 0, 0, 0)")


def test_conv2d_backward_wants_three_gradients():
    fails_with(check_conv2d_backward, lambda dout, x, w, stride=1, padding=0:
               my_cnn.conv2d_backward(dout, x, w, stride, padding)[:2], "(dx, dw, db)")


# ----------------------------------------------------------------------------- pooling

def test_maxpool_forward_names_the_average():
    def average(x, k, stride):
        return cnnlib_free_avg(x, k, stride)
    fails_with(check_maxpool_forward, average, "the average of each window")


def cnnlib_free_avg(x, k, stride):
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.mean(axis=(4, 5))


def test_maxpool_forward_broadcast_error_gets_the_window_and_the_output_size():
    def too_many_windows(x, k, stride):       # H // stride windows: the last ones are cut short
        H_out, W_out = x.shape[2] // stride, x.shape[3] // stride
        out = x[:, :, :stride * H_out:stride, :stride * W_out:stride]
        for p in range(k):
            for q in range(k):
                out = np.maximum(out, x[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride])
        return out
    message = fails_with(check_maxpool_forward, too_many_windows, "raised ValueError",
                         "a window is x[:, :, i*stride:i*stride + k, j*stride:j*stride + k]",
                         "check your output size, (H - k)//stride + 1")
    assert LESSON_4_BROADCAST not in message


def test_maxpool_backward_broadcast_error_gets_the_window_and_its_dout():
    def dout_without_axes(dout, x, k, stride):
        dx = np.zeros_like(x)
        for i, j in np.ndindex(*dout.shape[2:]):
            rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
            window = x[:, :, rows, cols]
            dx[:, :, rows, cols] += (window == window.max(axis=(2, 3), keepdims=True)) * dout[:, :, i, j]
        return dx
    message = fails_with(check_maxpool_backward, dout_without_axes, "raised ValueError",
                         "its gradient is dout[:, :, i, j]", "dout[:, :, i:i + 1, j:j + 1]")
    assert LESSON_4_BROADCAST not in message


def test_a_broadcast_error_elsewhere_gets_the_plain_words():
    def m_as_a_column(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        return my_cnn.adam_step(param, grad, m[..., None] + m[:1], v, t, lr, beta1, beta2, eps)
    message = fails_with(check_adam_step, m_as_a_column, "raised ValueError", "shapes do not line up",
                         "compare them with the shapes in your function's docstring")
    assert LESSON_4_BROADCAST not in message


def test_maxpool_forward_names_a_stride_of_k():
    fails_with(check_maxpool_forward, lambda x, k, stride: my_cnn.maxpool_forward(x, k, k), "instead of stride")


def test_maxpool_backward_names_the_last_maximum():
    def last_max(dout, x, k, stride):
        N, C, H_out, W_out = dout.shape
        dx = np.zeros_like(x)
        for n, c, i, j in np.ndindex(N, C, H_out, W_out):
            window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
            best = k * k - 1 - int(np.argmax(window.ravel()[::-1]))
            p, q = divmod(best, k)
            dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
        return dx
    fails_with(check_maxpool_backward, last_max, "the LAST of them", "FIRST maximum")


@pytest.mark.parametrize("seed", [None, 2])
def test_maxpool_backward_names_stride_ties_and_overwrite(seed):
    def every_tie(dout, x, k, stride):
        dx = np.zeros_like(x)
        for i, j in np.ndindex(*dout.shape[2:]):
            rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
            window = x[:, :, rows, cols]
            dx[:, :, rows, cols] += (window == window.max(axis=(2, 3), keepdims=True)) * dout[:, :, i:i + 1, j:j + 1]
        return dx

    def loop(dout, x, k, stride, *, stride_in_dx=True, add=True):
        dx = np.zeros_like(x)
        for n, c, i, j in np.ndindex(*dout.shape):
            window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
            p, q = divmod(int(np.argmax(window)), k)
            s = stride if stride_in_dx else 1
            if add:
                dx[n, c, i * s + p, j * s + q] += dout[n, c, i, j]
            else:
                dx[n, c, i * s + p, j * s + q] = dout[n, c, i, j]
        return dx
    check = with_seed(check_maxpool_backward, seed)
    fails_with(check, every_tie, "ALL of them")
    fails_with(check, lambda dout, x, k, stride: loop(dout, x, k, stride, stride_in_dx=False), "forgotten stride")
    fails_with(check, lambda dout, x, k, stride: loop(dout, x, k, stride, add=False), "`+=`")


# ----------------------------------------------------------------------------- ReLU and Linear

def test_relu_forward_names_the_mask():
    fails_with(check_relu_forward, lambda x: (x > 0).astype(x.dtype), "the mask")


def test_relu_forward_in_place():
    def in_place(x):
        np.maximum(x, 0, out=x)
        return x
    fails_with(check_relu_forward, in_place, "changed its argument `x` in place")


def test_linear_forward_names_the_missing_bias():
    fails_with(check_linear_forward, lambda x, w, b: x @ w, "the bias is missing")


@pytest.mark.parametrize("fn, words", [
    (lambda dout, x, w: (dout @ w.T, dout.T @ x, dout.sum(axis=0)),
     ["dw is wrong (dx and db are right)", "dw is transposed", "dout.T @ x"]),
    (lambda dout, x, w: (dout @ w.T, x.T @ dout, dout),
     ["db is wrong (dx and dw are right)", "not summed over the batch"]),
    (lambda dout, x, w: (dout @ w.T, x.T @ dout, dout.mean(axis=0)), ["db is wrong", "the mean over the batch"]),
])
def test_linear_backward_names_the_gradient_and_the_mistake(fn, words):
    fails_with(check_linear_backward, fn, "✗ linear_backward:", *words)


# ----------------------------------------------------------------------------- softmax cross-entropy

def _p(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_softmax_cross_entropy_names_the_mistakes():
    def not_divided(logits, labels):
        loss, grad = my_cnn.softmax_cross_entropy(logits, labels)
        return loss, grad * len(labels)

    def unstable(logits, labels):
        e = np.exp(logits)
        p = e / e.sum(axis=1, keepdims=True)
        N = len(labels)
        t = np.eye(logits.shape[1])[labels]
        return float(-np.log(p[np.arange(N), labels]).mean()), ((p - t) / N).astype(logits.dtype)

    def probabilities(logits, labels):
        loss, _ = my_cnn.softmax_cross_entropy(logits, labels)
        return loss, _p(logits).astype(logits.dtype)

    def summed_loss(logits, labels):
        loss, grad = my_cnn.softmax_cross_entropy(logits, labels)
        return loss * len(labels), grad
    fails_with(check_softmax_cross_entropy, not_divided, "dlogits is wrong (the loss is right)", "times too big")
    fails_with(check_softmax_cross_entropy, unstable, "exp(1000) overflows", "Subtract each row's maximum")
    fails_with(check_softmax_cross_entropy, probabilities, "dlogits is p, the probabilities")
    fails_with(check_softmax_cross_entropy, summed_loss, "the loss is wrong (dlogits is right)", "the mean")


LOG_SOFTMAX_FIX = ("Compute the log-probabilities directly, log_softmax = z - max - log(sum(exp(z - max))) row by "
                   "row, and take the loss from them; never take the log of a probability that can underflow to 0")


def _loss_from_p(logits, labels, *, eps=0.0):
    """The max trick for p, then the loss as -log(p[label] + eps): right until p[label] underflows to 0."""
    p = _p(logits)
    N = len(labels)
    t = np.eye(logits.shape[1])[labels]
    return float(-np.log(p[np.arange(N), labels] + eps).mean()), ((p - t) / N).astype(logits.dtype)


@pytest.mark.parametrize("seed", [None, 0, 3, 99])
def test_softmax_cross_entropy_a_log_of_p_fails_where_p_underflows(seed):
    """Huge logits whose labels' probabilities underflow: -log(p[label]) is inf, the right loss about 1000."""
    check = with_seed(check_softmax_cross_entropy, seed)
    fails_with(check, _loss_from_p, "the loss is inf", "huge logits", "underflows to 0", "log(0) is -inf",
               LOG_SOFTMAX_FIX)
    fails_with(check, lambda logits, labels: _loss_from_p(logits, labels, eps=1e-12), "the loss is 27.6",
               "cut off far too low", LOG_SOFTMAX_FIX)


def test_softmax_cross_entropy_passes_a_stable_log_softmax_written_another_way(capsys):
    def log_sum_exp(logits, labels):
        N = len(labels)
        m = logits.max(axis=1)
        lse = m + np.log(np.exp(logits - m[:, None]).sum(axis=1))          # log(sum(exp(z))), stably
        loss = (lse - logits[np.arange(N), labels]).mean()
        dlogits = np.exp(logits - lse[:, None])
        dlogits[np.arange(N), labels] -= 1
        return float(loss), dlogits / N
    check_softmax_cross_entropy(log_sum_exp)
    check_softmax_cross_entropy(log_sum_exp, seed=5)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("✓ softmax_cross_entropy:") for line in lines), lines


def test_softmax_cross_entropy_broadcast_error_keeps_lesson_4s_words():
    def no_keepdims(logits, labels):
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        e / e.sum(axis=1)           # (N, Q) / (N,): fine for one example, an error for a batch
        return my_cnn.softmax_cross_entropy(logits, labels)
    fails_with(check_softmax_cross_entropy, no_keepdims, "raised ValueError", LESSON_4_BROADCAST)


# ----------------------------------------------------------------------------- optimisers

def test_sgd_momentum_step_names_sign_and_order():
    def uphill(param, grad, velocity, lr, momentum):
        velocity = momentum * velocity - lr * grad
        return param - velocity, velocity

    def momentum_after(param, grad, velocity, lr, momentum):
        return param + velocity, momentum * velocity - lr * grad
    fails_with(check_sgd_momentum_step, uphill, "uphill")
    fails_with(check_sgd_momentum_step, momentum_after, "old velocity")
    fails_with(with_seed(check_sgd_momentum_step, 3), uphill, "uphill")


def adam(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, *, bug=None):
    m_new = beta1 * m + (1 - beta1) * grad
    v_new = beta2 * v + (1 - beta2) * grad * grad
    if bug == "no (1 - beta1)":
        m_new = beta1 * m + grad
    if bug == "betas swapped":
        m_new = (1 - beta1) * m + beta1 * grad
    if bug == "no (1 - beta2)":
        v_new = beta2 * v + grad * grad
    if bug == "|grad|":
        v_new = beta2 * v + (1 - beta2) * np.abs(grad)
    tt = t + 1 if bug == "t+1" else t
    m_hat, v_hat = m_new / (1 - beta1 ** tt), v_new / (1 - beta2 ** tt)
    if bug == "no correction":
        m_hat, v_hat = m_new, v_new
    scale = v_hat + eps if bug == "no sqrt" else np.sqrt(v_hat) + eps
    param_new = param - lr * m_hat / scale
    if bug == "returns m_hat and v_hat":
        return param_new, m_hat, v_hat
    if bug == "returns v_hat":
        return param_new, m_new, v_hat
    return param_new, m_new, v_new


@pytest.mark.parametrize("bug, words", [("no correction", "no bias correction"), ("t+1", "uses t + 1"),
                                        ("no sqrt", "square root is missing")])
def test_adam_step_names_the_mistake(bug, words):
    def fn(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        return adam(param, grad, m, v, t, lr, beta1, beta2, eps, bug=bug)
    fails_with(check_adam_step, fn, "param_new is wrong (m_new and v_new are right)", words)
    fails_with(with_seed(check_adam_step, 8), fn, "param_new is wrong", words)


RAW_MOMENTS = "return the raw moments m and v; the bias-corrected m_hat and v_hat are only for the update"


@pytest.mark.parametrize("bug, words", [
    # At t = 1 (m = v = 0) m_hat equals the (1 - beta1) slip's m_new, and v_hat the (1 - beta2) slip's v_new:
    # a right param_new tells them apart.
    ("returns m_hat and v_hat", ["m_new is wrong (param_new is right)", "the bias-corrected m_hat", RAW_MOMENTS]),
    ("returns v_hat", ["v_new is wrong (m_new and param_new are right)", "the bias-corrected v_hat", RAW_MOMENTS]),
    ("no (1 - beta1)", ["m_new is wrong (v_new is right)", "the (1 - beta1) is missing"]),
    ("no (1 - beta2)", ["v_new is wrong (m_new is right)", "the (1 - beta2) is missing"]),
    ("betas swapped", ["m_new is wrong (v_new is right)", "beta1 and (1 - beta1) are swapped"]),
    ("|grad|", ["v_new is wrong (m_new is right)", "SQUARED gradient"]),
])
def test_adam_step_names_the_wrong_moment_and_the_mistake(bug, words):
    """A wrong moment is named before param_new (which is computed from it), with its own slip."""
    def fn(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        return adam(param, grad, m, v, t, lr, beta1, beta2, eps, bug=bug)
    first = fails_with(check_adam_step, fn, "step t=1", *words)
    hidden = fails_with(with_seed(check_adam_step, 8), fn, *words[1:])
    if "returns" not in bug:
        assert RAW_MOMENTS not in first + hidden
    else:
        assert "is missing" not in first + hidden


def test_seed_must_be_a_whole_number():
    with pytest.raises(ValueError, match="seed must be None"):
        check_adam_step(my_cnn.adam_step, seed=-1)
    with pytest.raises(ValueError, match="seed must be None"):
        check_conv2d_forward(my_cnn.conv2d_forward, seed=1.5)


# ----------------------------------------------------------------------------- the whole net

def learner(**replaced):
    """The teacher's my_cnn with some functions replaced."""
    functions = {name: getattr(my_cnn, name) for name in dir(my_cnn) if not name.startswith("_")}
    return types.SimpleNamespace(**{**functions, **replaced})


def test_my_net_passes_the_teacher_solution(capsys):
    check_my_net(my_cnn)
    check_my_net(my_cnn, seed=3)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("✓ my net:") for line in lines), lines


@pytest.mark.parametrize("bug", ["transposed", "dout off by one"])
def test_my_net_stops_the_planted_conv_backward_bugs(bug):
    message = fails_with(check_my_net, learner(conv2d_backward=planted(bug)), "conv2d_backward",
                         "layer 0, Conv2d(1→8, k=5", "(yours): dx is wrong", "relative error", "pass mark 1e-07")
    assert "layer 0" in message


def test_my_net_names_the_pool_layer_of_a_broken_maxpool_backward():
    fails_with(check_my_net, learner(maxpool_backward=_maxpool_backward_no_stride), "layer 2, MaxPool2d(k=2, stride=2) (yours)",
               "dx is wrong", "maxpool_backward")


def _maxpool_backward_no_stride(dout, x, k, stride):
    """Lesson 5's Bug 1: the gradient lands at i + p instead of i * stride + p."""
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dout.shape):
        window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
        p, q = divmod(int(np.argmax(window)), k)
        dx[n, c, i + p, j + q] += dout[n, c, i, j]
    return dx


def test_my_net_names_a_function_not_written_yet():
    def stub(*args):
        raise NotImplementedError
    fails_with(check_my_net, learner(conv2d_forward=stub), "layer 0, Conv2d(1→8", "conv2d_forward is not written "
                                                                                   "yet: lesson 2")
    fails_with(check_my_net, learner(linear_backward=stub), "linear_backward is not written yet: lesson 5")


def test_my_net_names_a_wrong_forward_pass_and_a_call_into_cnnlib():
    fails_with(check_my_net, learner(relu_forward=lambda x: np.abs(x)), "layer 1, ReLU() (yours)",
               "relu_forward", "forward pass is wrong")

    def delegating_linear(x, w, b):
        return cnnlib.ops.linear_forward(x, w, b)[0]
    fails_with(check_my_net, learner(linear_forward=delegating_linear), "your function called cnnlib.ops.linear_forward")

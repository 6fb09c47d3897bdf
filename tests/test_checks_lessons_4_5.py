"""The exercise checks of lessons 4-5: right answers pass, stubs and typical mistakes fail clearly."""
import numpy as np
import pytest

from cnnlib.checks import (CheckFailed, check_cross_entropy_grad, check_maxpool_backward,
                           check_relu_backward, check_softmax)


def stub(*args):
    raise NotImplementedError


def fails_with(check, fn, *phrases):
    """Run ``check(fn)``, expect CheckFailed, and return its message after checking the phrases."""
    with pytest.raises(CheckFailed) as info:
        check(fn)
    message = str(info.value)
    assert message.startswith("✗")
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"
    return message


# ----------------------------------------------------------------------------- softmax

def stable_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_passes_a_stable_softmax(capsys):
    assert check_softmax(stable_softmax) is None
    assert capsys.readouterr().out.startswith("✓ softmax")


def test_softmax_passes_the_log_sum_exp_form(capsys):
    def via_logsumexp(z):
        m = z.max(axis=-1, keepdims=True)
        return np.exp(z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))
    check_softmax(via_logsumexp)
    assert capsys.readouterr().out.startswith("✓ softmax")


def test_softmax_stub_is_not_written_yet():
    fails_with(check_softmax, stub, "not written yet")


def test_softmax_naive_overflows():
    def naive(z):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    message = fails_with(check_softmax, naive, "overflowed", "[10000, 10010, 10]", "Subtract")
    assert "nan" in message


def test_softmax_with_one_global_max_fails_on_rows_of_different_scales():
    def global_max(z):
        e = np.exp(z - z.max())
        return e / e.sum(axis=-1, keepdims=True)
    fails_with(check_softmax, global_max, "very different scales", "each row's maximum")


def test_softmax_normalised_over_the_wrong_axis():
    def columns(z):
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)
    fails_with(check_softmax, columns, "down the columns", "axis=-1")


def test_softmax_without_the_division():
    fails_with(check_softmax, lambda z: np.exp(z - z.max(axis=-1, keepdims=True)), "sum to", "not 1")


def test_softmax_that_writes_into_its_input():
    def in_place(z):
        z -= z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    fails_with(check_softmax, in_place, "changed its input")


def test_softmax_that_returns_nothing_or_a_wrong_shape():
    fails_with(check_softmax, lambda z: None, "return")
    fails_with(check_softmax, lambda z: stable_softmax(z).ravel()[:2], "shape")


def test_softmax_rejects_a_non_function():
    fails_with(check_softmax, 42, "expected a function")


# ----------------------------------------------------------------------------- cross-entropy gradient

def ce_grad(logits, labels):
    N = logits.shape[0]
    grad = stable_softmax(logits)
    grad[np.arange(N), labels] -= 1
    return grad / N


def test_cross_entropy_grad_passes_the_right_gradient(capsys):
    check_cross_entropy_grad(ce_grad)
    assert capsys.readouterr().out.startswith("✓ cross-entropy gradient")


def test_cross_entropy_grad_passes_a_onehot_version(capsys):
    def with_onehot(logits, labels):
        onehot = np.eye(logits.shape[1])[labels]
        return (stable_softmax(logits) - onehot) / len(labels)
    check_cross_entropy_grad(with_onehot)
    assert capsys.readouterr().out.startswith("✓ cross-entropy gradient")


def test_cross_entropy_grad_stub():
    fails_with(check_cross_entropy_grad, stub, "not written yet")


def test_cross_entropy_grad_without_the_mean():
    fails_with(check_cross_entropy_grad, lambda z, y: ce_grad(z, y) * len(y), "times too big", "MEAN",
               "divide by N")


def test_cross_entropy_grad_with_the_wrong_sign():
    fails_with(check_cross_entropy_grad, lambda z, y: -ce_grad(z, y), "wrong sign", "p - onehot")


def test_cross_entropy_grad_without_subtracting_the_onehot():
    fails_with(check_cross_entropy_grad, lambda z, y: stable_softmax(z) / len(y), "forgot to subtract 1")


def test_cross_entropy_grad_divided_by_every_entry():
    fails_with(check_cross_entropy_grad, lambda z, y: ce_grad(z, y) * len(y) / z.size, "N*C")


def test_cross_entropy_grad_indexing_every_row():
    def every_row(logits, labels):
        grad = stable_softmax(logits)
        grad[:, labels] -= 1
        return grad / len(labels)
    fails_with(check_cross_entropy_grad, every_row, "every row", "np.arange(N)")


def test_cross_entropy_grad_with_an_unstable_softmax():
    def unstable(logits, labels):
        e = np.exp(logits)
        p = e / e.sum(axis=1, keepdims=True)
        p[np.arange(len(labels)), labels] -= 1
        return p / len(labels)
    fails_with(check_cross_entropy_grad, unstable, "NaN or inf", "stable softmax")


# ----------------------------------------------------------------------------- ReLU backward

def test_relu_backward_passes_new_array_versions(capsys):
    check_relu_backward(lambda dout, x: np.where(x > 0, dout, 0.0))
    check_relu_backward(lambda dout, x: dout * (x > 0))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("✓ ReLU backward") for line in lines)


def test_relu_backward_stub():
    fails_with(check_relu_backward, stub, "not written yet")


def test_relu_backward_that_zeroes_dout_in_place():
    def in_place(dout, x):
        dout[x <= 0] = 0          # the classic tutorial line
        return dout
    message = fails_with(check_relu_backward, in_place, "changed dout in place", "new array",
                         "don't assign into dout")
    assert "np.where" not in message and "dout * (x > 0)" not in message     # no solution given away


def test_relu_backward_passing_the_gradient_at_zero():
    fails_with(check_relu_backward, lambda dout, x: np.where(x >= 0, dout, 0.0), "x == 0", "x > 0")


def test_relu_backward_typical_mix_ups():
    fails_with(check_relu_backward, lambda dout, x: (x > 0).astype(float), "mask itself")
    fails_with(check_relu_backward, lambda dout, x: np.where(dout > 0, dout, 0.0), "sign of dout")
    fails_with(check_relu_backward, lambda dout, x: np.maximum(x, 0), "forward output")
    fails_with(check_relu_backward, lambda dout, x: np.where(x > 0, 0.0, dout), "inverted")


def test_relu_backward_wrong_shape():
    fails_with(check_relu_backward, lambda dout, x: np.where(x > 0, dout, 0.0).ravel(), "shape")


# ----------------------------------------------------------------------------- max-pool backward

def maxpool_backward(dout, x, k, stride):
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
                    p, q = divmod(int(np.argmax(window)), k)
                    dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
    return dx


def test_maxpool_backward_passes_the_loop_version(capsys):
    assert check_maxpool_backward(maxpool_backward) is None
    assert capsys.readouterr().out.startswith("✓ max-pool backward")


def test_maxpool_backward_passes_cnnlib_itself(capsys):
    from cnnlib.ops import maxpool2d_backward, maxpool2d_forward

    def with_cnnlib(dout, x, k, stride):
        return maxpool2d_backward(dout, maxpool2d_forward(x, kernel_size=k, stride=stride)[1])
    check_maxpool_backward(with_cnnlib)
    assert capsys.readouterr().out.startswith("✓ max-pool backward")


def test_maxpool_backward_stub():
    fails_with(check_maxpool_backward, stub, "not written yet")


def test_maxpool_backward_giving_every_tie_the_gradient():
    def every_tie(dout, x, k, stride):
        N, C, H_out, W_out = dout.shape
        dx = np.zeros_like(x)
        for i in range(H_out):
            for j in range(W_out):
                rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
                window = x[:, :, rows, cols]
                mask = window == window.max(axis=(2, 3), keepdims=True)
                dx[:, :, rows, cols] += mask * dout[:, :, i:i + 1, j:j + 1]
        return dx
    fails_with(check_maxpool_backward, every_tie, "ALL of them", "first maximum")


def test_maxpool_backward_that_forgets_the_stride_is_named():
    def offset_typo(dout, x, k, stride):
        N, C, H_out, W_out = dout.shape
        dx = np.zeros_like(x)
        for n, c, i, j in np.ndindex(N, C, H_out, W_out):
            window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
            p, q = divmod(int(np.argmax(window)), k)
            dx[n, c, i + p, j + q] += dout[n, c, i, j]      # forgot "* stride"
        return dx
    fails_with(check_maxpool_backward, offset_typo, "i * stride + p", "Bug 1", "forgotten stride")


def test_maxpool_backward_that_ignores_the_stride_argument():
    def stride_is_k(dout, x, k, stride):     # right for stride == k, which is all a first try tests
        return maxpool_backward(dout, x, k, k)
    fails_with(check_maxpool_backward, stride_is_k, "overlap")


def test_maxpool_backward_that_overwrites_overlapping_windows():
    def overwrite(dout, x, k, stride):
        dx = np.zeros_like(x)
        for n, c, i, j in np.ndindex(*dout.shape):
            window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
            p, q = divmod(int(np.argmax(window)), k)
            dx[n, c, i * stride + p, j * stride + q] = dout[n, c, i, j]     # = instead of +=
        return dx
    fails_with(check_maxpool_backward, overwrite, "windows overlap", "`+=`")


def test_maxpool_backward_with_height_and_width_swapped():
    def swapped(dout, x, k, stride):
        N, C, W_out, H_out = dout.shape          # unpacked in the wrong order
        dx = np.zeros_like(x)
        for i in range(min(H_out, dout.shape[2])):
            for j in range(min(W_out, dout.shape[3])):
                window = x[:, :, i * stride:i * stride + k, j * stride:j * stride + k].reshape(N, C, -1)
                win = window.argmax(axis=2)
                for n in range(N):
                    for c in range(C):
                        p, q = divmod(int(win[n, c]), k)
                        dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
        return dx
    # Square cases pass; the first non-square one (6x8 after ReLU) exposes it.
    fails_with(check_maxpool_backward, swapped, "(2, 3, 6, 8)")


def test_maxpool_backward_that_writes_into_dout():
    def in_place(dout, x, k, stride):
        dx = maxpool_backward(dout, x, k, stride)
        dout *= 0
        return dx
    fails_with(check_maxpool_backward, in_place, "changed dout in place")


def test_maxpool_backward_that_raises_names_the_case_and_the_line():
    def broken(dout, x, k, stride):
        return x[10, 10, 10, 10]
    fails_with(check_maxpool_backward, broken, "IndexError", "(on one 4x4 image", "return x[10, 10, 10, 10]")


# ----------------------------------------------------------------------------- how failures look

def test_a_crash_names_the_case_and_hints_at_keepdims():
    def no_keepdims(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1)
    message = fails_with(check_softmax, no_keepdims, "ValueError", "(on a random batch of shape (5, 4))",
                         "axis=", "keepdims=True", "return e / e.sum(axis=-1)")
    assert message.index("(on a random batch") < message.index("keepdims=True")


def test_check_failed_renders_as_its_message_alone():
    with pytest.raises(CheckFailed) as info:
        check_softmax(stub)
    error = info.value
    assert isinstance(error, AssertionError)
    assert error._render_traceback_() == str(error).splitlines()
    assert error._render_traceback_()[0].startswith("✗ softmax: not written yet")
    assert error.__suppress_context__ and error.__cause__ is None     # no "During handling of ..." chain


def test_check_failed_in_ipython_shows_no_internals():
    """What a learner sees in a notebook: the plain-words lines, no frames from checks.py."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    shell = InteractiveShell.instance()
    shell.run_cell("from cnnlib.checks import check_relu_backward")
    with capture_output() as captured:
        shell.run_cell("def f(dout, x):\n    return dout[100]\ncheck_relu_backward(f)")
    shown = captured.stdout + captured.stderr
    assert "✗ ReLU backward: your function raised IndexError" in shown
    assert "checks.py" not in shown and "During handling" not in shown and "Traceback" not in shown

"""Checks on softmax and the cross-entropy gradient (lesson 4): right answers pass, mistakes fail clearly."""
import numpy as np
import pytest

from check_helpers import fails_with, not_written as stub, passes, stable_softmax
from cnnlib.explore.checks import CheckFailed, check_cross_entropy_grad, check_softmax


# ----------------------------------------------------------------------------- softmax

def test_softmax_passes_a_stable_softmax(capsys):
    passes(check_softmax, stable_softmax, capsys, "softmax")


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
    fails_with(check_cross_entropy_grad, lambda z, y: -ce_grad(z, y), "wrong sign", "p - t")


def test_cross_entropy_grad_without_subtracting_the_onehot():
    fails_with(check_cross_entropy_grad, lambda z, y: stable_softmax(z) / len(y), "forgot to subtract 1")


def test_cross_entropy_grad_divided_by_every_entry():
    fails_with(check_cross_entropy_grad, lambda z, y: ce_grad(z, y) * len(y) / z.size, "N*Q")


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
    """What a learner sees in a notebook: the plain-words lines, no frames from the checks."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    shell = InteractiveShell.instance()
    shell.run_cell("from cnnlib.explore.checks import check_relu_backward")
    with capture_output() as captured:
        shell.run_cell("def f(dout, x):\n    return dout[100]\ncheck_relu_backward(f)")
    shown = captured.stdout + captured.stderr
    assert "✗ relu_backward: your function raised IndexError" in shown
    assert "checks" + "/" not in shown and "_runner" not in shown
    assert "During handling" not in shown and "Traceback" not in shown

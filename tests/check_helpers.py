"""Helpers shared by the exercise checks' tests (tests/test_checks_*.py): how a check is
expected to pass or fail, a stub, and the right answers that more than one test file hands
to the checks."""
import numpy as np
import pytest

from cnnlib.explore.checks import CheckFailed


def not_written(*args):
    """A stub as the student edition has it."""
    raise NotImplementedError


def passes(check, fn, capsys, name):
    """Run ``check(fn)``; assert it returns None and prints a line starting with "✓ ``name``".
    Returns what it printed."""
    assert check(fn) is None
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {name}"), out
    return out


def fails_with(check, fn, *fragments):
    """Run ``check(fn)``; assert it fails, its message starts with "✗" and contains every fragment."""
    with pytest.raises(CheckFailed) as info:
        check(fn)
    message = str(info.value)
    assert message.startswith("✗"), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ---------------------------------------------------------------- right answers

def conv2d_single(image, kernel):
    """Lesson 2's exercise done right: (H, W) image, (KH, KW) kernel -> (H - KH + 1, W - KW + 1)."""
    H, W = image.shape
    KH, KW = kernel.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
    return out


def stable_softmax(z):
    """Lesson 4's exercise done right: softmax over the last axis, the max subtracted first."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

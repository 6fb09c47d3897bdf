"""Helpers shared by the exercise checks' tests (tests/test_checks_*.py)."""
import pytest

from cnnlib.explore.checks import CheckFailed


def not_written(*args):
    """A stub as the student edition has it."""
    raise NotImplementedError


def fails_with(check, fn, *fragments):
    """Run ``check(fn)``; assert it fails, its message starts with "✗" and contains every fragment."""
    with pytest.raises(CheckFailed) as info:
        check(fn)
    message = str(info.value)
    assert message.startswith("✗"), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message

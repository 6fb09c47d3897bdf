"""Exercise checks: run a learner's function on hidden cases and say in plain words what is wrong.

The contract
------------
* Each ``check_*`` function takes the learner's function (or answer), runs it against
  cnnlib's own reference on cases the learner does not see, and either prints one line
  starting with ``"✓"`` and returns True, or raises :class:`CheckFailed` whose message
  starts with ``"✗"`` and says what went wrong: not written yet, an exception, the wrong
  type, the wrong shape, or the first wrong value and where it is.
* Checks never modify the learner's inputs and never depend on global state; their
  hidden cases come from fixed seeds, so a check gives the same verdict everywhere.
"""
import numpy as np

__all__ = ["CheckFailed"]


class CheckFailed(AssertionError):
    """A learner's answer is not right yet; the message says why, in plain words."""


def _fail(exercise, message):
    raise CheckFailed(f"✗ {exercise}: {message}")


def _passed(exercise, detail):
    print(f"✓ {exercise}: {detail}")
    return True


def _call(exercise, fn, *args, **kwargs):
    """Call the learner's function, turning its exceptions into a plain-words verdict."""
    if not callable(fn):
        _fail(exercise, f"expected a function, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        _fail(exercise, "not written yet - replace the `raise NotImplementedError` line with your code")
    except CheckFailed:
        raise
    except Exception as e:
        _fail(exercise, f"your function raised {type(e).__name__}: {e}")


def _compare(exercise, got, expected, *, what="the result", rtol=1e-6, atol=1e-8, case=""):
    """Check type, shape and values of ``got`` against ``expected``; name the first difference."""
    where = f" ({case})" if case else ""
    expected = np.asarray(expected)
    if got is None:
        _fail(exercise, f"{what} is None{where} - did you forget to `return` it?")
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(exercise, f"{what} should be a NumPy array{where}, got {type(got).__name__}")
    if got.shape != expected.shape:
        _fail(exercise, f"{what} has shape {got.shape}{where}, expected {expected.shape}")
    if not np.isfinite(got).all():
        _fail(exercise, f"{what} contains NaN or infinity{where}")
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(exercise, f"{what} is wrong at index {idx}{where}: got {got[idx]:.6g}, expected "
                        f"{expected[idx]:.6g} ({int(bad.sum())} of {bad.size} values differ)")
    return True


# ============================================================================ lessons 1-3


# ============================================================================ lessons 4-5


# ============================================================================ lesson 6

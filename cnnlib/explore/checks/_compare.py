"""Comparing a learner's result with the reference, and printing numbers that show the difference.

May import: NumPy and :mod:`cnnlib.explore.checks._runner`.

The contract
------------
* :func:`as_result` turns the learner's result into a float64 array of the expected shape,
  or fails naming what it got instead (None, a non-array, a wrong shape, a tuple such as
  ``(out, cache)`` where one array belongs: :func:`not_a_tuple`).
* :func:`compare` fails at the first wrong value, naming its index, both values with
  enough significant digits to tell them apart (:func:`distinct`: a float32 answer never
  prints as "got 0.409883, expected 0.409883"), the dtypes when they differ, and the likely
  cause when there is one (decimals cut off by an int array or ``//``; float32 precision).
* :func:`fmt_array` prints an array for a message; given the value it should have had,
  it uses as many digits as it takes to show each difference.
"""
import numpy as np

from cnnlib.explore.checks._runner import count, fail

__all__ = ["as_result", "compare", "distinct", "dtype_of", "fmt_array", "inputs_unchanged", "integer_hint",
           "not_a_tuple"]

# Digits shown by default; more only when needed to tell two values apart.
_MIN_DIGITS = 6


def distinct(got, expected, min_digits=_MIN_DIGITS):
    """``got`` and ``expected`` as strings with the fewest significant digits (at least
    ``min_digits``) at which they differ.

    >>> distinct(0.4098829925060272, 0.40988298)
    ('0.40988299', '0.40988298')
    >>> distinct(2.0, 3.5)
    ('2', '3.5')
    """
    got, expected = float(got), float(expected)
    for digits in range(min_digits, 18):
        a, b = f"{got:.{digits}g}", f"{expected:.{digits}g}"
        if a != b:
            return a, b
    return repr(got), repr(expected)


def fmt_array(values, should_be=None):
    """``values`` as a one-line array for a message.

    With ``should_be`` (an array or a number it broadcasts against), each value that
    differs from it gets enough digits to show that it differs.

    >>> fmt_array([0.25, 0.75])
    '[0.25, 0.75]'
    >>> fmt_array([1.0000001, 1.0], should_be=1.0)
    '[1.0000001, 1]'
    """
    values = np.asarray(values, dtype=np.float64)
    digits = 4
    if should_be is not None:
        target = np.broadcast_to(np.asarray(should_be, dtype=np.float64), values.shape)
        for v, t in zip(values.ravel(), target.ravel()):
            while np.isfinite(v) and np.isfinite(t) and digits < 17 and f"{v:.{digits}g}" == f"{t:.{digits}g}" \
                    and v != t:
                digits += 1
    return np.array2string(values, separator=", ", max_line_width=10_000,
                           formatter={"float_kind": lambda v: f"{v:.{digits}g}"})


def dtype_of(result):
    """The dtype the learner's result has as an array, or None if it is not array-like."""
    try:
        return np.asarray(result).dtype
    except (TypeError, ValueError):
        return None


def integer_hint(dtype, got, expected):
    """A sentence when ``got`` looks like ``expected`` with its decimals cut off, else "".

    That is: ``got`` holds whole numbers (an int array, or floats from ``//``,
    ``np.floor``, ...), each within 1 of the expected value, and ``expected`` does not.
    """
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape or np.array_equal(expected, np.round(expected)):
        return ""
    if not (np.array_equal(got, np.round(got)) and np.all(np.abs(got - expected) <= 1 + 1e-9)):
        return ""
    if dtype is not None and (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)):
        return (f"your result is an int array ({dtype}): its values are all whole numbers, every decimal cut "
                "off. Look for a cast (.astype(int)), an array made with dtype=int (np.zeros(shape, dtype=int), "
                "or np.zeros_like() of an int array) or integer division (//), and make it a float array")
    return ("your values are all whole numbers, as if the decimals were cut off: look for integer division "
            "(// instead of /), np.floor or np.round, or an int array you stored the values in")


def not_a_tuple(exercise, got, expected_shape, case="", *, what="the result"):
    """Fail when the learner returned a tuple or list, such as ``(out, cache)``, where one array belongs.

    That is: ``got`` is a tuple or list of two or more items, it is not itself an array of
    the expected shape, and its first item has that shape (cnnlib's own ops return
    ``(out, cache)``, and a learner may copy that).
    """
    if not isinstance(got, (tuple, list)) or len(got) < 2:
        return
    try:
        if np.shape(got[0]) != tuple(expected_shape):
            return
    except ValueError:          # a ragged first item
        return
    try:
        if np.shape(got) == tuple(expected_shape):
            return              # a nested list of numbers of the right shape: as_result takes it
    except ValueError:          # items of different shapes: certainly not one array
        pass
    where = f" ({case})" if case else ""
    one = "the output array" if what in ("the result", "the output") else what
    name = "out" if what in ("the result", "the output") else what
    fail(exercise, f"your function returned a {type(got).__name__} of {count(len(got), 'item')}{where}, where one "
                   f"array is expected; its first item has the right shape. Return only {one}, not ({name}, cache): "
                   "the exercise keeps no cache")


def as_result(exercise, got, expected_shape, case="", *, what="the result"):
    """The learner's result as a float64 array of the expected shape, or a plain-words failure."""
    where = f" ({case})" if case else ""
    if got is None:
        fail(exercise, f"your function returned None{where} - did you forget to `return` {what}?")
    not_a_tuple(exercise, got, expected_shape, case, what=what)
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        fail(exercise, f"{what} should be a NumPy array{where}, got {type(got).__name__}")
    if got.shape != tuple(expected_shape):
        fail(exercise, f"{what} has shape {got.shape}{where}, expected {tuple(expected_shape)}")
    return got


def _precision_hint(dtype, got, expected, atol):
    """A sentence when a float32 (or float16) result is right up to that type's precision."""
    if dtype is None or not np.issubdtype(dtype, np.floating) or np.finfo(dtype).eps <= np.finfo(np.float64).eps:
        return ""
    eps = float(np.finfo(dtype).eps)
    if not np.allclose(got, expected, rtol=20 * eps, atol=max(atol, 20 * eps * np.abs(expected).max())):
        return ""
    digits = round(-np.log10(eps))
    return (f"; your values are right to about {digits} significant digits, all that a {dtype} holds, and the "
            f"check wants float64 (about 16 digits): look for dtype=np.{dtype}, .astype(np.{dtype}) or a "
            f"{dtype} array you started from, and compute in float64")


def compare(exercise, got, expected, *, what="the result", rtol=1e-6, atol=1e-8, case=""):
    """Check type, shape and values of the learner's ``got`` against ``expected``; name the first difference.

    ``got`` is the learner's result as returned (its dtype is part of the diagnosis).
    """
    where = f" ({case})" if case else ""
    expected = np.asarray(expected)
    dtype = dtype_of(got)
    got = as_result(exercise, got, expected.shape, case, what=what)
    if not np.isfinite(got).all():
        fail(exercise, f"{what} contains NaN or infinity{where}")
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    if not bad.any():
        return True
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    shown_got, shown_expected = distinct(got[idx], expected[idx])
    n_bad = int(bad.sum())
    message = (f"{what} is wrong at index {idx}{where}: got {shown_got}, expected {shown_expected} "
               f"({n_bad} of {count(bad.size, 'value')} {'differs' if n_bad == 1 else 'differ'})")
    if dtype is not None and dtype != expected.dtype:
        message += f"; your array is {dtype}, the expected one {expected.dtype}"
    hint = integer_hint(dtype, got, expected)
    if hint:
        message += "; " + hint
    else:
        message += _precision_hint(dtype, got, expected, atol)
    fail(exercise, message)


def inputs_unchanged(exercise, originals, given, case):
    """Fail when the learner's function wrote into one of its arguments."""
    for name, original, now in zip(("first", "second", "third", "fourth"), originals, given):
        if not np.array_equal(original, now):
            fail(exercise, f"your function changed its {name} argument ({case}); build a new output "
                           "array instead of writing into the input")

"""What the checks of my_cnn.py share: visible and hidden cases, and judging a result made of parts.

May import: NumPy and the checks' own ``_runner`` and ``_compare``.

The contract
------------
* :func:`case_rng` gives the random generator a check draws its cases from: with
  ``seed=None`` the fixed one the lesson's check cell runs (the visible cases), with an
  int a different stream for that seed (a teacher's hidden tests), so a function that
  hard-codes the visible answers fails there.
* :func:`unchanged` fails, naming the argument, when the learner's function wrote into it.
* :func:`judge` compares a result made of named parts (``dx, dw, db``; ``loss, dlogits``)
  with the reference. It looks at every part first, then fails on the first wrong one,
  saying which parts are right; a wrong part is compared with deliberately wrong versions
  (the typical slips) and, when it matches one, the message names that slip. A float32
  case wants float32 parts, right to float32 precision.
"""
import numpy as np

from cnnlib.explore.checks._compare import as_result, compare, dtype_of, not_a_tuple
from cnnlib.explore.checks._runner import fail

__all__ = ["Part", "case_rng", "judge", "tolerances", "unchanged"]


def case_rng(seed, visible_seed):
    """The generator a check draws its cases from.

    Parameters
    ----------
    seed : None or int >= 0
        None: the visible cases (``default_rng(visible_seed)``). An int: a stream of its own
        (``default_rng([seed, visible_seed])``), never the visible one, even for
        ``seed == visible_seed``.
    visible_seed : int
        The check's own fixed seed.

    >>> a = case_rng(None, 7).random(); b = case_rng(7, 7).random(); a == b
    False
    """
    if seed is None:
        return np.random.default_rng(visible_seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be None (the lesson's cases) or an int >= 0 (hidden cases), got {seed!r}")
    return np.random.default_rng([int(seed), visible_seed])


def tolerances(dtype, scale=1.0):
    """``(rtol, atol)`` for a result computed from inputs of ``dtype``; ``scale``: the size of the values."""
    scale = max(float(scale), 1.0)
    if np.dtype(dtype) == np.float32:
        return 2e-4, 2e-5 * scale
    return 1e-7, 1e-10 * scale


def unchanged(exercise, named, case):
    """Fail when an argument changed: ``named`` is a list of ``(name, before, after)``."""
    for name, before, after in named:
        if not np.array_equal(np.asarray(before), np.asarray(after)):
            fail(exercise, f"your function changed its argument `{name}` in place ({case}); leave the "
                           "arguments as they are and return new arrays (the caller may still need them)")


class Part:
    """One named part of a result, what it should be, and the typical wrong versions.

    Parameters
    ----------
    name : str
        ``"dx"``, ``"dw"``, ``"the loss"``, ...
    got : object
        What the learner's function returned for this part.
    expected : ndarray or float
        The right value, computed in float64.
    dtype : numpy dtype
        The dtype the part must keep (the inputs' float dtype).
    slips : list of (ndarray, str)
        Wrong versions and the words that explain each; only used when ``got`` is wrong.
    shapes : dict of tuple -> str, optional
        Wrong shapes and the words that explain each.
    keep_dtype : bool
        False for a part that may be any float (the loss, a Python float): ``dtype`` then
        only sets the tolerance.
    start : str, optional
        The array a learner starts this part from so that it keeps the inputs' dtype, as the
        learner would write it: ``"np.zeros_like(x)"`` for a part of x's shape,
        ``"np.zeros((N, F, H_out, W_out), dtype=x.dtype)"`` for one whose shape is new. Shown
        when the part comes back float64 for float32 inputs.
    """

    def __init__(self, name, got, expected, dtype, slips=(), shapes=None, keep_dtype=True, start=None):
        self.name, self.got, self.dtype, self.keep_dtype = name, got, np.dtype(dtype), keep_dtype
        self.start = start or "np.zeros(shape, dtype=x.dtype)"
        self.expected = np.asarray(expected, dtype=np.float64)
        self.slips, self.shapes = list(slips), dict(shapes or {})
        self.rtol, self.atol = tolerances(self.dtype, np.abs(self.expected).max(initial=0.0))

    def _array(self):
        try:
            return np.asarray(self.got, dtype=np.float64)
        except (TypeError, ValueError):
            return None

    def right(self):
        got = self._array()
        return (got is not None and got.shape == self.expected.shape and self._dtype_ok()
                and np.isfinite(got).all()
                and np.allclose(got, self.expected, rtol=self.rtol, atol=self.atol))

    def _dtype_ok(self):
        return not self.keep_dtype or dtype_of(self.got) == self.dtype

    def _close(self, got, value):
        value = np.asarray(value, dtype=np.float64)
        return value.shape == got.shape and np.allclose(got, value, rtol=self.rtol, atol=self.atol)

    def diagnose(self, exercise, case, others):
        """Fail with the best words for this wrong part. ``others``: the right parts' names."""
        lead = f"{self.name} is wrong" + (f" ({' and '.join(others)} {'is' if len(others) == 1 else 'are'} "
                                          "right)" if others else "")
        not_a_tuple(exercise, self.got, self.expected.shape, case, what=self.name)
        got = self._array()
        if got is not None and got.shape != self.expected.shape and got.shape in self.shapes:
            fail(exercise, f"{lead}: it has shape {got.shape}, expected {self.expected.shape} ({case}): "
                           f"{self.shapes[got.shape]}")
        got = as_result(exercise, self.got, self.expected.shape, case, what=self.name)
        if not np.isfinite(got).all():
            fail(exercise, f"{lead}: it contains NaN or infinity ({case}) though every input is finite")
        for wrong, words in self.slips:
            if self._close(got, wrong) and not self._close(self.expected, wrong):
                fail(exercise, f"{lead} ({case}): {words}")
        dtype = dtype_of(self.got)
        if (not self._dtype_ok() and dtype is not None and np.issubdtype(dtype, np.floating)
                and np.finfo(dtype).eps > np.finfo(self.dtype).eps):
            # Less precise than the inputs: show a value that differs, with the digits that differ.
            compare(exercise, self.got, self.expected.astype(self.dtype), what=self.name, rtol=1e-12, atol=0,
                    case=case)
        if not self._dtype_ok() and self._close(got, self.expected):
            fail(exercise, f"{self.name} is a {dtype} array ({case}); the inputs are {self.dtype}, so it must "
                           f"be {self.dtype} too ({self.dtype} in, {self.dtype} out). Start from {self.start} "
                           "(np.zeros(shape) alone is float64) and look for an .astype() or a dtype= that "
                           "changes it")
        expected = self.expected.astype(self.dtype) if self.keep_dtype else self.expected
        compare(exercise, self.got, expected, what=self.name, rtol=self.rtol, atol=self.atol, case=case)
        fail(exercise, f"{lead} ({case})")      # compare found nothing: the dtype made it wrong


def judge(exercise, parts, case):
    """Fail on the first wrong part of ``parts`` (a list of :class:`Part`), naming the right ones."""
    verdicts = [part.right() for part in parts]
    for part, right in zip(parts, verdicts):
        if not right:
            others = [p.name for p, ok in zip(parts, verdicts) if ok and len(parts) > 1]
            part.diagnose(exercise, case, others)

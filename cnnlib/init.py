"""Weight initialisation and the one way randomness enters cnnlib.

Every function or class that needs random numbers takes an ``rng`` argument: a
``np.random.Generator``, an integer seed, or None (fresh, unpredictable entropy). Nothing
in cnnlib touches NumPy's global random state, so the same seed gives the same numbers
on every machine.
"""
import numpy as np

__all__ = ["as_rng", "he_normal"]


def as_rng(rng):
    """Turn ``rng`` (a Generator, an int seed or None) into a ``np.random.Generator``.

    >>> int(as_rng(0).integers(1000)) == int(as_rng(0).integers(1000))
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, (int, np.integer)) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a np.random.Generator, an int seed or None, got {type(rng).__name__}")


def he_normal(shape, fan_in, *, rng=None, dtype=np.float64):
    """He (Kaiming) normal initialisation: ``N(0, 2 / fan_in)``.

    Parameters
    ----------
    shape : tuple
        Shape of the weight array.
    fan_in : int
        Inputs feeding each output unit (``C_in * KH * KW`` for a convolution).

    Notes
    -----
    With ReLU, half the units are zero on average, so each layer halves the variance of
    its input; a weight variance of ``2 / fan_in`` gives that half back and keeps the
    activations at a steady scale from layer to layer.
    """
    std = np.sqrt(2.0 / fan_in)
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)

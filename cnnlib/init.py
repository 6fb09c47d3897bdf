"""Weight initialisation, and the one way randomness enters cnnlib.

Whatever needs random numbers takes ``rng``: a ``np.random.Generator``, an int seed, or None
(fresh entropy). Nothing touches NumPy's global random state, so a seed gives the same
numbers on every machine.
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
    """He (Kaiming) normal weights of ``shape``: ``N(0, 2 / fan_in)``.

    ``fan_in`` counts the inputs feeding each output unit (``C_in * KH * KW`` for a
    convolution). ReLU zeroes half the units on average, halving the variance at each layer;
    a weight variance of ``2 / fan_in`` gives that half back, so activations keep their scale.
    """
    std = np.sqrt(2.0 / fan_in)
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)

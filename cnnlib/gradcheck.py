"""Gradient checking: compare backward passes with finite differences.

The contract
------------
* :func:`numerical_gradient` nudges each entry of an array up and down by ``eps`` (central
  differences) and restores it, so the array is unchanged afterwards.
* :func:`relative_error` does not depend on the gradients' size: below about 1e-7 in
  float64 the backward pass is right.
* :func:`check_layer` and :func:`check_model` compare one layer, or a model with its loss,
  for the input and every parameter. Tests and lessons use the same functions.
"""
import numpy as np

from cnnlib.init import as_rng

__all__ = ["numerical_gradient", "relative_error", "check_layer", "check_model"]

#: Our pass mark in float64. Central differences with eps=1e-6 are accurate to about
#: eps**2 (truncation) plus 1e-16/eps (rounding), so a correct gradient lands near 1e-9.
TOLERANCE = 1e-7


def numerical_gradient(f, x, *, eps=1e-6, indices=None):
    """Central-difference gradient of the scalar ``f()`` with respect to the array ``x``.

    .. math:: \\frac{\\partial f}{\\partial x_i} \\approx \\frac{f(x + \\epsilon e_i) - f(x - \\epsilon e_i)}{2\\epsilon}

    ``f`` takes no arguments and must read ``x``, which we change in place one entry at a time
    and restore. With ``eps`` too large curvature spoils the estimate, too small and rounding
    does (float32 wants about 1e-2 to 1e-3, float64 about 1e-6). ``indices`` (index tuples)
    limits the estimate to those entries; the rest stay 0. Returns float64, shaped like ``x``.

    >>> x = np.array([1.0, 2.0, 3.0])
    >>> np.round(numerical_gradient(lambda: float(np.sum(x ** 2)), x), 6)   # 2x
    array([2., 4., 6.])
    """
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"numerical_gradient needs a floating-point array, got dtype {x.dtype}")
    grad = np.zeros(x.shape, dtype=np.float64)
    for idx in (np.ndindex(x.shape) if indices is None else indices):
        idx = tuple(idx)
        old = x[idx].copy()
        try:
            x[idx] = old + eps
            f_plus = float(f())
            x[idx] = old - eps
            f_minus = float(f())
        finally:
            x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """``||a - b|| / (||a|| + ||b||)``: 0 when equal, 1 when opposite, about 1 when unrelated."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes differ, {a.shape} vs {b.shape}")
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    if scale == 0:
        return 0.0
    return float(np.linalg.norm(a - b) / scale)


def _compare(f, arrays, analytic, *, eps, n_samples, rng):
    """Relative error of each analytic gradient, on every entry or on ``n_samples`` random ones."""
    errors = {}
    for name, arr in arrays.items():
        exact = np.asarray(analytic[name], dtype=np.float64)
        if n_samples is None or n_samples >= arr.size:
            errors[name] = relative_error(exact, numerical_gradient(f, arr, eps=eps))
            continue
        picked = np.unravel_index(rng.choice(arr.size, size=n_samples, replace=False), arr.shape)
        numeric = numerical_gradient(f, arr, eps=eps, indices=zip(*picked))
        errors[name] = relative_error(exact[picked], numeric[picked])
    return errors


def check_layer(layer, x, *, eps=1e-6, rng=0, n_samples=None):
    """Relative error of ``layer.backward`` against finite differences: ``{"x": err, "w": err, ...}``.

    We take ``L = sum(layer.forward(x) * dout)`` with a fixed random ``dout``, so
    ``backward(dout)`` must return ``dL/dx``. ``x`` (float64 for a meaningful check) is not
    modified; ``n_samples`` checks only that many random entries of each array (big layers).
    Raises AssertionError if the layer writes into ``x`` or ``dout``: the numbers may come out
    right, but a caller who needs ``dout`` again (a second branch) would get wrong gradients.

    >>> from cnnlib.layers import Conv2d
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    >>> errors = check_layer(Conv2d(3, 4, 3, stride=2, padding=1, rng=0), x)
    >>> sorted(errors), all(e < 1e-7 for e in errors.values())
    (['b', 'w', 'x'], True)
    """
    rng = as_rng(rng)
    x = np.array(x)                      # our own copy: the caller's array stays untouched
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    x_before = x.copy()
    dout = rng.standard_normal(layer.forward(x).shape).astype(x.dtype)
    dout_given = dout.copy()             # backward gets its own copy, so we can see if it writes into it
    dx = layer.backward(dout_given)
    if not np.array_equal(dout_given, dout):
        raise AssertionError(f"{layer!r}: backward modified dout in place; it must return a new array "
                             "and leave dout alone (another layer or branch may still need it)")
    if not np.array_equal(x, x_before):
        raise AssertionError(f"{layer!r}: forward or backward modified its input x in place")
    analytic = {"x": dx, **{name: g.copy() for name, g in layer.grads.items()}}

    def f():
        return float(np.sum(layer.forward(x) * dout, dtype=np.float64))

    return _compare(f, {"x": x, **layer.params}, analytic, eps=eps, n_samples=n_samples, rng=rng)


def check_model(model, loss_fn, x, labels, *, eps=1e-6, rng=0, n_samples=None):
    """Relative errors of a whole model's backward pass, loss included.

    Keyed like :meth:`cnnlib.model.Sequential.named_parameters`, plus the input:
    ``{"input": err, "0.w": err, "0.b": err, ...}``.
    """
    rng = as_rng(rng)
    x = np.array(x, dtype=np.float64)
    loss_fn.forward(model.forward(x), labels)
    dx = model.backward(loss_fn.backward())
    analytic = {"input": dx}
    arrays = {"input": x}
    for i, layer in enumerate(model.layers):
        for name, p in layer.params.items():
            analytic[f"{i}.{name}"] = layer.grads[name].copy()
            arrays[f"{i}.{name}"] = p

    def f():
        return loss_fn.forward(model.forward(x), labels)

    return _compare(f, arrays, analytic, eps=eps, n_samples=n_samples, rng=rng)

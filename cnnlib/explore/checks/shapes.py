"""Checks on sizes: how many parameters an MLP has (lesson 1), how large a convolution's output is (lesson 2).

May import: NumPy, the cnnlib core (for the reference answers) and the checks' own
``_runner``.

The contract
------------
Each check takes the learner's function, runs it on hidden cases (fixed, so every
machine gives the same verdict) against cnnlib's own answer, and prints one "✓" line or
raises :class:`~cnnlib.explore.checks.CheckFailed` naming the case and the likely slip
(forgotten biases, a missing image axis, padding on one side only, off by one, ``/``
instead of ``//``).
"""
import numpy as np

from cnnlib import ops
from cnnlib.layers import Flatten, Linear
from cnnlib.model import Sequential
from cnnlib.explore.checks._runner import call, fail, passed, reports_output

__all__ = ["check_mlp_param_count", "check_output_shape"]


def _as_whole_number(exercise, value, what, case):
    """``value`` as a Python int, or a plain-words failure (float like 13.5, a string, ...)."""
    if value is None:
        fail(exercise, f"{what} is None ({case}) - did you forget to `return` it?")
    if isinstance(value, (bool, np.bool_)):
        fail(exercise, f"{what} should be a whole number ({case}), got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        if float(value).is_integer():
            fail(exercise, f"{what} should be an int ({case}), got the float {value!r}; "
                           "use // (floor division) or int(...)")
        fail(exercise, f"{what} should be a whole number ({case}), got {value!r}: a size cannot be "
                       "fractional; windows that do not fit are dropped, so use // (floor division)")
    fail(exercise, f"{what} should be a whole number ({case}), got {type(value).__name__} {value!r}")


@reports_output
def check_mlp_param_count(fn):
    """Lesson 1: ``fn(input_shape, hidden_sizes, n_classes)`` -> the MLP's number of parameters.

    The MLP is Flatten, then a Linear layer (weights + biases) to each hidden size in turn,
    then a Linear layer to ``n_classes``; ``input_shape`` is ``(C, H, W)``. The reference
    is :attr:`cnnlib.model.Sequential.n_params` of that very network.
    """
    exercise = "mlp_param_count"
    cases = [((1, 28, 28), [100], 10), ((3, 32, 48), [64, 32], 10), ((1, 5, 7), [], 3),
             ((3, 20, 12), [50], 7), ((2, 9, 4), [16, 8, 4], 5)]
    for input_shape, hidden, n_classes in cases:
        sizes = [int(np.prod(input_shape))] + list(hidden) + [n_classes]
        model = Sequential(Flatten(), *[Linear(a, b, rng=0) for a, b in zip(sizes[:-1], sizes[1:])])
        expected = model.n_params
        case = f"input_shape={input_shape}, hidden_sizes={hidden}, n_classes={n_classes}"
        got = _as_whole_number(exercise, call(exercise, fn, input_shape, list(hidden), n_classes, case=case),
                               "the count", case)
        if got == expected:
            continue
        weights_only = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        C, H, W = input_shape
        if got == weights_only:
            fail(exercise, f"got {got:,} ({case}), which is the weights alone; each Linear layer also has "
                           f"one bias per output unit - expected {expected:,}")
        wrong_inputs = {"H*H*C (the width is missing)": C * H * H, "W*W*C (the height is missing)": C * W * W,
                        "H*W (the channels are missing)": H * W}
        for reason, n_in in wrong_inputs.items():
            wrong = [n_in] + sizes[1:]
            if n_in != sizes[0] and got == sum(a * b + b for a, b in zip(wrong[:-1], wrong[1:])):
                fail(exercise, f"got {got:,} ({case}): the first layer seems to see {reason} inputs; "
                               f"a flattened (C, H, W) image has C*H*W = {sizes[0]:,} numbers - "
                               f"expected {expected:,}")
        fail(exercise, f"got {got:,}, expected {expected:,} ({case}); layer sizes are {sizes}, and a "
                       "Linear(n_in, n_out) layer has n_in*n_out weights + n_out biases")
    return passed(exercise, f"all {len(cases)} test networks (not shown) counted right, including non-square "
                            "inputs and one with no hidden layer")


@reports_output
def check_output_shape(fn):
    """Lesson 2: ``fn(H, W, KH, KW, stride, padding)`` -> ``(H_out, W_out)`` of a convolution.

    The reference is :func:`cnnlib.ops.conv_output_size` along each axis.
    """
    exercise = "output_shape"
    cases = [(28, 28, 5, 5, 1, 0), (28, 20, 3, 3, 1, 1), (7, 9, 2, 3, 2, 0), (32, 48, 5, 3, 2, 2),
             (10, 6, 3, 3, 3, 0), (13, 11, 4, 2, 3, 1), (5, 8, 5, 1, 1, 0)]
    for H, W, KH, KW, stride, padding in cases:
        case = f"H={H}, W={W}, KH={KH}, KW={KW}, stride={stride}, padding={padding}"
        expected = (ops.conv_output_size(H, KH, stride, padding), ops.conv_output_size(W, KW, stride, padding))
        got = call(exercise, fn, H, W, KH, KW, stride, padding, case=case)
        if got is None:
            fail(exercise, f"the result is None ({case}) - did you forget to `return` it?")
        if not isinstance(got, (tuple, list, np.ndarray)) or len(got) != 2:
            fail(exercise, f"return a pair (H_out, W_out) ({case}), got {got!r}")
        got = tuple(_as_whole_number(exercise, v, "each size", case) for v in got)
        if got == expected:
            continue
        if got == expected[::-1]:
            fail(exercise, f"got {got}, expected {expected} ({case}): height and width are swapped - "
                           "H_out comes from H and KH, W_out from W and KW")
        once = ((H + padding - KH) // stride + 1, (W + padding - KW) // stride + 1)
        if padding and got == once:
            fail(exercise, f"got {got}, expected {expected} ({case}): padding is added on both sides, "
                           "so the padded size is H + 2*padding")
        if any(g - e in (-1, 1) for g, e in zip(got, expected)):
            fail(exercise, f"got {got}, expected {expected} ({case}): off by one - count the windows on a "
                           "small case by hand: the first sits at 0, then one more per stride while it still "
                           "fits inside the padded image")
        fail(exercise, f"got {got}, expected {expected} ({case}); section 3 derives the output size: "
                       "try your formula on this case by hand, one axis at a time")
    return passed(exercise, f"all {len(cases)} hidden cases right, including non-square images and kernels, "
                            "strides that leave a remainder, and padding")




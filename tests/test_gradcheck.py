"""cnnlib.gradcheck: it measures what it claims, and it catches wrong gradients."""
import numpy as np
import pytest

from cnnlib import ops
from cnnlib.gradcheck import TOLERANCE, check_layer, numerical_gradient, relative_error
from cnnlib.layers import Conv2d, MaxPool2d


def test_numerical_gradient_of_known_functions_and_restores_x(rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(np.sin(x))), x)
    np.testing.assert_allclose(grad, np.cos(x), rtol=1e-8)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_restores_x_even_when_f_raises():
    x = np.array([1.0, 2.0])
    calls = []

    def f():
        calls.append(1)
        raise ZeroDivisionError
    with pytest.raises(ZeroDivisionError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_numerical_gradient_only_at_requested_indices():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    g = numerical_gradient(lambda: float(np.sum(x ** 2)), x, indices=[(1, 0)])
    np.testing.assert_allclose(g, [[0.0, 0.0], [6.0, 0.0]], atol=1e-6)


def test_numerical_gradient_rejects_integer_arrays():
    with pytest.raises(ValueError, match="floating-point"):
        numerical_gradient(lambda: 0.0, np.arange(3))


def test_relative_error_scale_free():
    a = np.array([1.0, 2.0, 3.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(a * 1e-9, a * 1e-9 * (1 + 1e-6)) == pytest.approx(relative_error(a, a * (1 + 1e-6)))
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(np.zeros(2), np.zeros(3))


class _MaxPoolEveryTieWins(MaxPool2d):
    """The classic tutorial bug: every tied maximum receives the window's gradient."""

    def backward(self, dout, *, input_grad=True):
        x_shape, winner, k, stride = self._cache
        x = self._x
        out = self._out
        up = np.repeat(np.repeat(out, k, axis=2), k, axis=3)
        mask = x[:, :, :up.shape[2], :up.shape[3]] == up
        dx = np.zeros(x_shape)
        dx[:, :, :up.shape[2], :up.shape[3]] = mask * np.repeat(np.repeat(dout, k, axis=2), k, axis=3)
        return dx

    def forward(self, x):
        self._x = x
        self._out = super().forward(x)
        return self._out


class _ConvWrongFilterGradient(Conv2d):
    """A conv whose dw uses image 0 only (forgets the sum over the batch): the check must catch it."""

    def backward(self, dout, *, input_grad=True):
        dx = super().backward(dout)
        first = Conv2d(self.in_channels, self.out_channels, self.kernel_size, rng=0)
        first.params = self.params
        first.forward(self._x[:1])
        first.backward(dout[:1])
        self.grads["w"] = first.grads["w"]
        return dx

    def forward(self, x):
        self._x = x
        return super().forward(x)


def test_check_layer_catches_wrong_gradients(rng):
    x = rng.standard_normal((2, 2, 6, 7))
    assert check_layer(_ConvWrongFilterGradient(2, 3, 3, rng=0), x)["w"] > 1e-2
    # Ties (a flat patch, like zeros after a ReLU): duplicated gradients are caught too.
    x_ties = np.zeros((1, 1, 4, 4))
    x_ties[0, 0, 0, 0] = 1.0
    assert check_layer(_MaxPoolEveryTieWins(2), x_ties)["x"] > 0.1
    assert check_layer(MaxPool2d(2), x_ties + np.arange(16).reshape(1, 1, 4, 4) * 1e-3)["x"] < TOLERANCE


def test_check_layer_with_sampled_indices_and_float32(rng):
    layer = Conv2d(2, 3, 3, rng=0)
    errors = check_layer(layer, rng.standard_normal((2, 2, 8, 8)), n_samples=10)
    assert max(errors.values()) < TOLERANCE
    layer.astype(np.float32)
    errors32 = check_layer(layer, rng.standard_normal((2, 2, 8, 8)).astype(np.float32), eps=1e-2, n_samples=10)
    # float32 keeps about 7 digits: the check still passes, but only to about 1e-3.
    assert max(errors32.values()) < 1e-2
    assert max(errors32.values()) > 1e-9


def test_conv_dx_is_full_convolution_with_flipped_kernel(rng):
    # The identity lesson 5 derives: dx = full convolution of dout with the flipped kernel.
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 3))
    out, cache = ops.conv2d_forward(x, w, np.zeros(4))
    dout = rng.standard_normal(out.shape)
    dx, _, _ = ops.conv2d_backward(dout, cache)
    w_flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)          # (C_in, C_out, KH, KW)
    full, _ = ops.conv2d_forward(dout, w_flipped, np.zeros(3), padding=2)
    np.testing.assert_allclose(dx, full, rtol=1e-10, atol=1e-12)


def test_check_layer_catches_a_backward_that_writes_into_dout(rng):
    from cnnlib.layers import ReLU

    class ReLUInPlace(ReLU):          # the classic tutorial bug: zero the caller's dout
        def backward(self, dout, *, input_grad=True):
            dout[~self._cache] = 0
            return dout

    with pytest.raises(AssertionError, match="backward modified dout in place"):
        check_layer(ReLUInPlace(), rng.standard_normal((3, 5)))

"""Layers: thin classes over :mod:`cnnlib.ops` that hold parameters and a cache.

The contract
------------
* ``y = layer.forward(x)`` (or ``layer(x)``) and ``dx = layer.backward(dout)``;
  ``backward`` fills ``layer.grads`` (the same keys as ``layer.params``), overwriting
  what the previous call put there, and raises ``RuntimeError`` before any forward.
* Optimisers may update ``layer.params[k]`` in place; layers read them on every forward.
* Outputs keep the input's floating dtype (float64 in, float64 out); gradients keep each
  parameter's dtype. ``layer.astype(np.float32)`` converts the parameters.
* Bad input raises ``ValueError`` naming the layer and the expected and actual shapes,
  before any arithmetic: nothing broadcasts silently into a wrong answer.
"""
import numpy as np

from cnnlib import ops
from cnnlib.init import he_normal

__all__ = ["Layer", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Flatten", "Linear", "LAYER_TYPES"]


def _check_int(owner, name, value, low):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}: {name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{owner}: {name} must be at least {low}, got {value}")
    return int(value)


def _all_finite(a):
    # One vectorised pass. (Checking a.sum() instead is about twice as slow in float32,
    # since NumPy's careful pairwise summation is not a plain SIMD loop.)
    return bool(np.isfinite(a).all())


class Layer:
    """Base class: parameters, gradients, a cache, input checks and a readable repr."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self._cache = None

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, dout, *, input_grad=True):
        raise NotImplementedError

    def config(self):
        """The constructor's arguments (what :meth:`Sequential.save` stores)."""
        return {}

    def astype(self, dtype):
        """Convert parameters and gradients to ``dtype`` (in place); returns self."""
        for name in self.params:
            self.params[name] = self.params[name].astype(dtype)
            self.grads[name] = np.zeros_like(self.params[name])
        return self

    def zero_grad(self):
        for g in self.grads.values():
            g[...] = 0

    # -- helpers for subclasses
    def _check_input(self, x, ndim, layout):
        x = np.asarray(x)
        if x.dtype.kind != "f":       # not a floating dtype (faster than np.issubdtype)
            raise ValueError(f"{self!r}: expected a floating-point input, got dtype {x.dtype}; "
                             "convert images with x.astype(np.float32) / 255")
        if x.ndim != ndim:
            raise ValueError(f"{self!r}: expected input of shape {layout}, got shape {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{self!r}: got an empty batch (shape {x.shape})")
        if not _all_finite(x):
            raise ValueError(f"{self!r}: input contains NaN or infinity; check the data or the "
                             "previous layer (a learning rate that is too large often causes this)")
        return x

    def _check_dout(self, dout):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: call forward first; backward needs what forward remembers")
        dout = np.asarray(dout)
        if dout.shape != self._out_shape:
            raise ValueError(f"{self!r}: dout has shape {dout.shape}, but the forward output "
                             f"had shape {self._out_shape}")
        if not _all_finite(dout):
            raise ValueError(f"{self!r}: dout contains NaN or infinity")
        return dout

    def _store_grads(self, **grads):
        for name, g in grads.items():
            self.grads[name] = g.astype(self.params[name].dtype, copy=False)

    def _wrap(self, fn, *args, **kwargs):
        """Run an op, prefixing its ValueError with this layer's name."""
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            raise ValueError(f"{self!r}: {e}") from None


class Conv2d(Layer):
    """Cross-correlation. x: (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    stride : int, default 1
    padding : int, default 0
        Zeros added on every side; ``padding = (kernel_size - 1) // 2`` keeps the size
        ("same") for odd kernels at stride 1.
    rng : np.random.Generator, int or None
        Source of the He-normal initial weights.
    naive : bool, default False
        Use the loop kernels (for teaching and for testing the fast ones).

    Examples
    --------
    >>> conv = Conv2d(1, 8, 3, padding=1, rng=0)
    >>> conv
    Conv2d(1→8, k=3, stride=1, padding=1)
    >>> conv(np.zeros((2, 1, 28, 28))).shape
    (2, 8, 28, 28)
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0, rng=None,
                 naive=False):
        super().__init__()
        name = "Conv2d"
        self.in_channels = _check_int(name, "in_channels", in_channels, 1)
        self.out_channels = _check_int(name, "out_channels", out_channels, 1)
        self.kernel_size = k = _check_int(name, "kernel_size", kernel_size, 1)
        self.stride = _check_int(name, "stride", stride, 1)
        self.padding = _check_int(name, "padding", padding, 0)
        self.naive = bool(naive)
        self.params = {"w": he_normal((out_channels, in_channels, k, k), fan_in=in_channels * k * k, rng=rng),
                       "b": np.zeros(out_channels)}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def __repr__(self):
        return (f"Conv2d({self.in_channels}→{self.out_channels}, k={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding})")

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    def output_shape(self, input_shape):
        """``(C_out, H_out, W_out)`` for an input of shape ``(C_in, H, W)``."""
        C, H, W = input_shape
        if C != self.in_channels:
            raise ValueError(f"{self!r}: expected {self.in_channels} input channels, got {C}")
        k, s, p = self.kernel_size, self.stride, self.padding
        return (self.out_channels,
                self._wrap(ops.conv_output_size, H, k, s, p), self._wrap(ops.conv_output_size, W, k, s, p))

    def forward(self, x):
        x = self._check_input(x, 4, f"(N, {self.in_channels}, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r}: expected {self.in_channels} input channel(s), got {x.shape[1]} "
                             f"(input shape {x.shape}, expected (N, {self.in_channels}, H, W))")
        H, W = x.shape[2:]
        k, p = self.kernel_size, self.padding
        if H + 2 * p < k or W + 2 * p < k:
            raise ValueError(f"{self!r}: input {H}x{W} is smaller than the kernel {k}x{k}"
                             + (f" even with padding {p}" if p else ""))
        op = ops.conv2d_forward_naive if self.naive else ops.conv2d_forward
        out, self._cache = op(x, self.params["w"], self.params["b"], stride=self.stride, padding=p)
        self._out_shape = out.shape
        return out

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        if self.naive:
            dx, dw, db = ops.conv2d_backward_naive(dout, self._cache)
        else:
            dx, dw, db = ops.conv2d_backward(dout, self._cache, input_grad=input_grad)
        self._store_grads(w=dw, b=db)
        return dx


class _Pool2d(Layer):
    _forward = _backward = _forward_naive = _backward_naive = None

    def __init__(self, kernel_size=2, stride=None, *, naive=False):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _check_int(name, "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _check_int(name, "stride", stride, 1)
        self.naive = bool(naive)

    def __repr__(self):
        return f"{type(self).__name__}(k={self.kernel_size}, stride={self.stride})"

    def config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride}

    def output_shape(self, input_shape):
        C, H, W = input_shape
        k, s = self.kernel_size, self.stride
        return C, self._wrap(ops.conv_output_size, H, k, s), self._wrap(ops.conv_output_size, W, k, s)

    def forward(self, x):
        x = self._check_input(x, 4, "(N, C, H, W)")
        k = self.kernel_size
        if x.shape[2] < k or x.shape[3] < k:
            raise ValueError(f"{self!r}: input {x.shape[2]}x{x.shape[3]} is smaller than the "
                             f"pooling window {k}x{k} (input shape {x.shape})")
        op = type(self)._forward_naive if self.naive else type(self)._forward
        out, self._cache = op(x, kernel_size=k, stride=self.stride)
        self._out_shape = out.shape
        return out

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        op = type(self)._backward_naive if self.naive else type(self)._backward
        return op(dout, self._cache)


class MaxPool2d(_Pool2d):
    """Max pooling. x: (N, C, H, W) -> (N, C, H_out, W_out); stride defaults to kernel_size.

    Each window's gradient goes to one winner, its first maximum in row-major order.

    >>> MaxPool2d(2)(np.zeros((1, 8, 26, 26))).shape
    (1, 8, 13, 13)
    """
    _forward, _backward = staticmethod(ops.maxpool2d_forward), staticmethod(ops.maxpool2d_backward)
    _forward_naive = staticmethod(ops.maxpool2d_forward_naive)
    _backward_naive = staticmethod(ops.maxpool2d_backward_naive)


class AvgPool2d(_Pool2d):
    """Average pooling. x: (N, C, H, W) -> (N, C, H_out, W_out); stride defaults to kernel_size."""
    _forward, _backward = staticmethod(ops.avgpool2d_forward), staticmethod(ops.avgpool2d_backward)
    _forward_naive = staticmethod(ops.avgpool2d_forward_naive)
    _backward_naive = staticmethod(ops.avgpool2d_backward_naive)


class ReLU(Layer):
    """``max(x, 0)`` elementwise, any shape.

    >>> ReLU()(np.array([[-2.0, 3.0]]))
    array([[0., 3.]])
    """

    def __repr__(self):
        return "ReLU()"

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        x = self._check_input(x, np.ndim(x) if np.ndim(x) >= 2 else 2, "(N, ...)")
        out, self._cache = ops.relu_forward(x)
        self._out_shape = out.shape
        return out

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        return ops.relu_backward(dout, self._cache)


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W): the bridge from feature maps to a Linear layer.

    >>> Flatten()(np.zeros((2, 16, 4, 4))).shape
    (2, 256)
    """

    def __repr__(self):
        return "Flatten()"

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x):
        x = self._check_input(x, np.ndim(x) if np.ndim(x) >= 2 else 2, "(N, ...)")
        self._cache = x.shape
        out = x.reshape(x.shape[0], -1)
        self._out_shape = out.shape
        return out

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        return dout.reshape(self._cache)


class Linear(Layer):
    """Fully connected layer ``y = x @ w + b``. x: (N, in_features) -> (N, out_features).

    >>> fc = Linear(256, 10, rng=0)
    >>> fc
    Linear(256→10)
    >>> fc.params["w"].shape, fc.params["b"].shape
    ((256, 10), (10,))
    """

    def __init__(self, in_features, out_features, *, rng=None):
        super().__init__()
        self.in_features = _check_int("Linear", "in_features", in_features, 1)
        self.out_features = _check_int("Linear", "out_features", out_features, 1)
        self.params = {"w": he_normal((in_features, out_features), fan_in=in_features, rng=rng),
                       "b": np.zeros(out_features)}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def __repr__(self):
        return f"Linear({self.in_features}→{self.out_features})"

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features}

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.in_features,):
            raise ValueError(f"{self!r}: expected {self.in_features} input features, got shape {tuple(input_shape)}")
        return (self.out_features,)

    def forward(self, x):
        if np.ndim(x) > 2:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_features}), got shape "
                             f"{np.shape(x)}; put a Flatten() layer before this one")
        x = self._check_input(x, 2, f"(N, {self.in_features})")
        if x.shape[1] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_features}), got shape {x.shape}")
        out, self._cache = ops.linear_forward(x, self.params["w"], self.params["b"])
        self._out_shape = out.shape
        return out

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        dx, dw, db = ops.linear_backward(dout, self._cache, input_grad=input_grad)
        self._store_grads(w=dw, b=db)
        return dx


#: Layer classes by name, for :meth:`cnnlib.model.Sequential.load`.
LAYER_TYPES = {cls.__name__: cls for cls in (Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear)}

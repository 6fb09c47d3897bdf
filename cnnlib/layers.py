"""Layers: thin classes over :mod:`cnnlib.ops` that hold parameters and a cache.

The contract
------------
* ``y = layer(x)`` runs ``forward``; ``dx = layer.backward(dout)`` fills ``layer.grads`` (the
  keys of ``layer.params``), replacing the last call's, and raises ``RuntimeError`` before any
  forward. Optimisers may update ``layer.params[k]`` in place: every forward reads them anew.
* Outputs keep the input's floating dtype, gradients each parameter's;
  ``layer.astype(np.float32)`` converts the parameters.
* Bad input raises ``ValueError`` naming the layer and the shapes, before any arithmetic: the
  layer checks that a finite batch is there, the op it runs checks the shapes.
"""
import math

import numpy as np

from cnnlib import ops
from cnnlib.init import he_normal
from cnnlib.ops import check_int

__all__ = ["Layer", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Flatten", "Linear", "LAYER_TYPES"]


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
        """Convert parameters and gradients to ``dtype``, in place; returns self."""
        for name in self.params:
            self.params[name] = self.params[name].astype(dtype)
            self.grads[name] = np.zeros_like(self.params[name])
        return self

    def zero_grad(self):
        for g in self.grads.values():
            g[...] = 0

    # -- helpers for subclasses
    def _check_input(self, x):
        """``x`` as an array: a non-empty batch ``(N, ...)`` of finite numbers."""
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"{self!r}: expected input of shape (N, ...), a batch, got shape {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{self!r}: got an empty batch (shape {x.shape})")
        # np.isfinite(x).all() is one vectorised pass (checking x.sum() instead is about
        # twice as slow in float32: NumPy's careful pairwise summation is no plain SIMD loop).
        if not np.isfinite(x).all():
            raise ValueError(f"{self!r}: input contains NaN or infinity; check the data or the "
                             "previous layer (a learning rate that is too large often causes this)")
        return x

    def _check_dout(self, dout):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: call forward first; backward needs what forward remembers")
        dout = np.asarray(dout)
        if not np.isfinite(dout).all():
            raise ValueError(f"{self!r}: dout contains NaN or infinity")
        return dout

    def _run(self, op, *args, **kwargs):
        """Run an op, putting this layer's name in front of its ValueError."""
        try:
            return op(*args, **kwargs)
        except ValueError as e:
            raise ValueError(f"{self!r}: {e}") from None

    def _store_grads(self, **grads):
        for name, g in grads.items():
            self.grads[name] = g.astype(self.params[name].dtype, copy=False)


class Conv2d(Layer):
    """Cross-correlation. x: (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    ``padding = (kernel_size - 1) // 2`` keeps the size ("same") for odd kernels at stride 1.
    ``rng`` seeds the He-normal weights.

    >>> conv = Conv2d(1, 8, 3, padding=1, rng=0)
    >>> conv, conv(np.zeros((2, 1, 28, 28))).shape
    (Conv2d(1→8, k=3, stride=1, padding=1), (2, 8, 28, 28))
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, stride=1, padding=0, rng=None):
        super().__init__()
        self.in_channels = check_int("Conv2d: in_channels", in_channels, 1)
        self.out_channels = check_int("Conv2d: out_channels", out_channels, 1)
        self.kernel_size = k = check_int("Conv2d: kernel_size", kernel_size, 1)
        self.stride = check_int("Conv2d: stride", stride, 1)
        self.padding = check_int("Conv2d: padding", padding, 0)
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
                self._run(ops.conv_output_size, H, k, s, p), self._run(ops.conv_output_size, W, k, s, p))

    def forward(self, x):
        x = self._check_input(x)
        out, self._cache = self._run(ops.conv2d_forward, x, self.params["w"], self.params["b"],
                                     stride=self.stride, padding=self.padding)
        return out

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        dx, dw, db = self._run(ops.conv2d_backward, dout, self._cache, input_grad=input_grad)
        self._store_grads(w=dw, b=db)
        return dx


class _Pool2d(Layer):
    """Max and average pooling share all but their kernels: ``KERNELS`` is (forward, backward)."""
    KERNELS = ()

    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = check_int(f"{name}: kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else check_int(f"{name}: stride", stride, 1)

    def __repr__(self):
        return f"{type(self).__name__}(k={self.kernel_size}, stride={self.stride})"

    def config(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride}

    def output_shape(self, input_shape):
        C, H, W = input_shape
        k, s = self.kernel_size, self.stride
        return C, self._run(ops.conv_output_size, H, k, s), self._run(ops.conv_output_size, W, k, s)

    def forward(self, x):
        x = self._check_input(x)
        forward, _ = self.KERNELS
        out, self._cache = self._run(forward, x, kernel_size=self.kernel_size, stride=self.stride)
        return out

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        _, backward = self.KERNELS
        return self._run(backward, dout, self._cache)


class MaxPool2d(_Pool2d):
    """Max pooling. x: (N, C, H, W) -> (N, C, H_out, W_out); stride defaults to kernel_size.

    Each window's gradient goes to one winner, its first maximum in row-major order.
    """
    KERNELS = (ops.maxpool2d_forward, ops.maxpool2d_backward)


class AvgPool2d(_Pool2d):
    """Average pooling. x: (N, C, H, W) -> (N, C, H_out, W_out); stride defaults to kernel_size."""
    KERNELS = (ops.avgpool2d_forward, ops.avgpool2d_backward)


class ReLU(Layer):
    """``max(x, 0)`` elementwise, any shape."""

    def __repr__(self):
        return "ReLU()"

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        out, self._cache = self._run(ops.relu_forward, self._check_input(x))
        return out

    def backward(self, dout, *, input_grad=True):
        return self._run(ops.relu_backward, self._check_dout(dout), self._cache)


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W): the bridge from feature maps to a Linear layer."""

    def __repr__(self):
        return "Flatten()"

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, x):
        x = self._check_input(x)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        out_shape = (self._cache[0], math.prod(self._cache[1:]))
        if dout.shape != out_shape:
            raise ValueError(f"{self!r}: dout has shape {dout.shape}, but the forward output had shape {out_shape}")
        return dout.reshape(self._cache)


class Linear(Layer):
    """Fully connected layer ``out = x @ w + b``. x: (N, in_features) -> (N, out_features).

    ``w`` has shape (in_features, out_features): row ``n`` of ``x @ w`` is example ``n``'s output.
    """

    def __init__(self, in_features, out_features, *, rng=None):
        super().__init__()
        self.in_features = check_int("Linear: in_features", in_features, 1)
        self.out_features = check_int("Linear: out_features", out_features, 1)
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
        x = self._check_input(x)
        out, self._cache = self._run(ops.linear_forward, x, self.params["w"], self.params["b"])
        return out

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        dx, dw, db = self._run(ops.linear_backward, dout, self._cache, input_grad=input_grad)
        self._store_grads(w=dw, b=db)
        return dx


#: Layer classes by name, for :meth:`cnnlib.model.Sequential.load`.
LAYER_TYPES = {cls.__name__: cls for cls in (Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear)}

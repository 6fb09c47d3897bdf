"""Layers: thin classes over :mod:`cnnlib.ops` that hold parameters and a cache.

The contract
------------
* ``y = layer(x)`` runs ``forward``; ``dx = layer.backward(dout)`` fills ``layer.grads`` (the
  keys of ``layer.params``), replacing the last call's, and raises ``RuntimeError`` before any
  forward. Optimisers may update ``layer.params[k]`` in place: every forward reads them anew.
* Outputs keep the input's floating dtype, gradients each parameter's;
  ``layer.astype(np.float32)`` converts the parameters and ``buffers`` (state that is saved
  but not trained: BatchNorm2d's running statistics).
* ``layer.training`` (True at first) is set by ``layer.train()`` / ``layer.eval()``, which return
  the layer: BatchNorm2d and Dropout behave differently in evaluation.
* Bad input raises ``ValueError`` naming the layer and the shapes, before any arithmetic: the
  layer checks that a finite batch is there, the op it runs checks the shapes.
"""
import math

import numpy as np

from cnnlib import ops
from cnnlib.init import as_rng, he_normal
from cnnlib.ops import check_int

__all__ = ["Layer", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Flatten", "Linear", "BatchNorm2d", "Dropout",
           "LAYER_TYPES"]


class Layer:
    """Base class: parameters, gradients, buffers, a cache, train/eval, input checks, a readable repr."""
    training = True

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self._cache = None

    def train(self, mode=True):
        """Training mode (``mode=False``: evaluation); returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"{self!r}: train(mode) takes True or False, got {mode!r}")
        self.training = mode
        return self

    def eval(self):
        """Evaluation mode, ``train(False)``; returns self."""
        return self.train(False)

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
        for name in self.buffers:
            self.buffers[name] = self.buffers[name].astype(dtype)
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


class BatchNorm2d(Layer):
    """Batch normalisation per channel, as PyTorch's. x: (N, C, H, W) -> same shape.

    Training normalises with the batch's mean and biased variance over (N, H, W) and updates
    ``running = (1 - momentum) * running + momentum * batch`` (the variance unbiased there,
    times M / (M - 1), M = N*H*W); evaluation normalises with the running statistics.
    """

    def __init__(self, num_features, *, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = C = check_int("BatchNorm2d: num_features", num_features, 1)
        self.eps = _check_float("BatchNorm2d: eps", eps, 0, math.inf, low_open=True)
        self.momentum = _check_float("BatchNorm2d: momentum", momentum, 0, 1, high_open=False)
        self.params = {"gamma": np.ones(C), "beta": np.zeros(C)}
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.buffers = {"running_mean": np.zeros(C), "running_var": np.ones(C)}

    running_mean = property(lambda self: self.buffers["running_mean"])
    running_var = property(lambda self: self.buffers["running_var"])

    def __repr__(self):
        options = (f", eps={self.eps:g}" if self.eps != 1e-5 else "") + \
            (f", momentum={self.momentum:g}" if self.momentum != 0.1 else "")
        return f"BatchNorm2d({self.num_features}{options})"

    def config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] != self.num_features:
            raise ValueError(f"{self!r}: expected input of shape ({self.num_features}, H, W), got {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x):
        x = self._check_input(x)
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.num_features}, H, W), got shape {x.shape}")
        if not self.training:
            out, self._cache = self._run(ops.batchnorm2d_forward, x, self.params["gamma"], self.params["beta"],
                                         self.running_mean, self.running_var, eps=self.eps, batch_stats=False)
            return out
        M, m = x.size // x.shape[1], self.momentum
        if M < 2:
            raise ValueError(f"{self!r}: training needs more than one value per channel, got shape {x.shape}")
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))           # (C,), the variance biased
        out, self._cache = self._run(ops.batchnorm2d_forward, x, self.params["gamma"], self.params["beta"],
                                     mean, var, eps=self.eps)
        for name, batch in (("running_mean", mean), ("running_var", var * (M / (M - 1)))):
            running = self.buffers[name]
            self.buffers[name] = ((1 - m) * running + m * batch).astype(running.dtype)
        return out

    def backward(self, dout, *, input_grad=True):
        dx, dgamma, dbeta = self._run(ops.batchnorm2d_backward, self._check_dout(dout), self._cache)
        self._store_grads(gamma=dgamma, beta=dbeta)
        return dx


class Dropout(Layer):
    """Inverted dropout, any shape: in training, zero each element with probability ``p`` and
    scale the rest by 1/(1-p); in evaluation, the identity. ``rng`` seeds the masks (a model
    file keeps ``p`` only: a loaded Dropout draws fresh ones)."""

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        self.p = _check_float("Dropout: p", p, 0, 1)
        self.rng = as_rng(rng)

    def __repr__(self):
        return f"Dropout(p={self.p:g})"

    def config(self):
        return {"p": self.p}

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        x = self._check_input(x)
        if not self.training:
            self._cache = (x.shape, None)
            return x.copy()
        out, mask = self._run(ops.dropout_forward, x, self.p, self.rng)
        self._cache = (x.shape, mask)
        return out

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        shape, mask = self._cache
        if mask is not None:
            return self._run(ops.dropout_backward, dout, mask)
        if dout.shape != shape:
            raise ValueError(f"{self!r}: dout has shape {dout.shape}, but the forward output had shape {shape}")
        return dout.copy()


def _check_float(name, value, low, high, *, low_open=False, high_open=True):
    """``value`` as a float between ``low`` and ``high`` (each end closed unless said open), else ValueError."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not (ok and (low < value if low_open else low <= value) and (value < high if high_open else value <= high)):
        span = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a number in {span}, got {value!r}")
    return float(value)


#: Layer classes by name, for :meth:`cnnlib.model.Sequential.load` (which adds ``Residual``).
LAYER_TYPES = {cls.__name__: cls for cls in (Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear,
                                             BatchNorm2d, Dropout)}

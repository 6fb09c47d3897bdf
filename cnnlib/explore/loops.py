"""The loop versions of convolution and pooling: slow on purpose.

These are the kernels the lessons explain (lesson 2 slides a window by hand, lesson 3 pools
window by window) and the tests compare :mod:`cnnlib.ops`' vectorised kernels against. They
read like the maths, one output value per step of four nested loops, and are hundreds of
times slower than the kernels the layers run; nothing in cnnlib trains with them.

May import: NumPy and :mod:`cnnlib.ops`' argument checks (and its geometry helpers), so that a
loop version accepts and refuses exactly what its vectorised twin does, with the same words.

The contract
------------
* Each function has the signature of its twin in :mod:`cnnlib.ops` (``conv2d_forward_naive``
  and ``conv2d_forward``, ...) and returns the same values: outputs, gradients, and for max
  pooling the same winners (each window's first maximum in row-major order).
* A forward returns ``(out, cache)``; the cache goes to the backward of the same family
  (the convolutions' caches differ between the two families, the pooling caches do not).
* Nothing writes into its inputs or ``dout``; results keep the input's floating dtype.
"""
import numpy as np

from cnnlib.ops import (_check_conv_args, _check_dout, _check_pool_args, _float_dtype, _unpad2d, conv_output_size,
                        pad2d)

__all__ = ["conv2d_forward_naive", "conv2d_backward_naive",
           "maxpool2d_forward_naive", "maxpool2d_backward_naive",
           "avgpool2d_forward_naive", "avgpool2d_backward_naive"]


# ----------------------------------------------------------------------------- convolution

def conv2d_forward_naive(x, w, b, *, stride=1, padding=0):
    """Convolution (cross-correlation) with explicit loops: slow, but reads like the maths.

    x: (N, C_in, H, W), w: (C_out, C_in, KH, KW), b: (C_out,) -> out: (N, C_out, H_out, W_out)
    and the cache for :func:`conv2d_backward_naive`.

    .. math:: \\text{out}[n, o, i, j] = b[o] + \\sum_{c, p, q}
              x_{pad}[n, c, i s + p, j s + q] \\; w[o, c, p, q]

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])   # top-left minus bottom-right
    >>> conv2d_forward_naive(x, w, np.zeros(1))[0][0, 0]
    array([[-4., -4.],
           [-4., -4.]])
    """
    dtype = _float_dtype(x)
    H_out, W_out = _check_conv_args(x, w, b, stride, padding)
    N, C_out, KH, KW = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    xp = pad2d(x, padding)
    out = np.zeros((N, C_out, H_out, W_out), dtype=dtype)
    for n in range(N):
        for o in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                    out[n, o, i, j] = np.sum(window * w[o]) + b[o]
    return out, (x, w, b, stride, padding)


def conv2d_backward_naive(dout, cache, *, input_grad=True):
    """Gradients of :func:`conv2d_forward_naive`, with the same loops.

    Output ``(n, o, i, j)`` used one window of ``x`` and the whole kernel ``w[o]``, so it sends
    ``dout[n, o, i, j] * w[o]`` back to that window and ``dout[n, o, i, j] * window`` to ``dw[o]``.
    Returns ``dx`` (None when ``input_grad`` is False), ``dw`` and ``db``, shaped like ``x``, ``w``, ``b``.
    """
    x, w, b, stride, padding = cache
    (N, _, H, W), (C_out, _, KH, KW) = x.shape, w.shape
    H_out, W_out = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    _check_dout(dout, (N, C_out, H_out, W_out))
    xp = pad2d(x, padding)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w, dtype=x.dtype)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for o in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + KH)
                    cols = slice(j * stride, j * stride + KW)
                    dw[o] += dout[n, o, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, o, i, j] * w[o]
    return (_unpad2d(dxp, padding) if input_grad else None), dw, db


# ----------------------------------------------------------------------------- pooling

def maxpool2d_forward_naive(x, *, kernel_size=2, stride=None):
    """Max pooling with explicit loops. x: (N, C, H, W) -> out: (N, C, H_out, W_out).

    ``stride`` defaults to ``kernel_size`` (windows that touch but do not overlap). The cache
    holds each window's winner, the flat index of its first maximum in row-major order: only
    that input receives the window's gradient, even when several tie (as a ReLU's zeros do).
    """
    stride, H_out, W_out = _check_pool_args(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    winner = np.zeros((N, C, H_out, W_out), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size]
                    winner[n, c, i, j] = np.argmax(window)             # first maximum wins ties
                    out[n, c, i, j] = window.flat[winner[n, c, i, j]]
    return out, (x.shape, winner, kernel_size, stride)


def maxpool2d_backward_naive(dout, cache):
    """Gradient of max pooling: each window's ``dout`` goes to its winner alone."""
    x_shape, winner, k, stride = cache
    _check_dout(dout, winner.shape)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    p, q = divmod(int(winner[n, c, i, j]), k)
                    dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
    return dx


def avgpool2d_forward_naive(x, *, kernel_size=2, stride=None):
    """Average pooling with explicit loops (for comparison with max pooling)."""
    stride, H_out, W_out = _check_pool_args(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, c, i, j] = x[n, c, i * stride:i * stride + kernel_size,
                                        j * stride:j * stride + kernel_size].mean()
    return out, (x.shape, out.shape, kernel_size, stride)


def avgpool2d_backward_naive(dout, cache):
    """Gradient of average pooling: each window's ``dout`` is shared equally by its inputs."""
    x_shape, out_shape, k, stride = cache
    _check_dout(dout, out_shape)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    dx[n, c, i * stride:i * stride + k, j * stride:j * stride + k] += dout[n, c, i, j] / (k * k)
    return dx

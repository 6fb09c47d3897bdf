"""My CNN: the layers, the loss and the optimisers of a convolutional network, written by me.

You write this file across lessons 2 to 6, one group of functions at a time; each lesson's
exercise section says which functions to write now, and its check cells test them at once
(on hidden cases, with cnnlib switched off, so write them with NumPy alone). Lesson 6
gradient-checks the network these functions make, then trains it on MNIST.

| lesson | functions                                                        |
|--------|------------------------------------------------------------------|
| 2      | ``conv2d_forward``                                               |
| 3      | ``maxpool_forward``                                              |
| 4      | ``softmax_cross_entropy``                                        |
| 5      | ``relu_forward``, ``relu_backward``, ``linear_forward``,         |
|        | ``linear_backward``, ``maxpool_backward``, ``conv2d_backward``   |
| 6      | ``sgd_momentum_step``, ``adam_step``                             |

The rules every function follows
--------------------------------
* Inputs are NumPy arrays; shapes are in each docstring (N images in a batch, C input
  channels, F filters, Q classes).
* Return NEW arrays: never change an argument in place (the caller may still need it).
* Keep the input's float dtype: float32 in, float32 out (``np.zeros_like(x)`` does that).
* Loops are fine for a first version. Lesson 6 trains on 4,000 images, so a version with
  the loops over images and channels replaced by array operations trains in seconds where
  four nested Python loops take many minutes; lesson 2 section 5 shows how.

Saving this file is enough: the lessons reload it before every check.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


# ----------------------------------------------------------------------------- lesson 2

def conv2d_forward(x, w, b, stride=1, padding=0):
    """Convolution (cross-correlation, as in every deep-learning library) of a batch.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, KH, KW)
        One kernel per filter, with one KH x KW slice per input channel.
    b : ndarray, shape (F,)
        One bias per filter.
    stride : int
        The step between windows, the same down and across.
    padding : int
        Rows and columns of zeros added on every side of each image first.

    Returns
    -------
    out : ndarray, shape (N, F, H_out, W_out)
        ``out[n, f, i, j] = b[f] + sum over c, p, q of
        x_padded[n, c, i * stride + p, j * stride + q] * w[f, c, p, q]``, with
        ``H_out = (H + 2 * padding - KH) // stride + 1`` (and the same for W_out).
    """
    # BEGIN SOLUTION
    F, C, KH, KW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x_pad, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]  # (N, C, H_out, W_out, KH, KW), a view
    N, _, H_out, W_out = windows.shape[:4]
    cols = windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * KH * KW, N * H_out * W_out)     # im2col: one column per window
    out = w.reshape(F, C * KH * KW) @ cols                                                 # (F, N * H_out * W_out)
    return out.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3) + b[:, None, None]
    # END SOLUTION


# ----------------------------------------------------------------------------- lesson 3

def maxpool_forward(x, k, stride):
    """Max pooling of a batch: the largest value of every k x k window.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    k : int
        Window height and width.
    stride : int
        The step between windows; ``stride < k`` makes windows overlap.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
        ``H_out = (H - k) // stride + 1`` (and the same for W_out): a last row or column
        that fills no whole window is left out.
    """
    # BEGIN SOLUTION
    H_out, W_out = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
    out = x[:, :, :stride * H_out:stride, :stride * W_out:stride]       # offset (0, 0) of every window
    for p in range(k):                                                  # every other offset (p, q), all windows at once
        for q in range(k):
            out = np.maximum(out, x[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride])
    return out
    # END SOLUTION


# ----------------------------------------------------------------------------- lesson 4

def softmax_cross_entropy(logits, labels):
    """The mean cross-entropy loss of softmax probabilities, and its gradient.

    Parameters
    ----------
    logits : ndarray, shape (N, Q)
        One score per class for each image; any size, even 1000 (compute it stably).
    labels : ndarray of int, shape (N,)
        The right class of each image, in 0 .. Q-1.

    Returns
    -------
    loss : float
        ``mean over n of -log p[n, labels[n]]``, where ``p = softmax(logits)`` row by row.
    dlogits : ndarray, shape (N, Q)
        The gradient of ``loss`` with respect to ``logits``: ``(p - t) / N``, with ``t``
        the one-hot labels.
    """
    # BEGIN SOLUTION
    N = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_p[np.arange(N), labels].mean()
    dlogits = np.exp(log_p)
    dlogits[np.arange(N), labels] -= 1
    return float(loss), dlogits / N
    # END SOLUTION


# ----------------------------------------------------------------------------- lesson 5

def relu_forward(x):
    """ReLU, element by element: ``max(x, 0)``. Any shape; returns a new array."""
    # BEGIN SOLUTION
    return np.maximum(x, 0)
    # END SOLUTION


def relu_backward(dout, x):
    """Gradient of ReLU: ``dout`` where ``x > 0``, 0 elsewhere (0 at exactly ``x == 0``).

    ``dout`` and ``x`` have the same shape; returns a new array of that shape.
    """
    # BEGIN SOLUTION
    return np.where(x > 0, dout, 0).astype(dout.dtype, copy=False)
    # END SOLUTION


def linear_forward(x, w, b):
    """A fully connected layer: ``x @ w + b``.

    Parameters
    ----------
    x : ndarray, shape (N, D)
    w : ndarray, shape (D, M)
    b : ndarray, shape (M,)

    Returns
    -------
    out : ndarray, shape (N, M)
    """
    # BEGIN SOLUTION
    return x @ w + b
    # END SOLUTION


def linear_backward(dout, x, w):
    """Gradients of :func:`linear_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, M)
        The gradient of the loss with respect to the layer's output.
    x : ndarray, shape (N, D)
        The forward input.
    w : ndarray, shape (D, M)

    Returns
    -------
    dx : ndarray, shape (N, D)
    dw : ndarray, shape (D, M)
        Added up over the batch.
    db : ndarray, shape (M,)
    """
    # BEGIN SOLUTION
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
    # END SOLUTION


def maxpool_backward(dout, x, k, stride):
    """Gradient of :func:`maxpool_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    x : ndarray, shape (N, C, H, W)
        The forward input.
    k, stride : int
        As in the forward pass.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        Each window's ``dout`` goes to ONE input: its first maximum in row-major order
        (what ``np.argmax`` of the flattened window returns), even when several tie. An
        input that wins several overlapping windows gets the sum of their ``dout``.
    """
    # BEGIN SOLUTION
    H_out, W_out = dout.shape[2:]
    out = maxpool_forward(x, k, stride)
    dx = np.zeros_like(x)
    found = np.zeros(out.shape, dtype=bool)                             # has this window's winner been found?
    for p in range(k):                                                  # offsets in row-major order: the first max wins
        for q in range(k):
            rows, cols = slice(p, p + stride * H_out, stride), slice(q, q + stride * W_out, stride)
            wins = (x[:, :, rows, cols] == out) & ~found
            dx[:, :, rows, cols] += np.where(wins, dout, 0)             # += : overlapping windows add up
            found |= wins
    return dx
    # END SOLUTION


def conv2d_backward(dout, x, w, stride=1, padding=0):
    """Gradients of :func:`conv2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, F, H_out, W_out)
    x : ndarray, shape (N, C, H, W)
        The forward input (unpadded).
    w : ndarray, shape (F, C, KH, KW)
    stride, padding : int
        As in the forward pass.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, KH, KW)
        Added up over the batch.
    db : ndarray, shape (F,)
    """
    # BEGIN SOLUTION
    F, C, KH, KW = w.shape
    N, _, H_out, W_out = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x_pad, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]  # (N, C, H_out, W_out, KH, KW)
    cols = windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * KH * KW, N * H_out * W_out)     # as in the forward pass
    dout_mat = dout.transpose(1, 0, 2, 3).reshape(F, N * H_out * W_out)
    db = dout.sum(axis=(0, 2, 3))
    dw = (dout_mat @ cols.T).reshape(w.shape)
    dcols = (w.reshape(F, C * KH * KW).T @ dout_mat).reshape(C, KH, KW, N, H_out, W_out)    # gradient of every window
    dx_pad = np.zeros((C, N) + x_pad.shape[2:], dtype=dcols.dtype)
    for p in range(KH):          # window (i, j) read x_pad[:, :, i*stride + p, j*stride + q]: send it back there
        for q in range(KW):
            dx_pad[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride] += dcols[:, p, q]
    dx = dx_pad[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]]
    return dx.transpose(1, 0, 2, 3), dw, db
    # END SOLUTION


# ----------------------------------------------------------------------------- lesson 6

def sgd_momentum_step(param, grad, velocity, lr, momentum):
    """One step of SGD with momentum, for one parameter array.

    ``velocity_new = momentum * velocity - lr * grad`` and
    ``param_new = param + velocity_new``; all three arrays have the same shape.

    Returns
    -------
    param_new, velocity_new : ndarray
        New arrays; ``param`` and ``velocity`` are left as they were.
    """
    # BEGIN SOLUTION
    velocity_new = momentum * velocity - lr * grad
    return param + velocity_new, velocity_new
    # END SOLUTION


def adam_step(param, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One step of Adam, for one parameter array.

    Parameters
    ----------
    param, grad, m, v : ndarray, all the same shape
        ``m`` and ``v`` are the running averages of the gradient and of its square (both
        start at 0).
    t : int
        The number of this step: 1 for the first.
    lr, beta1, beta2, eps : float

    Returns
    -------
    param_new, m_new, v_new : ndarray
        ``m_new = beta1 * m + (1 - beta1) * grad``,
        ``v_new = beta2 * v + (1 - beta2) * grad**2``, and
        ``param_new = param - lr * m_hat / (sqrt(v_hat) + eps)`` with the bias-corrected
        ``m_hat = m_new / (1 - beta1**t)`` and ``v_hat = v_new / (1 - beta2**t)``.
    """
    # BEGIN SOLUTION
    m_new = beta1 * m + (1 - beta1) * grad
    v_new = beta2 * v + (1 - beta2) * grad * grad
    m_hat, v_hat = m_new / (1 - beta1 ** t), v_new / (1 - beta2 ** t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), m_new, v_new
    # END SOLUTION


# ----------------------------------------------------------------------------- lesson 7

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Batch normalisation of a batch of feature maps, in training mode.

    Each channel is normalised with the mean and the variance of all its values in the
    batch (over the images and every position), then scaled and shifted.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    gamma, beta : ndarray, shape (C,)
        One scale and one shift per channel.
    eps : float
        Added to the variance, so that a channel whose values are all equal (variance 0)
        does not divide by 0.

    Returns
    -------
    out : ndarray, shape (N, C, H, W)
        ``out = gamma * x_hat + beta`` with ``x_hat = (x - mean) / sqrt(var + eps)``, the
        mean and the *biased* variance (divided by M = N*H*W, np.var's default) taken per
        channel over the axes (0, 2, 3).
    cache : anything
        What ``batchnorm_backward`` needs (for example x_hat, gamma and sqrt(var + eps)).
    """
    # BEGIN SOLUTION
    mean = x.mean(axis=(0, 2, 3), keepdims=True)                 # (1, C, 1, 1)
    std = np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + eps)    # (1, C, 1, 1), biased variance
    x_hat = (x - mean) / std
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    return out, (x_hat, gamma, std)
    # END SOLUTION


def batchnorm_backward(dout, cache):
    """The backward pass of ``batchnorm_forward`` (training mode).

    Parameters
    ----------
    dout : ndarray, shape (N, C, H, W)
    cache : what your ``batchnorm_forward`` returned

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        With ``dx_hat = dout * gamma`` and means over (N, H, W) per channel:
        ``dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps)``
        (the mean and the variance depend on x too: those are the two subtracted terms).
    dgamma : ndarray, shape (C,)
        ``(dout * x_hat).sum(axis=(0, 2, 3))``
    dbeta : ndarray, shape (C,)
        ``dout.sum(axis=(0, 2, 3))``
    """
    # BEGIN SOLUTION
    x_hat, gamma, std = cache
    dx_hat = dout * gamma[None, :, None, None]
    dx = (dx_hat - dx_hat.mean(axis=(0, 2, 3), keepdims=True)
          - x_hat * (dx_hat * x_hat).mean(axis=(0, 2, 3), keepdims=True)) / std
    return dx, (dout * x_hat).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))
    # END SOLUTION


def dropout_forward(x, p, rng):
    """Inverted dropout, in training mode.

    Parameters
    ----------
    x : ndarray, any shape
    p : float, 0 <= p < 1
        The probability of dropping (zeroing) each value.
    rng : np.random.Generator
        Draw the mask from it (``rng.random(x.shape)``), never from ``np.random``.

    Returns
    -------
    out : ndarray, the shape and dtype of x
        0 where a value is dropped, ``x / (1 - p)`` where it is kept, so that the expected
        value of ``out`` is ``x`` (and evaluation needs no rescaling).
    cache : anything
        What ``dropout_backward`` needs (the mask and the scale).
    """
    # BEGIN SOLUTION
    keep = rng.random(x.shape) >= p                               # True with probability 1 - p
    mask = (keep / (1 - p)).astype(x.dtype)                       # 0 or 1 / (1 - p)
    return x * mask, mask
    # END SOLUTION


def dropout_backward(dout, cache):
    """The backward pass of ``dropout_forward``.

    Returns
    -------
    dx : ndarray, the shape of dout
        ``dout`` through the forward's own mask and scale: 0 where the value was dropped,
        ``dout / (1 - p)`` where it was kept.
    """
    # BEGIN SOLUTION
    return dout * cache
    # END SOLUTION

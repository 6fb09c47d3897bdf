"""Pure kernels: convolution, pooling, ReLU, the affine map, batch norm and dropout, forward and backward.

The contract
------------
* Plain functions of NumPy arrays. A forward kernel returns ``(out, cache)``; its backward
  takes ``(dout, cache)`` and returns the gradients of the forward's inputs, in their order.
* Images are ``(N, C, H, W)``; convolution is cross-correlation, as in every framework.
* These are the vectorised kernels the layers run. Their loop versions, which the lessons
  start from and the tests compare them against, are in ``cnnlib.explore.loops``, with the
  same signatures and the argument checks below. The fast convolution is the last step of
  lesson 2's path (loops -> im2col -> windows as a view): :func:`sliding_windows` gives every
  window without copying, one matrix product does the rest.
* Kernels never write into their inputs or ``dout``, and compute in the input's floating
  dtype (float64 in, float64 out). Each checks its arguments once, before any arithmetic
  (the layers put their name in front of the message); :func:`check_int` is the library's
  one integer check.
"""
import numpy as np

__all__ = [
    "check_int", "conv_output_size", "pad2d", "im2col", "sliding_windows",
    "conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
    "avgpool2d_forward", "avgpool2d_backward",
    "relu_forward", "relu_backward", "linear_forward", "linear_backward",
    "batchnorm2d_forward", "batchnorm2d_backward", "dropout_forward", "dropout_backward",
]


# ----------------------------------------------------------------------------- checks and geometry

def check_int(name, value, low=0, high=None):
    """``value`` as an ``int`` if it is an integer (not a bool) in ``[low, high]``, else ValueError.

    ``high=None`` means no upper bound. Every integer argument in cnnlib (sizes, strides,
    counts) goes through here, so the rule and the message are the same everywhere:

    >>> check_int("stride", 2.0, low=1)
    Traceback (most recent call last):
    ...
    ValueError: stride must be an integer >= 1, got 2.0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        rule = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {rule}, got {value!r}")
    return int(value)


def conv_output_size(size, kernel_size, stride=1, padding=0):
    """Number of window positions along one axis: ``(size + 2*padding - kernel_size) // stride + 1``.

    >>> conv_output_size(28, 5)
    24
    >>> conv_output_size(7, 2, stride=2)   # the last row does not fit a window: dropped, as in PyTorch
    3
    """
    size, kernel_size = check_int("size", size, 1), check_int("kernel_size", kernel_size, 1)
    stride, padding = check_int("stride", stride, 1), check_int("padding", padding, 0)
    padded = size + 2 * padding
    if padded < kernel_size:
        raise ValueError(f"input size {size} (padded: {padded}) is smaller than the kernel ({kernel_size})")
    return (padded - kernel_size) // stride + 1


def pad2d(x, padding):
    """Zero-pad the last two axes of ``x`` by ``padding`` on each side (a new array)."""
    if padding == 0:
        return x
    pad = [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)]
    return np.pad(x, pad)


def _unpad2d(x, padding):
    if padding == 0:
        return x
    return x[..., padding:-padding, padding:-padding]


def _float_dtype(x):
    """The dtype kernels compute in: ``x``'s, which must be floating."""
    if x.dtype.kind != "f":       # float16/32/64; same test as np.issubdtype(dtype, np.floating), faster
        raise ValueError(f"expected a floating-point array, got dtype {x.dtype}; "
                         "convert images with x.astype(np.float32) / 255")
    return x.dtype


def _check_conv_args(x, w, b, stride, padding):
    """The convolution's one shape check; returns ``(H_out, W_out)``."""
    if w.ndim != 4:
        raise ValueError(f"expected weights of shape (C_out, C_in, KH, KW), got shape {w.shape}")
    C_out, C_in, KH, KW = w.shape
    if x.ndim != 4:
        raise ValueError(f"expected input of shape (N, {C_in}, H, W), got shape {x.shape}")
    if x.shape[1] != C_in:
        raise ValueError(f"expected {C_in} input channel(s), got {x.shape[1]} "
                         f"(input shape {x.shape}, weight shape {w.shape})")
    if b.shape != (C_out,):
        raise ValueError(f"expected bias of shape ({C_out},), got shape {b.shape}")
    stride, padding = check_int("stride", stride, 1), check_int("padding", padding, 0)
    H, W = x.shape[2:]
    if H + 2 * padding < KH or W + 2 * padding < KW:
        raise ValueError(f"input {H}x{W} is smaller than the kernel {KH}x{KW}"
                         + (f" even with padding {padding}" if padding else ""))
    return conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)


def _check_pool_args(x, kernel_size, stride):
    """Pooling's one check; returns ``(stride, H_out, W_out)`` (stride defaults to the window)."""
    _float_dtype(x)
    if x.ndim != 4:
        raise ValueError(f"expected input of shape (N, C, H, W), got shape {x.shape}")
    k = check_int("kernel_size", kernel_size, 1)
    stride = k if stride is None else stride
    H, W = x.shape[2:]
    if H < k or W < k:
        raise ValueError(f"input {H}x{W} is smaller than the pooling window {k}x{k} (input shape {x.shape})")
    return stride, conv_output_size(H, k, stride), conv_output_size(W, k, stride)


def _check_dout(dout, expected_shape):
    if dout.shape != tuple(expected_shape):
        raise ValueError(f"dout has shape {dout.shape}, but the forward output had shape {tuple(expected_shape)}")


# ----------------------------------------------------------------------------- convolution

def im2col(x, KH, KW, *, stride=1, padding=0):
    """Every ``KH x KW`` window of ``x`` (N, C, H, W) as a column: lesson 2's middle step.

    Returns ``cols``, shape (N, C*KH*KW, H_out*W_out). Column ``i*W_out + j`` of ``cols[n]`` is
    the window under output ``(i, j)`` flattened in ``(c, p, q)`` order, so
    ``w.reshape(C_out, -1) @ cols[n]`` is image ``n``'s convolution. We copy one kernel offset
    ``(p, q)`` at a time, a strided slice of the whole batch: ``KH*KW`` Python steps at any size.

    >>> im2col(np.arange(16.0).reshape(1, 1, 4, 4), 2, 2, stride=2)[0]
    array([[ 0.,  2.,  8., 10.],
           [ 1.,  3.,  9., 11.],
           [ 4.,  6., 12., 14.],
           [ 5.,  7., 13., 15.]])
    """
    N, C, H, W = x.shape
    H_out = conv_output_size(H, KH, stride, padding)
    W_out = conv_output_size(W, KW, stride, padding)
    xp = pad2d(x, padding)
    cols = np.empty((N, C, KH, KW, H_out, W_out), dtype=x.dtype)
    for p in range(KH):
        for q in range(KW):
            cols[:, :, p, q] = xp[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride]
    return cols.reshape(N, C * KH * KW, H_out * W_out)


def sliding_windows(x, KH, KW, *, stride=1, padding=0):
    """Every ``KH x KW`` window of ``x``, as a view: nothing is copied.

    x (N, C, H, W) -> windows (N, C, H_out, W_out, KH, KW), read-only: ``windows[n, c, i, j]``
    is ``xp[n, c, i*stride:i*stride + KH, j*stride:j*stride + KW]``, ``xp`` the padded image.

    NumPy's ``strides`` say how many bytes one step along each axis moves. The next window
    down is ``stride`` rows down in the image; one row down inside a window is one row down in
    the image; the same for columns. So the six axes need only the image's four strides, and
    ``as_strided`` builds the view without touching the data (NumPy's ``sliding_window_view``
    with every ``stride``-th window kept, at less cost per call). Neighbouring windows share
    memory, which is why the view is read-only.

    >>> windows = sliding_windows(np.arange(16.0).reshape(1, 1, 4, 4), 2, 2, stride=2)
    >>> windows.shape
    (1, 1, 2, 2, 2, 2)
    >>> windows[0, 0, 1, 0]              # output row 1, column 0: rows 2-3, columns 0-1
    array([[ 8.,  9.],
           [12., 13.]])
    """
    N, C, H, W = x.shape
    H_out, W_out = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    xp = pad2d(x, padding)                                              # (N, C, H + 2P, W + 2P)
    step_n, step_c, step_row, step_col = xp.strides                     # bytes to the next image, channel, row, column
    return np.lib.stride_tricks.as_strided(
        xp, shape=(N, C, H_out, W_out, KH, KW),                         # (N, C, H_out, W_out, KH, KW)
        strides=(step_n, step_c,
                 stride * step_row, stride * step_col,                  # next window: `stride` rows or columns on
                 step_row, step_col),                                   # inside a window: one row or column on
        writeable=False)


def conv2d_forward(x, w, b, *, stride=1, padding=0):
    """Vectorised convolution: every window as a view, then one matrix product.

    Same signature and result as the loop version ``conv2d_forward_naive``; lesson 2's last step.
    :func:`sliding_windows` gives the windows as a view; one reshape copies them into im2col's
    matrix ``cols`` (the only copy of the input), all images' columns side by side; and
    ``w.reshape(C_out, -1) @ cols`` multiplies every kernel with every window of the batch:

    .. math:: \\text{out}[o, (n, i, j)] = b[o] + \\sum_{(c, p, q)} w[o, (c, p, q)]\\;
              \\text{cols}[(c, p, q), (n, i, j)]

    One product for the batch, not one per image, lets BLAS share it between cores. It comes
    out channels first, so we return its transposed view (plus the bias): no extra copy.
    """
    dtype = _float_dtype(x)
    H_out, W_out = _check_conv_args(x, w, b, stride, padding)
    N, C_in, C_out, KH, KW = x.shape[0], x.shape[1], w.shape[0], w.shape[2], w.shape[3]
    windows = sliding_windows(x, KH, KW, stride=stride, padding=padding)   # (N, C_in, H_out, W_out, KH, KW), a view
    windows = windows.transpose(1, 4, 5, 0, 2, 3)                       # (C_in, KH, KW, N, H_out, W_out), a view
    cols = windows.reshape(C_in * KH * KW, N * H_out * W_out)           # im2col of the batch: this reshape copies
    w = w.astype(dtype, copy=False)
    out = w.reshape(C_out, C_in * KH * KW) @ cols                       # (C_out, N*H_out*W_out)
    out = out.reshape(C_out, N, H_out, W_out).transpose(1, 0, 2, 3)     # (N, C_out, H_out, W_out), a view
    return out + b.astype(dtype, copy=False)[:, None, None], (x.shape, w, cols, stride, padding)


def conv2d_backward(dout, cache, *, input_grad=True):
    """Gradients of :func:`conv2d_forward`, from the windows it cached.

    dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_out, C_in, KH, KW), db: (C_out,).
    ``input_grad=False`` returns ``dx`` as None: a network's first layer needs no gradient of
    the image, and skipping it saves a third of the work.

    ``db`` adds ``dout`` over images and positions; ``dw`` is the forward's product turned
    round, ``dout_mat @ cols.T``; :func:`_conv2d_input_grad` sends each ``dout[n, o, i, j] * w[o]``
    back onto its window.
    """
    x_shape, w, cols, stride, padding = cache
    N, C_in, H, W = x_shape
    C_out, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    H_out, W_out = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    _check_dout(dout, (N, C_out, H_out, W_out))
    db = dout.sum(axis=(0, 2, 3))                                       # (C_out,)
    dout_mat = dout.transpose(1, 0, 2, 3).reshape(C_out, N * H_out * W_out)   # (C_out, N*H_out*W_out), copied
    dw = dout_mat @ cols.T                                              # (C_out, C_in*KH*KW)
    dx = _conv2d_input_grad(dout, w, x_shape, stride, padding) if input_grad else None
    return dx, dw.reshape(w.shape), db


def _conv2d_input_grad(dout, w, x_shape, stride, padding):
    """``dx`` (N, C_in, H, W) of the convolution: every ``dout`` sent back through the kernel.

    Output ``(n, o, i, j)`` read the padded input at ``(s*i + p, s*j + q)`` with weight
    ``w[o, c, p, q]``, for every kernel offset ``(p, q)``, so

    .. math:: dx_{pad}[n, c, s i + p, s j + q] \\mathrel{+}= \\sum_o w[o, c, p, q]\\; dout[n, o, i, j]

    (lesson 5: the full convolution of ``dout`` with the flipped kernel). For all offsets at
    once, ``w_mat.T @ dout`` would be ``KH*KW`` times the size of ``dx``, then ``KH*KW`` strided
    additions. We split the offset instead: the column shift ``q`` before one product, the row
    shift ``p`` after it: ``KW`` copies, a product ``KH`` times ``dx``'s size and ``KH``
    additions (several times faster at LeNet's shapes; benchmarks/README.md has the timings).
    """
    N, C_in, H, W = x_shape
    C_out, _, KH, KW = w.shape
    H_out, W_out = dout.shape[2:]
    Wp = W + 2 * padding
    # Channels first, as in the forward pass, so that step 2 is one product for the batch.
    # 1. Columns: shifted[o, q, n, i, s*j + q] = dout[n, o, i, j], zeros elsewhere.
    shifted = np.zeros((C_out, KW, N, H_out, Wp), dtype=dout.dtype)    # (C_out, KW, N, H_out, Wp)
    for q in range(KW):
        shifted[:, q, :, :, q:q + stride * W_out:stride] = dout.transpose(1, 0, 2, 3)
    # 2. One product over o and q: rows[p, c, n, i, v] = sum_{o, q} w[o, c, p, q] shifted[o, q, n, i, v].
    w_pc = w.transpose(2, 1, 0, 3).reshape(KH * C_in, C_out * KW)       # (KH*C_in, C_out*KW)
    rows = w_pc @ shifted.reshape(C_out * KW, N * H_out * Wp)           # (KH*C_in, N*H_out*Wp)
    rows = rows.reshape(KH, C_in, N, H_out, Wp)
    # 3. Rows: dx_pad[c, n, s*i + p, v] += rows[p, c, n, i, v].
    dxp = np.zeros((C_in, N, H + 2 * padding, Wp), dtype=rows.dtype)    # (C_in, N, H + 2P, W + 2P)
    for p in range(KH):
        dxp[:, :, p:p + stride * H_out:stride] += rows[p]
    return _unpad2d(dxp, padding).transpose(1, 0, 2, 3)                 # (N, C_in, H, W), a view


# ----------------------------------------------------------------------------- pooling

def _pool_view(x, p, q, stride, H_out, W_out):
    """The inputs at offset (p, q) of every pooling window: shape (N, C, H_out, W_out)."""
    return x[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride]


def maxpool2d_forward(x, *, kernel_size=2, stride=None):
    """Vectorised max pooling; same signature, result and winners as the loop version.

    We walk a window's ``k*k`` offsets, not its positions: each offset is one strided view of
    the batch, copied once into a contiguous stack whose maximum is the output. The winner is
    the first offset holding the maximum (the loops' tie rule): offset ``t`` scores ``k*k - t``
    where it holds it and 0 elsewhere, so ``winner = k*k - best score``. Masked assignment,
    ``np.where`` and ``argmax`` along the stack are all several times slower here.
    """
    stride, H_out, W_out = _check_pool_args(x, kernel_size, stride)
    k = kernel_size
    stack = np.stack([_pool_view(x, p, q, stride, H_out, W_out)
                      for p in range(k) for q in range(k)])             # (k*k, N, C, H_out, W_out)
    out = stack.max(axis=0)                                           # (N, C, H_out, W_out)
    index_dtype = np.int8 if k * k < 128 else np.int64
    scores = np.arange(k * k, 0, -1, dtype=index_dtype).reshape(-1, 1, 1, 1, 1)   # k*k, ..., 2, 1
    winner = k * k - ((stack == out) * scores).max(axis=0)            # (N, C, H_out, W_out)
    return out, (x.shape, winner, k, stride)


def maxpool2d_backward(dout, cache):
    """Vectorised gradient of max pooling: route each window's ``dout`` to its winner.

    ``routed[t]``, ``dout`` where offset ``t`` won and 0 elsewhere (a product with the mask:
    ``np.where`` is several times slower), goes to the inputs at offset ``t``. Windows that do
    not overlap (``stride >= k``) write each input at most once, so we assign; others add up.
    """
    x_shape, winner, k, stride = cache
    _check_dout(dout, winner.shape)
    H_out, W_out = winner.shape[2:]
    offsets = np.arange(k * k, dtype=winner.dtype).reshape(-1, 1, 1, 1, 1)
    routed = dout * (winner == offsets)                               # (k*k, N, C, H_out, W_out)
    routed += 0.0                     # turns the -0.0 of (negative dout) * False into 0.0
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for t in range(k * k):
        view = _pool_view(dx, *divmod(t, k), stride, H_out, W_out)
        if stride >= k:
            view[...] = routed[t]
        else:
            view += routed[t]
    return dx


def avgpool2d_forward(x, *, kernel_size=2, stride=None):
    """Vectorised average pooling: the mean of the ``k*k`` strided views."""
    stride, H_out, W_out = _check_pool_args(x, kernel_size, stride)
    out = _pool_view(x, 0, 0, stride, H_out, W_out).copy()
    for t in range(1, kernel_size * kernel_size):
        out += _pool_view(x, *divmod(t, kernel_size), stride, H_out, W_out)
    out /= kernel_size * kernel_size
    return out, (x.shape, out.shape, kernel_size, stride)


def avgpool2d_backward(dout, cache):
    """Vectorised gradient of average pooling."""
    x_shape, out_shape, k, stride = cache
    _check_dout(dout, out_shape)
    H_out, W_out = out_shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    share = dout / (k * k)
    for t in range(k * k):
        _pool_view(dx, *divmod(t, k), stride, H_out, W_out)[...] += share
    return dx


# ----------------------------------------------------------------------------- ReLU and affine

def relu_forward(x):
    """``max(x, 0)`` elementwise; the cache is the mask of positive inputs."""
    _float_dtype(x)
    # An array of zeros, not the scalar 0: NumPy's maximum has a fast vectorised loop only
    # for two arrays (with a scalar it is about three times slower on random signs).
    return np.maximum(x, np.zeros_like(x)), x > 0


def relu_backward(dout, mask):
    """Pass ``dout`` where the input was positive, zero elsewhere (a new array).

    ``dout * mask`` is a plain product (``np.where`` is several times slower); ``+= 0.0`` turns
    the ``-0.0`` that a negative ``dout`` times False gives into ``0.0``.
    """
    _check_dout(dout, mask.shape)
    dx = dout * mask
    dx += 0.0
    return dx


def linear_forward(x, w, b):
    """Affine map ``y = x @ w + b``. x: (N, F_in), w: (F_in, F_out), b: (F_out,) -> y: (N, F_out)."""
    dtype = _float_dtype(x)
    if x.ndim != 2 or x.shape[1] != w.shape[0]:
        hint = "; put a Flatten() layer before this one" if x.ndim > 2 else ""
        raise ValueError(f"expected input of shape (N, {w.shape[0]}), got shape {x.shape}{hint}")
    if b.shape != (w.shape[1],):
        raise ValueError(f"expected bias of shape ({w.shape[1]},), got shape {b.shape}")
    w = w.astype(dtype, copy=False)
    return x @ w + b.astype(dtype, copy=False), (x, w)


def linear_backward(dout, cache, *, input_grad=True):
    """Gradients of ``y = x @ w + b``: ``dx = dout @ w.T``, ``dw = x.T @ dout``, ``db = sum(dout)``."""
    x, w = cache
    _check_dout(dout, (x.shape[0], w.shape[1]))
    dx = dout @ w.T if input_grad else None
    # np.dot, not @: for a batch of one image the product's inner dimension is 1, and
    # matmul then skips BLAS for a loop about 6x slower (what a widget's backward pays).
    dw = np.dot(x.T, dout)
    return dx, dw, dout.sum(axis=0)


# ----------------------------------------------------------------------------- batch norm and dropout

def batchnorm2d_forward(x, gamma, beta, mean, var, *, eps=1e-5, batch_stats=True):
    """Normalise each channel, then scale and shift. x: (N, C, H, W); gamma, beta, mean, var: (C,).

    .. math:: \\hat x = (x - \\mu) / \\sqrt{\\sigma^2 + \\epsilon}, \\qquad out = \\gamma \\hat x + \\beta

    ``batch_stats=True`` (training) says ``mean`` and ``var`` are x's own, over (N, H, W), the
    variance biased: backward then differentiates through them. False (evaluation: the
    running statistics) makes this a fixed affine map per channel.
    """
    dtype = _float_dtype(x)
    C = gamma.shape[0] if gamma.ndim == 1 else -1
    if x.ndim != 4 or x.shape[1] != C:
        raise ValueError(f"expected input of shape (N, {C}, H, W), got shape {x.shape}")
    for name, a in (("beta", beta), ("mean", mean), ("var", var)):
        if a.shape != (C,):
            raise ValueError(f"expected {name} of shape ({C},), got shape {a.shape}")
    per_channel = (slice(None), None, None)                              # (C,) -> (C, 1, 1)
    inv_std = (1.0 / np.sqrt(var.astype(dtype) + dtype.type(eps)))[per_channel]
    x_hat = (x - mean.astype(dtype)[per_channel]) * inv_std              # (N, C, H, W)
    out = x_hat * gamma.astype(dtype)[per_channel] + beta.astype(dtype)[per_channel]
    return out, (x_hat, inv_std, gamma.astype(dtype), batch_stats)


def batchnorm2d_backward(dout, cache):
    """Gradients of :func:`batchnorm2d_forward`: dx (N, C, H, W), dgamma (C,), dbeta (C,).

    With M = N*H*W values per channel, and the batch's statistics depending on x (training):

    .. math:: dx = \\frac{\\gamma}{M \\sqrt{\\sigma^2 + \\epsilon}}
              \\left(M\\, dout - \\sum dout - \\hat x \\sum dout\\, \\hat x\\right)

    (sums per channel); with fixed statistics (evaluation) ``dx = dout * gamma / sqrt(var + eps)``.
    """
    x_hat, inv_std, gamma, batch_stats = cache
    _check_dout(dout, x_hat.shape)
    dbeta = dout.sum(axis=(0, 2, 3))                                    # (C,)
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3))                         # (C,)
    scale = gamma[:, None, None] * inv_std                              # (C, 1, 1)
    if not batch_stats:
        return dout * scale, dgamma, dbeta
    M = x_hat.size // x_hat.shape[1]
    dx = scale / M * (M * dout - dbeta[:, None, None] - x_hat * dgamma[:, None, None])
    return dx, dgamma, dbeta


def dropout_forward(x, p, rng):
    """Inverted dropout: zero each element with probability ``p``, scale the rest by 1/(1-p).

    ``rng`` is a ``np.random.Generator``; the cache is the scaled mask, which backward reuses.
    The scaling keeps each element's expected value, so evaluation needs no change (identity).
    """
    dtype = _float_dtype(x)
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p}")
    draws = rng.random(x.shape, dtype=np.float32 if dtype == np.float32 else np.float64)
    mask = (draws >= p).astype(dtype) / dtype.type(1 - p)              # 0 or 1/(1-p), like x
    return x * mask, mask


def dropout_backward(dout, mask):
    """``dout * mask``: the gradient flows where the element was kept, scaled the same way."""
    _check_dout(dout, mask.shape)
    return dout * mask
